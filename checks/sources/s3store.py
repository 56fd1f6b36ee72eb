"""The `s3` source's store: a bucket prefix on S3 or an S3-compatible endpoint, through boto3.

Credentials come only from boto3's standard chain (environment, profile, instance role), so
nothing secret ever passes through demon's config, results or messages. One client is shared by
every thread (botocore clients are thread-safe); its pool holds `max_pool` connections.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from datetime import UTC
from functools import partial
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import ConnectionError as Unreachable

from checks.sources.objects import Listing, ObjectInfo, ObjectStoreError
from monitor.core.failures import Reason

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
PAGE_SIZE = 1000

# S3 error code -> cause (`{bucket}` is filled in) and its reason.
_CODES: dict[str, tuple[str, Reason]] = {
    "NoSuchBucket": ("bucket {bucket} does not exist", Reason.MISSING),
    "NoSuchKey": ("object does not exist", Reason.MISSING),
    "AccessDenied": ("access denied", Reason.DENIED),
    "AllAccessDisabled": ("access denied", Reason.DENIED),
    "InvalidAccessKeyId": ("the AWS credentials were rejected", Reason.UNREACHABLE),
    "SignatureDoesNotMatch": ("the AWS credentials were rejected", Reason.UNREACHABLE),
    "InvalidToken": ("the AWS session token was rejected", Reason.UNREACHABLE),
    "ExpiredToken": ("the AWS session token has expired", Reason.UNREACHABLE),
}

# botocore failure without an S3 answer -> cause (`{endpoint}` is filled in) and reason. First match wins.
_FAILURES: tuple[tuple[type[BotoCoreError], str, Reason], ...] = (
    (Unreachable, "cannot reach the S3 endpoint {endpoint}", Reason.UNREACHABLE),
    (ReadTimeoutError, f"the S3 endpoint {{endpoint}} did not answer within {READ_TIMEOUT} s",
     Reason.TIMEOUT),
    (ResponseStreamingError, "the connection to the S3 endpoint {endpoint} broke while reading",
     Reason.UNREACHABLE),
    (IncompleteReadError, "the connection to the S3 endpoint {endpoint} broke while reading",
     Reason.UNREACHABLE),
    (NoCredentialsError, "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                         "AWS_PROFILE, or run with an instance role", Reason.UNREACHABLE),
)


class S3Store:
    """Keys are relative to `s3://bucket/prefix/`; every list page and every get is counted."""

    def __init__(self, bucket: str, prefix: str = "", region: str | None = None,
                 endpoint_url: str | None = None, max_pool: int = 16) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=CONNECT_TIMEOUT,
                        read_timeout=READ_TIMEOUT, max_pool_connections=max_pool)
        try:
            self._client: Any = boto3.session.Session().client(
                "s3", region_name=region, endpoint_url=endpoint_url, config=config)
        except (BotoCoreError, ValueError) as exc:  # an unknown AWS_PROFILE, an endpoint without a scheme
            raise ObjectStoreError(f"{self.describe()}: cannot set up the S3 client: {exc}") from None

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _count(self, kind: str) -> None:
        with self._lock:
            self.requests[kind] += 1

    def listing(self, prefix: str, delimiter: str | None = None) -> Listing:
        """One "list" per page of 1000; keys ending in `/` are console "folder" markers, not data: skipped."""
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix,
                                     "PaginationConfig": {"PageSize": PAGE_SIZE}}
        if delimiter is not None:
            arguments["Delimiter"] = delimiter
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        pages = 0
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(**arguments):
                self._count("list")
                pages += 1
                objects.extend(self._info(item) for item in page.get("Contents", ())
                               if not item["Key"].endswith("/"))
                prefixes.extend(self._relative(item["Prefix"]) for item in page.get("CommonPrefixes", ()))
        except (ClientError, BotoCoreError) as exc:
            self._count("list")
            raise self._error(exc, self.describe()) from None
        return Listing(sorted(objects, key=lambda info: info.key), sorted(prefixes), calls=pages)

    def _relative(self, key: str) -> str:
        return key[len(self.prefix):]

    def _info(self, item: dict[str, Any]) -> ObjectInfo:
        return ObjectInfo(key=self._relative(item["Key"]), size=int(item["Size"]),
                          modified=item["LastModified"].astimezone(UTC))

    def tail(self, key: str, length: int) -> tuple[bytes, int]:
        """One ranged GET; the size is the total in Content-Range, or the whole body when S3 sent it all."""
        if length < 1:
            raise ValueError(f"tail length must be at least 1, not {length}")
        response = self._get(key, Range=f"bytes=-{length}")
        # closing(), not `with`: StreamingBody.__enter__ hands out the raw urllib3 stream, whose errors
        # (a connection broken mid-read) would bypass the translation to ObjectStoreError.
        with closing(response["Body"]) as body:
            data = self._read(body, key)
        content_range = response.get("ContentRange")
        size = int(content_range.rpartition("/")[2]) if content_range else len(data)
        return data[-length:], size

    def read_range(self, key: str, start: int, length: int) -> bytes:
        response = self._get(key, Range=f"bytes={start}-{start + max(length, 1) - 1}")
        with closing(response["Body"]) as body:  # see `tail` on closing()
            return self._read(body, key)

    def open(self, key: str) -> BinaryIO:
        response = self._get(key)
        body = response["Body"]
        return io.BufferedReader(_Body(body, partial(self._read, body, key)), buffer_size=1 << 16)

    def _get(self, key: str, **arguments: str) -> dict[str, Any]:
        self._count("get")
        try:
            response: dict[str, Any] = self._client.get_object(
                Bucket=self.bucket, Key=self.prefix + key, **arguments)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, self._url(key)) from None
        return response

    def _read(self, body: Any, key: str, size: int = -1) -> bytes:
        try:
            data: bytes = body.read() if size < 0 else body.read(size)
        except BotoCoreError as exc:
            raise self._error(exc, self._url(key)) from None
        return data

    def _url(self, key: str) -> str:
        return f"{self.describe()}{key}"

    def _error(self, exc: ClientError | BotoCoreError, where: str) -> ObjectStoreError:
        """One line naming where and why; built from error codes and fixed text, never from credentials."""
        cause, reason = self._cause(exc)
        return ObjectStoreError(f"{where}: {cause}", reason)

    def _cause(self, exc: ClientError | BotoCoreError) -> tuple[str, Reason]:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "unknown")
            message = str(error.get("Message") or "request failed")
            cause, reason = _CODES.get(code, (message, Reason.STATEMENT))
            return f"{cause.format(bucket=self.bucket).splitlines()[0]} ({code})", reason
        endpoint = self._client.meta.endpoint_url
        for kind, cause, reason in _FAILURES:
            if isinstance(exc, kind):
                return cause.format(endpoint=endpoint), reason
        return str(exc).splitlines()[0], Reason.UNREACHABLE


class _Body(io.RawIOBase):
    """A GET's streaming body as a raw stream; failures mid-read (endpoint down) become ObjectStoreErrors."""

    def __init__(self, body: Any, read: Callable[[int], bytes]) -> None:
        super().__init__()
        self._body = body
        self._read = read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read(len(view))
        view[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
