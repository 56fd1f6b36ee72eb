"""What every source offers the runner: answers to probes, a reachability check, a request count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Protocol

from monitor.core.failures import Reason

if TYPE_CHECKING:
    from checks.probes import Observed, Probe
    from monitor.core.config.models import DatasetConfig


class SourceError(Exception):
    """A source cannot be opened or reached. The message is one line, redacted, safe to show."""

    def __init__(self, message: str, reason: Reason = Reason.UNREACHABLE) -> None:
        super().__init__(message)
        self.reason = reason


class Source(Protocol):
    """A warehouse or lake that answers the probes of a dataset's checks.

    `observe` never raises for a failing statement or request: each probe's `Observed` carries its own
    error, so one bad check does not hide the others' results.
    """

    name: str
    max_concurrency: int  # statements or requests in flight at once
    requests: Counter[str]  # statements run / calls made, by operation (exported as a counter)

    def observe(self, dataset: DatasetConfig, probes: Collection[Probe[Any]]) -> dict[Probe[Any], Observed]:
        """An answer for every probe (equal probes once), each with the statement that produced it."""
        ...

    def locate(self, dataset: DatasetConfig) -> str:
        """What the dataset names, found (`table sales.orders, 9 columns`); SourceError saying why not
        (a missing table naming the nearest ones, an empty prefix, a `where` the table refuses)."""
        ...

    def ping(self) -> None:
        """Raises SourceError, with a clear message, when the source cannot be reached."""
        ...

    def interrupt(self) -> None:
        """Ends what runs now (the command is interrupted): running statements end at once as errors."""
        ...

    def close(self) -> None:
        """Releases connections; the source is not used afterwards."""
        ...

    def describe(self) -> str:
        """Where the source is, secrets masked (e.g. the URL with `***` for its password)."""
        ...
