"""Statements straight on the driver, as demon's run sent them: the floor a benchmark compares demon with.

Imports nothing but the standard library and the driver, so that run as a process of its own
(`python -m bench.bare FILE`, FILE a pickle of `bare`'s arguments) it is the bare process: a fresh interpreter
that imports the driver, connects and runs the statements, nothing of demon's or SQLAlchemy's.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

Sent = list[tuple[str, Any]]  # statements and their parameters, as the driver took them


def bare(url: str, statements: Sent, memory_limit: str | None = None) -> None:
    """The statements on a connection of their own, as demon's run has; DuckDB given `memory_limit` (and a
    spill folder) as demon's source would be."""
    if url.startswith("duckdb"):
        import duckdb

        path = url.removeprefix("duckdb:///")
        bounded: dict[str, Any] = {}
        if memory_limit:
            bounded.update(memory_limit=memory_limit, temp_directory=f"{path}.spill")
        conn: Any = duckdb.connect(path, read_only=True, config=bounded)
    else:
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
    with conn:
        cursor = conn.cursor()
        for statement, parameters in statements:
            cursor.execute(statement, parameters or None)
            cursor.fetchall()


def main(arguments: str) -> None:
    """`bare` with the arguments pickled in the file `arguments`."""
    bare(*pickle.loads(Path(arguments).read_bytes()))


if __name__ == "__main__":
    main(sys.argv[1])
