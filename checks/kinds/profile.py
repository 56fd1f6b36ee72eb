"""Column profiles: per column how often it is NULL, how distinct its values are, the range and mean of
numbers and the length of strings, each a series with a learned baseline, so "email is suddenly 40% null" is
caught with no rule written. The source computes them (fused into the dataset's one statement, or on a
sample); this module picks what is judged and words it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from checks.baselines.learn import Learned, as_points, learn, number
from checks.baselines.model import Point
from checks.baselines.params import AnomalyParams
from checks.kinds.base import Context, Kind, Learning
from checks.kinds.learning import definition
from checks.probes import Answers, ColumnProfiles, Probe
from monitor.core import humanize
from monitor.core.config.document import Loc
from monitor.core.config.models import CheckParams, DatasetConfig, SourceFamily
from monitor.core.config.types import Percentage
from monitor.core.evidence import Anomaly, ColumnStats, LearnedBand, ProfileEvidence, ProfileReport
from monitor.core.results import Evaluation, Outcome
from monitor.core.series import SeriesPoint, SeriesUpdate

MAX_NAMED = 3  # anomalies a message names; details list them all
KEY_SHARE = 0.95  # an integer column this distinct is a key: its range grows with the table, so is not judged


@dataclass(frozen=True)
class Statistic:
    """How one statistic is read from a column's stats, in the unit its series learns in, and worded.

    Fractions learn in percent: a column never NULL then gets a band of one percentage point (the model's
    floor for whole-number series), not one of nothing."""

    read: Callable[[ColumnStats, int], float | None]
    label: str  # "{} null", "mean {}": the value in words
    render: Callable[[float], str] = number  # a value of the series' unit
    scale: float = 1.0  # series unit per result unit (100: percent of a fraction)
    signed: bool = False  # may be negative: a band is always shown as a range

    def said(self, value: float) -> str:
        return self.label.format(self.render(value))

    def band(self, low: float, high: float) -> str:
        """`at most 1%` where the band reaches below any possible value, else `90-130` (`-5 to 3`)."""
        if low <= 0 and not self.signed:
            return f"at most {self.render(high)}"
        return f"{self.render(low)}{' to ' if low < 0 else '-'}{self.render(high)}"


def _percent(value: float) -> str:
    return f"{float(f'{value:.3g}'):g}%"


def _null_share(stats: ColumnStats, rows: int) -> float | None:
    return 100.0 * (rows - stats.values) / rows if rows else None


def _distinct_share(stats: ColumnStats, rows: int) -> float | None:
    """Distinct values per non-NULL value (an approximate count may exceed them a little): unlike the count,
    it does not grow with the table."""
    if stats.distinct is None or not stats.values:
        return None
    return 100.0 * min(stats.distinct / stats.values, 1.0)


def _unless_key(read: Callable[[ColumnStats], float | None]) -> Callable[[ColumnStats, int], float | None]:
    """A number's range and mean, except of an integer key (every value distinct): they grow with it."""
    def judged(stats: ColumnStats, rows: int) -> float | None:
        distinct = stats.distinct if stats.family == "integer" else None
        return None if distinct is not None and distinct >= KEY_SHARE * stats.values else read(stats)
    return judged


STATISTICS: dict[str, Statistic] = {
    "null_fraction": Statistic(_null_share, "{} null", _percent, scale=100.0),
    "distinct_fraction": Statistic(_distinct_share, "{} distinct", _percent, scale=100.0),
    "min": Statistic(_unless_key(lambda stats: stats.minimum), "min {}", signed=True),
    "max": Statistic(_unless_key(lambda stats: stats.maximum), "max {}", signed=True),
    "mean": Statistic(_unless_key(lambda stats: stats.mean), "mean {}", signed=True),
    "avg_length": Statistic(lambda stats, _: stats.avg_length, "average length {}"),
    "max_length": Statistic(lambda stats, _: stats.max_length, "max length {}"),
}


class ProfileParams(CheckParams):
    columns: list[str] | None = Field(
        default=None, min_length=1, description="columns to profile; default: the table's, in order"
    )
    max_columns: int = Field(default=50, ge=1, le=1000, description="columns profiled at most")
    sample: Percentage | None = Field(
        default=None, description="profile a sample of the table (TABLESAMPLE), a statement of its own"
    )
    anomaly: AnomalyParams = Field(
        default_factory=AnomalyParams, description="how each column statistic's baseline learns"
    )

    @field_validator("sample")
    @classmethod
    def _a_share(cls, sample: float | None) -> float | None:
        if sample is not None and not 0 < sample <= 1:
            got = f"{sample * 100:g}%"
            raise ValueError(f"expected a percentage above 0% and at most 100%, like 10%, got {got}")
        return sample

    @model_validator(mode="after")
    def _bounded(self) -> ProfileParams:
        if self.columns is None:
            return self
        folded = [name.casefold() for name in self.columns]
        twice = next((name for at, name in enumerate(self.columns) if name.casefold() in folded[:at]), None)
        if twice is not None:
            raise ValueError(f"columns: {twice!r} is listed twice")
        if len(self.columns) > self.max_columns:
            listed = len(self.columns)
            raise ValueError(f"columns: {listed} listed, more than max_columns ({self.max_columns})")
        return self


class Profile(Kind[ProfileParams]):
    params = ProfileParams

    def probes(self, params: ProfileParams, context: Context, base_dir: Path) -> list[Probe[Any]]:
        return [_probe(params, context.dataset)]

    def learns(self, params: ProfileParams, dataset: DatasetConfig) -> Learning | None:
        """One series per column and statistic (`email.null_fraction`), named from the profile itself."""
        measure = definition("profile", dataset, params.anomaly, sample=params.sample)
        probe = _probe(params, dataset)
        return Learning(measure, params.anomaly, as_points, parts=lambda answers: _measures(answers[probe]))

    def misfits(
        self, family: SourceFamily, dataset: DatasetConfig, params: ProfileParams
    ) -> Iterator[tuple[Loc, str]]:
        if family != "sql":
            yield (), "profile checks count in the warehouse: they need a dataset on a sql source"
        if params.anomaly.by is not None:
            yield ("anomaly", "by"), "a profile is judged once a run: `by` applies to volume and freshness"

    def evaluate(self, params: ProfileParams, answers: Answers, context: Context) -> Evaluation:
        report = answers[_probe(params, context.dataset)]
        if not report.rows:
            said = f"no rows to profile ({_scope(report)})"
            return Evaluation(Outcome.PASS, said, value=0, unit="anomalies",
                              evidence=ProfileEvidence(report, 0, 0))
        judged = {part: _judge(part, value, params.anomaly, context)
                  for part, value in _measures(report).items()}
        anomalies = _anomalies(judged, _measures(report))
        outcome = max((learned.outcome for learned in judged.values()), key=lambda o: o.severity,
                      default=Outcome.PASS)
        learning = [learned for learned in judged.values() if learned.evidence.learning]
        evidence = ProfileEvidence(report, len(judged) - len(learning), len(learning), anomalies)
        updates = tuple(
            SeriesUpdate(history.key, (SeriesPoint(context.now, _measures(report)[part], learned.flagged),))
            for part, learned in judged.items() if (history := context.part(part)).key
        )
        message = _message(anomalies, judged, learning, report)
        return Evaluation(outcome, message, value=float(len(anomalies)), unit="anomalies",
                          evidence=evidence, parts=updates)


def _probe(params: ProfileParams, dataset: DatasetConfig) -> ColumnProfiles:
    columns = tuple(params.columns) if params.columns is not None else None
    pii = frozenset(name.casefold() for name in dataset.pii_columns)
    return ColumnProfiles(columns, params.max_columns, params.sample, pii)


def _measures(report: ProfileReport) -> dict[str, float]:
    """Every judged statistic of every column, by part name (`email.null_fraction`), in its series' unit."""
    found = {}
    for stats in report.columns:
        for name, statistic in STATISTICS.items():
            value = statistic.read(stats, report.rows)
            if value is not None:
                found[f"{stats.column}.{name}"] = value
    return found


def _judge(part: str, value: float, anomaly: AnomalyParams, context: Context) -> Learned:
    history = context.part(part)
    earlier = as_points([point for point in history.points if point.at < context.now])
    render = STATISTICS[part.rsplit(".", 1)[1]].render
    return learn(Point(context.now, value), history, earlier, anomaly, render, bucketed=False)


def _anomalies(judged: dict[str, Learned], values: dict[str, float]) -> tuple[Anomaly, ...]:
    """The series outside their band, worst first: failing before warning, then the farthest out."""
    found = []
    for part, learned in judged.items():
        band = learned.evidence.band
        if learned.outcome is Outcome.PASS or band is None:
            continue
        column, name = part.rsplit(".", 1)
        scale = STATISTICS[name].scale
        half = max(band.high - band.expected, band.expected - band.low, 1e-12)
        far = abs(values[part] - band.expected) / half
        anomaly = Anomaly(column, name, values[part] / scale, learned.outcome.value, _scaled(band, scale),
                          learned.evidence.trained_label)
        found.append((learned.outcome is not Outcome.FAIL, -far, anomaly))
    return tuple(anomaly for *_, anomaly in sorted(found, key=lambda item: item[:2]))


def _scaled(band: LearnedBand, scale: float) -> LearnedBand:
    """A band of the series' unit (percent) in the result's (a fraction)."""
    def back(bound: float | None) -> float | None:
        return None if bound is None else bound / scale
    return LearnedBand(band.expected / scale, band.low / scale, band.high / scale, back(band.warn_low),
                       back(band.warn_high))


def _said(anomaly: Anomaly) -> str:
    """`email: 40% null, expected at most 1%`."""
    statistic = STATISTICS[anomaly.statistic]
    scale, band = statistic.scale, anomaly.band
    expected = statistic.band(band.low * scale, band.high * scale)
    return f"{anomaly.column[:60]}: {statistic.said(anomaly.value * scale)}, expected {expected}"


def _message(
    anomalies: tuple[Anomaly, ...], judged: dict[str, Learned], learning: list[Learned], report: ProfileReport
) -> str:
    scope = _scope(report)
    if anomalies:
        named = "; ".join(_said(anomaly) for anomaly in anomalies[:MAX_NAMED])
        more = f"; and {len(anomalies) - MAX_NAMED} more" if len(anomalies) > MAX_NAMED else ""
        return f"{_anomalies_said(len(anomalies))}: {named}{more} ({scope})"
    if learning and len(learning) == len(judged):
        least = min(learning, key=lambda learned: learned.evidence.trained)
        return f"{least.expectation} ({scope})"
    still = f", {len(learning)} still learning" if learning else ""
    return f"no anomaly in {humanize.number(len(judged) - len(learning))} series{still} ({scope})"


def _anomalies_said(count: int) -> str:
    return f"{humanize.number(count)} {'anomaly' if count == 1 else 'anomalies'}"


def _scope(report: ProfileReport) -> str:
    """`8 columns over 1,000 rows (a 10% sample); 12 more past max_columns`."""
    said = f"{humanize.count(len(report.columns), 'columns')} over {humanize.count(report.rows, 'rows')}"
    if report.sample is not None:
        said += f" of a {humanize.percent(report.sample)} sample"
    if report.left_out:
        said += f"; {len(report.left_out)} more columns past max_columns"
    return said
