"""A config and a state store for the web UI's tests: real DuckDB tables holding hostile strings, a pii
column, lineage, three days of stored history with a learned band, and an incident with an ack."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import duckdb

from alerting import records
from alerting.records import NewIncident
from monitor.app.config import load_config
from monitor.core.results import Outcome, Result
from monitor.state.store import StateStore

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
LINK = "javascript:window.__pwned=1"
RTL = "\u05e9\u05dc\u05d5\u05dd \u202eevil\u202c"  # Hebrew, then a right-to-left override
EMOJI = "\U0001f680\U0001f4ca"
SECRET_EMAIL = "bob@secret.example"  # in the pii column: never shown
HOSTILE = (SCRIPT, IMG)
TOKEN = "ui-test-token-8f2c1d"

quoted = partial(json.dumps, ensure_ascii=False)  # YAML takes no JSON surrogate pairs: keep emoji whole
SCHEMA_MODULE = '''import pandera.pandas as pa

schema = pa.DataFrameSchema({"status": pa.Column(str, pa.Check.isin(["ok"]))})
'''


def build(directory: Path, listen: str = "127.0.0.1:${DEMON_TEST_PORT:-9108}", auth: str | None = None,
          enabled: bool = True) -> Path:
    """directory/demon.yml over directory/warehouse.duckdb; returns the config's path."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(str(directory / "warehouse.duckdb")) as con:
        con.execute("CREATE TABLE orders (id INTEGER, email VARCHAR, status VARCHAR, loaded_at TIMESTAMP)")
        con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", [
            (1, "alice@example.com", "ok", now),
            (2, SECRET_EMAIL, SCRIPT, now),
            (3, "carol@example.com", IMG, now),
            (4, "dan@example.com", f"{RTL} {EMOJI}", now),
        ])
        con.execute("CREATE TABLE customers (id INTEGER, loaded_at TIMESTAMP)")
        con.execute("INSERT INTO customers VALUES (1, ?), (2, ?)", [now, now])
    (directory / "orders_schema.py").write_text(SCHEMA_MODULE)
    ui = f"ui:\n  enabled: {str(enabled).lower()}\n" + (f"  auth: {json.dumps(auth)}\n" if auth else "")
    path = directory / "demon.yml"
    path.write_text(
        "version: 1\n"
        "sources:\n  warehouse:\n    kind: sql\n    url: duckdb:///warehouse.duckdb\n"
        "datasets:\n"
        "  customers:\n    source: warehouse\n    table: customers\n    owner: team-core\n"
        "    tags: [core]\n    schedule: every 1h\n    checks:\n"
        "      - volume: {min: 5}\n      - freshness: {column: loaded_at, fail_after: 1d}\n"
        "  orders:\n    source: warehouse\n    table: orders\n"
        f"    description: {quoted(f'{SCRIPT} {RTL} {EMOJI}')}\n"
        f"    owner: {quoted(IMG)}\n"
        f"    tags: [sales, {quoted(EMOJI)}]\n"
        f"    runbook: {quoted(LINK)}\n"
        "    pii_columns: [email]\n    upstream: [customers]\n    schedule: every 1h\n    checks:\n"
        "      - freshness: {column: loaded_at, warn_after: 1h, fail_after: 1d}\n"
        "      - volume: {min: 1}\n"
        "      - quality: {schema: 'orders_schema:schema'}\n"
        "      - schema: {}\n"
        "  daily:\n    source: warehouse\n    table: orders\n    owner: team-bi\n    tags: [bi]\n"
        "    upstream: [orders]\n    schedule: every 1h\n    checks:\n      - volume: {min: 1}\n"
        f"metrics:\n  listen: {json.dumps(listen)}\n"
        f"{ui}"
        "state:\n  url: sqlite:///state.db\n",
        encoding="utf-8",
    )
    return path


def seed(config_path: Path, days: int = 3, now: datetime | None = None) -> None:
    """Hourly results of every check over `days` (orders.volume with a learned band and a dip), and an
    acknowledged incident on customers.volume whose context holds hostile text."""
    config = load_config(config_path)
    now = now or datetime.now(UTC)
    with StateStore.open(config.state.url, config.base_dir) as store:
        run = store.start_run("check")
        results = []
        for hour in range(days * 24, 0, -1):
            at = now - timedelta(hours=hour)
            for spec in config.checks:
                results.append(_result(spec.id, spec.dataset, spec.kind, at, hour))
        store.record(run, results)
        with store.transaction("seed an incident") as conn:
            opened = now - timedelta(hours=5)
            incident = records.insert(conn, NewIncident(
                key="customers.volume", check_id="customers.volume", dataset="customers", source="warehouse",
                kind="volume", severity="high", outcome="fail", title=f"customers.volume failed {SCRIPT}",
                last_result_at=opened, root_id=None,
                context={"observed": f"2 rows {IMG}", "dashboard_url": LINK, "owner": "team-core"},
            ), opened)
            records.add_event(conn, incident, opened, "opened", "fail", "2 rows, expected at least 5", None)
            records.update(conn, incident, acked_at=now, acked_by="oncall", ack_reason=f"looking {EMOJI}")
            records.add_event(conn, incident, now, "acked", "fail", "looking", "oncall")
        store.finish_run(run, {})


def _result(check: str, dataset: str, kind: str, at: datetime, hour: int) -> Result:
    value, thresholds, outcome = 10.0 + hour % 5, {"min": 1.0}, Outcome.PASS
    if check == "orders.volume":
        value = 100.0 + 20 * ((hour % 24) / 24) - (60 if hour == 7 else 0)
        thresholds = {"min": 1.0, "expected": 110.0, "expected_min": 80.0 + hour % 3, "expected_max": 140.0}
        outcome = Outcome.FAIL if hour == 7 else Outcome.PASS
    elif check == "customers.volume":
        value, thresholds = 2.0, {"min": 5.0}
        outcome = Outcome.FAIL if hour <= 5 else Outcome.PASS
    elif kind == "quality":  # failing rows as a stored result holds them, the pii column among them
        value, thresholds, outcome = 2.0, {"max_failing_rows": 0.0}, Outcome.FAIL
        sample = [{"id": 2, "email": SECRET_EMAIL, "status": SCRIPT},
                  {"id": 3, "email": "c@x", "status": IMG}]
        rule = {"column": "status", "check": "isin(['ok'])", "rows": 4, "failing_rows": 2, "sample": sample}
        return Result(check=check, dataset=dataset, kind=kind, source="warehouse", outcome=outcome,
                      message="1 rule failing", started_at=at, duration_seconds=0.01, value=value,
                      thresholds=thresholds, details={"rules": [rule]})
    elif kind == "freshness":
        value, thresholds = 600.0 + 60 * (hour % 7), {"warn_after": 3600.0, "fail_after": 86400.0}
    return Result(check=check, dataset=dataset, kind=kind, source="warehouse", outcome=outcome,
                  message=f"{kind} {value:g}", started_at=at, duration_seconds=0.01, value=value,
                  thresholds=thresholds)
