"""The console and webhook channels: the webhook against a real stdlib HTTP server on 127.0.0.1 that answers
as scripted (statuses, Retry-After, a hang), the console on stderr and in the log."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO, cast

import pytest

from alerting.channels import ChannelEnv, open_channel
from alerting.channels.console import ConsoleChannel
from alerting.channels.http import retry_after
from alerting.channels.settings import ConsoleChannelConfig, WebhookChannelConfig
from alerting.channels.webhook import WebhookChannel
from alerting.model import Context, Delivered, EventKind, Notification, Permanent, Retry
from alerting.render.text import render_text
from monitor.core.redact import Redactor
from tests.httpserver import reply, serving

HANG = -1  # a scripted status: the server never answers (until the test ends)
TOKEN = "Bearer hdr-secret-value-123"


class Hook(ThreadingHTTPServer):
    """A webhook receiver: records every request, answers from a script, else 200."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.script: deque[tuple[int, dict[str, str], bytes]] = deque()
        self.released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def then(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.script.append((status, {key.replace("_", "-"): value for key, value in headers.items()}, body))


class _Handler(BaseHTTPRequestHandler):
    server: Hook

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def do_GET(self) -> None:
        self._answer(b"")

    def _answer(self, raw: bytes) -> None:
        self.server.requests.append((self.command, self.path, dict(self.headers), raw))
        status, headers, body = self.server.script.popleft() if self.server.script else (200, {}, b"ok")
        if status == HANG:
            self.server.released.wait(60)
            return
        reply(self, status, headers, body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def hook() -> Iterator[Hook]:
    with serving(Hook()) as server:
        yield server
        server.released.set()


def env(tmp_path: Path, timeout: float = 30.0, console: TextIO | None = None) -> ChannelEnv:
    return ChannelEnv(tmp_path, Redactor(["env-secret-value"]), console=console, timeout=timeout)


def notification(event: EventKind = EventKind.OPENED, **context: Any) -> Notification:
    return Notification(
        key="42:opened:hook", channel="hook", incident=42, incident_key="orders.quality", event=event,
        outcome="pass" if event == EventKind.RESOLVED else "fail", severity="critical",
        title="orders.quality failed", opened_at="2026-03-01T12:00:00Z", at="2026-03-01T12:05:00Z",
        context=cast(Context, {
            "check": "orders.quality", "dataset": "orders", "message": "2 rules failing", "value": 3.0,
            "failing_rules": [{"rule": "isin", "column": "status", "failing_rows": 3, "failing_pct": 0.3,
                               "sample": [{"id": 1, "status": "<!channel> & ```"}]}],
            **context,
        }),
    )


def webhook(
    url: str, tmp_path: Path, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> WebhookChannel:
    config = WebhookChannelConfig(kind="webhook", url=url, headers=headers or {})
    channel = open_channel("hook", config, env(tmp_path, timeout))
    assert isinstance(channel, WebhookChannel)
    return channel


# --- webhook: delivery ----------------------------------------------------------------------------


def test_webhook_posts_the_notification_with_its_headers(hook: Hook, tmp_path: Path) -> None:
    sent = notification()
    headers = {"Authorization": TOKEN, "X-Team": "data"}
    channel = webhook(f"{hook.url}/hooks/incidents?team=data", tmp_path, headers)
    assert channel.send(sent, None) == Delivered(None)
    ((method, path, received, raw),) = hook.requests
    assert (method, path) == ("POST", "/hooks/incidents?team=data")
    assert received["Content-Type"] == "application/json"
    assert received["Idempotency-Key"] == "42:opened:hook"
    assert received["User-Agent"].startswith("demon/") and received["Authorization"] == TOKEN
    assert received["X-Team"] == "data"
    body = json.loads(raw)
    assert body == {"notification": json.loads(json.dumps(sent.to_dict())), "text": render_text(sent)}
    assert Notification.from_dict(body["notification"]) == sent
    channel.close()


def test_webhook_configured_headers_cannot_replace_the_content_type(hook: Hook, tmp_path: Path) -> None:
    mine = {"content-type": "text/plain", "user-agent": "mine"}
    webhook(hook.url, tmp_path, mine).send(notification(), None)
    ((_, _, headers, _),) = hook.requests
    assert headers["Content-Type"] == "application/json" and headers["User-Agent"] == "mine"


def test_webhook_url_credentials_become_basic_auth(hook: Hook, tmp_path: Path) -> None:
    url = hook.url.replace("http://", "http://svc:p%40ss-w0rd@") + "/in"
    assert webhook(url, tmp_path).send(notification(), None) == Delivered(None)
    ((_, path, headers, _),) = hook.requests
    assert path == "/in"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"svc:p@ss-w0rd").decode()


def test_webhook_each_event_has_its_own_idempotency_key(hook: Hook, tmp_path: Path) -> None:
    channel = webhook(hook.url, tmp_path)
    channel.send(notification(), None)
    resolved = notification(EventKind.RESOLVED)
    channel.send(Notification.from_dict({**resolved.to_dict(), "key": "42:resolved:hook"}), None)
    assert [headers["Idempotency-Key"] for _, _, headers, _ in hook.requests] == [
        "42:opened:hook", "42:resolved:hook",
    ]


# --- webhook: refusals and failures -------------------------------------------------------------


@pytest.mark.parametrize(("status", "header", "after"), [
    (429, "7", 7.0), (429, "1.5", 1.5), (503, "2", 2.0), (429, "soon", None), (429, "-5", 0.0),
    (500, None, None), (502, None, None), (408, None, None), (425, None, None),
])
def test_webhook_retries_later_what_the_receiver_may_take_later(
    hook: Hook, tmp_path: Path, status: int, header: str | None, after: float | None
) -> None:
    hook.then(status, b'{"error": "busy"}', **({"Retry_After": header} if header else {}))
    with pytest.raises(Retry) as raised:
        webhook(hook.url, tmp_path).send(notification(), None)
    assert raised.value.after == after
    assert f"HTTP {status}" in raised.value.reason and "busy" in raised.value.reason


def test_webhook_retry_after_as_an_http_date(hook: Hook, tmp_path: Path) -> None:
    hook.then(429, Retry_After=format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True))
    with pytest.raises(Retry) as raised:
        webhook(hook.url, tmp_path).send(notification(), None)
    assert raised.value.after is not None and 30 < raised.value.after <= 90


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_webhook_refusals_are_permanent(hook: Hook, tmp_path: Path, status: int) -> None:
    hook.then(status, b"no such hook\n\n" + b"x" * 5000)
    with pytest.raises(Permanent) as raised:
        webhook(hook.url, tmp_path).send(notification(), None)
    assert raised.value.reason.startswith(f"webhook {hook.url}: HTTP {status} ")
    assert "no such hook" in raised.value.reason and "\n" not in raised.value.reason
    assert len(raised.value.reason) < 400


def test_webhook_a_redirect_is_not_followed(hook: Hook, tmp_path: Path) -> None:
    """Following it would turn the POST into a GET without the notification and call that delivered."""
    hook.then(302, Location=f"{hook.url}/elsewhere")
    with pytest.raises(Permanent, match="HTTP 302"):
        webhook(hook.url, tmp_path).send(notification(), None)
    assert [(method, path) for method, path, _, _ in hook.requests] == [("POST", "/")]


def test_webhook_connection_refused_is_retried(tmp_path: Path) -> None:
    with socket.socket() as closed:  # bound, never listening: refused, and no other process can take it
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with pytest.raises(Retry) as raised:
            webhook(f"http://127.0.0.1:{port}/hook", tmp_path).send(notification(), None)
    assert "refused" in raised.value.reason.lower() and raised.value.after is None


def test_webhook_a_hanging_receiver_is_given_up_after_the_timeout(hook: Hook, tmp_path: Path) -> None:
    hook.then(HANG)
    start = time.monotonic()
    with pytest.raises(Retry, match="timed out"):
        webhook(hook.url, tmp_path, timeout=0.5).send(notification(), None)
    assert time.monotonic() - start < 30  # the server would hold it for 60 s
    assert len(hook.requests) == 1


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "127.0.0.1:8080/x", "http://",
                                 "http://[::1/x", "http://127.0.0.1:port/x", "http://127.0.0.1:0/x"])
def test_webhook_unusable_urls_are_permanent(tmp_path: Path, url: str) -> None:
    with pytest.raises(Permanent, match="expected an http:// or https:// URL"):
        webhook(url, tmp_path).send(notification(), None)


def test_webhook_a_header_value_with_a_line_break_is_permanent_and_not_shown(
    hook: Hook, tmp_path: Path
) -> None:
    with pytest.raises(Permanent) as raised:
        webhook(hook.url, tmp_path, {"X-Token": "tok-secret\r\nX-Injected: 1"}).send(notification(), None)
    assert "tok-secret" not in raised.value.reason and not hook.requests


def test_webhook_a_context_that_is_not_json_is_permanent(hook: Hook, tmp_path: Path) -> None:
    with pytest.raises(Permanent, match="not JSON"):
        webhook(hook.url, tmp_path).send(notification(value=float("nan")), None)
    assert not hook.requests


def test_webhook_reasons_never_show_secrets(hook: Hook, tmp_path: Path) -> None:
    """The receiver echoes everything it got: the reason still shows no header, password, path or query."""
    url = hook.url.replace("http://", "http://svc:url-pass-word@") + "/hooks/T0KEN-IN-PATH?sig=query-secret"
    channel = webhook(url, tmp_path, {"Authorization": TOKEN, "X-Api-Key": "key-secret-456"})
    basic = "Basic " + base64.b64encode(b"svc:url-pass-word").decode()
    secrets = ("hdr-secret-value-123", "key-secret-456", "url-pass-word", "T0KEN-IN-PATH", "query-secret",
               basic, "env-secret-value")
    for status in (401, 500):
        hook.then(status, f"bad {TOKEN} key-secret-456 {basic} at {url} env-secret-value".encode())
        with pytest.raises((Retry, Permanent)) as raised:
            channel.send(notification(), None)
        reason = str(raised.value)
        assert f"webhook {hook.url}: HTTP {status}" in reason and "bad" in reason
        assert not [secret for secret in secrets if secret in reason], reason
    assert all(headers["Authorization"] == TOKEN for _, _, headers, _ in hook.requests)


def test_webhook_a_secret_where_the_reason_is_cut_is_not_half_shown(hook: Hook, tmp_path: Path) -> None:
    hook.then(400, b"a" * 170 + b"\n\n key-secret-456 and more, more, more")  # cut inside it if not masked
    with pytest.raises(Permanent) as raised:
        webhook(hook.url, tmp_path, {"X-Api-Key": "key-secret-456"}).send(notification(), None)
    assert "key-" not in raised.value.reason and raised.value.reason.endswith("a *** and more, more, more")


def test_retry_after_without_headers() -> None:
    assert retry_after(None) is None


# --- console ------------------------------------------------------------------------------------


def console(tmp_path: Path, where: TextIO | None) -> ConsoleChannel:
    channel = open_channel("terminal", ConsoleChannelConfig(kind="console"), env(tmp_path, console=where))
    assert isinstance(channel, ConsoleChannel)
    return channel


def test_console_writes_the_text_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sent = notification(description="the orders env-secret-value")
    assert console(tmp_path, sys.stderr).send(sent, None) == Delivered(None)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == render_text(sent).replace("env-secret-value", "***") + "\n"
    assert "[critical] orders.quality failed (opened)" in captured.err


@pytest.mark.parametrize(("event", "level"), [
    (EventKind.OPENED, logging.WARNING), (EventKind.CHANGED, logging.WARNING),
    (EventKind.REPEATED, logging.WARNING), (EventKind.RESOLVED, logging.INFO),
])
def test_console_logs_in_the_daemon(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
    event: EventKind, level: int,
) -> None:
    caplog.set_level(logging.INFO, logger="alerting.console")
    sent = notification(event)
    console(tmp_path, None).send(sent, None)
    (record,) = [record for record in caplog.records if record.name == "alerting.console"]
    assert record.levelno == level and record.getMessage() == render_text(sent)
    assert (record.incident, record.incident_key, record.outcome) == (42, "orders.quality", sent.outcome)  # type: ignore[attr-defined]
    assert capsys.readouterr().err == ""


def test_console_a_closed_stderr_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """stderr is a pipe whose reader went away."""
    reader, writer = os.pipe()
    os.close(reader)
    with os.fdopen(writer, "w") as closed:
        monkeypatch.setattr("sys.stderr", closed)
        with pytest.raises(Retry, match="cannot write to the console: Broken pipe"):
            console(tmp_path, sys.stderr).send(notification(), None)
        monkeypatch.undo()
        with contextlib.suppress(BrokenPipeError):  # what is still buffered fails again on close
            closed.close()
