"""Microsoft Teams notifications against a stand-in webhook on 127.0.0.1 that refuses what Teams refuses: the
card's content and limits with hostile data, retries and refusals, the outbox on the real state stores, and
`demon check --notify` on a DuckDB warehouse."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting.channels import ChannelEnv, open_channel
from alerting.channels.settings import TeamsChannelConfig
from alerting.channels.teams import TeamsChannel
from alerting.delivery import Attempt
from alerting.engine import Alerting
from alerting.model import Context, Delivered, EventKind, Member, Notification, Permanent, Retry, RootCause
from alerting.render import teams as render
from alerting.render.text import headline, resolved_line
from monitor.app.config import ConfigError, load_config
from monitor.core.redact import Redactor
from monitor.state.store import StateStore
from tests.httpserver import serving
from tests.teamsserver import HOOK_PATH, MAX_BYTES, FakeTeams, card_problems
from tests.test_alerting_daemon import FAILING, PASSING, demon, incidents, make_config, outbox, set_rows
from tests.test_delivery import deliverer, pump
from tests.test_delivery import outbox as rows
from tests.test_incidents import DATASETS, FACT, SOURCES_YML, Clock, at, result
from tests.test_slack import _contexts as any_context

SECRET = "s3cretTeamsPath"
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    with serving(FakeTeams()) as server:
        yield server


def channel(url: str) -> TeamsChannel:
    opened = open_channel("teams", TeamsChannelConfig(kind="teams", webhook_url=url),
                          ChannelEnv(Path(), Redactor(), timeout=30.0))
    assert isinstance(opened, TeamsChannel)
    return opened


CONTEXT = Context(
    check="orders.volume", dataset="orders", source="warehouse", kind="volume", message="2 rows, below min 5",
    value=2.0, thresholds={"min": 5.0}, owner="sales", tags=["tier1"], description="the orders of the day",
    trend=[{"at": "2024-05-01T09:00:00Z", "outcome": "pass", "value": 10.0}],
    upstream=[{"dataset": "raw_orders", "outcome": "fail", "failing": ["raw_orders.volume"], "incident": 3}],
    statements=["select count(*) from orders"], runbook="https://wiki.example/run?a=1&b=2",
    dashboard_url="https://grafana.example/d/demon-dataset?var-dataset=orders")


def note(event: EventKind = EventKind.OPENED, context: Any = CONTEXT, title: str = "orders.volume failed",
         root: RootCause | None = None) -> Notification:
    return Notification(
        key=f"7:{event.value}:teams", channel="teams", incident=7, incident_key="orders.volume", event=event,
        outcome="pass" if event is EventKind.RESOLVED else "fail", severity="critical", title=title,
        opened_at="2024-05-01T10:00:00Z", at="2024-05-01T10:05:00Z", context=context, root=root)


def texts(card: dict[str, Any]) -> list[str]:
    """Every TextRun's text, in order."""
    return [run["text"] for element in card["body"] for run in element.get("inlines", [])]


def card_of(message: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = message["attachments"][0]["content"]
    return content


# --- the card --------------------------------------------------------------------------------------------


def test_a_card_says_what_a_responder_needs(teams: FakeTeams) -> None:
    sent = note(root=RootCause(3, "raw_orders.volume", "raw_orders.volume failed"))
    assert channel(teams.url).send(sent, None) == Delivered(None)
    [card] = teams.cards
    first = card["body"][0]["inlines"][0]
    assert (first["text"], first["weight"], first["size"], first["color"]) == (
        "[critical] orders.volume failed (opened)", "Bolder", "Large", "Attention")
    shown = texts(card)
    assert shown[1] == "2 rows, below min 5"
    for expected in ("Severity: ", "critical", "Observed: ", "2", "Expected: ", "min 5", "Dataset: ",
                     "orders", "Trend", "▅ (oldest to newest)", "newest first: 10 (pass)", "Upstream",
                     "probable root cause: raw_orders.volume failed (incident #3)", "Queries",
                     "query: select count(*) from orders", "owner: sales",
                     "description: the orders of the day", "tags: tier1", "Act on it", "demon ack 7",
                     "demon silence 'orders.*' --for 2h --reason investigating"):
        assert expected in shown, expected
    assert not any(text.startswith("upstream raw_orders") for text in shown)  # the root cause says it
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Runbook", "url": "https://wiki.example/run?a=1&b=2"},
        {"type": "Action.OpenUrl", "title": "Dashboard",
         "url": "https://grafana.example/d/demon-dataset?var-dataset=orders"}]
    assert card["version"] == "1.4" and teams.markdown == []
    assert "cut to fit" not in " ".join(shown)


def test_a_resolution_is_green_and_short(teams: FakeTeams) -> None:
    """What passes again and after how long, the links as buttons: not the whole context again."""
    channel(teams.url).send(note(EventKind.RESOLVED), None)
    [card] = teams.cards
    first = card["body"][0]["inlines"][0]
    assert (first["text"], first["color"]) == ("resolved: orders.volume passes again after 5m", "Good")
    assert texts(card) == ["resolved: orders.volume passes again after 5m"]
    assert [action["title"] for action in card["actions"]] == ["Runbook", "Dashboard"]


def member(incident: int, query: str | None = None) -> Member:
    return Member(incident=incident, key="orders.quality", event="opened", outcome="fail",
                  title="orders.quality failed", headline=f"{incident} duplicated id values in orders",
                  message="m", query=query)


def test_a_grouped_card_counts_the_checks_lists_each_and_ends_with_the_commands(teams: FakeTeams) -> None:
    context = Context(**{**CONTEXT, "headline": "orders has 2 rows, below min 5",
                         "query": "SELECT count(*) FROM orders"})
    query = "SELECT id FROM orders GROUP BY 1 HAVING count(*) > 1"
    sent = replace(note(context=context), group=[member(8, query)])
    channel(teams.url).send(sent, None)
    [card] = teams.cards
    shown = texts(card)
    assert shown[1] == "orders: 2 checks failing — orders has 2 rows, below min 5"
    for expected in ("Run this to see it", "SELECT count(*) FROM orders", "Also failing in this dataset (1)",
                     "- 8 duplicated id values in orders (incident #8)",
                     "    SELECT id FROM orders GROUP BY 1 HAVING count(*) > 1"):
        assert expected in shown, expected
    assert "Queries" not in shown  # the query replaces the statements
    assert shown[-3:] == [  # the ack names every incident the card told of
        "Act on it", "demon ack 7 8", "demon silence 'orders.*' --for 2h --reason investigating"]


def test_a_group_is_bounded_and_a_huge_one_cut_first_saying_how_many(teams: FakeTeams) -> None:
    many = texts(card_of(render.card_message(replace(note(), group=[member(100 + i) for i in range(200)]))))
    assert "- 111 duplicated id values in orders (incident #111)" in many
    assert "... 188 more checks of this dataset, cut to fit" in many
    rules = [{"rule": f"r{i}" + "z" * 1000, "column": "c", "failing_rows": 1, "failing_pct": None,
              "sample": []} for i in range(30)]
    group = [member(100 + i, "SELECT " + "x" * 2000) for i in range(12)]
    sent = replace(note(context=Context(**{**CONTEXT, "failing_rules": rules})), group=group)
    message = render.card_message(sent)
    assert len(render.encoded(message)) <= render.MAX_BYTES
    shown = texts(card_of(message))
    assert "... 12 more checks of this dataset, cut to fit" in shown
    assert any(text.startswith("(cut to fit: ") and "group" in text for text in shown)
    assert "Act on it" in shown and "Expected: " in shown
    channel(teams.url).send(sent, None)
    assert teams.cards and teams.markdown == []


HOSTILE = ("[click](javascript:alert(1)) <script>alert('x')</script> **bold** _it_ <at>everyone</at> "
           "\u202eevil\u202c \u2066x\u2069 \U0001F525\U0001F6A8 {{DATE(2017-02-14T06:00:00Z, SHORT)}} "
           "{{{{ \x07\r\n")


def test_hostile_data_is_shown_as_typed_and_links_nothing(teams: FakeTeams) -> None:
    context = Context(message=HOSTILE, dataset=HOSTILE, description=HOSTILE, owner=HOSTILE,
                      runbook="javascript:alert(1)", dashboard_url="[dash](https://evil.example)",
                      failing_rules=[{"rule": HOSTILE, "column": None, "failing_rows": 1, "failing_pct": None,
                                      "sample": [{"note": HOSTILE}]}])
    channel(teams.url).send(note(context=context), None)
    [card] = teams.cards
    assert teams.markdown == [] and "actions" in card and card["actions"] == []
    shown = texts(card)
    assert shown[1] == ("[click](javascript:alert(1)) <script>alert('x')</script> **bold** _it_ "
                        "<at>everyone</at> <U+202E>evil<U+202C> <U+2066>x<U+2069> \U0001F525\U0001F6A8 "
                        "{\u200b{DATE(2017-02-14T06:00:00Z, SHORT)}} {\u200b{\u200b{\u200b{ <U+0007>\n")
    everything = "".join(shown)
    for invisible in ("\u202e", "\u202c", "\u2066", "\u2069", "\x07", "\r", "{{"):
        assert invisible not in everything
    assert "runbook: javascript:alert(1)" in shown and "dashboard: [dash](https://evil.example)" in shown
    assert all(run.get("type") == "TextRun" for element in card["body"] for run in element["inlines"])


def test_a_huge_context_is_cut_under_the_limit_and_the_headline_kept(teams: FakeTeams) -> None:
    wide = {f"column_{i}": "\U0001F525" * 500 for i in range(10)}
    context = Context(
        message="m" * 100_000, description="<script>" * 100_000, value=1.0, thresholds={"min": 2.0},
        failing_rules=[{"rule": f"rule_{i}", "column": "c", "failing_rows": 100, "failing_pct": None,
                        "sample": [wide] * 100} for i in range(200)],
        statements=["select " + "x" * 20_000 for _ in range(50)], members=[f"check_{i}" for i in range(1000)],
        trend=[{"at": "t", "outcome": "fail", "value": 1.0}] * 500, tags=[f"tag_{i}" for i in range(1000)])
    sent = note(context=context)
    message = render.card_message(sent)
    assert len(render.encoded(message)) <= render.MAX_BYTES < MAX_BYTES
    channel(teams.url).send(sent, None)
    [card] = teams.cards
    shown = texts(card)
    assert shown[0] == headline(sent)
    assert shown[-1].startswith("(cut to fit: statements, trend, samples")
    assert "more characters" in shown[1] and len(shown[1]) <= 3000
    assert "... 970 more" in shown  # members: thirty lines a section
    assert "  ... 100 more rows" in shown  # failing rules, without their samples
    assert all(len(text) <= 3000 for text in shown)


def test_a_long_headline_is_never_cut_to_fit() -> None:
    title = "x" * 400 + ".volume failed"
    message = render.card_message(note(context=Context(description="d" * 1_000_000), title=title))
    assert texts(card_of(message))[0] == f"[critical] {title} (opened)"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(context=any_context, event=st.sampled_from(EventKind),
       title=st.text(min_size=1, max_size=300))
def test_any_context_fits_and_keeps_its_headline(context: Any, event: EventKind, title: str) -> None:
    sent = note(event=event, context=context, title=title)
    message = render.card_message(sent)
    assert len(render.encoded(message)) <= render.MAX_BYTES
    assert card_problems(json.loads(render.encoded(message))) == []
    card = card_of(message)
    first = resolved_line(sent) if event is EventKind.RESOLVED else headline(sent)
    assert texts(card)[0] == render.shown(first, render.HEADLINE_CHARS)
    assert all(element["type"] == "RichTextBlock" for element in card["body"])
    for text in texts(card):
        assert "{{" not in text and not INVISIBLE.search(text)
    assert all(action["url"].startswith(("https://", "http://")) for action in card["actions"])


# --- answers: retried, refused, never the URL ------------------------------------------------------------


@pytest.mark.parametrize(("status", "header", "after"), [
    (429, "12", 12.0), (429, None, None), (500, None, None), (502, None, None), (503, None, None)])
def test_rate_limits_and_server_errors_are_retried(
    teams: FakeTeams, status: int, header: str | None, after: float | None
) -> None:
    teams.then(status, f"busy at {teams.url}", **({"Retry_After": header} if header else {}))
    with pytest.raises(Retry) as caught:
        channel(teams.url).send(note(), None)
    assert caught.value.after == after and f"HTTP {status}" in caught.value.reason
    assert SECRET not in caught.value.reason and "busy at ***" in caught.value.reason


def test_a_bad_payload_is_refused_for_good_with_the_reason(teams: FakeTeams) -> None:
    teams.then(400, "Bad payload received by generic incoming webhook.")
    with pytest.raises(Permanent) as caught:
        channel(teams.url).send(note(), None)
    assert caught.value.reason == (
        "teams teams: HTTP 400 Bad Request: Bad payload received by generic incoming webhook.")
    with pytest.raises(Permanent, match="HTTP 404 Not Found: Webhook not found") as caught:
        channel(teams.url.replace(SECRET, "wrongPath")).send(note(), None)
    assert "wrongPath" not in caught.value.reason


@pytest.mark.parametrize(("code", "kind"), [("429", Retry), ("502", Retry), ("413", Permanent)])
def test_a_refusal_said_in_a_200_counts(teams: FakeTeams, code: str, kind: type[Exception]) -> None:
    """Office 365 connector webhooks may answer 200 and say in the body that Teams refused."""
    teams.then(200, f"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP "
                    f"error {code} with ContextId tcid=0,server=msgapi-production")
    with pytest.raises(kind) as caught:
        channel(teams.url).send(note(), None)
    assert f"HTTP {code}" in str(caught.value)


def test_the_webhook_url_must_be_http_and_is_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "demon.yml"
    path.write_text(f"version: 1\nsources:\n{SOURCES_YML}datasets:\n{DATASETS}alerting:\n  channels:\n"
                    f"    teams: {{kind: teams, webhook_url: 'webhook.office.com/{SECRET}'}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "alerting.channels.teams.webhook_url: expected an https:// URL" in str(caught.value)
    assert SECRET not in str(caught.value)


# --- the outbox and `demon check --notify` ---------------------------------------------------------------


def test_a_rate_limited_card_is_delivered_once_after_its_retry_after(
    store: StateStore, teams: FakeTeams, tmp_path: Path
) -> None:
    path = tmp_path / "demon.yml"
    path.write_text(f"version: 1\nsources:\n{SOURCES_YML}datasets:\n{DATASETS}alerting:\n  channels:\n"
                    f"    teams: {{kind: teams, webhook_url: '{teams.url}'}}\n"
                    f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n")
    config, clock = load_config(path), Clock()
    Alerting(store, clock).observe(config, [result(FACT, "fail", at(0))], {})
    teams.then(429, "slow down", Retry_After="20")
    sender = deliverer(store, config, tmp_path, clock)
    assert sender.step("teams") == Attempt(True, 20.0)
    assert sender.step("teams") == Attempt(False, 0.0)  # not before its Retry-After
    clock.now += timedelta(seconds=20)
    pump(sender, clock, "teams")
    assert [status for status, _ in teams.requests] == [429, 200] and len(teams.cards) == 1
    [row] = rows(store)
    assert (row["state"], row["attempts"]) == ("sent", 2)
    assert SECRET not in str(row["last_error"])


def test_check_notify_posts_the_opening_and_the_resolution_and_ack_tells_teams_nothing(
    tmp_path: Path, teams: FakeTeams
) -> None:
    channels = "    teams:\n      kind: teams\n      webhook_url: ${TEAMS_URL}\n"
    env = {"TEAMS_URL": teams.url}
    config = make_config(tmp_path, FAILING, channels=channels, repeat_every="1h")
    opened = demon(config, "check", "--notify", env=env)
    assert opened.returncode == 1, opened.stderr
    [incident] = incidents(tmp_path)
    acked = demon(config, "ack", str(incident["id"]), env=env)
    assert (acked.returncode, acked.stderr) == (0, "")
    set_rows(tmp_path, PASSING)
    resolved = demon(config, "check", "--notify", env=env)
    assert resolved.returncode == 0, resolved.stderr
    opening, resolution = teams.cards
    assert texts(opening)[:2] == ["[high] orders.volume failed (opened)", "orders has 2 rows, below min 5"]
    assert f"demon ack {incident['id']}" in texts(opening)
    assert re.fullmatch(r"resolved: orders\.volume passes again after \d+(\.\d+)?s", texts(resolution)[0])
    assert [(row["event_kind"], row["state"]) for row in outbox(tmp_path)] == [
        ("opened", "sent"), ("resolved", "sent")]
    assert HOOK_PATH not in opened.stderr + acked.stderr + resolved.stderr
