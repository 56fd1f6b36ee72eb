"""The PromQL of the bundled Grafana dashboards and Prometheus rules, for the tests that check it: statically
(tests/test_dashboards.py) and against a live Prometheus scraping demon."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

BUNDLE = Path(__file__).resolve().parents[1] / "dashboards"
GRAFANA = BUNDLE / "grafana"
PROMETHEUS = BUNDLE / "prometheus"
RULES = PROMETHEUS / "demon-rules.yml"
RULE_TESTS = PROMETHEUS / "demon-rules.test.yml"
ALERTS = {  # every alert of the bundled rules
    "DemonCheckFailing",
    "DemonDatasetStale",
    "DemonDown",
    "DemonMissedRuns",
    "DemonSourceDown",
    "DemonNotificationsFailing",
    "DemonOutboxBacklog",
}

_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)")  # not label_replace's "$1"


def dashboards() -> dict[str, dict[str, Any]]:
    """Every bundled dashboard by file stem (demon-overview, ...), as parsed JSON."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(GRAFANA.glob("*.json"))
    }


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, rows included, and the panels a collapsed row holds."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables such as $dataset left in) of every target of every
    dashboard."""
    return [
        (panel["title"], target["expr"])
        for dashboard in dashboards().values()
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def rules() -> list[dict[str, Any]]:
    """Every rule of demon-rules.yml, as parsed YAML."""
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def rule_expressions() -> list[tuple[str, str]]:
    """(alert or record name, PromQL) of every rule."""
    return [(rule.get("alert") or rule["record"], rule["expr"]) for rule in rules()]


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """expr with Grafana's `$name` and `${name}` replaced from values; a variable missing from values is a
    KeyError, so no expression reaches Prometheus with a `$` left in."""
    return _VARIABLE.sub(lambda match: values[match.group(1) or match.group(2)], expr)
