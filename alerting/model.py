"""Plain data types of alerting: what a channel is told about one event of one incident.

A `Notification` is written to the outbox as JSON before any channel sees it, and rendered per channel at send
time, so everything in it is JSON-safe (strings, numbers, lists, dicts) and demon's own data, never a client.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, NotRequired, TypedDict


class EventKind(StrEnum):
    """Why a notification goes out: the incident opened, changed outcome, is still open, was acknowledged
    (`demon ack`: only channels that acknowledge hear it, see alerting/channels) or resolved."""

    OPENED = "opened"
    CHANGED = "changed"
    REPEATED = "repeated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Point(TypedDict):
    """One earlier result of the check, for the trend: when, its outcome and its value."""

    at: str
    outcome: str
    value: float | None


class Retyped(TypedDict):
    column: str
    before: str
    after: str


class SchemaChange(TypedDict):
    """Schema checks: the columns missing against the config or the last snapshot, new ones, retyped ones."""

    added: list[str]
    removed: list[str]
    retyped: list[Retyped]


class FailingRule(TypedDict):
    """Quality checks: one failing rule, how many rows fail it and a sample (never `pii_columns`)."""

    rule: str
    column: str | None
    failing_rows: int
    failing_pct: float | None  # a fraction of the rows it ran over (0.01 is 1%), as `*_failing_pct` are
    sample: list[dict[str, Any]]
    query: NotRequired[str]  # a short statement showing its failing rows, where the warehouse counted them


class Upstream(TypedDict):
    """A declared upstream dataset and its current state: `failing` names its failing checks."""

    dataset: str
    outcome: str  # worst latest outcome of its checks, or "unknown" before any ran
    failing: list[str]
    incident: int | None  # its open incident, when there is one


class Learned(TypedDict):
    """What a learned baseline expected, and from what: its thresholds are in `thresholds` (expected_*)."""

    slot: str
    trained: str  # "8 Mondays"


class Member(TypedDict):
    """Another incident told in the same notification: a check of the same dataset whose event came in the
    same run (what breaks together is told together). No outbox row of its own is written: this one carries
    it."""

    incident: int
    key: str
    event: str  # an EventKind's value
    outcome: str
    title: str
    headline: str | None  # what is wrong, in words (alerting/headline.py)
    message: str
    query: str | None  # a statement a person can paste and run to see it
    root: NotRequired[str | None]  # the title of its probable root cause, when an upstream explains it


class Context(TypedDict, total=False):
    """The root-cause context: everything a responder needs, in one place. Keys are absent when unknown."""

    check: str
    headline: str  # what is wrong, in words: "8 duplicated order lines in fact_orders" (alerting/headline.py)
    dataset: str
    kind: str
    source: str
    outcome: str
    message: str
    value: float | None
    unit: str | None
    thresholds: dict[str, float]
    trend: list[Point]  # newest first
    last_passed_at: str | None
    schema: SchemaChange
    failing_rules: list[FailingRule]
    upstream: list[Upstream]
    downstream: list[str]  # datasets declaring this one upstream whose checks fail too
    members: list[str]  # a source incident: the checks that could not run
    reason: str  # a folded incident: the reason its checks could not run (monitor.core.failures.Reason)
    statements: list[str]
    query: str | None  # a short statement a person can paste and run: the failing rows, the count, ...
    owner: str | None
    tags: list[str]
    description: str | None
    runbook: str | None
    dashboard_url: str | None
    learned: Learned  # a learned baseline's band: what trained it
    truncated: list[str]  # what a renderer had to cut, said in the message ("samples", "trend", ...)


@dataclass(frozen=True)
class RootCause:
    """The probable root cause of a downstream incident: the open incident of one of its upstreams whose
    failure could cause this one (alerting/causes.py); an upstream that merely fails too is only listed in
    the context's `upstream`, as "also failing"."""

    incident: int
    key: str
    title: str
    dataset: str | None = None  # None for a source's incident

    def incident_of(self, upstream: Upstream) -> bool:
        """Whether the upstream's failure is this root cause (its incident may have opened in the same run,
        after the context was read: the dataset tells)."""
        same = self.dataset is not None and upstream["dataset"] == self.dataset
        return same or upstream["incident"] == self.incident


@dataclass(frozen=True)
class Notification:
    """One event of one incident for one channel, as stored in the outbox.

    `key` is unique per (incident, event, channel): the idempotency key a channel passes on where it can
    (SNS FIFO deduplication id, webhook `Idempotency-Key`, Slack message metadata).
    """

    key: str
    channel: str
    incident: int
    incident_key: str  # the check id, or `source:NAME` for a source incident
    event: EventKind
    outcome: str  # the outcome now: "pass" once resolved
    severity: str
    title: str  # demon-made, e.g. "fact_orders.volume failed" (check ids are [A-Za-z0-9_.-])
    opened_at: str  # ISO 8601 UTC
    at: str  # when the event happened
    context: Context = field(default_factory=lambda: Context())
    root: RootCause | None = None
    previous_outcome: str | None = None  # on a change: the outcome before
    group: list[Member] = field(default_factory=list)  # the dataset's other incidents told with this one

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        root = data.get("root")
        fields = {**data, "event": EventKind(data["event"]), "root": RootCause(**root) if root else None}
        return cls(**fields)


@dataclass(frozen=True)
class Delivered:
    """A channel's answer to a sent notification: the reference later events of the incident thread on.

    For a Slack bot, the channel id and the root message's ts; None where a channel cannot thread.
    """

    thread: dict[str, str] | None = None


class Retry(Exception):
    """The channel may take it later: a rate limit (`after` = its Retry-After), a 5xx, a timeout, no route."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.after = reason, after


class Permanent(Exception):
    """The channel refuses it for good (bad token, missing channel or topic, invalid payload): not retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
