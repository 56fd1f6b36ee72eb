"""Delivery from the outbox to real channels on 127.0.0.1: a stdlib webhook receiver, the fake Slack, the
console. The state store is real (SQLite files and PostgreSQL); retries are driven through the `clock`."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from alerting import outbox as queue
from alerting import tables
from alerting.channels import ChannelEnv
from alerting.delivery import BACKOFF_MAX, CHANNEL_PAUSE, Attempt, Deliverer, backoff, open_channels
from alerting.engine import Alerting
from alerting.model import Notification
from alerting.runtime import Notified, notify_once
from alerting.stats import AlertStats
from monitor.app.config import Config, load_config
from monitor.core.redact import Redactor
from monitor.state.store import StateStore
from tests.daemon_support import wait_for
from tests.httpserver import reply, serving
from tests.slackserver import TOKEN, FakeSlack, start_slack
from tests.test_incidents import CUSTOMERS, DATASETS, FACT, RAW, REPORT, SOURCES_YML, Clock, at, result

SECRET_PATH = "/hooks/s3cret-path-4711"


@dataclass(frozen=True)
class Received:
    key: str
    status: int
    notification: Notification


class Hook(ThreadingHTTPServer):
    """A webhook receiver: answers from its script, else 503 while `down`, else 200; records every request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.script: deque[tuple[int, dict[str, str]]] = deque()
        self.down = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{SECRET_PATH}"

    def then(self, status: int, **headers: str) -> None:
        self.script.append((status, {key.replace("_", "-"): value for key, value in headers.items()}))

    def answer(self) -> tuple[int, dict[str, str]]:
        with self.lock:
            if self.script:
                return self.script.popleft()
            return (503, {}) if self.down else (200, {})

    def delivered(self) -> list[str]:
        """Keys of the requests answered 2xx, in arrival order: what the receiver took."""
        with self.lock:
            return [r.key for r in self.received if 200 <= r.status < 300]


class _Handler(BaseHTTPRequestHandler):
    server: Hook

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        status, headers = self.server.answer()
        with self.server.lock:
            sent = Notification.from_dict(body["notification"])
            self.server.received.append(Received(self.headers["Idempotency-Key"], status, sent))
        reply(self, status, headers, b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `received`."""


@pytest.fixture
def hook() -> Iterator[Hook]:
    with serving(Hook()) as server:
        yield server


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = start_slack()
    yield server
    server.stop()



def write_config(directory: Path, channels: str, name: str = "demon.yml") -> Config:
    """No routes: every configured channel hears every failure."""
    path = directory / name
    path.write_text(
        f"version: 1\nsources:\n{SOURCES_YML}datasets:\n{DATASETS}"
        f"alerting:\n  channels:\n{channels}  repeat_every: 1s\n"
        f"state:\n  url: sqlite:///{directory / 'state.db'}\n"
    )
    return load_config(path)


def hook_config(directory: Path, url: str) -> Config:
    return write_config(directory, f"    hook: {{kind: webhook, url: '{url}'}}\n")


def env(tmp_path: Path, console: TextIO | None = None) -> ChannelEnv:
    return ChannelEnv(base_dir=tmp_path, redact=Redactor(), console=console, timeout=30.0)


def deliverer(store: StateStore, config: Config, tmp_path: Path, clock: Any = None) -> Deliverer:
    channel_env = env(tmp_path)
    channels = open_channels(config.alerting, channel_env)
    return Deliverer(store, channels, AlertStats(), channel_env, **({"clock": clock} if clock else {}))


def outbox(store: StateStore, *where: Any) -> list[dict[str, Any]]:
    with store.reading("test") as conn:
        query = sa.select(tables.outbox).where(*where).order_by(tables.outbox.c.id)
        return [dict(row) for row in conn.execute(query).mappings()]


def unsent(store: StateStore) -> list[dict[str, Any]]:
    return outbox(store, tables.outbox.c.state.in_(["pending", "sending"]))


def pump(deliverer: Deliverer, clock: Clock, name: str = "hook", limit: int = 200) -> None:
    """Step until nothing is unsent, moving the clock past every backoff (15 minutes at most, plus jitter)."""
    for _ in range(limit):
        if not deliverer.step(name).worked:
            if not unsent(deliverer.store):
                return
            clock.now += timedelta(seconds=BACKOFF_MAX * 2)
    raise AssertionError(f"still unsent after {limit} steps: {unsent(deliverer.store)}")


@contextmanager
def closed_port() -> Iterator[int]:
    """A port nothing listens on for as long as the block runs: bound here, never listening, so no other
    process (another test run) can take it meanwhile. Connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# --- delivered once --------------------------------------------------------------------------------------


def test_a_notification_is_delivered_once_and_marked_sent(
    store: StateStore, hook: Hook, tmp_path: Path
) -> None:
    clock, config = Clock(), hook_config(tmp_path, hook.url)
    Alerting(store, clock).observe(config, [result(FACT, "fail", at(0))], {})
    (row,) = outbox(store)
    clock.set(1)
    sender = deliverer(store, config, tmp_path, clock)
    assert sender.step("hook") == Attempt(True, 0.0)
    assert sender.step("hook") == Attempt(False, 0.0)
    (received,) = hook.received
    assert received.key == row["idempotency_key"] == f"{row['incident_id']}:{row['event_id']}:hook"
    assert received.notification == Notification.from_dict(row["payload"])
    (sent,) = outbox(store)
    assert (sent["state"], sent["sent_at"], sent["claimed_until"]) == ("sent", at(1), None)
    assert sent["attempts"] == 1
    assert sender.stats.snapshot().notifications == {("hook", "sent"): 1}
    sender.stats.refresh(store)
    assert sender.stats.snapshot().pending == {}


def test_a_channel_down_for_a_while_gets_everything_once_and_in_order(
    store: StateStore, hook: Hook, tmp_path: Path
) -> None:
    clock, config = Clock(), hook_config(tmp_path, hook.url)
    engine = Alerting(store, clock)
    for second, outcomes in enumerate([
        {FACT: "fail", RAW: "fail"}, {FACT: "fail"}, {FACT: "fail", RAW: "error"}, {FACT: "error"},
        {RAW: "pass"}, {FACT: "pass", CUSTOMERS: "error"}, {CUSTOMERS: "pass"},
    ]):
        clock.set(second * 2)
        engine.observe(config, [result(check, o, at(second * 2)) for check, o in outcomes.items()], {})
    rows = outbox(store)
    assert {row["state"] for row in rows} == {"pending", "skipped"}  # a repeat was overtaken by a change
    wanted = [row["idempotency_key"] for row in rows if row["state"] == "pending"]
    hook.down = True
    sender = deliverer(store, config, tmp_path, clock)
    for _ in range(12):  # attempts against a server answering 503
        clock.now += timedelta(seconds=BACKOFF_MAX * 2)
        sender.step("hook")
    assert hook.delivered() == [] and len(hook.received) == 12
    hook.down = False
    pump(sender, clock)
    assert sorted(hook.delivered()) == sorted(wanted)  # each once, the skipped repeat never
    by_incident: dict[int, list[str]] = defaultdict(list)
    for key in hook.delivered():
        by_incident[int(key.split(":")[0])].append(key)
    for incident, keys in by_incident.items():
        assert keys == [k for k in wanted if k.startswith(f"{incident}:")]
    attempted: dict[int, list[str]] = defaultdict(list)  # while down too: no row before an earlier one
    for received in hook.received:
        attempted[received.notification.incident].append(received.key)
    for incident, keys in attempted.items():
        ordered = [k for k in wanted if k.startswith(f"{incident}:")]
        assert [ordered.index(key) for key in keys] == sorted(ordered.index(key) for key in keys)
    assert {row["state"] for row in outbox(store) if row["event_kind"] != "repeated"} == {"sent"}
    counted = sender.stats.snapshot().notifications
    assert counted[("hook", "retried")] == 12 and counted[("hook", "sent")] == len(wanted)


def test_a_retry_waits_its_backoff(lite: StateStore, hook: Hook, tmp_path: Path) -> None:
    clock, config = Clock(), hook_config(tmp_path, hook.url)
    Alerting(lite, clock).observe(config, [result(FACT, "fail", at(0))], {})
    sender = deliverer(lite, config, tmp_path, clock)
    hook.down = True
    for attempt in range(1, 7):
        tried = sender.step("hook")
        (row,) = outbox(lite)
        delay = (row["next_attempt_at"] - clock.now).total_seconds()
        base = 2 ** (attempt - 1)
        assert 0.8 * base <= delay <= 1.2 * base
        assert tried.worked and tried.pause == pytest.approx(min(delay, CHANNEL_PAUSE), abs=1e-5)
        assert row["state"] == "pending" and row["attempts"] == attempt
        assert "HTTP 503" in row["last_error"] and "s3cret" not in row["last_error"]
        assert sender.step("hook") == Attempt(False, 0.0)  # not due yet
        clock.now = row["next_attempt_at"]


def test_a_rate_limit_pauses_the_whole_channel(lite: StateStore, hook: Hook, tmp_path: Path) -> None:
    config = hook_config(tmp_path, hook.url)
    Alerting(lite).observe(config, [result(FACT, "fail", at(0)), result(RAW, "fail", at(0))], {})
    hook.then(429, Retry_After="30")
    sender = deliverer(lite, config, tmp_path)
    started, began = time.monotonic(), datetime.now(UTC)
    sender.drain(timeout=1.5)
    assert time.monotonic() - started < 15  # it did not sleep the 30 seconds
    assert len(hook.received) == 1  # the other incident's row waited too
    first, second = outbox(lite)
    assert first["state"] == second["state"] == "pending"
    assert first["next_attempt_at"] >= began + timedelta(seconds=30)
    assert "HTTP 429" in first["last_error"]


def test_a_rate_limit_pause_is_its_retry_after(lite: StateStore, hook: Hook, tmp_path: Path) -> None:
    clock, config = Clock(), hook_config(tmp_path, hook.url)
    Alerting(lite, clock).observe(config, [result(FACT, "fail", at(0))], {})
    hook.then(429, Retry_After="7")
    sender = deliverer(lite, config, tmp_path, clock)
    assert sender.step("hook") == Attempt(True, 7.0)
    assert outbox(lite)[0]["next_attempt_at"] == at(7)


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_a_refusal_fails_the_row_for_good_and_the_next_one_goes(
    lite: StateStore, hook: Hook, tmp_path: Path, status: int
) -> None:
    clock, config = Clock(), hook_config(tmp_path, hook.url)
    engine = Alerting(lite, clock)
    engine.observe(config, [result(FACT, "fail", at(0))], {})
    clock.set(5)
    engine.observe(config, [result(FACT, "pass", at(5))], {})
    hook.then(status)
    sender = deliverer(lite, config, tmp_path, clock)
    assert sender.step("hook") == Attempt(True, 0.0)
    opened, resolved = outbox(lite)
    assert opened["state"] == "failed" and f"HTTP {status}" in opened["last_error"]
    assert "s3cret" not in opened["last_error"]
    assert sender.step("hook").worked
    assert outbox(lite)[1]["state"] == "sent"
    assert hook.delivered() == [resolved["idempotency_key"]]
    assert sender.stats.snapshot().notifications == {("hook", "failed"): 1, ("hook", "sent"): 1}


class Counting(Deliverer):
    """A deliverer that counts its steps: each is a write transaction on the state store."""

    steps = 0

    def step(self, name: str) -> Attempt:
        self.steps += 1
        return super().step(name)


def backing_off(store: StateStore, hook: Hook, tmp_path: Path) -> Counting:
    """An incident with two rows for a channel that is down: the first backs off, the second waits on it.

    The deliverer's clock stands still, so the first row stays about a second away however long the test
    takes: waiting for it is all there is to do."""
    clock, config = Clock(), hook_config(tmp_path, hook.url)
    engine = Alerting(store, clock)
    engine.observe(config, [result(FACT, "fail", at(0))], {})
    clock.set(1)
    engine.observe(config, [result(FACT, "pass", at(1))], {})
    hook.down = True
    channel_env = env(tmp_path)
    sender = Counting(store, open_channels(config.alerting, channel_env), AlertStats(), channel_env, clock)
    assert sender.step("hook").worked
    sender.steps = 0
    opened, resolved = outbox(store)
    assert opened["next_attempt_at"] > clock.now and resolved["next_attempt_at"] <= clock.now
    return sender


def test_drain_waits_for_a_backing_off_row_instead_of_spinning(
    lite: StateStore, hook: Hook, tmp_path: Path
) -> None:
    sender = backing_off(lite, hook, tmp_path)
    sender.drain(timeout=0.5)  # the first row is due in about a second: nothing to do but wait
    assert sender.steps <= 5, f"{sender.steps} claim transactions in half a second"
    assert len(hook.received) == 1


def test_a_delivery_thread_waits_for_a_backing_off_row_instead_of_spinning(
    lite: StateStore, hook: Hook, tmp_path: Path
) -> None:
    sender = backing_off(lite, hook, tmp_path)
    started = time.monotonic()
    sender.start()
    time.sleep(0.6)  # a while to watch it: the first row stays due in about a second (0.8 s at the least)
    sender.stop(grace=60.0)
    watched = time.monotonic() - started
    # A thread that waits claims about once a second, however long a loaded machine made the while; a
    # spinning one, hundreds of times.
    assert sender.steps <= 2 + watched / 0.8, f"{sender.steps} claim transactions in {watched:.1f} seconds"
    assert len(hook.received) == 1


# --- crashes and two deliverers --------------------------------------------------------------------------


def test_a_row_claimed_by_a_process_that_died_is_sent_after_its_lease(
    store: StateStore, hook: Hook, tmp_path: Path
) -> None:
    clock, config = Clock(), hook_config(tmp_path, hook.url)
    Alerting(store, clock).observe(config, [result(FACT, "fail", at(0)), result(RAW, "fail", at(0))], {})
    dead, alive = outbox(store)
    with store.transaction("test") as conn:  # one died mid-send; another one's lease still runs
        for row, until in ((dead, at(-1)), (alive, at(60))):
            conn.execute(sa.update(tables.outbox).where(tables.outbox.c.id == row["id"])
                         .values(state="sending", claimed_until=until, attempts=1))
    sender = deliverer(store, config, tmp_path, clock)
    assert sender.step("hook").worked
    assert sender.step("hook") == Attempt(False, 0.0)
    assert hook.delivered() == [dead["idempotency_key"]]
    states = {row["id"]: (row["state"], row["attempts"]) for row in outbox(store)}
    assert states == {dead["id"]: ("sent", 2), alive["id"]: ("sending", 1)}
    clock.set(61)
    assert sender.step("hook").worked
    assert hook.delivered() == [dead["idempotency_key"], alive["idempotency_key"]]


def test_a_late_mark_of_an_expired_claim_changes_nothing(
    store: StateStore, hook: Hook, tmp_path: Path
) -> None:
    """A deliverer that hung past its lease and comes back must not undo the delivery of the one that took
    the row over (a late "retry" would send it a second time)."""
    clock, config = Clock(), hook_config(tmp_path, hook.url)
    Alerting(store, clock).observe(config, [result(FACT, "fail", at(0))], {})
    with store.transaction("test") as conn:
        slow = queue.claim(conn, "hook", at(0))
    assert slow is not None
    clock.now = at(0) + queue.LEASE + timedelta(seconds=1)
    assert deliverer(store, config, tmp_path, clock).step("hook").worked
    with store.transaction("test") as conn:
        queue.mark_retry(conn, slow, at(1000), "late")
        queue.mark_failed(conn, slow, "late")
        assert not queue.mark_sent(conn, slow, at(1000))
    (row,) = outbox(store)
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    assert len(hook.delivered()) == 1


def test_two_deliverers_on_one_outbox_send_each_row_once(
    state_url: str, hook: Hook, tmp_path: Path
) -> None:
    """The daemon and `demon check --notify` deliver from the same outbox at the same time."""
    config = hook_config(tmp_path, hook.url)
    stores = [StateStore.open(state_url, tmp_path) for _ in range(2)]
    try:
        engine = Alerting(stores[0])
        checks = [FACT, RAW, REPORT, CUSTOMERS, "fact_orders.freshness", "raw_orders.freshness"]
        for second, outcome in enumerate(["fail", "error", "pass", "fail"]):
            engine.observe(config, [result(check, outcome, at(second)) for check in checks], {})
        wanted = [row["idempotency_key"] for row in outbox(stores[0])]
        assert len(wanted) == 16  # four runs of four datasets: a dataset's checks are told together
        senders = [deliverer(store, config, tmp_path) for store in stores]
        barrier, errors = threading.Barrier(2), []

        def run(sender: Deliverer) -> None:
            barrier.wait()
            try:
                while unsent(sender.store):
                    if not sender.step("hook").worked:
                        time.sleep(0.005)
            except BaseException as exc:  # reported in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(sender,)) for sender in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        assert sorted(hook.delivered()) == sorted(wanted) and len(hook.received) == len(wanted)
        for incident in {int(key.split(":")[0]) for key in wanted}:
            mine = [key for key in hook.delivered() if key.startswith(f"{incident}:")]
            assert mine == [key for key in wanted if key.startswith(f"{incident}:")]
        sent = sum(s.stats.snapshot().notifications[("hook", "sent")] for s in senders)
        assert sent == len(wanted)
    finally:
        for store in stores:
            store.close()


# --- the foreground drain of `demon check --notify` ------------------------------------------------------


def test_notify_once_leaves_what_it_could_not_deliver_and_says_so(lite: StateStore, tmp_path: Path) -> None:
    with closed_port() as port:
        config = hook_config(tmp_path, f"http://127.0.0.1:{port}{SECRET_PATH}")
        started = time.monotonic()
        batch = [result(FACT, "fail", at(0)), result(RAW, "fail", at(0))]
        notified = notify_once(config, lite, batch, {}, timeout=1.0)
        assert time.monotonic() - started < 30  # it gave up after its 1 s instead of waiting on retries
    rows, left = outbox(lite), notified.undelivered
    assert (notified.opened, notified.resolved, notified.sent) == (2, 0, 0)
    assert notified.summary() == ("2 incidents opened, 0 resolved; 0 notifications sent, "
                                  "2 waiting in the outbox")
    assert Notified(3, 1, 2, ["a", "b", "c"], refused=1).summary() == (
        "3 incidents opened, 1 resolved; 2 notifications sent, 2 waiting in the outbox, 1 refused")
    assert Notified(1, 0, 1).summary() == "1 incident opened, 0 resolved; 1 notification sent"
    assert len(left) == len(rows) == 2 and {row["state"] for row in rows} == {"pending"}
    first = rows[0]
    assert first["attempts"] >= 1 and "no answer" in first["last_error"]
    assert left[0].startswith(f"notification {first['idempotency_key']} to hook not delivered yet (")
    assert "stays in the outbox" in left[0] and "no answer" in left[0]
    assert not any("s3cret" in line for line in left)


def test_notify_once_delivers_what_is_due_and_reports_nothing(
    lite: StateStore, hook: Hook, tmp_path: Path
) -> None:
    config = hook_config(tmp_path, hook.url)
    assert notify_once(config, lite, [result(FACT, "fail", at(0))], {}, timeout=10.0) == Notified(1, 0, 1)
    assert len(hook.delivered()) == 1 and outbox(lite)[0]["state"] == "sent"
    again = notify_once(config, lite, [result(FACT, "fail", at(0))], {}, timeout=10.0)  # applied already
    assert again == Notified(0, 0, 0)
    assert notify_once(config, lite, [result(FACT, "pass", at(1))], {}, timeout=10.0) == Notified(0, 1, 1)
    assert len(hook.received) == 2


def test_notify_once_without_channels_writes_to_stderr(
    lite: StateStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plain.yml"
    path.write_text(f"version: 1\nsources:\n{SOURCES_YML}datasets:\n{DATASETS}")
    notified = notify_once(load_config(path), lite, [result(RAW, "error", at(0))], {}, timeout=10.0)
    assert notified == Notified(opened=1, resolved=0, sent=1)
    assert "raw_orders.volume errored" in capsys.readouterr().err
    assert [row["channel"] for row in outbox(lite)] == ["console"]


# --- the daemon's threads ----------------------------------------------------------------------------


def test_the_delivery_thread_logs_to_the_console_when_woken(
    lite: StateStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_config(tmp_path, "    terminal: {kind: console}\n")
    sender = deliverer(lite, config, tmp_path)
    engine = Alerting(lite, on_queued=sender.wake)
    caplog.set_level(logging.INFO, logger="alerting.console")
    sender.start()
    try:
        engine.observe(config, [result(FACT, "fail", at(0))], {})
        wait_for(lambda: [r for r in caplog.records if r.name == "alerting.console"],
                 what="the console notification")
        engine.observe(config, [result(FACT, "pass", at(1))], {})
        wait_for(lambda: all(row["state"] == "sent" for row in outbox(lite)), what="all sent")
    finally:
        sender.stop(grace=60.0)
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "alerting.console"]
    assert [level for level, _ in logged] == [logging.WARNING, logging.INFO]
    assert "fact_orders.volume failed" in logged[0][1]
    assert not any(thread.is_alive() for thread in sender._threads.values())


# --- Slack threads -----------------------------------------------------------------------------------------


def test_a_follow_up_goes_into_its_root_causes_slack_thread(
    lite: StateStore, slack: FakeSlack, tmp_path: Path
) -> None:
    channel = f"{{kind: slack, token: {TOKEN}, channel: '#data', api_url: '{slack.api_url}'}}"
    config = write_config(tmp_path, f"    data-slack: {channel}\n")
    clock = Clock()
    engine = Alerting(lite, clock)
    engine.observe(config, [result(FACT, "fail", at(0)), result(RAW, "fail", at(0))], {})
    sender = deliverer(lite, config, tmp_path, clock)
    pump(sender, clock, "data-slack")
    root, follow_up = slack.all_messages()
    assert root.thread_ts is None and "raw_orders.volume" in root.text
    assert follow_up.thread_ts == root.ts and "fact_orders.volume" in follow_up.text
    for seconds, check in ((5, FACT), (6, RAW)):
        clock.set(seconds)
        engine.observe(config, [result(check, "pass", at(seconds))], {})
        pump(sender, clock, "data-slack")
    messages = slack.all_messages()
    assert len(messages) == 4 and all(m.thread_ts == root.ts for m in messages[1:])
    assert root.edits == 1  # by raw's own resolution only, never by fact's
    assert slack.violations == []
    with lite.reading("test") as conn:
        threads = [dict(row) for row in conn.execute(sa.select(tables.incident_threads)).mappings()]
    assert [t["ref"]["ts"] for t in threads] == [root.ts]


def test_a_follow_up_waits_for_its_root_cause_to_be_posted(
    lite: StateStore, slack: FakeSlack, tmp_path: Path
) -> None:
    channel = f"{{kind: slack, token: {TOKEN}, channel: '#data', api_url: '{slack.api_url}'}}"
    config = write_config(tmp_path, f"    data-slack: {channel}\n")
    clock = Clock()
    Alerting(lite, clock).observe(config, [result(FACT, "fail", at(0)), result(RAW, "fail", at(0))], {})
    slack.then("chat.postMessage", 500, "<html>oops</html>")
    sender = deliverer(lite, config, tmp_path, clock)
    assert sender.step("data-slack").worked  # the root cause's message: retried later
    assert sender.step("data-slack") == Attempt(False, 0.0)  # its follow-up waits for it
    assert slack.all_messages() == []
    pump(sender, clock, "data-slack")
    root, follow_up = slack.all_messages()
    assert "raw_orders.volume" in root.text and follow_up.thread_ts == root.ts


# --- backoff -----------------------------------------------------------------------------------------


@given(attempts=st.integers(min_value=1, max_value=200),
       after=st.one_of(st.none(), st.floats(min_value=0.001, max_value=BACKOFF_MAX)))
def test_backoff_grows_to_its_bound_and_honours_retry_after(attempts: int, after: float | None) -> None:
    delay = backoff(attempts, after)
    if after is not None:
        assert delay >= after
        assert delay <= BACKOFF_MAX
    else:
        base = min(2.0 ** (attempts - 1), BACKOFF_MAX)
        assert 0.8 * base <= delay <= 1.2 * base


def test_backoff_is_jittered_and_ignores_a_zero_retry_after() -> None:
    assert len({backoff(3, None) for _ in range(20)}) > 1
    assert 3.2 <= backoff(3, 0.0) <= 4.8
    assert backoff(1, 10_000.0) >= BACKOFF_MAX
    assert backoff(0, None) <= 1.2
