"""PagerDuty (Events API v2) against a stand-in on 127.0.0.1 that checks events as PagerDuty does: the channel
alone, the outbox and `demon ack` on the real state stores (SQLite files and PostgreSQL), and `demon check
--notify`, `demon ack` and `demon run` on a DuckDB warehouse. Retries are driven through the clock."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting import admin, records
from alerting.channels import CHANNELS, ChannelEnv, acknowledging, open_channel
from alerting.channels.pagerduty import PagerDutyChannel
from alerting.channels.settings import PagerDutyChannelConfig
from alerting.delivery import Attempt
from alerting.engine import Alerting
from alerting.model import Context, Delivered, EventKind, Member, Notification, Permanent, Retry, RootCause
from alerting.render import pagerduty as render
from alerting.render.text import render_text
from monitor.app.config import Config, ConfigError, load_config
from monitor.core.redact import Redactor
from monitor.state.store import StateStore
from tests.daemon_support import wait_for
from tests.httpserver import serving
from tests.pdserver import ROUTING_KEY, FakePagerDuty, problems
from tests.test_alerting_daemon import (
    FAILING,
    PASSING,
    demon,
    events,
    incidents,
    make_config,
    outbox,
    set_rows,
    stop,
)
from tests.test_delivery import deliverer, pump
from tests.test_delivery import outbox as rows
from tests.test_incidents import DATASETS, FACT, RAW, SOURCES_YML, Clock, at, result
from tests.test_slack import _contexts as any_context

KEY_ENV = {"PD_ROUTING_KEY": ROUTING_KEY}


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with serving(FakePagerDuty()) as server:
        yield server


def channel(server: FakePagerDuty, routing_key: str = ROUTING_KEY, url: str = "") -> PagerDutyChannel:
    # model_construct: a key the config would refuse still reaches PagerDuty, to see what it answers
    config = PagerDutyChannelConfig.model_construct(kind="pagerduty", routing_key=routing_key,
                                                    url=url or server.url)
    opened = open_channel("oncall", config, ChannelEnv(Path(), Redactor(), timeout=30.0))
    assert isinstance(opened, PagerDutyChannel)
    return opened


CONTEXT = Context(
    check="orders.volume", dataset="orders", source="warehouse", kind="volume", outcome="fail",
    message="2 rows, below min 5", value=2.0, thresholds={"min": 5.0}, owner="sales", tags=["tier1"],
    runbook="https://wiki.example/runbooks/orders?x=1&y=2", dashboard_url="javascript:alert(1)",
    trend=[{"at": "2024-05-01T09:00:00Z", "outcome": "pass", "value": 10.0}],
)


def note(event: EventKind = EventKind.OPENED, severity: str = "high", outcome: str = "fail",
         context: Context = CONTEXT, incident_key: str = "orders.volume") -> Notification:
    return Notification(
        key=f"7:{event.value}:oncall", channel="oncall", incident=7, incident_key=incident_key, event=event,
        outcome="pass" if event is EventKind.RESOLVED else outcome, severity=severity,
        title="orders.volume failed", opened_at="2024-05-01T10:00:00Z", at="2024-05-01T10:05:00Z",
        context=context, root=RootCause(3, "raw.volume", "raw.volume failed"))


# --- the channel: one event per notification -------------------------------------------------------------


def test_a_trigger_carries_the_context_the_links_and_the_incidents_dedup_key(pd: FakePagerDuty) -> None:
    sent = note()
    assert channel(pd).send(sent, None) == Delivered(None)
    [request] = pd.requests
    assert request.status == 202 and request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("demon/")
    event = request.event
    assert (event["routing_key"], event["event_action"], event["dedup_key"]) == (
        ROUTING_KEY, "trigger", "demon-7-orders.volume")
    assert event["client"] == "demon"
    assert event["payload"] == {
        "summary": "orders.volume failed: 2 rows, below min 5", "source": "warehouse", "severity": "error",
        "timestamp": "2024-05-01T10:05:00Z", "component": "orders", "group": "sales", "class": "volume",
        "custom_details": {
            "text": render_text(sent, render.TEXT_CHARS), "incident": 7, "incident_key": "orders.volume",
            "event": "opened", "outcome": "fail", "opened_at": "2024-05-01T10:00:00Z",
            "root_cause": {"incident": 3, "title": "raw.volume failed"},
            "commands": ["demon ack 7", "demon silence 'orders.*' --for 2h --reason investigating"],
            "context": json.loads(json.dumps(CONTEXT)),
        },
    }
    # The runbook is a plain URL: a link. The dashboard is not: data, left in the details only.
    assert event["links"] == [{"href": "https://wiki.example/runbooks/orders?x=1&y=2", "text": "Runbook"}]
    assert pd.alert("demon-7-orders.volume").status == "triggered"


@pytest.mark.parametrize(("severity", "outcome", "expected"), [
    ("critical", "fail", "critical"), ("high", "error", "error"), ("medium", "fail", "warning"),
    ("low", "fail", "info"), ("critical", "warn", "warning"), ("low", "warn", "info"),
    ("unheard-of", "fail", "error"),
])
def test_severity_is_mapped_and_a_warning_never_pages_above_warning(
    pd: FakePagerDuty, severity: str, outcome: str, expected: str
) -> None:
    channel(pd).send(note(severity=severity, outcome=outcome), None)
    assert pd.accepted()[0]["payload"]["severity"] == expected


def test_acknowledge_and_resolve_reuse_the_dedup_key_and_carry_nothing_else(pd: FakePagerDuty) -> None:
    oncall = channel(pd)
    for event in (EventKind.OPENED, EventKind.CHANGED, EventKind.REPEATED):
        oncall.send(note(event), None)
    oncall.send(note(EventKind.ACKNOWLEDGED), None)
    assert pd.alert("demon-7-orders.volume").status == "acknowledged"
    oncall.send(note(EventKind.RESOLVED), None)
    accepted = pd.accepted()
    assert [e["event_action"] for e in accepted] == ["trigger"] * 3 + ["acknowledge", "resolve"]
    assert {e["dedup_key"] for e in accepted} == {"demon-7-orders.volume"}
    for event in accepted[3:]:
        assert event == {"routing_key": ROUTING_KEY, "event_action": event["event_action"],
                         "dedup_key": "demon-7-orders.volume"}
    alert = pd.alert("demon-7-orders.volume")
    assert alert.status == "resolved" and len(alert.events) == 5  # one alert: the triggers went into its log


def test_the_dedup_key_is_bounded_and_keeps_the_incident_id() -> None:
    long = note(incident_key="source:" + "x" * 400)
    assert len(render.dedup_key(long)) == 255 and render.dedup_key(long).startswith("demon-7-source:xxx")
    assert render.dedup_key(note(EventKind.RESOLVED)) == render.dedup_key(note())


@pytest.mark.parametrize(("status", "header", "after"), [
    (429, "30", 30.0), (429, None, None), (500, None, None), (502, None, None), (503, "5", 5.0)])
def test_rate_limits_and_server_errors_are_retried(
    pd: FakePagerDuty, status: int, header: str | None, after: float | None
) -> None:
    pd.then(status, {"status": "throttled"}, **({"Retry_After": header} if header else {}))
    with pytest.raises(Retry) as caught:
        channel(pd).send(note(), None)
    assert caught.value.after == after and f"HTTP {status}" in caught.value.reason
    assert caught.value.reason.startswith("pagerduty oncall: ")


def test_a_refusal_is_permanent_and_names_the_field(pd: FakePagerDuty) -> None:
    with pytest.raises(Permanent) as caught:  # the stand-in's own check, as PagerDuty's
        channel(pd, routing_key="too-short").send(note(), None)
    assert caught.value.reason == (
        "pagerduty oncall: HTTP 400 Bad Request: invalid event: Length of 'routing_key' is incorrect "
        "(should be 32 characters); 'routing_key' cannot contain non-alphanumeric characters.")
    pd.then(400, {"status": "invalid event", "message": "Event object is invalid",
                  "errors": ["'payload.summary' is missing or blank"]})
    with pytest.raises(Permanent, match=r"HTTP 400 Bad Request: invalid event: 'payload.summary' is missing"):
        channel(pd).send(note(), None)
    pd.then(404, "<html>no such page</html>")
    with pytest.raises(Permanent, match="HTTP 404 Not Found: <html>no such page</html>"):
        channel(pd).send(note(), None)


def test_the_routing_key_never_reaches_a_reason(pd: FakePagerDuty) -> None:
    """The answer echoes the key and the URL's password: a reason shows neither, even cut."""
    url = pd.url.replace("http://", "http://proxy:pr0xy-Secret@")
    for status in (400, 500):
        pd.then(status, {"status": "invalid event", "errors": [f"bad key {ROUTING_KEY} via {url}"]})
        with pytest.raises((Retry, Permanent)) as caught:
            channel(pd, url=url).send(note(), None)
        reason = str(caught.value)
        assert ROUTING_KEY not in reason and "pr0xy-Secret" not in reason and ROUTING_KEY[:12] not in reason
        assert "bad key ***" in reason
    assert pd.requests[0].headers["Authorization"].startswith("Basic ")


def test_no_answer_is_retried() -> None:
    with socket.socket() as closed:  # bound, never listening: refused, and no other process can take it
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/v2/enqueue"
        config = PagerDutyChannelConfig(kind="pagerduty", routing_key=ROUTING_KEY, url=url)
        with pytest.raises(Retry, match=r"no answer from http://127\.0\.0\.1") as caught:
            open_channel("oncall", config, ChannelEnv(Path(), Redactor())).send(note(), None)
    assert "refused" in caught.value.reason.lower()


def test_a_grouped_trigger_leads_with_the_headline_and_carries_the_group(pd: FakePagerDuty) -> None:
    member = Member(incident=8, key="orders.quality", event="opened", outcome="fail",
                    title="orders.quality failed", headline="8 duplicated order_id values in orders",
                    message="1 rule failing",
                    query="SELECT order_id FROM orders GROUP BY 1 HAVING count(*) > 1")
    context = Context(**{**CONTEXT, "headline": "orders has 2 rows, below min 5"})
    sent = replace(note(context=context), group=[member])
    channel(pd).send(sent, None)
    payload = pd.accepted()[0]["payload"]
    assert payload["summary"] == (
        "orders.volume failed: orders: 2 checks failing — orders has 2 rows, below min 5")
    details = payload["custom_details"]
    assert details["group"] == [dict(member)]
    assert details["commands"] == ["demon ack 7 8",
                                   "demon silence 'orders.*' --for 2h --reason investigating"]
    assert "- 8 duplicated order_id values in orders (incident #8)" in details["text"]
    assert "    SELECT order_id FROM orders GROUP BY 1 HAVING count(*) > 1" in details["text"]


def test_a_huge_context_is_cut_to_fit_and_says_what_it_cut(pd: FakePagerDuty) -> None:
    wide = {f"column_{i}": "v" * 1000 for i in range(20)}
    context = Context(
        message="m" * 50_000, dataset="orders", source="warehouse",
        failing_rules=[{"rule": f"rule_{i}", "column": "c", "failing_rows": 100, "failing_pct": None,
                        "sample": [wide] * 50} for i in range(20)],
        statements=["select " + "x" * 20_000 for _ in range(50)], description="d" * 100_000)
    channel(pd).send(note(context=context), None)
    [request] = pd.requests
    assert request.status == 202 and len(request.raw) <= render.MAX_BYTES
    payload = request.event["payload"]
    assert len(payload["summary"]) <= 1024 and payload["summary"].endswith("more characters")
    assert payload["custom_details"]["context"]["truncated"][:2] == ["long_strings", "samples"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(context=any_context, event=st.sampled_from(EventKind), severity=st.text(max_size=10),
       outcome=st.sampled_from(["pass", "warn", "fail", "error"]), key=st.text(min_size=1, max_size=300))
def test_any_notification_is_an_event_pagerduty_takes(
    context: Any, event: EventKind, severity: str, outcome: str, key: str
) -> None:
    sent = Notification(key="k", channel="oncall", incident=1, incident_key=key, event=event, outcome=outcome,
                        severity=severity, title=f"{key} failed", opened_at="t", at="t", context=context)
    body = render.encoded(render.event(sent, ROUTING_KEY))
    assert len(body) <= render.MAX_BYTES
    assert problems(json.loads(body), {ROUTING_KEY}) == []


def test_the_registry_knows_pagerduty_and_it_acknowledges() -> None:
    assert CHANNELS["pagerduty"].acknowledges
    assert not any(CHANNELS[kind].acknowledges for kind in ("console", "webhook", "slack", "sns", "teams"))


# --- the config --------------------------------------------------------------------------------------------


def config_with(tmp_path: Path, channels: str, routes: str = "") -> Config:
    path = tmp_path / "demon.yml"
    path.write_text(
        f"version: 1\nsources:\n{SOURCES_YML}datasets:\n{DATASETS}alerting:\n  channels:\n{channels}"
        + (f"  routes:\n{routes}" if routes else "")
        + f"  repeat_every: 1s\nstate:\n  url: sqlite:///{tmp_path / 'state.db'}\n")
    return load_config(path)


@pytest.mark.parametrize("key", ["short", "R0demonTest0123456789abcdefABCD-", ROUTING_KEY + "X"])
def test_a_malformed_routing_key_is_refused_without_quoting_it(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_with(tmp_path, f"    oncall: {{kind: pagerduty, routing_key: '{key}'}}\n")
    message = str(caught.value)
    assert "alerting.channels.oncall.routing_key: expected the 32 letters and digits" in message
    assert key not in message


def test_the_url_must_be_http(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"alerting.channels.oncall.url: expected an https:// URL"):
        config_with(tmp_path, f"    oncall: {{kind: pagerduty, routing_key: {ROUTING_KEY}, url: 'ftp://x/y'}}\n")


# --- the outbox: acknowledged once, in order, only where a pager heard of the incident ----------------------


ROUTED = """\
    - match: {severity: critical}
      notify: [oncall, hook]
      continue: true
    - notify: [hook]
"""


def pd_config(tmp_path: Path, pd: FakePagerDuty, routes: str = "", hook: bool = True) -> Config:
    """`oncall` on the stand-in, and a webhook `hook` (that nothing answers) beside it."""
    channels = f"    oncall: {{kind: pagerduty, routing_key: {ROUTING_KEY}, url: '{pd.url}'}}\n"
    if hook:
        channels += "    hook: {kind: webhook, url: 'http://127.0.0.1:9/hook'}\n"
    return config_with(tmp_path, channels, routes)


def kinds(store: StateStore, incident: int) -> list[tuple[str, str, str]]:
    return [(row["event_kind"], row["channel"], row["state"]) for row in rows(store)
            if row["incident_id"] == incident]


def test_an_ack_is_queued_for_the_channels_that_acknowledge_and_heard_the_incident(
    store: StateStore, pd: FakePagerDuty, tmp_path: Path
) -> None:
    config, clock = pd_config(tmp_path, pd, ROUTED), Clock()
    Alerting(store, clock).observe(config, [result(FACT, "fail", at(0)), result(RAW, "fail", at(0))], {})
    fact, raw = (next(i for i in incidents_of(store) if i.key == key) for key in (FACT, RAW))
    assert acknowledging(config.alerting) == {"oncall"}
    clock.set(5)
    acked = admin.ack(store, fact.id, "bob", "on it", clock(), acknowledging(config.alerting))
    assert acked.queued == [f"{fact.id}:{acked_event(store, fact.id)}:oncall"]
    assert admin.ack(store, raw.id, "bob", "", clock(), acknowledging(config.alerting)).queued == []
    assert kinds(store, fact.id) == [("opened", "oncall", "pending"), ("opened", "hook", "pending"),
                                     ("acknowledged", "oncall", "pending")]
    assert kinds(store, raw.id) == [("opened", "hook", "pending")]  # paged nowhere: nothing to acknowledge
    [row] = [row for row in rows(store) if row["event_kind"] == "acknowledged"]
    told = Notification.from_dict(row["payload"])
    assert (told.event, told.incident_key, told.outcome, told.at) == (EventKind.ACKNOWLEDGED, FACT, "fail",
                                                                      "2024-05-01T10:00:05Z")


def incidents_of(store: StateStore) -> list[records.Incident]:
    with store.reading("test") as conn:
        return records.listing(conn, at(0), open_only=True)


def acked_event(store: StateStore, incident: int) -> int:
    return int(next(row["event_id"] for row in rows(store)
                    if row["incident_id"] == incident and row["event_kind"] == "acknowledged"))


def test_an_ack_waits_for_the_trigger_and_both_go_once_in_order(
    store: StateStore, pd: FakePagerDuty, tmp_path: Path
) -> None:
    """PagerDuty rate-limits the trigger; the ack queued meanwhile goes after it, and each goes once."""
    config, clock = pd_config(tmp_path, pd, hook=False), Clock()
    Alerting(store, clock).observe(config, [result(FACT, "fail", at(0))], {})
    [incident] = incidents_of(store)
    pd.then(429, {"status": "throttled"}, Retry_After="7")
    sender = deliverer(store, config, tmp_path, clock)
    assert sender.step("oncall") == Attempt(True, 7.0)
    admin.ack(store, incident.id, "bob", "", clock(), acknowledging(config.alerting))
    assert sender.step("oncall") == Attempt(False, 0.0)  # the channel waits out the 429: the ack too
    clock.now += timedelta(seconds=7)
    pump(sender, clock, "oncall")
    assert [(r.status, r.event["event_action"]) for r in pd.requests] == [
        (429, "trigger"), (202, "trigger"), (202, "acknowledge")]
    assert pd.alert(f"demon-{incident.id}-{FACT}").status == "acknowledged"
    assert [(row["state"], row["attempts"]) for row in rows(store) if row["channel"] == "oncall"] == [
        ("sent", 2), ("sent", 1)]
    assert "HTTP 429" not in str([row["last_error"] for row in rows(store) if row["state"] == "sent"])


def test_an_ack_of_a_silenced_incident_is_suppressed(
    lite: StateStore, pd: FakePagerDuty, tmp_path: Path
) -> None:
    config, clock = pd_config(tmp_path, pd), Clock()
    Alerting(lite, clock).observe(config, [result(FACT, "fail", at(0))], {})
    [incident] = incidents_of(lite)
    admin.silence(lite, FACT, 3600, "maintenance", "alice", clock())
    assert admin.ack(lite, incident.id, "bob", "", clock(), {"oncall"}).queued == []
    assert [row["state"] for row in rows(lite) if row["event_kind"] == "acknowledged"] == ["suppressed"]


# --- `demon check --notify`, `demon ack`, `demon run` ------------------------------------------------------


PD_CHANNEL = "    oncall:\n      kind: pagerduty\n      routing_key: ${{PD_ROUTING_KEY}}\n      url: {url}\n"


def assert_no_key(*texts: str) -> None:
    for text in texts:
        assert ROUTING_KEY not in text and ROUTING_KEY[:12] not in text


def test_check_notify_ack_and_resolve_reach_pagerduty_with_one_dedup_key(
    tmp_path: Path, pd: FakePagerDuty
) -> None:
    config = make_config(tmp_path, FAILING, channels=PD_CHANNEL.format(url=pd.url), repeat_every="1h")
    opened = demon(config, "check", "--notify", env=KEY_ENV)
    assert opened.returncode == 1, opened.stderr
    [incident] = incidents(tmp_path)
    dedup = f"demon-{incident['id']}-orders.volume"
    assert pd.alert(dedup).status == "triggered"

    acked = demon(config, "ack", str(incident["id"]), "--reason", "reloading", env=KEY_ENV)
    assert (acked.returncode, acked.stderr) == (0, "")  # told PagerDuty itself: no daemon needed
    assert acked.stdout == f"incident {incident['id']} (orders.volume failed) acknowledged\n"
    assert pd.alert(dedup).status == "acknowledged"

    set_rows(tmp_path, PASSING)
    resolved = demon(config, "check", "--notify", env=KEY_ENV)
    assert resolved.returncode == 0, resolved.stderr
    assert pd.alert(dedup).status == "resolved"
    assert [(e["event_action"], e["dedup_key"]) for e in pd.accepted()] == [
        ("trigger", dedup), ("acknowledge", dedup), ("resolve", dedup)]
    assert len(pd.requests) == 3  # each once
    assert [(row["event_kind"], row["state"]) for row in outbox(tmp_path)] == [
        ("opened", "sent"), ("acknowledged", "sent"), ("resolved", "sent")]
    assert [e["kind"] for e in events(tmp_path)] == ["opened", "acked", "resolved"]
    stored = [path.read_bytes().decode("latin-1") for path in tmp_path.glob("state.db*")]
    assert_no_key(opened.stdout + opened.stderr, acked.stdout, resolved.stdout + resolved.stderr,
                  json.dumps(outbox(tmp_path)), *stored)


def test_an_ack_pagerduty_cannot_take_yet_waits_in_the_outbox(tmp_path: Path, pd: FakePagerDuty) -> None:
    config = make_config(tmp_path, FAILING, channels=PD_CHANNEL.format(url=pd.url), repeat_every="1h")
    assert demon(config, "check", "--notify", env=KEY_ENV).returncode == 1
    [incident] = incidents(tmp_path)
    pd.then(429, f"<html>slow down, {ROUTING_KEY}</html>", Retry_After="3600")
    acked = demon(config, "ack", str(incident["id"]), env=KEY_ENV)
    assert acked.returncode == 3, acked.stderr
    assert acked.stdout == f"incident {incident['id']} (orders.volume failed) acknowledged\n"
    assert "to oncall not delivered yet" in acked.stderr and "it stays in the outbox" in acked.stderr
    assert "HTTP 429" in acked.stderr
    assert_no_key(acked.stderr, json.dumps(outbox(tmp_path)))
    [waiting] = [row for row in outbox(tmp_path) if row["event_kind"] == "acknowledged"]
    assert (waiting["state"], waiting["attempts"]) == ("pending", 1)

    with closing(sqlite3.connect(tmp_path / "state.db")) as conn, conn:  # the rate limit is over
        conn.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00.000000' WHERE id = ?",
                     (waiting["id"],))
    again = demon(config, "check", "--notify", env=KEY_ENV)  # the next command that delivers tells it
    assert again.returncode == 1, again.stderr
    assert pd.alert(f"demon-{incident['id']}-orders.volume").status == "acknowledged"
    assert [e["event_action"] for e in pd.accepted()] == ["trigger", "acknowledge"]


def test_a_refusal_through_check_notify_fails_the_row_naming_the_field(
    tmp_path: Path, pd: FakePagerDuty
) -> None:
    pd.then(400, {"status": "invalid event", "message": "Event object is invalid",
                  "errors": ["'payload.source' is missing or blank"]})
    config = make_config(tmp_path, FAILING, channels=PD_CHANNEL.format(url=pd.url), repeat_every="1h")
    refused = demon(config, "check", "--notify", env=KEY_ENV)
    assert refused.returncode == 1  # the failing check decides
    [row] = outbox(tmp_path)
    assert row["state"] == "failed" and row["attempts"] == 1
    assert row["last_error"] == ("pagerduty oncall: HTTP 400 Bad Request: invalid event: "
                                 "'payload.source' is missing or blank")
    assert "refused by oncall" in refused.stderr and "'payload.source'" in refused.stderr


def test_the_daemon_triggers_and_resolves_and_ack_acknowledges(
    tmp_path: Path, spawn: Any, pd: FakePagerDuty
) -> None:
    config = make_config(tmp_path, FAILING, channels=PD_CHANNEL.format(url=pd.url), repeat_every="1h")
    daemon = spawn(config, env=KEY_ENV)
    wait_for(lambda: pd.accepted(), what="the trigger")
    [incident] = incidents(tmp_path)
    dedup = f"demon-{incident['id']}-orders.volume"
    acked = demon(config, "ack", str(incident["id"]), env=KEY_ENV)
    assert acked.returncode == 0, acked.stderr
    wait_for(lambda: pd.alert(dedup).status == "acknowledged", what="the acknowledge")
    set_rows(tmp_path, PASSING)
    wait_for(lambda: pd.alert(dedup).status == "resolved", what="the resolve")
    wait_for(lambda: all(row["state"] == "sent" for row in outbox(tmp_path)), what="every row sent")
    stop(daemon)
    assert [e["event_action"] for e in pd.accepted()] == ["trigger", "acknowledge", "resolve"]
    assert len(pd.requests) == 3
    assert_no_key(daemon.text())
