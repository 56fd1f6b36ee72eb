"""The datasets demon watches: those written under `datasets:`, and those its `discover:` entries find.

Discovery opens the sources it reads and closes them. An entry that cannot be read (its source down, a
corrupt manifest) is a problem to report; given the config it replaces, what that entry found before stays
watched, so a bad deploy of a manifest never drops a project's checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.sources import SOURCES, Source, open_source
from monitor.core.config.models import Config, DiscoveredDataset
from monitor.core.redact import Redactor

if TYPE_CHECKING:
    from checks.discovery import Discovery


@dataclass(frozen=True)
class Watched:
    config: Config
    warnings: tuple[str, ...] = ()  # each a line: `discover[0]: ...`
    failures: tuple[str, ...] = ()  # entries that could not be read at all

    @property
    def problems(self) -> tuple[str, ...]:
        return self.failures + self.warnings


def watched(config: Config, previous: Config | None = None) -> Watched:
    """`config` with what its discover entries find; `previous`: the config it replaces (a reload)."""
    if not config.discover:
        return Watched(config)  # and discovery (SQLAlchemy, Arrow, dbt manifests) is never imported
    redact = Redactor(config.secrets)
    sources: dict[str, Source] = {}

    def opener(name: str) -> Source:
        if name not in sources:
            sources[name] = open_source(name, config.sources[name], config.base_dir, redact)
        return sources[name]

    try:
        discovery = _discover(config, opener, previous)
    finally:
        for source in sources.values():
            source.close()
    found = dict(discovery.found)
    if previous is not None:
        found.update(_kept(config, previous, discovery.failed, found))
    said = [(problem.failed, redact(str(problem))) for problem in discovery.problems]
    return Watched(config.watching(found), tuple(line for failed, line in said if not failed),
                   tuple(line for failed, line in said if failed))


def _discover(config: Config, opener: Callable[[str], Source], previous: Config | None) -> Discovery:
    from checks.discovery import discover

    families = {kind: spec.family for kind, spec in SOURCES.items()}
    return discover(config, opener, families, _given(previous) if previous is not None else None)


def _given(previous: Config) -> dict[str, tuple[str, str]]:
    """The names the replaced config gave discovered datasets, each with what it watches."""
    found = ((name, previous.discovered(name)) for name in previous.datasets)
    return {name: (entry.dataset.source, entry.key) for name, entry in found if entry is not None}


def _kept(
    config: Config, previous: Config, failed: set[int], found: dict[str, DiscoveredDataset]
) -> dict[str, DiscoveredDataset]:
    """What failed entries found last time, unless now written or found by another entry."""
    earlier = ((name, previous.discovered(name)) for name in previous.datasets)
    taken = found.keys() | config.datasets.keys()
    return {name: entry for name, entry in earlier
            if entry is not None and entry.entry in failed and name not in taken}
