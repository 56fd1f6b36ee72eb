"""`--format json`: one JSON object, the shape of the spec."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from checks.result import Result
from monitor.runner import summarize


def write_json(results: Sequence[Result], stream: TextIO, warn_is_failure: bool) -> None:
    document = {"summary": summarize(results), "results": [result.to_dict() for result in results]}
    json.dump(document, stream, indent=2, default=str, ensure_ascii=False)
    stream.write("\n")
