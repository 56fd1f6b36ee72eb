"""What discovery finds, as typed records: candidates per `discover:` entry, and the problems met."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from checks.sources import Source
from monitor.core.config.models import Config, DiscoverConfig, Origin

Key = str  # what a dataset watches on its source: `schema.table` (lower-case) or a lake path


class DiscoveryError(Exception):
    """An entry cannot be read (a missing or corrupt manifest): one line, safe to show."""


@dataclass(frozen=True)
class Candidate:
    """A dataset an entry found: its readable name, its keys as a user would write them under `datasets:`
    (validated by the config's own model), and what it watches; `upstream` names other candidates' keys."""

    name: str
    fields: Mapping[str, Any]
    origin: Origin
    key: Key
    upstream: tuple[Key, ...] = ()


@dataclass(frozen=True)
class Found:
    candidates: list[Candidate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DiscoverContext:
    """What an entry's discoverer may use: the config (its folder, its defaults), the entry's open source,
    and how that source keys a written dataset's table or path (so a written dataset wins)."""

    config: Config
    source: Source
    key_of: Callable[[str], Key]


class Discoverer(Protocol):
    def __call__(self, entry: DiscoverConfig, context: DiscoverContext) -> Found: ...


@dataclass(frozen=True)
class Problem:
    """What an entry could not find: `failed`, it could not be read at all (the datasets it found before
    stay watched); else a warning (a schema demon may not read, a glob that matched nothing)."""

    entry: int
    message: str
    failed: bool = False

    def __str__(self) -> str:
        return f"discover[{self.entry}]: {self.message}"
