"""Channels: where notifications go. A kind of channel is one module and one line in `CHANNELS`: its settings
model (what a config file writes under `alerting.channels`) and the import path of its factory, imported only
when a channel of that kind opens, so boto3 and slack-sdk load only when used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from alerting.channels.settings import (
    ConsoleChannelConfig,
    PagerDutyChannelConfig,
    SlackChannelConfig,
    SnsChannelConfig,
    TeamsChannelConfig,
    WebhookChannelConfig,
)
from monitor.core.config.models import AlertingConfig, ChannelConfig
from monitor.core.distribution import MissingModule, load
from monitor.core.redact import Redactor

if TYPE_CHECKING:  # reading a config needs the settings only: alerting's model loads with the first channel
    from alerting.model import Delivered, Notification

DEFAULT_CHANNEL = "console"  # the channel used when the config names none


@dataclass(frozen=True)
class ChannelKind:
    """A kind of channel: `opener` ("module:factory") is called as factory(name, settings, env).

    `acknowledges`: whether `demon ack` is told to it (an `acknowledged` notification). A pager acknowledges
    its alert so nobody else is paged; a chat or a topic has nothing to add to what `demon incidents` shows.
    """

    settings: type[ChannelConfig]
    opener: str
    acknowledges: bool = False


CHANNELS: dict[str, ChannelKind] = {
    "console": ChannelKind(ConsoleChannelConfig, "alerting.channels.console:ConsoleChannel"),
    "webhook": ChannelKind(WebhookChannelConfig, "alerting.channels.webhook:WebhookChannel"),
    "slack": ChannelKind(SlackChannelConfig, "alerting.channels.slack:open_slack"),
    "sns": ChannelKind(SnsChannelConfig, "alerting.channels.sns:SnsChannel"),
    "pagerduty": ChannelKind(PagerDutyChannelConfig, "alerting.channels.pagerduty:PagerDutyChannel",
                             acknowledges=True),
    "teams": ChannelKind(TeamsChannelConfig, "alerting.channels.teams:TeamsChannel"),
}


def acknowledging(alerting: AlertingConfig) -> set[str]:
    """The configured channels `demon ack` is told to."""
    return {name for name, config in alerting.channels.items() if CHANNELS[config.kind].acknowledges}


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
    from alerting.model import Permanent

    try:
        factory: ChannelFactory = load(CHANNELS[config.kind].opener)
    except MissingModule as exc:
        raise Permanent(f"channel {name}: {exc}") from None
    return factory(name, config, env)
