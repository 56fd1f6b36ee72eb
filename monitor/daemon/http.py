"""The daemon's HTTP endpoint on `metrics.listen`: /metrics, /healthz and /readyz.

A threaded WSGI server from the standard library: prometheus-client's WSGI app serves /metrics (content
negotiation, gzip), and the two probes answer JSON saying why they fail, for whoever is looking at a 503.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

Probe = Callable[[], tuple[bool, dict[str, Any]]]  # (healthy, JSON body)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a hanging scraper never holds up shutdown


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)


def parse_listen(listen: str) -> tuple[str, int]:
    """`127.0.0.1:9108` -> ("127.0.0.1", 9108); an empty host listens on every interface."""
    host, _, port = listen.rpartition(":")
    return host or "0.0.0.0", int(port)


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


def routes_app(routes: dict[str, WSGIApplication]) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        found = routes.get(environ.get("PATH_INFO", ""))
        if found is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics, /healthz or /readyz\n"]
        return found(environ, start_response)

    return app


class Endpoint:
    """Serves `routes` on `listen` from a background thread; binding errors surface in the constructor.

    `routes` is read on each request, so it may be filled after the port is bound.
    """

    def __init__(self, listen: str, routes: dict[str, WSGIApplication]) -> None:
        host, port = parse_listen(listen)
        self._server = make_server(host, port, routes_app(routes), _Server, _Handler)
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
