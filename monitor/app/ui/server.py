"""The web UI of `demon run`: read-only pages at / of `metrics.listen`, behind `ui.auth` when set.

Pages come from one snapshot of the state store and the daemon's live status (latest results, incidents:
no histories), read again when older than SNAPSHOT_SECONDS by one request while the others are answered
from the previous one; a dataset's page reads its own checks' histories. A browser left open, or many, never
turns into a load on the store or on the scrape path. The locks here are the UI's own: /metrics never waits
for them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.app.ui.model import DatasetView, Snapshot
from monitor.app.ui.render import SERVER_CSP, STATIC, render_page, static_file

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

SNAPSHOT_SECONDS = 5.0
HEADERS = [
    ("Content-Security-Policy", SERVER_CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
]


@dataclass(frozen=True)
class Credentials:
    """`ui.auth`: `user:password` is HTTP basic auth, anything else a bearer token."""

    secret: str

    def accepts(self, header: str) -> bool:
        """Whether an Authorization header carries the secret; compared in constant time."""
        scheme, _, value = header.strip().partition(" ")
        if ":" in self.secret:
            if scheme.lower() != "basic":
                return False
            try:
                given = base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(given, self.secret.encode())
        token = value.strip().encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(token, self.secret.encode())

    @property
    def challenge(self) -> str:
        return 'Basic realm="demon", charset="UTF-8"' if ":" in self.secret else 'Bearer realm="demon"'


class Snapshots:
    """The latest snapshot and its rendered pages; read again when older than `max_age` seconds by one
    thread, while the others answer from the one before (only the very first read is waited for)."""

    def __init__(self, read: Callable[[], Snapshot], max_age: float = SNAPSHOT_SECONDS) -> None:
        self._read = read
        self._max_age = max_age
        self._reading = threading.Lock()  # one read of the store at a time
        self._lock = threading.Lock()  # guards the two fields below, never held while reading or rendering
        self._latest: tuple[float, Snapshot, dict[str, bytes]] | None = None

    def page(self, key: str, render: Callable[[Snapshot], str]) -> bytes:
        """A page of the current snapshot, rendered once per snapshot."""
        _, snapshot, pages = self._current()
        with self._lock:
            found = pages.get(key)
        if found is None:
            found = render(snapshot).encode()
            with self._lock:
                pages[key] = found
        return found

    def _current(self) -> tuple[float, Snapshot, dict[str, bytes]]:
        with self._lock:
            latest = self._latest
        fresh = latest is not None and time.monotonic() - latest[0] <= self._max_age
        if latest is not None and (fresh or not self._reading.acquire(blocking=False)):
            return latest  # fresh, or another request is reading the next one
        if latest is None:
            self._reading.acquire()
        try:
            with self._lock:  # another request may have read it while this one waited for the lock
                if self._latest is not None and time.monotonic() - self._latest[0] <= self._max_age:
                    return self._latest
            latest = (time.monotonic(), self._read(), {})
            with self._lock:
                self._latest = latest
            return latest
        finally:
            self._reading.release()


def ui_app(read: Callable[[], Snapshot], history: Callable[[Snapshot, str], DatasetView],
           credentials: Credentials | None) -> WSGIApplication:
    """The UI's pages and static files; every answer carries the strict CSP. `read` takes a snapshot,
    `history` one of its datasets with its checks' histories."""
    snapshots = Snapshots(read)
    statics = {f"/static/{name}": (static_file(name), kind) for name, kind in STATIC.items()}

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if credentials is not None and not credentials.accepts(environ.get("HTTP_AUTHORIZATION", "")):
            return _answer(start_response, "401 Unauthorized", b"authentication required\n",
                           "text/plain; charset=utf-8", [("WWW-Authenticate", credentials.challenge)])
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", b"the web UI is read-only\n",
                           "text/plain; charset=utf-8", [("Allow", "GET, HEAD")])
        # WSGI hands the path over as latin-1 text of the raw bytes: a dataset's name may be UTF-8.
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
        if path in statics:
            body, kind = statics[path]
            return _answer(start_response, "200 OK", body, kind, [("Cache-Control", "max-age=3600")])
        page = _page(path, history)
        if page is None:
            return _answer(start_response, "404 Not Found", b"not found\n", "text/plain; charset=utf-8")
        try:
            body = snapshots.page(path, page)
        except _NoSuchDataset:
            return _answer(start_response, "404 Not Found", b"no such dataset\n", "text/plain; charset=utf-8")
        return _answer(start_response, "200 OK", body, "text/html; charset=utf-8")

    return app


class _NoSuchDataset(Exception):
    pass


def _page(path: str, history: Callable[[Snapshot, str], DatasetView]) -> Callable[[Snapshot], str] | None:
    if path in ("/", ""):
        return lambda snapshot: render_page(snapshot, "overview")
    if path in ("/incidents", "/lineage"):
        return lambda snapshot: render_page(snapshot, path[1:])
    if path.startswith("/datasets/"):
        name = path.removeprefix("/datasets/")  # wsgiref has percent-decoded it

        def dataset(snapshot: Snapshot) -> str:
            if name not in snapshot.inputs.config.datasets:
                raise _NoSuchDataset(name)
            return render_page(snapshot, "dataset", history(snapshot, name))

        return dataset
    return None


def _answer(start_response: StartResponse, status: str, body: bytes, kind: str,
            extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    headers = [*HEADERS, *(extra or [])]
    if extra and any(name == "Cache-Control" for name, _ in extra):
        headers = [header for header in headers if header != ("Cache-Control", "no-store")]
    start_response(status, [*headers, ("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]
