"""Slack: a bot (token and channel: a root message per incident, replies in its thread, the root edited on
resolve) or an incoming webhook (standalone messages, no threads).

slack-sdk is optional (the `slack` extra); the channel registry imports this module only when a Slack
channel is opened, and says what to install when slack-sdk is missing. Its clients get
`retry_handlers=[]`: the outbox does every retry, so nothing sleeps in a delivery thread, and a Retry-After
becomes `Retry.after`. Reasons never hold the token or the webhook URL (its path is the secret).
"""

from __future__ import annotations

import http.client
import logging
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from alerting.channels import Channel, ChannelEnv
from alerting.channels.settings import SlackChannelConfig
from alerting.model import Delivered, EventKind, Notification, Permanent, Retry
from alerting.render.slack import blocks, fallback, resolved_blocks
from monitor.core.redact import Redactor

if TYPE_CHECKING:
    from slack_sdk.web import SlackResponse

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
REASON_CHARS = 300
MAX_RETRY_AFTER = 3600.0  # seconds
# `ok: false` errors Slack documents as temporary; every other one is permanent.
TRANSIENT_ERRORS = frozenset({"ratelimited", "service_unavailable", "internal_error", "fatal_error",
                              "request_timeout"})


def open_slack(name: str, config: SlackChannelConfig, env: ChannelEnv) -> Channel:
    """A bot channel when a token and channel are configured, else a webhook channel."""
    redact = _redactor(env.redact, config)
    timeout = max(1, math.ceil(env.timeout))  # slack-sdk takes whole seconds; never shorter than asked
    if config.token and config.channel:
        api_url = (config.api_url or DEFAULT_API_URL).rstrip("/") + "/"
        client = WebClient(token=config.token, base_url=api_url, timeout=timeout, retry_handlers=[])
        return SlackBot(name, client, config.channel, redact)
    assert config.webhook_url is not None  # the config model requires a token and channel, or a webhook URL
    return SlackWebhook(name, WebhookClient(config.webhook_url, timeout=timeout, retry_handlers=[]), redact)


def _redactor(redact: Redactor, config: SlackChannelConfig) -> Redactor:
    """Masks the token, the webhook URL and its path (a webhook URL's path is its credential)."""
    path = urlsplit(config.webhook_url).path if config.webhook_url else None
    return redact.extended([config.token, config.webhook_url, path])


def _metadata(n: Notification) -> dict[str, Any]:
    """Carried by every bot post, so an ambiguous send can be found again in the channel's history."""
    return {"event_type": "demon_notification", "event_payload": {"key": n.key, "incident": n.incident}}


class SlackBot:
    """Posts with a bot token: `thread=None` posts a root message, a thread gets a reply."""

    def __init__(self, name: str, client: WebClient, channel: str, redact: Redactor) -> None:
        self.name, self._client, self._channel, self._redact = name, client, channel, redact

    def send(self, notification: Notification, thread: Mapping[str, str] | None) -> Delivered:
        n = notification
        if thread is None:
            response = self._post(n, self._channel, None)
            channel, ts = response.get("channel"), response.get("ts")
            if not isinstance(channel, str) or not isinstance(ts, str):
                raise Permanent(self._redact(f"{self.name}: chat.postMessage answered without channel or ts"))
            return Delivered({"channel": channel, "ts": ts, "incident": str(n.incident)})
        self._post(n, thread["channel"], thread["ts"])
        if n.event is EventKind.RESOLVED and thread.get("incident") == str(n.incident):
            self._edit_root(n, thread)
        return Delivered(None)

    def _post(self, n: Notification, channel: str, thread_ts: str | None) -> SlackResponse:
        return self._call(lambda: self._client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, reply_broadcast=False if thread_ts else None,
            text=fallback(n), blocks=blocks(n), unfurl_links=False, unfurl_media=False,
            metadata=_metadata(n)))

    def _edit_root(self, n: Notification, thread: Mapping[str, str]) -> None:
        """Marks this incident's root message resolved; the reply went out, so a failure is only logged."""
        try:
            self._call(lambda: self._client.chat_update(
                channel=thread["channel"], ts=thread["ts"], text=f"Resolved: {fallback(n)}",
                blocks=resolved_blocks(n)))
        except (Retry, Permanent) as error:
            log.warning("%s: could not mark incident %s resolved in its root message: %s",
                        self.name, n.incident, error)

    def _call(self, request: Callable[[], SlackResponse]) -> SlackResponse:
        """The request's response, or `Retry`/`Permanent` for every way it can fail."""
        try:
            return request()
        except SlackApiError as error:
            raise _api_error(error.response, self._redact, self.name) from None
        except (OSError, http.client.HTTPException) as error:  # URLError, refused, reset, timed out
            raise _unreachable(error, self._redact, self.name) from None
        except SlackClientError as error:
            raise Permanent(self._redact(f"{self.name}: {_bounded(str(error))}")) from None

    def close(self) -> None:
        """urllib opens a connection per request: nothing to release."""


def _api_error(response: SlackResponse, redact: Redactor, name: str) -> Retry | Permanent:
    """Slack's answer as Retry (429 with its Retry-After, 5xx, transient errors) or Permanent (the rest)."""
    status, error = response.status_code, str(response.get("error") or "")
    if status == 429:
        return Retry(redact(f"{name}: rate limited (HTTP 429)"), after=_retry_after(response.headers))
    if status >= 500:
        return Retry(redact(f"{name}: HTTP {status}"))
    details = "; ".join(str(item) for item in response.get("errors") or [])
    reason = redact(f"{name}: {_bounded(error + (f' ({details})' if details else ''))}")
    return Retry(reason) if error in TRANSIENT_ERRORS else Permanent(reason)


def _unreachable(error: Exception, redact: Redactor, name: str) -> Retry:
    """No answer (refused, reset, timed out): Slack may well answer later."""
    return Retry(redact(f"{name}: {_bounded(str(error) or type(error).__name__)}"))


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    """Retry-After in seconds, bounded (a broken header must not park the channel for good), else None.
    delivery.backoff bounds the pause it makes again, to 15 minutes."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        after = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return min(max(0.0, after), MAX_RETRY_AFTER) if math.isfinite(after) else None


def _bounded(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS] + " ..."


class SlackWebhook:
    """Posts to an incoming webhook: standalone messages, since a webhook returns nothing to thread on."""

    def __init__(self, name: str, client: WebhookClient, redact: Redactor) -> None:
        self.name, self._client, self._redact = name, client, redact

    def send(self, notification: Notification, thread: Mapping[str, str] | None) -> Delivered:
        try:
            response = self._client.send(text=fallback(notification), blocks=blocks(notification),
                                         unfurl_links=False, unfurl_media=False)
        except (OSError, http.client.HTTPException) as error:
            raise _unreachable(error, self._redact, self.name) from None
        except (ValueError, SlackClientError) as error:  # a bad URL: its text would quote the secret URL
            raise Permanent(f"{self.name}: the webhook URL is not usable ({type(error).__name__})") from None
        status, body = response.status_code, _bounded(str(response.body or ""))
        if 200 <= status < 300:
            return Delivered(None)
        if status == 429:
            after = _retry_after(response.headers)
            raise Retry(self._redact(f"{self.name}: rate limited (HTTP 429)"), after=after)
        reason = self._redact(f"{self.name}: HTTP {status}: {body}")
        raise Retry(reason) if status >= 500 else Permanent(reason)

    def close(self) -> None:
        """urllib opens a connection per request: nothing to release."""
