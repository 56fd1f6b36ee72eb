"""Helpers shared by the benchmarks: statement counting, timing, running demon in-process."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa


@contextmanager
def count_statements(url_prefix: str) -> Iterator[list[str]]:
    """Collect every statement SQLAlchemy sends to engines whose URL starts with `url_prefix`."""
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if str(conn.engine.url).startswith(url_prefix):
            seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", listener)


def timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, list[float]]:
    """Median wall time of `repeat` calls (after one warm-up), and all samples."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), samples


def run_demon(config_path: Path) -> list[Any]:
    """`demon check` minus argument parsing and printing: load, open the store, run, record."""
    from monitor.app.cli import load, run_checks

    config = load(config_path)
    return run_checks(config, config.checks, "json").results
