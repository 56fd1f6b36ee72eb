"""Threshold bounds: one mechanism for every `min`/`max`/`warn_*`/`*_after` key of every check kind."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.core.results import Outcome


@dataclass(frozen=True)
class Bound:
    """A limit a value must respect: `upper` bounds are maxima, the others minima."""

    name: str
    limit: float
    upper: bool
    outcome: Outcome

    def violated_by(self, value: float) -> bool:
        return value > self.limit if self.upper else value < self.limit


def bounds(params: object, spec: Iterable[tuple[str, bool, Outcome]]) -> list[Bound]:
    """Bounds for the keys of `spec` (name, upper, outcome) that `params` sets."""
    found = [(name, getattr(params, name), upper, outcome) for name, upper, outcome in spec]
    return [
        Bound(name, float(limit), upper, outcome)
        for name, limit, upper, outcome in found
        if limit is not None
    ]


MIN_MAX = (
    ("min", False, Outcome.FAIL),
    ("max", True, Outcome.FAIL),
    ("warn_min", False, Outcome.WARN),
    ("warn_max", True, Outcome.WARN),
)


def worst(value: float, limits: Iterable[Bound]) -> Bound | None:
    """The violated bound with the worst outcome (fail before warn), or None when all hold."""
    violated = [bound for bound in limits if bound.violated_by(value)]
    violated.sort(key=lambda bound: -bound.outcome.severity)
    return violated[0] if violated else None


def as_dict(limits: Iterable[Bound]) -> dict[str, float]:
    return {bound.name: bound.limit for bound in limits}
