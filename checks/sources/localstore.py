"""The `files` source's store: a local directory, with the same semantics as an S3 prefix."""

from __future__ import annotations

import errno
import os
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from checks.sources.objects import Listing, ObjectInfo, ObjectStoreError
from monitor.core.failures import Reason


class LocalStore:
    """Keys are `/`-separated paths relative to `root`; a "list" is one directory walk, a "get" one open."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"{self.root}/"

    def _count(self, kind: str) -> None:
        with self._lock:
            self.requests[kind] += 1

    def listing(self, prefix: str, delimiter: str | None = None) -> Listing:
        self._count("list")
        if not self.root.is_dir():
            raise ObjectStoreError(f"directory {self.root} does not exist", Reason.UNREACHABLE)  # unmounted?
        folder, _, start = prefix.rpartition("/")
        base = self.root / folder if folder else self.root
        if not base.is_dir() or self._through_link(folder):
            return Listing()
        try:
            if delimiter is None:
                return Listing(objects=sorted(self._walk(base, prefix), key=lambda info: info.key))
            return self._level(base, folder, start)
        except OSError as exc:
            raise ObjectStoreError(f"cannot list {base}: {exc.strerror or exc}", _reason(exc)) from None

    def _through_link(self, folder: str) -> bool:
        """Whether `folder` passes through a symbolic link: followed, it could lead out of the root."""
        path = self.root
        for part in folder.split("/") if folder else ():
            path /= part
            if path.is_symlink():
                return True
        return False

    def _walk(self, base: Path, prefix: str) -> list[ObjectInfo]:
        found = []
        for directory, _, files in os.walk(base):
            for name in files:
                path = Path(directory) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and not path.is_symlink():  # links are not followed, as os.walk's
                    found.append(self._info(path, key))
        return found

    def _level(self, base: Path, folder: str, start: str) -> Listing:
        objects, prefixes = [], []
        for entry in sorted(os.scandir(base), key=lambda entry: entry.name):
            if not entry.name.startswith(start) or entry.is_symlink():  # not followed, as in `_walk`
                continue
            key = f"{folder}/{entry.name}" if folder else entry.name
            if entry.is_dir():
                prefixes.append(f"{key}/")
            else:
                objects.append(self._info(Path(entry.path), key))
        return Listing(objects=objects, prefixes=prefixes)

    @staticmethod
    def _info(path: Path, key: str) -> ObjectInfo:
        stat = path.stat()
        return ObjectInfo(key=key, size=stat.st_size, modified=datetime.fromtimestamp(stat.st_mtime, UTC))

    def read_range(self, key: str, start: int, length: int) -> bytes:
        with self.open(key) as handle:
            handle.seek(start)
            return handle.read(length)

    def tail(self, key: str, length: int) -> tuple[bytes, int]:
        with self.open(key) as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - length))
            return handle.read(), size

    def open(self, key: str) -> BinaryIO:
        self._count("get")
        try:
            return (self.root / key).open("rb")
        except OSError as exc:
            unread = f"cannot read {self.root / key}: {exc.strerror or exc}"
            raise ObjectStoreError(unread, _reason(exc)) from None


def _reason(error: OSError) -> Reason:
    """A file that went away is missing; one the process may not read is denied; the rest, the disk's."""
    return {errno.ENOENT: Reason.MISSING, errno.EACCES: Reason.DENIED, errno.EPERM: Reason.DENIED}.get(
        error.errno or 0, Reason.UNREACHABLE)
