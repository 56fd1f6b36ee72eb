"""`--format table`: a rich table on a terminal, aligned plain lines otherwise (logs, pipes, CI)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from checks import humanize
from checks.result import Outcome, Result
from monitor.runner import summarize

STYLES = {Outcome.PASS: "green", Outcome.WARN: "yellow", Outcome.FAIL: "bold red", Outcome.ERROR: "magenta"}


def shown_value(result: Result) -> str:
    if result.value is None:
        return ""
    if result.unit == "seconds":
        return humanize.duration(result.value)
    return humanize.count(result.value, result.unit or "")


def summary_line(results: Sequence[Result]) -> str:
    counts = summarize(results)
    parts = ", ".join(f"{counts[outcome.value]} {outcome.value}" for outcome in Outcome)
    return f"{humanize.count(len(results), 'checks')}: {parts}"


def write_table(results: Sequence[Result], stream: TextIO, warn_is_failure: bool) -> None:
    if stream.isatty():
        _rich_table(results, stream)
    else:
        _plain_table(results, stream)


def _plain_table(results: Sequence[Result], stream: TextIO) -> None:
    rows = [(r.outcome.value.upper(), r.check, shown_value(r), r.message) for r in results]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
    for row in rows:
        stream.write("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)))
        stream.write(f"  {row[3]}\n")
    stream.write(summary_line(results) + "\n")


def _rich_table(results: Sequence[Result], stream: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, header_style="bold")
    for column in ("outcome", "check", "value", "message"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(
            Text(result.outcome.value, style=STYLES[result.outcome]),
            result.check,
            shown_value(result),
            Text(result.message),
        )
    console = Console(file=stream)
    console.print(table)
    console.print(summary_line(results), highlight=False)
