"""A notification as plain text: the console, SNS `email` bodies and Slack's fallback all read the same.

The parts come in the order a responder reads them; when a limit applies, the least needed parts are cut first
and the text says what was cut, so nothing disappears silently.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from alerting.model import Context, EventKind, Member, Notification, Point
from alerting.render.units import approximate, observed, percent, threshold
from monitor.core import humanize

SAMPLE_ROWS = 3  # sample rows shown per failing rule
CELL = 200  # characters of one sample value
STATEMENT = 500  # characters of one statement: enough to recognise it; the full text is in the history
LINK_CHARS = 2000  # a longer URL is not made a link
QUERY = 1000  # characters of the paste-able query: it is short by design; bounded all the same
MEMBER = 300  # characters of one grouped incident's line
SILENCE_FOR = "2h"  # the silence the commands offer: long enough to fix, short enough to hear of it again
SPARKS = "▁▂▃▄▅▆▇█"
GAP = "·"  # a run without a value in a sparkline
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
    bounds = expected_text(context)
    return f"observed {observed_text(context)}" + (f"; expected {bounds}" if bounds else "")


def observed_text(context: Context) -> str:
    """The value in its unit: `1,070 rows`, `3h` (seconds), `none`."""
    return observed(context.get("value"), context.get("unit"))


LEARNED_BOUNDS = ("expected", "expected_min", "expected_max", "expected_warn_min", "expected_warn_max")


def expected_text(context: Context) -> str:
    """The fixed thresholds by name in the units their messages use (`max_drop 50%`, `fail_after 2h`), and a
    learned band as a range with what trained it."""
    thresholds, unit = context.get("thresholds", {}), context.get("unit")
    fixed = [f"{name} {threshold(name, value, unit)}" for name, value in sorted(thresholds.items())
             if name not in LEARNED_BOUNDS]
    learned = context.get("learned")
    if learned is not None and "expected_min" in thresholds and "expected_max" in thresholds:
        slot = f" in {learned['slot']}" if learned["slot"] else ""
        low, high = (approximate(thresholds[name], unit) for name in ("expected_min", "expected_max"))
        fixed.append(f"{low} to {high}{slot} (learnt from {learned['trained']})")
    return ", ".join(fixed)


def facts(notification: Notification) -> list[tuple[str, str]]:
    """The facts a chat message shows side by side, as (label, value); those unknown are left out."""
    n, context = notification, notification.context
    outcome = n.outcome + (f" (was {n.previous_outcome})" if n.previous_outcome else "")
    found = [
        ("Severity", n.severity),
        ("Outcome", outcome),
        ("Observed", observed_text(context) if "value" in context else None),
        ("Expected", expected_text(context) or None),
        ("Open since", n.opened_at),
        ("Last passed", context.get("last_passed_at") or "never (in the kept history)"),
        ("Dataset", context.get("dataset")),
        ("Source", context.get("source")),
        ("Kind", context.get("kind")),
    ]
    return [(label, text) for label, text in found if text]


def trend_values(context: Context, shown: int | None = None) -> str | None:
    """The check's last values (the first `shown`) in its unit, with their outcomes, newest first:
    `1,070 rows (fail), 2,657 rows (pass)`, `3d (fail), 0s (pass)`."""
    points = (context.get("trend") or [])[:shown]
    unit = context.get("unit")
    said = [f"{'-' if p['value'] is None else observed(p['value'], unit)} ({p['outcome']})" for p in points]
    return ", ".join(said) or None


def sparkline(points: Sequence[Point]) -> str:
    """The trend's values (given newest first, as the context keeps them) oldest to newest as bars, lowest
    `▁` to highest `█`, `·` for a run without a value: the shape at a glance, in a dozen characters."""
    values = [point["value"] if _finite(point["value"]) else None for point in reversed(points)]
    known = [value for value in values if value is not None]
    if not known:
        return GAP * len(values)
    low, span = min(known), max(known) - min(known)
    return "".join(GAP if value is None else SPARKS[_level(value, low, span)] for value in values)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _level(value: float, low: float, span: float) -> int:
    return round((value - low) / span * (len(SPARKS) - 1)) if span else len(SPARKS) // 2


def trend_line(context: Context) -> str | None:
    values = trend_values(context)
    if not values:
        return None
    return f"trend {sparkline(context.get('trend') or [])} (oldest to newest); newest first: {values}"


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


def failing_share(fraction: float | None) -> str:
    """` (0.0871%)`: a rule's `failing_pct` is a fraction of its rows, as in the result's details and the
    `*_failing_pct` thresholds; shown as the check's message shows it, on every channel."""
    return f" ({percent(fraction)})" if fraction is not None else ""


def rule_lines(context: Context, rows: int = SAMPLE_ROWS) -> list[str]:
    lines = []
    for rule in context.get("failing_rules", []):
        where = f" on {rule['column']}" if rule["column"] else ""
        share = failing_share(rule["failing_pct"])
        lines.append(f"rule {rule['rule']}{where}: {rule['failing_rows']} failing rows{share}")
        sample = rule["sample"]
        lines += ["  " + ", ".join(f"{k}={cell(v)}" for k, v in row.items()) for row in sample[:rows]]
        if len(sample) > rows:
            lines.append(f"  ... {len(sample) - rows} more rows")
    return lines


def upstream_lines(notification: Notification) -> list[str]:
    """The probable root cause, the upstreams' states, the downstream datasets affected."""
    downstream = notification.context.get("downstream")
    affected = ["downstream also failing: " + ", ".join(downstream)] if downstream else []
    return cause_lines(notification) + affected


def cause_lines(notification: Notification) -> list[str]:
    """The probable root cause only when the engine found one (`root`); an upstream that merely fails too is
    "also failing", never called a cause."""
    lines = []
    root = notification.root
    if root is not None:
        lines.append(root_line(root.title, root.incident))
    for item in notification.context.get("upstream", []):
        if root is not None and root.incident_of(item):
            continue  # said just above
        failing = f": {', '.join(item['failing'])}" if item["failing"] else ""
        state = UPSTREAM_STATES.get(item["outcome"], f": {item['outcome']}")
        lines.append(f"upstream {item['dataset']}{state}{failing}")
    return lines


def root_line(title: str, incident: int) -> str:
    return f"probable root cause: {title} (incident #{incident})"


UPSTREAM_STATES: Mapping[str, str] = {"fail": " is also failing", "error": " is also failing"}


def about_lines(context: Context) -> list[str]:
    labels = (("owner", "owner"), ("description", "description"), ("runbook", "runbook"),
              ("dashboard_url", "dashboard"))
    lines = [f"{label}: {cell(context[key])}" for key, label in labels if context.get(key)]  # type: ignore[literal-required]
    if context.get("tags"):
        lines.append("tags: " + ", ".join(context["tags"]))
    return lines


def statement_lines(context: Context) -> list[str]:
    """The statements that produced the value, fused on one line each: only when there is no paste-able
    query, which says more in less."""
    if context.get("query"):
        return []
    return [f"query: {clip(' '.join(text.split()), STATEMENT)}" for text in context.get("statements", [])]


def query_text(context: Context) -> str | None:
    """The statement a person can paste and run to see what is wrong, as written (its lines kept)."""
    query = context.get("query")
    return clip(query.strip(), QUERY) if query and query.strip() else None


def query_lines(context: Context) -> list[str]:
    query = query_text(context)
    return ["run this to see it:", *("  " + line for line in query.splitlines())] if query else []


# --- the lead's headline and the incidents told with it ----------------------------------------------------


def lead_line(notification: Notification) -> str | None:
    """What is wrong, in words; with a group, how many checks of the dataset fail first:
    `fact_orders: 3 checks failing — 8 duplicated order_id values in fact_orders`."""
    words = notification.context.get("headline")
    words = None if words == notification.title else words  # a folded incident's title says it already
    failing = [member for member in notification.group if member["outcome"] != "pass"]
    if not failing:
        return words
    subject = notification.context.get("dataset") or notification.incident_key
    count = f"{subject}: {len(failing) + 1} checks failing"
    return f"{count} — {words}" if words else count


def member_line(member: Member) -> str:
    """One incident told with the lead: its headline (or title), its outcome if it passes again, its id."""
    said = member["headline"] or member["title"]
    state = " (passes again)" if member["outcome"] == "pass" else ""
    root = member.get("root")
    cause = f"; probable root cause: {root}" if root and member["outcome"] != "pass" else ""
    return clip(f"{said}{state} (incident #{member['incident']}{cause})", MEMBER)


def member_lines(notification: Notification, shown: int | None = None) -> list[str]:
    """Each grouped incident on a line, its query under it; past `shown`, how many more there are."""
    group = notification.group if shown is None else notification.group[:shown]
    lines = []
    for member in group:
        lines.append("- " + member_line(member))
        query = member["query"]
        lines += [f"    {clip(' '.join(query.split()), STATEMENT)}"] if query else []
    lines += more_members(notification, len(group))
    return lines


def more_members(notification: Notification, shown: int) -> list[str]:
    """What says how many grouped incidents were cut."""
    more = len(notification.group) - shown
    checks = f"check{'s' if more != 1 else ''}"
    return [f"... {more} more {checks} of this dataset, cut to fit"] if more > 0 else []


# --- what to do: commands to paste --------------------------------------------------------------------------

_ACTIONABLE = frozenset({EventKind.OPENED, EventKind.CHANGED, EventKind.REPEATED})


def commands(notification: Notification) -> list[str]:
    """`demon ack ID` and `demon silence GLOB --for 2h --reason ...`, as demon's CLI takes them, for the
    events a responder acts on: the silence covers every check of the dataset (or the source's incident)."""
    if notification.event not in _ACTIONABLE:
        return []
    dataset = notification.context.get("dataset")
    pattern = f"{dataset}.*" if dataset else notification.incident_key
    told = [notification.incident, *(m["incident"] for m in notification.group if m["outcome"] != "pass")]
    return [f"demon ack {' '.join(map(str, told))}",
            f"demon silence {shlex.quote(pattern)} --for {SILENCE_FOR} --reason investigating"]


def command_lines(notification: Notification) -> list[str]:
    found = commands(notification)
    return ["act on it:", *("  " + command for command in found)] if found else []


# --- resolved: what changed and how long it lasted ----------------------------------------------------------


def resolved_line(notification: Notification) -> str:
    """`resolved: fact_orders.volume passes again after 3h 12m`."""
    n = notification
    what = n.context.get("check") or n.incident_key
    folded = _FOLDED.get(n.incident_key.split(":", 1)[0]) if ":" in n.incident_key else None
    again = _AGAIN.get(n.outcome, f"is {n.outcome}")
    said = folded.format(n.incident_key.split(":", 1)[1]) if folded else f"{what} {again}"
    lasted = open_for(n)
    return f"resolved: {said}" + (f" after {lasted}" if lasted else "")


_AGAIN: Mapping[str, str] = {"pass": "passes again", "warn": "only warns now"}
_FOLDED: Mapping[str, str] = {"source": "source {} answers again", "dataset": "{} can be checked again"}


def open_for(notification: Notification) -> str | None:
    """How long the incident was open, from its opening to this event: `3h 12m`; None when unreadable."""
    try:
        seconds = (datetime.fromisoformat(notification.at)
                   - datetime.fromisoformat(notification.opened_at)).total_seconds()
    except (TypeError, ValueError):
        return None
    return humanize.duration(max(seconds, 0.0))


def resolved_summary(notification: Notification) -> list[str]:
    """What passes again and after how long, and the incidents resolved with it."""
    also = [f"also resolved: {member_line(member)}" for member in notification.group]
    return [resolved_line(notification), *also]


def resolved_lines(notification: Notification) -> list[str]:
    """The whole of a resolve message: what passes again, after how long, and where to look; no context."""
    found = [f"{label.lower()}: {url}" for label, url in links(notification.context)]
    return [*resolved_summary(notification), *found]


# Cut first to last when the text is too long: the least needed part first; the grouped incidents before
# the lead's schema.
_OPTIONAL: list[tuple[str, Callable[[Notification], list[str]]]] = [
    ("statements", lambda n: statement_lines(n.context)),
    ("trend", lambda n: [line] if (line := trend_line(n.context)) else []),
    ("samples", lambda n: rule_lines(n.context)),
    ("group", member_lines),
    ("schema", lambda n: schema_lines(n.context)),
]


# What stays of a part once cut: the failing rules without their sample rows; how many grouped incidents.
_CUT: dict[str, Callable[[Notification], list[str]]] = {
    "samples": lambda n: rule_lines(n.context, rows=0),
    "group": lambda n: more_members(n, 0),
}


def _nothing(notification: Notification) -> list[str]:
    return []


def render_text(notification: Notification, limit: int = 4000) -> str:
    """The plain-text message, at most `limit` characters; a resolution says only that, and for how long."""
    if notification.event is EventKind.RESOLVED:
        return clip("\n".join(resolved_lines(notification)), limit)
    context = notification.context
    lead = lead_line(notification)
    message = context.get("message", "")
    head = [headline(notification), lead or "", "" if message == lead else message]
    head += [line for line in (observed_line(context), _since(notification)) if line]
    members = context.get("members") or []
    if members:
        head.append(f"checks that could not run ({len(members)}): " + ", ".join(members[:20])
                    + (f" ... {len(members) - 20} more" if len(members) > 20 else ""))
    head += query_lines(context)
    parts = {name: build(notification) for name, build in _OPTIONAL}
    tail, last = upstream_lines(notification) + about_lines(context), command_lines(notification)
    dropped: list[str] = []
    for name, _ in _OPTIONAL:
        text = _join(head, parts, tail, dropped, last)
        if len(text) <= limit:
            return text
        smaller = _CUT.get(name, _nothing)(notification)
        if smaller != parts[name]:  # a part that was not there was not cut
            dropped.append(name)
        parts[name] = smaller
    return clip(_join(head, parts, tail, dropped, last), limit)


def _since(notification: Notification) -> str:
    passed = notification.context.get("last_passed_at")
    return f"open since {notification.opened_at}; last passed {passed or 'never (in the kept history)'}"


def _join(head: list[str], parts: dict[str, list[str]], tail: list[str], dropped: list[str],
          last: list[str]) -> str:
    """The lines in reading order; what was cut said before the commands, which end the message."""
    order = ["schema", "samples", "trend", "statements", "group"]
    lines = head + [line for name in order for line in parts[name]] + tail
    if dropped:
        lines.append(f"(cut to fit: {', '.join(dropped)})")
    return "\n".join(line for line in lines + last if line)
