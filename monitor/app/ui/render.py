"""Renders the UI's pages with Jinja2 (autoescaping every value: names, messages and sample rows are data,
possibly hostile), for the daemon (one page per URL, assets served beside) and for the one-file report
(every page in one document, assets inlined under a Content-Security-Policy of their hashes).

Data for the charts goes in `<script type="application/json">` blocks through Jinja's `tojson` (which
escapes `<`, `>`, `&` and `'`), never into script text.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from alerting.render.text import observed_line, sparkline
from alerting.render.units import observed, threshold
from monitor.app.ui.lineage import layout
from monitor.app.ui.model import OUTCOMES, DatasetView, Snapshot
from monitor.core.humanize import duration

SYMBOLS = {"pass": "✓", "warn": "!", "fail": "✕", "error": "?", "none": "·"}  # shape beside colour
STATIC = {  # what the daemon serves under /static/, and its content type
    "ui.css": "text/css; charset=utf-8",
    "ui.js": "text/javascript; charset=utf-8",
    "uplot.min.css": "text/css; charset=utf-8",
    "uplot.min.js": "text/javascript; charset=utf-8",
}
DASH = "\u2013"  # what an unknown number shows
# The daemon's policy: nothing inline, nothing from elsewhere, no framing, no forms, no fetches.
SERVER_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass(frozen=True)
class Links:
    """Where a link goes: a path of the daemon, or a fragment of the one-file report."""

    report: bool

    def overview(self) -> str:
        return "#overview" if self.report else "/"

    def incidents(self) -> str:
        return "#incidents" if self.report else "/incidents"

    def lineage(self) -> str:
        return "#lineage" if self.report else "/lineage"

    def dataset(self, name: str) -> str:
        quoted = quote(name, safe="")
        return f"#ds-{quoted}" if self.report else f"/datasets/{quoted}"

    def check(self, dataset: str, check_id: str) -> str:
        """A check on its dataset's page (the report can point at the page only)."""
        return self.dataset(dataset) if self.report else f"{self.dataset(dataset)}#check-{quote(check_id)}"


@dataclass(frozen=True)
class Inline:
    """The report's assets, inlined, and the policy that allows exactly them."""

    css: Markup
    scripts: tuple[Markup, ...]
    csp: str


def static_file(name: str) -> bytes:
    return files("monitor.app.ui").joinpath("static", name).read_bytes()


@cache
def inline_assets() -> Inline:
    css = Markup(static_file("uplot.min.css").decode() + "\n" + static_file("ui.css").decode())
    scripts = tuple(Markup(static_file(name).decode()) for name in ("uplot.min.js", "ui.js"))
    hashes = " ".join(f"'sha256-{_digest(text)}'" for text in scripts)
    csp = (f"default-src 'none'; script-src {hashes}; style-src 'sha256-{_digest(css)}'; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    return Inline(css, scripts, csp)


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def render_page(snapshot: Snapshot, page: str, dataset: DatasetView | None = None) -> str:
    """One page of the daemon's UI."""
    title = dataset.name if dataset is not None else page.capitalize()
    return _environment().get_template("page.html.j2").render(
        snapshot=snapshot, page=page, dataset=dataset, title=title, links=Links(report=False), inline=None,
        graph=layout(snapshot.datasets) if page == "lineage" else None,
    )


def render_report(snapshot: Snapshot) -> str:
    """Every page in one self-contained document."""
    return _environment().get_template("report.html.j2").render(
        snapshot=snapshot, page="report", dataset=None, title="Report", links=Links(report=True),
        inline=inline_assets(), graph=layout(snapshot.datasets),
    )


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("monitor.app.ui", "templates"),
        autoescape=True,  # every template is HTML
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.policies["json.dumps_kwargs"] = {"separators": (",", ":"), "allow_nan": False}
    environment.filters.update(when=when, ago=ago, num=shown_number, age=age, web_url=web_url,
                               observed=observed_line, spark=trend_line, bound=shown_bound)
    environment.globals.update(SYMBOLS=SYMBOLS, OUTCOMES=OUTCOMES, plain=plain)
    return environment


def trend_line(context: dict[str, Any]) -> str:
    """A notification's trend as the notification draws it: bars, oldest to newest."""
    return sparkline(context.get("trend") or [])


def when(moment: datetime | str | None) -> str:
    """A UTC time as people read it: `2026-11-23 10:00 UTC`."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return str(moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(moment: datetime | str | None, now: datetime) -> str:
    """How long before `now` (the snapshot's time): `3h 12m ago`."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    seconds = (now - moment).total_seconds()
    return "just now" if seconds < 1 else f"{duration(seconds)} ago"


def shown_number(value: float | None, unit: str | None = None) -> str:
    """A check's value as notifications show it (`3h`, `1,070 rows`); a dash when there is none."""
    return DASH if value is None else observed(value, unit)


def shown_bound(value: float, name: str, unit: str | None = None) -> str:
    """A threshold as its name means it (`max_drop 50%`, `fail_after 1d`), as notifications show it."""
    return threshold(name, value, unit)


def age(seconds: float | None) -> str:
    return DASH if seconds is None else duration(seconds)


def web_url(text: str | None) -> str | None:
    """`text` if it is an http(s) URL (a runbook, a dashboard), else None: a `javascript:` or `data:` link
    from a config or a context must never become clickable."""
    if not text:
        return None
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return None
    return text.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def plain(value: Any) -> str:
    """A context value as one line of text (lists and mappings as compact JSON)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
