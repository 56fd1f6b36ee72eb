"""The incident engine on the real state store (SQLite files and PostgreSQL): results in, incidents, events
and outbox rows out. Time is driven by the engine's `clock`; results carry explicit `started_at` times."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting import admin, records, tables
from alerting.engine import Alerting
from alerting.model import EventKind, Notification
from alerting.runtime import Notifier
from alerting.stats import AlertStats
from monitor.app.config import Config, load_config
from monitor.core.results import Outcome, Result
from monitor.state.store import StateStore

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
FACT, RAW, REPORT, CUSTOMERS = "fact_orders.volume", "raw_orders.volume", "report.volume", "customers.volume"
SOURCES = {"raw_orders": "wh", "fact_orders": "wh", "report": "wh", "customers": "crm"}

DATASETS = """\
  raw_orders:
    source: wh
    table: main.raw_orders
    owner: platform
    tags: [raw]
    checks:
      - volume: {min: 1}
      - freshness: {column: loaded_at, fail_after: 6h}
  fact_orders:
    source: wh
    table: main.fact_orders
    owner: sales
    severity: critical
    tags: [sales, tier1]
    upstream: [raw_orders]
    checks:
      - volume: {min: 1}
      - freshness: {column: loaded_at, fail_after: 6h}
  report:
    source: wh
    table: main.report
    severity: low
    upstream: [fact_orders]
    checks:
      - volume: {min: 1}
  customers:
    source: crm
    table: main.customers
    severity: medium
    checks:
      - volume: {min: 1}
"""
# Critical incidents page and go to the team; everything else goes to the team.
ROUTES = """\
    - match: {severity: critical}
      notify: [pager]
      continue: true
    - notify: [team]
"""
WARN_ROUTES = """\
    - match: {dataset: "fact_*", outcome: [warn, fail, error]}
      notify: [team]
    - notify: [team]
"""


SOURCES_YML = """\
  wh: {kind: sql, url: 'duckdb:///wh.duckdb'}
  crm: {kind: sql, url: 'duckdb:///crm.duckdb'}
"""


def write_config(
    directory: Path, routes: str = ROUTES, repeat_every: str = "1s", notify_resolved: bool = True,
    datasets: str = DATASETS, sources: str = SOURCES_YML, name: str = "demon.yml",
) -> Config:
    """A demon.yml as a user writes it, loaded the way demon loads it."""
    path = directory / name
    path.write_text(
        "version: 1\n"
        f"sources:\n{sources}"
        f"datasets:\n{datasets}"
        "alerting:\n  channels:\n"
        "    pager: {kind: webhook, url: 'http://127.0.0.1:9/pager'}\n"
        "    team: {kind: webhook, url: 'http://127.0.0.1:9/team'}\n"
        f"  routes:\n{routes}"
        f"  repeat_every: {repeat_every}\n"
        f"  notify_resolved: {str(notify_resolved).lower()}\n"
        f"state:\n  url: sqlite:///{directory / 'state.db'}\n"
    )
    return load_config(path)


def result(check: str, outcome: str, at: datetime, message: str = "") -> Result:
    dataset, kind = check.split(".")[:2]
    return Result(check=check, dataset=dataset, kind=kind, source=SOURCES[dataset], outcome=Outcome(outcome),
                  message=message or f"{check} is {outcome}", started_at=at, duration_seconds=0.01)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Clock:
    """The engine's clock, moved by the test."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def set(self, seconds: float) -> datetime:
        self.now = at(seconds)
        return self.now



@pytest.fixture
def config(tmp_path: Path) -> Config:
    return write_config(tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def rows(store: StateStore, table: sa.Table, *where: Any) -> list[dict[str, Any]]:
    with store.reading("test") as conn:
        query = sa.select(table).where(*where).order_by(table.c.id)
        return [dict(row) for row in conn.execute(query).mappings()]


def incidents(store: StateStore, *where: Any) -> list[dict[str, Any]]:
    return rows(store, tables.incidents, *where)


def the_open(store: StateStore, key: str) -> dict[str, Any]:
    found = incidents(store, tables.incidents.c.key == key, tables.incidents.c.resolved_at.is_(None))
    assert len(found) == 1, found
    return found[0]


def outbox(store: StateStore, *where: Any) -> list[dict[str, Any]]:
    return rows(store, tables.outbox, *where)


def sent_events(store: StateStore, incident_id: int) -> list[tuple[str, str, str]]:
    """(event, channel, state) of the incident's outbox rows, in order."""
    return [(row["event_kind"], row["channel"], row["state"])
            for row in outbox(store, tables.outbox.c.incident_id == incident_id)]


def event_kinds(store: StateStore, incident_id: int) -> list[str]:
    return [event["kind"] for event in rows(store, tables.incident_events,
                                            tables.incident_events.c.incident_id == incident_id)]


def observe(engine: Alerting, config: Config, batch: list[Result], down: dict[str, str] | None = None) -> int:
    """Apply a batch; returns the notifications it queued, counted in the outbox (the engine's own count is
    tested on its own, so a wrong count there does not hide the rest)."""
    with engine.store.reading("test") as conn:
        last = conn.execute(sa.select(sa.func.coalesce(sa.func.max(tables.outbox.c.id), 0))).scalar_one()
    engine.observe(config, batch, down or {})
    return len(outbox(engine.store, tables.outbox.c.id > last, tables.outbox.c.state == "pending"))


def notification(row: dict[str, Any]) -> Notification:
    return Notification.from_dict(row["payload"])


# --- one check's incident ------------------------------------------------------------------------------


def test_open_unchanged_repeat_change_resolve(store: StateStore, config: Config, clock: Clock) -> None:
    engine = Alerting(store, clock)
    assert observe(engine, config, [result(FACT, "fail", at(0))]) == 2
    incident = the_open(store, FACT)
    assert (incident["severity"], incident["outcome"], incident["title"]) == ("critical", "fail",
                                                                               "fact_orders.volume failed")
    assert [(r["channel"], r["state"], r["idempotency_key"]) for r in outbox(store)] == [
        ("pager", "pending", f"{incident['id']}:1:pager"), ("team", "pending", f"{incident['id']}:1:team")]
    opened = notification(outbox(store)[0])
    assert (opened.event, opened.incident, opened.incident_key, opened.outcome) == (
        EventKind.OPENED, incident["id"], FACT, "fail")
    assert opened.root is None and opened.opened_at == "2024-05-01T10:00:00Z"

    clock.set(0.5)  # still failing, too early to repeat: the incident takes the result, nobody is told
    assert observe(engine, config, [result(FACT, "fail", at(0.5))]) == 0
    assert len(outbox(store)) == 2 and event_kinds(store, incident["id"]) == ["opened"]
    assert the_open(store, FACT)["last_result_at"] == at(0.5)

    clock.set(1.5)  # repeat_every (1s) after the last notification
    assert observe(engine, config, [result(FACT, "fail", at(1.5))]) == 2
    clock.set(1.7)  # and not again right after
    assert observe(engine, config, [result(FACT, "fail", at(1.7))]) == 0

    clock.set(2)
    assert observe(engine, config, [result(FACT, "error", at(2))]) == 2
    changed = notification(outbox(store)[-1])
    assert (changed.event, changed.outcome, changed.previous_outcome) == (EventKind.CHANGED, "error", "fail")
    assert changed.title == "fact_orders.volume errored"

    clock.set(3)
    assert observe(engine, config, [result(FACT, "pass", at(3))]) == 2
    resolved = incidents(store)[0]
    assert resolved["resolved_at"] == at(3) and resolved["outcome"] == "pass"
    assert event_kinds(store, incident["id"]) == ["opened", "repeated", "changed", "resolved"]
    assert notification(outbox(store)[-1]).event is EventKind.RESOLVED
    # the unsent repeats were overtaken by the change: skipped, not sent after it
    assert sent_events(store, incident["id"]) == [
        ("opened", "pager", "pending"), ("opened", "team", "pending"),
        ("repeated", "pager", "skipped"), ("repeated", "team", "skipped"),
        ("changed", "pager", "pending"), ("changed", "team", "pending"),
        ("resolved", "pager", "pending"), ("resolved", "team", "pending"),
    ]
    assert len({row["idempotency_key"] for row in outbox(store)}) == 8

    clock.set(4)  # failing again is a new incident
    assert observe(engine, config, [result(FACT, "fail", at(4))]) == 2
    assert the_open(store, FACT)["id"] != incident["id"]


def test_observe_says_what_it_queued_and_wakes_the_deliverer(
    store: StateStore, config: Config, clock: Clock
) -> None:
    """What it says decides whether the daemon wakes its deliverer and recounts /metrics at once."""
    woken: list[int] = []
    engine = Alerting(store, clock, on_queued=lambda: woken.append(1))
    observed = engine.observe(config, [result(FACT, "fail", at(0))], {})
    assert observed.queued == [row["idempotency_key"] for row in outbox(store)] and len(observed.queued) == 2
    assert observed.events == 1 and woken == [1]
    again = engine.observe(config, [result(FACT, "fail", at(0))], {})  # already applied
    assert (again.events, again.queued) == (0, [])
    clock.set(5)
    admin.silence(store, RAW, 60, "deploy", "alice", clock())
    silenced = engine.observe(config, [result(RAW, "fail", at(5))], {})
    assert (silenced.events, silenced.queued) == (1, [])  # written, but suppressed
    assert woken == [1] and len(outbox(store)) == 3


def test_routes_decide_the_channels_of_each_incident(lite: StateStore, config: Config, clock: Clock) -> None:
    engine = Alerting(lite, clock)
    observe(engine, config, [result(RAW, "fail", at(0)), result(CUSTOMERS, "error", at(0))])
    assert sorted((n.incident_key, n.channel) for n in map(notification, outbox(lite))) == [
        (CUSTOMERS, "team"), (RAW, "team")]


def test_a_resolution_is_recorded_but_not_sent_when_notify_resolved_is_off(
    lite: StateStore, tmp_path: Path, clock: Clock
) -> None:
    config = write_config(tmp_path, notify_resolved=False, repeat_every="4h")
    engine = Alerting(lite, clock)
    observe(engine, config, [result(RAW, "fail", at(0))])
    clock.set(10)
    assert observe(engine, config, [result(RAW, "pass", at(10))]) == 0
    incident = incidents(lite)[0]
    assert incident["resolved_at"] == at(10)
    assert event_kinds(lite, incident["id"]) == ["opened", "resolved"]
    assert sent_events(lite, incident["id"]) == [("opened", "team", "pending")]
    assert incident["last_notified_at"] == at(0)


def test_warnings_open_nothing_unless_a_route_asks(lite: StateStore, tmp_path: Path, clock: Clock) -> None:
    engine = Alerting(lite, clock)
    assert observe(engine, write_config(tmp_path), [result(FACT, "warn", at(0))]) == 0
    assert incidents(lite) == []
    asking = write_config(tmp_path, routes=WARN_ROUTES, name="warn.yml")
    assert observe(engine, asking, [result(RAW, "warn", at(1))]) == 0  # the warn route is for fact_* only
    assert observe(engine, asking, [result(FACT, "warn", at(1))]) == 1
    incident = the_open(lite, FACT)
    assert incident["outcome"] == "warn" and incident["title"] == "fact_orders.volume warns"
    assert [n.channel for n in map(notification, outbox(lite))] == ["team"]


def test_fail_to_warn_resolves_unless_a_route_wants_warnings(
    lite: StateStore, tmp_path: Path, clock: Clock
) -> None:
    engine = Alerting(lite, clock)
    plain, asking = write_config(tmp_path), write_config(tmp_path, routes=WARN_ROUTES, name="warn.yml")
    observe(engine, plain, [result(FACT, "fail", at(0)), result(RAW, "fail", at(0))])
    observe(engine, plain, [result(FACT, "warn", at(1))])
    assert incidents(lite, tables.incidents.c.key == FACT)[0]["outcome"] == "warn"
    assert incidents(lite, tables.incidents.c.key == FACT)[0]["resolved_at"] is not None

    observe(engine, asking, [result(FACT, "fail", at(2))])
    observe(engine, asking, [result(FACT, "warn", at(3))])
    incident = the_open(lite, FACT)
    assert incident["outcome"] == "warn"
    assert event_kinds(lite, incident["id"]) == ["opened", "changed"]
    last = notification(outbox(lite)[-1])
    assert (last.event, last.previous_outcome, last.channel) == (EventKind.CHANGED, "fail", "team")


def test_observing_the_same_results_again_changes_nothing(
    store: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(store, clock)
    batch = [result(FACT, "fail", at(0)), result(RAW, "fail", at(0)), result(CUSTOMERS, "pass", at(0))]
    assert observe(engine, config, batch) == 3
    before = (incidents(store), outbox(store), rows(store, tables.incident_events))
    clock.set(3600)  # long past repeat_every: a re-observed result is still not a new one
    assert observe(engine, config, batch) == 0
    assert (incidents(store), outbox(store), rows(store, tables.incident_events)) == before


def test_older_results_are_ignored(lite: StateStore, config: Config, clock: Clock) -> None:
    engine = Alerting(lite, clock)
    observe(engine, config, [result(FACT, "fail", at(10))])
    clock.set(20)
    assert observe(engine, config, [result(FACT, "pass", at(5))]) == 0
    assert observe(engine, config, [result(FACT, "error", at(10))]) == 0
    assert the_open(lite, FACT)["outcome"] == "fail"
    assert len(outbox(lite)) == 2


def test_a_result_older_than_the_resolution_does_not_reopen(
    lite: StateStore, config: Config, clock: Clock
) -> None:
    """`demon check --notify` may finish a slow run after the daemon resolved the incident from a newer run:
    its older failure must not open the incident again (nor must re-observing an applied batch)."""
    engine = Alerting(lite, clock)
    observe(engine, config, [result(FACT, "fail", at(0))])
    clock.set(20)
    observe(engine, config, [result(FACT, "pass", at(20))])
    clock.set(30)
    assert observe(engine, config, [result(FACT, "fail", at(10))]) == 0
    assert observe(engine, config, [result(FACT, "fail", at(0))]) == 0
    assert len(incidents(lite)) == 1 and incidents(lite)[0]["resolved_at"] == at(20)


def test_nothing_is_written_while_all_is_well(lite: StateStore, config: Config, clock: Clock) -> None:
    engine = Alerting(lite, clock)
    assert observe(engine, config, []) == 0
    assert observe(engine, config, [result(FACT, "pass", at(0)), result(RAW, "warn", at(0))]) == 0
    assert incidents(lite) == [] and rows(lite, tables.incident_events) == []


# --- source down ---------------------------------------------------------------------------------------


def test_a_source_down_is_one_incident_with_its_members(
    store: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(store, clock)
    observe(engine, config, [result(RAW, "fail", at(0))])  # open before the source went down
    down = {"wh": "connection refused"}
    batch = [result(check, "error", at(10)) for check in (FACT, RAW, REPORT, "fact_orders.freshness")]
    clock.set(10)
    assert observe(engine, config, [*batch, result(CUSTOMERS, "error", at(10))], down) == 3
    source = the_open(store, "source:wh")
    assert source["context"]["members"] == sorted([FACT, "fact_orders.freshness", RAW, REPORT])
    assert (source["severity"], source["outcome"], source["check_id"]) == ("critical", "error", None)
    assert source["title"] == "source wh is unreachable"
    paged = outbox(store, tables.outbox.c.incident_id == source["id"])
    assert sorted(row["channel"] for row in paged) == ["pager", "team"]  # the union of its datasets' routes
    assert {i["key"] for i in incidents(store, tables.incidents.c.resolved_at.is_(None))} == {
        "source:wh", RAW, CUSTOMERS}  # crm was not down: its error is its own incident
    assert the_open(store, RAW)["outcome"] == "fail"  # left as it was, not changed to error

    clock.set(10.5)  # still down: no new incident, no page
    assert observe(engine, config, [result(FACT, "error", at(10.5))], down) == 0

    clock.set(20)  # the source answers: its incident resolves, checks are judged on their own again
    back = [result(FACT, "pass", at(20)), result(RAW, "pass", at(20)), result(REPORT, "fail", at(20))]
    assert observe(engine, config, back) == 2 + 1 + 1  # source resolved, raw resolved, report opened
    assert incidents(store, tables.incidents.c.key == "source:wh")[0]["resolved_at"] == at(20)
    assert event_kinds(store, source["id"]) == ["opened", "resolved"]
    still = {i["key"] for i in incidents(store, tables.incidents.c.resolved_at.is_(None))}
    assert still == {CUSTOMERS, REPORT}


def test_a_source_down_repeats_with_every_member_seen(lite: StateStore, config: Config, clock: Clock) -> None:
    engine = Alerting(lite, clock)
    down = {"wh": "timeout"}
    observe(engine, config, [result(RAW, "error", at(0))], down)
    source = the_open(lite, "source:wh")
    assert source["context"]["members"] == [RAW] and source["severity"] == "high"
    assert [n.channel for n in map(notification, outbox(lite))] == ["team"]
    clock.set(5)
    assert observe(engine, config, [result(FACT, "error", at(5))], down) == 2  # a repeat, now paging too
    assert the_open(lite, "source:wh")["context"]["members"] == [FACT, RAW]
    assert event_kinds(lite, source["id"]) == ["opened", "repeated"]


# --- upstream grouping ---------------------------------------------------------------------------------


def test_upstream_first_in_one_batch_becomes_the_root_cause(
    store: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(store, clock)
    observe(engine, config, [result(FACT, "fail", at(0)), result(RAW, "fail", at(0))])  # downstream first
    raw, fact = the_open(store, RAW), the_open(store, FACT)
    assert raw["id"] < fact["id"]  # applied upstream first
    assert (raw["root_id"], fact["root_id"]) == (None, raw["id"])
    for row in outbox(store, tables.outbox.c.incident_id == fact["id"]):
        root = notification(row).root
        assert root is not None
        assert (root.incident, root.key, root.title) == (raw["id"], RAW, "raw_orders.volume failed")
    raw_rows = outbox(store, tables.outbox.c.incident_id == raw["id"])
    assert raw_rows and all(notification(row).root is None for row in raw_rows)


def test_an_upstream_opening_later_adopts_its_downstream(
    store: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(store, clock)
    observe(engine, config, [result(FACT, "fail", at(0))])
    clock.set(5)
    assert observe(engine, config, [result(RAW, "fail", at(5))]) == 1  # raw's own page only
    raw, fact = the_open(store, RAW), the_open(store, FACT)
    assert fact["root_id"] == raw["id"]
    assert raw["context"]["downstream"] == ["fact_orders"]
    assert notification(outbox(store, tables.outbox.c.incident_id == raw["id"])[0]).context["downstream"] == [
        "fact_orders"]
    assert len(outbox(store, tables.outbox.c.incident_id == fact["id"])) == 2  # no extra page for fact


def test_the_root_cause_is_chased_to_the_first_cause(lite: StateStore, config: Config, clock: Clock) -> None:
    engine = Alerting(lite, clock)
    observe(engine, config, [result(RAW, "fail", at(0))])
    observe(engine, config, [result(FACT, "fail", at(1))])
    observe(engine, config, [result(REPORT, "fail", at(2))])
    raw = the_open(lite, RAW)
    assert the_open(lite, FACT)["root_id"] == raw["id"]
    assert the_open(lite, REPORT)["root_id"] == raw["id"]  # not fact's: fact follows raw
    root = notification(outbox(lite, tables.outbox.c.incident_id == the_open(lite, REPORT)["id"])[0]).root
    assert root is not None and root.key == RAW


def test_a_resolved_first_cause_is_not_the_root(lite: StateStore, config: Config, clock: Clock) -> None:
    engine = Alerting(lite, clock)
    observe(engine, config, [result(RAW, "fail", at(0))])
    observe(engine, config, [result(FACT, "fail", at(1))])
    observe(engine, config, [result(RAW, "pass", at(2))])
    observe(engine, config, [result(REPORT, "fail", at(3))])
    assert the_open(lite, REPORT)["root_id"] == the_open(lite, FACT)["id"]


def test_a_downstream_of_a_down_source_points_at_the_source_incident(
    lite: StateStore, tmp_path: Path, clock: Clock
) -> None:
    datasets = DATASETS.replace("    upstream: [fact_orders]\n", "    upstream: [customers]\n")
    config = write_config(tmp_path, datasets=datasets, name="crm.yml")
    engine = Alerting(lite, clock)
    observe(engine, config, [result(CUSTOMERS, "error", at(0))], {"crm": "refused"})
    observe(engine, config, [result(REPORT, "fail", at(1))])
    assert the_open(lite, REPORT)["root_id"] == the_open(lite, "source:crm")["id"]


# --- silences and acks ---------------------------------------------------------------------------------


def test_a_silence_suppresses_what_it_covers(store: StateStore, config: Config, clock: Clock) -> None:
    engine = Alerting(store, clock)
    admin.silence(store, "fact_*", 3600, "maintenance", "alice", clock())
    admin.silence(store, "source:crm", 3600, "migration", "alice", clock())
    assert observe(engine, config, [result(FACT, "fail", at(0)), result(RAW, "fail", at(0))]) == 1
    assert observe(engine, config, [result(CUSTOMERS, "error", at(0))], {"crm": "refused"}) == 0
    states = {(n.incident_key, n.channel): row["state"] for row in outbox(store) for n in [notification(row)]}
    assert states == {(FACT, "pager"): "suppressed", (FACT, "team"): "suppressed", (RAW, "team"): "pending",
                      ("source:crm", "team"): "suppressed"}
    clock.set(10)
    observe(engine, config, [result(FACT, "pass", at(10))])
    assert {row["state"] for row in outbox(store, tables.outbox.c.event_kind == "resolved")} == {"suppressed"}
    listed = {item["key"]: item for item in admin.listing(store, clock(), timedelta(days=1), open_only=False)}
    assert listed[RAW]["state"] == "open" and listed[RAW]["silenced_by"] == []
    assert listed["source:crm"]["state"] == "silenced"


def test_an_expired_or_ended_silence_suppresses_nothing(
    lite: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(lite, clock)
    admin.silence(lite, FACT, 60, "short", "alice", clock())
    ended = admin.silence(lite, RAW, 3600, "long", "alice", clock())
    admin.unsilence(lite, ended, clock())
    with pytest.raises(admin.IncidentError):
        admin.unsilence(lite, ended, clock())
    clock.set(61)
    assert observe(engine, config, [result(FACT, "fail", at(61)), result(RAW, "fail", at(61))]) == 3
    assert {row["state"] for row in outbox(lite)} == {"pending"}


def test_an_incident_still_open_when_its_silence_ends_is_notified_once(
    lite: StateStore, tmp_path: Path, clock: Clock
) -> None:
    """alerting.md: "if the incident is still open when the silence ends, one notification goes out"."""
    config = write_config(tmp_path, repeat_every="4h")
    engine = Alerting(lite, clock)
    admin.silence(lite, RAW, 60, "deploy", "alice", clock())
    observe(engine, config, [result(RAW, "fail", at(0))])
    assert [row["state"] for row in outbox(lite)] == ["suppressed"]
    clock.set(120)  # the silence is over, the incident is not; repeat_every (4h) is far off
    observe(engine, config, [result(RAW, "fail", at(120))])
    clock.set(180)
    observe(engine, config, [result(RAW, "fail", at(180))])
    assert [row["state"] for row in outbox(lite)] == ["suppressed", "pending"]


def test_ack_stops_repeats_but_not_changes_or_the_resolution(
    store: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(store, clock)
    observe(engine, config, [result(RAW, "fail", at(0))])
    incident = the_open(store, RAW)
    acked = admin.ack(store, incident["id"], "bob", "on it", clock())
    assert acked.incident.id == incident["id"] and acked.queued == []  # no channel acknowledges
    assert the_open(store, RAW)["acked_by"] == "bob"
    for second in (5, 10, 15):
        clock.set(second)
        assert observe(engine, config, [result(RAW, "fail", at(second))]) == 0
    clock.set(20)
    assert observe(engine, config, [result(RAW, "error", at(20))]) == 1
    clock.set(30)
    assert observe(engine, config, [result(RAW, "error", at(30))]) == 0  # still acked
    clock.set(40)
    assert observe(engine, config, [result(RAW, "pass", at(40))]) == 1
    assert event_kinds(store, incident["id"]) == ["opened", "acked", "changed", "resolved"]
    with pytest.raises(admin.IncidentError, match="resolved"):
        admin.ack(store, incident["id"], "bob", "", clock())
    with pytest.raises(admin.IncidentError, match="no incident"):
        admin.ack(store, 999_999, "bob", "", clock())


# --- config reloads, pruning, metrics ------------------------------------------------------------------


def test_removed_checks_and_sources_resolve_silently(lite: StateStore, tmp_path: Path, clock: Clock) -> None:
    config = write_config(tmp_path)
    engine = Alerting(lite, clock)
    observe(engine, config, [result(FACT, "fail", at(0)), result(RAW, "fail", at(0))])
    observe(engine, config, [result(CUSTOMERS, "error", at(0))], {"crm": "refused"})
    queued = len(outbox(lite))
    smaller = """\
  raw_orders:
    source: wh
    table: main.raw_orders
    checks:
      - volume: {min: 1}
  fact_orders:
    source: wh
    table: main.fact_orders
    checks:
      - freshness: {column: loaded_at, fail_after: 6h}
"""
    without_crm = SOURCES_YML.split("  crm")[0]
    reloaded = write_config(tmp_path, datasets=smaller, sources=without_crm, name="small.yml")
    clock.set(10)
    assert engine.retain(reloaded) == 2
    assert {i["key"] for i in incidents(lite, tables.incidents.c.resolved_at.is_(None))} == {RAW}
    assert len(outbox(lite)) == queued
    for key in (FACT, "source:crm"):
        removed = incidents(lite, tables.incidents.c.key == key)[0]
        assert removed["resolved_at"] == at(10) and event_kinds(lite, removed["id"]) == ["opened", "resolved"]
    assert engine.retain(reloaded) == 0
    # A run that began before the reload ends after it: its removed check opens nothing again.
    assert observe(engine, reloaded, [result(FACT, "fail", at(5)), result(FACT, "fail", at(11))]) == 0
    assert not incidents(lite, tables.incidents.c.key == FACT, tables.incidents.c.resolved_at.is_(None))


def test_prune_removes_old_resolved_incidents_with_their_rows(
    store: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(store, clock)
    observe(engine, config, [result(RAW, "fail", at(0)), result(FACT, "fail", at(0))])
    raw, fact = the_open(store, RAW), the_open(store, FACT)
    with store.transaction("test") as conn:
        ref = {"channel": "C1", "ts": "1.0", "incident": str(raw["id"])}
        records.save_thread(conn, raw["id"], "slack", ref)
    admin.silence(store, "nothing", 1, "old", "alice", clock())
    clock.set(100)
    observe(engine, config, [result(RAW, "pass", at(100))])
    with store.transaction("test") as conn:
        assert records.prune(conn, at(100)) == 0  # resolved at 100, not before
    Notifier(config, store).housekeeping(at(101))
    assert [i["key"] for i in incidents(store)] == [FACT]
    assert the_open(store, FACT)["root_id"] is None  # its root cause is gone
    assert {row["incident_id"] for row in outbox(store)} == {fact["id"]}
    assert {e["incident_id"] for e in rows(store, tables.incident_events)} == {fact["id"]}
    with store.reading("test") as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.incident_threads)).scalar() == 0
    assert rows(store, tables.silences) == []


def test_open_incidents_are_counted_per_severity(store: StateStore, config: Config, clock: Clock) -> None:
    engine, stats = Alerting(store, clock), AlertStats()
    stats.refresh(store)
    assert stats.snapshot().open_incidents == {}
    observe(engine, config, [result(check, "fail", at(0)) for check in (FACT, RAW, REPORT)])
    stats.refresh(store)
    snapshot = stats.snapshot()
    assert snapshot.open_incidents == {"critical": 1, "high": 1, "low": 1}
    assert snapshot.pending == {"pager": 1, "team": 3}
    observe(engine, config, [result(FACT, "pass", at(1)), result(RAW, "pass", at(1))])
    stats.refresh(store)
    assert stats.snapshot().open_incidents == {"low": 1}
    assert snapshot.open_incidents == {"critical": 1, "high": 1, "low": 1}  # a snapshot is a copy


# --- properties ----------------------------------------------------------------------------------------

STEP = st.tuples(
    st.sampled_from(["pass", "warn", "fail", "error"]),
    st.sampled_from(["pass", "warn", "fail", "error"]),
    st.booleans(),  # the source is down: both checks error, folded into source:wh
    st.sampled_from([0.0, 0.4, 1.0, 2.5]),  # seconds to the next run (0: a re-delivered batch)
)


def _wipe(store: StateStore) -> None:
    with store.transaction("wipe") as conn:
        for table in (tables.outbox, tables.incident_threads, tables.incident_events, tables.incidents,
                      tables.silences):
            conn.execute(sa.delete(table))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=12))
def test_incidents_follow_the_outcomes(
    lite: StateStore, config: Config, steps: list[tuple[str, str, bool, float]]
) -> None:
    """Never two open incidents for a key; each opened at most once resolved, and nothing after that; a
    check's incident is open exactly while its latest outcome alerts (a down source's errors leave it be)."""
    _wipe(lite)
    clock = Clock()
    engine = Alerting(lite, clock)
    seconds, alerting = 0.0, {RAW: False, FACT: False, "source:wh": False}
    batch: list[Result] = []
    down: dict[str, str] = {}
    for raw, fact, is_down, gap in steps:
        if gap or not batch:  # a new run; else the last batch is delivered again, and changes nothing
            seconds += gap
            outcomes = {RAW: "error", FACT: "error"} if is_down else {RAW: raw, FACT: fact}
            batch = [result(check, outcome, at(seconds)) for check, outcome in outcomes.items()]
            down = {"wh": "refused"} if is_down else {}
            alerting["source:wh"] = is_down
            if not is_down:
                alerting.update({check: outcome in ("fail", "error") for check, outcome in outcomes.items()})
        clock.set(seconds)
        engine.observe(config, batch, down)
        opened = Counter(i["key"] for i in incidents(lite) if i["resolved_at"] is None)
        assert all(count == 1 for count in opened.values()), opened
        assert {key for key, wanted in alerting.items() if wanted} == set(opened)
    for incident in incidents(lite):
        kinds = event_kinds(lite, incident["id"])
        assert kinds[0] == "opened" and kinds.count("opened") == 1
        assert kinds.count("resolved") <= 1 and "resolved" not in kinds[:-1]
        assert (kinds[-1] == "resolved") == (incident["resolved_at"] is not None)
        notified = Counter((row["event_kind"], row["channel"])
                           for row in outbox(lite, tables.outbox.c.incident_id == incident["id"]))
        assert all(notified[("opened", channel)] == 1 for channel in ("pager", "team")
                   if ("opened", channel) in notified)
        assert all(count == 1 for (kind, _), count in notified.items() if kind == "resolved")


# --- two processes -------------------------------------------------------------------------------------


def test_two_stores_observing_the_same_results_at_once_open_one_incident(
    state_url: str, tmp_path: Path, config: Config
) -> None:
    """The daemon and `demon check --notify` (two engines on one database) see the same failure."""
    stores = [StateStore.open(state_url, tmp_path) for _ in range(2)]
    try:
        for round_ in range(6):
            seconds = 10.0 * round_
            outcome = "fail" if round_ % 2 == 0 else "pass"
            batch = [result(check, outcome, at(seconds)) for check in (FACT, RAW, CUSTOMERS)]
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def run(store: StateStore, batch: list[Result] = batch, seconds: float = seconds,
                    barrier: threading.Barrier = barrier, errors: list[BaseException] = errors) -> None:
                engine = Alerting(store, lambda: at(seconds))
                barrier.wait()
                try:
                    engine.observe(config, batch, {})
                except BaseException as exc:  # reported below, in the test's thread
                    errors.append(exc)

            threads = [threading.Thread(target=run, args=(store,)) for store in stores]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert errors == []
        found = incidents(stores[0])
        assert Counter(i["key"] for i in found) == {FACT: 3, RAW: 3, CUSTOMERS: 3}
        assert all(i["resolved_at"] is not None for i in found)
        for incident in found:
            assert event_kinds(stores[0], incident["id"]) == ["opened", "resolved"]
            per_channel = Counter((row["event_kind"], row["channel"])
                                  for row in outbox(stores[0], tables.outbox.c.incident_id == incident["id"]))
            assert set(per_channel.values()) == {1}, per_channel
    finally:
        for store in stores:
            store.close()
