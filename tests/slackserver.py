"""A stand-in for the parts of Slack demon uses, on 127.0.0.1: the Web API methods chat.postMessage,
chat.update and conversations.history, and an incoming webhook under /hooks/.

It behaves like Slack where demon depends on it: a bearer token is checked, messages are kept per channel
(a `#name` gets a `C…` id, answers carry that id and a `ts`), chat.update needs a channel id and an existing
ts, and Slack's message limits are enforced (`invalid_blocks`, `msg_blocks_too_long`, `no_text`) so an
oversized message fails here as it would there. Any `<!…>`, `<@…>` or `<#…>` received is recorded in
`violations`: demon never writes one itself, so each comes from unescaped data.

Answers can be scripted per route (`"chat.postMessage"`, `"chat.update"`, `"conversations.history"`,
`"hooks"`): `then(route, status, body, headers, delay)` answers the next request of that route so, after
`delay` seconds (longer than a client's timeout: a hang).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.httpserver import reply

TOKEN = "xoxb-1234-demon-test-token"
HOOK_PATH = "/hooks/T0001/B0001/s3cretWebhookPath"

MAX_BLOCKS = 50
SECTION_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
HEADER_CHARS = 150
MAX_ELEMENTS = 10
BLOCK_TEXT_CHARS = 12_000  # Slack answers msg_blocks_too_long from about here
MESSAGE_TEXT_CHARS = 40_000
_SPECIAL = re.compile(r"<[!@#][^>]{0,40}")

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Message:
    """One posted message as Slack keeps it; `edits` counts chat.update calls on it."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    edits: int = 0


@dataclass
class _Scripted:
    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0


def block_text_size(blocks: list[dict[str, Any]]) -> int:
    """Characters in all text objects of the blocks (what msg_blocks_too_long counts)."""
    return sum(len(str(obj.get("text", ""))) for block in blocks for obj in _text_objects(block))


def _text_objects(block: dict[str, Any]) -> list[dict[str, Any]]:
    found = [block["text"]] if isinstance(block.get("text"), dict) else []
    return found + list(block.get("fields") or []) + list(block.get("elements") or [])


def block_problems(blocks: Any) -> list[str]:
    """What Slack would reject as `invalid_blocks`, one line per problem; empty when the blocks are valid."""
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    problems = [f"no more than {MAX_BLOCKS} items allowed"] if len(blocks) > MAX_BLOCKS else []
    for index, block in enumerate(blocks):
        check = _CHECKS.get(str(block.get("type"))) if isinstance(block, dict) else None
        problems += [f"[{index}] {p}" for p in (check(block) if check else ["unsupported block type"])]
    return problems


def _text_problems(obj: Any, limit: int, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return [f"text object must be one of {kinds}"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return ["text must be at least 1 character"]
    problems = [f"text must be at most {limit} characters ({len(text)})"] if len(text) > limit else []
    if "verbatim" in obj and obj["type"] != "mrkdwn":
        problems.append("verbatim is only for mrkdwn")
    return problems


def _header(block: dict[str, Any]) -> list[str]:
    return _text_problems(block.get("text"), HEADER_CHARS, ("plain_text",))


def _section(block: dict[str, Any]) -> list[str]:
    fields = block.get("fields")
    if "text" not in block and not fields:
        return ["a section needs text or fields"]
    problems = _text_problems(block["text"], SECTION_CHARS) if "text" in block else []
    if fields is not None:
        problems += [f"fields must be 1 to {MAX_FIELDS} items"] if not 0 < len(fields) <= MAX_FIELDS else []
        problems += [p for obj in fields for p in _text_problems(obj, FIELD_CHARS)]
    return problems


def _context(block: dict[str, Any]) -> list[str]:
    elements = block.get("elements") or []
    problems = [] if 0 < len(elements) <= MAX_ELEMENTS else [f"elements must be 1 to {MAX_ELEMENTS} items"]
    return problems + [p for obj in elements for p in _text_problems(obj, FIELD_CHARS)]


_CHECKS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "header": _header, "section": _section, "context": _context, "divider": lambda block: [],
}


def message_error(text: Any, blocks: Any) -> dict[str, Any] | None:
    """Slack's `ok: false` answer for a message it would refuse, else None."""
    if not text and not blocks:
        return {"ok": False, "error": "no_text"}
    if isinstance(text, str) and len(text) > MESSAGE_TEXT_CHARS:
        return {"ok": False, "error": "msg_too_long"}
    if blocks is None:
        return None
    problems = block_problems(blocks)
    if problems:
        return {"ok": False, "error": "invalid_blocks", "errors": problems}
    if block_text_size(blocks) > BLOCK_TEXT_CHARS:
        return {"ok": False, "error": "msg_blocks_too_long"}
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


class FakeSlack(ThreadingHTTPServer):
    """The server; started by `start_slack()`, stopped by `stop()`."""

    daemon_threads = True

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.lock = threading.Lock()
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.channels: dict[str, str] = {}  # "#name" -> id
        self.messages: dict[str, list[Message]] = defaultdict(list)  # channel id -> messages, oldest first
        self.webhook_posts: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self._script: dict[str, deque[_Scripted]] = defaultdict(deque)
        self._ts = itertools.count(1)
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def webhook_url(self) -> str:
        return self.url + HOOK_PATH

    def then(self, route: str, status: int, body: Any, headers: dict[str, str] | None = None,
             delay: float = 0.0) -> None:
        """Answer the next request of `route` so (a dict body is sent as JSON, a str as text/html)."""
        kind = "text/html" if isinstance(body, str) else "application/json"
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self._script[route].append(_Scripted(status, {"Content-Type": kind, **(headers or {})}, raw, delay))

    def channel_id(self, name: str) -> str:
        with self.lock:
            return self.channels.setdefault(name, f"C{len(self.channels) + 1:04d}")

    def all_messages(self) -> list[Message]:
        with self.lock:
            return [message for messages in self.messages.values() for message in messages]

    def stop(self) -> None:
        self._stopping.set()
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up on a hang leaves a broken pipe: expected, so not printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def answer(self, route: str) -> Answer | None:
        """The scripted answer for this route after its delay, or None."""
        with self.lock:
            scripted = self._script[route].popleft() if self._script[route] else None
        if scripted is None:
            return None
        self._stopping.wait(scripted.delay)
        return scripted.status, scripted.headers, scripted.body

    def record(self, route: str, headers: dict[str, str], payload: Any) -> None:
        with self.lock:
            self.requests.append((route, headers, payload))
            shown = [payload.get("text"), payload.get("blocks")] if isinstance(payload, dict) else payload
            self.violations += [f"{route}: {hit}" for s in _strings(shown) for hit in _SPECIAL.findall(s)]

    def web_api(self, method: str, headers: dict[str, str], payload: dict[str, Any]) -> dict[str, Any]:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return {"ok": False, "error": "invalid_auth" if headers.get("Authorization") else "not_authed"}
        handler = _METHODS.get(method)
        return handler(self, payload) if handler else {"ok": False, "error": "unknown_method"}

    def _resolve(self, channel: Any) -> str | None:
        """A channel id from `#name` (created on first use, as if the bot were a member) or a known id."""
        if isinstance(channel, str) and channel.startswith("#") and len(channel) > 1:
            return self.channels.setdefault(channel, f"C{len(self.channels) + 1:04d}")
        return channel if channel in self.channels.values() else None

    def _find(self, channel: Any, ts: Any) -> Message | None:
        return next((m for m in self.messages[channel] if m.ts == ts), None)

    def post_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            channel = self._resolve(payload.get("channel"))
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            thread_ts = payload.get("thread_ts")
            if thread_ts is not None and self._find(channel, thread_ts) is None:
                return {"ok": False, "error": "thread_not_found"}
            error = message_error(payload.get("text"), payload.get("blocks"))
            if error:
                return error
            ts = f"1700000000.{next(self._ts):06d}"
            message = Message(channel, ts, payload.get("text") or "", payload.get("blocks") or [], thread_ts,
                              payload.get("metadata"))
            self.messages[channel].append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": message.text, "ts": ts}}

    def update(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            channel = payload.get("channel")
            if channel not in self.channels.values():  # chat.update wants the id, never "#name"
                return {"ok": False, "error": "channel_not_found"}
            message = self._find(channel, payload.get("ts"))
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            error = message_error(payload.get("text"), payload.get("blocks"))
            if error:
                return error
            message.text, message.blocks = payload.get("text") or "", payload.get("blocks") or []
            message.edits += 1
        return {"ok": True, "channel": channel, "ts": message.ts, "text": message.text}

    def history(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages newest first, with metadata when asked (as Slack: replies are not listed)."""
        with self.lock:
            channel = str(payload.get("channel"))
            if channel not in self.channels.values():
                return {"ok": False, "error": "channel_not_found"}
            oldest = float(payload.get("oldest") or 0)
            with_metadata = str(payload.get("include_all_metadata")).lower() in ("1", "true")
            found = [{"type": "message", "ts": m.ts, "text": m.text,
                      **({"metadata": m.metadata} if with_metadata and m.metadata else {})}
                     for m in reversed(self.messages[channel])
                     if m.thread_ts is None and float(m.ts) >= oldest]
        return {"ok": True, "messages": found, "has_more": False}

    def webhook(self, path: str, payload: Any) -> Answer:
        if path != HOOK_PATH:
            return 404, {"Content-Type": "text/html"}, b"no_service"
        if not isinstance(payload, dict):
            return 400, {"Content-Type": "text/html"}, b"invalid_payload"
        error = message_error(payload.get("text"), payload.get("blocks"))
        if error:
            return 400, {"Content-Type": "text/html"}, str(error["error"]).encode()
        with self.lock:
            self.webhook_posts.append(payload)
        return 200, {"Content-Type": "text/html"}, b"ok"


_METHODS = {
    "chat.postMessage": FakeSlack.post_message,
    "chat.update": FakeSlack.update,
    "conversations.history": FakeSlack.history,
}


def _route(path: str) -> str:
    return "hooks" if path.startswith("/hooks/") else path.rsplit("/", 1)[-1]


class _Handler(BaseHTTPRequestHandler):
    server: FakeSlack

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        payload = self._parse(raw)
        route, headers = _route(self.path), dict(self.headers)
        self.server.record(route, headers, payload)
        answer = self.server.answer(route)
        if answer is None and route == "hooks":
            answer = self.server.webhook(self.path, payload)
        if answer is None:
            body = self.server.web_api(route, headers, payload if isinstance(payload, dict) else {})
            answer = 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        reply(self, *answer)

    def _parse(self, raw: bytes) -> Any:
        kind = self.headers.get("Content-Type", "")
        try:
            if "json" in kind:
                return json.loads(raw)
            if "x-www-form-urlencoded" in kind:
                return {key: values[-1] for key, values in parse_qs(raw.decode()).items()}
        except ValueError:
            pass
        return raw.decode(errors="replace")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `requests` instead."""


def start_slack(token: str = TOKEN) -> FakeSlack:
    """A running server on 127.0.0.1, on a free port."""
    server = FakeSlack(token)
    threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-slack", daemon=True).start()
    return server
