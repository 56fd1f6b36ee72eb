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
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from alerting.model import Context, Notification
from alerting.render.text import SAMPLE_ROWS, cell, clip, headline, render_text

MAX_BYTES = 262_144  # AWS's default maximum: message and attribute names, types and values, in UTF-8
SUBJECT_LIMIT = 99  # AWS: "less than 100 characters"
EMAIL_LIMIT = 4000  # characters of the `email` text (and of the `text` field of the JSON)
ATTRIBUTE_LIMIT = 256  # characters of one attribute value: enough for any key, bounded for hostile data
LONG_STRING = 10_000  # characters of one context string, the first cut
SHORT_STRING = 500  # characters of any string in the last resort
_TOKEN = re.compile(r"[A-Za-z0-9!-/:-@\[-`{-~]{1,128}")  # MessageGroupId / MessageDeduplicationId
# Characters AWS accepts in a String attribute (XML 1.0 characters).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Data = dict[str, Any]
Cut = Callable[[Data], bool]  # cuts a part of the notification in place; says whether there was any


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
    for cut in range(len(_CUTS) + 1):
        request["Message"] = _message(_trimmed(data, cut))
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
    incident = json.dumps(_jsonable({**data, "text": text}), ensure_ascii=False)
    return json.dumps({"default": incident, "email": _jsonable(text)}, ensure_ascii=False)


def _trimmed(data: Data, cuts: int) -> Data:
    """The notification after the first `cuts` entries of _CUTS, naming those that cut something."""
    if cuts == 0:
        return data
    trimmed = dict(data, context=dict(data["context"]))
    names = [name for name, cut in _CUTS[:cuts] if cut(trimmed)]
    trimmed["context"]["truncated"] = [*data["context"].get("truncated", []), *names]
    return trimmed


def _without(*keys: str) -> Cut:
    def cut(data: Data) -> bool:
        present = [key for key in keys if key in data["context"]]
        for key in present:
            del data["context"][key]
        return bool(present)
    return cut


def _changed(data: Data, key: str, value: Any) -> bool:
    changed: bool = data["context"].get(key) != value
    data["context"][key] = value
    return changed


def _clip_long(data: Data) -> bool:
    """A huge error message or cell should not cost the trend and the samples: first, bound every string."""
    changed = False
    for key, value in list(data["context"].items()):
        changed = _changed(data, key, _clipped(value, LONG_STRING)) or changed
    return changed


def _few_samples(data: Data) -> bool:
    """The first rows of each sample, each cell on one short line, as the text shows them."""
    rules = data["context"].get("failing_rules")
    if not isinstance(rules, list):
        return False
    return _changed(data, "failing_rules", [_few_rows(rule) for rule in rules])


def _few_rows(rule: Any) -> Any:
    if not isinstance(rule, dict) or not isinstance(rule.get("sample"), list):
        return rule
    rows = [{key: _short(value) for key, value in row.items()} if isinstance(row, dict) else _short(row)
            for row in rule["sample"][:SAMPLE_ROWS]]
    return {**rule, "sample": rows}


def _short(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float) else cell(value)


def _keep_scalars(data: Data) -> bool:
    """The last resort: what identifies the incident, every string short; bounded whatever came in."""
    context = {key: value for key, value in data["context"].items()
               if key in _CONTEXT_KEYS and not isinstance(value, dict | list)}
    data.update(_clipped({**data, "context": context}, SHORT_STRING))
    return True


def _clipped(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return clip(value, limit)
    if isinstance(value, dict):
        return {key: _clipped(item, limit) for key, item in value.items()}
    if isinstance(value, list):
        return [_clipped(item, limit) for item in value]
    return value


_CONTEXT_KEYS = frozenset(Context.__annotations__)
# Cut first to last until the request fits: the least needed part first.
_CUTS: list[tuple[str, Cut]] = [
    ("long_strings", _clip_long),
    ("samples", _few_samples),
    ("trend", _without("trend")),
    ("statements", _without("statements")),
    ("failing_rules", _without("failing_rules")),
    ("members", _without("members")),
    ("schema", _without("schema")),
    ("upstream", _without("upstream", "downstream")),
    ("details", _keep_scalars),
]


def _jsonable(value: Any) -> Any:
    """Plain JSON values only: no NaN (not JSON; None instead), no lone surrogates (not UTF-8), no other
    types (their str)."""
    if isinstance(value, str):
        return value if value.isascii() else value.encode("utf-8", "replace").decode()
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_jsonable(str(key)): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return _jsonable(str(value))
