"""Routing: which channels hear about an incident. Pure functions over the validated config models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.channels import DEFAULT_CHANNEL
from alerting.routing import DEFAULT_OUTCOMES, Subject, alerts_on, channels_for, matches
from monitor.app.config import Config, ConfigError, load_config, plugins
from monitor.core.config.models import AlertingConfig, RouteMatch, config_model

EXAMPLE = Path(__file__).parent / "fixtures" / "demon.example.yml"
CHANNELS = {name: {"kind": "webhook", "url": f"http://127.0.0.1:9/{name}"} for name in ("a", "b", "c", "d")}


def alerting(routes: list[dict[str, Any]], channels: dict[str, Any] | None = None) -> AlertingConfig:
    model = config_model(plugins()).model_fields["alerting"].annotation
    assert isinstance(model, type) and issubclass(model, AlertingConfig)
    return model.model_validate({"channels": CHANNELS if channels is None else channels, "routes": routes})


def subject(
    severity: str = "high", owner: str | None = "data-eng", tags: tuple[str, ...] = (),
    dataset: str = "fact_orders", kind: str = "volume", outcome: str = "fail",
) -> Subject:
    return Subject(severity=severity, owner=owner, tags=tags, dataset=dataset, kind=kind, outcome=outcome)


# --- one match -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("match", "hit", "miss"), [
    ({"severity": "critical"}, {"severity": "critical"}, {"severity": "high"}),
    ({"severity": ["critical", "low"]}, {"severity": "low"}, {"severity": "medium"}),
    ({"owner": "sales"}, {"owner": "sales"}, {"owner": "Sales"}),
    ({"owner": ["sales", "eng"]}, {"owner": "eng"}, {"owner": None}),
    ({"tags": ["pii", "tier1"]}, {"tags": ("tier1", "x")}, {"tags": ("tier2",)}),
    ({"tags": "tier1"}, {"tags": ("tier1",)}, {"tags": ()}),
    ({"dataset": "fact_*"}, {"dataset": "fact_orders"}, {"dataset": "dim_fact_orders"}),
    ({"dataset": ["raw_?rders", "dim_*"]}, {"dataset": "raw_orders"}, {"dataset": "raw_orderss"}),
    ({"dataset": "fact_orders"}, {"dataset": "fact_orders"}, {"dataset": "Fact_orders"}),
    ({"dataset": "[fr]*"}, {"dataset": "raw"}, {"dataset": "dim"}),
    ({"kind": ["schema", "quality"]}, {"kind": "quality"}, {"kind": "volume"}),
    ({"outcome": "error"}, {"outcome": "error"}, {"outcome": "fail"}),
    ({"outcome": "warn"}, {"outcome": "warn"}, {"outcome": "fail"}),
    ({}, {"outcome": "error"}, {"outcome": "warn"}),
    ({}, {"outcome": "fail"}, {"outcome": "pass"}),
])
def test_each_match_field(match: dict[str, Any], hit: dict[str, Any], miss: dict[str, Any]) -> None:
    route = RouteMatch.model_validate(match)
    assert matches(route, subject(**hit))
    assert not matches(route, subject(**miss))


def test_fields_of_a_match_all_have_to_match() -> None:
    route = RouteMatch.model_validate({"severity": "critical", "owner": "sales", "dataset": "fact_*"})
    assert matches(route, subject(severity="critical", owner="sales"))
    assert not matches(route, subject(severity="high", owner="sales"))
    assert not matches(route, subject(severity="critical", owner="eng"))
    assert not matches(route, subject(severity="critical", owner="sales", dataset="raw_orders"))


def test_an_empty_match_takes_failures_and_errors_only() -> None:
    assert DEFAULT_OUTCOMES == ("fail", "error")
    route = RouteMatch()
    taken = [o for o in ("pass", "warn", "fail", "error") if matches(route, subject(outcome=o))]
    assert taken == ["fail", "error"]


def test_a_match_with_an_unknown_outcome_or_severity_is_refused_by_the_config() -> None:
    with pytest.raises(ValueError, match="outcome"):
        RouteMatch.model_validate({"outcome": "pass"})
    with pytest.raises(ValueError, match="severity"):
        RouteMatch.model_validate({"severity": "urgent"})


# --- routes in order -----------------------------------------------------------------------------------


def test_first_match_wins() -> None:
    config = alerting([
        {"match": {"severity": "critical"}, "notify": ["a"]},
        {"match": {"owner": "sales"}, "notify": ["b"]},
        {"notify": ["c"]},
    ])
    assert channels_for(config, subject(severity="critical", owner="sales")) == ["a"]
    assert channels_for(config, subject(severity="high", owner="sales")) == ["b"]
    assert channels_for(config, subject(severity="low", owner="x")) == ["c"]


def test_continue_goes_on_to_the_next_matching_route_until_one_stops() -> None:
    config = alerting([
        {"match": {"severity": "critical"}, "notify": ["a", "b"], "continue": True},
        {"match": {"owner": "nobody"}, "notify": ["d"]},
        {"match": {"dataset": "fact_*"}, "notify": ["b", "c"]},
        {"notify": ["d"]},
    ])
    assert channels_for(config, subject(severity="critical")) == ["a", "b", "c"]  # each once, in route order
    assert channels_for(config, subject(severity="critical", dataset="raw")) == ["a", "b", "d"]
    assert channels_for(config, subject(severity="high", dataset="raw")) == ["d"]


def test_no_matching_route_means_no_channel() -> None:
    config = alerting([{"match": {"severity": "critical"}, "notify": ["a"]}])
    assert channels_for(config, subject(severity="high")) == []
    assert alerts_on(config, subject(severity="high"))  # a failure is an incident all the same


def test_warnings_alert_only_where_a_route_asks_for_them() -> None:
    config = alerting([
        {"match": {"severity": "critical"}, "notify": ["a"]},
        {"match": {"dataset": "fact_*", "outcome": ["warn", "fail"]}, "notify": ["b"]},
        {"notify": ["c"]},
    ])
    assert channels_for(config, subject(severity="critical", outcome="warn")) == ["b"]  # route 1 skips warn
    assert alerts_on(config, subject(severity="critical", outcome="warn"))
    assert channels_for(config, subject(dataset="raw", outcome="warn")) == []
    assert not alerts_on(config, subject(dataset="raw", outcome="warn"))
    assert channels_for(config, subject(dataset="raw", outcome="error")) == ["c"]
    assert not alerts_on(config, subject(outcome="pass"))


def test_without_routes_every_channel_hears_failures_and_errors_but_not_warnings() -> None:
    config = alerting([], channels={"zeta": CHANNELS["a"], "alpha": CHANNELS["b"]})
    assert channels_for(config, subject(outcome="fail")) == ["alpha", "zeta"]
    assert channels_for(config, subject(outcome="error")) == ["alpha", "zeta"]
    assert channels_for(config, subject(outcome="warn")) == []
    assert channels_for(config, subject(outcome="pass")) == []
    assert not alerts_on(config, subject(outcome="warn"))


def test_without_routes_or_channels_the_console_hears_failures() -> None:
    config = AlertingConfig()
    assert channels_for(config, subject(outcome="error")) == [DEFAULT_CHANNEL] == ["console"]
    assert channels_for(config, subject(outcome="warn")) == []
    assert alerts_on(config, subject(outcome="fail"))


def test_a_route_to_an_unknown_channel_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "demon.yml"
    path.write_text(
        "version: 1\nsources:\n  wh: {kind: sql, url: 'duckdb:///w.duckdb'}\n"
        "alerting:\n  channels:\n    pager: {kind: console}\n  routes:\n    - notify: [pagr]\n"
    )
    with pytest.raises(ConfigError, match="pagr"):
        load_config(path)


def test_the_example_config_routes_as_its_comments_say(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1234-secret")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/secret")
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0123456789abcdef0123456789ABCDE")
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", "https://example.webhook.office.com/webhookb2/x")
    config: Config = load_config(EXAMPLE)
    routes = config.alerting
    fact = subject(severity="critical", owner="sales-analytics", tags=("sales", "tier1"))
    assert channels_for(routes, fact) == ["pager", "sales-slack"]  # continue, then owner: already there
    assert channels_for(routes, subject(severity="high", owner="sales-analytics")) == ["sales-slack"]
    raw = subject(severity="high", owner="platform", dataset="raw_orders")
    assert channels_for(routes, raw) == ["team-slack"]
    assert channels_for(routes, subject(severity="critical", outcome="warn")) == []


# --- properties ----------------------------------------------------------------------------------------

NAMES = st.sampled_from(sorted(CHANNELS))
SEVERITIES = st.sampled_from(["critical", "high", "medium", "low"])
OWNERS = st.sampled_from(["sales", "eng", "ops"])
DATASETS = st.sampled_from(["fact_orders", "fact_items", "raw_orders", "dim_x"])
GLOBS = st.sampled_from(["fact_*", "raw_orders", "*", "dim_?", "*_orders"])
TAGS = st.sampled_from(["a", "b", "c"])
OUTCOMES = st.sampled_from(["pass", "warn", "fail", "error"])
MATCHES = st.fixed_dictionaries({}, optional={
    "severity": st.lists(SEVERITIES, min_size=1, max_size=2),
    "owner": st.lists(OWNERS, min_size=1, max_size=2),
    "tags": st.lists(TAGS, min_size=1, max_size=2),
    "dataset": st.lists(GLOBS, min_size=1, max_size=2),
    "kind": st.lists(st.sampled_from(["volume", "schema"]), min_size=1, max_size=2),
    "outcome": st.lists(st.sampled_from(["warn", "fail", "error"]), min_size=1, max_size=3),
})
ROUTES = st.lists(st.fixed_dictionaries({
    "match": MATCHES, "notify": st.lists(NAMES, min_size=1, max_size=3), "continue": st.booleans(),
}), max_size=5)
SUBJECTS = st.builds(Subject, severity=SEVERITIES, owner=st.one_of(st.none(), OWNERS),
                     tags=st.lists(TAGS, max_size=2).map(tuple), dataset=DATASETS,
                     kind=st.sampled_from(["volume", "schema"]), outcome=OUTCOMES)


def _reference(routes: list[dict[str, Any]], s: Subject) -> list[str]:
    """The documented rule written out plainly, to compare against."""
    import fnmatch

    chosen: list[str] = []
    for route in routes:
        match = route["match"]
        ok = (
            ("severity" not in match or s.severity in match["severity"])
            and ("owner" not in match or s.owner in match["owner"])
            and ("tags" not in match or any(tag in s.tags for tag in match["tags"]))
            and ("dataset" not in match or any(fnmatch.fnmatchcase(s.dataset, g) for g in match["dataset"]))
            and ("kind" not in match or s.kind in match["kind"])
            and s.outcome in match.get("outcome", ["fail", "error"])
        )
        if ok:
            for name in route["notify"]:
                if name not in chosen:
                    chosen.append(name)
            if not route["continue"]:
                break
    return chosen


@settings(max_examples=300, deadline=None)
@given(routes=ROUTES, s=SUBJECTS)
def test_routing_agrees_with_the_documented_rule(routes: list[dict[str, Any]], s: Subject) -> None:
    config = alerting(routes)
    found = channels_for(config, s)
    if routes:
        assert found == _reference(routes, s)
    else:
        assert found == (sorted(CHANNELS) if s.outcome in ("fail", "error") else [])
    assert len(found) == len(set(found))
    assert alerts_on(config, s) == (s.outcome in ("fail", "error") or (s.outcome == "warn" and bool(found)))
    if s.outcome == "pass":
        assert found == [] and not alerts_on(config, s)


@settings(max_examples=100, deadline=None)
@given(routes=ROUTES, s=SUBJECTS)
def test_a_catch_all_route_at_the_end_catches_every_failure(routes: list[dict[str, Any]], s: Subject) -> None:
    stopping = [{**route, "continue": False} for route in routes]
    config = alerting([*stopping, {"match": {}, "notify": ["d"]}])
    found = channels_for(config, s)
    if s.outcome in ("fail", "error"):
        assert found  # either an earlier route or the catch-all
        first = next((r for r in stopping if _reference([r], s)), None)
        assert found == (list(dict.fromkeys(first["notify"])) if first else ["d"])
