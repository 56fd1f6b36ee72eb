"""A real Prometheus and a real Pushgateway (Debian's packages) on 127.0.0.1 for the test suite.

Each server runs in its own directory with its output captured to a log file that every failure message
shows. Nothing is read from or written to /etc or /var/lib: the config, the TSDB and the logs live in that
directory, and the Pushgateway keeps its groups in memory only. Prometheus' discovery manager hands targets
to the scrapers at most every 5 s, so a fresh server's first scrape comes 5-6 s after it started; rules are
evaluated from the start.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

import yaml

from tests.pgserver import free_port

PROMETHEUS = Path("/usr/bin/prometheus")
PUSHGATEWAY = Path("/usr/bin/prometheus-pushgateway")
LOG_TAIL_LINES = 60
_MISSING = "not installed: apt-get install prometheus prometheus-pushgateway (or run .ci/run)"


class QueryError(Exception):
    """Prometheus refused a query; the message is Prometheus' own error text."""


def scrape_job(name: str, targets: Sequence[str], **options: Any) -> dict[str, Any]:
    """One `scrape_configs` entry over static targets; `options` are further keys (honor_labels, scheme,
    tls_config, metrics_path, ...) exactly as prometheus.yml spells them."""
    return {"job_name": name, "static_configs": [{"targets": list(targets)}], **options}


def _http(method: str, url: str, body: bytes | None = None,
          headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """(status, body) of one request; HTTP error statuses are returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class _Server:
    """A server process listening on 127.0.0.1:port, logging to `log_path`."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def log_path(self) -> Path:
        return Path(self._log.name)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self) -> str:
        """The last lines of the log, for failure messages."""
        lines = self.log().splitlines()[-LOG_TAIL_LINES:]
        return f"--- {self.name} log ({self.log_path}) ---\n" + "\n".join(lines)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Terminate (kill after 10 s); safe to call twice."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        return _http(method, self.url + path, body, headers)

    @classmethod
    def _launch(cls, name: str, binary: Path, directory: Path, port: int, args: list[str]) -> Self:
        """Start `binary args` in `directory` and wait until /-/ready answers 200; killed if it never does."""
        if not binary.exists():
            raise RuntimeError(f"{binary} {_MISSING}")
        log = (directory / f"{name}.log").open("wb")
        process = subprocess.Popen([str(binary), *args], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=directory)
        server = cls(name, process, port, directory, log)
        try:
            server._wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}\n{self.log_tail()}")
            try:
                if self.request("GET", "/-/ready")[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout}s\n{self.log_tail()}")
            time.sleep(0.05)


def _config(jobs: Sequence[Mapping[str, Any]], scrape_interval: str, evaluation_interval: str,
            rule_files: Sequence[Path]) -> str:
    return yaml.safe_dump({
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "rule_files": [str(Path(path).resolve()) for path in rule_files],
        "scrape_configs": list(jobs),
    }, sort_keys=False)


@dataclass
class Prometheus(_Server):
    """A running Prometheus; `query`, `wait_for`, `targets` and `rules` read it over its HTTP API."""

    @property
    def config_path(self) -> Path:
        return self.directory / "prometheus.yml"

    @classmethod
    def start(cls, directory: Path, targets: Sequence[str] = (), *, job: str = "demon",
              scrape_interval: str = "1s", evaluation_interval: str = "1s",
              rule_files: Sequence[Path] = (), extra_jobs: Sequence[Mapping[str, Any]] = ()) -> Prometheus:
        """Scrape `targets` (host:port) as job `job`, plus `extra_jobs` (see `scrape_job`); evaluate
        `rule_files`. `directory` (existing) holds prometheus.yml, the TSDB and the log. Returns once
        /-/ready answers; raises with the log if Prometheus exits (a bad config or rule file) or hangs."""
        jobs = [scrape_job(job, targets)] if targets else []
        config = directory / "prometheus.yml"
        config.write_text(_config([*jobs, *extra_jobs], scrape_interval, evaluation_interval, rule_files))
        port = free_port()
        args = [f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"]
        return cls._launch("prometheus", PROMETHEUS, directory, port, args)

    def _api(self, endpoint: str, params: Mapping[str, str] | None = None) -> Any:
        """`data` of a /api/v1 answer; a query Prometheus refuses raises QueryError with its error text."""
        path = f"/api/v1/{endpoint}"
        if params is None:
            status, body = self.request("GET", path)
        else:  # a form POST: no URL length limit for long dashboard expressions
            status, body = self.request("POST", path, urllib.parse.urlencode(params).encode(),
                                        {"Content-Type": "application/x-www-form-urlencoded"})
        try:
            answer = json.loads(body)
        except ValueError:
            raise RuntimeError(f"{path} answered {status}: {body[:500]!r}") from None
        if answer.get("status") != "success":
            raise QueryError(f"{answer.get('errorType')}: {answer.get('error')} ({endpoint} {params})")
        return answer["data"]

    def query(self, expr: str, time: float | None = None) -> list[dict[str, Any]]:
        """Instant query (at `time`, Unix seconds, default now): the series as `{"metric", "value"}`; a scalar
        or string result comes back as one series with empty `metric`."""
        params = {"query": expr} if time is None else {"query": expr, "time": repr(time)}
        data = self._api("query", params)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def query_range(self, expr: str, start: float, end: float, step: float | str) -> list[dict[str, Any]]:
        """Range query: the series as `{"metric", "values"}`."""
        params = {"query": expr, "start": repr(start), "end": repr(end), "step": str(step)}
        return list(self._api("query_range", params)["result"])

    def wait_for(self, expr: str, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Poll `expr` until it returns data and return that; on timeout fail with the targets and log."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.query(expr)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no data for {expr!r} after {timeout}s; targets:\n"
                                     f"{self.targets_summary()}\n{self.log_tail()}")
            time.sleep(0.2)

    def targets(self) -> list[dict[str, Any]]:
        """The active targets with `labels`, `health` (up/down/unknown), `lastError`, `lastScrape`."""
        return list(self._api("targets")["activeTargets"])

    def targets_summary(self) -> str:
        return "\n".join(f"  {t['labels'].get('job')} {t['scrapeUrl']}: {t['health']} {t['lastError']}"
                         for t in self.targets()) or "  (none)"

    def rules(self) -> list[dict[str, Any]]:
        """The rule groups, each with its `rules` (name, query, health, lastError, ...)."""
        return list(self._api("rules")["groups"])

    def reload(self) -> None:
        """Re-read prometheus.yml and the rule files; if they are invalid, raises with what Prometheus logged
        meanwhile (its answer only says that something failed, the log says what)."""
        logged = self.log_path.stat().st_size
        status, body = self.request("POST", "/-/reload")
        if status != 200:
            with self.log_path.open("rb") as log:
                log.seek(logged)
                lines = log.read().decode(errors="replace").strip()
            answer = body.decode(errors="replace").strip()
            raise RuntimeError(f"prometheus reload failed ({status}): {answer}\n{lines}")


@dataclass
class Pushgateway(_Server):
    """A running Pushgateway keeping pushed groups in memory."""

    @classmethod
    def start(cls, directory: Path) -> Pushgateway:
        """Listen on a free 127.0.0.1 port; `directory` (existing) holds the log."""
        port = free_port()
        args = [f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="]
        return cls._launch("pushgateway", PUSHGATEWAY, directory, port, args)

    def scrape_job(self, name: str = "pushgateway") -> dict[str, Any]:
        """The scrape job for Prometheus: honor_labels keeps the pushed job and grouping labels."""
        return scrape_job(name, [self.address], honor_labels=True)

    def metrics_text(self) -> str:
        """GET /metrics: every pushed group's samples plus push_time_seconds, in the text format."""
        status, body = self.request("GET", "/metrics")
        if status != 200:
            raise RuntimeError(f"pushgateway /metrics answered {status}\n{self.log_tail()}")
        return body.decode()

    def groups(self) -> list[dict[str, Any]]:
        """GET /api/v1/metrics: one entry per group, with `labels` (its grouping key) and its metric families
        keyed by name."""
        status, body = self.request("GET", "/api/v1/metrics")
        answer = json.loads(body)
        if status != 200 or answer.get("status") != "success":
            raise RuntimeError(f"pushgateway /api/v1/metrics answered {status}: {body[:500]!r}")
        return list(answer["data"])
