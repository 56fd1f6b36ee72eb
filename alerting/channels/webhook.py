"""The webhook channel: one JSON POST per notification, with an `Idempotency-Key` for receivers that dedupe.

The outbox retries, so a send makes one request and sorts the answer: worth another try later (rate limits,
server errors, no connection) or never (the receiver refuses this request). Webhook URLs often carry a token
in their path or query, and headers a bearer token: reasons name only the URL's scheme and host, and mask
anything of the URL or the headers a receiver echoes back.
"""

from __future__ import annotations

import base64
import json
import math
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.client import HTTPException
from typing import Any
from urllib.error import HTTPError
from urllib.parse import SplitResult, unquote, urlsplit

from alerting.channels import ChannelEnv
from alerting.channels.settings import WebhookChannelConfig
from alerting.model import Delivered, Notification, Permanent, Retry
from alerting.render.text import clip, render_text

RETRIED = frozenset({408, 425, 429})  # and every 5xx: the receiver may take it later
BODY_SHOWN = 200  # characters of an error response shown in a reason
MAX_READ = 65536  # bytes of an answer read before the connection is closed


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer: urllib would turn the POST into a GET and drop the notification."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class Endpoint:
    """The URL as requested (credentials moved to a header), as reasons show it, and what they must not."""

    url: str
    shown: str
    valid: bool
    auth: dict[str, str]
    secrets: tuple[str, ...]

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        try:
            parts = urlsplit(url)
        except ValueError:  # an unclosed IPv6 bracket, say: send() says why
            parts = urlsplit("")
        host = parts.netloc.rpartition("@")[2]
        auth = _basic_auth(parts)
        return cls(
            url=parts._replace(netloc=host).geturl(),
            shown=f"{parts.scheme}://{host}",
            valid=_usable(parts),
            auth=auth,
            secrets=(url, parts.query, parts.password or "", parts.path, *auth.values()),
        )


class WebhookChannel:
    def __init__(self, name: str, config: WebhookChannelConfig, env: ChannelEnv) -> None:
        from monitor.core.distribution import version

        self.name = name
        self._endpoint = endpoint = Endpoint.parse(config.url)
        self._timeout = env.timeout
        self._shown = env.redact(endpoint.shown)
        self._redact = env.redact.extended([*endpoint.secrets, *config.headers.values()])
        self._headers = {"User-Agent": f"demon/{version()}", **endpoint.auth, **config.headers,
                         "Content-Type": "application/json"}
        self._opener = urllib.request.build_opener(_NoRedirects())

    def send(self, notification: Notification, thread: Mapping[str, str] | None) -> Delivered:
        """POST the notification; webhooks cannot thread, so `thread` is ignored."""
        request = self._request(notification)
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read(MAX_READ)
        except HTTPError as error:
            raise self._refused(error) from None
        except (OSError, HTTPException) as exc:  # URLError, timeouts, refused or reset connections
            raise Retry(self._reason("no answer", _why(exc))) from None
        except ValueError:  # a header value with a line break, say: it never reaches the wire
            raise Permanent(self._reason("invalid request (check the channel's headers)")) from None
        return Delivered(None)

    def close(self) -> None:
        """Each send opens its own connection: nothing is held open."""

    def _request(self, notification: Notification) -> urllib.request.Request:
        if not self._endpoint.valid:
            raise Permanent(self._reason("expected an http:// or https:// URL with a host"))
        try:
            body = json.dumps(
                {"notification": notification.to_dict(), "text": render_text(notification)},
                allow_nan=False, ensure_ascii=False,
            ).encode()
        except (TypeError, ValueError) as exc:
            raise Permanent(self._reason("notification is not JSON", str(exc))) from None
        headers = {**self._headers, "Idempotency-Key": notification.key}
        return urllib.request.Request(self._endpoint.url, data=body, headers=headers, method="POST")

    def _refused(self, error: HTTPError) -> Retry | Permanent:
        """Retry what the receiver may take later; anything else it refuses for good."""
        try:
            shown = error.read(MAX_READ).decode("utf-8", "replace")
        except (OSError, HTTPException):
            shown = ""
        status = f"HTTP {error.code} {_phrase(error.code)}"
        reason = self._reason(status, shown)
        if error.code in RETRIED or error.code >= 500:
            return Retry(reason, after=retry_after(error.headers))
        return Permanent(reason)

    def _reason(self, what: str, said: str = "") -> str:
        """demon's words as they are; what the receiver or the network said masked (before it is cut, so
        no half secret slips through), on one line and short."""
        said = clip(" ".join(self._redact(said).split()), BODY_SHOWN)
        return f"webhook {self._shown}: {what}" + (f": {said}" if said else "")


def retry_after(headers: Message | None) -> float | None:
    """Retry-After in seconds (or as an HTTP date) as a minimum wait; None when absent or unreadable."""
    value = (headers.get("Retry-After") if headers is not None else None) or ""
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _usable(parts: SplitResult) -> bool:
    """http(s), a host and a port that is a number: anything else fails every send the same way."""
    try:
        port = parts.port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


def _basic_auth(parts: SplitResult) -> dict[str, str]:
    """`https://user:password@host/...`: urllib would look the user up as part of the host name."""
    if parts.username is None:
        return {}
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _why(exc: BaseException) -> str:
    """The underlying cause of a URLError (refused, timed out, unknown host), in a few words."""
    cause = getattr(exc, "reason", None) or exc
    return str(cause) or type(cause).__name__
