"""Short human renderings of numbers and names for messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

_STEPS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def duration(seconds: float) -> str:
    """10800 -> '3h', 11520 -> '3h 12m', 0.4 -> '0.4s': the two largest units, enough to act on."""
    if seconds < 60:
        return f"{seconds:.3g}s"
    parts: list[str] = []
    rest = round(seconds)
    for unit, size in _STEPS:
        if rest >= size and len(parts) < 2:
            parts.append(f"{rest // size}{unit}")
            rest %= size
        elif parts:
            break
    return " ".join(parts)


def number(value: float) -> str:
    """12345.0 -> '12,345'; 0.125 -> '0.125'."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.6g}"


def percent(fraction: float) -> str:
    return f"{fraction * 100:.3g}%"


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error (a driver's, under SQLAlchemy's `orig`): messages stay on one
    line."""
    text = error if isinstance(error, str) else str(getattr(error, "orig", None) or error)
    fallback = "error" if isinstance(error, str) else type(error).__name__
    return next((line.strip() for line in text.splitlines() if line.strip()), fallback)


def count(value: float, unit: str) -> str:
    """1 -> '1 row', 12345 -> '12,345 rows': units are plural words."""
    return f"{number(value)} {unit.removesuffix('s') if value == 1 else unit}".strip()


def closest(wanted: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """The candidates most like `wanted` (case-insensitively), best first, for "did you mean" hints."""
    spelled = {candidate.lower(): candidate for candidate in candidates}
    return [spelled[folded] for folded in difflib.get_close_matches(wanted.lower(), list(spelled), n=n)]


def did_you_mean(wanted: str, candidates: Iterable[str], n: int = 1) -> str:
    """` (did you mean 'x'?)` (or `'x' or 'y'`) naming the closest candidates; empty when none is close."""
    return suggestion(closest(wanted, candidates, n))


def suggestion(names: Iterable[str]) -> str:
    """` (did you mean 'x' or 'y'?)`, to end a message with; empty for no names."""
    quoted = " or ".join(repr(name) for name in names)
    return f" (did you mean {quoted}?)" if quoted else ""
