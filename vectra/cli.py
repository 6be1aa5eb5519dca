"""``vectra serve`` and the operator's small commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from vectra.config import ConfigError, Settings, load_settings
from vectra.logs import configure_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vectra", description="Vectra, a governance gateway for AI agents")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the daemon (REST and gRPC)")
    serve.add_argument("--config", type=Path, help="TOML file with settings (lowest precedence)")
    serve.add_argument("--host", help="bind address (VECTRA_HOST, 127.0.0.1)")
    serve.add_argument("--rest-port", help="REST port (VECTRA_REST_PORT, 7080)")
    serve.add_argument("--grpc-port", help="gRPC port (VECTRA_GRPC_PORT, 7081)")
    serve.add_argument("--data-dir", help="SQLite file and generated keys (VECTRA_DATA_DIR, ./vectra-data)")
    serve.add_argument("--database-url", help="sqlite:///path (VECTRA_DATABASE_URL)")
    serve.add_argument("--policies-dir", help="policy documents loaded at start (VECTRA_POLICIES_DIR)")
    serve.add_argument("--allow-upstream-cidr", dest="upstream_allow_cidrs",
                       help="comma-separated CIDRs exempt from the SSRF guard (VECTRA_UPSTREAM_ALLOW_CIDRS)")
    serve.add_argument("--log-level", help="debug, info, warning, error (VECTRA_LOG_LEVEL)")

    rotate = commands.add_parser("rotate-key", help="add a new token signing key to the data directory")
    rotate.add_argument("--data-dir", default=None)

    token = commands.add_parser("admin-token", help="print the operator bootstrap token")
    token.add_argument("--data-dir", default=None)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    return load_settings(flags, config_file=getattr(args, "config", None))


def _serve(settings: Settings) -> int:
    from vectra.server import StartupError, serve

    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    try:
        run(serve(settings))
    except StartupError as exc:
        logging.getLogger("vectra.server").error(f"cannot start: {exc}")
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"vectra: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        configure_logging(settings.log_level)
        return _serve(settings)
    if args.command == "rotate-key":
        from vectra.services.keyring import rotate_keyring_file

        print(rotate_keyring_file(settings.data_dir))
        return 0
    if args.command == "admin-token":
        from vectra.services.keyring import load_admin_token

        print(load_admin_token(settings.data_dir, settings.admin_token))
        return 0
    return 2
