"""The console channel: incidents as plain text, in the daemon's log or on a stream (`demon check --notify`'s
stderr).

It is the channel of a config that names none, so it must always work: nothing to connect to, nothing to
refuse; only a closed stderr (a pipe whose reader went away) is worth another try.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TextIO

from alerting.channels import ChannelEnv
from alerting.channels.settings import ConsoleChannelConfig
from alerting.model import Delivered, EventKind, Notification, Retry
from alerting.render.text import render_text

log = logging.getLogger("alerting.console")

# An open incident is a warning in the daemon's log; its acknowledgement and resolution are news, not
# problems.
LEVELS: Mapping[EventKind, int] = {
    EventKind.OPENED: logging.WARNING,
    EventKind.CHANGED: logging.WARNING,
    EventKind.REPEATED: logging.WARNING,
    EventKind.ACKNOWLEDGED: logging.INFO,
    EventKind.RESOLVED: logging.INFO,
}


class ConsoleChannel:
    def __init__(self, name: str, config: ConsoleChannelConfig, env: ChannelEnv) -> None:
        self.name = name
        self._env = env

    def send(self, notification: Notification, thread: Mapping[str, str] | None) -> Delivered:
        """Write or log the text; the console cannot thread, so `thread` is ignored."""
        text = self._env.redact(render_text(notification))
        if self._env.console is not None:
            self._write(self._env.console, text)
        else:
            extra = {
                "incident": notification.incident,
                # Not `check`: log readers take check + outcome for a check run's line.
                "incident_key": notification.incident_key,  # a check id, or `source:NAME`
                "event": notification.event.value,
                "outcome": notification.outcome,
            }
            log.log(LEVELS[notification.event], "%s", text, extra=extra)
        return Delivered(None)

    def close(self) -> None:
        """Nothing is held open."""

    def _write(self, stream: TextIO, text: str) -> None:
        try:
            stream.write(text + "\n")
            stream.flush()
        except OSError as exc:
            reason = f"cannot write to the console: {exc.strerror or type(exc).__name__}"
            raise Retry(self._env.redact(reason)) from None
