"""A notification as a Microsoft Teams message: one Adaptive Card with the parts of the text, within Teams'
size limit, its data shown as typed.

Teams refuses a message over about 28 KB, so demon measures the JSON it sends (UTF-8 bytes) and cuts the
least needed parts first until it fits, saying what it cut; the headline is never cut. TextBlocks and facts
read Markdown in Teams, so no text goes into one: every text is a TextRun of a RichTextBlock, which Teams
shows as typed (`[x](javascript:...)`, `**`, `<script>` stay text). Bidirectional controls, which could make
a line read otherwise than it is, and other control characters are shown as `<U+202E>`; a `{{` (a DATE()
or TIME() function) gets a zero-width space. Only plain http(s) runbook and dashboard URLs become buttons.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from alerting.model import EventKind, Notification
from alerting.render.text import (
    about_lines,
    clip,
    commands,
    facts,
    headline,
    lead_line,
    links,
    member_lines,
    query_text,
    resolved_summary,
    rule_lines,
    schema_lines,
    sparkline,
    statement_lines,
    trend_values,
    upstream_lines,
)
from alerting.render.trim import jsonable

MAX_BYTES = 24_000  # Teams answers 413 from about 28 KB (less, some found); a margin for what it adds
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
HEADLINE_CHARS = 500  # demon-made, from a check id; bounded all the same
FACT_CHARS = 200
NOTE_CHARS = 300
COLORS: Mapping[str, str] = {"fail": "Attention", "error": "Attention", "warn": "Warning", "pass": "Good"}

Element = dict[str, Any]

_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BRACES = re.compile(r"\{(?=\{)")


def shown(text: str, limit: int) -> str:
    """Data as Teams shows it typed, at most `limit` characters: controls as `<U+XXXX>`, `{{` broken, lone
    surrogates (not UTF-8) as `?`."""
    text = _INVISIBLE.sub(lambda m: f"<U+{ord(m[0]):04X}>", text.replace("\r\n", "\n"))
    text = _BRACES.sub("{\u200b", text).encode("utf-8", "replace").decode()
    return clip(text, limit)


def _run(text: str, **style: Any) -> Element:
    return {"type": "TextRun", "text": text, **style}


def _block(*runs: Element, **props: Any) -> Element:
    return {"type": "RichTextBlock", "inlines": list(runs), **props}


@dataclass(frozen=True)
class _Shape:
    """How much of each part is shown; the cuts below shrink it step by step."""

    message: int = 3000
    lines: int = 30  # lines of one section
    line: int = 1000  # characters of one line
    rows: int = 3  # sample rows of a failing rule
    statements: bool = True
    trend: bool = True
    group: int = 12  # incidents told with the lead (two lines each with a query: a section's 30 lines)
    sections: bool = True  # anything beyond the headline, the message and the facts


# What is cut, least needed first: (what the card says was cut, the smaller shape).
_CUTS: list[tuple[str, dict[str, Any]]] = [
    ("statements", {"statements": False}),
    ("trend", {"trend": False}),
    ("samples", {"rows": 0}),
    ("group", {"group": 0}),
    ("details", {"lines": 5, "line": 300, "message": 500}),
    ("context", {"sections": False}),
]


def _head(n: Notification, shape: _Shape) -> list[Element]:
    color = COLORS.get(n.outcome, "Default")
    title = _block(_run(shown(headline(n), HEADLINE_CHARS), size="Large", weight="Bolder", color=color))
    lead, message = lead_line(n), n.context.get("message")
    said = [_block(_run(shown(lead, shape.message), weight="Bolder"))] if lead else []
    told = [_block(_run(shown(message, shape.message)))] if message and message != lead else []
    return [title, *said, *told]


def _facts(n: Notification, shape: _Shape) -> list[Element]:
    return [_block(_run(f"{label}: ", weight="Bolder"), _run(shown(value, FACT_CHARS)), spacing="None")
            for label, value in facts(n)]


def _section(label: str, lines: Sequence[str], shape: _Shape, monospace: bool = False) -> list[Element]:
    """A bold label, then a block per line: at most `shape.lines` of them, each at most `shape.line` long (an
    empty one is left out: a TextRun has text)."""
    lines = [line for line in lines if line]
    if not lines or not shape.sections:
        return []
    style = {"fontType": "Monospace"} if monospace else {}
    blocks = [_block(_run(label, weight="Bolder"), separator=True)]
    blocks += [_block(_run(shown(line, shape.line), **style), spacing="None") for line in lines[:shape.lines]]
    if len(lines) > shape.lines:
        blocks.append(_block(_run(f"... {len(lines) - shape.lines} more", isSubtle=True), spacing="None"))
    return blocks


def _members(n: Notification, shape: _Shape) -> list[Element]:
    members = n.context.get("members") or []
    return _section(f"Checks that could not run ({len(members)})", members, shape)


def _schema(n: Notification, shape: _Shape) -> list[Element]:
    return _section("Schema", schema_lines(n.context), shape)


def _rules(n: Notification, shape: _Shape) -> list[Element]:
    return _section("Failing rules", rule_lines(n.context, shape.rows), shape, monospace=True)


def _trend(n: Notification, shape: _Shape) -> list[Element]:
    """A sparkline, oldest to newest; the values, newest first, while there is room."""
    trend = n.context.get("trend") or []
    values = trend_values(n.context) if shape.trend else None
    lines = [f"{sparkline(trend)} (oldest to newest)", f"newest first: {values}" if values else ""]
    return _section("Trend", lines, shape) if trend else []


def _query(n: Notification, shape: _Shape) -> list[Element]:
    """The statement to paste and run, as written; it replaces the statements."""
    query = query_text(n.context)
    return _section("Run this to see it", query.splitlines() if query else [], shape, monospace=True)


def _group(n: Notification, shape: _Shape) -> list[Element]:
    """The dataset's other incidents told here, each with its query; cut before the lead's details."""
    lines = member_lines(n, shape.group)
    return _section(f"Also failing in this dataset ({len(n.group)})", lines, shape)


def _commands(n: Notification, shape: _Shape) -> list[Element]:
    return _section("Act on it", commands(n), shape, monospace=True)


def _upstream(n: Notification, shape: _Shape) -> list[Element]:
    return _section("Upstream", upstream_lines(n), shape)


def _statements(n: Notification, shape: _Shape) -> list[Element]:
    lines = statement_lines(n.context) if shape.statements else []
    return _section("Queries", lines, shape, monospace=True)


def _about(n: Notification, shape: _Shape) -> list[Element]:
    return _section("About", about_lines(n.context), shape)


# The parts in the order a responder reads them.
_PARTS: list[Callable[[Notification, _Shape], list[Element]]] = [
    _head, _facts, _members, _query, _schema, _rules, _trend, _statements, _group, _upstream, _about,
    _commands,
]


def _body(n: Notification, shape: _Shape) -> list[Element]:
    if n.event is EventKind.RESOLVED:
        return _resolution(n, shape)
    return [element for part in _PARTS for element in part(n, shape)]


def _resolution(n: Notification, shape: _Shape) -> list[Element]:
    """Only what passes again and after how long (the links are the card's buttons)."""
    first, *also = resolved_summary(n)
    title = _block(_run(shown(first, HEADLINE_CHARS), size="Large", weight="Bolder", color=COLORS["pass"]))
    return [title, *_section("Also resolved", also, shape)]


def _message(n: Notification, body: list[Element], cut: Sequence[str]) -> dict[str, Any]:
    note = [_block(_run(shown(f"(cut to fit: {', '.join(cut)})", NOTE_CHARS), isSubtle=True))] if cut else []
    card = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": [*body, *note],
        "actions": [{"type": "Action.OpenUrl", "title": text, "url": url} for text, url in links(n.context)],
    }
    attachment = {"contentType": CARD_TYPE, "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


def encoded(message: dict[str, Any]) -> bytes:
    """The message as sent, and as its size is measured: JSON in UTF-8."""
    return json.dumps(jsonable(message), ensure_ascii=False).encode()


def card_message(notification: Notification) -> dict[str, Any]:
    """The Teams message: within MAX_BYTES whatever the context holds, and never failing."""
    shape, cut = _Shape(), list(notification.context.get("truncated") or [])
    body = _body(notification, shape)
    for name, smaller in _CUTS:
        if len(encoded(_message(notification, body, cut))) <= MAX_BYTES:
            break
        shape = replace(shape, **smaller)
        smaller_body = _body(notification, shape)
        if smaller_body != body and name not in cut:
            cut.append(name)
        body = smaller_body
    return _message(notification, body, cut)
