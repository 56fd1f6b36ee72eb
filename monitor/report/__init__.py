"""Output formats of `demon check`, `demo` and `history`: a registry from `--format` name to its writer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from monitor.report.json_report import write_json
from monitor.report.junit import write_junit
from monitor.report.model import Report
from monitor.report.table import write_table

Writer = Callable[[Report, TextIO], None]

FORMATS: dict[str, Writer] = {"table": write_table, "json": write_json, "junit": write_junit}

__all__ = ["FORMATS", "Report", "Writer"]
