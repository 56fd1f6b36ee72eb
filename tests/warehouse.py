"""Build small warehouses for end-to-end tests, on DuckDB files or the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa


def execute(url: str, statements: Iterable[str]) -> None:
    """Run DDL/DML with a short-lived engine, disposed so demon can open a DuckDB file read-only."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def write_config(directory: Path, url: str, datasets: str, source_extra: str = "") -> Path:
    """A demon.yml with one `warehouse` source and the given (indented) datasets block."""
    path = directory / "demon.yml"
    path.write_text(
        "version: 1\n"
        "sources:\n"
        "  warehouse:\n"
        "    kind: sql\n"
        f"    url: {url}\n"
        f"{source_extra}"
        "datasets:\n"
        f"{datasets}"
        "state:\n"
        "  url: sqlite:///.demon/state.db\n"
    )
    return path
