"""`--format junit`: one test case per check, so CI systems show data checks beside unit tests."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import TextIO

from monitor.app.report.model import Report
from monitor.core.results import Outcome, Result, summarize


def write_junit(report: Report, stream: TextIO) -> None:
    """With `failures_only`, passing checks are left out of the suite too: CI counts what it lists."""
    results, warn_is_failure = report.listed, report.warn_is_failure
    summary = summarize(results)
    failures = summary["fail"] + (summary["warn"] if warn_is_failure else 0)
    counts = {"tests": str(len(results)), "failures": str(failures), "errors": str(summary["error"])}
    root = ET.Element("testsuites", {"name": "demon", **counts})
    suite = ET.Element(
        "testsuite",
        {
            "name": "demon",
            **counts,
            "skipped": "0",
            "time": f"{sum(r.duration_seconds for r in results):.3f}",
            "timestamp": results[0].started_at.strftime("%Y-%m-%dT%H:%M:%S") if results else "",
        },
    )
    for result in results:
        suite.append(_case(result, warn_is_failure))
    root.append(suite)
    ET.indent(root)
    stream.write(ET.tostring(root, encoding="unicode", xml_declaration=True))
    stream.write("\n")


# Characters XML 1.0 cannot carry at all, even escaped (control characters a database error may echo).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _case(result: Result, warn_is_failure: bool) -> ET.Element:
    case = ET.Element(
        "testcase",
        {"classname": result.dataset, "name": result.check, "time": f"{result.duration_seconds:.3f}"},
    )
    failing = result.outcome == Outcome.FAIL or (result.outcome == Outcome.WARN and warn_is_failure)
    tag = "error" if result.outcome == Outcome.ERROR else "failure" if failing else None
    if tag is not None:
        element = ET.SubElement(
            case, tag, {"message": xml_text(result.message), "type": result.outcome.value}
        )
        element.text = xml_text(json.dumps(result.to_dict(), indent=2, default=str, ensure_ascii=False))
    elif result.outcome == Outcome.WARN:
        ET.SubElement(case, "system-out").text = xml_text(f"WARN: {result.message}")
    return case
