"""Metric families as plain data, written in Prometheus' text format fast enough for 100,000 series.

prometheus-client builds a `Sample` per series and formats every label on every scrape: about 1.3 s for
the 126,000 series of 10,000 checks. Here a family may carry lines rendered before (`rendered`): the daemon
renders a check's series once per result, and a scrape joins them. prometheus-client stays the reference:
`to_client` hands it the same families (for the Pushgateway), and the tests check that both writers agree.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MetricType = Literal["gauge", "counter", "histogram"]
Labels = tuple[str, ...]


class Histogram:
    """Observation counts per bucket, their sum and count; the caller serialises access."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last is +Inf
        self.sum = 0.0
        self._les = _les(self.bounds)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def copy(self) -> Histogram:
        twin = Histogram(self.bounds)
        twin.counts, twin.sum = list(self.counts), self.sum
        return twin

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, observations at or below it), ending with +Inf: the `_bucket` series."""
        found, total = [], 0
        for le, count in zip(self._les, self.counts, strict=True):
            total += count
            found.append((le, total))
        return found


@lru_cache(maxsize=16)
def _les(bounds: tuple[float, ...]) -> tuple[str, ...]:
    """The `le` label of each bucket, written as prometheus-client writes it (`0.005`, `1.0`, `+Inf`)."""
    return tuple(floatToGoString(bound) for bound in (*bounds, math.inf))  # type: ignore[no-untyped-call]


@dataclass
class Family:
    """One metric: its name (counters end in `_total`), type, help, label names and series."""

    name: str
    type: MetricType
    help: str
    labels: Labels = ()
    samples: list[tuple[Labels, float]] = field(default_factory=list)
    histograms: list[tuple[Labels, Histogram]] = field(default_factory=list)
    rendered: list[str] = field(default_factory=list)  # series lines written before, by `sample_lines`

    def add(self, values: Labels, value: float) -> None:
        self.samples.append((values, value))

    def add_histogram(self, values: Labels, histogram: Histogram) -> None:
        self.histograms.append((values, histogram))

    def __bool__(self) -> bool:
        return bool(self.samples or self.histograms or self.rendered)


def _label_text(names: Labels, values: Labels) -> str:
    """`{a="x",b="y"}` for one series."""
    if not names:
        return ""
    pairs = (f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True))
    return "{" + ",".join(pairs) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(families: Iterable[Family]) -> bytes:
    """The text exposition (format 0.0.4) of the families that have series."""
    out: list[str] = []
    for family in families:
        if family:
            out.append(
                f"# HELP {family.name} {_escape_help(family.help)}\n# TYPE {family.name} {family.type}\n"
            )
            out.extend(family.rendered)
            out.append(sample_lines(family))
    return "".join(out).encode()


def sample_lines(family: Family) -> str:
    """The lines of the family's samples and histograms, without its HELP and TYPE."""
    name, names = family.name, family.labels
    # Python's repr of a float is one Prometheus parses (`1.5`, `inf`, `nan`).
    out = [f"{name}{_label_text(names, values)} {value!r}\n" for values, value in family.samples]
    for values, histogram in family.histograms:
        out.extend(_histogram_lines(name, names, values, histogram))
    return "".join(out)


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _histogram_lines(name: str, names: Labels, values: Labels, histogram: Histogram) -> Iterable[str]:
    bucket_names = (*names, "le")
    for le, count in histogram.cumulative():
        yield f"{name}_bucket{_label_text(bucket_names, (*values, le))} {count}\n"
    labels = _label_text(names, values)
    yield f"{name}_sum{labels} {histogram.sum!r}\n"
    yield f"{name}_count{labels} {sum(histogram.counts)}\n"


_CLIENT_TYPES = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily}


def to_client(family: Family) -> Metric:
    """The same family as a prometheus-client metric (for its Pushgateway client and as the reference)."""
    if family.type == "histogram":
        histograms = HistogramMetricFamily(family.name, family.help, labels=family.labels)
        for values, histogram in family.histograms:
            buckets = [(le, float(count)) for le, count in histogram.cumulative()]
            histograms.add_metric(list(values), buckets, histogram.sum)
        return histograms
    metric: GaugeMetricFamily | CounterMetricFamily = _CLIENT_TYPES[family.type](
        family.name, family.help, labels=family.labels
    )
    for values, value in family.samples:
        metric.add_metric(list(values), value)
    return metric


class _Client(Collector):
    def __init__(self, families: Sequence[Family]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return (to_client(family) for family in self._families if family)


def client_registry(families: Sequence[Family]) -> CollectorRegistry:
    """A prometheus-client registry serving the families (converted when collected)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Client(families))
    return registry
