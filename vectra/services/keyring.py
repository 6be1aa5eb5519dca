"""Token signing keys, each with a ``kid``, for rotation without logging every agent out.

The active key signs; every key in the ring verifies. Keys come from configuration
(``VECTRA_JWT_SECRET`` plus ``VECTRA_JWT_PREVIOUS_SECRETS``) or, when none is configured, from
``<data-dir>/jwt-keys.json`` (mode 0600), generated on first start and rotated with
``vectra rotate-key``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MIN_KEY_BYTES", "Keyring", "load_admin_token", "load_data_key", "load_keyring", "rotate_keyring_file"]

MIN_KEY_BYTES = 32
_KEY_FILE = "jwt-keys.json"


@dataclass(frozen=True)
class Keyring:
    active_kid: str
    keys: dict[str, bytes]

    @property
    def active_key(self) -> bytes:
        return self.keys[self.active_kid]


def _kid_for(secret: bytes) -> str:
    return "k-" + hashlib.sha256(secret).hexdigest()[:12]


def load_keyring(data_dir: Path, secret: str | None, previous: tuple[str, ...] = ()) -> Keyring:
    if secret is not None:
        keys = {_kid_for(s.encode()): s.encode() for s in (secret, *previous)}
        return Keyring(active_kid=_kid_for(secret.encode()), keys=keys)
    path = data_dir / _KEY_FILE
    if not path.exists():
        rotate_keyring_file(data_dir)
    document = json.loads(path.read_text())
    keys = {kid: base64.b64decode(value) for kid, value in document["keys"].items()}
    if any(len(key) < MIN_KEY_BYTES for key in keys.values()):
        raise ValueError(f"{path}: every signing key must be at least {MIN_KEY_BYTES} bytes")
    return Keyring(active_kid=document["active"], keys=keys)


def rotate_keyring_file(data_dir: Path, keep: int = 3) -> str:
    """Add a fresh key to the data directory's ring and make it the signing key; keep the last few."""
    path = data_dir / _KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    document = json.loads(path.read_text()) if path.exists() else {"keys": {}}
    key = secrets.token_bytes(MIN_KEY_BYTES * 2)
    kid = _kid_for(key)
    keys = dict(document["keys"])
    keys[kid] = base64.b64encode(key).decode()
    keys = dict(list(keys.items())[-keep:])
    _write_private(path, json.dumps({"active": kid, "keys": keys}, indent=2))
    return kid


def _write_private(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only, atomically."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def load_admin_token(data_dir: Path, configured: str | None) -> str:
    """The operator bootstrap token: configured, or generated once into the data directory."""
    if configured:
        return configured
    path = data_dir / "admin-token"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        _write_private(path, secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def load_data_key(data_dir: Path, configured: str | None, *, name: str = "hitl-key", size: int = 32) -> bytes:
    """A ``size``-byte encryption key: configured (base64), or generated once into ``<data-dir>/<name>`` (mode 0600).
    Losing it makes what it sealed unreadable, so it lives beside the database it protects."""
    text = configured
    if text is None:
        path = data_dir / name
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            _write_private(path, base64.b64encode(secrets.token_bytes(size)).decode() + "\n")
        text = path.read_text().strip()
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        key = b""
    if len(key) != size:
        raise ValueError(f"the {name} must be {size} bytes, base64-encoded")
    return key
