"""Output formats of `demon check`, `demo` and `history`: a registry from `--format` name to its writer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from monitor.app.report.json_report import write_json
from monitor.app.report.junit import write_junit
from monitor.app.report.model import Report
from monitor.app.report.table import write_table

Writer = Callable[[Report, TextIO], None]

FORMATS: dict[str, Writer] = {"table": write_table, "json": write_json, "junit": write_junit}

__all__ = ["FORMATS", "Report", "Writer"]
