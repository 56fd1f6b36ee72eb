"""`demon report`: every view of the web UI in one self-contained HTML file, written atomically."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from monitor.app.ui.read import read_snapshot
from monitor.app.ui.render import render_report
from monitor.core.config.models import Config
from monitor.state.store import StateStore


def build_report(config: Config, store: StateStore, now: datetime, days: int) -> str:
    return render_report(read_snapshot(config, store, now, days))


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` at once: a reader (a web server, a CI upload) never sees half a report."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path())
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
