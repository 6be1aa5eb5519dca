"""The contract as written: ``openapi.yaml`` served as JSON (and YAML) with its ``$ref`` links intact.

Connexion would serve its resolved copy, in which a recursive schema (a policy condition holds conditions) is a
cycle that JSON can't express; clients and generators want the references anyway. The paths sit under the
Swagger UI's static files, so this runs as a step before Connexion's Swagger UI middleware.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SPEC_JSON_PATH", "SPEC_YAML_PATH", "ServeSpec"]

SPEC_JSON_PATH = "/open-api/vectra/specifications.json"
SPEC_YAML_PATH = "/open-api/vectra/specifications.yaml"


class ServeSpec:
    """Answers ``GET`` of the two spec paths; passes everything else on."""

    def __init__(self, app: Any, spec_path: Path) -> None:
        self.app = app
        text = spec_path.read_text()
        self._documents = {
            SPEC_JSON_PATH: (json.dumps(yaml.safe_load(text), separators=(",", ":")).encode(), b"application/json"),
            SPEC_YAML_PATH: (text.encode(), b"application/yaml"),
        }

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        document = self._documents.get(scope.get("path", "")) if scope["type"] == "http" else None
        if document is None or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        body, media_type = document
        headers = [(b"content-type", media_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})
