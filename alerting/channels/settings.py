"""The settings of the built-in kinds of channel, as a config file writes them (imported without slack-sdk or
boto3: the registry in alerting/channels/__init__.py needs them to read a config)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from monitor.core.config.models import TOPIC_ARN_PATTERN, ChannelConfig
from monitor.core.config.types import OptionalText

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_ROUTING_KEY = re.compile(r"[A-Za-z0-9]{32}")  # PagerDuty: "the 32 character Integration Key"


class SlackChannelConfig(ChannelConfig):
    kind: Literal["slack"]
    token: OptionalText = Field(default=None, description="bot token: root message, threaded updates")
    channel: str | None = None
    webhook_url: OptionalText = Field(default=None, description="incoming webhook: messages only")
    api_url: OptionalText = None

    @model_validator(mode="after")
    def _token_or_webhook(self) -> SlackChannelConfig:
        if not (self.token and self.channel) and not self.webhook_url:
            raise ValueError("expected token and channel, or webhook_url")
        if self.webhook_url and not self.webhook_url.startswith(("https://", "http://")):
            raise ValueError("webhook_url: expected an https:// URL")  # the value is a secret: not quoted
        return self


class SnsChannelConfig(ChannelConfig):
    kind: Literal["sns"]
    topic_arn: str = Field(pattern=TOPIC_ARN_PATTERN)
    region: OptionalText = None
    endpoint_url: OptionalText = None


class ConsoleChannelConfig(ChannelConfig):
    kind: Literal["console"]


class WebhookChannelConfig(ChannelConfig):
    kind: Literal["webhook"]
    url: str
    headers: dict[str, str] = Field(default_factory=dict)


class PagerDutyChannelConfig(ChannelConfig):
    kind: Literal["pagerduty"]
    routing_key: str = Field(description="the integration key of an Events API v2 integration (a secret)")
    url: str = Field(default=PAGERDUTY_EVENTS_URL, description="another Events API endpoint (tests, proxies)")

    @field_validator("routing_key")
    @classmethod
    def _key_shape(cls, value: str) -> str:
        if not _ROUTING_KEY.fullmatch(value):  # the value is a secret: never quoted
            raise ValueError("expected the 32 letters and digits of an Events API v2 integration key")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http(value)


class TeamsChannelConfig(ChannelConfig):
    kind: Literal["teams"]
    webhook_url: str = Field(description="a Teams incoming webhook or Workflows URL (a secret)")

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http(value)


def _http(url: str) -> str:
    """An http(s) URL. A wrong one is not quoted: a webhook's URL is its secret."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("expected an https:// URL")
    return url
