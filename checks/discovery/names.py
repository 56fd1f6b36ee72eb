"""Readable, stable dataset names for what discovery finds (documented in the README, "Discovery").

A table in the source's default schema is named after the table (`fact_orders`); in another schema,
`schema-table` (`sales-orders`): '-' is not in SQL's usual identifiers, so two tables never meet on one
name. Characters a dataset name cannot hold become '_', and the name then ends in a short digest of the real
one (`my_table-3fa2b1`). A name already taken (a written dataset of another table, another source's table, or
a name a running daemon gave another table before) is prefixed with the source: `staging-fact_orders`.
"""

from __future__ import annotations

import hashlib

from checks.discovery.model import Key


def dataset_name(*parts: str) -> str:
    """The parts joined by '-', each character a name cannot hold (as `parse_name` sees it) made '_'."""
    joined = "-".join("".join(map(_kept, part)) for part in parts if part)
    return joined if (joined[:1] + "x").isidentifier() else f"_{joined}"


def _kept(char: str) -> str:
    return char if char == "-" or f"_{char}".isidentifier() else "_"


def table_name(schema: str, table: str, default_schema: str | None) -> str:
    """`table` or `schema-table`; one whose characters had to change ends in a digest of the real name, so
    `my table` and `my_table` never compete for one name (whoever came first would win it)."""
    same = default_schema is not None and schema.lower() == default_schema.lower()
    parts = (table,) if same else (schema, table)
    name = dataset_name(*parts)
    if name == "-".join(parts):
        return name
    return f"{name}-{hashlib.sha1(f'{schema}.{table}'.encode()).hexdigest()[:6]}"


def unique_name(name: str, source: str, key: Key, taken: set[str]) -> str:
    """`name`, else qualified by its source, else by a short digest of what it watches: the same table
    gets the same name run after run as long as the tables around it keep theirs."""
    for candidate in (name, dataset_name(source, name)):
        if candidate not in taken:
            return candidate
    digest = hashlib.sha1(f"{source}\0{key}".encode()).hexdigest()[:6]
    return dataset_name(source, name, digest)
