"""What `demon init` finds in a source, connected read-only through demon's own source classes: a sql
source's tables and views by schema and the load-time columns of its tables (two catalog statements, no table
read), or that a lake answers.

It connects with the settings exactly as the starter writes them (read back through the config loader, the
environment and the hidden passwords filled in), so what it found is what the written file will reach.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from checks.probes import Column
from checks.sources import SOURCES, Source, SourceError, open_source
from checks.sources.catalog import CatalogTable
from checks.sources.sql import SqlSource
from monitor.app.init.targets import Target
from monitor.app.init.yamltext import sources_block
from monitor.core.config.loader import load_document
from monitor.core.failures import Reason
from monitor.core.redact import Redactor
from monitor.core.typefamilies import family_of

# Columns that say when a row was loaded (or last changed), the likeliest first; a table's first one of a
# timestamp or date type is its suggested freshness column.
FRESHNESS_COLUMNS = (
    "loaded_at", "_loaded_at", "_etl_loaded_at", "updated_at", "_updated_at", "inserted_at", "ingested_at",
    "_ingested_at", "created_at", "modified_at", "last_modified", "event_time", "event_timestamp",
    "timestamp", "ts",
)
TIME_FAMILIES = frozenset({"timestamp", "date"})
# The engines' own catalogs, where the catalog statement does not leave them out already.
SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog", "sys", "mysql", "performance_schema"})


class SourceFailed(Exception):
    """A source that cannot be opened (`setup`: a bad URL, a driver not installed) or read: one line."""

    def __init__(self, message: str, setup: bool) -> None:
        super().__init__(message)
        self.setup = setup


@dataclass(frozen=True)
class Suggestion:
    """A table with an obvious load-time column."""

    table: CatalogTable
    column: str


@dataclass(frozen=True)
class Findings:
    """What a source holds: for sql, its readable tables and views, the unreadable ones by schema, and the
    tables with a load-time column, largest first; for a lake, only that it answered. `notes`: what could
    not be looked at, to say in the file and on the terminal."""

    target: Target
    where: str  # the source's location, password masked
    tables: list[CatalogTable] = field(default_factory=list)
    unreadable: Counter[str] = field(default_factory=Counter)
    suggestions: list[Suggestion] = field(default_factory=list)
    default_schema: str | None = None
    notes: list[str] = field(default_factory=list)


def survey(target: Target, base_dir: Path) -> Findings:
    """Open the target's source as the new file in `base_dir` will, and find what it holds."""
    redact, source = _opened(target, base_dir)
    try:
        if isinstance(source, SqlSource):
            return _tables(target, source)
        source.ping()
        return Findings(target, redact(source.describe()))
    except SourceError as exc:
        raise _failed(exc) from None
    finally:
        source.close()


def _opened(target: Target, base_dir: Path) -> tuple[Redactor, Source]:
    text = "\n".join(sources_block([target]))
    document = load_document(text, f"sources.{target.name}", {**os.environ, **target.hidden})
    settings = SOURCES[target.kind].settings.model_validate(document.data["sources"][target.name])
    redact = Redactor(document.secrets)
    try:
        return redact, open_source(target.name, settings, base_dir, redact)
    except SourceError as exc:
        raise _failed(exc) from None


def _failed(error: SourceError) -> SourceFailed:
    return SourceFailed(str(error), setup=error.reason is Reason.SETUP)


def _tables(target: Target, source: SqlSource) -> Findings:
    catalog = source.catalog()
    tables = [table for table in catalog.tables if table.schema.lower() not in SYSTEM_SCHEMAS]
    readable = [table for table in tables if table.readable]
    notes = []
    try:
        columns = source.columns()
    except SourceError as exc:
        columns, notes = {}, [f"no freshness column suggested: {exc}"]
    found = ((table, freshness_column(columns.get(table.key, []))) for table in readable if not table.view)
    suggestions = [Suggestion(table, column) for table, column in found if column is not None]
    return Findings(
        target, source.describe(), readable, Counter(table.schema for table in tables if not table.readable),
        sorted(suggestions, key=_largest_first), catalog.default_schema, notes,
    )


def freshness_column(columns: Sequence[Column]) -> str | None:
    """The table's likeliest load-time column (`FRESHNESS_COLUMNS`) of a timestamp or date type, if any."""
    timed = {column.name.lower(): column.name
             for column in columns if family_of(column.type_name) in TIME_FAMILIES}
    return next((timed[name] for name in FRESHNESS_COLUMNS if name in timed), None)


def _largest_first(suggestion: Suggestion) -> tuple[bool, int, str, str]:
    rows = suggestion.table.state.rows
    return rows is None, -(rows or 0), suggestion.table.schema, suggestion.table.name
