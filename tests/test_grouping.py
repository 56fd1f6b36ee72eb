"""Incidents an on-call engineer trusts, on the real state store (SQLite and PostgreSQL): what breaks together
is told together, a missing table or a source that is down is one incident, and an upstream failure is
called the probable root cause only when it could cause the failure below it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from alerting import admin, causes, tables
from alerting.engine import Alerting
from alerting.model import EventKind
from monitor.app.config import Config, load_config
from monitor.core.evidence import Drift, QualityReport, RuleResult, SchemaEvidence
from monitor.core.failures import Reason
from monitor.core.results import Result
from monitor.state.store import StateStore
from tests.httpserver import serving
from tests.pdserver import ROUTING_KEY, FakePagerDuty
from tests.test_delivery import deliverer, pump
from tests.test_incidents import (
    DATASETS,
    FACT,
    RAW,
    REPORT,
    SOURCES_YML,
    Clock,
    at,
    incidents,
    notification,
    observe,
    outbox,
    result,
    the_open,
    write_config,
)

TEAM_ONLY = "    - notify: [team]\n"
# fact_orders with a quality check too (its schema is never loaded: results are made here)
WITH_QUALITY = DATASETS.replace("""      - freshness: {column: loaded_at, fail_after: 6h}
  report:""", """      - freshness: {column: loaded_at, fail_after: 6h}
      - quality: {schema: fact_orders.yml}
  report:""")
FACT_FRESH, RAW_FRESH = "fact_orders.freshness", "raw_orders.freshness"
FACT_QUALITY, FACT_SCHEMA, RAW_SCHEMA = "fact_orders.quality", "fact_orders.schema", "raw_orders.schema"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    assert WITH_QUALITY != DATASETS
    return write_config(tmp_path, routes=TEAM_ONLY, repeat_every="1h", datasets=WITH_QUALITY)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def missing(check: str, seconds: float) -> Result:
    return replace(result(check, "error", at(seconds), f"table {check.split('.')[0]} not found"),
                   reason=Reason.MISSING)


def duplicates(seconds: float, column: str = "order_id") -> Result:
    rule = RuleResult(column=column, check="field_uniqueness", mode="in_warehouse", rows=100, failing=8)
    return replace(result(FACT_QUALITY, "fail", at(seconds)), evidence=QualityReport(rules=(rule,), rows=100))


def schema_change(check: str, seconds: float, removed: tuple[str, ...]) -> Result:
    evidence = SchemaEvidence(columns={}, drift=Drift(removed=removed))
    return replace(result(check, "fail", at(seconds)), evidence=evidence)


def root_of(store: StateStore, key: str) -> str | None:
    """The key of the incident's probable root cause, if it has one."""
    incident = the_open(store, key)
    if incident["root_id"] is None:
        return None
    [root] = incidents(store, tables.incidents.c.id == incident["root_id"])
    return str(root["key"])


# --- grouping ------------------------------------------------------------------------------------------


def test_a_datasets_failing_checks_are_one_notification_listing_them(
    store: StateStore, config: Config
) -> None:
    engine = Alerting(store, Clock())
    batch = [result(FACT, "fail", at(0)), result(FACT_FRESH, "fail", at(0)), duplicates(0)]
    assert observe(engine, config, batch) == 1
    assert len(incidents(store)) == 3  # each check keeps its own incident: acks, history, `demon incidents`
    [row] = outbox(store)
    told = notification(row)
    assert told.incident_key == FACT_FRESH  # ties on outcome: the first key leads
    assert sorted(member["key"] for member in told.group) == [FACT_QUALITY, FACT]
    assert {member["event"] for member in told.group} == {"opened"}
    assert all(member["incident"] != told.incident for member in told.group)


def test_datasets_are_told_apart_and_resolutions_apart_from_problems(
    store: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(store, clock)
    assert observe(engine, config, [result(FACT, "fail", at(0)), result(RAW, "fail", at(0)),
                                    result(RAW_FRESH, "fail", at(0))]) == 2
    clock.set(10)
    # raw_orders' checks both pass, fact_orders.volume turns to an error
    batch = [result(FACT, "error", at(10)), result(RAW, "pass", at(10)), result(RAW_FRESH, "pass", at(10))]
    assert observe(engine, config, batch) == 2  # the change, and both resolutions in one notification
    newest = [notification(row) for row in outbox(store)][-2:]
    kinds = sorted((n.event.value, n.incident_key, len(n.group)) for n in newest)
    assert kinds == [("changed", FACT, 0), ("resolved", RAW_FRESH, 1)]


def test_grouped_events_are_told_once_even_when_observed_again_by_a_new_engine(
    store: StateStore, config: Config, tmp_path: Path, state_url: str
) -> None:
    """A restarted daemon re-observes the last results: nothing is told twice, grouped or not."""
    batch = [result(FACT, "fail", at(0)), result(FACT_FRESH, "fail", at(0))]
    assert observe(Alerting(store, Clock()), config, batch) == 1
    with StateStore.open(state_url, tmp_path) as again:
        assert observe(Alerting(again, Clock()), config, batch) == 0
        later = Clock()
        later.set(5)
        assert observe(Alerting(again, later), config, [*batch, duplicates(5)]) == 1  # only the new one
    [_, second] = outbox(store)
    assert notification(second).incident_key == FACT_QUALITY and notification(second).group == []


# --- folding ---------------------------------------------------------------------------------------------


def test_a_dropped_table_is_one_incident_and_one_notification_and_blames_nobody(
    store: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(store, clock)
    observe(engine, config, [result(RAW, "fail", at(0))])  # upstream is short...
    clock.set(1)
    assert observe(engine, config, [missing(FACT, 1), missing(FACT_FRESH, 1)]) == 1  # ...fact_orders is gone
    dropped = the_open(store, "dataset:fact_orders")
    assert (dropped["title"], dropped["root_id"]) == ("fact_orders is missing", None)
    assert dropped["context"]["members"] == [FACT_FRESH, FACT]
    assert not incidents(store, tables.incidents.c.key.in_([FACT, FACT_FRESH]))
    told = notification(outbox(store)[-1])
    assert told.root is None and told.context["headline"] == "fact_orders is missing"
    assert told.context["owner"] == "sales"  # the dataset's context, not only the source's

    clock.set(2)  # the table is back: the incident resolves, nothing else opens
    assert observe(engine, config, [result(FACT, "pass", at(2)), result(FACT_FRESH, "pass", at(2))]) == 1
    assert not incidents(store, tables.incidents.c.key == "dataset:fact_orders",
                         tables.incidents.c.resolved_at.is_(None))


def test_one_erroring_check_or_errors_of_different_reasons_are_not_folded(
    store: StateStore, config: Config
) -> None:
    timeout = replace(result(FACT_FRESH, "error", at(0)), reason=Reason.TIMEOUT)
    observe(Alerting(store, Clock()), config, [missing(RAW, 0), missing(FACT, 0), timeout])
    assert sorted(i["key"] for i in incidents(store)) == [FACT_FRESH, FACT, RAW]


def test_a_source_down_is_one_incident_for_all_its_datasets(store: StateStore, config: Config) -> None:
    down = [replace(result(check, "error", at(0)), reason=Reason.UNREACHABLE)
            for check in (FACT, FACT_FRESH, RAW, REPORT)]
    assert observe(Alerting(store, Clock()), config, down, {"wh": "connection refused"}) == 1
    [incident] = incidents(store)
    assert incident["key"] == "source:wh" and len(incident["context"]["members"]) == 4


def test_a_silence_of_a_datasets_checks_covers_its_folded_incident(
    store: StateStore, config: Config, clock: Clock
) -> None:
    admin.silence(store, "fact_orders.*", 3600, "rebuilding", "alice", clock())
    assert observe(Alerting(store, clock), config, [missing(FACT, 0), missing(FACT_FRESH, 0)]) == 0
    assert [row["state"] for row in outbox(store)] == ["suppressed"]


# --- probable root causes --------------------------------------------------------------------------------


def test_upstream_volume_explains_downstream_volume_but_not_duplicates(
    store: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(store, clock)
    observe(engine, config, [result(RAW, "fail", at(0))])
    clock.set(1)
    observe(engine, config, [result(FACT, "fail", at(1)), duplicates(1)])
    assert root_of(store, FACT) == RAW
    assert root_of(store, FACT_QUALITY) is None
    # One notification for fact_orders, led by what nothing upstream explains; its volume follows raw_orders.
    told = notification(outbox(store)[-1])
    assert told.incident_key == FACT_QUALITY and told.root is None
    assert [(member["key"], member["root"]) for member in told.group] == [(FACT, "raw_orders.volume failed")]
    [upstream] = told.context["upstream"]  # the duplicates' context still shows raw_orders failing "too"
    assert (upstream["dataset"], upstream["incident"]) == ("raw_orders", the_open(store, RAW)["id"])


def test_a_downstream_opened_first_follows_its_upstream_only_when_explained(
    store: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(store, clock)
    observe(engine, config, [result(FACT, "fail", at(0)), duplicates(0)])
    clock.set(1)
    observe(engine, config, [result(RAW_FRESH, "fail", at(1))])
    assert root_of(store, FACT) == RAW_FRESH
    assert root_of(store, FACT_QUALITY) is None


def test_the_root_cause_chain_skips_an_unexplained_link(
    store: StateStore, config: Config, clock: Clock
) -> None:
    """report's volume follows fact_orders' volume, which follows raw_orders' volume; a failing rule in
    between explains nothing."""
    engine = Alerting(store, clock)
    observe(engine, config, [result(RAW, "fail", at(0))])
    clock.set(1)
    observe(engine, config, [duplicates(1), result(FACT, "fail", at(1))])
    clock.set(2)
    observe(engine, config, [result(REPORT, "fail", at(2))])
    assert root_of(store, REPORT) == RAW


@pytest.mark.parametrize("upstream", [
    replace(result(RAW, "error", at(0)), reason=Reason.STATEMENT),  # an upstream check that cannot run
    replace(result(RAW, "fail", at(0), "18 rows, above max 10"), value=18.0, thresholds={"max": 10.0}),
])
def test_an_upstream_that_errors_or_grew_explains_no_short_data(
    store: StateStore, config: Config, clock: Clock, upstream: Result
) -> None:
    engine = Alerting(store, clock)
    observe(engine, config, [upstream])
    clock.set(1)
    observe(engine, config, [result(FACT, "fail", at(1))])
    assert root_of(store, FACT) is None


def test_a_missing_table_below_a_short_upstream_is_not_its_follow_up(
    store: StateStore, config: Config, clock: Clock
) -> None:
    engine = Alerting(store, clock)
    observe(engine, config, [missing(FACT, 0), missing(FACT_FRESH, 0)])
    clock.set(1)
    observe(engine, config, [result(RAW, "fail", at(1))])
    assert root_of(store, "dataset:fact_orders") is None


def test_an_upstream_schema_change_explains_rules_on_the_columns_it_changed_only(
    store: StateStore, tmp_path: Path, clock: Clock
) -> None:
    datasets = """\
  raw_orders:
    source: wh
    table: main.raw_orders
    checks:
      - schema: {}
  fact_orders:
    source: wh
    table: main.fact_orders
    upstream: [raw_orders]
    checks:
      - schema: {}
      - quality: {schema: fact_orders.yml}
"""
    config = write_config(tmp_path, routes=TEAM_ONLY, datasets=datasets, repeat_every="1h")
    engine = Alerting(store, clock)
    observe(engine, config, [schema_change(RAW_SCHEMA, 0, ("Order_ID",))])
    clock.set(1)
    observe(engine, config, [schema_change(FACT_SCHEMA, 1, ("order_id",)), duplicates(1)])
    assert root_of(store, FACT_SCHEMA) == RAW_SCHEMA
    assert root_of(store, FACT_QUALITY) == RAW_SCHEMA  # its rule is on the column raw_orders lost

    clock.set(2)
    observe(engine, config, [result(FACT_QUALITY, "pass", at(2))])
    clock.set(3)
    observe(engine, config, [duplicates(3, column="customer_id")])  # a column upstream did not touch
    assert root_of(store, FACT_QUALITY) is None


@pytest.mark.parametrize(("cause", "effect", "explained"), [
    (causes.Upstream(arrival=True, changed=frozenset()),
     causes.Downstream("volume", False, False, frozenset(), ""), True),
    (causes.Upstream(arrival=True, changed=frozenset()),
     causes.Downstream("volume", True, False, frozenset(), "timeout"), False),  # an error is not late data
    (causes.Upstream(arrival=True, changed=frozenset()),
     causes.Downstream("metric", False, False, frozenset(), ""), False),
    (causes.Upstream(arrival=False, changed=frozenset({"price"})),
     causes.Downstream("metric", True, False, frozenset(), 'column "price" does not exist'), True),
    (causes.Upstream(arrival=False, changed=frozenset({"price"})),
     causes.Downstream("metric", True, False, frozenset(), "column unit_price does not exist"), False),
    (causes.Upstream(arrival=False, changed=frozenset({"price"})),
     causes.Downstream("quality", False, False, frozenset({"price", "qty"}), ""), False),
    (causes.Upstream(arrival=True, changed=frozenset({"price"})),
     causes.Downstream(None, True, True, frozenset(), "price"), False),  # a missing table: never
    (causes.Upstream(arrival=True, changed=frozenset()),
     causes.Downstream("volume", False, False, frozenset(), "", grew=True), False),  # late is not more
    (causes.Upstream(arrival=False, changed=frozenset({"price"})),
     causes.Downstream("schema", False, False, frozenset(), "", changed=frozenset({"price"})), True),
    (causes.Upstream(arrival=False, changed=frozenset({"price"})),
     causes.Downstream("schema", False, False, frozenset(), "", changed=frozenset({"phone"})), False),
])
def test_what_explains_what(cause: causes.Upstream, effect: causes.Downstream, explained: bool) -> None:
    assert causes.explains(cause, effect) is explained


# --- holding follow-ups --------------------------------------------------------------------------------


@pytest.mark.parametrize("hold", ["ack", "silence"])
def test_acking_or_silencing_the_root_cause_holds_back_what_it_explains(
    store: StateStore, config: Config, clock: Clock, hold: str
) -> None:
    engine = Alerting(store, clock)
    observe(engine, config, [result(RAW, "fail", at(0))])
    raw = the_open(store, RAW)
    if hold == "ack":
        admin.ack(store, raw["id"], "bob", "reloading raw", clock())
    else:
        admin.silence(store, RAW, 3600, "reloading raw", "bob", clock())
    clock.set(1)
    assert observe(engine, config, [result(FACT, "fail", at(1)), duplicates(1)]) == 1
    told = notification(outbox(store)[-1])  # the duplicates, which raw_orders does not explain, are told
    assert told.incident_key == FACT_QUALITY and told.group == []
    held = outbox(store, tables.outbox.c.incident_id == the_open(store, FACT)["id"])
    assert [(row["event_kind"], row["state"]) for row in held] == [("opened", "suppressed")]
    clock.set(7200)  # held: no repeat either, while the root stays acknowledged or silenced
    assert observe(engine, config, [result(FACT, "fail", at(7200)), duplicates(7200)]) == 1
    repeated = notification(outbox(store)[-1])
    assert repeated.event is EventKind.REPEATED
    # the silence has ended: the held follow-up is due again, told with the other
    assert [member["key"] for member in repeated.group] == ([] if hold == "ack" else [FACT])


# --- PagerDuty ---------------------------------------------------------------------------------------------


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with serving(FakePagerDuty()) as server:
        yield server


def pager_config(tmp_path: Path, pd: FakePagerDuty, datasets: str = DATASETS) -> Config:
    """Only PagerDuty, which is told no resolution (`notify_resolved: false`)."""
    path = tmp_path / "demon.yml"
    path.write_text(
        f"version: 1\nsources:\n{SOURCES_YML}datasets:\n{datasets}alerting:\n  channels:\n"
        f"    oncall: {{kind: pagerduty, routing_key: {ROUTING_KEY}, url: '{pd.url}'}}\n"
        f"  notify_resolved: false\nstate:\n  url: sqlite:///{tmp_path / 'state.db'}\n")
    return load_config(path)


def test_pagerduty_gets_an_alert_per_incident_and_always_hears_its_end(
    store: StateStore, pd: FakePagerDuty, tmp_path: Path, clock: Clock
) -> None:
    """A pager's alert resolves as one: grouped, it would resolve while some of its group still fails."""
    config = pager_config(tmp_path, pd)
    engine, sender = Alerting(store, clock), deliverer(store, config, tmp_path, clock)
    observe(engine, config, [result(FACT, "fail", at(0)), result(FACT_FRESH, "fail", at(0)),
                             result(REPORT, "fail", at(0))])
    pump(sender, clock, "oncall")
    fact, fresh, report = (f"demon-{the_open(store, key)['id']}-{key}" for key in (FACT, FACT_FRESH, REPORT))
    assert sorted(event["dedup_key"] for event in pd.accepted()) == sorted([fact, fresh, report])

    clock.set(10)  # fact_orders.volume passes again: its alert resolves, though nobody else is told
    observe(engine, config, [result(FACT, "pass", at(10)), result(FACT_FRESH, "fail", at(10))])
    pump(sender, clock, "oncall")
    assert [pd.alert(key).status for key in (fact, fresh, report)] == ["resolved", "triggered", "triggered"]

    clock.set(20)  # report leaves the config: its alert resolves too
    Alerting(store, clock).retain(pager_config(tmp_path, pd, DATASETS.split("  report:")[0]))
    pump(sender, clock, "oncall")
    assert pd.alert(report).status == "resolved"
    assert [event["event_action"] for event in pd.accepted()].count("resolve") == 2


def test_pagerduty_hears_the_resolve_of_a_held_incident(
    store: StateStore, pd: FakePagerDuty, tmp_path: Path, clock: Clock
) -> None:
    config = pager_config(tmp_path, pd)
    engine, sender = Alerting(store, clock), deliverer(store, config, tmp_path, clock)
    observe(engine, config, [result(RAW, "fail", at(0))])
    clock.set(1)
    observe(engine, config, [result(FACT, "fail", at(1))])
    pump(sender, clock, "oncall")  # both told, before anyone acted
    raw, fact = (the_open(store, key) for key in (RAW, FACT))
    assert fact["root_id"] == raw["id"]
    admin.silence(store, "raw_orders.*", 3600, "reloading raw", "bob", clock())  # holds fact_orders too
    clock.set(2)
    observe(engine, config, [result(FACT, "pass", at(2))])
    pump(sender, clock, "oncall")
    assert pd.alert(f"demon-{fact['id']}-{FACT}").status == "resolved"
