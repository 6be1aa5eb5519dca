"""Structured logs: one JSON object a line on stderr."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import warnings
from datetime import UTC, datetime
from types import TracebackType

__all__ = ["configure_logging"]

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "info") -> None:
    """Route everything the process may write to stderr through one JSON handler.

    Python warnings and uncaught exceptions would otherwise print plain text of their own.
    """
    # The lines carry none of these; asking for each (getpid, the current thread) costs every log call.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    # Connexion imports Starlette's test client at start; Starlette warns about that on every start, which says
    # nothing an operator can act on.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    # gRPC's C core writes plain-text lines of its own to stderr; what matters of them reaches the
    # log as Python exceptions. GRPC_VERBOSITY=debug (set by the operator) brings them back.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "connexion"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the request middleware logs each request


def _log_uncaught(kind: type[BaseException], value: BaseException | None, traceback: TracebackType | None) -> None:
    logging.getLogger("vectra").critical("uncaught exception", exc_info=(kind, value, traceback))  # type: ignore[arg-type]
