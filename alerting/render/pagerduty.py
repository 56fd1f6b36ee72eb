"""A notification as one PagerDuty Events API v2 event: `trigger` while an incident is open (opened, changed,
repeated), `acknowledge` on `demon ack`, `resolve` on its resolution, all with the incident's one `dedup_key`.

A trigger carries the root-cause context as `custom_details` and the runbook and dashboard as `links`; an
acknowledge or resolve carries nothing else (PagerDuty reads only the key of those). PagerDuty refuses an
event over 512 KB and a summary over 1,024 characters: demon bounds both itself, cutting the context least
needed part first (see trim.py) and saying what it cut.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from alerting.model import EventKind, Notification
from alerting.render.text import clip, commands, lead_line, links, render_text
from alerting.render.trim import CUTS, jsonable, trimmed

MAX_BYTES = 512_000  # PagerDuty: "Events API payloads are limited to 512 KB"
SUMMARY_CHARS = 1024
DEDUP_CHARS = 255
TEXT_CHARS = 4000  # the plain-text rendering among the custom details
CLIENT = "demon"

ACTIONS: Mapping[EventKind, str] = {
    EventKind.OPENED: "trigger",
    EventKind.CHANGED: "trigger",  # PagerDuty adds a trigger of an open alert's dedup_key to its log
    EventKind.REPEATED: "trigger",
    EventKind.ACKNOWLEDGED: "acknowledge",
    EventKind.RESOLVED: "resolve",
}
# demon's severities (of datasets) as PagerDuty's; most severe first.
SEVERITIES: Mapping[str, str] = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}
PAGERDUTY_ORDER = ("critical", "error", "warning", "info")
# A warning is never paged above `warning`, whatever its dataset's severity.
OUTCOME_CAPS: Mapping[str, str] = {"warn": "warning"}


def dedup_key(notification: Notification) -> str:
    """The incident's key in PagerDuty: the same for its trigger, acknowledge and resolve, and after a
    restart (both parts are stored); the incident id keeps it unique in the store when the rest is cut."""
    return f"demon-{notification.incident}-{notification.incident_key}"[:DEDUP_CHARS]


def severity(notification: Notification) -> str:
    mapped = SEVERITIES.get(notification.severity, "error")
    cap = OUTCOME_CAPS.get(notification.outcome)
    return max(mapped, cap, key=PAGERDUTY_ORDER.index) if cap else mapped


def event(notification: Notification, routing_key: str) -> dict[str, Any]:
    """The event to POST; a trigger within MAX_BYTES whatever its context holds."""
    action = ACTIONS[notification.event]
    head = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key(notification)}
    if action != "trigger":
        return head
    data = notification.to_dict()
    for cuts in range(len(CUTS) + 1):
        found = {**head, **_trigger(Notification.from_dict(trimmed(data, cuts)))}
        if len(encoded(found)) <= MAX_BYTES:
            break
    return found


def encoded(body: dict[str, Any]) -> bytes:
    """The body as sent: plain JSON (no NaN, no lone surrogate) in UTF-8."""
    return json.dumps(jsonable(body), ensure_ascii=False).encode()


def _trigger(n: Notification) -> dict[str, Any]:
    context = n.context
    message = " ".join(str(lead_line(n) or context.get("message") or "").split())
    payload = {
        "summary": clip(f"{n.title}: {message}" if message else n.title, SUMMARY_CHARS),
        "source": str(context.get("source") or "").strip() or CLIENT,  # PagerDuty refuses a blank one
        "severity": severity(n),
        "timestamp": n.at,
        "component": context.get("dataset"),
        "group": context.get("owner"),
        "class": context.get("kind"),
        "custom_details": _details(n),
    }
    return {
        "payload": {key: value for key, value in payload.items() if value},
        "links": [{"href": url, "text": label} for label, url in links(context)],
        "client": CLIENT,
    }


def _details(n: Notification) -> dict[str, Any]:
    """What a responder reads in the alert: the text, the incident, the incidents told with it, the commands
    to act on it, and the context as demon keeps it."""
    root = {"root_cause": {"incident": n.root.incident, "title": n.root.title}} if n.root else {}
    return {
        "text": render_text(n, TEXT_CHARS),
        "incident": n.incident,
        "incident_key": n.incident_key,
        "event": n.event.value,
        "outcome": n.outcome,
        "opened_at": n.opened_at,
        **root,
        **({"previous_outcome": n.previous_outcome} if n.previous_outcome else {}),
        **({"group": [dict(member) for member in n.group]} if n.group else {}),
        "commands": commands(n),
        "context": dict(n.context),
    }
