"""Plain data types and errors. Imports nothing else of Vectra."""
