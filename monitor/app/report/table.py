"""`--format table`: a rich table on a terminal, aligned plain lines otherwise (logs, pipes, CI)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO

from monitor.app.report.model import Report, View
from monitor.core import humanize
from monitor.core.results import Outcome, Result, summarize

STYLES = {Outcome.PASS: "green", Outcome.WARN: "yellow", Outcome.FAIL: "bold red", Outcome.ERROR: "magenta"}


def shown_value(result: Result) -> str:
    if result.value is None:
        return ""
    if result.unit == "seconds":
        return humanize.duration(result.value)
    return humanize.count(result.value, result.unit or "")


def started(result: Result) -> str:
    return result.started_at.strftime("%Y-%m-%d %H:%M:%SZ")


# Each view's columns before the message (which comes last, unaligned): title and cell.
Cell = Callable[[Result], str]
COLUMNS: dict[View, tuple[tuple[str, Cell], ...]] = {
    "checks": (("outcome", lambda r: r.outcome.value), ("check", lambda r: r.check), ("value", shown_value)),
    "history": (("started", started), ("outcome", lambda r: r.outcome.value), ("value", shown_value)),
}


def summary_line(results: Sequence[Result], noun: str = "checks") -> str:
    counts = summarize(results)
    parts = ", ".join(f"{counts[outcome.value]} {outcome.value}" for outcome in Outcome)
    return f"{humanize.count(len(results), noun)}: {parts}"


def write_table(report: Report, stream: TextIO) -> None:
    if stream.isatty():
        _rich_table(report, stream)
    else:
        _plain_table(report, stream)


def _plain_table(report: Report, stream: TextIO) -> None:
    columns = COLUMNS[report.view]
    rows = [[cell(r).upper() if title == "outcome" else cell(r) for title, cell in columns]
            for r in report.listed]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(len(columns))]
    for row, result in zip(rows, report.listed, strict=True):
        stream.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        stream.write(f"  {result.message}\n")
    stream.write(summary_line(report.results, report.noun) + "\n")


def _rich_table(report: Report, stream: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    columns = COLUMNS[report.view]
    table = Table(show_edge=False, header_style="bold")
    for title, _ in columns:
        table.add_column(title, overflow="fold")
    table.add_column("message", overflow="fold")
    for result in report.listed:
        cells = [
            Text(cell(result), style=STYLES[result.outcome]) if title == "outcome" else cell(result)
            for title, cell in columns
        ]
        table.add_row(*cells, Text(result.message))
    console = Console(file=stream)
    console.print(table)
    console.print(summary_line(report.results, report.noun), highlight=False)
