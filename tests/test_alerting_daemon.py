"""Incidents and notifications end to end: a real `demon run` on a DuckDB warehouse, the fake Slack of
tests/slackserver.py and moto's SNS read back through SQS.

The warehouse's `orders` is a view over a CSV file, so a test changes its row count by replacing that file,
while the daemon keeps its DuckDB file open read-only. `volume: {min: 5}` fails below 5 rows.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_support import Daemon, dataset, source, wait_for, write_config
from tests.motoserver import Topics
from tests.slackserver import TOKEN, FakeSlack, Message, start_slack
from tests.warehouse import execute

Spawn = Callable[..., Daemon]

FAILING, PASSING = 2, 10  # rows of `orders`: below and above `volume: {min: 5}`
VOLUME = "- volume: {min: 5}"
SLACK_CHANNEL = "#data"
TOPIC = "data-incidents"
UNSENT = ("pending", "sending")
SLACK = (
    "    slack:\n      kind: slack\n      token: ${SLACK_TOKEN}\n"
    f'      channel: "{SLACK_CHANNEL}"\n      api_url: ${{SLACK_API_URL}}\n'
)


# --- the warehouse and the config -----------------------------------------------------------------------


def set_rows(directory: Path, rows: int) -> None:
    """Replace the CSV behind `orders` at once: a run sees the old rows or the new, never half."""
    temporary = directory / "orders.csv.tmp"
    temporary.write_text("id\n" + "".join(f"{i}\n" for i in range(rows)))
    temporary.replace(directory / "orders.csv")


def warehouse(directory: Path, rows: int) -> str:
    """A DuckDB file whose `orders` view reads orders.csv (so its source needs `read_files`); its URL
    relative to the config."""
    set_rows(directory, rows)
    csv = directory / "orders.csv"
    columns = "{'id': 'INTEGER'}"
    execute(f"duckdb:///{directory / 'warehouse.duckdb'}", [
        f"CREATE VIEW orders AS SELECT * FROM read_csv('{csv}', header = true, columns = {columns})",
    ])
    return "duckdb:///warehouse.duckdb"


def alerting_block(channels: str = "", repeat_every: str = "2s") -> str:
    listed = f"  channels:\n{channels}" if channels else ""
    return f"alerting:\n{listed}  repeat_every: {repeat_every}\n"


def make_config(directory: Path, rows: int, *checks: str, channels: str = "", sources: str = "",
                datasets: str = "", repeat_every: str = "2s") -> Path:
    """demon.yml: `orders` (on a DuckDB warehouse with `rows` rows) checked every second, and alerting."""
    path = write_config(
        directory, source("warehouse", warehouse(directory, rows), read_files=True) + sources,
        dataset("orders", *(checks or (VOLUME,))) + datasets,
    )
    with path.open("a") as file:
        file.write(alerting_block(channels, repeat_every))
    return path


def sns_channel(name: str, topic_arn: str, endpoint_url: str) -> str:
    return (f"    {name}:\n      kind: sns\n      topic_arn: {topic_arn}\n      region: us-east-1\n"
            f"      endpoint_url: {endpoint_url}\n")


def slack_env(slack: FakeSlack | None, api_url: str | None = None) -> dict[str, str]:
    """What `${SLACK_TOKEN}` and `${SLACK_API_URL}` of SLACK resolve to: the fake Slack, or `api_url`."""
    return {"SLACK_TOKEN": TOKEN, "SLACK_API_URL": api_url or (slack.api_url if slack else "")}


def closed_url(port: int) -> str:
    """An API URL on a port nothing listens on (the `unused_port` fixture): a channel that is down."""
    return f"http://127.0.0.1:{port}/api/"


# --- reading what happened ------------------------------------------------------------------------------


def query(directory: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows of the SQLite state store, read beside the running daemon."""
    with closing(sqlite3.connect(directory / "state.db", timeout=30)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params).fetchall()]


def outbox(directory: Path, channel: str | None = None) -> list[dict[str, Any]]:
    rows = query(directory, "SELECT id, incident_id, event_id, event_kind, channel, idempotency_key, state, "
                            "attempts, last_error FROM outbox ORDER BY id")
    return [row for row in rows if channel is None or row["channel"] == channel]


def incidents(directory: Path) -> list[dict[str, Any]]:
    return query(directory, "SELECT * FROM incidents ORDER BY id")


def events(directory: Path, incident: int | None = None) -> list[dict[str, Any]]:
    rows = query(directory, "SELECT * FROM incident_events ORDER BY id")
    return [row for row in rows if incident is None or row["incident_id"] == incident]


def sent_kinds(directory: Path, channel: str) -> list[str]:
    return [row["event_kind"] for row in outbox(directory, channel) if row["state"] == "sent"]


def settled(directory: Path, channel: str) -> bool:
    """Nothing of `channel` waits in the outbox."""
    return not any(row["state"] in UNSENT for row in outbox(directory, channel))


def results_of(directory: Path, check: str) -> int:
    return int(query(directory, "SELECT count(*) AS n FROM results WHERE check_id = ?", check)[0]["n"])


def more_runs(directory: Path, check: str, runs: int) -> None:
    """Wait until `check` ran `runs` more times (every second here): time passes, measured by the daemon."""
    target = results_of(directory, check) + runs
    wait_for(lambda: results_of(directory, check) >= target, what=f"{runs} more runs of {check}")


def key_of(message: Message) -> str:
    assert message.metadata is not None and message.metadata["event_type"] == "demon_notification"
    return str(message.metadata["event_payload"]["key"])


def posted(slack: FakeSlack) -> list[Message]:
    return slack.messages[slack.channel_id(SLACK_CHANNEL)] if SLACK_CHANNEL in slack.channels else []


def assert_thread(slack: FakeSlack, rows: list[dict[str, Any]]) -> Message:
    """The Slack channel holds exactly the sent rows, once each, in outbox order: the first row a root
    message, every later one a reply in its thread. Returns the root."""
    messages = posted(slack)
    keys = [key_of(message) for message in messages]
    assert keys == [row["idempotency_key"] for row in rows if row["state"] == "sent"]
    root, *replies = messages
    assert root.thread_ts is None
    assert all(reply.thread_ts == root.ts for reply in replies)
    return root


def demon(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """One `demon` command in its own process, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args, "-c", str(config)], capture_output=True, text=True,
        check=False, cwd=config.parent, timeout=120,
        env={**os.environ, "DEMON_TEST_PORT": "1", **(env or {})},
    )


def stop(daemon: Daemon) -> None:
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0, daemon.text()[-3000:]


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = start_slack()
    yield server
    server.stop()


# --- 1. open, repeat, resolve ---------------------------------------------------------------------------


def test_open_repeat_resolve_reach_slack_and_sns_once_each(
    tmp_path: Path, spawn: Spawn, slack: FakeSlack, topics: Topics
) -> None:
    topic = topics.topic(TOPIC)
    raw, wrapped = topics.queue("raw", topic, raw=True), topics.queue("wrapped", topic, raw=False)
    config = make_config(tmp_path, FAILING,
                         channels=SLACK + sns_channel("pager", topic, topics.moto.endpoint_url))
    daemon = spawn(config, env=slack_env(slack))
    channels = ("slack", "pager")
    wait_for(lambda: all({"opened", "repeated"} <= set(sent_kinds(tmp_path, c)) for c in channels),
             what="the incident opened and repeated on both channels")
    set_rows(tmp_path, PASSING)
    wait_for(lambda: all("resolved" in sent_kinds(tmp_path, c) and settled(tmp_path, c) for c in channels),
             what="the resolution delivered to both channels")
    stop(daemon)

    [incident] = incidents(tmp_path)
    assert incident["key"] == "orders.volume" and incident["resolved_at"] is not None
    notified = [e for e in events(tmp_path) if e["kind"] in ("opened", "repeated", "resolved")]
    assert notified[0]["kind"] == "opened" and notified[-1]["kind"] == "resolved"
    for channel in channels:  # every event reached every channel once, and nothing else did
        rows = outbox(tmp_path, channel)
        assert {row["state"] for row in rows} == {"sent"}
        assert [row["event_id"] for row in rows] == [e["id"] for e in notified]
        assert [row["idempotency_key"] for row in rows] == [
            f"{incident['id']}:{e['id']}:{channel}" for e in notified
        ]

    root = assert_thread(slack, outbox(tmp_path, "slack"))
    assert root.edits == 1 and root.text.startswith("Resolved")  # the root now says it is over
    assert "orders.volume" in root.text
    assert slack.violations == []
    posts = [body for route, _, body in slack.requests if route == "chat.postMessage"]
    roots = [body for body in posts if not body.get("thread_ts")]
    assert [body["channel"] for body in roots] == [SLACK_CHANNEL]  # one root, in the configured channel

    expected = [row["idempotency_key"] for row in outbox(tmp_path, "pager")]
    raw_bodies = [(json.loads(m["Body"]), m["MessageAttributes"]) for m in topics.drain(raw)]
    assert sorted(body["key"] for body, _ in raw_bodies) == sorted(expected)
    for body, attributes in raw_bodies:
        assert body["incident_key"] == "orders.volume" and body["incident"] == incident["id"]
        assert attributes["idempotency_key"]["StringValue"] == body["key"]
        assert attributes["event"]["StringValue"] == body["event"]
        assert attributes["severity"]["StringValue"] == "high"
        assert attributes["dataset"]["StringValue"] == "orders"
        assert attributes["outcome"]["StringValue"] == body["outcome"]
        assert len(attributes) <= 10
    assert Counter(body["event"] for body, _ in raw_bodies) == Counter(e["kind"] for e in notified)

    envelopes = [json.loads(m["Body"]) for m in topics.drain(wrapped)]
    assert sorted(json.loads(e["Message"])["key"] for e in envelopes) == sorted(expected)
    for envelope in envelopes:
        subject = envelope["Subject"]
        assert subject.startswith("[demon] ") and "orders.volume" in subject
        assert 0 < len(subject) <= 99 and subject.isascii() and subject.isprintable()
        attributes = envelope["MessageAttributes"]
        assert attributes["idempotency_key"]["Value"] == json.loads(envelope["Message"])["key"]
        size = len(envelope["Message"].encode()) + sum(
            len(name.encode()) + len(value["Type"].encode()) + len(value["Value"].encode())
            for name, value in attributes.items())
        assert size <= 262_144


# --- 2. a channel that fails for a while ----------------------------------------------------------------


def test_slack_answering_500_then_up_gets_everything_once_in_order(
    tmp_path: Path, spawn: Spawn, slack: FakeSlack
) -> None:
    for _ in range(3):
        slack.then("chat.postMessage", 500, "<html><body>Internal Server Error</body></html>")
    config = make_config(tmp_path, FAILING, channels=SLACK)
    daemon = spawn(config, env=slack_env(slack))
    pending = 'demon_outbox_pending{channel="slack"}'
    retried = 'demon_notifications_total{channel="slack",result="retried"}'
    first = wait_for(lambda: (s := daemon.samples()).get(pending, 0) > 0 and s.get(retried, 0) > 0 and s,
                     interval=0.2, what="a notification waiting after Slack answered 500")
    assert first['demon_incidents_open{severity="high"}'] == 1
    set_rows(tmp_path, PASSING)
    wait_for(lambda: "resolved" in sent_kinds(tmp_path, "slack") and settled(tmp_path, "slack"),
             what="everything delivered once Slack is back")
    last = wait_for(lambda: (s := daemon.samples()).get(pending) == 0 and s, interval=0.2,
                    what="demon_outbox_pending back to 0")
    stop(daemon)

    rows = outbox(tmp_path, "slack")
    assert {row["state"] for row in rows} <= {"sent", "skipped"}  # a repeat overtaken while Slack was down
    sent = [row for row in rows if row["state"] == "sent"]
    assert sent[0]["event_kind"] == "opened" and sent[-1]["event_kind"] == "resolved"
    assert sent[0]["attempts"] == 4  # three 500s, then delivered
    assert all(row["event_kind"] == "repeated" for row in rows if row["state"] == "skipped")
    root = assert_thread(slack, rows)
    assert root.edits == 1
    assert last[retried] >= 3
    assert last['demon_notifications_total{channel="slack",result="sent"}'] == len(sent)
    assert last['demon_notifications_total{channel="slack",result="failed"}'] == 0
    assert last['demon_incidents_open{severity="high"}'] == 0
    assert slack.violations == []


def test_notifications_pending_at_kill_9_are_delivered_once_after_restart(
    tmp_path: Path, spawn: Spawn, slack: FakeSlack, unused_port: int
) -> None:
    config = make_config(tmp_path, FAILING, channels=SLACK)
    first = spawn(config, env=slack_env(None, closed_url(unused_port)))  # Slack is down
    wait_for(lambda: any(row["attempts"] >= 1 and row["state"] == "pending" for row in outbox(tmp_path)),
             what="the opening tried and waiting")
    set_rows(tmp_path, PASSING)
    wait_for(lambda: "resolved" in [row["event_kind"] for row in outbox(tmp_path)],
             what="the resolution queued")
    first.process.kill()
    assert first.wait() == -signal.SIGKILL
    waiting = outbox(tmp_path)
    assert {row["state"] for row in waiting} <= {"pending", "skipped"}
    assert "connection refused" in str([row["last_error"] for row in waiting]).lower()
    assert posted(slack) == []

    second = spawn(config, env=slack_env(slack))
    wait_for(lambda: "resolved" in sent_kinds(tmp_path, "slack") and settled(tmp_path, "slack"),
             what="the waiting notifications delivered after the restart")
    more_runs(tmp_path, "orders.volume", 2)  # and nothing more comes after them
    stop(second)
    rows = outbox(tmp_path)
    assert [row["id"] for row in rows] == [row["id"] for row in waiting]  # the restart queued nothing new
    root = assert_thread(slack, rows)
    assert root.edits == 1
    assert [key_of(m) for m in posted(slack)][-1] == next(
        row["idempotency_key"] for row in rows if row["event_kind"] == "resolved")
    assert TOKEN not in first.text() + second.text()


# --- 3. `demon check --notify` beside the daemon --------------------------------------------------------


def test_check_notify_beside_the_daemon_sends_no_duplicates(
    tmp_path: Path, spawn: Spawn, slack: FakeSlack
) -> None:
    config = make_config(tmp_path, FAILING, channels=SLACK)
    env = slack_env(slack)
    daemon = spawn(config, env=env)
    wait_for(lambda: "opened" in sent_kinds(tmp_path, "slack"), what="the opening delivered")
    checks = [subprocess.Popen(
        [sys.executable, "-m", "monitor", "check", "--notify", "-c", str(config)], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "DEMON_TEST_PORT": "1", **env},
    ) for _ in range(3)]
    for check in checks:
        out, err = check.communicate(timeout=120)
        assert check.returncode == 1, err  # the check fails; its notifications were delivered
        assert "FAIL" in out and "not delivered" not in err
    set_rows(tmp_path, PASSING)
    resolved = demon(config, "check", "--notify", env=env)
    assert resolved.returncode == 0, resolved.stderr
    wait_for(lambda: "resolved" in sent_kinds(tmp_path, "slack") and settled(tmp_path, "slack"),
             what="the resolution delivered")
    more_runs(tmp_path, "orders.volume", 2)
    stop(daemon)

    [incident] = incidents(tmp_path)
    assert incident["resolved_at"] is not None
    kinds = Counter(e["kind"] for e in events(tmp_path))
    assert kinds["opened"] == kinds["resolved"] == 1
    rows = outbox(tmp_path)
    assert len({row["idempotency_key"] for row in rows}) == len(rows)
    assert len({row["event_id"] for row in rows}) == len(rows)  # one row per event on the one channel
    assert_thread(slack, rows)
    keys = [key_of(m) for m in posted(slack)]
    assert len(keys) == len(set(keys))


# --- 4. ack and silence against a running daemon --------------------------------------------------------


def test_ack_stops_repeats_but_not_the_resolution(tmp_path: Path, spawn: Spawn, slack: FakeSlack) -> None:
    config = make_config(tmp_path, FAILING, channels=SLACK)
    env = slack_env(slack)
    daemon = spawn(config, env=env)
    wait_for(lambda: "repeated" in sent_kinds(tmp_path, "slack"), what="a repeat delivered")
    [incident] = incidents(tmp_path)
    acked = demon(config, "ack", str(incident["id"]), "--reason", "reloading the table", env=env)
    assert acked.returncode == 0, acked.stderr
    assert acked.stdout.strip() == f"incident {incident['id']} (orders.volume failed) acknowledged"
    # A repeat queued before the ack (the command takes a while to start) may still be on its way.
    wait_for(lambda: settled(tmp_path, "slack"), what="what was queued before the ack delivered")
    queued = outbox(tmp_path, "slack")
    more_runs(tmp_path, "orders.volume", 4)  # longer than repeat_every, twice over
    assert outbox(tmp_path, "slack") == queued  # no repeat queued since (nor retried)

    shown = json.loads(demon(config, "incidents", "--format", "json", env=env).stdout)
    [listed] = shown["incidents"]
    assert listed["state"] == "acked" and listed["ack_reason"] == "reloading the table"
    assert listed["acked_by"] and listed["acked_at"]
    assert [e["message"] for e in listed["events"] if e["kind"] == "acked"] == ["reloading the table"]
    table = demon(config, "incidents", env=env).stdout
    assert f"incident {incident['id']} acked by {listed['acked_by']}" in table
    assert "reloading the table" in table

    set_rows(tmp_path, PASSING)
    wait_for(lambda: "resolved" in sent_kinds(tmp_path, "slack") and settled(tmp_path, "slack"),
             what="the resolution of the acked incident delivered")
    stop(daemon)
    assert_thread(slack, outbox(tmp_path, "slack"))


def test_silence_suppresses_until_ended(tmp_path: Path, spawn: Spawn, slack: FakeSlack) -> None:
    config = make_config(tmp_path, PASSING, channels=SLACK)
    env = slack_env(slack)
    daemon = spawn(config, env=env)
    made = demon(config, "silence", "orders.*", "--for", "1h", "--reason", "backfill running", env=env)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("silence 1: orders.* until ")
    set_rows(tmp_path, FAILING)
    wait_for(lambda: [row["state"] for row in outbox(tmp_path)] == ["suppressed"],
             what="the opening suppressed")
    more_runs(tmp_path, "orders.volume", 3)  # longer than repeat_every: no repeat while silenced either
    assert posted(slack) == [] and [row["state"] for row in outbox(tmp_path)] == ["suppressed"]

    shown = json.loads(demon(config, "incidents", "-f", "json", env=env).stdout)
    [listed] = shown["incidents"]
    assert listed["state"] == "silenced" and listed["silenced_by"] == [1]
    assert [(s["id"], s["pattern"], s["reason"]) for s in shown["silences"]] == [
        (1, "orders.*", "backfill running")]
    assert "silence 1: orders.* until" in demon(config, "incidents", env=env).stdout

    ended = demon(config, "silence", "--end", "1", env=env)
    assert ended.returncode == 0 and ended.stdout.strip() == "silence 1 ended"
    wait_for(lambda: sent_kinds(tmp_path, "slack"), what="a notification once the silence ended")
    more_runs(tmp_path, "orders.volume", 1)
    stop(daemon)
    message = posted(slack)[0]
    assert message.thread_ts is None  # nothing went out before: this one is the thread's root
    assert key_of(message) == outbox(tmp_path)[1]["idempotency_key"]
    after = json.loads(demon(config, "incidents", "-f", "json", env=env).stdout)
    assert after["silences"] == [] and after["incidents"][0]["silenced_by"] == []
    assert demon(config, "silence", "--end", "1", env=env).returncode == 2  # over already


# --- 5. an unreachable source, a removed check ----------------------------------------------------------


def test_an_unreachable_source_is_one_incident_not_one_per_check(
    tmp_path: Path, spawn: Spawn, unused_port: int
) -> None:
    password = "pg-Secret-4711"
    url = f"postgresql+psycopg://demon:{password}@127.0.0.1:{unused_port}/warehouse"
    pg_datasets = (dataset("pg_orders", VOLUME, "- volume: {name: big, min: 100}", source="pg")
                   + dataset("pg_users", VOLUME, source="pg", table="users"))
    config = make_config(tmp_path, PASSING, sources=source("pg", url), datasets=pg_datasets)
    members = ["pg_orders.volume", "pg_orders.volume.big", "pg_users.volume"]
    daemon = spawn(config)
    wait_for(lambda: [i["key"] for i in incidents(tmp_path)] == ["source:pg"]
             and json.loads(incidents(tmp_path)[0]["context"]).get("members") == members,
             what="one source incident naming every check of the source")
    more_runs(tmp_path, "pg_users.volume", 3)
    stop(daemon)

    [incident] = incidents(tmp_path)
    assert incident["resolved_at"] is None and incident["outcome"] == "error"
    assert [e["kind"] for e in events(tmp_path)].count("opened") == 1
    notices = [line for line in daemon.logs() if line.get("incident_key") == "source:pg"]
    opened = [line for line in notices if "(opened)" in line["message"]]
    assert len(opened) == 1 and "source pg is unreachable" in opened[0]["message"]
    assert opened[0]["incident"] == incident["id"] and opened[0]["outcome"] == "error"
    assert not [line for line in daemon.logs() if str(line.get("check", "")).startswith("pg_")
                and "incident" in line]  # no incident notification per check
    assert password not in daemon.text()
    assert password not in json.dumps(query(tmp_path, "SELECT * FROM incidents"), default=str)
    shown = demon(config, "incidents")
    assert "source pg is unreachable" in shown.stdout and password not in shown.stdout


def test_a_check_removed_by_reload_resolves_silently(tmp_path: Path, spawn: Spawn, slack: FakeSlack) -> None:
    big = "- volume: {name: big, min: 1000}"
    config = make_config(tmp_path, PASSING, VOLUME, big, channels=SLACK, repeat_every="1h")
    env = slack_env(slack)
    daemon = spawn(config, env=env)
    wait_for(lambda: sent_kinds(tmp_path, "slack") == ["opened"], what="orders.volume.big opened")
    config.write_text(config.read_text().replace(f"      {big}\n", ""))
    daemon.signal(signal.SIGHUP)
    # Found by key: on a loaded machine another check may time out and open an incident of its own.
    removed = lambda: next(i for i in incidents(tmp_path) if i["key"] == "orders.volume.big")  # noqa: E731
    wait_for(lambda: removed()["resolved_at"] is not None, what="the incident resolved")
    more_runs(tmp_path, "orders.volume", 2)
    stop(daemon)

    incident = removed()
    mine = events(tmp_path, incident["id"])
    assert mine[-1]["kind"] == "resolved"
    assert "removed from the config" in mine[-1]["message"]
    assert [row["event_kind"] for row in outbox(tmp_path)
            if row["incident_id"] == incident["id"]] == ["opened"]  # no notification of it
    root = posted(slack)[0]  # sent before the reload, while it was the only incident
    assert root.edits == 0
    shown = json.loads(demon(config, "incidents", "-f", "json", env=env).stdout)
    [listed] = [item for item in shown["incidents"] if item["key"] == "orders.volume.big"]
    assert listed["state"] == "resolved"


# --- 8. grouping ---------------------------------------------------------------------------------------


def test_a_datasets_failing_checks_are_one_message_across_a_restart(
    tmp_path: Path, spawn: Spawn, slack: FakeSlack
) -> None:
    checks = (VOLUME, '- metric: {name: rows, sql: "SELECT count(*) FROM orders", min: 5}',
              '- metric: {name: top_id, sql: "SELECT max(id) FROM orders", min: 5}')
    config = make_config(tmp_path, FAILING, *checks, channels=SLACK, repeat_every="1h")
    for restart in range(2):
        daemon = spawn(config, env=slack_env(slack))
        wait_for(lambda: len(incidents(tmp_path)) == 3 and settled(tmp_path, "slack"),
                 what="three incidents, told")
        more_runs(tmp_path, "orders.volume", 2)  # runs after the first tell nothing new
        stop(daemon)
        [message] = posted(slack)
        [row] = outbox(tmp_path)
        assert key_of(message) == row["idempotency_key"], f"after {restart} restarts"
    payload = json.loads(query(tmp_path, "SELECT payload FROM outbox")[0]["payload"])
    assert sorted([payload["incident_key"], *(m["key"] for m in payload["group"])]) == [
        "orders.metric.rows", "orders.metric.top_id", "orders.volume"]
