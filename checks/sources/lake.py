"""Lake sources (`s3`, `files`): a dataset is a prefix of Parquet, CSV or JSON-lines files.

A dataset run costs one listing (or a walk down the newest partition with delimiter listings when
only it is in scope) plus, when rows, columns or column maxima are asked, one read per file in
scope: a ranged read of each Parquet footer, or a streamed pass over a CSV/JSON-lines file. Reads
run in parallel up to the source's `max_concurrency`, and every call is counted in the results.
"""

from __future__ import annotations

import posixpath
import re
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from checks.probes import (
    BucketCounts,
    ByteSize,
    Column,
    Columns,
    FileCount,
    MaxValue,
    Newest,
    Observed,
    Probe,
    RowCount,
    SchemaVariants,
    Scope,
    Validation,
)
from checks.quality.rules import QualityPlan
from checks.sources.base import SourceError
from checks.sources.formats import FORMATS, FileFacts, FormatError
from checks.sources.localstore import LocalStore
from checks.sources.objects import Listing, ObjectInfo, ObjectStore, ObjectStoreError
from checks.sources.queries import duckdb_rendered, read_files
from checks.sources.settings import FilesSourceConfig, S3SourceConfig
from monitor.core.config.models import DatasetConfig
from monitor.core.distribution import missing_module
from monitor.core.failures import Reason
from monitor.core.humanize import closest, first_line, suggestion
from monitor.core.redact import Redactor

_HIDDEN = re.compile(r"(^|/)[_.]")  # _SUCCESS, _metadata, .crc: written beside the data, not data
_PARTITION = re.compile(r"^[^=/]+=[^/]*/$")  # one hive level: key=value/
HIVE_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
UNTYPED = "null"  # Arrow's type for a column with no values to infer one from


def _s3_store(config: Any, base_dir: Path) -> ObjectStore:
    try:
        from checks.sources.s3store import S3Store  # lazy: boto3 is heavy and optional
    except ModuleNotFoundError as error:
        raise ObjectStoreError(missing_module(error), Reason.SETUP) from None
    return S3Store(config.bucket, config.prefix, config.region, config.endpoint_url, config.max_concurrency)


def _local_store(config: Any, base_dir: Path) -> ObjectStore:
    root = Path(config.root).expanduser()
    return LocalStore(root if root.is_absolute() else base_dir / root)


STORES: dict[str, Callable[[Any, Path], ObjectStore]] = {"s3": _s3_store, "files": _local_store}


@dataclass(frozen=True)
class Folder:
    """One folder of a lake: the files directly in it and its sub-folders, hive partitions (`key=value`,
    newest first) apart from the others; names starting with `_` or `.` (`_SUCCESS`, `.crc`) left out."""

    path: str  # relative to the source's root, no slash at either end; "" is the root
    files: tuple[ObjectInfo, ...]
    partitions: tuple[str, ...]  # paths, as `path`
    folders: tuple[str, ...]
    listed: int  # objects and folders the listing returned, hidden ones too


class LakeSource:
    """An S3 bucket prefix or a local directory; the checks cannot tell them apart."""

    def __init__(
        self, name: str, config: S3SourceConfig | FilesSourceConfig, base_dir: Path, redact: Redactor
    ) -> None:
        self.name = name
        self.max_concurrency = config.max_concurrency
        self._redact = redact
        try:
            self._store = STORES[config.kind](config, base_dir)
        except ObjectStoreError as exc:
            raise SourceError(redact(f"source {name}: {exc}"), exc.reason) from None
        self.requests: Counter[str] = self._store.requests
        self._pool = ThreadPoolExecutor(
            max_workers=config.max_concurrency, thread_name_prefix=f"demon-{name}"
        )

    def describe(self) -> str:
        return self._store.describe()

    def ping(self) -> None:
        try:
            self._store.listing("", delimiter="/")
        except ObjectStoreError as exc:
            raise SourceError(self._redact(f"source {self.name}: {exc}")) from None

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def interrupt(self) -> None:
        """Nothing to end: every read is bounded by the store's own timeouts."""

    def folder(self, path: str) -> Folder:
        """One level of the lake below `path` (one delimiter listing, counted in `requests`): what
        discovery walks the lake by, a folder at a time, so it never lists what it does not need."""
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        try:
            listing = self._store.listing(prefix, delimiter="/")
        except ObjectStoreError as exc:
            raise SourceError(self._redact(f"source {self.name}: {exc}"), exc.reason) from None
        files = tuple(info for info in listing.objects if not _HIDDEN.search(info.key[len(prefix) :]))
        levels = [level[len(prefix) :] for level in listing.prefixes]
        shown = [level for level in levels if not _HIDDEN.search(level)]
        partitions = [level for level in shown if _PARTITION.match(level)]
        return Folder(
            path=prefix.rstrip("/"),
            files=files,
            partitions=tuple(prefix + level.rstrip("/") for level in _newest_first(partitions)),
            folders=tuple(prefix + level.rstrip("/") for level in shown if level not in partitions),
            listed=len(listing.objects) + len(listing.prefixes),
        )

    def locate(self, dataset: DatasetConfig) -> str:
        run = _Run(_Counted(self._store), dataset, self._pool)
        where = f"{self.describe()}{run.root}"
        try:
            files = run.files(run.newest_scope())
            if not files:
                raise SourceError(self._redact(f"no {run.format} files under {where}{run.nearest_folders()}"))
        except ObjectStoreError as exc:
            raise SourceError(self._redact(str(exc))) from None
        return f"{len(files)} {run.format} file(s) under {where}"

    def observe(self, dataset: DatasetConfig, probes: Collection[Probe[Any]]) -> dict[Probe[Any], Observed]:
        wanted = list(dict.fromkeys(probes))
        run = _Run(_Counted(self._store), dataset, self._pool)
        run.prefetch(wanted)
        answers: dict[Probe[Any], Observed] = {}
        for probe in wanted:
            try:
                value, statement = run.answer(probe)
                query = run.query(probe)
                answers[probe] = Observed(value=value, statement=statement,
                                          query=self._redact(query) if query is not None else None)
            except (ObjectStoreError, FormatError, _Unanswerable) as exc:
                answers[probe] = Observed(error=self._redact(str(exc)), reason=exc.reason)
        requests = {"list": run.store.requests["list"], "get": run.store.requests["get"]}
        return {probe: replace(answer, details={"requests": requests}) for probe, answer in answers.items()}


class _Unanswerable(Exception):
    """A probe this dataset's files cannot answer (e.g. a column maximum of a CSV dataset)."""

    def __init__(self, message: str, reason: Reason = Reason.DATA) -> None:
        super().__init__(message)
        self.reason = reason


class _Counted:
    """A store that also counts the calls of one dataset run (the store's own counter is source-wide)."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, kind: str, calls: int = 1) -> None:
        with self._lock:
            self.requests[kind] += calls

    def describe(self) -> str:
        return self._store.describe()

    def listing(self, prefix: str, delimiter: str | None = None) -> Listing:
        try:
            listing = self._store.listing(prefix, delimiter)
        except ObjectStoreError:
            self._count("list")
            raise
        self._count("list", listing.calls)
        return listing

    def tail(self, key: str, length: int) -> tuple[bytes, int]:
        self._count("get")
        return self._store.tail(key, length)

    def open(self, key: str) -> BinaryIO:
        self._count("get")
        return self._store.open(key)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        self._count("get")
        return self._store.read_range(key, start, length)


@dataclass(frozen=True)
class _Needs:
    """What to read of one file: its rows (a full pass for CSV), its columns, the maxima of columns."""

    rows: bool = False
    columns: bool = False
    maxima: frozenset[str] = frozenset()

    def __or__(self, other: _Needs) -> _Needs:
        return _Needs(self.rows or other.rows, self.columns or other.columns, self.maxima | other.maxima)


class _Run:
    """One dataset run: listings and file reads made at most once, shared by all its probes."""

    def __init__(self, store: _Counted, dataset: DatasetConfig, pool: ThreadPoolExecutor) -> None:
        self.store = store
        self.dataset = dataset
        self.root = (dataset.path or "").strip("/") + "/" if (dataset.path or "").strip("/") else ""
        self.format = dataset.format or "parquet"
        self.hive = dataset.partitioning == "hive"
        self._pool = pool
        self._files: dict[Scope, list[ObjectInfo] | ObjectStoreError] = {}
        self._facts: dict[str, FileFacts | Exception] = {}
        self._listed: list[str] = []

    def prefetch(self, probes: Iterable[Probe[Any]]) -> None:
        """List each scope once (the full listing first: it holds the newest partition too), then read
        every file the probes need once, with all they need of it, in parallel."""
        needs = [self._needs(probe) for probe in probes]
        plan: dict[str, _Needs] = {}
        for need, scope in sorted(needs, key=lambda item: item[1] != "all"):
            try:
                files = self.files(scope)
            except ObjectStoreError:
                continue  # each probe of that scope answers with the error
            if need is not None:
                for info in files:
                    plan[info.key] = plan.get(info.key, _Needs()) | need
        self._facts.update(self._pool.map(lambda item: (item[0], self._read(*item)), plan.items()))

    def _needs(self, probe: Probe[Any]) -> tuple[_Needs | None, Scope]:
        """What a probe reads of each file (None: the listing answers it), and of which files."""
        match probe:
            case RowCount(scope=scope):
                return _Needs(rows=True), scope
            case FileCount(scope=scope) | ByteSize(scope=scope):
                return None, scope
            case MaxValue(column=column) if self.format == "parquet":
                return _Needs(maxima=frozenset({column})), self.newest_scope()
            case Columns() | SchemaVariants():
                return _Needs(columns=True), "all"
            case Validation(plan=plan):
                return _Needs(columns=True), self._scope_of(plan.scope)
        return None, self.newest_scope()

    # --- answers -----------------------------------------------------------------------------------

    def answer(self, probe: Probe[Any]) -> tuple[Any, str]:
        match probe:
            case FileCount(scope=scope):
                return len(self.files(scope)), self._statement()
            case ByteSize(scope=scope):
                return sum(info.size for info in self.files(scope)), self._statement()
            case Newest():
                files = self.files(self.newest_scope())
                return (max(info.modified for info in files) if files else None), self._statement()
            case RowCount(scope=scope):
                facts = self.facts(self.files(scope))
                return sum(fact.rows or 0 for fact in facts.values()), self._statement(len(facts))
            case MaxValue(column=column):
                return self._maximum(column)
            case Columns():
                facts = self.facts(self.files("all"))
                return list(_majority(facts)), self._statement(len(facts))
            case Validation(plan=plan):
                return self._validate(plan)
            case BucketCounts():  # the config refuses it first: buckets of time need a grouped statement
                raise _Unanswerable("`by:` needs a sql dataset", Reason.SETUP)
            case SchemaVariants():
                facts = self.facts(self.files("all"))
                usual = _majority(facts)
                variants = {
                    key: list(fact.columns) for key, fact in facts.items() if _differs(fact.columns, usual)
                }
                return variants, self._statement(len(facts))
        raise _Unanswerable(f"a {self.format} lake dataset cannot answer {probe.describe()}")

    def query(self, probe: Probe[Any]) -> str | None:
        """A DuckDB statement over the files a probe read, answering it as demon did; None for what DuckDB
        does not see as demon does (objects' times and sizes, a quality sample)."""
        match probe:
            case RowCount(scope=scope):
                return self._over(scope, lambda files: sa.select(sa.func.count()).select_from(files))
            case MaxValue(column=column) if self.format == "parquet":
                return self._over(self.newest_scope(),
                                  lambda files: sa.select(sa.func.max(sa.column(column))).select_from(files))
            case FileCount(scope=scope):
                pattern = self._pattern(self.files(scope))
                found = sa.select(sa.func.count()).select_from(sa.func.glob(pattern).table_valued())
                return duckdb_rendered(found) if pattern else None
            case Columns():
                every = self._over("all", lambda files: sa.select(sa.literal_column("*")).select_from(files))
                return f"DESCRIBE {every}" if every else None
        return None

    def _over(self, scope: Scope, build: Callable[[sa.TableValuedAlias], sa.Select[Any]]) -> str | None:
        pattern = self._pattern(self.files(scope))
        return duckdb_rendered(build(read_files(self.format, pattern))) if pattern else None

    def _pattern(self, files: list[ObjectInfo]) -> str | None:
        """A glob matching `files`: their common folder, any depth below it when they are in several, and
        their extension when they share one."""
        if not files:
            return None
        folders = {posixpath.dirname(info.key) for info in files}
        common = posixpath.commonpath(list(folders)) if len(folders) > 1 else next(iter(folders))
        suffixes = {posixpath.splitext(info.key)[1] for info in files}
        extension = suffixes.pop() if len(suffixes) == 1 else ""
        below = "**/" if len(folders) > 1 else ""
        return f"{self.store.describe()}{common + '/' if common else ''}{below}*{extension}"

    def _maximum(self, column: str) -> tuple[Any, str]:
        if self.format != "parquet":
            raise _Unanswerable(
                f"freshness by column needs Parquet statistics, {self.format} files have none: drop `column:`"
            )
        facts = self.facts(self.files(self.newest_scope()))
        if facts and all(column not in {c.name for c in fact.columns} for fact in facts.values()):
            raise _Unanswerable(
                f"column {column} not found in the files of {self.store.describe()}{self.root}"
            )
        maxima = [fact.maxima[column] for fact in facts.values() if fact.maxima.get(column) is not None]
        if not maxima and any(fact.rows for fact in facts.values()):
            raise _Unanswerable(
                f"no min/max statistics for column {column} in {len(facts)} Parquet file(s):"
                " written without statistics, or NULL in every row"
            )
        try:
            return (max(maxima) if maxima else None), self._statement(len(facts))
        except TypeError:  # e.g. naive timestamps in some files, aware in others
            raise _Unanswerable(
                f"column {column} has values that cannot be compared across files"
                " (naive and time-zone-aware timestamps?)"
            ) from None

    def _validate(self, plan: QualityPlan) -> tuple[Any, str]:
        from checks.sources.lake_quality import validate_files  # lazy: pandas and Pandera are heavy

        scope = self._scope_of(plan.scope)
        files = self.files(scope)
        if not files:
            where = "in the newest partition" if scope == "latest_partition" else "under the prefix"
            raise _Unanswerable(f"no data files {where} {self.store.describe()}{self.root}")
        facts = self.facts(files)
        where = f"{self.store.describe()}{self.root}"
        try:
            answer = validate_files(plan, self.store, files, _majority(facts), self.format, where)
        except (ObjectStoreError, FormatError):
            raise
        except Exception as exc:  # an input the readers did not foresee fails this check, not the dataset
            raise _Unanswerable(f"cannot validate {where}: {type(exc).__name__}: {first_line(exc)}") from None
        if answer.error is not None:
            raise _Unanswerable(answer.error)
        return answer.value, f"{self._statement(len(facts))}; read a sample of at most {plan.sample:,} rows"

    def nearest_folders(self) -> str:
        """` (did you mean ...?)` naming the folders beside a path that holds nothing, or nothing."""
        parent = self.root.rstrip("/").rpartition("/")[0]
        parent = f"{parent}/" if parent else ""
        folders = [folder[len(parent) :] for folder in self.store.listing(parent, delimiter="/").prefixes]
        return suggestion(f"{parent}{name}" for name in closest(self.root[len(parent) :], folders, n=3))

    def _scope_of(self, scope: Scope) -> Scope:
        return scope if self.hive else "all"

    def newest_scope(self) -> Scope:
        """The files that say how fresh the dataset is, and prove it is there: the newest partition's."""
        return "latest_partition" if self.hive else "all"

    def _statement(self, reads: int = 0) -> str:
        listed = "; ".join(self._listed)
        if not reads:
            return listed
        what = "footer" if self.format == "parquet" else "rows"
        return f"{listed}; read {what} of {reads} {self.format} file(s)"

    # --- listings ----------------------------------------------------------------------------------

    def files(self, scope: Scope) -> list[ObjectInfo]:
        """The data files in scope, listed once per run (a failed listing fails once, and is remembered)."""
        if scope not in self._files:
            try:
                self._files[scope] = self._scope(scope)
            except ObjectStoreError as exc:
                self._files[scope] = exc
        found = self._files[scope]
        if isinstance(found, ObjectStoreError):
            raise found
        return found

    def _scope(self, scope: Scope) -> list[ObjectInfo]:
        if scope == "all" or not self.hive:
            return self._list(self.root)
        everything = self._files.get("all")
        if isinstance(everything, list):  # the newest partition is in the full listing already
            return _in_newest_partition(everything, self.root)
        return self._descend(self.root)

    def _list(self, prefix: str) -> list[ObjectInfo]:
        self._listed.append(f"list {self.store.describe()}{prefix}")
        return self._data_files(self.store.listing(prefix).objects)

    def _data_files(self, objects: list[ObjectInfo]) -> list[ObjectInfo]:
        return [info for info in objects if not _HIDDEN.search(info.key[len(self.root) :])]

    def _descend(self, prefix: str) -> list[ObjectInfo]:
        """The newest partition's files, one delimiter listing per partition level and no full listing
        (the last level's listing holds the files already, unless they sit in deeper folders). A
        partition without data files (a job still writing `_temporary/`) gives way to the next one."""
        self._listed.append(f"list {self.store.describe()}{prefix} by '/'")
        listing = self.store.listing(prefix, delimiter="/")
        partitions = [p[len(prefix) :] for p in listing.prefixes if _PARTITION.match(p[len(prefix) :])]
        if not partitions:
            return self._list(prefix) if listing.prefixes else self._data_files(listing.objects)
        for level in _newest_first(partitions):
            files = self._descend(prefix + level)
            if files:
                return files
        return []

    # --- file reads --------------------------------------------------------------------------------

    def facts(self, files: list[ObjectInfo]) -> dict[str, FileFacts]:
        """The prefetched facts of `files`; the first file that could not be read fails the probe."""
        found: dict[str, FileFacts] = {}
        for info in files:
            fact = self._facts[info.key]
            if isinstance(fact, Exception):
                raise fact
            found[info.key] = fact
        return found

    def _read(self, key: str, needs: _Needs) -> FileFacts | Exception:
        """One file's facts, or why they could not be read: only the probes that need the file fail."""
        reader = FORMATS[self.format]
        try:
            return reader(
                self.store, key, count_rows=needs.rows, want_maxima=needs.maxima, want_columns=needs.columns
            )
        except (ObjectStoreError, FormatError) as exc:
            return exc
        except Exception as exc:  # an input the readers did not foresee (a Latin-1 CSV header, ...)
            return FormatError(f"cannot read {self.format} file {key}: {type(exc).__name__}: {exc}")


def _newest_first(partitions: Iterable[str]) -> list[str]:
    """Partitions by value, greatest first: numbers by value (exactly: 19-digit ids too) before any text,
    text values (dates) in text order; Hive's partition of NULLs (`__HIVE_DEFAULT_PARTITION__`) last.
    Deciding per value, not per listing, keeps the order the same whichever folders a listing shows."""
    values = {level: level.split("=", 1)[1].rstrip("/") for level in partitions}

    def rank(level: str) -> tuple[int, Decimal, str]:
        value = values[level]
        if value == HIVE_NULL_PARTITION:
            return (0, Decimal(0), "")
        if _NUMBER.fullmatch(value):
            return (2, Decimal(value), "")
        return (1, Decimal(0), value)

    return sorted(values, key=rank, reverse=True)


def _in_newest_partition(files: list[ObjectInfo], root: str) -> list[ObjectInfo]:
    """The files of the newest partition, found in a full listing level by level."""
    prefix = root
    while True:
        levels = {
            info.key[len(prefix) :].split("/", 1)[0] + "/" for info in files if "/" in info.key[len(prefix) :]
        }
        partitions = [level for level in levels if _PARTITION.match(level)]
        if not partitions:
            return files
        prefix += _newest_first(partitions)[0]
        files = [info for info in files if info.key.startswith(prefix)]


def _majority(facts: dict[str, FileFacts]) -> tuple[Column, ...]:
    """The columns most files have (on a tie, the last file's by key: the newest partition's). Files
    whose columns have no type (a header-only CSV) do not vote, unless no file has types."""
    typed = [fact.columns for fact in facts.values() if _typed(fact.columns)]
    voters = typed or [fact.columns for fact in facts.values()]
    if not voters:
        return ()
    counts = Counter(voters)
    best = max(counts.values())
    return next(columns for columns in reversed(voters) if counts[columns] == best)


def _typed(columns: tuple[Column, ...]) -> bool:
    return any(column.type_name != UNTYPED for column in columns)


def _differs(columns: tuple[Column, ...], usual: tuple[Column, ...]) -> bool:
    """A file without types differs only by its column names."""
    if _typed(columns):
        return columns != usual
    return [column.name for column in columns] != [column.name for column in usual]
