"""The settings of the built-in kinds of channel, as a config file writes them (imported without slack-sdk or
boto3: the registry in alerting/channels/__init__.py needs them to read a config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from monitor.core.config.models import TOPIC_ARN_PATTERN, ChannelConfig
from monitor.core.config.types import OptionalText


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
