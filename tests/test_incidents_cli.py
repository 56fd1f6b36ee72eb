"""`demon check --notify`, `demon incidents`, `demon ack` and `demon silence` without a daemon: exit codes,
what reaches the console, Slack and a webhook, and every way to ask for something that cannot be done.

Incidents are made by `demon check --notify` on the CSV-backed DuckDB warehouse of test_alerting_daemon.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from monitor.app.cli import main
from tests.daemon_support import dataset
from tests.httpserver import reply, serving
from tests.pgserver import free_port
from tests.slackserver import FakeSlack, start_slack
from tests.test_alerting_daemon import (
    FAILING,
    PASSING,
    SLACK,
    VOLUME,
    demon,
    events,
    incidents,
    key_of,
    make_config,
    outbox,
    posted,
    set_rows,
    slack_env,
)

PASSWORD = "st0re-Pw-0815"
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


# --- a webhook receiver ---------------------------------------------------------------------------------


class Hook(ThreadingHTTPServer):
    """Records each POST (headers, parsed JSON) and answers `status` (200 unless a test says otherwise)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HookHandler)
        self.posts: list[tuple[dict[str, str], Any]] = []
        self.status = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/incoming/s3cret-path"


class _HookHandler(BaseHTTPRequestHandler):
    server: Hook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.posts.append((dict(self.headers), json.loads(body)))
        reply(self, self.server.status, {}, b"ok" if self.server.status < 300 else b"invalid_payload")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `posts`."""


@pytest.fixture
def hook() -> Iterator[Hook]:
    with serving(Hook()) as server:
        yield server


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = start_slack()
    yield server
    server.stop()


def webhook_channel(url: str) -> str:
    return f"    hook:\n      kind: webhook\n      url: {url}\n"


def cli(config: Path, *args: str) -> Result:
    """A command in this process (fast, for the commands that only read and write the state store)."""
    result = CliRunner().invoke(main, [*args, "-c", str(config)], env={"DEMON_TEST_PORT": "1"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def notices(stderr: str) -> list[str]:
    """The headlines of the notifications the console channel wrote (a resolution's without how long it
    lasted: that depends on the clock)."""
    pattern = r"^\[\w+\] .+ \((?:opened|changed|still open)\)$|^resolved: .+(?= after [\d.wdhms ]+$)"
    return re.findall(pattern, stderr, re.MULTILINE)


def notified(opened: int, resolved: int, sent: int) -> str:
    """The line `check --notify` ends with on stderr, when every notification was delivered."""
    return (f"demon: --notify: {opened} incident{'s' * (opened != 1)} opened, {resolved} resolved; "
            f"{sent} notification{'s' * (sent != 1)} sent\n")


# --- check --notify -------------------------------------------------------------------------------------


def test_check_notify_writes_to_stderr_without_channels(tmp_path: Path) -> None:
    config = make_config(tmp_path, FAILING, repeat_every="1h")
    opened = demon(config, "check", "--notify")
    assert opened.returncode == 1
    assert notices(opened.stderr) == ["[high] orders.volume failed (opened)"]
    assert "2 rows, below min 5" in opened.stderr
    assert "FAIL" in opened.stdout and "(opened)" not in opened.stdout
    assert opened.stderr.endswith(notified(1, 0, 1))

    again = demon(config, "check", "--notify", "--format", "json")
    assert again.returncode == 1 and notices(again.stderr) == []  # still the same incident: nothing new
    assert json.loads(again.stdout)  # stdout stays the report alone

    set_rows(tmp_path, PASSING)
    resolved = demon(config, "check", "--notify")
    assert resolved.returncode == 0
    assert notices(resolved.stderr) == ["resolved: orders.volume passes again"]
    assert resolved.stderr.endswith(notified(0, 1, 1))
    quiet = demon(config, "check", "--notify")
    assert quiet.returncode == 0
    assert quiet.stderr == notified(0, 0, 0)
    assert [(row["channel"], row["event_kind"], row["state"]) for row in outbox(tmp_path)] == [
        ("console", "opened", "sent"), ("console", "resolved", "sent")]

    set_rows(tmp_path, FAILING)
    without = demon(config, "check")  # no --notify: incidents are left alone
    assert without.returncode == 1 and without.stderr == ""
    [incident] = incidents(tmp_path)
    assert incident["resolved_at"] is not None


def test_check_notify_delivers_to_slack_and_a_webhook(tmp_path: Path, slack: FakeSlack, hook: Hook) -> None:
    config = make_config(tmp_path, FAILING, channels=SLACK + webhook_channel(hook.url), repeat_every="1h")
    env = slack_env(slack)
    opened = demon(config, "check", "--notify", env=env)
    assert opened.returncode == 1, opened.stderr
    assert notices(opened.stderr) == []  # the console is not a configured channel
    assert opened.stderr == notified(1, 0, 2)
    [root] = posted(slack)
    assert root.thread_ts is None and key_of(root) == "1:1:slack" and "orders.volume" in root.text
    [(headers, body)] = hook.posts
    assert headers["Idempotency-Key"] == "1:1:hook" and headers["Content-Type"] == "application/json"
    notification = body["notification"]
    assert notification["event"] == "opened" and notification["incident_key"] == "orders.volume"
    assert "orders.volume failed" in body["text"]

    set_rows(tmp_path, PASSING)
    resolved = demon(config, "check", "--notify", env=env)
    assert resolved.returncode == 0 and resolved.stderr == notified(0, 1, 2)
    root, reply = posted(slack)
    assert reply.thread_ts == root.ts and key_of(reply) == "1:2:slack"
    assert root.edits == 1 and root.text.startswith("Resolved")
    assert [headers["Idempotency-Key"] for headers, _ in hook.posts] == ["1:1:hook", "1:2:hook"]
    assert hook.posts[1][1]["notification"]["event"] == "resolved"
    assert {row["state"] for row in outbox(tmp_path)} == {"sent"}
    assert slack.violations == []


def test_check_notify_exits_3_when_a_notification_is_refused_for_good(tmp_path: Path, hook: Hook) -> None:
    """A receiver refusing (HTTP 400) is not a passing run: the user asked for notifications and got none."""
    hook.status = 400
    config = make_config(tmp_path, FAILING, channels=webhook_channel(hook.url), repeat_every="1h")
    opened = demon(config, "check", "--notify")
    assert opened.returncode == 1  # the failing check decides
    set_rows(tmp_path, PASSING)
    resolved = demon(config, "check", "--notify")
    assert [row["state"] for row in outbox(tmp_path)] == ["failed", "failed"]
    assert len(hook.posts) == 2
    assert "s3cret-path" not in opened.stderr + resolved.stderr
    assert resolved.returncode == 3, resolved.stderr
    assert re.search(r"^demon: .*1:2:hook", resolved.stderr, re.MULTILINE), resolved.stderr


def test_check_notify_makes_one_incident_of_a_source_that_cannot_open(tmp_path: Path) -> None:
    lost = "  lost:\n    kind: sql\n    url: duckdb:///missing/directory/lost.duckdb\n"
    datasets = (dataset("lost_orders", VOLUME, "- volume: {name: big, min: 100}", source="lost")
                + dataset("lost_users", VOLUME, source="lost", table="users"))
    config = make_config(tmp_path, PASSING, sources=lost, datasets=datasets, repeat_every="1h")
    first = demon(config, "check", "--notify")
    assert first.returncode == 3  # errors, no failure
    assert notices(first.stderr) == ["[high] source lost is unreachable (opened)"]
    for check in ("lost_orders.volume", "lost_orders.volume.big", "lost_users.volume"):
        assert check in first.stderr
    [incident] = incidents(tmp_path)
    assert incident["key"] == "source:lost" and incident["check_id"] is None
    assert json.loads(incident["context"])["members"] == [
        "lost_orders.volume", "lost_orders.volume.big", "lost_users.volume"]
    again = demon(config, "check", "--notify")
    assert again.returncode == 3 and notices(again.stderr) == []
    assert [e["kind"] for e in events(tmp_path)] == ["opened"]


# --- incidents, ack, silence ----------------------------------------------------------------------------


@pytest.fixture
def failing(tmp_path: Path) -> Path:
    """A config whose one check fails, and its incident 1 opened by `demon check --notify`."""
    config = make_config(tmp_path, FAILING, repeat_every="1h")
    assert cli(config, "check", "--notify").exit_code == 1
    return config


def test_incidents_lists_as_a_table_and_as_json(tmp_path: Path) -> None:
    config = make_config(tmp_path, FAILING, repeat_every="1h")
    empty = cli(config, "incidents")
    assert empty.exit_code == 0 and empty.stdout == "no open or recent incidents\n"
    assert json.loads(cli(config, "incidents", "-f", "json").stdout) == {"incidents": [], "silences": []}

    assert cli(config, "check", "--notify").exit_code == 1
    header, row = cli(config, "incidents").stdout.splitlines()
    assert header.split() == [
        "ID", "STATE", "SEVERITY", "INCIDENT", "OPENED", "FOR", "ROOT", "CAUSE", "UNSENT"]
    assert re.fullmatch(rf"1\s+open\s+high\s+orders\.volume failed\s+{ISO}\s+\S+", row), row
    [listed] = json.loads(cli(config, "incidents", "--format", "json").stdout)["incidents"]
    assert (listed["id"], listed["key"], listed["state"]) == (1, "orders.volume", "open")
    assert listed["outcome"] == "fail"
    assert listed["pending_notifications"] == 0 and listed["silenced_by"] == []
    assert [e["kind"] for e in listed["events"]] == ["opened"]
    assert listed["context"]["thresholds"] == {"min": 5.0}

    set_rows(tmp_path, PASSING)
    assert cli(config, "check", "--notify").exit_code == 0
    assert cli(config, "incidents", "--open").stdout == "no open or recent incidents\n"
    [resolved] = json.loads(cli(config, "incidents", "-f", "json").stdout)["incidents"]
    assert resolved["state"] == "resolved" and resolved["resolved_at"]
    assert [e["kind"] for e in resolved["events"]] == ["opened", "resolved"]
    table = cli(config, "incidents").stdout
    assert re.search(r"^1\s+resolved\s+high\s+orders\.volume passes", table, re.MULTILINE), table

    for bad in ("soon", "0s", "-1d"):
        wrong = cli(config, "incidents", "--since", bad)
        assert wrong.exit_code == 2 and "--since" in wrong.stderr


def test_ack_records_who_and_why(failing: Path, tmp_path: Path) -> None:
    acked = cli(failing, "ack", "1", "--reason", "known: late load")
    assert acked.exit_code == 0 and acked.stdout == "incident 1 (orders.volume failed) acknowledged\n"
    [listed] = json.loads(cli(failing, "incidents", "-f", "json").stdout)["incidents"]
    assert listed["state"] == "acked" and listed["ack_reason"] == "known: late load"
    assert listed["acked_by"] and re.fullmatch(ISO, listed["acked_at"])
    assert [(e["kind"], e["message"], e["by"]) for e in listed["events"]][-1] == (
        "acked", "known: late load", listed["acked_by"])
    assert f"incident 1 acked by {listed['acked_by']} at {listed['acked_at']}: known: late load" in cli(
        failing, "incidents").stdout

    set_rows(tmp_path, PASSING)
    resolved = demon(failing, "check", "--notify")  # an acked incident still tells its resolution
    assert resolved.returncode == 0 and notices(resolved.stderr) == ["resolved: orders.volume passes again"]
    again = cli(failing, "ack", "1")
    assert again.exit_code == 2 and "incident 1 is resolved already" in again.stderr


def test_ack_takes_the_ids_a_notification_lists_and_says_which_it_could_not(failing: Path) -> None:
    acked = cli(failing, "ack", "999", "1", "1", "--reason", "on it")
    assert acked.exit_code == 2 and "no incident 999" in acked.stderr
    assert acked.stdout == "incident 1 (orders.volume failed) acknowledged\n"  # once, though named twice
    [listed] = json.loads(cli(failing, "incidents", "-f", "json").stdout)["incidents"]
    assert listed["state"] == "acked" and [e["kind"] for e in listed["events"]].count("acked") == 1


@pytest.mark.parametrize(("args", "says"), [
    (("ack", "999"), "no incident 999"),
    (("ack", "one"), "'one' is not a valid integer"),
    (("ack",), "Missing argument"),
    (("silence", "orders*", "--for", "1h"), "silence needs GLOB, --for DURATION and --reason TEXT"),
    (("silence", "orders*", "--for", "1h", "--reason", "  "), "--reason TEXT"),
    (("silence", "orders*", "--reason", "x"), "--for DURATION"),
    (("silence", "--for", "1h", "--reason", "x"), "GLOB"),
    (("silence", "orders*", "--for", "soon", "--reason", "x"), "expected"),
    (("silence", "orders*", "--for", "0h", "--reason", "x"), "positive"),
    (("silence", "--end", "999"), "no active silence 999"),
    (("silence", "--end", "last"), "'last' is not a valid integer"),
])
def test_bad_requests_exit_2_saying_why(failing: Path, args: tuple[str, ...], says: str) -> None:
    before = json.loads(cli(failing, "incidents", "-f", "json").stdout)
    refused = cli(failing, *args)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert says in refused.stderr
    assert json.loads(cli(failing, "incidents", "-f", "json").stdout) == before  # nothing changed


def test_silence_suppresses_then_ends(tmp_path: Path) -> None:
    config = make_config(tmp_path, FAILING, repeat_every="1h")
    other = cli(config, "silence", "customers*", "--for", "1h", "--reason", "not this one")
    made = cli(config, "silence", "orders*", "--for", "1h", "--reason", "backfill")
    assert other.exit_code == made.exit_code == 0
    assert re.fullmatch(rf"silence 2: orders\* until {ISO}\n", made.stdout), made.stdout

    silenced = demon(config, "check", "--notify")
    assert silenced.returncode == 1 and notices(silenced.stderr) == []
    assert [row["state"] for row in outbox(tmp_path)] == ["suppressed"]
    shown = json.loads(cli(config, "incidents", "-f", "json").stdout)
    [listed] = shown["incidents"]
    assert listed["state"] == "silenced" and listed["silenced_by"] == [2]
    assert [(s["id"], s["pattern"], s["reason"]) for s in shown["silences"]] == [
        (1, "customers*", "not this one"), (2, "orders*", "backfill")]
    user = shown["silences"][1]["created_by"]
    assert re.search(rf"^silence 2: orders\* until {ISO} by {re.escape(user)}: backfill$",
                     cli(config, "incidents").stdout, re.MULTILINE)

    ended = cli(config, "silence", "--end", "2")
    assert ended.exit_code == 0 and ended.stdout == "silence 2 ended\n"
    after = json.loads(cli(config, "incidents", "-f", "json").stdout)
    assert [s["id"] for s in after["silences"]] == [1] and after["incidents"][0]["silenced_by"] == []
    assert after["incidents"][0]["state"] == "open"
    assert cli(config, "silence", "--end", "2").exit_code == 2

    set_rows(tmp_path, PASSING)
    resolved = demon(config, "check", "--notify")  # no longer silenced: the resolution is told
    assert resolved.returncode == 0 and notices(resolved.stderr) == ["resolved: orders.volume passes again"]


def test_a_silence_ending_while_its_incident_is_open_notifies_once(tmp_path: Path) -> None:
    """What was suppressed is told once the silence is over, not only at the next repeat (4h by default,
    never with `repeat_every: null`)."""
    config = make_config(tmp_path, FAILING, repeat_every="1h")
    assert cli(config, "silence", "orders.volume", "--for", "1h", "--reason", "backfill").exit_code == 0
    silenced = demon(config, "check", "--notify")
    assert silenced.returncode == 1 and notices(silenced.stderr) == []
    assert cli(config, "silence", "--end", "1").exit_code == 0
    told = demon(config, "check", "--notify")
    assert told.returncode == 1
    assert notices(told.stderr) == ["[high] orders.volume failed (still open)"], told.stderr
    assert notices(demon(config, "check", "--notify").stderr) == []  # once


@pytest.mark.parametrize("args", [
    ("incidents",), ("incidents", "-f", "json"), ("ack", "1", "--reason", "x"),
    ("silence", "orders*", "--for", "1h", "--reason", "x"), ("silence", "--end", "1"),
])
def test_an_unreachable_state_store_exits_3_with_the_password_masked(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    config = make_config(tmp_path, FAILING)
    url = f"postgresql+psycopg://demon:{PASSWORD}@127.0.0.1:{free_port()}/state"
    config.write_text(config.read_text().replace("sqlite:///state.db", url))
    refused = cli(config, *args)
    assert refused.exit_code == 3
    assert refused.stderr.startswith("demon: state store postgresql+psycopg://demon:***@127.0.0.1:")
    assert PASSWORD not in refused.output


def test_check_notify_with_an_unreachable_state_store_exits_3_masked(tmp_path: Path) -> None:
    config = make_config(tmp_path, FAILING)
    url = f"postgresql+psycopg://demon:{PASSWORD}@127.0.0.1:{free_port()}/state"
    config.write_text(config.read_text().replace("sqlite:///state.db", url))
    refused = demon(config, "check", "--notify")
    assert refused.returncode == 3 and "***" in refused.stderr
    assert PASSWORD not in refused.stdout + refused.stderr
