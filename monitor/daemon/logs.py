"""Daemon logging: text for a terminal, one JSON object per line for log shippers; secrets masked in both."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from monitor.redact import Redactor

# Attributes every LogRecord has; anything else was passed as `extra=` and belongs in the JSON object.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class RedactingFilter(logging.Filter):
    """Masks secrets in the final message; swapped on reload when the config's secrets change."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        record.msg, record.args = self.redact(message), None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        return json.dumps(line, default=str)


def _text() -> logging.Formatter:
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


FORMATTERS: dict[str, Callable[[], logging.Formatter]] = {"text": _text, "json": JsonFormatter}


def setup(fmt: str, redact: Redactor, level: int = logging.INFO) -> RedactingFilter:
    """Send the daemon's logs to stderr in `fmt`; returns the filter whose redactor a reload replaces."""
    handler = logging.StreamHandler(sys.stderr)
    redacting = RedactingFilter(redact)
    handler.addFilter(redacting)
    handler.setFormatter(FORMATTERS[fmt]())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "context impl", "will assume": every start
    return redacting
