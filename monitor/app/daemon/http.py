"""The daemon's HTTP endpoint on `metrics.listen`: /metrics, /healthz, /readyz and the web UI (/, when
`ui.enabled`; monitor/app/ui/server.py), over https if configured.

A threaded WSGI server from the standard library. /metrics is the text exposition, gzipped when the scraper
accepts it; the two probes answer JSON saying why they fail, for whoever is looking at a 503. With TLS, each
connection's handshake happens in its own thread, so a client that stalls it holds up no one else.
"""

from __future__ import annotations

import gzip
import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from monitor.core.config.models import MetricsConfig

log = logging.getLogger("monitor.daemon.http")  # logger names are part of the log format

Probe = Callable[[], tuple[bool, dict[str, Any]]]  # (healthy, JSON body)
REQUEST_TIMEOUT = 30.0  # seconds a client may take over a handshake, its request or reading the answer


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a hanging scraper never holds up shutdown
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(REQUEST_TIMEOUT)
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:  # a plain-http client, a bad certificate, a timeout
            log.debug("tls handshake with %s failed: %s", client_address[0], exc)
            return
        with wrapped:
            super().finish_request(wrapped, client_address)


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)


def parse_listen(listen: str) -> tuple[str, int]:
    """`127.0.0.1:9108` -> ("127.0.0.1", 9108); an empty host listens on every interface."""
    host, _, port = listen.rpartition(":")
    return host or "0.0.0.0", int(port)


def endpoint_tls(metrics: MetricsConfig, base_dir: Path) -> ssl.SSLContext | None:
    """The context `metrics.tls` asks for (None: plain http); ValueError names the file that fails and why."""
    if metrics.tls is None:
        return None
    files = {"cert_file": base_dir / metrics.tls.cert_file, "key_file": base_dir / metrics.tls.key_file}
    for field, path in files.items():
        if not path.is_file():  # ssl's own error would not say which file
            raise ValueError(f"metrics.tls.{field}: no such file: {path}")
    return tls_context(files["cert_file"], files["key_file"])


def tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server context for the certificate chain and key; ValueError says why they do not load."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:  # a passphrase callback: without one, OpenSSL would ask for an encrypted key's on the terminal
        context.load_cert_chain(cert_file, key_file, password=_no_passphrase)
    except _EncryptedKey:
        raise ValueError(f"metrics.tls.key_file: {key_file} is encrypted; demon needs it in clear") from None
    except (OSError, ssl.SSLError) as exc:
        why = f"cannot load the certificate {cert_file} with the key {key_file}: {exc}"
        raise ValueError(f"metrics.tls: {why}") from None
    return context


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> str:
    raise _EncryptedKey


def probe_app(probe: Probe) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            healthy, body = probe()
        except Exception as exc:  # a probe that breaks is an unhealthy answer, never a raw traceback
            log.exception("probe %s failed", environ.get("PATH_INFO"))
            healthy, body = False, {"status": "unhealthy", "error": type(exc).__name__}
        status = "200 OK" if healthy else "503 Service Unavailable"
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    return app


def exposition_app(exposition: Callable[[], bytes], content_type: str) -> WSGIApplication:
    """Serves a fresh exposition per request; gzip at level 1, as fast as it gets for a 10 MB text."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        payload = exposition()
        headers = [("Content-Type", content_type)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):  # as prometheus-client decides it
            payload = gzip.compress(payload, compresslevel=1)
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Vary", "Accept-Encoding"))
        start_response("200 OK", [*headers, ("Content-Length", str(len(payload)))])
        return [payload]

    return app


def routes_app(routes: dict[str, WSGIApplication]) -> WSGIApplication:
    """Exact paths first; the route of "/", when there is one (the web UI), answers every other path."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        found = routes.get(environ.get("PATH_INFO", "")) or routes.get("/")
        if found is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics, /healthz or /readyz\n"]
        return found(environ, start_response)

    return app


class Endpoint:
    """Serves `routes` on `listen` from a background thread; binding errors surface in the constructor.

    `routes` is read on each request, so it may be filled after the port is bound.
    """

    def __init__(
        self, listen: str, routes: dict[str, WSGIApplication], tls: ssl.SSLContext | None = None
    ) -> None:
        host, port = parse_listen(listen)
        self._server = make_server(host, port, routes_app(routes), _Server, _Handler)
        self._server.tls = tls
        self.scheme = "http" if tls is None else "https"
        self._thread = threading.Thread(target=self._server.serve_forever, name="demon-http", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() would wait forever for a loop that never started
            self._server.shutdown()
        self._server.server_close()
