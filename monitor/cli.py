"""The `demon` command. Only click is imported at start-up; each command imports what it needs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from checks.result import Result
    from monitor.config.models import CheckSpec, Config

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
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


def fail_usage(message: str) -> NoReturn:
    click.echo(f"demon: {message}", err=True)
    sys.exit(EXIT_USAGE)


def load(config_path: Path) -> Config:
    """Load and validate the config, or print every problem with its line and exit 2."""
    from monitor.config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)


def exit_code(results: Sequence[Result], warn_is_failure: bool = False) -> int:
    """The spec's exit codes: 1 on any fail (or warn with --warn-is-failure), else 3 on any error."""
    outcomes = {result.outcome.value for result in results}
    if "fail" in outcomes or (warn_is_failure and "warn" in outcomes):
        return EXIT_FAIL
    return EXIT_ERROR if "error" in outcomes else EXIT_OK


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="demon", prog_name="demon")
def main() -> None:
    """demon watches your data: freshness, volume, schema, quality and custom metrics of warehouse
    tables and S3 datasets, so you hear about bad data before your stakeholders do."""


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
def check(
    config_path: Path, selects: tuple[str, ...], tags: tuple[str, ...], fmt: str, warn_is_failure: bool
) -> None:
    """Run the selected checks once, print and store the results."""
    from monitor.selection import select

    config = load(config_path)
    chosen = select(config, selects, tags)
    if not chosen:
        fail_usage("no check matches the selection")
    results = run_checks(config, chosen, fmt)
    write_results(results, fmt, warn_is_failure)
    sys.exit(exit_code(results, warn_is_failure))


def run_checks(
    config: Config,
    checks: Sequence[CheckSpec],
    fmt: str,
    command: str = "check",
    clock: Callable[[], datetime] | None = None,
) -> list[Result]:
    """Run checks with the state store, showing progress on a terminal for multi-dataset runs."""
    from monitor.progress import progress_for
    from monitor.runner import Runner, summarize, utcnow
    from monitor.state.store import StateStore, StateStoreError

    try:
        store = StateStore.open(config.state.url, config.base_dir)
    except StateStoreError as exc:
        fail_usage(str(exc))
    runner = Runner(config, store, clock or utcnow)
    try:
        run_id = store.start_run(command)
        with progress_for(checks, enabled=fmt == "table") as advance:
            results = runner.run(checks, run_id, on_job_done=advance)
        store.finish_run(run_id, summarize(results))
    finally:
        runner.close()
        store.close()
    return results


def write_results(results: Sequence[Result], fmt: str, warn_is_failure: bool) -> None:
    from monitor.report import FORMATS

    FORMATS[fmt](results, sys.stdout, warn_is_failure)


@main.command()
@CONFIG_OPTION
@click.option("--connect", is_flag=True, help="Also open each source and check that it answers.")
def validate(config_path: Path, connect: bool) -> None:
    """Validate the config (and with --connect, reach each source); changes nothing."""
    config = load(config_path)
    click.echo(
        f"{config_path}: valid ({len(config.sources)} sources, {len(config.datasets)} datasets, "
        f"{len(config.checks)} checks)"
    )
    if connect:
        from monitor.connectivity import ping_sources

        problems = ping_sources(config, lambda line: click.echo(line))
        if problems:
            sys.exit(EXIT_ERROR)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the config file, for editors."""
    import json

    from monitor.config import config_json_schema

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
    from monitor.state.store import StateStore, StateStoreError

    config = load(config_path)
    try:
        store = StateStore.open(config.state.url, config.base_dir)
    except StateStoreError as exc:
        fail_usage(str(exc))
    try:
        results = store.history(check_id, limit)
    finally:
        store.close()
    if not results and check_id not in {spec.id for spec in config.checks}:
        fail_usage(f"no check {check_id!r} in {config_path} and no history for it")
    write_results(results, fmt, False)


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
def demo(directory: Path, fmt: str) -> None:
    """Build the demo warehouse, write DIR/demon.yml and run its checks (yesterday's and today's load)."""
    from datetime import timedelta

    from monitor.demo import DEFECTS, advance, prepare
    from monitor.runner import utcnow

    now = utcnow()
    config_path = prepare(directory, now)
    config = load(config_path)
    # Yesterday's run, on yesterday's clock: it records the baselines and schema snapshots.
    run_checks(config, config.checks, "json", command="demo-baseline", clock=lambda: now - timedelta(days=1))
    advance(directory, now)
    results = run_checks(config, config.checks, fmt, command="demo")
    write_results(results, fmt, False)
    if fmt == "table":
        click.echo(
            "\nThe demo injected these defects into today's load:\n"
            + "\n".join(f"  - {defect}" for defect in DEFECTS)
        )
        click.echo(f"\nConfig: {config_path}. Try: demon history orders.volume -c {config_path}")
