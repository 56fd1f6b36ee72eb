"""What the channels that POST JSON over HTTP share (webhook, PagerDuty, Teams): one request, redirects
refused, the answer read and bounded, and how an answer sorts into worth another try or refused for good.

The outbox retries, so a send makes one request. URLs often carry a secret (a webhook's path, a proxy's
password): an `Endpoint` says what reasons may show of one (its scheme and host) and what they must not.
"""

from __future__ import annotations

import base64
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

from alerting.model import Permanent, Retry

RETRIED = frozenset({408, 425, 429})  # and every 5xx: the receiver may take it later
MAX_READ = 65536  # bytes of an answer read before the connection is closed


class NoAnswer(Exception):
    """No HTTP answer (refused, reset, timed out, unknown host): worth another try."""


class Unsendable(Exception):
    """The request cannot be made (no usable URL, a header urllib refuses): the same every time."""


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
        except ValueError:  # an unclosed IPv6 bracket, say: a send says why
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


@dataclass(frozen=True)
class Answer:
    """A receiver's answer: its status, the start of its body as text, and its Retry-After in seconds."""

    status: int
    body: str
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def status_line(self) -> str:
        """`HTTP 429 Too Many Requests`."""
        try:
            return f"HTTP {self.status} {HTTPStatus(self.status).phrase}"
        except ValueError:
            return f"HTTP {self.status}"

    def refusal(self, reason: str) -> Retry | Permanent:
        """Retry what the receiver may take later (408, 425, 429, 5xx); anything else it refuses for good."""
        if self.status in RETRIED or self.status >= 500:
            return Retry(reason, after=self.retry_after)
        return Permanent(reason)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer: urllib would turn the POST into a GET and drop the notification."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Poster:
    """POSTs bodies, one connection per request (nothing held open), never following a redirect."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects())

    def post(self, endpoint: Endpoint, body: bytes, headers: Mapping[str, str]) -> Answer:
        """The answer, whatever its status; `NoAnswer` or `Unsendable` when there is none."""
        if not endpoint.valid:
            raise Unsendable("expected an http:// or https:// URL with a host")
        # The URL's credentials first: a header the config names explicitly wins.
        request = urllib.request.Request(endpoint.url, data=body, headers={**endpoint.auth, **headers},
                                         method="POST")
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                return Answer(response.status, _read(response))
        except HTTPError as error:
            return Answer(error.code, _read(error), retry_after(error.headers))
        except (OSError, HTTPException) as exc:  # URLError, timeouts, refused or reset connections
            raise NoAnswer(_why(exc)) from None
        except ValueError:  # a header value with a line break, a URL with a space: it never reaches the wire
            raise Unsendable("invalid request (check the channel's URL and headers)") from None


def user_agent() -> dict[str, str]:
    from monitor.core.distribution import version

    return {"User-Agent": f"demon/{version()}"}


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


def _read(response: Any) -> str:
    try:
        return bytes(response.read(MAX_READ)).decode("utf-8", "replace")
    except (OSError, HTTPException):
        return ""


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


def _why(exc: BaseException) -> str:
    """The underlying cause of a URLError (refused, timed out, unknown host), in a few words."""
    cause = getattr(exc, "reason", None) or exc
    return str(cause) or type(cause).__name__
