"""The `sns` channel: one `Publish` per notification to an SNS topic, through boto3.

Credentials come from boto3's standard chain, never from demon's config. botocore retries once at most
(`total_max_attempts: 2`), so a send never sleeps long in a delivery thread; every further retry goes through
the outbox. SNS cannot thread: follow-ups carry the root cause in their body and attributes instead.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as Unreachable

from alerting.channels import ChannelEnv
from alerting.channels.settings import SnsChannelConfig
from alerting.model import Delivered, Notification, Permanent, Retry
from alerting.render.sns import publish_request
from alerting.render.text import clip
from monitor.core.redact import MASK, Redactor

CONNECT_TIMEOUT = 5
REASON_LIMIT = 300  # characters of a failure reason
# Error codes that mean "later": throttling and AWS-side failures (any 5xx or 429 too).
RETRY_CODES = frozenset({"Throttling", "Throttled", "ThrottlingException", "ThrottledException",
                         "InternalError", "InternalErrorException", "ServiceUnavailable", "KMSThrottling"})
# botocore failures without an SNS answer that may pass: the network, and credentials that may appear later.
RETRY_FAILURES: tuple[type[BotoCoreError], ...] = (Unreachable, HTTPClientError, NoCredentialsError,
                                                   CredentialRetrievalError)
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")


class SnsChannel:
    """Publishes to `config.topic_arn`; the client is made on the first send, so a bad region fails sends,
    not the daemon."""

    def __init__(self, name: str, config: SnsChannelConfig, env: ChannelEnv) -> None:
        self.name = name
        self._config = config
        self._env = env
        self._redact: Redactor = env.redact
        self._client: Any = None
        self._lock = threading.Lock()

    def send(self, notification: Notification, thread: Mapping[str, str] | None) -> Delivered:
        request = publish_request(notification, self._config.topic_arn)
        try:
            self._sns().publish(**request)
        except ClientError as exc:
            raise self._refused(exc) from None
        except (BotoCoreError, ValueError) as exc:
            raise self._failed(exc) from None
        return Delivered(None)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _sns(self) -> Any:
        with self._lock:
            if self._client is None:
                session = boto3.session.Session()
                config = Config(retries={"mode": "standard", "total_max_attempts": 2},
                                connect_timeout=CONNECT_TIMEOUT, read_timeout=self._env.timeout)
                self._client = session.client("sns", region_name=self._config.region,
                                              endpoint_url=self._config.endpoint_url, config=config)
                self._redact = self._env.redact.extended(_secrets(session))
            return self._client

    def _refused(self, exc: ClientError) -> Retry | Permanent:
        """SNS answered with an error: throttling and its own failures pass, anything else is for good."""
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        meta = exc.response.get("ResponseMetadata", {})
        reason = self._reason(f"{code}: {error.get('Message', '')}")
        status = int(meta.get("HTTPStatusCode") or 0)
        if code in RETRY_CODES or status >= 500 or status == 429:
            return Retry(reason, _retry_after(meta.get("HTTPHeaders", {})))
        return Permanent(reason)

    def _failed(self, exc: Exception) -> Retry | Permanent:
        """No SNS answer: the network and missing credentials pass; a bad region or parameter does not."""
        reason = self._reason(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, NoCredentialsError):
            self.close()  # a client keeps the credentials it started with: the next send looks again
        return Retry(reason) if isinstance(exc, RETRY_FAILURES) else Permanent(reason)

    def _reason(self, text: str) -> str:
        return clip(_ACCESS_KEY_ID.sub(MASK, self._redact(" ".join(text.split()))), REASON_LIMIT)


def _secrets(session: Any) -> list[str | None]:
    """The credentials boto3 found, so that no reason can echo them; none yet is fine (sends retry)."""
    try:
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
    except BotoCoreError:
        return []
    return [frozen.access_key, frozen.secret_key, frozen.token] if frozen is not None else []


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        return max(0.0, float(headers["retry-after"]))
    except (KeyError, ValueError):
        return None
