"""A stand-in for a Microsoft Teams incoming webhook on 127.0.0.1, refusing what Teams refuses.

A message must be `{"type": "message", "attachments": [one Adaptive Card]}` with a body of known elements and
`Action.OpenUrl` actions on http(s) URLs (else 400 "Bad payload received by generic incoming webhook."), at
most 28 KB of JSON (else 413), posted to the webhook's own path (else 404). It answers 200 `1`, as Office
365 connector webhooks do. Elements that read Markdown in Teams (TextBlock, FactSet) are kept in `markdown`:
demon never sends one, so data cannot turn into a link. Answers can be scripted (`then`).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.httpserver import reply

HOOK_PATH = "/webhookb2/t-0@t-0/IncomingWebhook/s3cretTeamsPath/u-0"
MAX_BYTES = 28_000
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
BAD_PAYLOAD = b"Bad payload received by generic incoming webhook."
ELEMENTS = frozenset({"RichTextBlock", "TextBlock", "FactSet", "Container", "ColumnSet", "ActionSet"})
MARKDOWN = frozenset({"TextBlock", "FactSet"})
VERSIONS = ("1.2", "1.3", "1.4", "1.5")  # RichTextBlock is 1.2; Teams renders up to 1.5


def elements(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [element for element in card.get("body", []) if isinstance(element, dict)]


def card_problems(message: Any) -> list[str]:
    """Why Teams would refuse this message; empty when it takes it."""
    if not isinstance(message, dict) or message.get("type") != "message":
        return ["not a message"]
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return ["one attachment expected"]
    [attachment] = attachments
    card = attachment.get("content") if isinstance(attachment, dict) else None
    if attachment.get("contentType") != CARD_TYPE or not isinstance(card, dict):
        return ["not an Adaptive Card"]
    problems = [] if card.get("type") == "AdaptiveCard" and card.get("version") in VERSIONS else ["card"]
    for element in elements(card):
        if element.get("type") not in ELEMENTS:
            problems.append(f"unknown element {element.get('type')}")
        for run in element.get("inlines", []):
            if run.get("type") != "TextRun" or not isinstance(run.get("text"), str) or not run["text"]:
                problems.append("a TextRun needs text")
    for action in card.get("actions", []):
        url = action.get("url")
        if action.get("type") != "Action.OpenUrl" or not str(url).startswith(("https://", "http://")):
            problems.append(f"action {action}")
    return problems


class FakeTeams(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[tuple[int, bytes]] = []  # (status answered, body)
        self.cards: list[dict[str, Any]] = []  # the cards taken, in arrival order
        self.markdown: list[dict[str, Any]] = []
        self.script: deque[tuple[int, dict[str, str], bytes]] = deque()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{HOOK_PATH}"

    def then(self, status: int, body: str = "", **headers: str) -> None:
        self.script.append((status, {key.replace("_", "-"): value for key, value in headers.items()},
                            body.encode()))

    def answer(self, path: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            status, headers, body = self.script.popleft() if self.script else self._judge(path, raw)
            self.requests.append((status, raw))
        return status, {"Content-Type": "text/plain", **headers}, body

    def _judge(self, path: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if path != HOOK_PATH:
            return 404, {}, b"Webhook not found"
        if len(raw) > MAX_BYTES:
            return 413, {}, b"Payload too large"
        try:
            message = json.loads(raw)
        except ValueError:
            return 400, {}, BAD_PAYLOAD
        if card_problems(message):
            return 400, {}, BAD_PAYLOAD
        card = message["attachments"][0]["content"]
        self.cards.append(card)
        self.markdown += [element for element in elements(card) if element.get("type") in MARKDOWN]
        return 200, {}, b"1"


class _Handler(BaseHTTPRequestHandler):
    server: FakeTeams

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        reply(self, *self.server.answer(self.path, raw))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `cards`."""
