"""Slack notifications through the real slack-sdk against a local stand-in that enforces Slack's limits."""

from __future__ import annotations

import re
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from alerting.channels import Channel, ChannelEnv, open_channel
from alerting.channels.settings import SlackChannelConfig
from alerting.channels.slack import open_slack
from alerting.model import Context, EventKind, Member, Notification, Permanent, Retry, RootCause
from alerting.render import slack as render
from monitor.core.redact import Redactor
from tests.slackserver import HOOK_PATH, TOKEN, FakeSlack, block_problems, block_text_size, start_slack

HOSTILE = ["<!channel>", "<!here>", "<@U1>", "<#C1>", "&", "&lt;", "```", "````` x", "\n", "<https://evil.example|x>"]
SPECIAL = re.compile(r"<[!@#]")


@pytest.fixture
def slack_server() -> Iterator[FakeSlack]:
    """A fresh fake Slack on 127.0.0.1 per test."""
    server = start_slack()
    yield server
    server.stop()


def env(timeout: float = 30.0) -> ChannelEnv:
    return ChannelEnv(base_dir=Path(), redact=Redactor(), timeout=timeout)


def bot(server: FakeSlack, token: str = TOKEN, api_url: str | None = None, timeout: float = 30.0) -> Channel:
    api_url = api_url or server.api_url
    return open_slack("sales-slack", SlackChannelConfig(kind="slack", token=token, channel="#sales-data",
                                                        api_url=api_url), env(timeout))


def hook(url: str, timeout: float = 30.0) -> Channel:
    return open_slack("team-slack", SlackChannelConfig(kind="slack", webhook_url=url), env(timeout))


PLAIN = Context(message="12 rows, expected at least 100", value=12.0, thresholds={"min": 100.0},
                dataset="fact_orders")


def note(event: EventKind = EventKind.OPENED, incident: int = 1, context: Context = PLAIN,
         root: RootCause | None = None, title: str = "fact_orders.volume failed",
         group: list[Member] | None = None) -> Notification:
    return Notification(
        key=f"{incident}:{event.value}:sales-slack", channel="sales-slack", incident=incident,
        incident_key="fact_orders.volume", event=event, severity="critical", title=title,
        outcome="pass" if event is EventKind.RESOLVED else "fail", opened_at="2024-05-01T10:00:00Z",
        at="2024-05-01T11:00:00Z", context=context, root=root, group=group or [])


def texts(blocks: list[dict[str, Any]]) -> str:
    """All text of the blocks, joined."""
    return "\n".join(obj["text"] for block in blocks for obj in render.text_objects(block))


def assert_clean(reason: str) -> None:
    assert reason
    assert TOKEN not in reason and HOOK_PATH not in reason and "s3cretWebhookPath" not in reason


@contextmanager
def closed_port() -> Iterator[int]:
    """A port nothing listens on for as long as the block runs: bound here, never listening (connecting is
    refused), so no other process can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# --- the bot: root message, thread replies, the root edited on resolve --------------------------------------


def test_root_then_replies_then_resolve_edits_the_root(slack_server: FakeSlack) -> None:
    channel = bot(slack_server)
    thread = channel.send(note(), None).thread
    assert thread is not None
    channel_id = slack_server.channel_id("#sales-data")
    assert thread == {"channel": channel_id, "ts": thread["ts"], "incident": "1"}
    assert channel.send(note(EventKind.REPEATED), thread).thread is None
    assert channel.send(note(EventKind.RESOLVED), thread).thread is None

    root, repeat, resolved = slack_server.messages[channel_id]
    assert (repeat.thread_ts, resolved.thread_ts) == (thread["ts"], thread["ts"])
    assert root.ts == thread["ts"] and root.edits == 1
    assert "Resolved" in root.blocks[0]["text"]["text"] and root.text.startswith("Resolved")
    assert root.metadata == {"event_type": "demon_notification",
                             "event_payload": {"key": "1:opened:sales-slack", "incident": 1}}
    posts = [payload for route, _, payload in slack_server.requests if route == "chat.postMessage"]
    assert len(posts) == 3
    for payload in posts:
        assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
        assert payload["text"] and payload["blocks"]
        assert payload["metadata"]["event_type"] == "demon_notification"
        assert "link_names" not in payload and "parse" not in payload
    assert [p.get("reply_broadcast") for p in posts] == [None, False, False]
    assert slack_server.violations == []


def test_follow_up_in_a_root_causes_thread_never_edits_that_root(slack_server: FakeSlack) -> None:
    channel = bot(slack_server)
    root_thread = channel.send(note(incident=1, title="raw_orders.freshness failed"), None).thread
    assert root_thread is not None
    cause = RootCause(incident=1, key="raw_orders.freshness", title="raw_orders.freshness failed")
    assert channel.send(note(incident=2, root=cause), root_thread).thread is None
    assert channel.send(note(EventKind.RESOLVED, incident=2, root=cause), root_thread).thread is None

    root, opened, resolved = slack_server.messages[root_thread["channel"]]
    assert root.edits == 0 and "raw_orders.freshness failed" in root.blocks[0]["text"]["text"]
    assert opened.thread_ts == resolved.thread_ts == root_thread["ts"]
    assert "probable root cause: raw_orders.freshness failed (incident #1)" in texts(opened.blocks)
    assert not [route for route, _, _ in slack_server.requests if route == "chat.update"]


def test_a_failed_edit_of_the_root_is_logged_and_the_reply_still_counts(
        slack_server: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    channel = bot(slack_server)
    thread = channel.send(note(), None).thread
    assert thread is not None
    slack_server.then("chat.update", 200, {"ok": False, "error": "message_not_found"})
    assert channel.send(note(EventKind.RESOLVED), thread) == channel.send(note(EventKind.REPEATED), thread)
    assert "message_not_found" in caplog.text and "resolved" in caplog.text
    assert slack_server.messages[thread["channel"]][0].edits == 0


def test_a_reply_to_an_unknown_channel_or_ts_fails_for_good(slack_server: FakeSlack) -> None:
    channel = bot(slack_server)
    with pytest.raises(Permanent, match="channel_not_found"):
        channel.send(note(), {"channel": "C9999", "ts": "1.000001", "incident": "1"})
    thread = channel.send(note(), None).thread
    assert thread is not None
    with pytest.raises(Permanent, match="thread_not_found"):
        channel.send(note(), {**thread, "ts": "1.000001"})


def test_an_api_url_without_its_trailing_slash_still_reaches_the_api(slack_server: FakeSlack) -> None:
    channel = bot(slack_server, api_url=slack_server.url + "/api")
    assert channel.send(note(), None).thread is not None
    assert slack_server.requests[0][0] == "chat.postMessage"


def test_the_registry_opens_a_slack_channel(slack_server: FakeSlack) -> None:
    config = SlackChannelConfig(kind="slack", webhook_url=slack_server.webhook_url)
    channel = open_channel("team-slack", config, env())
    assert channel.name == "team-slack"
    assert channel.send(note(), None).thread is None
    channel.close()
    assert len(slack_server.webhook_posts) == 1


# --- the webhook: standalone posts --------------------------------------------------------------------------


def test_webhook_posts_are_standalone(slack_server: FakeSlack) -> None:
    channel = hook(slack_server.webhook_url)
    assert channel.send(note(), None).thread is None
    elsewhere = {"channel": "C1", "ts": "1.1", "incident": "1"}
    assert channel.send(note(EventKind.RESOLVED), elsewhere).thread is None
    first, second = slack_server.webhook_posts
    assert first["unfurl_links"] is False and first["unfurl_media"] is False
    assert "thread_ts" not in second and first["text"] and first["blocks"]
    assert second["blocks"][0]["text"]["text"] == "✅ resolved: fact_orders.volume passes again after 1h"
    assert slack_server.all_messages() == []


def test_a_wrong_webhook_path_fails_for_good_without_showing_the_url(slack_server: FakeSlack) -> None:
    with pytest.raises(Permanent, match="HTTP 404: no_service") as caught:
        hook(slack_server.url + "/hooks/T0001/B0001/wrongSecretPath").send(note(), None)
    assert "wrongSecretPath" not in caught.value.reason


# --- failures: Retry or Permanent, never anything else, never a secret --------------------------------------


@pytest.mark.parametrize("route", ["chat.postMessage", "hooks"])
@pytest.mark.parametrize(("header", "after"), [("7", 7.0), ("0.5", 0.5), ("99999999", 3600.0), ("inf", None),
                                               ("soon", None)])
def test_a_rate_limit_retries_after_its_retry_after(slack_server: FakeSlack, route: str, header: str,
                                                    after: float | None) -> None:
    channel = bot(slack_server) if route != "hooks" else hook(slack_server.webhook_url)
    slack_server.then(route, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": header})
    with pytest.raises(Retry) as caught:
        channel.send(note(), None)
    assert caught.value.after == after
    assert_clean(caught.value.reason)


@pytest.mark.parametrize("route", ["chat.postMessage", "hooks"])
@pytest.mark.parametrize(("status", "body"), [
    (500, f"<html>internal error at {HOOK_PATH}</html>"),
    (502, "<html>bad gateway</html>"),
    (503, {"ok": False, "error": "service_unavailable"}),
])
def test_server_errors_retry(slack_server: FakeSlack, route: str, status: int, body: Any) -> None:
    channel = bot(slack_server) if route != "hooks" else hook(slack_server.webhook_url)
    slack_server.then(route, status, body)
    with pytest.raises(Retry) as caught:
        channel.send(note(), None)
    assert caught.value.after is None and str(status) in caught.value.reason
    assert_clean(caught.value.reason)
    assert channel.send(note(), None) is not None  # the server is fine again


@pytest.mark.parametrize("error", ["ratelimited", "service_unavailable", "internal_error", "fatal_error",
                                   "request_timeout"])
def test_transient_api_errors_retry(slack_server: FakeSlack, error: str) -> None:
    slack_server.then("chat.postMessage", 200, {"ok": False, "error": error})
    with pytest.raises(Retry, match=error):
        bot(slack_server).send(note(), None)


@pytest.mark.parametrize("error", ["channel_not_found", "invalid_auth", "not_in_channel", "is_archived",
                                   "msg_blocks_too_long", "missing_scope"])
def test_other_api_errors_fail_for_good(slack_server: FakeSlack, error: str) -> None:
    slack_server.then("chat.postMessage", 200, {"ok": False, "error": error})
    with pytest.raises(Permanent, match=error) as caught:
        bot(slack_server).send(note(), None)
    assert_clean(caught.value.reason)


def test_invalid_blocks_say_which(slack_server: FakeSlack) -> None:
    slack_server.then("chat.postMessage", 200, {"ok": False, "error": "invalid_blocks",
                                                "errors": ["[0] unsupported block type"]})
    with pytest.raises(Permanent, match=r"invalid_blocks \(\[0\] unsupported block type\)"):
        bot(slack_server).send(note(), None)


def test_a_wrong_token_fails_for_good_and_is_never_shown(slack_server: FakeSlack) -> None:
    wrong = "xoxb-9999-not-the-right-one"
    with pytest.raises(Permanent, match="invalid_auth") as caught:
        bot(slack_server, token=wrong).send(note(), None)
    assert wrong not in caught.value.reason
    assert slack_server.requests[0][1]["Authorization"] == f"Bearer {wrong}"


@pytest.mark.parametrize(("status", "body"), [(400, "invalid_payload"), (403, "action_prohibited"),
                                              (404, "no_service"), (410, "channel_is_archived")])
def test_webhook_client_errors_fail_for_good_with_the_body(slack_server: FakeSlack, status: int,
                                                            body: str) -> None:
    slack_server.then("hooks", status, body)
    with pytest.raises(Permanent, match=f"HTTP {status}: {body}"):
        hook(slack_server.webhook_url).send(note(), None)


def test_secrets_echoed_by_the_server_never_reach_a_reason(slack_server: FakeSlack) -> None:
    slack_server.then("chat.postMessage", 200, {"ok": False, "error": f"invalid_auth for {TOKEN}"})
    slack_server.then("hooks", 400, f"invalid_payload at {slack_server.webhook_url} " + "x" * 5000)
    slack_server.then("hooks", 500, f"oops {HOOK_PATH}")
    reasons = []
    for channel, kind in [(bot(slack_server), Permanent), (hook(slack_server.webhook_url), Permanent),
                          (hook(slack_server.webhook_url), Retry)]:
        with pytest.raises(kind) as caught:
            channel.send(note(), None)
        reasons.append(str(caught.value))
    for reason in reasons:
        assert_clean(reason)
        assert "***" in reason and len(reason) < 400


@pytest.mark.parametrize("kind", ["bot", "webhook"])
def test_nothing_listening_retries(kind: str) -> None:
    with closed_port() as port:
        url = f"http://127.0.0.1:{port}"
        config = SlackChannelConfig(kind="slack", token=TOKEN, channel="#x", api_url=url + "/api/")
        channel = open_slack("s", config, env()) if kind == "bot" else hook(url + HOOK_PATH)
        with pytest.raises(Retry, match="refused") as caught:
            channel.send(note(), None)
    assert_clean(caught.value.reason)


@pytest.mark.parametrize("route", ["chat.postMessage", "hooks"])
def test_a_hang_past_the_timeout_retries(slack_server: FakeSlack, route: str) -> None:
    channel = bot(slack_server, timeout=0.5) if route != "hooks" else hook(slack_server.webhook_url, 0.5)
    slack_server.then(route, 200, {"ok": True}, delay=120)
    started = time.monotonic()
    with pytest.raises(Retry, match="timed out"):
        channel.send(note(), None)
    assert time.monotonic() - started < 60  # the client gave up long before the server answered


def test_without_slack_sdk_opening_fails_for_good_with_the_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "slack_sdk", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "alerting.channels.slack")  # so the registry imports it again
    config = SlackChannelConfig(kind="slack", webhook_url="https://hooks.example/x")
    with pytest.raises(Permanent) as refused:
        open_channel("s", config, env())
    assert str(refused.value) == "channel s: slack_sdk is not installed: pip install 'demon-data[slack]'"


# --- hostile data and oversized context ---------------------------------------------------------------------


def hostile_context(repeat: int = 1) -> Context:
    bad = "".join(HOSTILE) * repeat
    return Context(
        message=f"12 rows {bad}", value=12.0, unit=bad, thresholds={bad: 1.0}, dataset=bad, source=bad,
        trend=[{"at": bad, "outcome": bad, "value": None}],
        last_passed_at=bad, schema={"added": [bad], "removed": [bad], "retyped": [
            {"column": bad, "before": bad, "after": bad}]},
        failing_rules=[{"rule": bad, "column": bad, "failing_rows": 3, "failing_pct": 1.5,
                        "sample": [{bad: bad, "n": 1}, {"note": "x" * 10_000}, {"lines": "a\nb\r\nc"}]}],
        upstream=[{"dataset": bad, "outcome": bad, "failing": [bad], "incident": 3}],
        downstream=[bad], members=[bad], statements=[f"select '{bad}'"], owner=bad, tags=[bad],
        description=bad, runbook=bad, dashboard_url=f"https://grafana.example/d/x?var-dataset={bad}")


@pytest.mark.parametrize("kind", ["bot", "webhook"])
def test_hostile_data_never_pings_links_or_breaks_a_code_block(slack_server: FakeSlack, kind: str) -> None:
    channel = bot(slack_server) if kind == "bot" else hook(slack_server.webhook_url)
    cause = RootCause(incident=3, key="raw.x", title="".join(HOSTILE))
    channel.send(note(context=hostile_context(), root=cause), None)
    assert slack_server.violations == []
    payload = slack_server.requests[-1][2]
    everything = payload["text"] + texts(payload["blocks"])
    assert "<https://evil" not in everything and "&lt;https://evil.example|x&gt;" in everything
    assert "&amp;lt;" in everything  # an entity in the data is shown as typed, not decoded
    assert "<https://grafana" not in everything  # the dashboard URL from data was not a plain URL: not linked
    for block in payload["blocks"]:
        for obj in render.text_objects(block):
            assert "``" not in re.sub(r"(^|\n)```(?=\n|$)", "", obj["text"])


def test_oversized_context_fits_every_limit_and_says_what_was_cut(slack_server: FakeSlack) -> None:
    wide = {f"column_{i}": "v" * 1000 for i in range(10)}
    context = Context(
        message="m" * 10_000, value=1.0, thresholds={"min": 2.0},
        failing_rules=[{"rule": f"rule_{i}", "column": "c", "failing_rows": 100, "failing_pct": None,
                        "sample": [wide] * 100} for i in range(200)],
        statements=["select " + "x" * 20_000 for _ in range(50)], members=[f"check_{i}" for i in range(1000)],
        downstream=[f"ds_{i}" for i in range(1000)],
        trend=[{"at": "t", "outcome": "fail", "value": 1.0}] * 500,
        tags=[f"tag_{i}" for i in range(1000)], description="d" * 10_000, owner="o" * 10_000)
    notification = note(context=context)
    built = render.blocks(notification)
    assert block_problems(built) == [] and block_text_size(built) <= render.TEXT_BUDGET
    shown = texts(built)
    assert "(cut to fit: statements, trend, samples" in shown
    assert "more failing rules" in shown and "... 50 more queries" in shown and "more characters" in shown
    assert "... 970 more" in shown  # members, downstream and tags: thirty of each
    channel = bot(slack_server)
    assert channel.send(notification, None).thread is not None
    assert len(slack_server.requests[-1][2]["text"]) <= render.FALLBACK_CHARS


def test_every_part_huge_at_once_in_the_widest_escaping_still_fits() -> None:
    huge = "&" * 5000  # five characters each once escaped
    context = Context(
        message=huge, value=1.0, unit=huge, thresholds={huge: 1.0}, dataset=huge, source=huge, kind=huge,
        trend=[{"at": huge, "outcome": huge, "value": 1.0}] * 300, last_passed_at=huge,
        schema={"added": [huge] * 100, "removed": [huge] * 100,
                "retyped": [{"column": huge, "before": huge, "after": huge}] * 100},
        failing_rules=[{"rule": huge, "column": huge, "failing_rows": 1, "failing_pct": 1.0,
                        "sample": [{huge: huge}] * 10}] * 100,
        upstream=[{"dataset": huge, "outcome": huge, "failing": [huge] * 50, "incident": 1}] * 100,
        downstream=[huge] * 100, members=[huge] * 100, statements=[huge] * 100, owner=huge, tags=[huge] * 100,
        description=huge, runbook="https://wiki.example/" + "a" * 900,
        dashboard_url="https://g.example/" + "a" * 900,
        truncated=[huge])
    built = render.blocks(note(context=context, root=RootCause(1, huge, huge)))
    assert block_problems(built) == [] and block_text_size(built) <= render.TEXT_BUDGET
    assert "|Runbook>" in texts(built) and "|Dashboard>" in texts(built)


def test_a_context_that_fits_is_not_cut() -> None:
    built = render.blocks(note(context=hostile_context()))
    assert "cut to fit" not in texts(built)
    assert "(cut to fit: samples)" in texts(render.blocks(note(context=Context(truncated=["samples"]))))


# --- what a notification says (issue 19) -------------------------------------------------------------------


def member(incident: int, said: str, query: str | None = None, outcome: str = "fail") -> Member:
    return Member(incident=incident, key=f"fact_orders.check{incident}", event="opened", outcome=outcome,
                  title=f"fact_orders.check{incident} failed", headline=said, message="m", query=query)


GROUPED = Context(
    check="fact_orders.volume", dataset="fact_orders", kind="volume", message="40 rows, expected 77-289",
    headline="fact_orders has 40 rows, 78.1% fewer than expected (77 to 289)", value=40.0, unit="rows",
    thresholds={"expected": 183.0, "expected_min": 76.9, "expected_max": 289.1, "max_drop": 0.5},
    trend=[{"at": "t3", "outcome": "fail", "value": 40.0}, {"at": "t2", "outcome": "pass", "value": 190.0},
           {"at": "t1", "outcome": "pass", "value": None}, {"at": "t0", "outcome": "pass", "value": 160.0}],
    statements=["SELECT count(*) AS demon_p0 FROM analytics.fact_orders WHERE loaded_at >= ..."],
    query="SELECT count(*) FROM analytics.fact_orders\nWHERE loaded_at >= current_date - 1",
    upstream=[{"dataset": "raw_orders", "outcome": "fail", "failing": ["raw_orders.volume"], "incident": 5},
              {"dataset": "dim_products", "outcome": "pass", "failing": [], "incident": None}],
    runbook="https://wiki.example/fact_orders")


def test_a_grouped_notification_through_slack_says_what_is_wrong_and_how_to_act(
    slack_server: FakeSlack,
) -> None:
    group = [member(8, "8 duplicated order_id values in fact_orders",
                    "SELECT order_id, count(*) FROM fact_orders GROUP BY 1 HAVING count(*) > 1 <!channel>"),
             member(9, "fact_orders last loaded 3h ago (warn_after 2h)")]
    channel = bot(slack_server)
    channel.send(note(context=GROUPED, incident=7, group=group), None)
    assert slack_server.violations == []
    [message] = slack_server.all_messages()
    shown = texts(message.blocks)
    assert ("*fact_orders: 3 checks failing — fact_orders has 40 rows, 78.1% fewer than expected (77 to 289)*"
            in shown)
    assert "*Also failing in this dataset* (2)" in shown
    assert "• 8 duplicated order_id values in fact_orders (incident #8)" in shown
    assert "GROUP BY 1 HAVING count(*) &gt; 1 &lt;!channel&gt;\n```" in shown  # the member's query, escaped
    assert "• fact_orders last loaded 3h ago (warn_after 2h) (incident #9)" in shown
    # the paste-able query instead of the fused statement
    assert "*Run this to see it*\n```\nSELECT count(*) FROM analytics.fact_orders\nWHERE loaded_at" in shown
    assert "demon_p0" not in shown
    # thresholds in their units, a sparkline oldest to newest
    assert "max_drop 50%" in shown and "77 to 289" in shown and "0.5" not in shown
    assert ("*Trend* ▇·█▁ (oldest to newest)\nnewest first: "
            "40 rows (fail), 190 rows (pass), - (pass), 160 rows (pass)") in shown
    # an upstream that fails too is not called a cause when the engine named none
    assert "upstream raw_orders is also failing: raw_orders.volume" in shown
    assert "root cause" not in shown.lower()
    # the commands end the message, as demon's CLI takes them
    assert message.blocks[-1]["text"]["text"] == (
        "*Act on it*\n```\ndemon ack 7 8 9\n"
        "demon silence 'fact_orders.*' --for 2h --reason investigating\n```")
    # the fallback says it too
    assert "demon ack 7 8 9" in message.text and "3 checks failing" in message.text


def test_the_root_cause_is_named_only_when_the_engine_found_one() -> None:
    cause = RootCause(incident=5, key="raw_orders.volume", title="raw_orders.volume failed")
    shown = texts(render.blocks(note(context=GROUPED, root=cause)))
    assert "probable root cause: raw_orders.volume failed (incident #5)" in shown
    assert "also failing" not in shown  # the root cause's dataset is not listed twice
    assert "upstream dim_products: pass" in shown


def test_a_huge_group_is_cut_before_the_leads_essentials_saying_how_many(slack_server: FakeSlack) -> None:
    group = [member(100 + i, f"rule_{i} fails on {'x' * 250}", "SELECT " + "y" * 2000) for i in range(300)]
    built = render.blocks(note(context=GROUPED, group=group))
    assert block_problems(built) == [] and block_text_size(built) <= render.TEXT_BUDGET
    shown = texts(built)
    assert "fact_orders: 301 checks failing" in shown and "*Run this to see it*" in shown
    assert "more checks of this dataset, cut to fit" in shown and "group" in shown.splitlines()[-1]
    assert "Act on it" in shown and "max_drop 50%" in shown  # the lead's essentials stay
    bot(slack_server).send(note(context=GROUPED, group=group), None)
    assert slack_server.violations == []


def test_the_rules_failing_share_reads_as_in_the_terminal(slack_server: FakeSlack) -> None:
    """`failing_pct` is a fraction of the rows (as in the result's details): Slack once showed 0.00087108%
    where the terminal said 0.0871%."""
    from alerting.context import check_context
    from checks.kinds.quality import _finding  # the words of the check's message, as the terminal prints it
    from monitor.app.config import plugins
    from monitor.core.config.models import config_model
    from monitor.core.evidence import QualityReport, RuleResult
    from monitor.core.results import Outcome, Result

    found_rule = RuleResult("order_id", "field_uniqueness", "in_warehouse", 9180, 8)
    terminal = _finding(found_rule)
    assert terminal == "order_id field_uniqueness: 8 rows (0.0871%)"
    config = config_model(plugins()).model_validate({
        "version": 1, "sources": {"wh": {"kind": "sql", "url": "duckdb:///x"}},
        "datasets": {"fact_orders": {"source": "wh", "table": "fact_orders"}}})
    result = Result("fact_orders.quality", "fact_orders", "quality", "wh", Outcome.FAIL, terminal,
                    datetime(2026, 1, 1, tzinfo=UTC), 0.1, value=8.0, unit="rows",
                    evidence=QualityReport((found_rule,)))
    bot(slack_server).send(note(context=check_context(config, result, [], [])), None)
    [message] = slack_server.all_messages()
    slack_rule = next(line for line in texts(message.blocks).splitlines() if line.startswith("*Rule*"))
    assert slack_rule == "*Rule* field_uniqueness on order_id: 8 failing rows (0.0871%)"
    assert "(0.0871%)" in terminal and "0.00087" not in texts(message.blocks) + message.text
    assert "rule field_uniqueness on order_id: 8 failing rows (0.0871%)" in message.text  # the text agrees


def test_a_resolution_says_only_what_passes_again_and_after_how_long(slack_server: FakeSlack) -> None:
    channel = bot(slack_server)
    thread = channel.send(note(context=GROUPED), None).thread
    assert thread is not None
    channel.send(note(EventKind.RESOLVED, context=GROUPED, group=[member(8, "x", outcome="pass")]), thread)
    root, reply = slack_server.messages[thread["channel"]]
    assert texts(reply.blocks) == ("✅ resolved: fact_orders.volume passes again after 1h\n"
                                   "also resolved: x (passes again) (incident #8)\n"
                                   "<https://wiki.example/fact_orders|Runbook>")
    assert reply.text == ("resolved: fact_orders.volume passes again after 1h\n"
                          "also resolved: x (passes again) (incident #8)\nrunbook: https://wiki.example/fact_orders")
    assert "after 1h" in texts(root.blocks) and root.edits == 1  # the root message, marked resolved


# --- the renderer's own rules -------------------------------------------------------------------------------


def test_escape_replaces_only_the_three_control_characters_ampersand_first() -> None:
    assert render.escape("<!here> & &amp; é *b* `c`") == "&lt;!here&gt; &amp; &amp;amp; é *b* `c`"


def test_escaped_clips_between_characters_never_inside_an_entity() -> None:
    text = render.escaped("<" * 1000, 100)
    assert len(text) <= 100 and text.endswith("more characters")
    assert re.fullmatch(r"(&lt;)+ \.\.\. \d+ more characters", text)
    assert render.escaped("short & fine", 100) == "short &amp; fine"


def test_unfence_leaves_no_two_backticks_together() -> None:
    for count in range(1, 9):
        assert "``" not in render.unfence("`" * count)
    assert render.unfence("a`b") == "a`b"


def test_every_mrkdwn_text_is_verbatim_and_no_text_is_empty() -> None:
    context = Context(message="", owner="", tags=[], statements=[], failing_rules=[
        {"rule": "r", "column": None, "failing_rows": 1, "failing_pct": None, "sample": []}])
    for built in (render.blocks(note(context=context)), render.blocks(note(context=hostile_context())),
                  render.resolved_blocks(note(EventKind.RESOLVED))):
        assert block_problems(built) == []
        for block in built:
            for obj in render.text_objects(block):
                assert obj["text"]
                assert obj["type"] == "plain_text" or obj["verbatim"] is True


def test_runbook_and_dashboard_are_linked_only_when_they_are_plain_urls() -> None:
    context = Context(runbook="https://wiki.example/run?a=1&b=2", dashboard_url="https://g.example/d/demon-dataset")
    shown = texts(render.blocks(note(context=context)))
    assert "<https://wiki.example/run?a=1&amp;b=2|Runbook>" in shown
    assert "<https://g.example/d/demon-dataset|Dashboard>" in shown
    shown = texts(render.blocks(note(context=Context(runbook="see <@U1> | ask"))))
    assert "Runbook: see &lt;@U1&gt; | ask" in shown and "|Runbook>" not in shown


def test_resolved_blocks_are_short_and_say_when() -> None:
    built = render.resolved_blocks(note(EventKind.RESOLVED))
    assert built[0]["text"]["text"] == "✅ Resolved: fact_orders.volume failed"
    assert "resolved at 2024-05-01T11:00:00Z" in texts(built) and block_text_size(built) < 500


def test_the_fallback_is_escaped_and_bounded() -> None:
    text = render.fallback(note(context=hostile_context(repeat=200)))
    assert len(text) <= render.FALLBACK_CHARS and not SPECIAL.search(text)
    assert text.startswith("[critical] fact_orders.volume failed (opened)")


# --- the stand-in enforces what Slack enforces (else the tests above would prove nothing) -------------------


@pytest.mark.parametrize(("blocks", "error"), [
    ([{"type": "divider"}] * 51, "invalid_blocks"),
    ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "invalid_blocks"),
    ([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}], "invalid_blocks"),
    ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}], "invalid_blocks"),
    ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}], "invalid_blocks"),
    ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "invalid_blocks"),
    ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2500}}] * 5, "msg_blocks_too_long"),
])
def test_the_stand_in_refuses_what_slack_refuses(slack_server: FakeSlack, blocks: list[dict[str, Any]],
                                                  error: str) -> None:
    client = WebClient(token=TOKEN, base_url=slack_server.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="#x", text="t", blocks=blocks)
    assert caught.value.response["error"] == error
    client.chat_postMessage(channel="#x", text="<!channel> <@U1>")
    assert slack_server.violations == ["chat.postMessage: <!channel", "chat.postMessage: <@U1"]


def test_the_stand_in_updates_only_known_messages_by_channel_id(slack_server: FakeSlack) -> None:
    client = WebClient(token=TOKEN, base_url=slack_server.api_url, retry_handlers=[])
    metadata = {"event_type": "e", "event_payload": {"k": 1}}
    posted = client.chat_postMessage(channel="#x", text="t", metadata=metadata)
    for channel, ts, error in [("#x", posted["ts"], "channel_not_found"),
                               (posted["channel"], "9.9", "message_not_found")]:
        with pytest.raises(SlackApiError, match=error):
            client.chat_update(channel=channel, ts=ts, text="u")
    history = client.conversations_history(channel=posted["channel"], include_all_metadata=True)
    assert history["messages"][0]["metadata"] == metadata


# --- any context stays within every limit -------------------------------------------------------------------

_piece = st.sampled_from(HOSTILE) | st.text(max_size=8)
_text = st.builds(lambda parts, times: "".join(parts) * times, st.lists(_piece, max_size=4),
                  st.integers(1, 600))
_short = st.text(max_size=12) | st.sampled_from(HOSTILE)
_value = st.none() | st.floats() | st.integers() | _text
_rule = st.fixed_dictionaries({
    "rule": _text, "column": st.none() | _short, "failing_rows": st.integers(0, 10**9),
    "failing_pct": st.none() | st.floats(0, 100),
    "sample": st.lists(st.dictionaries(_short, _value, max_size=6), max_size=8)})
_point = st.fixed_dictionaries({"at": _short, "outcome": _short, "value": st.none() | st.floats()})
_contexts = st.fixed_dictionaries({}, optional={
    "message": _text, "value": st.none() | st.floats(), "unit": st.none() | _short,
    "thresholds": st.dictionaries(_short, st.floats(allow_nan=False), max_size=3),
    "trend": st.lists(_point, max_size=300), "last_passed_at": st.none() | _short,
    "schema": st.fixed_dictionaries({
        "added": st.lists(_text, max_size=40), "removed": st.lists(_text, max_size=40),
        "retyped": st.lists(st.fixed_dictionaries({"column": _short, "before": _short, "after": _short}),
                            max_size=40)}),
    "failing_rules": st.lists(_rule, max_size=40),
    "upstream": st.lists(st.fixed_dictionaries({"dataset": _text, "outcome": _short,
                                                "failing": st.lists(_text, max_size=20),
                                                "incident": st.none() | st.integers(1, 99)}), max_size=20),
    "downstream": st.lists(_text, max_size=60), "members": st.lists(_text, max_size=60),
    "statements": st.lists(_text, max_size=60), "owner": st.none() | _text,
    "tags": st.lists(_text, max_size=60),
    "description": st.none() | _text, "runbook": st.none() | _text | st.just("https://wiki.example/x?a&b"),
    "dashboard_url": st.none() | st.just("https://grafana.example/d/demon-dataset?var-dataset=a&b") | _text,
    "dataset": _short, "source": _short, "kind": _short,
    "truncated": st.lists(st.sampled_from(["samples", "trend", "statements"]), max_size=3, unique=True),
    "headline": _text, "query": st.none() | _text, "check": _short,
})
_members = st.lists(st.fixed_dictionaries({
    "incident": st.integers(1, 10**6), "key": _short, "event": st.sampled_from([e.value for e in EventKind]),
    "outcome": _short | st.just("pass"), "title": _text, "headline": st.none() | _text, "message": _text,
    "query": st.none() | _text}), max_size=40)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(context=_contexts, root=st.none() | st.builds(RootCause, st.integers(1, 9), _short, _text),
       event=st.sampled_from(EventKind), group=_members)
def test_any_context_fits_every_slack_limit(context: Any, root: RootCause | None, event: EventKind,
                                            group: list[Member]) -> None:
    notification = note(event=event, context=context, root=root, group=group)
    built = render.blocks(notification)
    assert block_problems(built) == []
    assert len(built) <= render.MAX_BLOCKS and block_text_size(built) <= render.TEXT_BUDGET
    fallback = render.fallback(notification)
    assert 0 < len(fallback) <= render.FALLBACK_CHARS
    for text in [fallback, *(obj["text"] for block in built for obj in render.text_objects(block))]:
        assert not SPECIAL.search(text)
        assert "``" not in re.sub(r"(^|\n)```(?=\n|$)", "", text)
