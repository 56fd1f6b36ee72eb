"""Output formats of `demon check`: a registry from `--format` name to its writer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO

from checks.result import Result
from monitor.report.json_report import write_json
from monitor.report.junit import write_junit
from monitor.report.table import write_table

Writer = Callable[[Sequence[Result], TextIO, bool], None]  # results, stream, warn_is_failure

FORMATS: dict[str, Writer] = {"table": write_table, "json": write_json, "junit": write_junit}
