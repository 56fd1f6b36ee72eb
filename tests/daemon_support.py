"""A real `demon run` process for tests: started on a free 127.0.0.1 port, probed over HTTP, signalled.

The daemon runs as `python -m monitor run` in its own process (as under systemd), with JSON logs captured to a
file so tests can read what it did line by line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.pgserver import free_port


@dataclass
class Response:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Daemon:
    """One `demon run` process; `logs()` parses its JSON log lines so far."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _handle: Any = field(repr=False, default=None)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, timeout: float = 30.0) -> Response:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=timeout) as reply:
                return Response(reply.status, reply.read().decode())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read().decode())

    def answers(self, path: str, timeout: float = 5.0) -> bool:
        """Whether `path` answers 200 now (not yet listening: False); raises if the process has exited."""
        if not self.alive():
            raise AssertionError(f"demon run exited with {self.process.returncode}:\n{self.text()[-3000:]}")
        try:
            return self.get(path, timeout=timeout).status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def metrics(self) -> str:
        return self.get("/metrics").body

    def samples(self) -> dict[str, float]:
        """Every sample of one /metrics scrape, keyed `name{labels}` exactly as exposed."""
        found = {}
        for line in self.metrics().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                found[key] = float(value)
        return found

    def metric(self, name: str, labels: str = "") -> float | None:
        """The value of one sample (`name{labels}` exactly as exposed), or None when absent."""
        return self.samples().get(f"{name}{{{labels}}}" if labels else name)

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (a traceback or other non-JSON line is kept as message)."""
        lines = []
        for line in self.text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append({"level": "raw", "message": line})
        return lines

    def checks_logged(self) -> list[dict[str, Any]]:
        """The runner's line per check run (console notifications carry check and outcome too)."""
        return [line for line in self.logs() if line.get("logger") == "monitor.runner" and "outcome" in line]

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 120.0) -> int:
        code = self.process.wait(timeout=timeout)
        if self._handle is not None:
            self._handle.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.wait()

    def alive(self) -> bool:
        return self.process.poll() is None


def source(name: str, url: str, timeout: str = "5m", concurrency: int = 2, read_files: bool = False) -> str:
    """A `sql` source entry of a config's `sources:`; `read_files` for DuckDB views over files."""
    return (f"  {name}:\n    kind: sql\n    url: {url}\n    query_timeout: {timeout}\n"
            f"    max_concurrency: {concurrency}\n" + ("    read_files: true\n" if read_files else ""))


def dataset(name: str, *checks: str, source: str = "warehouse", table: str = "orders",
            schedule: str = "every 1s") -> str:
    """A dataset entry of a config's `datasets:`; each check is one YAML line like `- volume: {min: 1}`."""
    lines = "".join(f"      {check}\n" for check in checks)
    return (f"  {name}:\n    source: {source}\n    table: {table}\n    schedule: {schedule}\n"
            f"    checks:\n{lines}")


def write_config(directory: Path, sources: str, datasets: str, state_url: str = "sqlite:///state.db",
                 retention: str = "90d") -> Path:
    """`directory/demon.yml`, listening on ${DEMON_TEST_PORT} (start_daemon sets it to a free port)."""
    path = directory / "demon.yml"
    path.write_text(
        "version: 1\n"
        f"sources:\n{sources}"
        f"datasets:\n{datasets}"
        "metrics:\n  listen: 127.0.0.1:${DEMON_TEST_PORT}\n"
        f"state:\n  url: {state_url}\n  retention: {retention}\n"
    )
    return path


def wait_for(
    condition: Callable[[], Any], timeout: float = 120.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll until `condition()` is truthy and return it; fail the test with `what` on timeout.

    The deadline is generous on purpose: it only matters when the condition never comes, and a loaded
    machine (two test runs at once, a busy CI host) may take many times longer than an idle one."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def start_daemon(
    config: Path, *args: str, port: int | None = None, env: dict[str, str] | None = None,
    wait_healthy: bool = True, on_start: Callable[[Daemon], None] | None = None,
    preexec: Callable[[], None] | None = None, stdout: int | None = None,
) -> Daemon:
    """Start `demon run -c config --log-format json` listening on `port` (the config's metrics.listen must
    say `127.0.0.1:${DEMON_TEST_PORT}`, set here) and wait until /healthz answers 200. `preexec` runs in the
    child before demon starts (resource limits, signal dispositions). `stdout`, a file descriptor such as a
    pipe's write end, takes the output instead of the log file; the caller then copies it to `log_path`.

    A free port found here may be taken by another process before the daemon binds it (another test run
    beside this one): when the daemon says so, it is started again on another port."""
    for attempt in range(3):
        daemon = _launch(config, args, port or free_port(), env, on_start, preexec, stdout)
        if not wait_healthy:
            return daemon
        try:
            wait_for(lambda d=daemon: d.answers("/healthz", timeout=10), what="demon run serving /healthz")
        except AssertionError:
            taken = daemon.process.returncode == 3 and "Address already in use" in daemon.text()
            if port is not None or not taken or attempt == 2:
                raise
            daemon.wait()
            continue
        return daemon
    raise AssertionError("unreachable")


def _launch(config: Path, args: tuple[str, ...], port: int, env: dict[str, str] | None,
            on_start: Callable[[Daemon], None] | None, preexec: Callable[[], None] | None,
            stdout: int | None) -> Daemon:
    log_path = config.parent / f"daemon-{port}-{time.monotonic_ns()}.log"
    handle = log_path.open("wb")
    environ = {**os.environ, **(env or {}), "DEMON_TEST_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(config), "--log-format", "json", *args],
        stdout=handle if stdout is None else stdout, stderr=subprocess.STDOUT, env=environ, cwd=config.parent,
        preexec_fn=preexec,
    )
    daemon = Daemon(process, port, log_path, handle)
    if on_start is not None:
        on_start(daemon)
    return daemon
