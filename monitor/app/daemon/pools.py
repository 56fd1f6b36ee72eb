"""Each source's workers and its queue of dataset runs waiting for one, the most starved dataset first.

A first-come queue starves datasets under overload: a run stuck behind a long backlog expired, and its
dataset queued again at the back, round after round. Here a dataset that has never run goes first, then the
one whose last run started longest ago, so every dataset runs once before any runs twice, whatever the load.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(order=True)
class Waiting:
    """A dataset's run waiting for a worker; at most one per dataset, standing for its latest planned run."""

    rank: tuple[float, int]  # (monotonic start of its last run, -inf if it never ran; arrival order)
    dataset: str = field(compare=False)
    due: float = field(compare=False)  # monotonic planned start, for the lag
    planned: datetime = field(compare=False)  # the same, on the wall clock, for the log


class Pool:
    """One source's queue and its `size` worker threads, each running `work(pool)` until it returns.

    Every method is called with `lock` held: the scheduler's, which also guards what is waiting and running.
    """

    def __init__(self, source: str, lock: threading.Lock, work: Callable[[Pool], None]) -> None:
        self.source = source
        self.size = 0
        self.workers = 0  # started and not yet left: above `size` after a shrink, until the extras leave
        self.ready = threading.Condition(lock)
        self._queue: list[Waiting] = []
        self._work = work

    def push(self, entry: Waiting) -> None:
        heapq.heappush(self._queue, entry)
        self.ready.notify()

    def pop(self) -> Waiting | None:
        """The most starved run, or None when there is none."""
        return heapq.heappop(self._queue) if self._queue else None

    def drain(self) -> list[Waiting]:
        """Every waiting run, most starved first, leaving the queue empty."""
        entries, self._queue = sorted(self._queue), []
        return entries

    def resize(self, size: int) -> None:
        """Start workers up to `size`; beyond it, idle workers leave (0: all of them, once idle)."""
        self.size = size
        while self.workers < size:
            self.workers += 1
            name = f"demon-{self.source}"
            threading.Thread(target=self._work, args=(self,), name=name, daemon=True).start()
        self.ready.notify_all()

    @property
    def surplus(self) -> bool:
        return self.workers > self.size
