"""The `demon` command. Only click is imported at start-up; each command imports what it needs."""

from __future__ import annotations

import atexit
import gc
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

import click

from monitor.core.clock import utcnow
from monitor.core.distribution import DISTRIBUTION

if TYPE_CHECKING:
    from collections.abc import Callable

    from alerting.runtime import Notified
    from monitor.app.report import Report
    from monitor.app.runner import Runner
    from monitor.core.config.models import CheckSpec, Config
    from monitor.core.results import Result
    from monitor.state.store import StateStore

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEMO_GRACE = 5.0  # seconds `demon demo --serve` waits for running checks on Ctrl-C
CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_path",
    default="demon.yml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The demon config file.",
)
FORMAT_CHOICE = click.Choice(["table", "json", "junit"])
FAILURES_ONLY = click.option(
    "--failures-only", is_flag=True, help="List only checks that did not pass (the summary counts all)."
)


def fail(code: int, message: str) -> NoReturn:
    click.echo(f"demon: {message}", err=True)
    sys.exit(code)


def fail_usage(message: str) -> NoReturn:
    fail(EXIT_USAGE, message)


def pause_collection() -> None:
    """No garbage collection while `demon check` starts (until `collect_from_here`, else the command's end):
    its imports, config and store make tens of thousands of objects that live until exit, which the collector
    would go over again and again as they are made (~50 ms)."""
    gc.disable()
    click.get_current_context().call_on_close(_collect_again)


def collect_from_here() -> None:
    """The checks start: what start-up made is frozen out of the collector's passes, which resume for what the
    run makes (thousands of datasets leave cyclic garbage behind). Nothing to do unless paused."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _collect_again() -> None:
    """The command is over: a process that goes on (a test's) collects as before."""
    gc.unfreeze()
    gc.enable()


def load(config_path: Path) -> Config:
    """Load and validate the config, or print every problem with its line and exit 2."""
    from monitor.app.config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)


def load_watched(config_path: Path) -> tuple[Config, list[str]]:
    """The config with what its `discover:` entries find (warnings printed here), and the entries that could
    not be read: the datasets found elsewhere still run, and the command ends with exit 3."""
    from monitor.app.watch import watched

    found = watched(load(config_path))
    for warning in found.warnings:
        click.echo(f"demon: warning: {warning}", err=True)
    return found.config, list(found.failures)


def exit_code(results: Sequence[Result], warn_is_failure: bool = False) -> int:
    """The spec's exit codes: 1 on any fail (or warn with --warn-is-failure), else 3 on any error."""
    outcomes = {result.outcome.value for result in results}
    if "fail" in outcomes or (warn_is_failure and "warn" in outcomes):
        return EXIT_FAIL
    return EXIT_ERROR if "error" in outcomes else EXIT_OK


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name=DISTRIBUTION, prog_name="demon")
def main() -> None:
    """demon watches your data: freshness, volume, schema, quality and custom metrics of warehouse
    tables and S3 datasets, so you hear about bad data before your stakeholders do."""
    # Pydantic looks for plugins among every installed distribution's entry points (~10 ms) when it first
    # builds a model; demon's config models want none. The documented switch; a value already set wins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # What is alive at exit (some 70,000 objects of SQLAlchemy, pydantic and the rest, made at start-up) goes
    # back to the operating system with the process: frozen, the interpreter's last collections skip it
    # instead of going over it a few times (~0.1 s of a `demon check`). Registered once per process.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


@main.command()
@CONFIG_OPTION
@click.option(
    "--select",
    "-s",
    "selects",
    multiple=True,
    metavar="GLOB",
    help="Run checks whose id (or dataset) matches GLOB; repeatable.",
)
@click.option("--tag", "-t", "tags", multiple=True, help="Run checks of datasets with this tag; repeatable.")
@click.option("--format", "-f", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
@click.option("--warn-is-failure", is_flag=True, help="Exit 1 on warnings too.")
@FAILURES_ONLY
@click.option("--push", is_flag=True, help="Send the results to metrics.pushgateway.")
@click.option("--notify", is_flag=True, help="Open and resolve incidents and send their notifications.")
def check(
    config_path: Path,
    selects: tuple[str, ...],
    tags: tuple[str, ...],
    fmt: str,
    warn_is_failure: bool,
    failures_only: bool,
    push: bool,
    notify: bool,
) -> None:
    """Run the selected checks once, print and store the results."""
    pause_collection()
    from monitor.app.report import Report
    from monitor.app.selection import select, unmatched

    config, discovery_problems = load_watched(config_path)
    if push and not config.metrics.pushgateway:
        fail_usage(f"--push: {config_path} sets no metrics.pushgateway URL")
    chosen = select(config, selects, tags)
    nothing = unmatched(config, selects, tags)
    if not chosen:
        fail_usage("no check matches the selection" + "".join(f"\n  {problem}" for problem in nothing))
    for problem in nothing:
        click.echo(f"demon: warning: {problem}", err=True)
    checked = run_checks(config, chosen, fmt, notify=notify)
    results, problems = checked.results, checked.problems + discovery_problems
    write_report(Report(results, warn_is_failure, failures_only), fmt)
    if checked.notified is not None:
        click.echo(f"demon: --notify: {checked.notified.summary()}", err=True)
    if push and config.metrics.pushgateway:
        from monitor.app.metrics.push import push_results

        pushed = push_results(results, config, config.metrics.pushgateway)
        problems += [f"results not pushed: {problem}" for problem in pushed]
    code = exit_code(results, warn_is_failure)
    for problem in problems:
        click.echo(f"demon: {problem}", err=True)
    sys.exit(code if code == EXIT_FAIL or not problems else EXIT_ERROR)


@dataclass
class Checked:
    """A command's run of checks: the results, what went wrong around them (results not stored,
    notifications not delivered), and with --notify what alerting did."""

    results: list[Result]
    problems: list[str]
    notified: Notified | None = None


def run_checks(
    config: Config,
    checks: Sequence[CheckSpec],
    fmt: str,
    command: str = "check",
    clock: Callable[[], datetime] | None = None,
    notify: bool = False,
    console: TextIO | None = None,
) -> Checked:
    """Run checks and store their results (and with `notify`, their incidents and notifications, the
    console channel writing to `console`, stderr by default).

    A state store that cannot be opened or start a run ends the command (exit 3); one that fails
    later loses nothing already evaluated: the results are still printed, and the command exits 3.
    """
    from monitor.app.progress import progress_for
    from monitor.app.runner import Runner
    from monitor.core.redact import Redactor
    from monitor.core.results import summarize
    from monitor.state.store import PruneRefused, StateStore, StateStoreError

    redact = Redactor(config.secrets)
    clock = clock or utcnow
    try:
        store = StateStore.open(config.state.url, config.base_dir, clock)
        run_id = store.start_run(command)
    except StateStoreError as exc:
        fail(EXIT_ERROR, redact(str(exc)))
    runner = Runner(config, store, clock)
    collect_from_here()
    notified, problems = None, []
    try:
        with progress_for(checks, enabled=fmt == "table") as advance:
            results = runner.run(checks, run_id, on_job_done=advance)
        store.finish_run(run_id, summarize(results))
        try:
            store.prune(clock() - timedelta(seconds=config.state.retention), run_id)
        except PruneRefused as exc:
            click.echo(f"demon: warning: pruning skipped: {exc}", err=True)
        if notify:
            notified = notify_results(config, store, runner, results, console)
            problems = notified.undelivered
    except KeyboardInterrupt:
        fail(EXIT_INTERRUPTED, "interrupted: checks not started were cancelled")
    except StateStoreError as exc:
        runner.store_errors.append(redact(str(exc)))
        problems = ["incidents not recorded: the state store failed"] if notify else []
    finally:
        runner.close()
        store.close()
    not_stored = [f"results not stored: {problem}" for problem in runner.store_errors]
    return Checked(results, not_stored + problems, notified)


def notify_results(
    config: Config, store: StateStore, runner: Runner, results: list[Result], console: TextIO | None
) -> Notified:
    """`--notify`: the daemon's path (incidents, outbox, channels), delivered in the foreground."""
    from alerting.runtime import notify_once

    sources = dict.fromkeys(result.source for result in results)
    down = {source: reason for source in sources if (reason := runner.unreachable(source, results))}
    return notify_once(config, store, results, down, console=console)


def write_report(report: Report, fmt: str) -> None:
    from monitor.app.report import writer

    writer(fmt)(report, sys.stdout)


@main.command()
@CONFIG_OPTION
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="json: one object per line, for log shippers.",
)
@click.option(
    "--grace", "grace_text", default="25s", show_default=True, metavar="DURATION",
    help="How long SIGTERM/SIGINT wait for running checks before exiting.",
)
def run(config_path: Path, log_format: str, grace_text: str) -> None:
    """The monitor daemon: run every check on its schedule, serve /metrics, /healthz and /readyz.

    SIGHUP reloads the config (an invalid one is rejected and the old one keeps running); SIGTERM and
    SIGINT let running checks finish, then exit 0. Exits 3 when it cannot start (state store unreachable
    or used by another demon run, port taken).
    """
    from monitor.core.config.types import parse_duration

    try:
        grace = parse_duration(grace_text)
    except ValueError as exc:
        fail_usage(f"--grace: {exc}")
    config = load(config_path)
    from monitor.app.daemon.main import run_daemon

    sys.exit(run_daemon(config, config_path, log_format, grace))


@main.command()
@CONFIG_OPTION
@click.option("--connect", is_flag=True,
              help="Also open each source and find each dataset's table or files there.")
def validate(config_path: Path, connect: bool) -> None:
    """Validate the config, load its Pandera schemas and TLS files (with --connect, reach each source
    and find each dataset's table or files); change nothing."""
    config = load(config_path)
    unloadable = setup_problems(config) + tls_problems(config) + channel_problems(config)
    for problem in unloadable:
        click.echo(f"{config_path}: {problem}", err=True)
    if unloadable:
        sys.exit(EXIT_USAGE)
    found = f"; {len(config.discover)} discover entries: --connect runs them" if config.discover else ""
    click.echo(
        f"{config_path}: valid ({len(config.sources)} sources, {len(config.datasets)} datasets, "
        f"{len(config.checks)} checks{found})"
    )
    if connect:
        from monitor.app.connectivity import check_discovery, check_sources

        problems = check_sources(config, lambda line: click.echo(line))
        problems += check_discovery(config, lambda line: click.echo(line))
        if problems:
            fail(EXIT_ERROR, f"not found or not reachable: {', '.join(problems)}")


def channel_problems(config: Config) -> list[str]:
    """Channels whose library is not installed (slack-sdk and boto3 are extras)."""
    from alerting.channels import CHANNELS
    from monitor.core.distribution import MissingModule, load

    problems = []
    for name, channel in config.alerting.channels.items():
        try:
            load(CHANNELS[channel.kind].opener)
        except MissingModule as exc:
            problems.append(f"alerting.channels.{name}: {exc}")
    return problems


def tls_problems(config: Config) -> list[str]:
    """Why `metrics.tls`' certificate and key do not load, as `demon run` would find at start."""
    from monitor.app.daemon.http import endpoint_tls

    try:
        endpoint_tls(config.metrics, config.base_dir)
    except ValueError as exc:
        return [str(exc)]
    return []


def setup_problems(config: Config) -> list[str]:
    """Why checks cannot be set up as a run would set them up (say, a Pandera schema that does not load)."""
    from checks.kinds import KINDS, CheckSetupError, Context

    problems = []
    for spec in config.checks:
        try:
            context = Context(config.datasets[spec.dataset], utcnow())
            KINDS[spec.kind].probes(spec.params, context, config.base_dir)
        except CheckSetupError as exc:
            problems.append(f"{spec.id}: {exc}")
    return problems


@main.command()
@CONFIG_OPTION
@click.option(
    "--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def datasets(config_path: Path, fmt: str) -> None:
    """List what demon watches: each dataset, where it came from (config, discover, dbt), its source, table
    or path, owner, upstream and checks. Runs discovery (reads the sources' catalogs)."""
    from monitor.app import datasets as listed

    config, failures = load_watched(config_path)
    writer = listed.write_json if fmt == "json" else listed.write_table
    writer(listed.listing(config), sys.stdout)
    for failure in failures:
        click.echo(f"demon: {failure}", err=True)
    sys.exit(EXIT_ERROR if failures else EXIT_OK)


@main.command()
@click.option("--source", "urls", multiple=True, metavar="URL",
              help="A SQLAlchemy URL, s3://bucket/prefix or a directory; repeatable. "
                   "Without it, the sources of the -c config.")
@click.option("-c", "--config", "config_path", default="demon.yml", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The config to take sources from.")
@click.option("-o", "--output", default="demon.yml", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The file to write.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
def init(urls: tuple[str, ...], config_path: Path, output: Path, force: bool) -> None:
    """Write a starter demon.yml from what the sources hold: a discover entry per source, a freshness check
    per table with an obvious load-time column, and comments saying what to tune. Passwords become
    ${VAR} references; an existing file is replaced only with --force."""
    from monitor.app.init import InitError, Request, run_init

    try:
        run_init(Request(urls, config_path, output, force), lambda line: click.echo(line))
    except InitError as exc:
        fail(EXIT_USAGE if exc.usage else EXIT_ERROR, str(exc))


@main.command()
def schema() -> None:
    """Print the JSON Schema of the config file, for editors."""
    import json

    from monitor.app.config import config_json_schema

    click.echo(json.dumps(config_json_schema(), indent=2))


@main.command()
@CONFIG_OPTION
@click.argument("check_id")
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def history(config_path: Path, check_id: str, limit: int, fmt: str) -> None:
    """Show the recent results of a check, newest first."""
    from monitor.app.report import Report
    from monitor.core.humanize import did_you_mean
    from monitor.core.redact import Redactor
    from monitor.state.store import StateStore, StateStoreError

    config = load(config_path)
    try:
        with StateStore.open(config.state.url, config.base_dir) as store:
            results = store.history(check_id, limit)
    except StateStoreError as exc:
        fail(EXIT_ERROR, Redactor(config.secrets)(str(exc)))
    known = [spec.id for spec in config.checks]
    if not results and check_id not in known:
        hint = did_you_mean(check_id, known)
        fail_usage(f"no check {check_id!r} in {config_path} and no history for it{hint}")
    write_report(Report(results, view="history"), fmt)


def open_store(config: Config) -> StateStore:
    """The config's state store, or exit 3 saying why not (password masked)."""
    from monitor.core.redact import Redactor
    from monitor.state.store import StateStore, StateStoreError

    try:
        return StateStore.open(config.state.url, config.base_dir)
    except StateStoreError as exc:
        fail(EXIT_ERROR, Redactor(config.secrets)(str(exc)))


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from monitor.core.config.types import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@main.command()
@CONFIG_OPTION
@click.option("--open", "open_only", is_flag=True, help="Only open incidents.")
@click.option("--since", "since", default="7d", show_default=True, callback=_duration, metavar="DURATION",
              help="Also list incidents resolved this recently.")
@click.option(
    "--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def incidents(config_path: Path, open_only: bool, since: float, fmt: str) -> None:
    """List open and recent incidents, their acks and the active silences."""
    import json

    from alerting import admin
    from monitor.app.report.incidents import write_incidents
    from monitor.state.store import StateStoreError

    config = load(config_path)
    now = utcnow()
    with open_store(config) as store:
        try:
            found = admin.listing(store, now, timedelta(seconds=since), open_only)
            silences = admin.silences(store, now)
        except StateStoreError as exc:
            fail(EXIT_ERROR, str(exc))
    if fmt == "json":
        click.echo(json.dumps({"incidents": found, "silences": silences}, indent=2, default=str))
    else:
        write_incidents(found, silences, now, sys.stdout)


@main.command()
@CONFIG_OPTION
@click.argument("incident_ids", type=int, nargs=-1, required=True, metavar="ID...")
@click.option("--reason", "-r", default="", help="Why, for the incident's history.")
def ack(config_path: Path, incident_ids: tuple[int, ...], reason: str) -> None:
    """Acknowledge incidents (a notification lists those it told together): each stops repeating, and a
    pager (PagerDuty) is told; a change or a resolution still notify. Exits 2 when one cannot be
    acknowledged (the others are), 3 when a pager could not be told yet (it is, later, from the outbox)."""
    from alerting.admin import IncidentError
    from alerting.runtime import acknowledge
    from monitor.state.store import StateStoreError

    config = load(config_path)
    refused, waiting = False, False
    with open_store(config) as store:
        for incident_id in dict.fromkeys(incident_ids):
            try:
                acked = acknowledge(config, store, incident_id, _user(), reason)
            except IncidentError as exc:
                click.echo(f"demon: {exc}", err=True)
                refused = True
                continue
            except StateStoreError as exc:
                fail(EXIT_ERROR, str(exc))
            click.echo(f"incident {incident_id} ({acked.incident.title}) acknowledged")
            for problem in acked.undelivered:
                click.echo(f"demon: {problem}", err=True)
            waiting = waiting or bool(acked.undelivered)
    if refused or waiting:
        sys.exit(EXIT_USAGE if refused else EXIT_ERROR)


@main.command()
@CONFIG_OPTION
@click.argument("pattern", required=False, metavar="GLOB")
@click.option("--for", "duration", callback=_duration, metavar="DURATION", help="How long, e.g. 2h.")
@click.option("--reason", "-r", default="", help="Why; shown in `demon incidents`.")
@click.option("--end", "end_id", type=int, metavar="ID", help="End the active silence ID now.")
def silence(config_path: Path, pattern: str | None, duration: float | None, reason: str,
            end_id: int | None) -> None:
    """Stop notifications of incidents whose check, dataset or `source:NAME` matches GLOB, for a while."""
    from alerting import admin
    from monitor.state.store import StateStoreError

    if end_id is None and (pattern is None or duration is None or not reason.strip()):
        fail_usage("silence needs GLOB, --for DURATION and --reason TEXT (or --end ID)")
    config = load(config_path)
    now = utcnow()
    with open_store(config) as store:
        try:
            if end_id is not None:
                admin.unsilence(store, end_id, now)
                click.echo(f"silence {end_id} ended")
                return
            assert pattern is not None and duration is not None
            silence_id = admin.silence(store, pattern, duration, reason, _user(), now)
        except admin.IncidentError as exc:
            fail_usage(str(exc))
        except StateStoreError as exc:
            fail(EXIT_ERROR, str(exc))
    ends = now + timedelta(seconds=duration)
    click.echo(f"silence {silence_id}: {pattern} until {ends:%Y-%m-%dT%H:%M:%SZ}")


@main.command()
@CONFIG_OPTION
@click.option("-o", "--output", default="report.html", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The HTML file to write.")
@click.option("--days", default=7, show_default=True, type=click.IntRange(min=1),
              help="How much history the charts and the incidents cover.")
def report(config_path: Path, output: Path, days: int) -> None:
    """Write one self-contained HTML file: data health, each dataset's checks with their histories (and
    learned bands), incidents and lineage. It loads nothing from a network: share it as a CI artifact, on
    S3 or in an email. Exits 3 when the state store cannot be read or the file cannot be written."""
    from monitor.app.ui.report import build_report, write_atomically
    from monitor.core.redact import Redactor
    from monitor.state.store import StateStoreError

    config, failures = load_watched(config_path)
    for failure in failures:
        click.echo(f"demon: warning: {failure}", err=True)
    with open_store(config) as store:
        try:
            text = build_report(config, store, utcnow(), days)
        except StateStoreError as exc:
            fail(EXIT_ERROR, Redactor(config.secrets)(str(exc)))
    try:
        write_atomically(output, text)
    except OSError as exc:
        fail(EXIT_ERROR, f"cannot write {output}: {exc.strerror or exc}")
    click.echo(f"{output}: {len(config.datasets)} datasets, {days} days, {len(text.encode()) / 1e6:.2f} MB")


@main.command()
@CONFIG_OPTION
@click.argument("check_id")
@click.option("--days", default=30, show_default=True, type=click.IntRange(min=1), help="How far back.")
@click.option(
    "--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Also draw it into this SVG.")
def backtest(config_path: Path, check_id: str, days: int, fmt: str, plot: Path | None) -> None:
    """Replay a check's learned baseline over its history: what would it have flagged?"""
    from monitor.app.learned.commands import run_backtest

    run_backtest(load_watched(config_path)[0], check_id, timedelta(days=days), fmt, plot)


@main.command()
@CONFIG_OPTION
@click.argument("check_id", required=False)
@click.option("--expected", is_flag=True, help="A flagged point was normal: it passes and trains.")
@click.option("--anomaly", is_flag=True, help="A point was a real anomaly: it never trains.")
@click.option("--exclude", metavar="FROM..TO", help="A window to ignore (a backfill, an outage, a holiday).")
@click.option("--reset", is_flag=True, help="Start learning anew (after a migration, say).")
@click.option("--at", "at_text", metavar="TIME", help="The point (or, with --reset, the start); ISO, UTC.")
@click.option("--reason", "-r", default="", help="Why; shown in the listing.")
@click.option("--list", "list_only", is_flag=True, help="List the feedback given (to CHECK_ID, or all).")
@click.option("--undo", "undo_id", type=int, metavar="ID", help="Take feedback ID back.")
def feedback(config_path: Path, check_id: str | None, expected: bool, anomaly: bool, exclude: str | None,
             reset: bool, at_text: str | None, reason: str, list_only: bool, undo_id: int | None) -> None:
    """Teach a check's learned baseline: a point was normal or a real anomaly, a window to ignore, or start
    learning anew. A running daemon uses it at its next run."""
    from monitor.app.learned.commands import FeedbackRequest, run_feedback

    chosen = {"expected": expected, "anomaly": anomaly, "exclude": exclude is not None, "reset": reset,
              "list": list_only, "undo": undo_id is not None}
    actions = [name for name, given in chosen.items() if given]
    if len(actions) != 1:
        got = f" (got {', '.join('--' + name for name in actions)})" if actions else ""
        choices = "--expected, --anomaly, --exclude FROM..TO, --reset, --list, --undo ID"
        fail_usage(f"feedback takes one of {choices}{got}")
    request = FeedbackRequest(check_id, actions[0], exclude, at_text, reason, undo_id)
    run_feedback(load_watched(config_path)[0], config_path, request)


def _listen(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Validated as the config's `metrics.listen` is."""
    from pydantic import ValidationError

    from monitor.core.config.models import MetricsConfig

    try:
        return MetricsConfig(listen=value).listen
    except ValidationError:
        raise click.BadParameter(f"{value!r} is not HOST:PORT (a port from 0 to 65535)") from None


@main.command()
@click.option(
    "--dir",
    "directory",
    default="demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to build the demo.",
)
@click.option("--format", "-f", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
@FAILURES_ONLY
@click.option("--serve", is_flag=True, help="Then run the daemon on the demo until Ctrl-C.")
@click.option(
    "--listen", default="127.0.0.1:9108", show_default=True, metavar="HOST:PORT", callback=_listen,
    help="Where the demo's daemon serves /metrics (written to DIR/demon.yml).",
)
def demo(directory: Path, fmt: str, failures_only: bool, serve: bool, listen: str) -> None:
    """Build the demo warehouse, write DIR/demon.yml and run its checks (yesterday's and today's load),
    opening incidents for what broke (sent to the console channel).

    With --serve, then run `demon run` on it (every dataset every minute): point Prometheus at /metrics and
    load the dashboards.
    """
    from monitor.app.demo import advance, prepare
    from monitor.app.report import Report

    now = utcnow()
    try:
        config_path = prepare(directory, now, listen)
        config = load(config_path)
        # Yesterday's run, on yesterday's clock: it records the baselines and schema snapshots.
        yesterday = lambda: now - timedelta(days=1)  # noqa: E731
        run_checks(config, config.checks, "json", command="demo-baseline", clock=yesterday)
        advance(directory, now)
    except OSError as exc:
        fail_usage(f"cannot build the demo in {directory}: {exc.strerror or exc}")
    console = _Kept()
    checked = run_checks(config, config.checks, fmt, command="demo", notify=True, console=console)
    write_report(Report(checked.results, failures_only=failures_only), fmt)
    if fmt == "table":
        from monitor.app.demo.guide import guide

        click.echo(guide(config_path, checked.notified, console.texts, listen if serve else None))
    if serve:
        from monitor.app.daemon.main import run_daemon

        sys.exit(run_daemon(config, config_path, "text", DEMO_GRACE))


class _Kept(io.StringIO):
    """A console for the demo's notifications: each one kept apart, to show the first."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def write(self, text: str) -> int:
        self.texts.append(text.rstrip("\n"))
        return len(text)


@main.group()
def dashboards() -> None:
    """The Grafana dashboards, provisioning files and Prometheus alert rules that ship with demon."""


@dashboards.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export_dashboards(directory: Path) -> None:
    """Write them to DIRECTORY: grafana/, provisioning/ and prometheus/ (replacing files of those names)."""
    from dashboards.export import export

    try:
        written = export(directory)
    except OSError as exc:
        fail_usage(f"cannot export to {directory}: {exc.strerror or exc}")
    for path in written:
        click.echo(str(path))
