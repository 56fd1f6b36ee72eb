"""What a command prints: its results and how to show them, the same for every output format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from monitor.core.results import Outcome, Result

View = Literal["checks", "history"]  # one row per check / one row per run of a check, with its time


@dataclass(frozen=True)
class Report:
    results: Sequence[Result]
    warn_is_failure: bool = False
    failures_only: bool = False  # list only what did not pass; the summary still counts everything
    view: View = "checks"

    @property
    def listed(self) -> list[Result]:
        return [r for r in self.results if not (self.failures_only and r.outcome is Outcome.PASS)]

    @property
    def noun(self) -> str:
        return "runs" if self.view == "history" else "checks"
