"""The plain-text rendering of notifications (console, SNS email, Slack fallback): what it says, and how it
cuts to a limit, least needed parts first, saying what it cut."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.context import check_context
from alerting.model import Context, EventKind, Member, Notification, RootCause
from alerting.render.text import CELL, SAMPLE_ROWS, cell, clip, headline, render_text
from monitor.app.config import plugins
from monitor.core.config.models import config_model
from monitor.core.evidence import QualityReport, RuleResult
from monitor.core.results import Outcome, Result

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
COMMANDS = "act on it:\n  demon ack 42\n  demon silence 'orders.*' --for 2h --reason investigating"
HOSTILE = "<!channel> & ```\n<@U1>\r\n" + "x" * 10_000


def full_context(**changes: Any) -> Context:
    context = {
        "check": "orders.quality", "dataset": "orders", "kind": "quality", "source": "wh", "outcome": "fail",
        "message": "2 rules failing", "value": 3.0, "unit": "rows",
        "thresholds": {"warn_failing_rows": 1.0, "max_failing_rows": 0.0},
        "trend": [{"at": "2026-03-01T12:00:00Z", "outcome": "fail", "value": 3.0},
                  {"at": "2026-03-01T11:00:00Z", "outcome": "pass", "value": None}],
        "last_passed_at": "2026-03-01T11:00:00Z",
        "schema": {"added": ["extra"], "removed": ["note"],
                   "retyped": [{"column": "amount", "before": "float", "after": "string"}]},
        "failing_rules": [{"rule": "isin", "column": "status", "failing_rows": 5, "failing_pct": 0.5,
                           "sample": [{"id": index, "status": f"lost{index}"} for index in range(5)]}],
        "upstream": [{"dataset": "raw", "outcome": "fail", "failing": ["raw.volume"], "incident": 7},
                     {"dataset": "ref", "outcome": "pass", "failing": [], "incident": None}],
        "downstream": ["marts"],
        "statements": ["SELECT count(*)\n  FROM orders"],
        "owner": "sales", "tags": ["tier-1", "sales"], "description": "Orders", "runbook": "https://wiki/x",
        "dashboard_url": "https://g/d/demon-dataset/?var-dataset=orders",
        **changes,
    }
    return cast(Context, context)


def note(context: Context | None = None, event: EventKind = EventKind.OPENED, **fields: Any) -> Notification:
    return Notification(**{
        "key": "42:opened:c", "channel": "c", "incident": 42, "incident_key": "orders.quality",
        "event": event,
        "outcome": "fail", "severity": "critical", "title": "orders.quality failed",
        "opened_at": "2026-03-01T11:30:00Z", "at": "2026-03-01T12:00:00Z",
        "context": full_context() if context is None else context, **fields,
    })


# --- pieces -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("event", "said"), [
    (EventKind.OPENED, "opened"), (EventKind.CHANGED, "changed"), (EventKind.REPEATED, "still open"),
    (EventKind.RESOLVED, "resolved"),
])
def test_headline(event: EventKind, said: str) -> None:
    assert headline(note(event=event)) == f"[critical] orders.quality failed ({said})"


def test_clip() -> None:
    assert clip("abc", 3) == "abc"
    cut = clip("a" * 1000, 100)
    assert 95 <= len(cut) <= 100 and cut.startswith("a" * 70) and cut.endswith(" more characters")


def test_clip_says_how_many_characters_it_cut() -> None:
    cut = clip("a" * 1000, 100)
    kept = cut.partition(" ... ")[0]
    assert cut == f"{kept} ... {1000 - len(kept)} more characters"


@given(st.text(max_size=3000), st.integers(30, 3000))
def test_clip_never_exceeds_its_limit_and_keeps_the_start(text: str, limit: int) -> None:
    cut = clip(text, limit)
    assert len(cut) <= limit
    assert cut == text or (cut.endswith("more characters") and text.startswith(cut.partition(" ... ")[0]))


def test_cell_puts_a_value_on_one_bounded_line() -> None:
    assert cell("a\n b\r\n\tc") == "a b c"
    assert CELL - 5 <= len(cell(HOSTILE)) <= CELL and "\n" not in cell(HOSTILE)
    assert (cell(None), cell(1.5), cell(True), cell({"k": [1]})) == ("null", "1.5", "true", '{"k": [1]}')


# --- content ------------------------------------------------------------------------------------


def test_everything_a_responder_needs_in_reading_order() -> None:
    text = render_text(note(root=RootCause(7, "raw.volume", "raw.volume failed")))
    assert text.splitlines() == [
        "[critical] orders.quality failed (opened)",
        "2 rules failing",
        "observed 3 rows; expected max_failing_rows 0, warn_failing_rows 1",
        "open since 2026-03-01T11:30:00Z; last passed 2026-03-01T11:00:00Z",
        "columns added: extra",
        "columns removed: note",
        "columns retyped: amount float -> string",
        "rule isin on status: 5 failing rows (50%)",
        "  id=0, status=lost0",
        "  id=1, status=lost1",
        "  id=2, status=lost2",
        "  ... 2 more rows",
        "trend ·▅ (oldest to newest); newest first: 3 rows (fail), - (pass)",
        "query: SELECT count(*) FROM orders",
        "probable root cause: raw.volume failed (incident #7)",
        "upstream ref: pass",
        "downstream also failing: marts",
        "owner: sales",
        "description: Orders",
        "runbook: https://wiki/x",
        "dashboard: https://g/d/demon-dataset/?var-dataset=orders",
        "tags: tier-1, sales",
        "act on it:",
        "  demon ack 42",
        "  demon silence 'orders.*' --for 2h --reason investigating",
    ]


def test_a_bare_context_says_little_and_never_passed() -> None:
    text = render_text(note(Context(message="boom", value=None)))
    assert text.splitlines() == [
        "[critical] orders.quality failed (opened)", "boom", "observed none",
        "open since 2026-03-01T11:30:00Z; last passed never (in the kept history)",
        "act on it:", "  demon ack 42", "  demon silence orders.quality --for 2h --reason investigating",
    ]


def test_a_source_incident_lists_its_checks_up_to_twenty() -> None:
    members = [f"d{index:02}.volume" for index in range(25)]
    context = Context(source="wh", outcome="error", message="cannot connect", members=members, owner="a, b")
    lines = render_text(note(context, incident_key="source:wh", title="source wh unreachable")).splitlines()
    assert lines[1:3] == [
        "cannot connect", "open since 2026-03-01T11:30:00Z; last passed never (in the kept history)",
    ]
    assert lines[3] == f"checks that could not run (25): {', '.join(members[:20])} ... 5 more"
    assert lines[4:] == ["owner: a, b", "act on it:", "  demon ack 42",
                         "  demon silence source:wh --for 2h --reason investigating"]
    assert not any(line.startswith("observed") for line in lines)


def test_a_real_context_renders() -> None:
    """The context builder's output, with hostile sample values, goes through unchanged in meaning."""
    rule = RuleResult("note", "str_length(1, 5)", "in_warehouse", 100, 12,
                      sample=tuple({"id": index, "note": HOSTILE} for index in range(12)))
    found = Result("orders.quality", "orders", "quality", "wh", Outcome.FAIL, "1 rule failing", T0, 0.1,
                   value=12.0, unit="rows", evidence=QualityReport((rule,)))
    config = config_model(plugins()).model_validate({"version": 1, "sources": {"wh": {"kind": "sql", "url": "duckdb:///x"}},
                                    "datasets": {"orders": {"source": "wh", "table": "orders"}}})
    text = render_text(note(check_context(config, found, [], [])))
    sample_lines = [line for line in text.splitlines() if line.startswith("  id=")]
    assert len(sample_lines) == SAMPLE_ROWS
    assert all(len(line) < CELL + 20 for line in sample_lines)
    assert "  ... 7 more rows" in text.splitlines()  # 10 kept by the context, 3 shown
    assert "observed 12 rows" in text and "trend ▅ (oldest to newest); newest first: 12 rows (fail)" in text
    assert text.splitlines()[1] == "12 rows of orders fail str_length(1, 5) on note"  # the headline
    assert "rule str_length(1, 5) on note: 12 failing rows (12%)" in text


# --- cutting to a limit -------------------------------------------------------------------------


def long_context() -> Context:
    return full_context(
        statements=[HOSTILE] * 3,
        trend=[{"at": "t", "outcome": "fail", "value": float(index)} for index in range(200)],
        failing_rules=[{"rule": f"rule{index}", "column": "c", "failing_rows": 1, "failing_pct": None,
                        "sample": [{"v": HOSTILE}] * 3} for index in range(4)],
        schema={"added": [f"column_{index}" for index in range(200)], "removed": [], "retyped": []},
    )


def test_parts_are_cut_least_needed_first_and_the_text_says_so() -> None:
    full = render_text(note(long_context()), limit=100_000)
    assert "(cut to fit" not in full
    shown = {
        9000: ("statements",),
        6000: ("statements", "trend"),
        3000: ("statements", "trend", "samples"),
        1000: ("statements", "trend", "samples", "schema"),
    }
    for limit, cut in shown.items():
        limit += len(COMMANDS) + 1  # the commands end every message, whatever is cut
        text = render_text(note(long_context()), limit=limit)
        assert len(text) <= limit
        assert text.endswith(f"(cut to fit: {', '.join(cut)})\n{COMMANDS}")
        assert ("query:" in text) is ("statements" not in cut)
        assert ("newest first" in text) is ("trend" not in cut)
        assert ("  v=" in text) is ("samples" not in cut)
        assert ("columns added" in text) is ("schema" not in cut)
        assert text.startswith("[critical] orders.quality failed (opened)\n2 rules failing\nobserved 3 rows")
        assert "owner: sales" in text and "upstream raw is also failing: raw.volume" in text


def test_when_even_the_essentials_do_not_fit_the_text_is_clipped() -> None:
    text = render_text(note(full_context(message=HOSTILE)), limit=300)
    assert 295 <= len(text) <= 300 and text.endswith("more characters")
    assert text.startswith("[critical] orders.quality failed (opened)\n<!channel>")


@settings(max_examples=60, deadline=None)
@given(st.integers(100, 12_000), st.sampled_from(list(EventKind)))
def test_never_longer_than_the_limit(limit: int, event: EventKind) -> None:
    assert len(render_text(note(long_context(), event=event), limit=limit)) <= limit


def test_the_text_is_json_safe_for_every_channel() -> None:
    text = render_text(note(long_context()))
    assert json.loads(json.dumps(text)) == text


def test_cutting_samples_keeps_the_failing_rules() -> None:
    text = render_text(note(long_context()), limit=3000)
    assert "samples" in text.splitlines()[-4]
    assert "rule rule0 on c: 1 failing rows" in text


def test_a_tiny_limit_is_still_a_limit() -> None:
    assert len(render_text(note(), limit=20)) <= 20


# --- issue 19: headline, group, query, commands, resolution -------------------------------------------------


def member(incident: int, said: str | None, query: str | None = None, outcome: str = "fail") -> Member:
    return Member(incident=incident, key=f"orders.c{incident}", event="opened", outcome=outcome,
                  title=f"orders.c{incident} failed", headline=said, message="m", query=query)


def test_a_group_says_how_many_checks_fail_then_each_with_its_query() -> None:
    context = full_context(headline="5 rows of orders fail isin on status", statements=["SELECT fused"],
                           query="SELECT status, count(*)\nFROM orders GROUP BY 1")
    duplicates = "SELECT id FROM orders GROUP BY 1 HAVING count(*) > 1"
    group = [member(43, "3 duplicated id values in orders", duplicates), member(44, None)]
    lines = render_text(note(context, group=group)).splitlines()
    assert lines[:3] == ["[critical] orders.quality failed (opened)",
                         "orders: 3 checks failing — 5 rows of orders fail isin on status", "2 rules failing"]
    assert lines[5:8] == ["run this to see it:", "  SELECT status, count(*)", "  FROM orders GROUP BY 1"]
    assert "SELECT fused" not in "\n".join(lines)  # the query replaces the fused statement
    start = lines.index("- 3 duplicated id values in orders (incident #43)")
    assert lines[start:start + 3] == ["- 3 duplicated id values in orders (incident #43)",
                                      "    SELECT id FROM orders GROUP BY 1 HAVING count(*) > 1",
                                      "- orders.c44 failed (incident #44)"]
    assert lines[-3:] == COMMANDS.replace("ack 42", "ack 42 43 44").splitlines()


def test_a_grouped_incident_names_its_probable_root_cause() -> None:
    said = "orders has 3 rows, 81% fewer than expected"
    followed = Member(**member(45, said), root="raw_orders.volume failed")
    text = render_text(note(full_context(headline="h"), group=[followed, member(46, None)]))
    assert ("- orders has 3 rows, 81% fewer than expected (incident #45; probable root cause: "
            "raw_orders.volume failed)") in text.splitlines()
    assert "- orders.c46 failed (incident #46)" in text.splitlines()


def test_a_group_too_long_for_the_limit_is_cut_saying_how_many() -> None:
    group = [member(100 + index, "x" * 200, "SELECT " + "y" * 400) for index in range(40)]
    text = render_text(note(full_context(headline="h"), group=group), limit=4000)
    assert len(text) <= 4000 and "orders: 41 checks failing — h" in text
    assert "... 40 more checks of this dataset, cut to fit" in text
    told = " ".join(str(incident) for incident in range(100, 140))
    assert "(cut to fit: statements, trend, samples, group)" in text
    assert text.endswith(COMMANDS.replace("ack 42", f"ack 42 {told}"))
    assert "rule isin on status: 5 failing rows (50%)" in text  # the lead's rules stay


@pytest.mark.parametrize(("root", "said"), [
    (None, "upstream raw is also failing: raw.volume"),
    (RootCause(7, "raw.volume", "raw.volume failed"), "probable root cause: raw.volume failed (incident #7)"),
])
def test_an_upstream_is_a_cause_only_when_the_engine_says_so(root: RootCause | None, said: str) -> None:
    text = render_text(note(root=root))
    assert said in text.splitlines()
    assert ("root cause" in text) is (root is not None)


def test_a_resolution_says_only_what_passes_again_and_after_how_long() -> None:
    resolved = note(event=EventKind.RESOLVED, outcome="pass", opened_at="2026-03-01T08:48:00Z",
                    group=[member(43, "3 duplicated id values in orders", outcome="pass")])
    assert render_text(resolved).splitlines() == [
        "resolved: orders.quality passes again after 3h 12m",
        "also resolved: 3 duplicated id values in orders (passes again) (incident #43)",
        "runbook: https://wiki/x", "dashboard: https://g/d/demon-dataset/?var-dataset=orders"]
    source = note(Context(source="wh"), event=EventKind.RESOLVED, outcome="pass", incident_key="source:wh")
    assert render_text(source) == "resolved: source wh answers again after 30m"


@pytest.mark.parametrize("event", [EventKind.OPENED, EventKind.CHANGED, EventKind.REPEATED])
def test_what_a_responder_acts_on_ends_with_the_commands(event: EventKind) -> None:
    assert render_text(note(event=event)).endswith(COMMANDS)


@pytest.mark.parametrize("event", [EventKind.ACKNOWLEDGED, EventKind.RESOLVED])
def test_what_needs_no_action_has_no_commands(event: EventKind) -> None:
    assert "demon ack" not in render_text(note(event=event))
