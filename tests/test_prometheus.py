"""Issue 6 against real servers: a real Prometheus scraping a real `demon run` on the demo, the real
Pushgateway receiving `demon check --push`, and `demon demo --serve`.

One demo is built per module, and one daemon runs on it (every dataset `every 3s`, plus a dataset `ghost` on
a PostgreSQL port nobody listens on, so a source is down and a check errors). A second, small daemon
("victim", only `offices`) is scraped in the same `demon` job, so that DemonDown can be made to fire by
stopping it while the main daemon keeps serving. One Prometheus scrapes both every second and evaluates the
rules that `demon dashboards export` wrote.

Alerts made active here: DemonCheckFailing (firing: the demo's fails and errors), DemonDatasetStale
(pending: payments and raw_payments are older than their freshness fail_after), DemonSourceDown (pending:
the unreachable source) and DemonDown (pending: the stopped victim). The others cannot be made true here:
DemonNotificationsFailing and DemonOutboxBacklog because demon sends no notifications yet (their series stay
0), DemonMissedRuns because no demo dataset overruns its period (tests/test_daemon.py provokes missed runs).
Their expressions still run here (healthy rules, every selector has data), and the promtool unit tests
(demon-rules.test.yml) make each of them fire.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.daemon_support import Daemon, dataset, source, start_daemon, wait_for, write_config
from tests.dashboard_exprs import ALERTS, GRAFANA, dashboard_expressions, substitute
from tests.pgserver import closed_port, free_port
from tests.promserver import Prometheus, Pushgateway
from tests.warehouse import execute

Config = dict[str, Any]
PROMTOOL = "/usr/bin/promtool"
SCHEDULE = "every 3s"
LISTEN = "127.0.0.1:${DEMON_TEST_PORT}"
RATE_WINDOW = "30s"  # $__rate_interval: ten scrapes, several runs of every dataset
UNREACHABLE_PASSWORD = "unreachable-s3cret"
PUSH_PASSWORD = "push-s3cret"
# The reload test removes a check of employees (which keeps its volume check) and a whole dataset.
REMOVED_CHECK = ("employees", "employees.schema")
KEPT_CHECK = ("employees", "employees.volume", "volume")
REMOVED_DATASET = "dim_locations"
CATALOG = {  # every family demon run exports (the metric catalog of issue 6)
    "demon_check_outcome": "gauge",
    "demon_check_last_run_timestamp_seconds": "gauge",
    "demon_check_last_success_timestamp_seconds": "gauge",
    "demon_check_value": "gauge",
    "demon_check_threshold": "gauge",
    "demon_check_error": "gauge",
    "demon_check_runs_total": "counter",
    "demon_check_duration_seconds": "histogram",
    "demon_dataset_last_modified_timestamp_seconds": "gauge",
    "demon_dataset_rows": "gauge",
    "demon_dataset_bytes": "gauge",
    "demon_dataset_files": "gauge",
    "demon_dataset_failing_rows": "gauge",
    "demon_dataset_info": "gauge",
    "demon_source_up": "gauge",
    "demon_source_requests_total": "counter",
    "demon_incidents_open": "gauge",
    "demon_notifications_total": "counter",
    "demon_outbox_pending": "gauge",
    "demon_scheduler_lag_seconds": "histogram",
    "demon_scheduler_missed_runs_total": "counter",
    "demon_build_info": "gauge",
}


# --- running demon and promtool --------------------------------------------------------------------------


def demon(*args: str) -> subprocess.CompletedProcess[str]:
    """`demon ARGS` as a real process (the venv's python -m monitor)."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=180, check=False
    )


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


# --- the demo and configs derived from it ----------------------------------------------------------------


@dataclass(frozen=True)
class Demo:
    """A built demo: its directory, its demon.yml parsed, the results of its `demon demo` run, and a copy of
    the state store as the demo left it (baselines, snapshots) for runs that must not share the daemon's."""

    directory: Path
    config: Config
    results: list[dict[str, Any]]
    baseline: Path

    def failing(self) -> set[tuple[str, str]]:
        """(check, outcome) of every check the demo run ended in fail or error."""
        return {(r["check"], r["outcome"]) for r in self.results if r["outcome"] in ("fail", "error")}

    def write(self, name: str, edit: Callable[[Config], None]) -> Path:
        """directory/name: demon.yml edited by `edit` (in the demo's directory, so the warehouse, the lake and
        the Pandera schemas resolve as in demon.yml)."""
        config = copy.deepcopy(self.config)
        edit(config)
        path = self.directory / name
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def state_copy(self, target: Path) -> str:
        """A copy of the demo's state store at `target`; its (absolute) state URL."""
        shutil.copy(self.baseline, target)
        return f"sqlite:///{target}"


def daemon_config(unreachable_port: int) -> Callable[[Config], None]:
    """The demo for `demon run`: short schedules, the test port, and a dataset on an unreachable source."""

    def edit(config: Config) -> None:
        config["defaults"]["schedule"] = SCHEDULE
        config["metrics"] = {"listen": LISTEN}
        config["sources"]["unreachable"] = {
            "kind": "sql",
            "url": f"postgresql+psycopg://demon:{UNREACHABLE_PASSWORD}@127.0.0.1:{unreachable_port}/x",
            "query_timeout": "5s",
        }
        config["datasets"]["ghost"] = {
            "source": "unreachable",
            "table": "public.ghost",
            "checks": [{"volume": {"min": 1}}],
        }

    return edit


def without_removed(edit: Callable[[Config], None]) -> Callable[[Config], None]:
    """`edit`, then REMOVED_CHECK and REMOVED_DATASET taken out."""

    def edited(config: Config) -> None:
        edit(config)
        del config["datasets"][REMOVED_DATASET]
        checks = config["datasets"][REMOVED_CHECK[0]]["checks"]
        config["datasets"][REMOVED_CHECK[0]]["checks"] = [check for check in checks if "schema" not in check]

    return edited


def victim_config(config: Config) -> None:
    """Only `offices`, with its own state store: a second daemon that the DemonDown test stops."""
    config["defaults"]["schedule"] = SCHEDULE
    config["datasets"] = {"offices": config["datasets"]["offices"]}
    config["metrics"] = {"listen": LISTEN}
    config["state"] = {"url": "sqlite:///victim-state.db"}


def push_config(gateway: str | None, state_url: str) -> Callable[[Config], None]:
    def edit(config: Config) -> None:
        config["metrics"] = {"pushgateway": gateway} if gateway else {}
        config["state"] = {"url": state_url}

    return edit


# --- module fixtures: one demo, two daemons, one Prometheus ------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    directory = tmp_path_factory.mktemp("demo")
    built = demon("demo", "--dir", str(directory), "--format", "json")
    assert built.returncode == 0, output(built)
    results = json.loads(built.stdout)["results"]
    baseline = directory / "baseline-state.db"
    with (
        closing(sqlite3.connect(directory / ".demon" / "state.db")) as store,
        closing(sqlite3.connect(baseline)) as copied,
    ):
        store.backup(copied)
    config = yaml.safe_load((directory / "demon.yml").read_text(encoding="utf-8"))
    return Demo(directory, config, results, baseline)


@pytest.fixture(scope="module")
def unreachable_port() -> Iterator[int]:
    with closed_port() as port:
        yield port


@pytest.fixture(scope="module")
def daemon(demo: Demo, unreachable_port: int) -> Iterator[Daemon]:
    """`demon run` on the demo (its state store, with the demo's baselines); ready: every dataset ran once."""
    started: list[Daemon] = []
    try:
        config = demo.write("run.yml", daemon_config(unreachable_port))
        running = start_daemon(config, on_start=started.append)
        wait_for(lambda: running.answers("/readyz"), timeout=120, what="every dataset's first run (/readyz)")
        yield running
    finally:
        for each in started:
            each.kill()


@pytest.fixture(scope="module")
def victim(demo: Demo) -> Iterator[Daemon]:
    started: list[Daemon] = []
    try:
        yield start_daemon(demo.write("victim.yml", victim_config), on_start=started.append)
    finally:
        for each in started:
            each.kill()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """`demon dashboards export DIR`: the directory and the paths it printed."""
    directory = tmp_path_factory.mktemp("export") / "bundle"
    result = demon("dashboards", "export", str(directory))
    assert result.returncode == 0, output(result)
    return directory, result.stdout.splitlines()


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, daemon: Daemon, victim: Daemon, exported: tuple[Path, list[str]]
) -> Iterator[Prometheus]:
    """Scrapes both daemons every second as job `demon`, evaluating the exported rules every second; both
    have been scraped once."""
    rules = exported[0] / "prometheus" / "demon-rules.yml"
    server = Prometheus.start(
        tmp_path_factory.mktemp("prometheus"), [instance(daemon), instance(victim)], rule_files=[rules]
    )
    try:
        for each in (daemon, victim):
            server.wait_for(f'up{{job="demon", instance="{instance(each)}"}} == 1')
        yield server
    finally:
        server.stop()


def instance(daemon: Daemon) -> str:
    return f"127.0.0.1:{daemon.port}"


def outcome_sample(dataset: str, check: str, kind: str, outcome: str) -> str:
    """The key of a demon_check_outcome sample in `Daemon.samples()`."""
    return f'demon_check_outcome{{dataset="{dataset}",check="{check}",kind="{kind}",outcome="{outcome}"}}'




def values(series: list[dict[str, Any]]) -> list[str]:
    return [str(each["value"][1]) for each in series]


def wait_gone(prometheus: Prometheus, expr: str, timeout: float = 120) -> None:
    wait_for(lambda: not prometheus.query(expr), timeout=timeout, what=f"{expr} to return nothing")


def reloads(daemon: Daemon) -> int:
    return sum(1 for line in daemon.logs() if str(line.get("message", "")).startswith("config reloaded"))


def sighup(daemon: Daemon) -> None:
    """Reload and wait until the daemon logged that it applied the config."""
    before = reloads(daemon)
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: reloads(daemon) > before, what="the reload to be logged")


# --- 1. the exposition and the exported bundle, by promtool ----------------------------------------------


def test_promtool_finds_no_problem_in_the_exposition(daemon: Daemon) -> None:
    body = daemon.metrics()
    linted = promtool("check", "metrics", stdin=body)
    assert (linted.returncode, linted.stdout + linted.stderr) == (0, ""), output(linted)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", body, re.MULTILINE))
    assert types == CATALOG
    samples = daemon.samples()
    assert samples['demon_source_up{source="unreachable"}'] == 0
    assert samples['demon_source_up{source="warehouse"}'] == 1
    assert samples[outcome_sample("ghost", "ghost.volume", "volume", "error")] == 1
    assert UNREACHABLE_PASSWORD not in body


def test_promtool_reports_a_problem_when_there_is_one() -> None:
    """The check above can fail: promtool does lint what it is given on stdin."""
    linted = promtool("check", "metrics", stdin="# HELP demon_x x\n# TYPE demon_x counter\ndemon_x 1\n")
    assert linted.returncode != 0
    assert '"_total" suffix' in linted.stdout + linted.stderr


def test_exported_rules_config_and_provisioning_work_where_they_were_written(
    exported: tuple[Path, list[str]],
) -> None:
    directory, printed = exported
    rules = directory / "prometheus" / "demon-rules.yml"
    checked = promtool("check", "rules", str(rules))
    assert checked.returncode == 0, output(checked)
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout
    tested = promtool("test", "rules", str(directory / "prometheus" / "demon-rules.test.yml"))
    assert tested.returncode == 0, output(tested)
    assert "SUCCESS" in tested.stdout
    config = promtool("check", "config", str(directory / "prometheus" / "prometheus.yml"))
    assert config.returncode == 0, output(config)

    provider = yaml.safe_load((directory / "provisioning/dashboards/demon.yml").read_text(encoding="utf-8"))
    path = Path(provider["providers"][0]["options"]["path"])
    assert path == (directory / "grafana").resolve()
    assert sorted(p.name for p in path.glob("*.json")) == sorted(p.name for p in GRAFANA.glob("*.json"))
    for bundled in GRAFANA.glob("*.json"):
        assert (path / bundled.name).read_bytes() == bundled.read_bytes()
    assert (directory / "provisioning/datasources/demon.yml").is_file()
    assert sorted(printed) == sorted(str(p) for p in directory.rglob("*") if p.is_file())


# --- 2. every dashboard expression and every rule against the live Prometheus ------------------------------


def has_number(series: list[dict[str, Any]]) -> bool:
    return any(value != "NaN" for value in values(series))


def answers(prometheus: Prometheus, expr: str, datasets: list[str]) -> bool:
    """Whether the panel expression returns a number for at least one value of $dataset."""
    fill = {"datasource": "prometheus", "job": "demon", "__rate_interval": RATE_WINDOW}
    choices = datasets if "$dataset" in expr or "${dataset" in expr else datasets[:1]
    return any(has_number(prometheus.query(substitute(expr, {**fill, "dataset": d}))) for d in choices)


def test_every_dashboard_panel_returns_data(prometheus: Prometheus) -> None:
    """Once rate() windows hold several runs of every dataset (every 3 s), each panel target has data."""
    found = prometheus.wait_for("group by (dataset) (demon_dataset_info)")
    datasets = sorted(each["metric"]["dataset"] for each in found)  # label_values(demon_dataset_info, ...)
    assert {"orders", "ghost", REMOVED_DATASET} <= set(datasets)
    prometheus.wait_for(f"increase(demon_check_runs_total[{RATE_WINDOW}]) > 0")  # runs in the rate window
    pending = list(dict.fromkeys(dashboard_expressions()))
    assert len(pending) >= 30
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        pending = [(title, expr) for title, expr in pending if not answers(prometheus, expr, datasets)]
        if pending:
            time.sleep(0.5)
    assert not pending, "panels without data:\n" + "\n".join(f"  {title}: {expr}" for title, expr in pending)


# Metric selectors of a PromQL expression: skip strings, grouping label lists, ranges and numbers; a name that
# is not a function call nor a keyword is a selector (with its matchers, if any).
_PROMQL = re.compile(
    r'"(?:[^"\\]|\\.)*"'
    r"|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
    r"|\[[^\]]*\]"
    r"|\d[\w.]*"
    r"|(?P<name>[A-Za-z_:][\w:]*)(?![\w:])(?P<matchers>\s*\{[^}]*\})?(?!\s*\()"
)
_NOT_SELECTORS = {
    *("and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring"),
    *("sum", "min", "max", "avg", "count", "topk", "bottomk", "group", "stddev", "stdvar", "quantile"),
    "count_values",
}


def selectors(expr: str) -> set[str]:
    return {
        match["name"] + (match["matchers"] or "").strip()
        for match in _PROMQL.finditer(expr)
        if match["name"] and match["name"] not in _NOT_SELECTORS
    }


def test_selectors_are_read_from_rule_expressions() -> None:
    expr = ('max by (dataset) (x{a="b"} == 1) * on (dataset) group_left (owner) label_replace(topk by (d) '
            '(1, info), "s", "$1", "t", "(.*)") or increase(runs_total[15m]) > 0 or absent(up{job="demon"})')
    assert selectors(expr) == {'x{a="b"}', "info", "runs_total", 'up{job="demon"}'}


def exported_rules(exported: tuple[Path, list[str]]) -> list[dict[str, Any]]:
    document = yaml.safe_load((exported[0] / "prometheus" / "demon-rules.yml").read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_rule_is_loaded_healthy_and_its_selectors_have_data(
    prometheus: Prometheus, exported: tuple[Path, list[str]]
) -> None:
    rules = exported_rules(exported)
    assert {rule["alert"] for rule in rules} == ALERTS
    prometheus.wait_for('up{job="demon"} == 1')

    def evaluated() -> list[dict[str, Any]]:
        loaded = [rule for group in prometheus.rules() for rule in group["rules"]]
        return loaded if all(rule.get("lastEvaluation", "").startswith("2") for rule in loaded) else []

    loaded = wait_for(evaluated, what="every rule to be evaluated")
    [group] = prometheus.rules()
    assert Path(group["file"]) == exported[0] / "prometheus" / "demon-rules.yml"
    assert {rule["name"] for rule in loaded} == ALERTS
    unhealthy = [(r["name"], r["health"], r.get("lastError")) for r in loaded
                 if r["health"] != "ok" or r.get("lastError")]
    assert not unhealthy
    for rule in rules:
        found = selectors(rule["expr"])
        assert found, rule["alert"]
        for selector in found:
            prometheus.wait_for(selector)


def test_the_alerts_this_demo_can_raise_are_active(prometheus: Prometheus, demo: Demo) -> None:
    """Demo failures fire DemonCheckFailing; stale data and the unreachable source are pending (`for: 5m`)."""
    prometheus.wait_for(
        'ALERTS{alertname="DemonCheckFailing", alertstate="firing", check="orders.volume", outcome="fail",'
        ' owner="data-eng", dataset_severity="high", severity="warning"}'
    )
    prometheus.wait_for('ALERTS{alertname="DemonCheckFailing", alertstate="firing", check="ghost.volume",'
                        ' outcome="error", dataset="ghost"}')
    failing = {(r["metric"]["check"], r["metric"]["outcome"])
               for r in prometheus.query('ALERTS{alertname="DemonCheckFailing"}')}
    assert failing == demo.failing() | {("ghost.volume", "error")}

    stale = {r["dataset"] for r in demo.results if r["kind"] == "freshness" and r["outcome"] == "fail"}
    assert stale == {"payments", "raw_payments"}  # the demo's story; the alert must agree
    wait_for(
        lambda: {r["metric"]["dataset"] for r in prometheus.query(
            'ALERTS{alertname="DemonDatasetStale", alertstate="pending"}')} == stale,
        what=f"DemonDatasetStale pending for exactly {stale}",
    )
    [payments] = prometheus.query('ALERTS{alertname="DemonDatasetStale", dataset="payments"}')
    assert (payments["metric"]["owner"], payments["metric"]["dataset_severity"]) == ("finance", "high")

    prometheus.wait_for('ALERTS{alertname="DemonSourceDown", alertstate="pending", source="unreachable"}')
    assert not prometheus.query('ALERTS{alertname="DemonSourceDown", source!="unreachable"}')


def test_demon_down_once_a_daemon_stops(prometheus: Prometheus, daemon: Daemon, victim: Daemon) -> None:
    down = f'ALERTS{{alertname="DemonDown", instance="{instance(victim)}"'
    prometheus.wait_for(f'up{{job="demon", instance="{instance(victim)}"}} == 1')
    assert not prometheus.query(down + "}")
    victim.signal(signal.SIGTERM)
    assert victim.wait() == 0
    prometheus.wait_for(f'up{{job="demon", instance="{instance(victim)}"}} == 0')
    [alert] = prometheus.wait_for(down + ', alertstate="pending"}')
    assert alert["metric"]["severity"] == "critical"
    assert values(prometheus.query(f'up{{instance="{instance(daemon)}"}}')) == ["1"]
    assert not prometheus.query(f'ALERTS{{alertname="DemonDown", instance="{instance(daemon)}"}}')


# --- 3. a config reload removes checks and datasets from /metrics and from Prometheus ----------------------


def last_run(daemon: Daemon) -> float | None:
    labels = 'dataset="{}",check="{}",kind="{}"'.format(*KEPT_CHECK)
    return daemon.metric("demon_check_last_run_timestamp_seconds", labels)


def next_run_done(daemon: Daemon) -> None:
    """Wait until KEPT_CHECK's dataset finished another run: the next one starts a period (3 s) later."""
    before = last_run(daemon)
    wait_for(lambda: last_run(daemon) != before, interval=0.05, what="another dataset run")


def test_a_reload_drops_a_removed_check_and_dataset(
    demo: Demo, daemon: Daemon, prometheus: Prometheus, unreachable_port: int
) -> None:
    """Right after a dataset run, so that no run of the old config is in flight (see the next test)."""
    dataset_name, check = REMOVED_CHECK
    removed_check = f'demon_check_outcome{{check="{check}", instance="{instance(daemon)}"}}'
    removed_info = f'demon_dataset_info{{dataset="{REMOVED_DATASET}", instance="{instance(daemon)}"}}'
    body = daemon.metrics()
    assert f'check="{check}"' in body and f'demon_dataset_info{{dataset="{REMOVED_DATASET}"' in body
    prometheus.wait_for(removed_check)
    prometheus.wait_for(removed_info)
    edit = daemon_config(unreachable_port)
    demo.write("run.yml", without_removed(edit))
    try:
        next_run_done(daemon)
        sighup(daemon)
        body = daemon.metrics()
        assert f'check="{check}"' not in body
        assert f'dataset="{REMOVED_DATASET}"' not in body
        assert 'check="{1}"'.format(*KEPT_CHECK) in body
        next_run_done(daemon)  # a run of the new config
        assert f'check="{check}"' not in daemon.metrics()
        wait_gone(prometheus, removed_check)
        wait_gone(prometheus, removed_info)
        assert prometheus.query(removed_info.replace(REMOVED_DATASET, dataset_name))
    finally:
        demo.write("run.yml", edit)
        sighup(daemon)
    wait_for(lambda: f'check="{check}"' in daemon.metrics(), what=f"{check} back, restored")


# Hours of work, stopped by the source's query_timeout: the first run lasts that long on any machine.
SLOW_SQL = "SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3"
SLOW_METRIC = f"- metric: {{name: slow, sql: '{SLOW_SQL}', min: 0}}"


def test_a_check_removed_while_its_dataset_runs_stays_gone(tmp_path: Path) -> None:
    execute(f"duckdb:///{tmp_path / 'warehouse.duckdb'}", ["CREATE TABLE orders AS SELECT 1 AS id"])
    sources = source("warehouse", "duckdb:///warehouse.duckdb", timeout="15s")
    config = write_config(
        tmp_path, sources, dataset("orders", SLOW_METRIC, "- volume: {min: 1}", schedule="every 1h")
    )
    started: list[Daemon] = []
    try:
        running = start_daemon(config, on_start=started.append)  # its first run (15 s long) has begun
        write_config(tmp_path, sources, dataset("orders", SLOW_METRIC, schedule="every 1h"))
        sighup(running)
        if running.answers("/readyz"):
            raise RuntimeError("inconclusive: the first run was over before the reload")
        wait_for(lambda: running.answers("/readyz"), timeout=120, what="the first run to end")
        assert 'check="orders.metric.slow"' in running.metrics()
        assert 'check="orders.volume"' not in running.metrics()
    finally:
        for each in started:
            each.kill()


# --- 4. demon check --push to the Pushgateway ------------------------------------------------------------


PUSHED_VOLUME = 'demon_check_outcome{{job="demon", dataset="orders", check="orders.volume", outcome="{}"}}'


Groups = dict[tuple[str, str], dict[str, Any]]


def groups(gateway: Pushgateway) -> Groups:
    """The pushed groups by (dataset, check), check "" for a dataset's own group; all must be job="demon"."""
    found = {}
    for group in gateway.groups():
        assert group["labels"]["job"] == "demon", group["labels"]
        found[group["labels"]["dataset"], group["labels"].get("check", "")] = group
    return found


def datasets(found: Groups) -> set[str]:
    return {dataset for dataset, _ in found}


def of(found: Groups, dataset: str) -> Groups:
    return {key: group for key, group in found.items() if key[0] == dataset}


def pushed_outcomes(found: Groups, dataset: str) -> dict[str, str]:
    """check -> its outcome (the series that is 1) over the dataset's pushed check groups."""
    return {m["labels"]["check"]: m["labels"]["outcome"]
            for (_, check), group in of(found, dataset).items() if check
            for m in group["demon_check_outcome"]["metrics"] if float(m["value"]) == 1}


def checked(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {r["check"]: r["outcome"] for r in json.loads(result.stdout)["results"]}


def push(config: Path, select: str) -> subprocess.CompletedProcess[str]:
    return demon("check", "-c", str(config), "--push", "--select", select, "--format", "json")


def test_push_adds_groups_per_check_and_dataset_and_replaces_only_its_own(
    demo: Demo, pushgateway: Pushgateway, prometheus_server: Callable[..., Prometheus], tmp_path: Path
) -> None:
    prometheus = prometheus_server(extra_jobs=[pushgateway.scrape_job()])  # discovery runs while we push
    state = demo.state_copy(tmp_path / "state.db")
    config = demo.write(f"push-{tmp_path.name}.yml", push_config(pushgateway.url, state))

    orders = push(config, "orders*")
    assert orders.returncode == 1, output(orders)  # orders.volume fails against the demo's baseline
    assert checked(orders)["orders.volume"] == "fail"
    assert datasets(groups(pushgateway)) == {"orders"}
    offices = push(config, "offices*")
    assert offices.returncode == 0, output(offices)
    pushed = groups(pushgateway)
    assert datasets(pushed) == {"orders", "offices"}
    assert set(of(pushed, "orders")) == {("orders", check) for check in [*checked(orders), ""]}
    assert pushed_outcomes(pushed, "orders") == checked(orders)
    assert pushed_outcomes(pushed, "offices") == checked(offices)
    assert not any("demon_check_runs_total" in group or "demon_check_duration_seconds" in group
                   for group in pushed.values())  # counters would start over at every push
    assert {"demon_check_value", "demon_check_outcome"} < pushed["orders", "orders.volume"].keys()
    assert "demon_dataset_info" in pushed["orders", ""]

    text = pushgateway.metrics_text()
    demon_lines = [line for line in text.splitlines() if line.startswith("demon_")]
    assert demon_lines and "demon_check_runs_total" not in text
    labelled = re.compile(r'\{(?=.*\bjob="demon")(?=.*\bdataset="(orders|offices)").*\}')
    assert all(labelled.search(line) for line in demon_lines)

    [series] = prometheus.wait_for(PUSHED_VOLUME.format("fail") + " == 1")
    assert "exported_job" not in series["metric"]
    prometheus.wait_for('demon_check_outcome{job="demon", dataset="offices", outcome="pass"} == 1')

    def no_max_drop(config: Config) -> None:
        push_config(pushgateway.url, state)(config)
        [volume] = (check["volume"] for check in config["datasets"]["orders"]["checks"] if "volume" in check)
        volume.pop("max_drop")

    offices_before = of(pushed, "offices")
    again = push(demo.write(f"push-{tmp_path.name}-2.yml", no_max_drop), "orders.volume")
    assert again.returncode == 0, output(again)  # volume passes now
    assert checked(again) == {"orders.volume": "pass"}
    pushed = groups(pushgateway)
    # one check pushed again replaces that check only: the dataset's other checks keep their results
    assert pushed_outcomes(pushed, "orders") == checked(orders) | checked(again)
    assert of(pushed, "offices") == offices_before
    prometheus.wait_for(PUSHED_VOLUME.format("pass") + " == 1")


def test_push_without_a_pushgateway_is_a_usage_error(
    demo: Demo, pushgateway: Pushgateway, tmp_path: Path
) -> None:
    state = demo.state_copy(tmp_path / "state.db")
    config = demo.write(f"nopush-{tmp_path.name}.yml", push_config(None, state))
    result = push(config, "offices*")
    assert result.returncode == 2, output(result)
    assert "metrics.pushgateway" in result.stderr
    assert result.stdout == ""
    assert pushgateway.groups() == []


def test_push_to_a_stopped_pushgateway_says_so_without_the_password(
    demo: Demo, pushgateway: Pushgateway, tmp_path: Path
) -> None:
    url = f"http://pusher:{PUSH_PASSWORD}@{pushgateway.address}"
    state = demo.state_copy(tmp_path / "state.db")
    config = demo.write(f"pushauth-{tmp_path.name}.yml", push_config(url, state))
    accepted = push(config, "offices*")  # the credentials go as basic auth, which this Pushgateway ignores
    assert accepted.returncode == 0, output(accepted)
    assert datasets(groups(pushgateway)) == {"offices"}

    pushgateway.stop()
    for select, code in (("offices*", 3), ("orders*", 1)):  # 1: a check failed, which matters more
        result = push(config, select)
        assert result.returncode == code, output(result)
        assert "demon: results not pushed:" in result.stderr
        assert "pusher:***@" in result.stderr
        assert PUSH_PASSWORD not in result.stderr + result.stdout
        assert checked(result)  # the results were printed all the same


# --- 5. demon demo --serve -----------------------------------------------------------------------------


def test_demo_serve_runs_the_daemon_on_the_demo_until_sigterm(tmp_path: Path) -> None:
    directory, port = tmp_path / "demo", free_port()
    log_path = tmp_path / "serve.log"
    handle = log_path.open("wb")
    command = ["demo", "--dir", str(directory), "--serve", "--listen", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", *command],
        stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    served = Daemon(process, port, log_path, handle)
    try:
        wait_for(lambda: served.answers("/readyz"), timeout=120, what="demon demo --serve to be ready")
        config = yaml.safe_load((directory / "demon.yml").read_text(encoding="utf-8"))
        assert config["metrics"]["listen"] == f"127.0.0.1:{port}"
        samples = served.samples()
        assert samples[outcome_sample("orders", "orders.volume", "volume", "fail")] == 1
        assert samples[outcome_sample("offices", "offices.volume", "volume", "pass")] == 1
        served.signal(signal.SIGTERM)
        assert served.wait() == 0, served.text()
    finally:
        served.kill()


def test_demo_serve_rejects_a_listen_that_is_not_host_port(tmp_path: Path) -> None:
    result = demon("demo", "--dir", str(tmp_path / "demo"), "--serve", "--listen", "nonsense")
    assert result.returncode == 2, output(result)
    assert "'nonsense' is not HOST:PORT" in result.stderr
    assert not (tmp_path / "demo").exists()
