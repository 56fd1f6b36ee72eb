"""What `demon demo` prints after its results: the defects it injected, what alerting made of them, and
what to try next."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from monitor.app.demo import DEFECTS, LISTEN

if TYPE_CHECKING:
    from alerting.runtime import Notified


def guide(config: Path, notified: Notified | None, notifications: list[str], serving: str | None) -> str:
    """The text after the demo's results; `serving` is the listen address when `--serve` follows."""
    parts = [
        "\nThe demo injected these defects into today's load:\n" + "\n".join(f"  - {d}" for d in DEFECTS),
        _alerting(config, notified, notifications),
        _next_steps(config) if serving is None else _serving(serving),
    ]
    return "\n\n".join(part for part in parts if part)


def _alerting(config: Path, notified: Notified | None, notifications: list[str]) -> str:
    if notified is None or not notifications:
        return ""
    first = "\n".join(f"  | {line}" for line in notifications[0].splitlines())
    return (
        f"Alerting: {notified.summary()}, to the console channel\n"
        "(demon.yml names no channel; Slack, SNS and webhooks go under `alerting:`). The first, as on-call\n"
        f"reads it:\n{first}\n"
        f"All of them, with acks and silences: demon incidents -c {config}"
    )


def _next_steps(config: Path) -> str:
    steps = [
        (f"demon check -c {config} --failures-only", "run the checks again; list only what broke"),
        (f"demon history orders.volume -c {config}", "one check's results, run by run"),
        (f"demon incidents -c {config}", "open incidents and what was sent"),
        ("demon demo --serve", "the daemon on the demo: /metrics, every dataset every minute"),
    ]
    width = max(len(command) for command, _ in steps)
    return "Next:\n" + "\n".join(f"  {command.ljust(width)}  {what}" for command, what in steps)


def _serving(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    return (
        f"Open http://{host or '0.0.0.0'}:{port}/ in a browser: the web UI (`demon report`: one file).\n"
        f"Serving http://{host or '0.0.0.0'}:{port}/metrics: every dataset runs every minute, so every\n"
        "dashboard panel has data within two minutes. Ctrl-C stops. In another terminal:\n"
        "  demon dashboards export monitoring        # Grafana dashboards, provisioning, Prometheus rules\n"
        "  prometheus --config.file=monitoring/prometheus/prometheus.yml\n"
        f"The scrape config there targets {LISTEN}{'' if listen == LISTEN else f'; change it to {listen}'}."
    )
