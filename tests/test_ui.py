"""The web UI and `demon report`, server side: what the HTML holds and what it must never hold (hostile
strings as markup, pii values, secrets, anything loaded from a network), the daemon's auth and headers,
and `demon validate` refusing a UI open to the network without credentials."""

from __future__ import annotations

import base64
import html as html_text
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from monitor.app.cli import main
from monitor.app.ui.server import Credentials
from tests import ui_support
from tests.daemon_support import start_daemon, wait_for

# Anything a browser would fetch: a src/href/action to another host, a CSS url() or @import.
RESOURCE = re.compile(
    r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""",
    re.IGNORECASE,
)


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    config = ui_support.build(tmp_path, listen="127.0.0.1:9108")
    ui_support.seed(config)
    return config


def report(config: Path, *args: str) -> str:
    out = config.parent / "report.html"
    result = cli("report", "-c", str(config), "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def assert_safe(html: str) -> None:
    """Hostile strings only ever as text; no pii value; nothing clickable runs script."""
    for hostile in ui_support.HOSTILE:
        assert hostile not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert ui_support.SECRET_EMAIL not in html
    assert 'href="javascript:' not in html.lower()
    assert ui_support.EMOJI in html and "\u05e9\u05dc\u05d5\u05dd" in html


def test_the_report_is_one_self_contained_safe_file(seeded: Path) -> None:
    html = report(seeded)
    assert_safe(html)
    assert not RESOURCE.search(html), RESOURCE.search(html)
    assert "<script src" not in html and '<link rel="stylesheet"' not in html
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy is not None
    csp = html_text.unescape(policy.group(1))
    assert "unsafe-inline" not in csp and "script-src 'sha256-" in csp and "default-src 'none'" in csp
    # Every page is in it: overview, incidents, lineage and each dataset, with its charts' data.
    for section in ('id="overview"', 'id="incidents"', 'id="lineage"', 'id="ds-orders"', 'id="ds-customers"'):
        assert section in html
    assert html.count('class="chart-data"') >= 7
    assert "expected_min" in html and "looking" in html


def test_the_report_ships_no_secret_and_no_credentials(tmp_path: Path) -> None:
    config = ui_support.build(tmp_path, listen="127.0.0.1:9108", auth=ui_support.TOKEN)
    ui_support.seed(config)
    html = report(config)
    assert ui_support.TOKEN not in html
    assert "warehouse.duckdb" not in html  # the source's URL stays in the config


def chart_points(html: str) -> int:
    blocks = re.findall(r'<script type="application/json" class="chart-data">(.*?)</script>', html)
    return sum(len(json.loads(block)["o"]) for block in blocks)


def test_days_bound_the_report(seeded: Path) -> None:
    week = report(seeded, "--days", "7")
    day = report(seeded, "--days", "1")
    assert chart_points(day) * 2 < chart_points(week) and len(day) < len(week)
    assert "value over 1 days" in day


def test_report_exit_codes(tmp_path: Path, seeded: Path) -> None:
    assert cli("report", "-c", str(tmp_path / "missing.yml")).exit_code == 2
    target = tmp_path / "no-such-folder" / "report.html"
    result = cli("report", "-c", str(seeded), "-o", str(target))
    assert result.exit_code == 3 and "cannot write" in result.output


def test_validate_refuses_the_ui_off_loopback_without_auth(tmp_path: Path) -> None:
    config = ui_support.build(tmp_path, listen="0.0.0.0:9108")
    result = cli("validate", "-c", str(config))
    assert result.exit_code == 2
    line = next(number for number, text in enumerate(config.read_text().splitlines(), 1) if text == "ui:")
    assert f"{config}:{line}: ui.auth: required" in result.output
    assert "off loopback" in result.output


@pytest.mark.parametrize(("listen", "auth", "enabled"), [
    ("127.0.0.1:9108", None, True), ("localhost:9108", None, True), ("0.0.0.0:9108", "user:pw-123", True),
    ("0.0.0.0:9108", None, False),  # a config that listens off loopback for Prometheus keeps validating
])
def test_validate_accepts_loopback_auth_or_no_ui(tmp_path: Path, listen: str, auth: str | None,
                                                 enabled: bool) -> None:
    config = ui_support.build(tmp_path, listen=listen, auth=auth, enabled=enabled)
    result = cli("validate", "-c", str(config))
    assert result.exit_code == 0, result.output


def test_credentials_take_a_bearer_token_or_basic_auth() -> None:
    token, basic = Credentials("tok-123"), Credentials("ann:pw:with:colons")
    assert token.accepts("Bearer tok-123") and not token.accepts("Bearer tok-1234")
    assert not token.accepts("Basic " + base64.b64encode(b"tok-123").decode()) and not token.accepts("")
    assert basic.accepts("Basic " + base64.b64encode(b"ann:pw:with:colons").decode())
    assert not basic.accepts("Basic " + base64.b64encode(b"ann:pw").decode())
    assert not basic.accepts("Basic !!!") and not basic.accepts("Bearer ann:pw:with:colons")


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_demon_run_serves_the_ui_behind_auth_with_a_strict_policy(tmp_path: Path) -> None:
    config = ui_support.build(tmp_path, auth=ui_support.TOKEN)
    ui_support.seed(config)
    daemon = start_daemon(config)
    try:
        base = daemon.base_url
        wait_for(lambda: daemon.get("/readyz").status == 200, what="the first run of every dataset")
        status, headers, _ = fetch(base + "/")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert fetch(base + "/", {"Authorization": "Bearer wrong"})[0] == 401
        assert fetch(base + "/metrics")[0] == 200 and fetch(base + "/healthz")[0] == 200  # as before
        auth = {"Authorization": f"Bearer {ui_support.TOKEN}"}
        for path in ("/", "/incidents", "/lineage", "/datasets/orders", "/datasets/customers"):
            status, headers, html = fetch(base + path, auth)
            assert status == 200, path
            policy = headers["Content-Security-Policy"]
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy
            assert "default-src 'none'" in policy and headers["X-Content-Type-Options"] == "nosniff"
            assert ui_support.SECRET_EMAIL not in html and ui_support.TOKEN not in html
            for hostile in ui_support.HOSTILE:
                assert hostile not in html
        assert fetch(base + "/datasets/nope", auth)[0] == 404
        assert fetch(base + "/static/uplot.min.js", auth)[0] == 200
        assert fetch(base + "/static/../demon.yml", auth)[0] == 404
        orders = fetch(base + "/datasets/orders", auth)[2]
        assert "&lt;img src=x onerror=" in orders and "failing rows" in orders
    finally:
        daemon.kill()


def test_the_ui_is_off_unless_enabled(tmp_path: Path) -> None:
    config = ui_support.build(tmp_path, enabled=False)
    daemon = start_daemon(config)
    try:
        assert daemon.get("/").status == 404 and daemon.get("/metrics").status == 200
    finally:
        daemon.kill()
