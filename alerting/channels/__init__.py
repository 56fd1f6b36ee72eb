"""Channels: where notifications go. One registry maps a config `kind` to the module that sends it.

Modules are imported when a channel of their kind is opened, so boto3 and slack-sdk load only when used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from alerting.model import Delivered, Notification, Permanent
from monitor.core.config.models import ChannelConfig
from monitor.core.distribution import MissingModule, load
from monitor.core.redact import Redactor

DEFAULT_CHANNEL = "console"  # the channel used when the config names none

# kind -> "module:factory"; each factory is `(name, config, env) -> Channel`.
CHANNELS: Mapping[str, str] = {
    "console": "alerting.channels.console:ConsoleChannel",
    "webhook": "alerting.channels.webhook:WebhookChannel",
    "slack": "alerting.channels.slack:open_slack",
    "sns": "alerting.channels.sns:SnsChannel",
}


@dataclass(frozen=True)
class ChannelEnv:
    """What channels share: where relative paths resolve, how secrets are masked, where the console writes."""

    base_dir: Path
    redact: Redactor
    console: TextIO | None = None  # where the console channel writes: None is the log (the daemon's)
    timeout: float = 10.0  # seconds for one request


class Channel(Protocol):
    """Sends one notification; raises `Retry` or `Permanent` (alerting.model), never anything else.

    `thread` is what an earlier `send` of the same incident returned (`Delivered.thread`), if anything.
    """

    name: str

    def send(self, notification: Notification, thread: Mapping[str, str] | None) -> Delivered: ...

    def close(self) -> None: ...


class ChannelFactory(Protocol):
    def __call__(self, name: str, config: ChannelConfig, env: ChannelEnv) -> Channel: ...


def open_channel(name: str, config: ChannelConfig, env: ChannelEnv) -> Channel:
    """The channel; `Permanent` saying what to install when its library is missing."""
    try:
        factory: ChannelFactory = load(CHANNELS[config.kind])
    except MissingModule as exc:
        raise Permanent(f"channel {name}: {exc}") from None
    return factory(name, config, env)
