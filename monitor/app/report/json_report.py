"""`--format json`: one JSON object, the shape of the spec."""

from __future__ import annotations

import json
from typing import TextIO

from monitor.app.report.model import Report
from monitor.core.results import summarize


def write_json(report: Report, stream: TextIO) -> None:
    listed = [result.to_dict() for result in report.listed]
    document = {"summary": summarize(report.results), "results": listed}
    json.dump(document, stream, indent=2, default=str, ensure_ascii=False)
    stream.write("\n")
