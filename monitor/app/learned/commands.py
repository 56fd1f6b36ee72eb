"""The `backtest` and `feedback` commands behind their click definitions (monitor/app/cli.py): what they read,
print and exit with."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import click

from checks.baselines.learn import number
from monitor.app.cli import EXIT_ERROR, EXIT_USAGE, fail, open_store
from monitor.app.learned.backtest import Replayed, backtest
from monitor.app.learned.feedback import (
    FeedbackError,
    described,
    learner,
    one_part,
    parse_time,
    parse_window,
    teach,
)
from monitor.core import humanize
from monitor.core.config.models import Config
from monitor.core.series import FeedbackAction
from monitor.state.baselines import Baselines
from monitor.state.store import StateStoreError


def run_backtest(config: Config, check_id: str, days: timedelta, fmt: str, plot: Path | None) -> None:
    try:
        found = learner(config, check_id)
    except FeedbackError as exc:
        fail(EXIT_USAGE, str(exc))
    with open_store(config) as store:
        baselines = Baselines(store)
        since = baselines.now() - days
        try:
            one_part(found, baselines)
            history = found.history(baselines, since - found.learning.horizon)
        except FeedbackError as exc:
            fail(EXIT_USAGE, str(exc))
        except StateStoreError as exc:
            fail(EXIT_ERROR, str(exc))
    points = backtest(found.learning, history, since)
    if plot is not None:
        from monitor.app.learned.plot import svg

        try:
            plot.write_text(svg(check_id, points), encoding="utf-8")
        except OSError as exc:
            fail(EXIT_ERROR, f"cannot write the plot to {plot}: {exc.strerror or exc}")
    if fmt == "json":
        shown = {"check": check_id, "points": [point.to_dict() for point in points]}
        click.echo(json.dumps(shown, indent=2))
    else:
        _table(check_id, points, days)
    if plot is not None:
        click.echo(f"plot written to {plot}", err=True)


def _table(check_id: str, points: list[Replayed], days: timedelta) -> None:
    """A summary line, then the points that warned or failed (the JSON has every point)."""
    counts = {outcome: sum(p.verdict.outcome == outcome for p in points)
              for outcome in ("pass", "warn", "fail", "learning")}
    click.echo(f"{check_id}: {humanize.count(len(points), 'points')} in the last {days.days}d: "
               + ", ".join(f"{count} {outcome}" for outcome, count in counts.items()))
    if not points:
        click.echo("no points in this window: the check has not run in it since it learns (or since a reset);"
                   " a check with `by:` has its buckets at its first run, others gain a point a run")
    for point in points:
        band = point.verdict.band
        if point.verdict.outcome in ("warn", "fail") and band is not None:
            shown = f"{point.at:%Y-%m-%d %H:%MZ}  {point.verdict.outcome:4}  {number(point.value)}"
            click.echo(f"{shown}  expected {number(band.low)}-{number(band.high)}"
                       f" (median {number(band.expected)} of {band.trained_label})")


@dataclass(frozen=True)
class FeedbackRequest:
    """What `demon feedback` was asked, as typed on the command line."""

    check: str | None
    action: str  # expected, anomaly, exclude, reset, list or undo
    window: str | None
    at: str | None
    reason: str
    undo: int | None = None


def run_feedback(config: Config, config_path: Path, request: FeedbackRequest) -> None:
    with open_store(config) as store:
        baselines = Baselines(store)
        try:
            _feedback(config, config_path, baselines, request)
        except FeedbackError as exc:
            fail(EXIT_USAGE, str(exc))
        except StateStoreError as exc:
            fail(EXIT_ERROR, str(exc))


def _feedback(config: Config, config_path: Path, baselines: Baselines, request: FeedbackRequest) -> None:
    if request.undo is not None:
        undone = baselines.undo(request.undo)
        if undone is None:
            raise FeedbackError(f"no feedback {request.undo} (see demon feedback --list)")
        click.echo(f"undone: {described(undone)}")
        return
    if request.action == "list":
        checks = [learner(config, request.check).spec.id] if request.check else [s.id for s in config.checks]
        given = [item for items in baselines.feedback(checks).values() for item in items]
        for item in sorted(given, key=lambda item: item.id):
            click.echo(described(item))
        if not given:
            click.echo("no feedback given")
        return
    if request.check is None:
        raise FeedbackError("which check? demon feedback CHECK_ID ...")
    found = learner(config, request.check)
    at = parse_time(request.at) if request.at else None
    window = parse_window(request.window) if request.window else None
    item, replaced = teach(baselines, found, FeedbackAction(request.action), at, window, request.reason)
    for earlier in replaced:
        click.echo(f"replaces: {described(earlier)}")
    undo = f"demon feedback -c {shlex.quote(str(config_path))} --undo {item.id}"
    click.echo(f"{described(item)}; undo with: {undo}")
