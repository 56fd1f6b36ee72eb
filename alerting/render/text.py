"""A notification as plain text: the console, SNS `email` bodies and Slack's fallback all read the same.

The parts come in the order a responder reads them; when a limit applies, the least needed parts are cut first
and the text says what was cut, so nothing disappears silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from alerting.model import Context, EventKind, Notification

SAMPLE_ROWS = 3  # sample rows shown per failing rule
CELL = 200  # characters of one sample value
STATEMENT = 500  # characters of one statement: enough to recognise it; the full text is in the history
LINK_CHARS = 2000  # a longer URL is not made a link
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+")  # RFC 3986's characters only
_VERB = {
    EventKind.OPENED: "opened",
    EventKind.CHANGED: "changed",
    EventKind.REPEATED: "still open",
    EventKind.ACKNOWLEDGED: "acknowledged",
    EventKind.RESOLVED: "resolved",
}


def headline(notification: Notification) -> str:
    """One line: severity, what and what happened ("[critical] fact_orders.volume failed (opened)")."""
    return f"[{notification.severity}] {notification.title} ({_VERB[notification.event]})"


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    kept = limit - len(f" ... {len(text)} more characters")  # the note is at most this long
    if kept < 0:  # no room to say it: cut short
        return text[:limit]
    return f"{text[:kept]} ... {len(text) - kept} more characters"


def cell(value: Any) -> str:
    """A data value on one line, bounded."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return clip(" ".join(text.split()), CELL)


def links(context: Context) -> list[tuple[str, str]]:
    """The runbook and the dashboard as (label, URL), when they are plain http(s) URLs: anything else (a
    `javascript:` URL, markup) is data, and shown only as text."""
    found = (("Runbook", context.get("runbook")), ("Dashboard", context.get("dashboard_url")))
    return [(label, url) for label, url in found
            if url and len(url) <= LINK_CHARS and _PLAIN_URL.fullmatch(url)]


def observed_line(context: Context) -> str | None:
    if "value" not in context:
        return None
    unit = f" {context['unit']}" if context.get("unit") else ""
    bounds = expected_text(context)
    value = "none" if context["value"] is None else f"{context['value']:g}"
    return f"observed {value}{unit}" + (f"; expected {bounds}" if bounds else "")


LEARNED_BOUNDS = ("expected", "expected_min", "expected_max", "expected_warn_min", "expected_warn_max")


def expected_text(context: Context) -> str:
    """The fixed thresholds by name, and a learned band as a range with what trained it."""
    thresholds = context.get("thresholds", {})
    fixed = [f"{name} {value:g}" for name, value in sorted(thresholds.items()) if name not in LEARNED_BOUNDS]
    learned = context.get("learned")
    if learned is not None and "expected_min" in thresholds and "expected_max" in thresholds:
        slot = f" in {learned['slot']}" if learned["slot"] else ""
        fixed.append(f"{thresholds['expected_min']:g} to {thresholds['expected_max']:g}{slot}"
                     f" (learnt from {learned['trained']})")
    return ", ".join(fixed)


def facts(notification: Notification) -> list[tuple[str, str]]:
    """The facts a chat message shows side by side, as (label, value); those unknown are left out."""
    n, context = notification, notification.context
    outcome = n.outcome + (f" (was {n.previous_outcome})" if n.previous_outcome else "")
    unit = f" {context['unit']}" if context.get("unit") else ""
    value = context.get("value")
    observed = f"{'none' if value is None else format(value, 'g')}{unit}" if "value" in context else None
    found = [
        ("Severity", n.severity),
        ("Outcome", outcome),
        ("Observed", observed),
        ("Expected", expected_text(context) or None),
        ("Open since", n.opened_at),
        ("Last passed", context.get("last_passed_at") or "never (in the kept history)"),
        ("Dataset", context.get("dataset")),
        ("Source", context.get("source")),
        ("Kind", context.get("kind")),
    ]
    return [(label, text) for label, text in found if text]


def trend_values(context: Context) -> str | None:
    """The check's last values and outcomes, newest first: `12 (fail), 130 (pass)`."""
    points = context.get("trend") or []
    shown = [f"{'-' if p['value'] is None else format(p['value'], 'g')} ({p['outcome']})" for p in points]
    return ", ".join(shown) or None


def trend_line(context: Context) -> str | None:
    values = trend_values(context)
    return f"trend, newest first: {values}" if values else None


def schema_lines(context: Context) -> list[str]:
    change = context.get("schema")
    if not change:
        return []
    lines = [f"columns {label}: {', '.join(names)}" for label, names in
             (("added", change["added"]), ("removed", change["removed"])) if names]
    if change["retyped"]:
        lines.append("columns retyped: " + ", ".join(
            f"{item['column']} {item['before']} -> {item['after']}" for item in change["retyped"]))
    return lines


def rule_lines(context: Context, rows: int = SAMPLE_ROWS) -> list[str]:
    lines = []
    for rule in context.get("failing_rules", []):
        where = f" on {rule['column']}" if rule["column"] else ""
        lines.append(f"rule {rule['rule']}{where}: {rule['failing_rows']} failing rows")
        sample = rule["sample"]
        lines += ["  " + ", ".join(f"{k}={cell(v)}" for k, v in row.items()) for row in sample[:rows]]
        if len(sample) > rows:
            lines.append(f"  ... {len(sample) - rows} more rows")
    return lines


def upstream_lines(notification: Notification) -> list[str]:
    lines = []
    root = notification.root
    if root is not None:
        lines.append(f"probable root cause: {root.title} (incident {root.incident})")
    for item in notification.context.get("upstream", []):
        failing = f": {', '.join(item['failing'])}" if item["failing"] else ""
        lines.append(f"upstream {item['dataset']}: {item['outcome']}{failing}")
    if notification.context.get("downstream"):
        lines.append("also affected downstream: " + ", ".join(notification.context["downstream"]))
    return lines


def about_lines(context: Context) -> list[str]:
    labels = (("owner", "owner"), ("description", "description"), ("runbook", "runbook"),
              ("dashboard_url", "dashboard"))
    lines = [f"{label}: {cell(context[key])}" for key, label in labels if context.get(key)]  # type: ignore[literal-required]
    if context.get("tags"):
        lines.append("tags: " + ", ".join(context["tags"]))
    return lines


def statement_lines(context: Context) -> list[str]:
    return [f"query: {clip(' '.join(text.split()), STATEMENT)}" for text in context.get("statements", [])]


# Cut first to last when the text is too long: the least needed part first.
_OPTIONAL: list[tuple[str, Callable[[Notification], list[str]]]] = [
    ("statements", lambda n: statement_lines(n.context)),
    ("trend", lambda n: [line] if (line := trend_line(n.context)) else []),
    ("samples", lambda n: rule_lines(n.context)),
    ("schema", lambda n: schema_lines(n.context)),
]


# What stays of a part once cut: the failing rules without their sample rows.
_CUT: dict[str, Callable[[Notification], list[str]]] = {"samples": lambda n: rule_lines(n.context, rows=0)}


def _nothing(notification: Notification) -> list[str]:
    return []


def render_text(notification: Notification, limit: int = 4000) -> str:
    """The plain-text message, at most `limit` characters."""
    context = notification.context
    head = [headline(notification), context.get("message", "")]
    head += [line for line in (observed_line(context), _since(notification)) if line]
    members = context.get("members") or []
    if members:
        head.append(f"checks that could not run ({len(members)}): " + ", ".join(members[:20])
                    + (f" ... {len(members) - 20} more" if len(members) > 20 else ""))
    parts = {name: build(notification) for name, build in _OPTIONAL}
    tail = upstream_lines(notification) + about_lines(context)
    dropped: list[str] = []
    for name, _ in _OPTIONAL:
        text = _join(head, parts, tail, dropped)
        if len(text) <= limit:
            return text
        parts[name] = _CUT.get(name, _nothing)(notification)
        dropped.append(name)
    return clip(_join(head, parts, tail, dropped), limit)


def _since(notification: Notification) -> str:
    passed = notification.context.get("last_passed_at")
    return f"open since {notification.opened_at}; last passed {passed or 'never (in the kept history)'}"


def _join(head: list[str], parts: dict[str, list[str]], tail: list[str], dropped: list[str]) -> str:
    order = ["schema", "samples", "trend", "statements"]
    lines = head + [line for name in order for line in parts[name]] + tail
    if dropped:
        lines.append(f"(cut to fit: {', '.join(dropped)})")
    return "\n".join(line for line in lines if line)
