"""Structured logs: one JSON object a line on stderr, written in batches.

Writing each line as it comes cost a system call a request; lines are gathered and written together instead, at
once for warnings and worse, otherwise within :data:`FLUSH_SECONDS` (as nginx's ``access_log ... flush=``). A
process killed with SIGKILL may lose the informational lines of its last moment; a stop by signal writes them all.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import warnings
from datetime import UTC, datetime
from types import TracebackType

__all__ = ["FLUSH_SECONDS", "configure_logging", "info_line"]

FLUSH_SECONDS = 0.2
_BATCH_BYTES = 64 * 1024

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class _Clock:
    """``2026-12-01T08:58:37.809+00:00``; the part up to the second is made once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._second_text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}+00:00"


_clock = _Clock()
_handler: BatchingStreamHandler | None = None  # the one configure_logging installed


def info_line(logger: logging.Logger, message: str, fields: dict[str, object]) -> None:
    """What ``logger.info(message, extra=fields)`` writes, without the logging module's per-record machinery
    (a LogRecord, its handlers and formatter): for the line every request writes. Falls back to ``logger.info``
    where :func:`configure_logging` did not set the output up."""
    if _handler is None:
        logger.info(message, extra=fields)
    elif logger.isEnabledFor(logging.INFO) and not logger.disabled:
        entry = {"time": _clock(time.time()), "level": "info", "logger": logger.name, "message": message, **fields}
        _handler.write_line(json.dumps(entry, default=str))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _clock(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class BatchingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Keeps whole lines until a warning, :data:`FLUSH_SECONDS` or :data:`_BATCH_BYTES` calls for writing them."""

    def __init__(self, stream: object) -> None:
        super().__init__(stream)  # type: ignore[arg-type]
        self._lines: list[str] = []
        self._size = 0
        self._written_at = time.monotonic()
        threading.Thread(target=self._keep_flushing, name="vectra-log-flush", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.write_line(line, at_once=record.levelno >= logging.WARNING)

    def write_line(self, line: str, *, at_once: bool = False) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(line + self.terminator)
            self._size += len(line) + 1
            if at_once or self._size >= _BATCH_BYTES or time.monotonic() - self._written_at >= FLUSH_SECONDS:
                self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._lines:
                try:
                    self.stream.write("".join(self._lines))
                    self.stream.flush()
                except (OSError, ValueError):  # stderr closed or gone: nothing better to do with the lines
                    pass
                self._lines.clear()
                self._size = 0
            self._written_at = time.monotonic()

    def _keep_flushing(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()


def configure_logging(level: str = "info") -> None:
    """Route everything the process may write to stderr through one JSON handler.

    Python warnings and uncaught exceptions would otherwise print plain text of their own.
    """
    # The lines carry none of these; asking for each (getpid, the current thread) costs every log call.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    global _handler
    handler = _handler = BatchingStreamHandler(sys.stderr)
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
