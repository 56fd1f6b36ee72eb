"""The Prometheus and Pushgateway harness against the real servers, without demon."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.promserver import Prometheus, Pushgateway, QueryError

EXPOSITION = b"# HELP demo_up A static sample.\n# TYPE demo_up gauge\ndemo_up 1\n"
RULES = """groups:
  - name: demo
    rules:
      - record: demo:answer
        expr: vector(42)
"""


class _Static(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(EXPOSITION)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per scrape would flood the test output."""


@pytest.fixture
def exporter() -> Iterator[str]:
    """`host:port` of a tiny HTTP server serving a static exposition on every path."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Static)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def push(gateway: Pushgateway, path: str, text: str) -> int:
    """POST (pushadd) a text exposition to the Pushgateway; the HTTP status."""
    status, _ = gateway.request("POST", path, text.encode(), {"Content-Type": "text/plain"})
    return status


def value(series: dict[str, object]) -> str:
    sample = series["value"]
    assert isinstance(sample, list)
    return str(sample[1])


def test_scrapes_targets_and_reports_their_health(
    prometheus_server: Callable[..., Prometheus], exporter: str, unused_port: int
) -> None:
    nobody = f"127.0.0.1:{unused_port}"
    prometheus = prometheus_server([exporter, nobody])
    found = prometheus.wait_for("demo_up")
    assert [(s["metric"], value(s)) for s in found] == [
        ({"__name__": "demo_up", "instance": exporter, "job": "demon"}, "1")]
    prometheus.wait_for(f'up{{instance="{nobody}"}} == 0')
    health = {t["labels"]["instance"]: (t["health"], t["lastError"]) for t in prometheus.targets()}
    assert health[exporter] == ("up", "")
    assert health[nobody][0] == "down"
    assert "connection refused" in health[nobody][1]


def test_bad_promql_raises_with_prometheus_message(prometheus_server: Callable[..., Prometheus]) -> None:
    prometheus = prometheus_server()
    with pytest.raises(QueryError, match="unclosed left parenthesis"):
        prometheus.query("sum(")
    with pytest.raises(QueryError, match="unknown function"):
        prometheus.wait_for("no_such_function(up)")
    with pytest.raises(QueryError, match="step"):
        prometheus.query_range("vector(1)", time.time() - 60, time.time(), "-1")


def test_instant_queries_of_each_result_type(prometheus_server: Callable[..., Prometheus]) -> None:
    prometheus = prometheus_server()
    assert prometheus.query("nothing_here") == []
    assert [(s["metric"], value(s)) for s in prometheus.query("vector(3)")] == [({}, "3")]
    assert [(s["metric"], value(s)) for s in prometheus.query("time()", time=1000)] == [({}, "1000")]
    assert [value(s) for s in prometheus.query('"text"')] == ["text"]


def test_recording_rule_is_evaluated_and_reloaded(
    prometheus_server: Callable[..., Prometheus], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    prometheus = prometheus_server(rule_files=[rules])
    assert [value(s) for s in prometheus.wait_for("demo:answer")] == ["42"]
    [group] = prometheus.rules()
    assert (group["name"], [(r["name"], r["health"]) for r in group["rules"]]) == (
        "demo", [("demo:answer", "ok")])
    now = time.time()
    [series] = prometheus.query_range("demo:answer", now - 30, now, 1)
    assert {v for _, v in series["values"]} == {"42"}

    rules.write_text(RULES.replace("vector(42)", "vector(7)"))
    prometheus.reload()
    prometheus.wait_for("demo:answer == 7")
    rules.write_text(RULES.replace("vector(42)", "vector("))
    with pytest.raises(RuntimeError, match=r"reload failed(.|\n)*rules.yml(.|\n)*unclosed left parenthesis"):
        prometheus.reload()


def test_invalid_rule_file_fails_start_with_the_log(
    prometheus_server: Callable[..., Prometheus], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.replace("record: demo:answer", "record: 'not a metric name'"))
    with pytest.raises(RuntimeError, match=r"prometheus exited with 1(.|\n)*invalid recording rule name"):
        prometheus_server(rule_files=[rules])


def test_stop_kills_the_server(prometheus_server: Callable[..., Prometheus]) -> None:
    prometheus = prometheus_server()
    prometheus.stop()
    assert not prometheus.alive()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(prometheus.url + "/-/ready", timeout=5)
    prometheus.stop()


def test_pushgateway_keeps_each_group(pushgateway: Pushgateway) -> None:
    assert pushgateway.groups() == []
    assert push(pushgateway, "/metrics/job/x/dataset/y", "demo_rows 10\n") == 200
    assert push(pushgateway, "/metrics/job/x/dataset/z", "demo_rows 20\n") == 200
    assert push(pushgateway, "/metrics/job/x/dataset/y", "demo_bytes 5\n") == 200
    assert push(pushgateway, "/metrics/job/x/dataset/w", "demo_rows{\n") == 400
    groups = {g["labels"]["dataset"]: g for g in pushgateway.groups()}
    assert sorted(groups) == ["y", "z"]
    assert groups["y"]["labels"] == {"job": "x", "dataset": "y"}
    assert {"demo_rows", "demo_bytes"} <= set(groups["y"])
    assert "demo_bytes" not in groups["z"]
    text = pushgateway.metrics_text()
    assert 'demo_rows{dataset="y",instance="",job="x"} 10' in text
    assert 'demo_rows{dataset="z",instance="",job="x"} 20' in text


def test_prometheus_scrapes_pushed_groups_with_their_labels(
    prometheus_server: Callable[..., Prometheus], pushgateway: Pushgateway
) -> None:
    assert push(pushgateway, "/metrics/job/demon/dataset/orders", "demo_rows 3\n") == 200
    prometheus = prometheus_server(extra_jobs=[pushgateway.scrape_job()])
    [series] = prometheus.wait_for("demo_rows")
    assert (series["metric"]["job"], series["metric"]["dataset"], value(series)) == ("demon", "orders", "3")
