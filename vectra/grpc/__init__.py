"""The gRPC face: thin servicers over vectra.services; generated code lives in ``generated/``."""
