"""What alerting costs: `observe` on every dataset run, and how fast the outbox drains to a channel.

    python -m bench.bench_alerting [--datasets 2000]

Figures printed:
- `observe` per dataset run of 5 checks while all is well (the common case: one read, no write);
- `observe` per run that opens 5 incidents (context, events and outbox rows in one transaction);
- `observe` per run of checks that keep failing (no notification; the incidents' last result moves on);
- delivery: notifications per second from the outbox to a webhook channel on a local HTTP server, through the
  same Deliverer the daemon uses (claim, send, mark), on a SQLite state store.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from alerting.channels import ChannelEnv
from alerting.delivery import Deliverer, open_channels
from alerting.engine import Alerting
from alerting.stats import AlertStats
from monitor.app.config import load_config
from monitor.core.config.models import Config
from monitor.core.redact import Redactor
from monitor.core.results import Outcome, Result
from monitor.state.store import StateStore

CHECKS = ("volume", "freshness", "metric.a", "metric.b", "metric.c")


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@contextmanager
def webhook_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


def write_config(directory: Path, datasets: int, hook: str) -> Config:
    lines = ["version: 1", "sources:", "  wh: {kind: sql, url: 'duckdb:///wh.duckdb'}", "datasets:"]
    for index in range(datasets):
        lines += [f"  d{index}:", "    source: wh", f"    table: t{index}", "    checks:",
                  "      - volume: {min: 1}", "      - freshness: {column: at, fail_after: 1d}"]
        lines += [f"      - metric: {{name: {name}, sql: 'SELECT 1', max: 0}}" for name in ("a", "b", "c")]
    lines += ["alerting:", "  channels:", f"    hook: {{kind: webhook, url: '{hook}'}}",
              "state:", "  url: sqlite:///state.db"]
    (directory / "demon.yml").write_text("\n".join(lines) + "\n")
    return load_config(directory / "demon.yml")


def results(dataset: str, outcome: Outcome, at: datetime) -> list[Result]:
    kinds = {"volume": "volume", "freshness": "freshness"}
    return [
        Result(check=f"{dataset}.{check}", dataset=dataset, kind=kinds.get(check, "metric"), source="wh",
               outcome=outcome, message=f"{check} is {outcome.value}", started_at=at, duration_seconds=0.01,
               value=1.0, unit="rows", thresholds={"min": 1.0})
        for check in CHECKS
    ]


def per_call(calls: Sequence[Callable[[], object]]) -> tuple[float, float]:
    """Median and p95 milliseconds of each call."""
    samples = []
    for call in calls:
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, webhook_server() as hook:
        config = write_config(Path(tmp), args.datasets, hook)
        store = StateStore.open(config.state.url, config.base_dir)
        engine = Alerting(store)
        names = list(config.datasets)
        start = datetime.now(UTC)
        figures = []
        rounds = (("all is well", Outcome.PASS, 0), ("opening 5 incidents", Outcome.FAIL, 1),
                  ("still failing", Outcome.FAIL, 2))
        for label, outcome, offset in rounds:
            at = start + timedelta(minutes=offset)
            calls = [lambda n=name, a=at, o=outcome: engine.observe(config, results(n, o, a), {})
                     for name in names]
            figures.append((label, *per_call(calls)))
        print(f"{args.datasets} dataset runs of {len(CHECKS)} checks, SQLite state store")
        for label, median, p95 in figures:
            print(f"  observe, {label:<22} median {median:7.2f} ms   p95 {p95:7.2f} ms")
        deliver(store, config)
        store.close()


def deliver(store: StateStore, config: Config) -> None:
    env = ChannelEnv(config.base_dir, Redactor(), console=None)
    stats = AlertStats()
    deliverer = Deliverer(store, open_channels(config.alerting, env), stats, env)
    start = time.perf_counter()
    deliverer.drain(timeout=600)
    elapsed = time.perf_counter() - start
    sent = stats.snapshot().notifications[("hook", "sent")]
    print(f"delivery: {sent} notifications to a local webhook in {elapsed:.2f}s = {sent / elapsed:.0f}/s")


if __name__ == "__main__":
    main()
