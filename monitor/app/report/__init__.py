"""Output formats of `demon check`, `demo` and `history`: a registry from `--format` name to its writer,
each named "module:function" and imported when that format is written (JUnit's XML is not loaded for JSON)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO, cast

from monitor.app.report.model import Report
from monitor.core.distribution import load

Writer = Callable[[Report, TextIO], None]

FORMATS: dict[str, str] = {
    "table": "monitor.app.report.table:write_table",
    "json": "monitor.app.report.json_report:write_json",
    "junit": "monitor.app.report.junit:write_junit",
}


def writer(fmt: str) -> Writer:
    """The writer of a `--format` name (one of FORMATS)."""
    return cast(Writer, load(FORMATS[fmt]))


__all__ = ["FORMATS", "Report", "Writer", "writer"]
