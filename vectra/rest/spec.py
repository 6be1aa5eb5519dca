"""The contract as deployed: ``openapi.yaml`` with this daemon's capability vocabulary, served as JSON (and
YAML) with its ``$ref`` links intact.

The file lists the default vocabulary (the reference's eight); a daemon configured with another
(``VECTRA_CAPABILITIES``) validates and documents its own, so that what the schema accepts is what the services
accept. Connexion would serve its resolved copy, in which a recursive schema (a policy condition holds conditions)
is a cycle that JSON can't express; clients and generators want the references anyway. The paths sit under the
Swagger UI's static files, so this runs as a step before Connexion's Swagger UI middleware.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

__all__ = ["SPEC_JSON_PATH", "SPEC_YAML_PATH", "ServeSpec", "capability_filter_pattern", "deployed_spec"]

SPEC_JSON_PATH = "/open-api/vectra/specifications.json"
SPEC_YAML_PATH = "/open-api/vectra/specifications.yaml"


class ServeSpec:
    """Answers ``GET`` of the two spec paths; passes everything else on."""

    def __init__(self, app: Any, spec: Mapping[str, Any]) -> None:
        self.app = app
        self._documents = {
            SPEC_JSON_PATH: (json.dumps(spec, separators=(",", ":")).encode(), b"application/json"),
            SPEC_YAML_PATH: (yaml.safe_dump(dict(spec), sort_keys=False, allow_unicode=True).encode(),
                             b"application/yaml"),
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


def capability_filter_pattern(capabilities: Sequence[str]) -> str:
    """``GET /agents?capabilities=``: names of the vocabulary, comma-separated."""
    name = "|".join(re.escape(c) for c in capabilities)
    return f"^({name})(,({name}))*$"


def deployed_spec(written: Mapping[str, Any], capabilities: Sequence[str]) -> dict[str, Any]:
    """The spec as written, with ``capabilities`` as the vocabulary its schemas accept."""
    spec = copy.deepcopy(dict(written))
    schemas = spec["components"]["schemas"]
    schemas["Capability"]["enum"] = list(capabilities)
    schemas["CapabilityFilter"]["pattern"] = capability_filter_pattern(capabilities)
    return spec
