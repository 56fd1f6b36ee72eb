"""Object stores: what a lake source needs from S3 or a local directory, and nothing more.

Listing (paginated, optionally by delimiter to find partition folders), one ranged read of an
object's tail (Parquet footers), and a streaming read (CSV/JSON-lines row counts). Every call is
counted, so results can say what a check cost (`requests: {list: n, get: n}`).
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO, Protocol

from monitor.core.failures import Reason

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class ObjectStoreError(Exception):
    """A store call failed; the message is one line naming the store and the cause, without secrets."""

    def __init__(self, message: str, reason: Reason = Reason.UNREACHABLE) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ObjectInfo:
    """One object: its key (relative to the store's root), size in bytes and last modification (aware UTC)."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Listing:
    """Objects directly under a prefix and, when listed with a delimiter, the sub-prefixes ("folders")."""

    objects: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    calls: int = 1  # requests it took (S3 answers 1000 keys a page)


class ObjectStore(Protocol):
    requests: Counter[str]  # "list" and "get" calls made so far (thread-safe increments)

    def listing(self, prefix: str, delimiter: str | None = None) -> Listing:
        """Every object under `prefix` (all pages); with `delimiter="/"`, only the next level."""
        ...

    def tail(self, key: str, length: int) -> tuple[bytes, int]:
        """The last `length` bytes of an object (fewer if it is smaller) in one request, and its size."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A streaming reader of the whole object (one request); the caller closes it."""
        ...

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """`length` bytes of an object from `start` (fewer at its end), in one request."""
        ...

    def describe(self) -> str:
        """Where the store points (`s3://bucket/prefix/`, `/data/lake/`), for messages."""
        ...


class RangedFile(io.RawIOBase):
    """An object as a seekable file, each read one ranged request: Parquet readers then fetch the footer
    and the column chunks they need, not the object (projection saves bytes, not only decoding)."""

    def __init__(self, store: ObjectStore, key: str, size: int) -> None:
        super().__init__()
        self._store, self._key, self._size, self._position = store, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._size - self._position)
        if wanted <= 0:
            return 0
        data = self._store.read_range(self._key, self._position, wanted)
        view[: len(data)] = data
        self._position += len(data)
        return len(data)
