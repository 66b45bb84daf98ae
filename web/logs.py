"""Structured logs: one JSON object per line, one line per request, errors with tracebacks.

Nothing secret is ever logged: no headers, bodies, tokens or passwords, only what is named
here.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import msgspec

access = logging.getLogger("exchange.access")
_encoder = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; ``extra={"fields": {...}}`` adds keys."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode()


def configure(level: str) -> None:
    """Send every log record to stderr as JSON lines, at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log_request(fields: dict[str, Any]) -> None:
    """One access line: time, request_id, user, method, route, status, latency, client IP."""
    if access.isEnabledFor(logging.INFO):
        access.info("request", extra={"fields": fields})
