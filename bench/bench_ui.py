"""Issue 21 benchmark: the web UI and `demon report` at 1,000 datasets.

Writes a config of N datasets (freshness, volume and schema each, on one small DuckDB table; lineage in
chains of ten) and stores `--days` of hourly results for every check (N x 3 x 24 x days rows). Prints:
- the report: build time (reading the store and rendering) and size, for `--days`;
- the report's load time in headless Chromium (to the load event and to the overview's charts-free first
  view; then a dataset page's charts drawn after following its link);
- a real `demon run` on the same config with the UI on: /metrics latency (median, p95) alone, then while
  `--hammers` threads fetch UI pages as fast as they can, and the ratio.
Run: .venv/bin/python -m bench.bench_ui [--datasets 1000] [--days 7] [--scrapes 100] [--hammers 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from monitor.app.config import load_config
from monitor.app.ui.report import build_report, write_atomically
from monitor.core.results import Outcome, Result
from monitor.state.store import StateStore
from tests.daemon_support import start_daemon, wait_for


def write_config(directory: Path, datasets: int) -> Path:
    with duckdb.connect(str(directory / "warehouse.duckdb")) as con:
        con.execute("CREATE TABLE t AS SELECT range AS id, now()::TIMESTAMP AS loaded_at FROM range(100)")
    lines = ["version: 1", "sources:", "  warehouse:", "    kind: sql", "    url: duckdb:///warehouse.duckdb",
             "    max_concurrency: 2", "datasets:"]
    for index in range(datasets):
        lines += [f"  d{index:04d}:", "    source: warehouse", "    table: t", f"    owner: team-{index % 7}",
                  f"    tags: [domain-{index % 11}]", f"    description: dataset number {index}",
                  "    schedule: every 1w"]
        if index % 10:
            lines.append(f"    upstream: [d{index - 1:04d}]")
        lines += ["    checks:", "      - freshness: {column: loaded_at, warn_after: 1h, fail_after: 1d}",
                  "      - volume: {min: 1}", "      - schema: {}"]
    lines += ["metrics:", "  listen: 127.0.0.1:${DEMON_TEST_PORT:-9108}", "ui:", "  enabled: true",
              "state:", "  url: sqlite:///state.db"]
    path = directory / "demon.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def seed(config_path: Path, days: int, now: datetime) -> int:
    config = load_config(config_path)
    stored = 0
    with StateStore.open(config.state.url, config.base_dir) as store:
        run = store.start_run("check")
        for hour in range(days * 24, 0, -1):
            at = now - timedelta(hours=hour)
            results = [
                Result(check=spec.id, dataset=spec.dataset, kind=spec.kind, source="warehouse",
                       outcome=Outcome.FAIL if (hash(spec.id) + hour) % 97 == 0 else Outcome.PASS,
                       message=f"{spec.kind} ok", started_at=at, duration_seconds=0.01,
                       value=float(100 + hour % 13), unit="rows",
                       thresholds={"min": 1.0} if spec.kind == "volume" else {"fail_after": 86400.0})
                for spec in config.checks
            ]
            store.record(run, results)
            stored += len(results)
    return stored


def page_load(report: Path) -> tuple[float, float]:
    """Seconds to the report's load event, then to a dataset page's charts drawn after a click."""
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,900"):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or "chromium"
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(shutil.which("chromedriver") or "chromedriver"))
    try:
        driver.set_page_load_timeout(300)
        driver.get(report.as_uri())
        loaded = driver.execute_script(
            "const t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd - t.startTime;")
        started = time.perf_counter()
        driver.find_element(By.CSS_SELECTOR, "#datasets a.ds").click()
        wait_for(lambda: driver.execute_script(
            "return document.querySelectorAll('section.page:target .plot[data-drawn]').length") >= 3,
            timeout=120, what="charts drawn")
        return loaded / 1000, time.perf_counter() - started
    finally:
        driver.quit()


def scrape_latencies(url: str, count: int) -> list[float]:
    found = []
    for _ in range(count):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as reply:
            reply.read()
        found.append(time.perf_counter() - started)
    return found


def hammer(base: str, stop: threading.Event, pages: list[int], datasets: int) -> None:
    index = 0
    while not stop.is_set():
        path = ("/", "/incidents", "/lineage", f"/datasets/d{index % datasets:04d}")[index % 4]
        with urllib.request.urlopen(base + path, timeout=60) as reply:
            reply.read()
        pages.append(1)
        index += 1


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--scrapes", type=int, default=100)
    parser.add_argument("--hammers", type=int, default=4)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-ui-", dir=os.environ.get("BENCH_DIR")))
    config_path = write_config(directory, args.datasets)
    now = datetime.now(UTC)
    started = time.perf_counter()
    stored = seed(config_path, args.days, now)
    print(f"seeded {stored:,} results ({args.datasets} datasets x 3 checks x {args.days * 24} hours) "
          f"in {time.perf_counter() - started:.1f}s")

    config = load_config(config_path)
    with StateStore.open(config.state.url, config.base_dir) as store:
        started = time.perf_counter()
        text = build_report(config, store, now, args.days)
        built = time.perf_counter() - started
    report = directory / "report.html"
    write_atomically(report, text)
    print(f"report --days {args.days}: built in {built:.2f}s, {report.stat().st_size / 1e6:.2f} MB")
    loaded, charted = page_load(report)
    print(f"report in Chromium: load event after {loaded:.2f}s; a dataset page's charts drawn "
          f"{charted:.2f}s after the click")

    daemon = start_daemon(config_path)
    try:
        wait_for(lambda: daemon.get("/readyz", timeout=30).status == 200, timeout=900, what="first round")
        daemon.get("/")  # the first snapshot
        metrics = daemon.base_url + "/metrics"
        alone = scrape_latencies(metrics, args.scrapes)
        stop, pages = threading.Event(), []
        threads = [threading.Thread(target=hammer, args=(daemon.base_url, stop, pages, args.datasets))
                   for _ in range(args.hammers)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        hammered_started = time.perf_counter()
        hammered = scrape_latencies(metrics, args.scrapes)
        rate = len(pages) / (time.perf_counter() - hammered_started + 2)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        daemon.kill()
    print(f"/metrics alone: median {statistics.median(alone) * 1000:.1f} ms, p95 {p95(alone) * 1000:.1f} ms")
    print(f"/metrics with {args.hammers} threads fetching UI pages ({rate:.0f} pages/s): median "
          f"{statistics.median(hammered) * 1000:.1f} ms, p95 {p95(hammered) * 1000:.1f} ms")
    print(f"ratio hammered/alone: median {statistics.median(hammered) / statistics.median(alone):.2f}, "
          f"p95 {p95(hammered) / p95(alone):.2f}")
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
