"""A notification as Slack Block Kit: the parts of the text, laid out for a responder, within Slack's limits.

Slack rejects a whole message over its limits (`invalid_blocks`, `msg_blocks_too_long`), so every part is
bounded, sizes are measured after escaping, and the least needed parts are cut until the message fits; it
says what was cut. Every data string is escaped (`&`, `<`, `>`), so a `<!channel>` in a sample row cannot
ping, and text objects are `verbatim`, so Slack links nothing on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from alerting.model import EventKind, FailingRule, Notification
from alerting.render.text import (
    cause_lines,
    cell,
    commands,
    facts,
    failing_share,
    headline,
    lead_line,
    member_line,
    more_members,
    open_for,
    query_text,
    render_text,
    resolved_line,
    sparkline,
    trend_values,
)

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_FIELDS = 10
HEADER_CHARS = 150
MAX_ELEMENTS = 10
TEXT_BUDGET = 10_000  # of all block text; Slack answers msg_blocks_too_long from about 12,000
FALLBACK_CHARS = 3000

ROW_CHARS = 500  # one sample row in a code block
LINK_CHARS = 1000  # a longer URL is shown as text, not linked
UPSTREAM_SHOWN = 8  # upstream datasets listed, one line each

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BACKTICKS = re.compile(r"`(?=`)")
_URL = re.compile(r"https?://[^\s|<>]+")


def escape(text: str) -> str:
    """Slack's control characters as entities: `&` first, so an entity in the data is not decoded."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escaped(text: str, limit: int) -> str:
    """Data for mrkdwn: escaped, unfenced (it cannot open or close a code block), at most `limit` (at least
    40) characters, cut between characters (never inside an entity) and saying how much was cut."""
    text = unfence(text)
    out = escape(text)
    if len(out) <= limit:
        return out
    room, kept, size = limit - len(f" ... {len(text)} more characters"), 0, 0
    for char in text:
        size += len(_ENTITIES.get(char, char))
        if size > room:
            break
        kept += 1
    return escape(text[:kept]) + f" ... {len(text) - kept} more characters"


def unfence(text: str) -> str:
    """No two backticks side by side (a zero-width space between them): data cannot close a code block."""
    return _BACKTICKS.sub("`\u200b", text)


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> list[Block]:
    return [{"type": "section", "text": _mrkdwn(text)}] if text else []


def _header(text: str) -> Block:
    """Headers hold demon-made text only (check ids are `[A-Za-z0-9_.-]`); escaped all the same."""
    return {"type": "header", "text": {"type": "plain_text", "text": escaped(text, HEADER_CHARS)}}


def _code(lines: Sequence[str]) -> str:
    return "```\n" + "\n".join(lines) + "\n```"


def _names(items: Sequence[str], shown: int) -> str:
    more = f" ... {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _listing(label: str, items: Sequence[str], shape: _Shape) -> str:
    """`*label* (N): a, b ... N more`, bounded by the shape."""
    return f"*{label}* ({len(items)}): {escaped(_names(items, shape.names), shape.line)}"


def _link(url: str | None, label: str) -> str | None:
    """`<url|label>` for a plain http(s) URL; anything else is shown escaped, never as markup."""
    if not url:
        return None
    if _URL.fullmatch(url) and len(escape(url)) <= LINK_CHARS:
        return f"<{escape(url)}|{label}>"
    return f"{label}: {escaped(url, 200)}"


@dataclass(frozen=True)
class _Shape:
    """How much of each part is shown; the cuts below shrink it step by step. Even the widest shape keeps
    every section under Slack's 3,000 characters and every field under 2,000."""

    message: int = 2000
    statements: int = 3
    statement_chars: int = 1500
    trend: int = 20
    rules: int = 10
    rows: int = 3
    names: int = 30  # items of a list (members, columns, upstreams, downstreams, tags)
    group: int = 20  # incidents told with the lead, a line each
    line: int = 600  # characters of one line of such a list
    name: int = 200  # characters of one name or value


# What is cut, least needed first: (what the message says was cut, the smaller shape).
_CUTS: list[tuple[str, dict[str, int]]] = [
    ("statements", {"statements": 1, "statement_chars": 500}),
    ("statements", {"statements": 0}),
    ("trend", {"trend": 0}),
    ("samples", {"rows": 1}),
    ("samples", {"rows": 0}),
    ("group", {"group": 3}),
    ("group", {"group": 0}),
    ("failing rules", {"rules": 3}),
    ("details", {"names": 5, "line": 200, "name": 100, "message": 500}),
]


def _head(n: Notification, shape: _Shape) -> list[Block]:
    """The title, what is wrong in words (bold), then the check's message when it says more."""
    lead, message = lead_line(n), n.context.get("message") or ""
    said = f"*{escaped(lead, shape.line)}*" if lead else ""
    told = escaped(message, shape.message) if message != lead else ""
    return [_header(headline(n)), *_section("\n".join(text for text in (said, told) if text))]


def _facts(n: Notification, shape: _Shape) -> list[Block]:
    fields = [_mrkdwn(f"*{label}*\n{escaped(value, shape.name)}") for label, value in facts(n)]
    return [{"type": "section", "fields": fields[:MAX_FIELDS]}]


def _members(n: Notification, shape: _Shape) -> list[Block]:
    members = n.context.get("members") or []
    if not members:
        return []
    return _section(_listing("Checks that could not run", members, shape))


def _schema(n: Notification, shape: _Shape) -> list[Block]:
    change = n.context.get("schema")
    if not change:
        return []
    retyped = [f"{item['column']} {item['before']} -> {item['after']}" for item in change["retyped"]]
    lists = (("Columns added", change["added"]), ("Columns removed", change["removed"]),
             ("Columns retyped", retyped))
    return _section("\n".join(_listing(label, names, shape) for label, names in lists if names))


def _rules(n: Notification, shape: _Shape) -> list[Block]:
    rules = n.context.get("failing_rules") or []
    blocks = [block for rule in rules[:shape.rules] for block in _section(_rule(rule, shape))]
    if len(rules) > shape.rules:
        blocks += _section(f"... {len(rules) - shape.rules} more failing rules")
    return blocks


def _rule(rule: FailingRule, shape: _Shape) -> str:
    where = f" on {rule['column']}" if rule["column"] else ""
    name = escaped(rule["rule"] + where, shape.name * 2)
    title = f"*Rule* {name}: {rule['failing_rows']} failing rows{failing_share(rule['failing_pct'])}"
    sample = rule["sample"]
    lines = [escaped(", ".join(f"{k}={cell(v)}" for k, v in row.items()), ROW_CHARS)
             for row in sample[:shape.rows]]
    if len(sample) > shape.rows:
        lines.append(f"... {len(sample) - shape.rows} more rows")
    return title + ("\n" + _code(lines) if lines else "")


def _trend(n: Notification, shape: _Shape) -> list[Block]:
    """A sparkline, oldest to newest, always; the values, newest first, while there is room."""
    trend = n.context.get("trend") or []
    if not trend:
        return []
    points = trend[:shape.trend]
    shown = trend_values(n.context, len(points)) or ""
    more = f" ... {len(trend) - len(points)} more" if len(points) < len(trend) else ""
    detail = f"\nnewest first: {escaped(shown, shape.line * 2)}{more}" if points else ""
    return _section(f"*Trend* {sparkline(trend)} (oldest to newest){detail}")


def _upstream(n: Notification, shape: _Shape) -> list[Block]:
    """The probable root cause when there is one, and each upstream's state (failing ones "also failing"):
    the text's lines, escaped and bounded."""
    lines = cause_lines(n)
    shown = min(shape.names, UPSTREAM_SHOWN) + (1 if n.root is not None else 0)
    said = [escaped(line, shape.line // 2) for line in lines[:shown]]
    if len(lines) > shown:
        said.append(f"... {len(lines) - shown} more upstream datasets")
    return _section("\n".join(said))


def _downstream(n: Notification, shape: _Shape) -> list[Block]:
    downstream = n.context.get("downstream") or []
    if not downstream:
        return []
    return _section(_listing("Downstream also failing", downstream, shape))


def _query(n: Notification, shape: _Shape) -> list[Block]:
    """The statement to paste and run, when the check has one: it replaces the statements."""
    query = query_text(n.context)
    if query is None:
        return []
    return _section("*Run this to see it*\n" + _code([escaped(query, shape.statement_chars)]))


def _statements(n: Notification, shape: _Shape) -> list[Block]:
    if n.context.get("query"):
        return []
    statements = n.context.get("statements") or []
    blocks = [block for text in statements[:shape.statements]
              for block in _section("*Query*\n" + _code([escaped(text, shape.statement_chars)]))]
    if len(statements) > shape.statements:
        blocks += _section(f"... {len(statements) - shape.statements} more queries")
    return blocks


def _group(n: Notification, shape: _Shape) -> list[Block]:
    """The dataset's other incidents told here: a line each with its query; past `shape.group`, how many."""
    if not n.group:
        return []
    blocks = _section(f"*Also failing in this dataset* ({len(n.group)})")
    for member in n.group[:shape.group]:
        said = f"• {escaped(member_line(member), shape.line)}"
        query = [_code([escaped(member["query"], shape.statement_chars // 2)])] if member["query"] else []
        blocks += _section("\n".join([said, *query]))
    blocks += _section("\n".join(more_members(n, shape.group)))
    return blocks


def _commands(n: Notification, shape: _Shape) -> list[Block]:
    """`demon ack` and `demon silence` for this incident, to paste."""
    found = [escaped(command, shape.line) for command in commands(n)]
    return _section("*Act on it*\n" + _code(found)) if found else []


def _about(n: Notification, shape: _Shape) -> list[Block]:
    context = n.context
    owner, tags, description = context.get("owner"), context.get("tags") or [], context.get("description")
    items = [
        f"owner: {escaped(owner, shape.name)}" if owner else None,
        _listing("tags", tags, shape) if tags else None,
        escaped(description, shape.line) if description else None,
        _link(context.get("runbook"), "Runbook"),
        _link(context.get("dashboard_url"), "Dashboard"),
    ]
    elements = [_mrkdwn(item) for item in items if item]
    return [{"type": "context", "elements": elements[:MAX_ELEMENTS]}] if elements else []


# The parts in the order a responder reads them.
_PARTS: list[Callable[[Notification, _Shape], list[Block]]] = [
    _head, _facts, _members, _query, _schema, _rules, _trend, _statements, _group, _upstream, _downstream,
    _about, _commands,
]


def _parts(n: Notification, shape: _Shape) -> list[Block]:
    return [block for part in _PARTS for block in part(n, shape)]


def _noted(built: list[Block], cut: Sequence[str]) -> list[Block]:
    if not cut:
        return built
    note = _mrkdwn(f"(cut to fit: {escaped(', '.join(cut), 300)})")
    return [*built, {"type": "context", "elements": [note]}]


def _fits(built: Sequence[Block]) -> bool:
    return len(built) <= MAX_BLOCKS and text_size(built) <= TEXT_BUDGET


def text_size(blocks: Sequence[Block]) -> int:
    """Characters of text in all text objects: what Slack's `msg_blocks_too_long` counts."""
    return sum(len(obj["text"]) for block in blocks for obj in text_objects(block))


def text_objects(block: Block) -> list[Block]:
    """The text objects of one block: its text, fields and context elements."""
    found = [block["text"]] if isinstance(block.get("text"), dict) else []
    return found + list(block.get("fields", [])) + list(block.get("elements", []))


def blocks(notification: Notification) -> list[Block]:
    """The Block Kit message; within every Slack limit whatever the context holds, and never failing. A
    resolution is short: what passes again and after how long, the links at most."""
    if notification.event is EventKind.RESOLVED:
        return _resolution(notification)
    shape, cut = _Shape(), list(notification.context.get("truncated") or [])
    built = _parts(notification, shape)
    for name, smaller in _CUTS:
        if _fits(_noted(built, cut)):
            break
        shape = replace(shape, **smaller)
        smaller_built = _parts(notification, shape)
        if smaller_built != built and name not in cut:
            cut.append(name)
        built = smaller_built
    return _noted(built, cut)


RESOLVED_SHOWN = 10  # incidents resolved with the lead, a line each (at most 250 characters: one section)


def _resolution(n: Notification) -> list[Block]:
    also = [f"also resolved: {escaped(member_line(member), 250)}" for member in n.group[:RESOLVED_SHOWN]]
    also += more_members(n, RESOLVED_SHOWN)
    return [*_section(f"✅ {escaped(resolved_line(n), 500)}"), *_section("\n".join(also)), *_links(n)]


def _links(n: Notification) -> list[Block]:
    found = [_link(n.context.get("runbook"), "Runbook"), _link(n.context.get("dashboard_url"), "Dashboard")]
    elements = [_mrkdwn(item) for item in found if item]
    return [{"type": "context", "elements": elements}] if elements else []


def resolved_blocks(notification: Notification) -> list[Block]:
    """The root message once its incident resolves: short and marked resolved; the thread keeps the rest."""
    n = notification
    title = escaped(n.title, HEADER_CHARS)
    lasted = open_for(n)
    when = f"resolved at {escape(n.at)}" + (f" after {escape(lasted)}" if lasted else "")
    when += f", open since {escape(n.opened_at)} ({escape(n.severity)})"
    return [_header(f"✅ Resolved: {n.title}"), *_section(f"~{title}~ {when}. The thread has its history.")]


def fallback(notification: Notification) -> str:
    """The top-level `text`: mrkdwn too, and what push notifications show, so escaped as well."""
    return escaped(render_text(notification, FALLBACK_CHARS), FALLBACK_CHARS)
