"""The bundled Grafana dashboards, provisioning files and Prometheus rules, without servers: their structure,
that every expression names only metrics and labels demon exports, and the PromQL itself evaluated by the real
promtool (rules, their unit tests, and the dashboards' key queries on made-up series)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dashboard_exprs import (
    ALERTS,
    BUNDLE,
    PROMETHEUS,
    RULE_TESTS,
    RULES,
    dashboard_expressions,
    dashboards,
    panels,
    rule_expressions,
    rules,
    substitute,
)

PROMTOOL = "/usr/bin/promtool"
UIDS = {
    "demon-overview": "demon-overview",
    "demon-dataset": "demon-dataset",
    "demon-operations": "demon-operations",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
VARIABLES = {"datasource": "prometheus", "dataset": "orders", "job": "demon", "__rate_interval": "2m"}

# The metric catalog (issue 6): what demon exports, and what Prometheus records about each scrape.
_PLAIN = {
    "demon_check_outcome",
    "demon_check_last_run_timestamp_seconds",
    "demon_check_last_success_timestamp_seconds",
    "demon_check_value",
    "demon_check_threshold",
    "demon_check_runs_total",
    "demon_dataset_last_modified_timestamp_seconds",
    "demon_dataset_rows",
    "demon_dataset_bytes",
    "demon_dataset_files",
    "demon_dataset_failing_rows",
    "demon_dataset_info",
    "demon_source_up",
    "demon_source_requests_total",
    "demon_incidents_open",
    "demon_notifications_total",
    "demon_outbox_pending",
    "demon_scheduler_missed_runs_total",
    "demon_build_info",
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
}
_HISTOGRAMS = {"demon_check_duration_seconds", "demon_scheduler_lag_seconds"}
CATALOG = _PLAIN | {f"{name}{suffix}" for name in _HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
LABELS = {
    "dataset",
    "check",
    "kind",
    "outcome",
    "bound",
    "source",
    "owner",
    "severity",
    "operation",
    "channel",
    "result",
    "reason",
    "version",
    "le",
    "job",
    "instance",
    "dataset_severity",  # made by the rules' label_replace from demon_dataset_info's severity
}

# --- reading PromQL -------------------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_TOKEN = re.compile(r"(?P<number>\d[\w.]*)|(?P<name>[A-Za-z_:][\w:]*)")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "group_left", "group_right"}
_MATCHER_LABEL = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
_LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _without_strings(expr: str) -> str:
    return _STRING.sub('""', expr)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are neither functions, keywords, label names
    nor numbers."""
    text = _RANGE.sub("", _MATCHERS.sub("", _GROUPING.sub("", _without_strings(expr))))
    names = set()
    for token in _TOKEN.finditer(text):
        name = token.group("name")
        if name and name.lower() not in _KEYWORDS and not text[token.end() :].lstrip().startswith("("):
            names.add(name)
    return names


def label_names(expr: str) -> set[str]:
    """The label names an expression matches on or groups by."""
    text = _without_strings(expr)
    matched = {label for body in _MATCHERS.findall(text) for label in _MATCHER_LABEL.findall(body)}
    grouped = {
        label.strip() for body in _GROUPING.findall(text) for label in body.split(",") if label.strip()
    }
    return matched | grouped


def test_metric_and_label_names_are_read_from_tricky_expressions() -> None:
    expr = (
        "label_replace(topk by (dataset) (1, max by (dataset, owner)"
        ' (demon_dataset_info{dataset=~"a|b{2}"})),'
        ' "x", "$1", "severity", "(.*)") * on (dataset) group_left () histogram_quantile(0.95, sum by (le)'
        ' (rate(demon_scheduler_lag_seconds_bucket{job=~"$job"}[$__rate_interval]))) or vector(1e3) > bool'
        " up offset 5m unless scrape_samples_scraped"
    )
    assert metric_names(expr) == {
        "demon_dataset_info",
        "demon_scheduler_lag_seconds_bucket",
        "up",
        "scrape_samples_scraped",
    }
    assert label_names(expr) == {"dataset", "owner", "le", "job"}


def test_a_misspelt_metric_or_label_is_caught() -> None:
    assert not metric_names('sum by (outcome) (rate(demon_check_run_total{job=~"$job"}[5m]))') <= CATALOG
    assert not label_names("sum by (datset) (demon_dataset_rows)") <= LABELS


# --- the dashboards -------------------------------------------------------------------------------


def _walk(node: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _variable(dashboard: Mapping[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [v for v in dashboard["templating"]["list"] if v["name"] == name]
    assert len(found) == 1, name
    return found[0]


def _target(uid: str, title: str, ref: str = "A") -> str:
    for panel in panels(dashboards()[uid]):
        if panel["title"] == title:
            expr: str = next(t["expr"] for t in panel["targets"] if t["refId"] == ref)
            return expr
    raise LookupError(f"{uid}: no panel {title!r}")


def test_three_dashboards_with_fixed_unique_uids_provisionable_from_files() -> None:
    found = dashboards()
    assert {stem: d["uid"] for stem, d in found.items()} == UIDS
    for dashboard in found.values():
        assert dashboard["id"] is None
        assert dashboard["schemaVersion"] == 39
        assert dashboard["tags"] == ["demon"]
        keys = {key for key, _ in _walk(dashboard)}
        assert "__inputs" not in keys and "__requires" not in keys
        assert "${DS_" not in repr(dashboard)


def test_every_panel_target_and_query_variable_uses_the_datasource_variable() -> None:
    for stem, dashboard in dashboards().items():
        datasource = _variable(dashboard, "datasource")
        assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
        for panel in panels(dashboard):
            assert panel["datasource"] == DATASOURCE, (stem, panel["title"])
            for target in panel.get("targets", []):
                assert target["datasource"] == DATASOURCE, (stem, panel["title"])
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                assert variable["datasource"] == DATASOURCE, (stem, variable["name"])
        assert all(value == DATASOURCE for key, value in _walk(dashboard) if key == "datasource"), stem


def test_variables_of_the_dataset_and_operations_dashboards() -> None:
    found = dashboards()
    dataset = _variable(found["demon-dataset"], "dataset")
    assert (dataset["type"], dataset["query"], dataset["multi"]) == (
        "query",
        "label_values(demon_dataset_info, dataset)",
        False,
    )
    job = _variable(found["demon-operations"], "job")
    assert (job["type"], job["query"]) == ("query", "label_values(demon_build_info, job)")
    assert [v["name"] for v in found["demon-overview"]["templating"]["list"]] == ["datasource"]


def test_panels_have_unique_titles_and_ref_ids_and_do_not_overlap() -> None:
    titles = [p["title"] for d in dashboards().values() for p in panels(d) if p.get("targets")]
    assert len(titles) == len(set(titles)), "dashboard_expressions() names panels by title alone"
    for dashboard in dashboards().values():
        cells: set[tuple[int, int]] = set()
        for panel in panels(dashboard):
            refs = [t["refId"] for t in panel.get("targets", [])]
            assert len(refs) == len(set(refs)), panel["title"]
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not area & cells, f"{panel['title']} overlaps another panel"
            cells |= area


def test_dashboards_link_to_each_other() -> None:
    for dashboard in dashboards().values():
        assert any(
            link["type"] == "dashboards" and link["tags"] == ["demon"] and link["includeVars"]
            for link in dashboard["links"]
        )
    overview = dashboards()["demon-overview"]
    urls = [
        link["url"]
        for panel in panels(overview)
        for key, links in _walk(panel)
        if key == "links"
        for link in links
    ]
    assert urls, "the overview has no data links"
    for url in urls:
        assert (
            url.startswith("/d/demon-dataset/")
            and "var-dataset=${__" in url
            and "${datasource:queryparam}" in url
        )
    (table,) = (p for p in panels(overview) if p["title"] == "Failing checks")
    assert any(
        o["matcher"]["options"] == "Dataset" and o["properties"][0]["id"] == "links"
        for o in table["fieldConfig"]["overrides"]
    )
    renamed = table["transformations"][0]["options"]["renameByName"]
    assert renamed["dataset"] == "Dataset" and renamed["Value"] == "Last passed"


def test_rate_windows_are_the_rate_interval() -> None:
    windows = [(title, window) for title, expr in dashboard_expressions() for window in _RANGE.findall(expr)]
    assert windows and all(window == "[$__rate_interval]" for _, window in windows), windows


def test_dashboard_panels_cover_the_issue() -> None:
    titles = {stem: {p["title"] for p in panels(d)} for stem, d in dashboards().items()}
    assert {
        "Datasets by worst outcome",
        "Failing checks",
        "Freshness: age against fail threshold",
        "Open incidents by severity",
        "Quality by dimension",
    } <= titles["demon-overview"]
    detail = {"Rows", "Bytes", "Files", "Freshness age", "Check outcomes", "Failing rows", "Learned bands"}
    assert detail <= titles["demon-dataset"]
    assert {
        "Check duration by source",
        "Scheduler lag",
        "Source up",
        "Requests per source",
        "Notifications",
        "Outbox pending",
        "Scrape up",
        "Scrape duration",
        "Samples scraped",
    } <= titles["demon-operations"]
    selected = {name for _, expr in dashboard_expressions() for name in metric_names(expr)}
    assert selected >= CATALOG - {
        "demon_check_duration_seconds_sum",
        "demon_check_duration_seconds_count",
        "demon_scheduler_lag_seconds_sum",
        "demon_scheduler_lag_seconds_count",
    }


# --- metric and label names everywhere ------------------------------------------------------------


def _all_expressions() -> list[tuple[str, str]]:
    return dashboard_expressions() + rule_expressions()


@pytest.mark.parametrize(("name", "expr"), _all_expressions(), ids=[name for name, _ in _all_expressions()])
def test_expression_names_only_exported_metrics_and_labels(name: str, expr: str) -> None:
    assert metric_names(expr), f"{name}: selects no metric"
    assert metric_names(expr) <= CATALOG, f"{name}: {metric_names(expr) - CATALOG}"
    assert label_names(expr) <= LABELS, f"{name}: {label_names(expr) - LABELS}"


def test_variable_queries_and_legends_name_exported_metrics_and_labels() -> None:
    for dashboard in dashboards().values():
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"])
                assert match, variable["query"]
                assert match[1] in CATALOG and match[2] in LABELS, variable["name"]
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                assert set(_LEGEND_LABEL.findall(target.get("legendFormat", ""))) <= LABELS, panel["title"]


# --- promtool -------------------------------------------------------------------------------------


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def test_promtool_check_rules_passes() -> None:
    result = _promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_a_broken_rule_fails_promtool_check(tmp_path: Path) -> None:
    broken = tmp_path / "demon-rules.yml"
    text = RULES.read_text(encoding="utf-8")
    assert "demon_source_up == 0" in text
    broken.write_text(text.replace("demon_source_up == 0", "demon_source_up == == 0"), encoding="utf-8")
    result = _promtool("check", "rules", str(broken))
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


def test_promtool_test_rules_passes_from_an_exported_copy(tmp_path: Path) -> None:
    """The tests name their rule file relatively: they pass wherever `demon dashboards export` puts both."""
    assert yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["rule_files"] == ["demon-rules.yml"]
    for path in (RULES, RULE_TESTS):
        shutil.copy(path, tmp_path / path.name)
    result = _promtool("test", "rules", str(tmp_path / RULE_TESTS.name), cwd=BUNDLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_fails_when_an_alert_changes(tmp_path: Path) -> None:
    for path in (RULES, RULE_TESTS):
        shutil.copy(path, tmp_path / path.name)
    rules_copy = tmp_path / RULES.name
    rules_copy.write_text(
        rules_copy.read_text(encoding="utf-8").replace("for: 30m", "for: 10m"), encoding="utf-8"
    )
    result = _promtool("test", "rules", str(tmp_path / RULE_TESTS.name))
    assert result.returncode != 0
    assert "DemonOutboxBacklog" in result.stdout + result.stderr


def test_every_alert_is_labelled_annotated_and_tested_firing_and_quiet() -> None:
    assert {rule["alert"] for rule in rules()} == ALERTS
    for rule in rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
    cases = [
        case
        for group in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
        for case in group.get("alert_rule_test", [])
    ]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert firing == quiet == ALERTS
    assert all("exp_annotations" in alert for case in cases for alert in case["exp_alerts"])


def test_check_failing_names_the_dataset_severity_apart_from_the_alert_severity() -> None:
    (rule,) = (r for r in rules() if r["alert"] == "DemonCheckFailing")
    assert "group_left (owner, dataset_severity)" in rule["expr"]
    assert '"dataset_severity", "$1", "severity"' in rule["expr"]
    assert "$labels.dataset" in rule["annotations"]["description"]


def _check_as_recording_rules(tmp_path: Path, exprs: list[str]) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` on the expressions (variables filled in) as recording rules: parses them."""
    recording = [
        {"record": f"dashboard:expr_{i}", "expr": substitute(expr, VARIABLES)} for i, expr in enumerate(exprs)
    ]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": recording}]}), encoding="utf-8"
    )
    return _promtool("check", "rules", str(path))


def test_dashboard_expressions_parse(tmp_path: Path) -> None:
    exprs = [expr for _, expr in dashboard_expressions()]
    result = _check_as_recording_rules(tmp_path, exprs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_a_dashboard_expression_that_does_not_parse_is_caught(tmp_path: Path) -> None:
    exprs = [expr for _, expr in dashboard_expressions()]
    exprs[0] = exprs[0].replace(")", "", 1)
    result = _check_as_recording_rules(tmp_path, exprs)
    assert result.returncode != 0


def test_substitute_leaves_no_variable_and_rejects_unknown_ones() -> None:
    assert substitute('rate(x{dataset="$dataset", job=~"${job}"}[$__rate_interval])', VARIABLES) == (
        'rate(x{dataset="orders", job=~"demon"}[2m])'
    )
    assert substitute('label_replace(x, "a", "$1", "b", "(.*)")', VARIABLES).count("$1") == 1
    with pytest.raises(KeyError):
        substitute('x{a="$unknown"}', VARIABLES)


# --- the dashboards' queries evaluated by promtool on made-up series ------------------------------

# (dataset, check, kind, current outcome, last success or None). Worst per dataset: orders fail, payments and
# offices error, products warn, customers pass.
CHECKS = [
    ("orders", "orders.freshness", "freshness", "fail", 1000),
    ("orders", "orders.volume", "volume", "pass", 1500),
    ("payments", "payments.volume", "volume", "warn", 1500),
    ("payments", "payments.schema", "schema", "error", None),
    ("payments", "payments.quality", "quality", "error", None),
    ("offices", "offices.schema", "schema", "error", 500),
    ("offices", "offices.volume", "volume", "pass", 1500),
    ("products", "products.freshness", "freshness", "warn", 1500),
    ("customers", "customers.volume", "volume", "pass", 1500),
    ("customers", "customers.quality", "quality", "pass", 1500),
]
INFO = {
    "orders": ("sales", "critical"),
    "payments": ("finance", "high"),
    "products": ("data-eng", "medium"),
    "customers": ("data-eng", "low"),
}  # offices has none: pushed by another config
INSTANCES = ('job="demon", instance="demon:9108"', 'job="demon"')  # the daemon and a Pushgateway group


def _series(
    name: str, labels: Mapping[str, str], value: float, instance: str = INSTANCES[0]
) -> dict[str, str]:
    selector = ", ".join([instance, *(f'{k}="{v}"' for k, v in labels.items())])
    return {"series": f"{name}{{{selector}}}", "values": f"{value:g}x20"}


def _input_series() -> list[dict[str, str]]:
    series = []
    for dataset, check, kind, outcome, success in CHECKS:
        key = {"dataset": dataset, "check": check, "kind": kind}
        for instance in INSTANCES:  # every check exported twice: nothing may count twice
            series += [
                _series("demon_check_outcome", {**key, "outcome": o}, float(o == outcome), instance)
                for o in ("pass", "warn", "fail", "error")
            ]
            if success is not None:
                series.append(_series("demon_check_last_success_timestamp_seconds", key, success, instance))
        series.append(_series("demon_check_last_run_timestamp_seconds", key, 1800))
    for dataset, (owner, severity) in INFO.items():
        labels = {"dataset": dataset, "source": "warehouse", "owner": owner, "severity": severity}
        series += [_series("demon_dataset_info", labels, 1, instance) for instance in INSTANCES]
    freshness = [
        ("orders", "orders.freshness", 1200),
        ("orders", "orders.freshness.slow", 2400),
        ("products", "products.freshness", 150),
    ]
    series += [
        _series(
            "demon_check_threshold", {"dataset": d, "check": c, "kind": "freshness", "bound": "fail_after"}, s
        )
        for d, c, s in freshness
    ]
    series += [
        _series("demon_dataset_last_modified_timestamp_seconds", {"dataset": d}, 0)
        for d in ("orders", "products")
    ]
    series.append(
        _series("demon_dataset_last_modified_timestamp_seconds", {"dataset": "orders"}, -600, INSTANCES[1])
    )
    return series


def _samples(*samples: tuple[Mapping[str, str], float]) -> list[dict[str, Any]]:
    return [
        {"labels": "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "value": value}
        for labels, value in samples
    ]


def _expectations() -> list[tuple[str, list[dict[str, Any]]]]:
    def failing(
        dataset: str, check: str, kind: str, outcome: str, since: float
    ) -> tuple[dict[str, str], float]:
        owner_severity = dict(zip(("owner", "severity"), INFO.get(dataset, ()), strict=False))
        return {"dataset": dataset, "check": check, "kind": kind, "outcome": outcome, **owner_severity}, since

    worst = "Datasets by worst outcome"
    return [
        (_target("demon-overview", worst, "A"), _samples(({}, 1))),  # fail: orders
        (_target("demon-overview", worst, "B"), _samples(({}, 2))),  # error: payments, offices
        (_target("demon-overview", worst, "C"), _samples(({}, 1))),  # warn: products
        (_target("demon-overview", worst, "D"), _samples(({}, 1))),  # pass: customers
        (
            _target("demon-overview", "Failing checks"),
            _samples(
                failing("orders", "orders.freshness", "freshness", "fail", 1_000_000),
                failing("payments", "payments.schema", "schema", "error", 0),  # never passed
                failing("payments", "payments.quality", "quality", "error", 0),
                failing("offices", "offices.schema", "schema", "error", 500_000),
            ),
        ),
        (
            _target("demon-overview", "Freshness: age against fail threshold"),
            _samples(
                ({"dataset": "orders"}, 0.5),
                ({"dataset": "products"}, 4),  # age 600 s at the 10th minute
            ),
        ),
        (_target("demon-overview", "Quality by dimension", "A"), _samples(({"kind": "freshness"}, 0.5))),
        (_target("demon-overview", "Quality by dimension", "B"), _samples(({"kind": "volume"}, 1))),
        (_target("demon-overview", "Quality by dimension", "C"), _samples(({"kind": "schema"}, 0))),
        (_target("demon-overview", "Quality by dimension", "D"), _samples(({"kind": "quality"}, 0.5))),
        (
            _target("demon-overview", "Checks by outcome"),
            _samples(
                ({"outcome": "pass"}, 4),
                ({"outcome": "warn"}, 2),
                ({"outcome": "fail"}, 1),
                ({"outcome": "error"}, 3),
            ),
        ),
        (
            substitute(_target("demon-dataset", "Check outcomes"), {"dataset": "payments"}),
            _samples(
                ({"check": "payments.volume"}, 1),
                ({"check": "payments.schema"}, 3),
                ({"check": "payments.quality"}, 3),
            ),
        ),
        (
            substitute(_target("demon-dataset", "Checks"), {"dataset": "payments"}),
            _samples(
                ({"check": "payments.volume", "kind": "volume", "outcome": "warn"}, 1_800_000),
                ({"check": "payments.schema", "kind": "schema", "outcome": "error"}, 1_800_000),
                ({"check": "payments.quality", "kind": "quality", "outcome": "error"}, 1_800_000),
            ),
        ),
        (
            substitute(_target("demon-dataset", "Freshness age", "B"), {"dataset": "orders"}),
            _samples(
                ({"bound": "fail_after"}, 1200),
            ),
        ),
    ]


def _promtool_test(
    tmp_path: Path, series: list[dict[str, str]], cases: list[tuple[str, list[dict[str, Any]]]]
) -> str:
    document = {
        "rule_files": [],
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {"expr": expr, "eval_time": "10m", "exp_samples": samples} for expr, samples in cases
                ],
            }
        ],
    }
    path = tmp_path / "dashboards.test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    result = _promtool("test", "rules", str(path))
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_dashboard_queries_count_each_dataset_and_check_once(tmp_path: Path) -> None:
    failure = _promtool_test(tmp_path, _input_series(), _expectations())
    assert not failure, failure


def test_dashboard_queries_report_zero_not_nothing_when_all_passes(tmp_path: Path) -> None:
    key = {"dataset": "orders", "check": "orders.schema", "kind": "schema"}
    series = [
        _series("demon_check_outcome", {**key, "outcome": o}, float(o == "pass"))
        for o in ("pass", "warn", "fail", "error")
    ]
    worst = [
        (_target("demon-overview", "Datasets by worst outcome", ref), _samples(({}, float(ref == "D"))))
        for ref in "ABCD"
    ]
    consistency = (_target("demon-overview", "Quality by dimension", "C"), _samples(({"kind": "schema"}, 1)))
    failure = _promtool_test(tmp_path, series, [*worst, consistency])
    assert not failure, failure


def test_the_promtool_harness_reports_a_wrong_expectation(tmp_path: Path) -> None:
    expr, _ = _expectations()[0]
    failure = _promtool_test(tmp_path, _input_series(), [(expr, _samples(({}, 2)))])
    assert "FAILED" in failure


# --- provisioning and the example Prometheus config -----------------------------------------------


def test_datasource_provisioning() -> None:
    document = yaml.safe_load((BUNDLE / "provisioning/datasources/demon.yml").read_text(encoding="utf-8"))
    assert document["apiVersion"] == 1
    (source,) = document["datasources"]
    assert {k: source[k] for k in ("name", "type", "uid", "url", "isDefault")} == {
        "name": "Prometheus",
        "type": "prometheus",
        "uid": "prometheus",
        "url": "http://127.0.0.1:9090",
        "isDefault": True,
    }


def test_dashboard_provisioning_names_the_path_once_for_export_to_rewrite() -> None:
    text = (BUNDLE / "provisioning/dashboards/demon.yml").read_text(encoding="utf-8")
    assert text.count("/var/lib/grafana/dashboards/demon") == 1
    document = yaml.safe_load(text)
    assert document["apiVersion"] == 1
    (provider,) = document["providers"]
    assert (provider["name"], provider["folder"], provider["type"]) == ("demon", "demon", "file")
    assert provider["options"] == {
        "path": "/var/lib/grafana/dashboards/demon",
        "foldersFromFilesStructure": False,
    }


def test_example_prometheus_config_scrapes_demon_and_the_pushgateway() -> None:
    path = PROMETHEUS / "prometheus.yml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert document["rule_files"] == ["demon-rules.yml"]
    jobs = {job["job_name"]: job for job in document["scrape_configs"]}
    assert jobs["demon"]["static_configs"] == [{"targets": ["127.0.0.1:9108"]}]
    assert jobs["demon"]["scrape_interval"] == "30s"
    assert jobs["pushgateway"]["honor_labels"] is True
    assert jobs["pushgateway"]["static_configs"] == [{"targets": ["127.0.0.1:9091"]}]
    result = _promtool("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
