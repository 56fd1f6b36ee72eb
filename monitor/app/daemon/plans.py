"""Each dataset's next run, and the agenda that finds the due ones without looking at every dataset."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from monitor.app.daemon.triggers import Phased


@dataclass
class Plan:
    """A dataset's next run: when to start it (monotonic, for the wait) and what it is on the wall clock."""

    dataset: str
    trigger: Phased
    due: float
    planned: datetime
    fired: float | None = None  # monotonic moment of its latest planned run (None: the first is yet to come)
    entry: int = 0  # its live entry in the agenda


class Agenda:
    """Plans by due time: a heap whose entries a new plan outdates (and which are skipped when they surface),
    so planning a dataset again costs a push, never a search."""

    def __init__(self) -> None:
        self._plans: dict[str, Plan] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._entries = itertools.count(1)

    def put(self, plan: Plan) -> None:
        """Add or replace the dataset's plan, at `plan.due`."""
        plan.entry = next(self._entries)
        self._plans[plan.dataset] = plan
        heapq.heappush(self._heap, (plan.due, plan.entry, plan.dataset))

    def remove(self, dataset: str) -> None:
        del self._plans[dataset]

    def __getitem__(self, dataset: str) -> Plan:
        return self._plans[dataset]

    def __iter__(self) -> Iterator[Plan]:
        return iter(list(self._plans.values()))

    def due(self, mono: float) -> list[Plan]:
        """The plans due at `mono`, earliest first, taken off the agenda (`put` them back once planned)."""
        found = []
        while self._heap and self._heap[0][0] <= mono:
            _, entry, dataset = heapq.heappop(self._heap)
            plan = self._plans.get(dataset)
            if plan is not None and plan.entry == entry:
                found.append(plan)
        return found

    def earliest(self) -> tuple[float, str]:
        """(due, dataset) of the next plan; (inf, "") when there is none."""
        while self._heap and not self._live(self._heap[0]):
            heapq.heappop(self._heap)
        return (self._heap[0][0], self._heap[0][2]) if self._heap else (math.inf, "")

    def _live(self, item: tuple[float, int, str]) -> bool:
        plan = self._plans.get(item[2])
        return plan is not None and plan.entry == item[1]
