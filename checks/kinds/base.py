"""What a check kind is: the probes it asks for and how it judges their answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from checks.probes import Probe
from monitor.core.config.models import DatasetConfig
from monitor.core.results import Evaluation


@dataclass(frozen=True)
class Context:
    """What a kind may know besides its observations: the clock and the check's own history."""

    dataset: DatasetConfig
    now: datetime
    baseline: float | None = None  # value of the last pass/warn run of this check
    snapshot: Mapping[str, str] | None = None  # columns -> family at the last schema run


class CheckSetupError(Exception):
    """A check cannot be set up (say, its Pandera schema does not load): it ends as `error`."""


class CheckKind(Protocol):
    """A kind never runs a query: it names probes, the source answers them, the kind judges.

    `base_dir` is the config file's folder, which files a check names are relative to.
    """

    def probes(self, params: Any, dataset: DatasetConfig, base_dir: Path) -> list[Probe]: ...

    def evaluate(self, params: Any, observed: Mapping[Probe, Any], context: Context) -> Evaluation: ...
