"""A stand-in for PagerDuty's Events API v2 on 127.0.0.1: `POST /v2/enqueue`, checked as PagerDuty checks it.

It answers 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}` to a valid event and
400 `{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}` naming each bad
field otherwise; a payload over 512 KB gets 413. Alerts are kept per routing key and dedup_key as PagerDuty
keeps them: a trigger opens one (or adds to the open one), acknowledge and resolve act on an open one and
are dropped otherwise. Answers can be scripted (`then`): a 429, a 500, a body that echoes a secret.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.httpserver import reply

ROUTING_KEY = "R0demonTest0123456789abcdefABCDE"
PATH = "/v2/enqueue"
MAX_BYTES = 512_000
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
_KEY = re.compile(r"[A-Za-z0-9]*")


@dataclass
class Alert:
    """One PagerDuty alert: its status (`triggered`, `acknowledged`, `resolved`) and every event applied."""

    status: str = "triggered"
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Request:
    headers: dict[str, str]
    raw: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.raw)
        return found


def problems(event: Any, known_keys: set[str]) -> list[str]:
    """PagerDuty's errors for an event, in its words; empty when it takes it."""
    if not isinstance(event, dict):
        return ["Event object is invalid"]
    key, action, dedup = event.get("routing_key"), event.get("event_action"), event.get("dedup_key")
    found = []
    if not isinstance(key, str) or len(key) != 32:
        found.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        found.append("'routing_key' cannot contain non-alphanumeric characters.")
    elif len(key) == 32 and key not in known_keys:
        found.append("Invalid routing key")
    if action not in ACTIONS:
        found.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        found.append("'dedup_key' is too long (maximum is 255 characters)")
    if action in ("acknowledge", "resolve") and not dedup:
        found.append("'dedup_key' is missing or blank")
    return found + (_trigger_problems(event) if action == "trigger" else [])


def _trigger_problems(event: dict[str, Any]) -> list[str]:
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    found = [f"'payload.{name}' is missing or blank" for name in ("summary", "source")
             if not isinstance(payload.get(name), str) or not payload[name].strip()]
    if isinstance(payload.get("summary"), str) and len(payload["summary"]) > 1024:
        found.append("'payload.summary' is too long (maximum is 1024 characters)")
    if payload.get("severity") not in SEVERITIES:
        found.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        found.append("'payload.custom_details' must be an object")
    for link in event.get("links", []):
        if not isinstance(link, dict) or not isinstance(link.get("href"), str):
            found.append("'links' must be objects with an 'href'")
    return found


class FakePagerDuty(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, routing_key: str = ROUTING_KEY) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.known_keys = {routing_key}
        self.requests: list[Request] = []
        self.alerts: dict[tuple[str, str], list[Alert]] = {}  # (routing key, dedup_key): oldest first
        self.script: deque[tuple[int, dict[str, str], bytes]] = deque()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{PATH}"

    def then(self, status: int, body: Any = b"", **headers: str) -> None:
        """Answer the next request so (a dict as JSON), whatever it holds."""
        raw = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(
            body, str) else body
        self.script.append((status, {key.replace("_", "-"): value for key, value in headers.items()}, raw))

    def accepted(self) -> list[dict[str, Any]]:
        """The events answered 202, in arrival order."""
        with self.lock:
            return [request.event for request in self.requests if request.status == 202]

    def alert(self, dedup_key: str, routing_key: str = ROUTING_KEY) -> Alert:
        """The latest alert of this dedup_key."""
        with self.lock:
            return self.alerts[(routing_key, dedup_key)][-1]

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            scripted = self.script.popleft() if self.script else None
            status, answer_headers, body = scripted or self._judge(path, raw)
            self.requests.append(Request(headers, raw, status))
        return status, {"Content-Type": "application/json", **answer_headers}, body

    def _judge(self, path: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if path != PATH:
            return 404, {}, b'{"status": "not found"}'
        if len(raw) > MAX_BYTES:
            return 413, {}, b'{"status": "payload too large"}'
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        found = problems(event, self.known_keys)
        if found:
            invalid = {"status": "invalid event", "message": "Event object is invalid", "errors": found}
            return 400, {}, json.dumps(invalid).encode()
        self._apply(event)
        accepted = {"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key")}
        return 202, {}, json.dumps(accepted).encode()

    def _apply(self, event: dict[str, Any]) -> None:
        alerts = self.alerts.setdefault((event["routing_key"], event["dedup_key"]), [])
        open_alert = alerts[-1] if alerts and alerts[-1].status != "resolved" else None
        if event["event_action"] == "trigger" and open_alert is None:
            open_alert = Alert()
            alerts.append(open_alert)
        if open_alert is None:
            return  # acknowledge or resolve of no open alert: dropped
        open_alert.events.append(event)
        if event["event_action"] != "trigger":
            open_alert.status = {"acknowledge": "acknowledged", "resolve": "resolved"}[event["event_action"]]


class _Handler(BaseHTTPRequestHandler):
    server: FakePagerDuty

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        reply(self, *self.server.answer(self.path, dict(self.headers), raw))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests`."""
