"""Short human renderings of numbers for result messages."""

from __future__ import annotations

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
