"""Daemon logging: text for a terminal, one JSON object per line for log shippers; secrets masked in both;
repeated warnings summed up rather than written one by one."""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.core.redact import Redactor

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


REPEAT_WINDOW = 60.0  # seconds
REPEAT_BURST = 10  # lines of one kind let through per window; the rest are counted, then summed up in one
NEVER_SUMMED = frozenset({"alerting.console"})  # loggers whose every line counts: console notifications


@dataclass
class _Kind:
    """The lines of one kind in the current window."""

    since: float
    lines: int = 0
    suppressed: int = 0
    latest: str = ""


class RepeatLimit(logging.Filter):
    """Lets through at most REPEAT_BURST warnings or errors of one kind per REPEAT_WINDOW, then one line
    saying how many more there were and the latest of them.

    A kind is the logger, level and message template: "dataset %s: missed the run planned at %s: %s" is one
    kind whatever the dataset, so an overloaded daemon writes a few lines a minute, not one per missed run
    (the metrics still count every one). Info lines, one per check run, and NEVER_SUMMED loggers' lines all
    pass. It must come before the RedactingFilter, which replaces the template with the message; summaries go
    through `emit`, the handler.
    """

    def __init__(self, emit: Callable[[logging.LogRecord], object]) -> None:
        super().__init__()
        self._emit = emit
        self._lock = threading.Lock()
        self._kinds: dict[tuple[str, int, str], _Kind] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.name in NEVER_SUMMED or hasattr(record, "suppressed"):
            return True
        now = time.monotonic()
        with self._lock:
            summaries = self._ended(now)
            kind = self._kinds.setdefault((record.name, record.levelno, str(record.msg)), _Kind(now))
            kind.lines += 1
            passed = kind.lines <= REPEAT_BURST
            if not passed:
                kind.suppressed += 1
                kind.latest = record.getMessage()
        for summary in summaries:
            self._emit(summary)
        return passed

    def flush(self, everything: bool = False) -> None:
        """Sum up the windows that have ended (or all of them): the kinds that went quiet say it too."""
        with self._lock:
            summaries = self._ended(math.inf if everything else time.monotonic())
        for summary in summaries:
            self._emit(summary)

    def _ended(self, now: float) -> list[logging.LogRecord]:
        summaries = []
        for key in [key for key, kind in self._kinds.items() if now - kind.since >= REPEAT_WINDOW]:
            kind = self._kinds.pop(key)
            if kind.suppressed:
                summaries.append(_summary(key, kind, time.monotonic() - kind.since))
        return summaries


def _summary(key: tuple[str, int, str], kind: _Kind, seconds: float) -> logging.LogRecord:
    name, level, _ = key
    return logging.makeLogRecord({
        "name": name, "levelno": level, "levelname": logging.getLevelName(level),
        "msg": "%d similar lines suppressed in the last %.0fs; the latest: %s",
        "args": (kind.suppressed, seconds, kind.latest), "suppressed": kind.suppressed,
    })


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


def setup(fmt: str, redact: Redactor, level: int = logging.INFO) -> tuple[RedactingFilter, RepeatLimit]:
    """Send the daemon's logs to stderr in `fmt`; returns the filter whose redactor a reload replaces, and the
    limit on repeated lines (flushed by the housekeeping, and at the end)."""
    handler = logging.StreamHandler(sys.stderr)
    redacting, repeats = RedactingFilter(redact), RepeatLimit(handler.handle)
    handler.addFilter(repeats)  # first: it reads the template, which the redacting filter replaces
    handler.addFilter(redacting)
    handler.setFormatter(FORMATTERS[fmt]())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "context impl", "will assume": every start
    return redacting, repeats
