"""Discovery: datasets found in the sources instead of written, by each `discover:` entry.

Every entry is asked in turn (dbt projects first: a table both a dbt node and in a schema glob takes dbt's
richer description); a written dataset of the same table or path wins over a discovered one. What an
entry cannot read (its source down, a corrupt manifest) is a `Problem`; the caller keeps what that entry
found before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from checks.discovery.folders import find_folders
from checks.discovery.model import (
    Candidate,
    DiscoverContext,
    Discoverer,
    DiscoveryError,
    Found,
    Key,
    Problem,
)
from checks.discovery.names import unique_name
from checks.discovery.projects import find_models
from checks.discovery.tables import find_tables
from checks.sources import Source, SourceError
from checks.sources.sql import SqlSource
from monitor.core.config.models import Config, DatasetConfig, DiscoverConfig, DiscoveredDataset

DISCOVERERS: dict[str, Discoverer] = {"sql": find_tables, "lake": find_folders, "dbt": find_models}

@dataclass
class Discovery:
    """The datasets found, by name, and what went wrong; `failed` entries are to keep what they found
    before."""

    found: dict[str, DiscoveredDataset] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    failed: set[int] = field(default_factory=set)


def flavour(entry: DiscoverConfig, config: Config, families: Mapping[str, str]) -> str:
    """Which discoverer reads an entry: `dbt` for a manifest, else its source's family (`sql`, `lake`)."""
    return "dbt" if entry.dbt is not None else families[config.sources[entry.source].kind]


Owner = tuple[str, Key]  # (source, key): what a dataset watches


def discover(
    config: Config, opener: Callable[[str], Source], families: Mapping[str, str],
    given: Mapping[str, Owner] | None = None,
) -> Discovery:
    """Ask every entry of `config.discover`; sources come from `opener` (and stay open for the caller).
    `given`: the names a running daemon gave before, each to what it watches: a table keeps its name, and no
    other table takes it, even while the first one's source is down."""
    result = Discovery()
    taken = set(config.datasets)
    named: dict[Owner, str] = {}  # (source, key) -> dataset name, written ones first
    names = _Names(taken, dict(given or {}))
    order = sorted(range(len(config.discover)), key=lambda index: config.discover[index].dbt is None)
    for index in order:
        entry = config.discover[index]
        found = _ask(index, entry, config, opener, families, result, named)
        if found is None:
            continue
        keyed = {candidate.key: candidate for candidate in found.candidates}
        for candidate in keyed.values():
            _adopt(config, entry, candidate, names, named, index, result)
        _link(entry, keyed, named, result)
    return result


def _ask(
    index: int, entry: DiscoverConfig, config: Config, opener: Callable[[str], Source],
    families: Mapping[str, str], result: Discovery, named: dict[tuple[str, Key], str],
) -> Found | None:
    try:
        source = opener(entry.source)
        key_of = _keys(source)
        written = {(entry.source, key_of(_watched(dataset))): name
                   for name, dataset in config.datasets.items() if dataset.source == entry.source}
        for key, name in written.items():
            named.setdefault(key, name)
        found = DISCOVERERS[flavour(entry, config, families)](entry, DiscoverContext(config, source, key_of))
    except (SourceError, DiscoveryError) as exc:
        result.problems.append(Problem(index, str(exc), failed=True))
        result.failed.add(index)
        return None
    result.problems.extend(Problem(index, message) for message in found.problems)
    kept = [candidate for candidate in found.candidates if (entry.source, candidate.key) not in written]
    return Found(kept, found.problems)


@dataclass
class _Names:
    """Names taken this time, and those given before (kept by what they name)."""

    taken: set[str]
    given: dict[str, Owner]

    def __post_init__(self) -> None:
        self._sticky = {owner: name for name, owner in self.given.items() if name not in self.taken}

    def name(self, candidate: Candidate, source: str) -> str:
        owner = (source, candidate.key)
        found = self._sticky.get(owner)
        if found is None or found in self.taken:
            blocked = self.taken | {name for name, given in self.given.items() if given != owner}
            found = unique_name(candidate.name, source, candidate.key, blocked)
        self.taken.add(found)
        return found


def _adopt(
    config: Config, entry: DiscoverConfig, candidate: Candidate, names: _Names,
    named: dict[tuple[str, Key], str], index: int, result: Discovery,
) -> None:
    if (entry.source, candidate.key) in named:  # found by an earlier entry
        return
    try:
        dataset = config.dataset_model().model_validate(dict(candidate.fields))
    except ValidationError as exc:
        result.problems.append(Problem(index, f"{candidate.name}: {exc.errors()[0]['msg']}"))
        return
    name = names.name(candidate, entry.source)
    named[(entry.source, candidate.key)] = name
    result.found[name] = DiscoveredDataset(dataset, candidate.origin, index, candidate.key)


def _link(
    entry: DiscoverConfig, keyed: Mapping[Key, Candidate], named: Mapping[tuple[str, Key], str],
    result: Discovery,
) -> None:
    """Upstream by key, now that every candidate of the entry has its name (a written dataset's own)."""
    for key, candidate in keyed.items():
        name = named.get((entry.source, key))
        if name is None or name not in result.found or not candidate.upstream:
            continue
        upstream = [named[(entry.source, up)] for up in candidate.upstream if (entry.source, up) in named]
        result.found[name].dataset.upstream = [up for up in dict.fromkeys(upstream) if up != name]


def _watched(dataset: DatasetConfig) -> str:
    return dataset.table or dataset.path or ""


def _keys(source: Source) -> Callable[[str], Key]:
    """How a dataset's table (or path) reads as a key on this source: `schema.table` in lower case, the
    schema defaulted as the source does; a lake path without its slashes."""
    if isinstance(source, SqlSource):
        catalog = source.catalog()
        return lambda name: ".".join(catalog.key_of(name))
    return lambda path: path.strip("/")


__all__ = [
    "DISCOVERERS",
    "Candidate",
    "DiscoverContext",
    "Discovery",
    "DiscoveryError",
    "Found",
    "Problem",
    "discover",
]
