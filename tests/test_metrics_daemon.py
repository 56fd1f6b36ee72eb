"""/metrics of a real `demon run` (DuckDB files in tmp_path, a SQLite state store): counters that grow and
survive reloads, timestamps that survive restarts, gzip, TLS; and `demon dashboards export`."""

from __future__ import annotations

import gzip
import json
import signal
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from dashboards.export import bundled
from monitor.app.cli import main
from monitor.app.metrics.exposition import CONTENT_TYPE
from monitor.core.results import Outcome, Result
from monitor.state.store import StateStore
from tests.daemon_support import Daemon, dataset, source, wait_for, write_config
from tests.warehouse import execute

Spawn = Callable[..., Daemon]
Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]

ROWS = 100
# The newest loaded_at, whole seconds, naive UTC in the table: fresh enough for `fail_after: 1d`.
LOADED_AT = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
TLS_LINE = "  tls: {cert_file: cert.pem, key_file: key.pem}\n"


# --- helpers ------------------------------------------------------------------------------------------


def warehouse(directory: Path, rows: int = ROWS) -> str:
    """A DuckDB file with `orders` (id, loaded_at), newest LOADED_AT; its URL relative to the config."""
    stamp = LOADED_AT.strftime("%Y-%m-%d %H:%M:%S")
    execute(f"duckdb:///{directory / 'warehouse.duckdb'}", [
        "CREATE TABLE orders (id INTEGER, loaded_at TIMESTAMP)",
        f"INSERT INTO orders SELECT i, TIMESTAMP '{stamp}' - INTERVAL (i) SECOND FROM range({rows}) t(i)",
    ])
    return "duckdb:///warehouse.duckdb"


def config_with(directory: Path, *checks: str, tls: bool = False) -> Path:
    path = write_config(directory, source("warehouse", warehouse(directory)), dataset("orders", *checks))
    if tls:
        text = path.read_text()
        listen = "  listen: 127.0.0.1:${DEMON_TEST_PORT}\n"
        path.write_text(text.replace(listen, listen + TLS_LINE))
    return path


def parse(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = float(sample.value)
    return found


def scrape(daemon: Daemon) -> Samples:
    return parse(daemon.metrics())


def labels(**pairs: str) -> Labels:
    return tuple(sorted(pairs.items()))


def check_labels(check: str, **more: str) -> Labels:
    dataset_name, kind = check.split(".")[:2]
    return labels(dataset=dataset_name, check=check, kind=kind, **more)


def runs(samples: Samples, check: str, outcome: str) -> float:
    return samples.get(("demon_check_runs_total", check_labels(check, outcome=outcome)), 0.0)


def statements(samples: Samples) -> float:
    return samples[("demon_source_requests_total", labels(source="warehouse", operation="statement"))]


def durations(samples: Samples, kind: str) -> float:
    return samples[("demon_check_duration_seconds_count", labels(source="warehouse", kind=kind))]


def scraped_when(daemon: Daemon, condition: Callable[[Samples], bool], what: str) -> Samples:
    found: Samples = wait_for(lambda: (s := scrape(daemon)) and condition(s) and s, interval=0.2, what=what)
    return found


def log_saying(daemon: Daemon, text: str) -> list[dict[str, Any]]:
    return [line for line in daemon.logs() if text in str(line.get("message", ""))]


def stored(directory: Path, check: str) -> list[Result]:
    """The check's stored results, oldest first."""
    with StateStore.open("sqlite:///state.db", directory) as store:
        return store.history(check, 10_000)[::-1]


# --- counters, histograms, facts ----------------------------------------------------------------------


def test_counters_and_histograms_grow_and_requests_stay_monotonic_across_a_reload(
    tmp_path: Path, spawn: Spawn
) -> None:
    config = config_with(
        tmp_path, "- volume: {min: 1}", "- volume: {name: big, min: 1000}",
        "- freshness: {column: loaded_at, fail_after: 1d}",
    )
    daemon = spawn(config)
    first = scraped_when(daemon, lambda s: runs(s, "orders.volume", "pass") >= 2, "two runs")
    passes = runs(first, "orders.volume", "pass")
    # a dataset's checks are counted together, each under its own outcome only
    assert runs(first, "orders.volume.big", "fail") == runs(first, "orders.freshness", "pass") == passes
    expected = {"orders.volume": "pass", "orders.volume.big": "fail", "orders.freshness": "pass"}
    for check, outcome in expected.items():
        for other in Outcome:
            if other.value != outcome:
                assert first[("demon_check_runs_total", check_labels(check, outcome=other.value))] == 0.0
        assert first[("demon_check_outcome", check_labels(check, outcome=outcome))] == 1.0
    assert durations(first, "volume") == 2 * passes and durations(first, "freshness") == passes
    assert statements(first) >= 1
    assert first[("demon_dataset_rows", labels(dataset="orders"))] == ROWS
    assert first[("demon_dataset_last_modified_timestamp_seconds", labels(dataset="orders"))] == (
        LOADED_AT.timestamp()
    )
    assert first[("demon_check_value", check_labels("orders.volume"))] == ROWS
    assert first[("demon_check_threshold", check_labels("orders.volume.big", bound="min"))] == 1000.0

    second = scraped_when(daemon, lambda s: runs(s, "orders.volume", "pass") >= passes + 2, "two more runs")
    assert runs(second, "orders.volume.big", "fail") >= runs(first, "orders.volume.big", "fail") + 2
    assert durations(second, "volume") >= durations(first, "volume") + 4
    assert statements(second) > statements(first)

    config.write_text(config.read_text().replace("{name: big, min: 1000}", "{name: big, min: 50}"))
    before = scrape(daemon)
    daemon.signal(signal.SIGHUP)
    seen = [statements(before)]

    def passing_again() -> Samples | None:
        samples = scrape(daemon)
        seen.append(statements(samples))
        return samples if runs(samples, "orders.volume.big", "pass") >= 3 else None

    after: Samples = wait_for(passing_again, interval=0.1, what="the reloaded threshold to pass 3 times")
    assert log_saying(daemon, "config reloaded")
    assert seen == sorted(seen), f"demon_source_requests_total went down across the reload: {seen}"
    assert seen[-1] > seen[0]
    assert runs(after, "orders.volume.big", "fail") >= runs(before, "orders.volume.big", "fail")
    assert after[("demon_check_threshold", check_labels("orders.volume.big", bound="min"))] == 50.0
    assert after[("demon_check_outcome", check_labels("orders.volume.big", outcome="pass"))] == 1.0
    assert durations(after, "volume") > durations(before, "volume")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0


def test_the_last_success_survives_a_restart_for_a_check_that_now_fails(tmp_path: Path, spawn: Spawn) -> None:
    config = config_with(tmp_path, "- volume: {min: 1}")
    first = spawn(config)
    scraped_when(first, lambda s: runs(s, "orders.volume", "pass") >= 1, "a pass")
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    passed = [found for found in stored(tmp_path, "orders.volume") if found.outcome is Outcome.PASS]
    assert passed

    config.write_text(config.read_text().replace("{min: 1}", "{min: 1000}"))
    second = spawn(config)
    failing = scraped_when(second, lambda s: runs(s, "orders.volume", "fail") >= 1, "a failing run")
    ids = check_labels("orders.volume")
    assert failing[("demon_check_outcome", check_labels("orders.volume", outcome="fail"))] == 1.0
    assert failing[("demon_check_last_success_timestamp_seconds", ids)] == pytest.approx(
        passed[-1].started_at.timestamp(), abs=1e-6
    )
    assert failing[("demon_check_last_run_timestamp_seconds", ids)] > passed[-1].started_at.timestamp()
    assert runs(failing, "orders.volume", "pass") == 0  # counts are the running daemon's own


def test_a_check_that_never_passed_has_no_last_success(tmp_path: Path, spawn: Spawn) -> None:
    daemon = spawn(config_with(tmp_path, "- volume: {min: 1000}"))
    failing = scraped_when(daemon, lambda s: runs(s, "orders.volume", "fail") >= 2, "two failing runs")
    assert ("demon_check_last_run_timestamp_seconds", check_labels("orders.volume")) in failing
    assert ("demon_check_last_success_timestamp_seconds", check_labels("orders.volume")) not in failing


# --- gzip ---------------------------------------------------------------------------------------------


def fetch(url: str, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None,
          timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
        return reply.status, dict(reply.headers.items()), reply.read()


def test_metrics_are_gzipped_only_for_scrapers_that_accept_it(tmp_path: Path, spawn: Spawn) -> None:
    daemon = spawn(config_with(tmp_path, "- volume: {min: 1}"))
    wait_for(lambda: daemon.get("/readyz").status == 200, what="the first round")
    url = f"{daemon.base_url}/metrics"
    status, plain_headers, plain = fetch(url)
    assert status == 200
    assert plain_headers["Content-Type"] == CONTENT_TYPE
    assert plain_headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "Content-Encoding" not in plain_headers
    assert int(plain_headers["Content-Length"]) == len(plain)

    status, headers, body = fetch(url, {"Accept-Encoding": "deflate, gzip;q=1.0, *;q=0.5"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"] == CONTENT_TYPE
    assert int(headers["Content-Length"]) == len(body)
    unzipped = gzip.decompress(body)
    assert parse(unzipped.decode()).keys() == parse(plain.decode()).keys()
    assert b"demon_check_runs_total" in unzipped

    _, identity_headers, identity = fetch(url, {"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity_headers and identity.startswith(b"# HELP")


# --- TLS ----------------------------------------------------------------------------------------------


def certificate(directory: Path, name: str = "cert", key: str = "key") -> Path:
    """A self-signed certificate for 127.0.0.1 (directory/name.pem) and its key (directory/key.pem)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
         "-keyout", str(directory / f"{key}.pem"), "-out", str(directory / f"{name}.pem")],
        check=True, capture_output=True, timeout=60,
    )
    return directory / f"{name}.pem"


def https_get(daemon: Daemon, path: str, context: ssl.SSLContext, timeout: float = 30.0) -> tuple[int, bytes]:
    status, _, body = fetch(f"https://127.0.0.1:{daemon.port}{path}", context=context, timeout=timeout)
    return status, body


def serving_https(daemon: Daemon, context: ssl.SSLContext) -> bool:
    if not daemon.alive():
        raise AssertionError(f"demon run exited with {daemon.process.returncode}:\n{daemon.text()}")
    try:
        return https_get(daemon, "/healthz", context, timeout=10)[0] == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def plain_http(port: int) -> bytes:
    """What a plain-http GET /metrics to the port gets back (b"" when the server just hangs up)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


def still_waiting(sock: socket.socket) -> bool:
    """Whether the server still holds this connection open, having sent nothing on it."""
    sock.setblocking(False)
    try:
        sock.recv(1)  # b"": the server hung up (nor should it have answered anything)
        return False
    except BlockingIOError:
        return True  # nothing to read, not closed
    except OSError:  # reset
        return False
    finally:
        sock.setblocking(True)


def test_tls_serves_https_only_and_idle_clients_block_nobody(tmp_path: Path, spawn: Spawn) -> None:
    cert = certificate(tmp_path)
    daemon = spawn(config_with(tmp_path, "- volume: {min: 1}", tls=True), wait_healthy=False)
    trusting = ssl.create_default_context(cafile=str(cert))
    wait_for(lambda: serving_https(daemon, trusting), what="/healthz over https")
    status, health = https_get(daemon, "/healthz", trusting)
    assert status == 200 and json.loads(health)["status"] == "ok"
    samples = wait_for(
        lambda: (s := parse(https_get(daemon, "/metrics", trusting)[1].decode()))
        and runs(s, "orders.volume", "pass") >= 1 and s,
        what="a run in the https scrape",
    )
    assert samples[("demon_dataset_rows", labels(dataset="orders"))] == ROWS
    assert log_saying(daemon, "on https://127.0.0.1:")  # the port came from the environment: masked

    with pytest.raises(urllib.error.URLError) as untrusted:  # it really is TLS, with that certificate
        fetch(f"https://127.0.0.1:{daemon.port}/metrics", context=ssl.create_default_context())
    assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)
    answer = plain_http(daemon.port)
    assert b"demon_" not in answer and not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert https_get(daemon, "/metrics", trusting)[0] == 200  # still serving

    with ExitStack() as idle:
        stalled = [idle.enter_context(socket.create_connection(("127.0.0.1", daemon.port), timeout=30))
                   for _ in range(4)]  # connect, send nothing: each holds a handshake open
        stalled[-1].sendall(b"\x16\x03\x01\x02\x00")  # the start of a ClientHello, never finished
        status, body = https_get(daemon, "/metrics", trusting, timeout=60)
        assert status == 200 and b"demon_build_info" in body
        assert https_get(daemon, "/healthz", trusting, timeout=60)[0] == 200
        # The server gives a stalled handshake 30 s, then hangs up. Still connected: the scrapes were served
        # while the handshakes stalled, not queued behind them.
        assert all(still_waiting(sock) for sock in stalled)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert "Traceback" not in daemon.text()


@pytest.mark.parametrize(
    ("tls", "named"),
    [
        ("{cert_file: cert.pem, key_file: missing.pem}", "missing.pem"),
        ("{cert_file: nowhere/cert.pem, key_file: key.pem}", "nowhere/cert.pem"),
        ("{cert_file: garbage.pem, key_file: key.pem}", "garbage.pem"),
        ("{cert_file: other.pem, key_file: key.pem}", "other.pem"),
    ],
    ids=["missing-key", "missing-cert", "cert-not-pem", "key-of-another-cert"],
)
def test_a_bad_tls_file_exits_2_before_touching_the_state_store(
    tmp_path: Path, spawn: Spawn, tls: str, named: str
) -> None:
    certificate(tmp_path)
    certificate(tmp_path, "other", "other-key")
    (tmp_path / "garbage.pem").write_text("this is not a certificate\n")
    config = config_with(tmp_path, "- volume: {min: 1}", tls=True)
    config.write_text(config.read_text().replace(TLS_LINE, f"  tls: {tls}\n"))
    refused = spawn(config, wait_healthy=False)
    assert refused.wait() == 2
    errors = [line["message"] for line in refused.logs() if line.get("level") == "error"]
    assert len(errors) == 1, refused.text()
    assert errors[0].startswith("cannot start: metrics.tls")
    assert str(tmp_path.resolve() / named) in errors[0]
    assert "Traceback" not in refused.text()
    assert not (tmp_path / "state.db").exists()


def test_validate_loads_the_tls_files_as_demon_run_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`demon validate` finds a missing key, a certificate that is not PEM or an encrypted key (which would
    otherwise make OpenSSL ask for its passphrase on the terminal) before a deploy does."""
    certificate(tmp_path)
    (tmp_path / "garbage.pem").write_text("this is not a certificate\n")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-subj", "/CN=127.0.0.1", "-days", "1",
         "-passout", "pass:s3cret", "-keyout", str(tmp_path / "locked.pem"),
         "-out", str(tmp_path / "lc.pem")],
        check=True, capture_output=True, timeout=60,
    )
    config = config_with(tmp_path, "- volume: {min: 1}", tls=True)
    monkeypatch.setenv("DEMON_TEST_PORT", "9108")
    assert CliRunner().invoke(main, ["validate", "-c", str(config)]).exit_code == 0
    for tls, named in (("{cert_file: cert.pem, key_file: missing.pem}", "metrics.tls.key_file: no such file"),
                       ("{cert_file: garbage.pem, key_file: key.pem}", "metrics.tls: cannot load"),
                       ("{cert_file: lc.pem, key_file: locked.pem}", "locked.pem is encrypted")):
        config.write_text(config.read_text().replace(TLS_LINE, f"  tls: {tls}\n"))
        outcome = CliRunner().invoke(main, ["validate", "-c", str(config)])
        assert outcome.exit_code == 2, outcome.output
        assert named in outcome.output and "Traceback" not in outcome.output
        config.write_text(config.read_text().replace(f"  tls: {tls}\n", TLS_LINE))


# --- demon dashboards export --------------------------------------------------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def export(directory: str) -> Any:
    return CliRunner().invoke(main, ["dashboards", "export", directory])


def provider_path(directory: Path) -> str:
    document = yaml.safe_load((directory / "provisioning/dashboards/demon.yml").read_text(encoding="utf-8"))
    [provider] = document["providers"]
    return str(provider["options"]["path"])


def test_export_writes_every_bundled_file(in_tmp: Path) -> None:
    done = export("out")  # relative: the provider's path must come out absolute all the same
    assert done.exit_code == 0, done.output
    out = in_tmp / "out"
    written = {str(path.relative_to(out)) for path in out.rglob("*") if path.is_file()}
    files = bundled()
    assert written == set(files)
    assert {
        "grafana/demon-overview.json", "grafana/demon-dataset.json", "grafana/demon-operations.json",
        "provisioning/datasources/demon.yml", "provisioning/dashboards/demon.yml",
        "prometheus/demon-rules.yml", "prometheus/demon-rules.test.yml", "prometheus/prometheus.yml",
    } <= written
    assert sorted(done.stdout.split()) == sorted(str(Path("out") / name) for name in files)
    for name in written:
        text = (out / name).read_text(encoding="utf-8")
        if name.endswith(".json"):
            assert json.loads(text)["uid"]
        else:
            assert yaml.safe_load(text)
        if name != "provisioning/dashboards/demon.yml":
            assert text == files[name]
    assert provider_path(out) == str(out.resolve() / "grafana")
    assert Path(provider_path(out)).is_absolute() and Path(provider_path(out)).is_dir()


def test_a_second_export_overwrites_the_first(in_tmp: Path) -> None:
    out = in_tmp / "out"
    assert export(str(out)).exit_code == 0
    (out / "grafana/demon-overview.json").write_text("{broken")
    (out / "prometheus/demon-rules.yml").unlink()
    (out / "grafana/mine.json").write_text("{}")
    done = export(str(out))
    assert done.exit_code == 0, done.output
    files = bundled()
    for name in ("grafana/demon-overview.json", "prometheus/demon-rules.yml"):
        assert (out / name).read_text(encoding="utf-8") == files[name]
    assert (out / "grafana/mine.json").read_text() == "{}"  # files of other names are left alone
    assert provider_path(out) == str(out.resolve() / "grafana")


@pytest.mark.parametrize("target", ["afile", "afile/below"], ids=["a-file", "under-a-file"])
def test_export_to_a_file_exits_2_with_a_message(in_tmp: Path, target: str) -> None:
    (in_tmp / "afile").write_text("not a directory")
    done = export(target)
    assert done.exit_code == 2
    assert target in done.stderr and ("file" in done.stderr or "directory" in done.stderr.lower())
    assert "Traceback" not in done.output
    assert (in_tmp / "afile").read_text() == "not a directory"
