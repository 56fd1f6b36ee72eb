"""`demon backtest --plot FILE`: the series, its band and the flagged points as one self-contained SVG, which
any browser opens; no plotting library to install, and nothing in it but numbers, times and escaped names."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from checks.baselines.learn import number
from monitor.app.learned.backtest import Replayed

WIDTH, HEIGHT, MARGIN = 960, 360, 48
COLORS = {"fail": "#d62728", "warn": "#ff9f1a"}


def svg(check: str, points: Sequence[Replayed]) -> str:
    """The chart: the band as a shaded area where the baseline had one, the values as a line, warn and fail
    points as dots, and the time span and value range as axis labels."""
    if not points:
        return _frame(check, "no points to show", "")
    values = [p.value for p in points] + [b for p in points if p.verdict.band for b in
                                          (p.verdict.band.low, p.verdict.band.high)]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    first, last = points[0].at.timestamp(), points[-1].at.timestamp()

    def x(index: int) -> float:
        stamp = points[index].at.timestamp()
        return MARGIN + (WIDTH - 2 * MARGIN) * ((stamp - first) / (last - first) if last > first else 0.5)

    def y(value: float) -> float:
        return HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * (value - low) / span

    banded = [(i, p.verdict.band) for i, p in enumerate(points) if p.verdict.band is not None]
    band = ""
    if banded:
        upper = [f"{x(i):.1f},{y(b.high):.1f}" for i, b in banded]
        lower = [f"{x(i):.1f},{y(b.low):.1f}" for i, b in reversed(banded)]
        band = f'<polygon points="{" ".join(upper + lower)}" fill="#9ecae1" fill-opacity="0.5"/>'
    line = " ".join(f"{x(i):.1f},{y(p.value):.1f}" for i, p in enumerate(points))
    dots = "".join(
        f'<circle cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="4" fill="{COLORS[p.verdict.outcome]}">'
        f"<title>{p.at:%Y-%m-%d %H:%M}Z: {p.value:g} ({p.verdict.outcome})</title></circle>"
        for i, p in enumerate(points) if p.verdict.outcome in COLORS
    )
    flagged = sum(p.verdict.outcome == "fail" for p in points)
    subtitle = f"{len(points)} points, {flagged} flagged; band: the expected range as learnt then"
    body = (
        f'{band}<polyline points="{line}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>{dots}'
        f'<text x="{MARGIN}" y="{HEIGHT - 12}" font-size="12">{points[0].at:%Y-%m-%d %H:%MZ}</text>'
        f'<text x="{WIDTH - MARGIN}" y="{HEIGHT - 12}" font-size="12" text-anchor="end">'
        f"{points[-1].at:%Y-%m-%d %H:%MZ}</text>"
        f'<text x="4" y="{MARGIN}" font-size="12">{number(high)}</text>'
        f'<text x="4" y="{HEIGHT - MARGIN}" font-size="12">{number(low)}</text>'
        f'<text x="{WIDTH - MARGIN}" y="20" font-size="12" text-anchor="end" fill="#555">'
        "line: the value; shaded: the expected range; dots: fail (red), warn (orange)</text>"
    )
    return _frame(check, subtitle, body)


def _frame(check: str, subtitle: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{MARGIN}" y="20" font-size="15">backtest of {escape(check)}</text>'
        f'<text x="{MARGIN}" y="36" font-size="12" fill="#555">{escape(subtitle)}</text>{body}</svg>\n'
    )
