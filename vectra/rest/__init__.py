"""The REST face: thin Connexion handlers over vectra.services."""
