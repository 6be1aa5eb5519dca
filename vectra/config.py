"""Configuration: command-line flags, then ``VECTRA_*`` variables, then a TOML file, then defaults.

The flag and variable names are fixed by DESIGN.md (operators and scripts depend on them).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vectra.domain.models import Governance

__all__ = ["DEFAULT_CAPABILITIES", "REGISTRATION_MODES", "SYNCHRONOUS_MODES", "ConfigError", "Settings",
           "load_settings"]

#: The capability vocabulary unless ``VECTRA_CAPABILITIES`` names another (the reference's eight).
DEFAULT_CAPABILITIES = (
    "file_access", "internet_access", "browser_control", "api_call", "mail_send", "code_execution",
    "system_command", "agent_communication",
)
REGISTRATION_MODES = ("open", "token", "off")
_CAPABILITY = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
#: the database tells apart 63 capability names ever used (vectra/store/sqlite.py, CAPABILITY_BITS); a vocabulary
#: of at most 62 leaves a bit for a renamed capability (docs/registry.md)
MAX_CAPABILITIES = 62
#: the longest a session may last, by default or an agent's own limit (docs/sessions.md)
MAX_SESSION_HOURS = 24
#: the deepest tree of sub-agents an agent may be given (docs/sessions.md)
MAX_DELEGATION_DEPTH = 5


class ConfigError(ValueError):
    """The configuration can't be used; the daemon refuses to start."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    rest_port: int = 7080
    grpc_port: int = 7081
    data_dir: Path = Path("./vectra-data")
    database_url: str | None = None
    database_synchronous: str = "normal"  # SQLite's synchronous: "normal", or "full" for an fsync per commit
    policies_dir: Path | None = None
    admin_token: str | None = None
    jwt_secret: str | None = None
    jwt_previous_secrets: tuple[str, ...] = ()
    jwt_issuer: str = "vectra"
    jwt_audience: str = "vectra"
    token_lifetime_seconds: int = 3600
    clock_skew_seconds: int = 30
    upstream_allow_cidrs: tuple[str, ...] = ()
    log_level: str = "info"
    shutdown_grace_seconds: float = 10.0
    request_head_timeout_seconds: float = 10.0
    max_request_head_bytes: int = 64 * 1024
    max_connections: int | None = None
    agent_cache_seconds: float = 5.0
    upstream_connect_timeout: float = 5.0
    upstream_read_timeout: float = 30.0
    max_proxy_body_bytes: int = 10 * 1024 * 1024
    breaker_failures: int = 5
    breaker_window_seconds: float = 60.0
    breaker_open_seconds: float = 30.0
    rate_limit_requests: int = 60
    rate_limit_per_seconds: float = 60.0
    hitl_threshold: float = 0.8
    hitl_trust_factor: float = 0.4
    hitl_expiry_seconds: int = 3600
    hitl_max_pending_per_agent: int = 100
    hitl_max_wait_seconds: float = 60.0
    hitl_sweep_seconds: float = 1.0
    hitl_response_copy_bytes: int = 64 * 1024
    hitl_key: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = 5
    webhook_backoff_seconds: float = 1.0
    audit_refusal_window_seconds: float = 10.0
    capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES
    online_window_seconds: float = 300.0
    registration_mode: str = "open"  # "open", "token" (an enrollment token is needed) or "off"
    enrollment_tokens: tuple[str, ...] = ()
    registration_rate_per_hour: int = 10
    max_pending_registrations: int = 1000
    assertion_max_lifetime_seconds: int = 300
    #: the ``aud`` an agent's token assertion names; None: ``<jwt_issuer>/tokens`` (services/assertions.py)
    assertion_audience: str | None = None
    #: an agent's session and delegation limits where it has none of its own (docs/sessions.md)
    max_session_hours: float = 8.0
    max_daily_sessions: int = 50
    max_concurrent_sessions: int = 10
    max_delegation_depth: int = 0
    #: how much of a call's body its audit record keeps, for replays and shadow policies (0: none)
    audit_body_bytes: int = 16384
    #: the bcrypt cost of client secrets hashed from now on (each one more doubles it; stored hashes keep theirs)
    bcrypt_rounds: int = 10

    def session_defaults(self) -> Governance:
        return Governance(self.max_session_hours, self.max_daily_sessions, self.max_concurrent_sessions,
                          self.max_delegation_depth)

    @property
    def database_path(self) -> Path:
        """The SQLite file: from ``sqlite:///path`` or ``<data_dir>/vectra.db``."""
        url = self.database_url
        if not url:
            return self.data_dir / "vectra.db"
        if url.startswith("sqlite:///"):
            return Path(url.removeprefix("sqlite:///"))
        raise ConfigError(f"unsupported database URL {url!r}: only sqlite:///path is supported so far")


#: SQLite's ``synchronous`` settings Vectra runs with (WAL either way; docs/audit.md, Durability).
SYNCHRONOUS_MODES = ("normal", "full")
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _csv(name: str, value: object) -> tuple[str, ...]:
    """A list of strings: ``"a, b"`` from a flag or variable, or a TOML array of strings."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ConfigError(f"{name} must be a list of strings, not {_shown(value)}")


def _integer(name: str, value: object) -> int:
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,18}", value.strip()):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ConfigError(f"{name} must be a whole number, not {_shown(value)}")


def _number(name: str, value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {_shown(value)}") from None
    else:
        raise ConfigError(f"{name} must be a number, not {_shown(value)}")
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be a finite number, not {_shown(value)}")
    return number


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, not {_shown(value)}")
    return value


def _path(name: str, value: object) -> Path:
    if isinstance(value, Path):
        return value
    return Path(_text(name, value))


def _shown(value: object) -> str:
    """A short string is quoted; anything else is named by its type (secret settings only fail on type)."""
    if isinstance(value, str) and len(value) <= 40:
        return repr(value)
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a long string", list: "a list"}
    return kinds.get(type(value), "a " + type(value).__name__)


_COERCE: dict[str, Callable[[str, object], Any]] = {
    "host": _text,
    "rest_port": _integer,
    "grpc_port": _integer,
    "data_dir": _path,
    "database_url": _text,
    "database_synchronous": _text,
    "policies_dir": _path,
    "admin_token": _text,
    "jwt_secret": _text,
    "jwt_previous_secrets": _csv,
    "jwt_issuer": _text,
    "jwt_audience": _text,
    "token_lifetime_seconds": _integer,
    "clock_skew_seconds": _integer,
    "upstream_allow_cidrs": _csv,
    "log_level": _text,
    "shutdown_grace_seconds": _number,
    "request_head_timeout_seconds": _number,
    "max_request_head_bytes": _integer,
    "max_connections": _integer,
    "agent_cache_seconds": _number,
    "upstream_connect_timeout": _number,
    "upstream_read_timeout": _number,
    "max_proxy_body_bytes": _integer,
    "breaker_failures": _integer,
    "breaker_window_seconds": _number,
    "breaker_open_seconds": _number,
    "rate_limit_requests": _integer,
    "rate_limit_per_seconds": _number,
    "hitl_threshold": _number,
    "hitl_trust_factor": _number,
    "hitl_expiry_seconds": _integer,
    "hitl_max_pending_per_agent": _integer,
    "hitl_max_wait_seconds": _number,
    "hitl_sweep_seconds": _number,
    "hitl_response_copy_bytes": _integer,
    "hitl_key": _text,
    "webhook_url": _text,
    "webhook_secret": _text,
    "webhook_timeout_seconds": _number,
    "webhook_max_attempts": _integer,
    "webhook_backoff_seconds": _number,
    "audit_refusal_window_seconds": _number,
    "capabilities": _csv,
    "online_window_seconds": _number,
    "registration_mode": _text,
    "enrollment_tokens": _csv,
    "registration_rate_per_hour": _integer,
    "max_pending_registrations": _integer,
    "assertion_max_lifetime_seconds": _integer,
    "assertion_audience": _text,
    "max_session_hours": _number,
    "max_daily_sessions": _integer,
    "max_concurrent_sessions": _integer,
    "max_delegation_depth": _integer,
    "audit_body_bytes": _integer,
    "bcrypt_rounds": _integer,
}
_ENV_NAMES: dict[str, str] = {
    "host": "VECTRA_HOST",
    "rest_port": "VECTRA_REST_PORT",
    "grpc_port": "VECTRA_GRPC_PORT",
    "data_dir": "VECTRA_DATA_DIR",
    "database_url": "VECTRA_DATABASE_URL",
    "database_synchronous": "VECTRA_DATABASE_SYNCHRONOUS",
    "policies_dir": "VECTRA_POLICIES_DIR",
    "admin_token": "VECTRA_ADMIN_TOKEN",
    "jwt_secret": "VECTRA_JWT_SECRET",
    "jwt_previous_secrets": "VECTRA_JWT_PREVIOUS_SECRETS",
    "jwt_issuer": "VECTRA_JWT_ISSUER",
    "jwt_audience": "VECTRA_JWT_AUDIENCE",
    "token_lifetime_seconds": "VECTRA_TOKEN_LIFETIME_SECONDS",
    "clock_skew_seconds": "VECTRA_CLOCK_SKEW_SECONDS",
    "upstream_allow_cidrs": "VECTRA_UPSTREAM_ALLOW_CIDRS",
    "log_level": "VECTRA_LOG_LEVEL",
    "shutdown_grace_seconds": "VECTRA_SHUTDOWN_GRACE_SECONDS",
    "request_head_timeout_seconds": "VECTRA_REQUEST_HEAD_TIMEOUT_SECONDS",
    "max_request_head_bytes": "VECTRA_MAX_REQUEST_HEAD_BYTES",
    "max_connections": "VECTRA_MAX_CONNECTIONS",
    "agent_cache_seconds": "VECTRA_AGENT_CACHE_SECONDS",
    "upstream_connect_timeout": "VECTRA_UPSTREAM_CONNECT_TIMEOUT",
    "upstream_read_timeout": "VECTRA_UPSTREAM_READ_TIMEOUT",
    "max_proxy_body_bytes": "VECTRA_MAX_PROXY_BODY_BYTES",
    "breaker_failures": "VECTRA_BREAKER_FAILURES",
    "breaker_window_seconds": "VECTRA_BREAKER_WINDOW_SECONDS",
    "breaker_open_seconds": "VECTRA_BREAKER_OPEN_SECONDS",
    "rate_limit_requests": "VECTRA_RATE_LIMIT_REQUESTS",
    "rate_limit_per_seconds": "VECTRA_RATE_LIMIT_PER_SECONDS",
    "hitl_threshold": "VECTRA_HITL_THRESHOLD",
    "hitl_trust_factor": "VECTRA_HITL_TRUST_FACTOR",
    "hitl_expiry_seconds": "VECTRA_HITL_EXPIRY_SECONDS",
    "hitl_max_pending_per_agent": "VECTRA_HITL_MAX_PENDING_PER_AGENT",
    "hitl_max_wait_seconds": "VECTRA_HITL_MAX_WAIT_SECONDS",
    "hitl_sweep_seconds": "VECTRA_HITL_SWEEP_SECONDS",
    "hitl_response_copy_bytes": "VECTRA_HITL_RESPONSE_COPY_BYTES",
    "hitl_key": "VECTRA_HITL_KEY",
    "webhook_url": "VECTRA_WEBHOOK_URL",
    "webhook_secret": "VECTRA_WEBHOOK_SECRET",
    "webhook_timeout_seconds": "VECTRA_WEBHOOK_TIMEOUT_SECONDS",
    "webhook_max_attempts": "VECTRA_WEBHOOK_MAX_ATTEMPTS",
    "webhook_backoff_seconds": "VECTRA_WEBHOOK_BACKOFF_SECONDS",
    "audit_refusal_window_seconds": "VECTRA_AUDIT_REFUSAL_WINDOW_SECONDS",
    "capabilities": "VECTRA_CAPABILITIES",
    "online_window_seconds": "VECTRA_ONLINE_WINDOW_SECONDS",
    "registration_mode": "VECTRA_REGISTRATION_MODE",
    "enrollment_tokens": "VECTRA_ENROLLMENT_TOKENS",
    "registration_rate_per_hour": "VECTRA_REGISTRATION_RATE_PER_HOUR",
    "max_pending_registrations": "VECTRA_MAX_PENDING_REGISTRATIONS",
    "assertion_max_lifetime_seconds": "VECTRA_ASSERTION_MAX_LIFETIME_SECONDS",
    "assertion_audience": "VECTRA_ASSERTION_AUDIENCE",
    "max_session_hours": "VECTRA_MAX_SESSION_HOURS",
    "max_daily_sessions": "VECTRA_MAX_DAILY_SESSIONS",
    "max_concurrent_sessions": "VECTRA_MAX_CONCURRENT_SESSIONS",
    "max_delegation_depth": "VECTRA_MAX_DELEGATION_DEPTH",
    "audit_body_bytes": "VECTRA_AUDIT_BODY_BYTES",
    "bcrypt_rounds": "VECTRA_BCRYPT_ROUNDS",
}
_TOML_KEYS = set(_COERCE)


def _parse(name: str, value: object, source: str) -> Any:
    """The setting's value in its type, or a ConfigError naming the setting and where it came from."""
    try:
        return _COERCE[name](name, value)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (from {source})") from None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge the three sources; the first one that names a setting wins."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            document = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from exc
        section = document.get("vectra", document)
        if not isinstance(section, dict):
            raise ConfigError(f"config file {config_file}: [vectra] must be a table")
        unknown = set(section) - _TOML_KEYS
        if unknown:
            raise ConfigError(f"config file {config_file}: unknown settings {sorted(unknown)}")
        values.update({k: _parse(k, v, f"config file {config_file}") for k, v in section.items()})
    for name, variable in _ENV_NAMES.items():
        if variable in environ and environ[variable] != "":
            values[name] = _parse(name, environ[variable], variable)
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = _parse(name, value, "--" + name.replace("_", "-"))
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    for port in (settings.rest_port, settings.grpc_port):
        if not 0 <= port <= 65535:
            raise ConfigError(f"port {port} is out of range")
    if settings.database_synchronous not in SYNCHRONOUS_MODES:
        raise ConfigError(f"database_synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
    if settings.log_level.lower() not in _LOG_LEVELS:
        raise ConfigError(f"log level must be one of {', '.join(_LOG_LEVELS)}")
    if settings.token_lifetime_seconds < 1:
        raise ConfigError("token_lifetime_seconds must be at least 1")
    for name in ("clock_skew_seconds", "shutdown_grace_seconds", "agent_cache_seconds"):
        if getattr(settings, name) < 0:
            raise ConfigError(f"{name} must not be negative")
    for name in ("request_head_timeout_seconds", "max_request_head_bytes", "upstream_connect_timeout",
                 "upstream_read_timeout", "max_proxy_body_bytes", "breaker_failures", "breaker_window_seconds",
                 "breaker_open_seconds", "rate_limit_requests", "rate_limit_per_seconds", "hitl_expiry_seconds",
                 "hitl_max_pending_per_agent", "hitl_sweep_seconds", "webhook_timeout_seconds",
                 "webhook_max_attempts", "webhook_backoff_seconds", "audit_refusal_window_seconds",
                 "online_window_seconds", "registration_rate_per_hour", "max_pending_registrations",
                 "assertion_max_lifetime_seconds", "max_session_hours", "max_daily_sessions",
                 "max_concurrent_sessions"):
        if not getattr(settings, name) > 0:
            raise ConfigError(f"{name} must be positive")
    if settings.max_connections is not None and settings.max_connections < 1:
        raise ConfigError("max_connections must be positive")
    if not 0 <= settings.hitl_threshold <= 1:
        raise ConfigError("hitl_threshold must be from 0 to 1")
    if not 0 <= settings.hitl_trust_factor <= 2:
        raise ConfigError("hitl_trust_factor must be from 0 to 2")
    if settings.max_session_hours > MAX_SESSION_HOURS:
        raise ConfigError(f"max_session_hours must be at most {MAX_SESSION_HOURS}")
    if not 0 <= settings.max_delegation_depth <= MAX_DELEGATION_DEPTH:
        raise ConfigError(f"max_delegation_depth must be from 0 to {MAX_DELEGATION_DEPTH}")
    if not 4 <= settings.bcrypt_rounds <= 16:
        raise ConfigError("bcrypt_rounds must be from 4 to 16 (bcrypt's least cost to one that takes seconds)")
    if settings.audit_body_bytes < 0:
        raise ConfigError("audit_body_bytes must not be negative")
    if settings.hitl_max_wait_seconds < 0 or settings.hitl_response_copy_bytes < 0:
        raise ConfigError("hitl_max_wait_seconds and hitl_response_copy_bytes must not be negative")
    if settings.webhook_url is not None:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", settings.webhook_url):
            raise ConfigError("webhook_url must be an absolute http or https URL")
        if settings.webhook_secret is None or len(settings.webhook_secret.encode()) < 16:
            raise ConfigError("a webhook needs VECTRA_WEBHOOK_SECRET, at least 16 bytes, to sign its deliveries")
    for cidr in settings.upstream_allow_cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise ConfigError(f"upstream allow CIDR {cidr!r}: {exc}") from exc
    for secret in (settings.jwt_secret, *settings.jwt_previous_secrets):
        if secret is not None and len(secret.encode()) < 32:
            raise ConfigError("a JWT signing key must be at least 32 bytes (RFC 8725, RFC 7518 §3.2)")
    if settings.admin_token is not None and len(settings.admin_token) < 16:
        raise ConfigError("VECTRA_ADMIN_TOKEN must be at least 16 characters")
    _check_registry(settings)
    settings.database_path  # noqa: B018 - validates the URL early


def _check_registry(settings: Settings) -> None:
    if not settings.capabilities:
        raise ConfigError("capabilities must name at least one capability")
    if len(settings.capabilities) > MAX_CAPABILITIES:
        raise ConfigError(f"capabilities names {len(settings.capabilities)} capabilities; at most {MAX_CAPABILITIES}")
    for capability in settings.capabilities:
        if not _CAPABILITY.fullmatch(capability):
            raise ConfigError(f"capability {capability!r} must be 1 to 64 of a-z, 0-9, '_', '.', '-', from a letter")
    if len(set(settings.capabilities)) != len(settings.capabilities):
        raise ConfigError("capabilities names a capability twice")
    if settings.registration_mode not in REGISTRATION_MODES:
        raise ConfigError(f"registration_mode must be one of {', '.join(REGISTRATION_MODES)}")
    if settings.registration_mode == "token" and not settings.enrollment_tokens:
        raise ConfigError("registration_mode token needs VECTRA_ENROLLMENT_TOKENS")
    if any(len(token) < 16 for token in settings.enrollment_tokens):
        raise ConfigError("an enrollment token must be at least 16 characters")
