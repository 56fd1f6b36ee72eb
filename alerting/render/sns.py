"""A notification as the keyword arguments of one SNS `Publish`, valid whatever the context holds.

`default` carries the full incident as JSON (what SQS, Lambda, HTTP and email-json subscribers get) and
`email` a compact text; the JSON appears once. AWS refuses a publish above 262,144 bytes (message plus
attributes) and a subject that is not short printable text, while moto checks neither, so demon enforces
both itself: the context is cut, least needed part first, and the JSON names what was cut under
`context.truncated`.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

from alerting.model import Notification
from alerting.render.text import clip, headline, render_text
from alerting.render.trim import CUTS, Data, jsonable, trimmed

MAX_BYTES = 262_144  # AWS's default maximum: message and attribute names, types and values, in UTF-8
SUBJECT_LIMIT = 99  # AWS: "less than 100 characters"
EMAIL_LIMIT = 4000  # characters of the `email` text (and of the `text` field of the JSON)
ATTRIBUTE_LIMIT = 256  # characters of one attribute value: enough for any key, bounded for hostile data
_TOKEN = re.compile(r"[A-Za-z0-9!-/:-@\[-`{-~]{1,128}")  # MessageGroupId / MessageDeduplicationId
# Characters AWS accepts in a String attribute (XML 1.0 characters).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def publish_request(notification: Notification, topic_arn: str) -> dict[str, Any]:
    """The kwargs of `sns.publish` for this notification: within AWS's limits, never failing."""
    request: dict[str, Any] = {
        "TopicArn": topic_arn,
        "MessageStructure": "json",
        "Subject": subject(notification),
        "MessageAttributes": attributes(notification),
    }
    if topic_arn.endswith(".fifo"):
        request["MessageGroupId"] = _token(notification.incident_key)
        request["MessageDeduplicationId"] = _token(notification.key)
    data = notification.to_dict()
    for cut in range(len(CUTS) + 1):
        request["Message"] = _message(trimmed(data, cut))
        if size(request) <= MAX_BYTES:
            break
    return request


def size(request: dict[str, Any]) -> int:
    """What AWS counts against MAX_BYTES: the message and every attribute's name, type and value, in UTF-8."""
    total = len(request["Message"].encode())
    for name, attribute in request.get("MessageAttributes", {}).items():
        total += sum(len(part.encode()) for part in (name, attribute["DataType"], attribute["StringValue"]))
    return total


def subject(notification: Notification) -> str:
    """Printable ASCII on one line, at most SUBJECT_LIMIT characters (AWS's rules; moto checks only the
    length); the `[demon]` prefix keeps it non-empty."""
    text = unicodedata.normalize("NFKD", f"[demon] {headline(notification)}")
    printable = "".join(_ascii(char) for char in text if not unicodedata.combining(char))
    return clip(" ".join(printable.split()), SUBJECT_LIMIT)


def _ascii(char: str) -> str:
    """Accents were split off by NFKD; what is still not ASCII shows as `?`, line breaks as spaces."""
    if " " <= char <= "~":
        return char
    return " " if char.isspace() or not char.isprintable() else "?"


def attributes(notification: Notification) -> dict[str, dict[str, str]]:
    """String attributes for subscription filter policies; empty values are left out (AWS refuses them)."""
    context = notification.context
    values = {
        "severity": notification.severity,
        "dataset": context.get("dataset"),
        "owner": context.get("owner"),
        "outcome": notification.outcome,
        "check": context.get("check"),
        "event": str(notification.event),
        "incident": notification.incident_key,
        "idempotency_key": notification.key,
        # A follow-up of an open root cause: a pager's filter policy can leave it out (it was paged already).
        "root_cause": notification.root.key if notification.root else None,
    }
    cleaned = {name: _NOT_XML.sub("", value).strip()[:ATTRIBUTE_LIMIT] for name, value in values.items()
               if isinstance(value, str)}
    return {name: {"DataType": "String", "StringValue": value} for name, value in cleaned.items() if value}


def _token(text: str) -> str:
    """A FIFO group or deduplication id: the text itself when AWS accepts it, else its SHA-256 in hex."""
    return text if _TOKEN.fullmatch(text) else hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def _message(data: Data) -> str:
    """The SNS `json` structure: the incident under `default`, and its text for `email` subscribers."""
    text = render_text(Notification.from_dict(data), EMAIL_LIMIT)
    incident = json.dumps(jsonable({**data, "text": text}), ensure_ascii=False)
    return json.dumps({"default": incident, "email": jsonable(text)}, ensure_ascii=False)
