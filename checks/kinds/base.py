"""What a check kind is, whole: its parameters, the probes it asks for, how it judges their answers, and the
datasets it suits. A kind is one module and one line in the registry (checks/kinds/__init__.py): the config's
`checks:` keys and their JSON Schema are built from the registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from checks.baselines.learn import part_key
from checks.baselines.model import Direction, Point
from checks.baselines.params import AnomalyParams
from checks.probes import Answers, Probe
from monitor.core.config.document import Loc
from monitor.core.config.models import CheckParams, DatasetConfig, SourceFamily
from monitor.core.results import Evaluation
from monitor.core.series import SeriesHistory, SeriesPoint

P = TypeVar("P", bound=CheckParams)


@dataclass(frozen=True)
class Context:
    """What a kind may know besides its observations: the clock and the check's own history."""

    dataset: DatasetConfig
    now: datetime
    baseline: float | None = None  # value of the last pass/warn run of this check
    snapshot: Mapping[str, str] | None = None  # columns -> family at the last schema run
    series: SeriesHistory | None = None  # a learned baseline's stored series (kinds whose `learns` says so)
    parts: Mapping[str, SeriesHistory] = field(default_factory=dict)  # part -> series (`Learning.parts`)
    base_dir: Path = Path()  # the config file's folder: files a check names are relative to it

    def part(self, name: str) -> SeriesHistory:
        """One part's stored series; a new one, with the check's feedback, where none is stored yet. Its key
        is empty without a store: nothing it learns is kept then."""
        if name in self.parts:
            return self.parts[name]
        if self.series is None:
            return SeriesHistory("")
        return SeriesHistory(part_key(self.series.key, name), (), self.series.feedback)


@dataclass(frozen=True)
class Learning:
    """What a learned baseline's series is: its definition (a change starts a new series), its settings, and
    how the model sees its stored points (`view`: rows per bucket, rows added per run, time between loads)."""

    definition: Mapping[str, object]
    anomaly: AnomalyParams
    view: Callable[[Sequence[SeriesPoint]], list[Point]]
    direction: Direction | None = None  # forced where only one side can be wrong (a load is never too early)
    # A check with one series per part (a profile: per column and statistic) names its parts from its answers;
    # the runner reads each part's series (`key/part`) into `Context.parts` before judging.
    parts: Callable[[Answers], Iterable[str]] | None = None

    @property
    def bucketed(self) -> bool:
        return self.anomaly.by is not None

    @property
    def horizon(self) -> timedelta:
        """How far back stored points matter: the training window, and a week before it for the first change
        or gap in it."""
        return timedelta(seconds=self.anomaly.training) + timedelta(days=7)


class CheckSetupError(Exception):
    """A check cannot be set up (say, its Pandera schema does not load): it ends as `error`."""


class Kind(ABC, Generic[P]):
    """A kind never runs a query: it names probes, the source answers them, the kind judges.

    `params` is the model of its entry in a dataset's `checks:` list; `context` what it may know besides (its
    dataset, the time, its history); `base_dir` is the config file's folder, which files a check names are
    relative to.
    """

    params: type[P]

    @abstractmethod
    def probes(self, params: P, context: Context, base_dir: Path) -> list[Probe[Any]]:
        """What the check asks of the source; the first is its measure, whose short query (`Observed.query`)
        the result carries to notifications."""

    @abstractmethod
    def evaluate(self, params: P, answers: Answers, context: Context) -> Evaluation: ...

    def learns(self, params: P, dataset: DatasetConfig) -> Learning | None:
        """The check's learned series, or None when it learns nothing: the runner reads the stored series into
        `Context.series` before asking for probes, and stores the points its evaluation adds."""
        return None

    def misfits(self, family: SourceFamily, dataset: DatasetConfig, params: P) -> Iterator[tuple[Loc, str]]:
        """Why the check does not suit this dataset, for the config's validation (each at a path relative to
        the check's parameters). Any kind suits any dataset unless it says otherwise."""
        return iter(())


def metadata_misfits(
    family: SourceFamily, dataset: DatasetConfig, method: str, metric: str = "rows"
) -> Iterator[tuple[Loc, str]]:
    """The engine's statistics are a sql table's, of all its rows."""
    if method != "metadata":
        return
    if family != "sql" or metric != "rows":
        yield ("method",), "'metadata' reads a sql table's statistics (rows): use method: scan here"
    elif dataset.where:
        yield ("method",), "'metadata' counts the whole table: the dataset's where needs method: scan"


def scope_misfits(
    family: SourceFamily, dataset: DatasetConfig, scope: str, metric: str = "rows"
) -> Iterator[tuple[Loc, str]]:
    """What only lake datasets offer: measuring files or bytes, and only the newest partition."""
    if family == "sql" and metric != "rows":
        yield ("metric",), f"expected 'rows' on a sql dataset, got {metric!r} (files, bytes: s3/files only)"
    if scope == "latest_partition" and dataset.partitioning != "hive":
        yield ("scope",), "'latest_partition' applies to s3/files datasets with partitioning: hive"
