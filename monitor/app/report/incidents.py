"""`demon incidents`: open and recent incidents as aligned plain lines (or JSON), and active silences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from monitor.core import humanize

COLUMNS = ("ID", "STATE", "SEVERITY", "INCIDENT", "OPENED", "FOR", "ROOT CAUSE", "UNSENT")


def write_incidents(
    incidents: Sequence[dict[str, Any]], silences: Sequence[dict[str, Any]], now: datetime, stream: TextIO
) -> None:
    if not incidents:
        stream.write("no open or recent incidents\n")
    rows = [COLUMNS, *(_row(incident, now) for incident in incidents)] if incidents else []
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))] if rows else []
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        stream.write("  ".join(cells).rstrip() + "\n")
    for incident in incidents:
        if incident["acked_at"]:
            reason = f": {incident['ack_reason']}" if incident["ack_reason"] else ""
            stream.write(f"incident {incident['id']} acked by {incident['acked_by']} at "
                         f"{incident['acked_at']}{reason}\n")
    for silence in silences:
        stream.write(f"silence {silence['id']}: {silence['pattern']} until {silence['ends_at']} "
                     f"by {silence['created_by']}: {silence['reason']}\n")


def _row(incident: dict[str, Any], now: datetime) -> tuple[str, ...]:
    opened = datetime.fromisoformat(incident["opened_at"].replace("Z", "+00:00"))
    end = incident["resolved_at"]
    until = datetime.fromisoformat(end.replace("Z", "+00:00")) if end else now
    return (
        str(incident["id"]),
        incident["state"],
        incident["severity"],
        incident["title"],
        incident["opened_at"],
        humanize.duration((until - opened).total_seconds()),
        str(incident["root_id"] or ""),
        str(incident["pending_notifications"] or ""),
    )
