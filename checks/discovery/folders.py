"""The dataset folders of a lake source (`s3`, `files`) whose paths an entry's globs select.

A folder directly holding data files is a dataset (`partitioning: none`); a folder whose sub-folders are
`key=value/` partitions with data files below them is a hive table rooted there (`partitioning: hive`).
All that lies inside a dataset folder (its partitions, its sub-folders) belongs to it, never a dataset of
its own: the checks of a dataset read every file under its path. The lake is walked breadth first, one
delimiter listing per folder, past folders no glob can select and within `BOUNDS`; a hive table costs one
more listing per partition level, down its newest partition (as its checks find it).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from checks.discovery.defaults import LAKE, checks_of
from checks.discovery.model import Candidate, DiscoverContext, Found
from checks.discovery.names import dataset_name
from checks.discovery.tables import shared
from checks.sources.lake import Folder, LakeSource
from monitor.core.config.models import DiscoverConfig, Format

# What the lake's readers read, by the end of a file's name (they unzip CSV and JSON lines ending in .gz).
SUFFIXES: dict[str, Format] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".json": "jsonl",
    ".json.gz": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
}
_WILDCARD = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Bounds:
    """How much of a lake one discovery lists: folder levels below the source's root (partition levels
    included), and objects and folders listed in all (the listing that passes the bound still counts)."""

    depth: int = 12
    listed: int = 100_000


BOUNDS = Bounds()


@dataclass(frozen=True)
class Globs:
    """An entry's `include` and `exclude` over a folder's path below the source's root, without slashes at
    either end: fnmatch's globs, case-sensitive as object keys are, so `*` also matches `/` (`raw/*` is
    every folder below raw/, at any depth). Exclude wins."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]

    @classmethod
    def of(cls, entry: DiscoverConfig) -> Globs:
        return cls(tuple(p.strip("/") for p in entry.include), tuple(p.strip("/") for p in entry.exclude))

    def selects(self, path: str) -> bool:
        return _any(path, self.include) and not _any(path, self.exclude)

    def may_hold(self, path: str) -> bool:
        """Whether the folder or one below it can be selected; if not, it is not listed. An include's
        fixed start must agree with the path, and an exclude ending in `*` that matches the path matches
        every path below it too."""
        below = f"{path}/" if path else ""
        fixed = [_WILDCARD.split(pattern, maxsplit=1)[0] for pattern in self.include]
        wanted = any(start.startswith(below) or below.startswith(start) for start in fixed)
        return wanted and not _any(path, [pattern for pattern in self.exclude if pattern.endswith("*")])


def _any(path: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(path, pattern) for pattern in patterns)


def format_of(key: str) -> Format | None:
    name = key.rpartition("/")[2].lower()
    return next((found for suffix, found in SUFFIXES.items() if name.endswith(suffix)), None)


@dataclass(frozen=True)
class DatasetFolder:
    """A folder the walk found to be a dataset, with what its checks need to read it."""

    path: str  # below the source's root, no slash at either end; "" is the root
    format: Format
    hive: bool


class _Exhausted(Exception):
    """The walk listed as much as `Bounds.listed` allows."""


class _Walk:
    """One discovery's walk of a lake: the dataset folders found, and the problems met on the way."""

    def __init__(self, source: LakeSource, globs: Globs, bounds: Bounds) -> None:
        self.source, self.globs, self.bounds = source, globs, bounds
        self.listed = 0
        self.deeper: list[str] = []  # folders not listed for their depth
        self.problems: list[str] = []

    def datasets(self) -> Iterator[DatasetFolder]:
        queue = deque([""])
        try:
            while queue:
                found, below = self._visit(self._list(queue[0]))
                queue.popleft()
                if found is not None:
                    yield found
                queue.extend(self._within_depth(path for path in below if self.globs.may_hold(path)))
        except _Exhausted:
            self.problems.append(
                f"stopped after listing {self.listed:,} objects and folders (the most one discovery lists):"
                f" {self._where(queue[0])} and {len(queue) - 1:,} other folder(s) not searched;"
                " narrow `include` or `exclude` what holds no dataset"
            )
        if self.deeper:
            self.problems.append(
                f"{len(self.deeper):,} folder(s) deeper than {self.bounds.depth} levels not searched"
                f" (first: {self._where(self.deeper[0])})"
            )

    def _visit(self, folder: Folder) -> tuple[DatasetFolder | None, tuple[str, ...]]:
        """The dataset rooted at `folder`, if any, and the sub-folders still to search. A folder with data
        files or partitions is a dataset or nothing: what is inside it is not searched."""
        selected = self.globs.selects(folder.path)
        if _holds_data(folder):
            return (self._dataset(folder, folder, hive=False) if selected else None), ()
        if folder.partitions:
            return (self._hive(folder) if selected else None), ()
        return None, folder.folders

    def _hive(self, root: Folder) -> DatasetFolder | None:
        leaf = self._data_below(root)
        if leaf is None:
            self.problems.append(f"{self._where(root.path)}: partition folders without data files: skipped")
            return None
        return self._dataset(root, leaf, hive=True)

    def _data_below(self, folder: Folder) -> Folder | None:
        """The first folder below a hive table's root that holds data files, newest partitions first."""
        for path in self._within_depth(folder.partitions + folder.folders):
            child = self._list(path)
            found = child if _holds_data(child) else self._data_below(child)
            if found is not None:
                return found
        return None

    def _dataset(self, root: Folder, files: Folder, hive: bool) -> DatasetFolder | None:
        """`root` as a dataset in the one format of `files` (its own, or its newest partition's), or
        skipped: a dataset reads every file under its path as one format."""
        named = {info.key: format_of(info.key) for info in files.files}
        formats = sorted({found for found in named.values() if found is not None})
        strangers = [key for key, found in named.items() if found is None]
        inside = _relative(files.path, root.path)
        if len(formats) == 1 and not strangers:
            return DatasetFolder(root.path, formats[0], hive)
        if len(formats) > 1:
            why = f"{' and '.join(formats)} files side by side{f' in {inside}/' if inside else ''}"
        else:
            why = f"{_relative(strangers[0], root.path)} is not a Parquet, CSV or JSON-lines file"
        self.problems.append(f"{self._where(root.path)} skipped: {why} (a dataset's files share one format)")
        return None

    def _list(self, path: str) -> Folder:
        if self.listed >= self.bounds.listed:
            raise _Exhausted
        folder = self.source.folder(path)
        self.listed += folder.listed
        return folder

    def _within_depth(self, paths: Iterable[str]) -> list[str]:
        kept = []
        for path in paths:
            if path.count("/") + 1 > self.bounds.depth:
                self.deeper.append(path)
            else:
                kept.append(path)
        return kept

    def _where(self, path: str) -> str:
        return f"{self.source.describe()}{path}/" if path else self.source.describe()


def _relative(path: str, root: str) -> str:
    """`path` relative to the folder `root`."""
    return path[len(root) :].lstrip("/")


def _holds_data(folder: Folder) -> bool:
    return any(format_of(info.key) is not None for info in folder.files)


def find_folders(entry: DiscoverConfig, context: DiscoverContext) -> Found:
    source = context.source
    if not isinstance(source, LakeSource):
        return Found(problems=[f"source {entry.source} is not an s3 or files source"])
    globs = Globs.of(entry)
    walk = _Walk(source, globs, BOUNDS)
    found = list(walk.datasets())
    problems = [*walk.problems, *(
        f"include {pattern!r} selected no dataset folder under {source.describe()}"
        for pattern in globs.include if not any(fnmatchcase(folder.path, pattern) for folder in found)
    )]
    if "profile" in entry.checks:
        problems.append(f"profile applies to sql tables: left out of the checks of {entry.source}'s folders")
    return Found([_candidate(entry, folder) for folder in found], problems)


def _candidate(entry: DiscoverConfig, folder: DatasetFolder) -> Candidate:
    """Named by its path, `/` read as `-` (`raw/events`: `raw-events`); the source's root by the source."""
    name = dataset_name(*folder.path.split("/")) if folder.path else dataset_name(entry.source)
    fields: dict[str, Any] = {
        "source": entry.source,
        "path": folder.path,
        "format": folder.format,
        "partitioning": "hive" if folder.hive else "none",
        "checks": checks_of(entry.checks, LAKE[folder.format]),
        **shared(entry),
    }
    return Candidate(name, fields, "discover", folder.path)
