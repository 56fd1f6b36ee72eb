"""A progress bar for long `demon check` runs, shown only on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from monitor.core.config.models import CheckSpec

Advance = Callable[[Any, Sequence[Any]], None]


@contextmanager
def progress_for(checks: Sequence[CheckSpec], enabled: bool) -> Iterator[Advance | None]:
    """Yield a callback advancing a transient bar by each finished dataset's checks, or None."""
    datasets = {spec.dataset for spec in checks}
    if not (enabled and sys.stderr.isatty() and len(datasets) > 1):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("checks", total=len(checks))
        yield lambda job, results: bar.advance(task, len(results))
