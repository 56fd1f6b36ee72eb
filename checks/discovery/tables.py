"""The tables and views of a sql source whose `schema.table` an entry's globs select."""

from __future__ import annotations

from collections import Counter
from fnmatch import fnmatchcase
from typing import Any

from checks.discovery.defaults import SQL_TABLE, SQL_VIEW, checks_of
from checks.discovery.model import Candidate, DiscoverContext, Found
from checks.discovery.names import table_name
from checks.sources.catalog import Catalog, CatalogTable
from checks.sources.sql import SqlSource
from monitor.core.config.models import DiscoverConfig


def selected(name: str, include: list[str], exclude: list[str]) -> bool:
    """Case-insensitive globs over `schema.table`; exclude wins. A glob without a dot matches the table's
    name in any schema."""
    def matches(pattern: str) -> bool:
        target = name if "." in pattern else name.rpartition(".")[2]
        return fnmatchcase(target.lower(), pattern.lower())

    return any(map(matches, include)) and not any(map(matches, exclude))


def find_tables(entry: DiscoverConfig, context: DiscoverContext) -> Found:
    source = context.source
    if not isinstance(source, SqlSource):
        return Found(problems=[f"source {entry.source} is not a sql source"])
    catalog = source.catalog()
    chosen = [table for table in catalog.tables if selected(table.qualified, entry.include, entry.exclude)]
    problems = _problems(entry, catalog, chosen)
    candidates = [
        Candidate(table_name(table.schema, table.name, catalog.default_schema),
                  _fields(entry, table, catalog.statistics),
                  "discover", ".".join(table.key))
        for table in chosen if table.readable and table.key not in catalog.ambiguous
    ]
    return Found(candidates, problems)


def _problems(entry: DiscoverConfig, catalog: Catalog, chosen: list[CatalogTable]) -> list[str]:
    """Tables left out and why (no grant, a look-alike name), an engine without statistics, idle globs."""
    unreadable = Counter(table.schema for table in chosen if not table.readable)
    problems = [
        f"{count} table(s) of schema {schema} left out: demon's role may not read them"
        f" (grant USAGE on schema {schema} and SELECT on its tables)"
        for schema, count in sorted(unreadable.items())
    ]
    problems += [f"{table.qualified} left out: another table's name differs from it only in case"
                 for table in chosen if table.key in catalog.ambiguous]
    if not catalog.statistics and chosen:
        problems.append(f"source {entry.source}: demon reads no table statistics on this engine, so its"
                        " tables get schema checks only (freshness and volume need a column: write them)")
    problems += [f"include {pattern!r} matched no table of source {entry.source}"
                 for pattern in entry.include
                 if not any(selected(table.qualified, [pattern], []) for table in catalog.tables)]
    return problems


def _fields(entry: DiscoverConfig, table: CatalogTable, statistics: bool) -> dict[str, Any]:
    checks = checks_of(entry.checks, SQL_TABLE if statistics and not table.view else SQL_VIEW)
    return {"source": entry.source, "table": table.qualified, "checks": checks, **shared(entry)}


def shared(entry: DiscoverConfig) -> dict[str, Any]:
    """What an entry says of all it finds: owner, tags, severity and schedule (unset: `defaults:`)."""
    given = {"owner": entry.owner, "tags": entry.tags, "severity": entry.severity, "schedule": entry.schedule}
    return {key: value for key, value in given.items() if value}
