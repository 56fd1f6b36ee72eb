"""The settings of the built-in kinds of source, as a config file writes them (imported without SQLAlchemy or
boto3: the registry in checks/sources/__init__.py needs them to read a config)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from monitor.core.config.models import SourceConfig
from monitor.core.config.types import Duration, OptionalText

_MEMORY = re.compile(r"^[1-9][0-9]*(kB|MB|GB|TB)$")
MEMORY_HINT = "a memory size like 256MB (kB, MB, GB or TB)"


def parse_memory(value: str) -> str:
    if not _MEMORY.match(value):
        raise ValueError(f"expected {MEMORY_HINT}, got {value!r}")
    return value


Memory = Annotated[str, AfterValidator(parse_memory)]


class SqlSourceConfig(SourceConfig):
    kind: Literal["sql"]
    url: str = Field(description="any SQLAlchemy URL; relative DuckDB/SQLite paths are relative to this file")
    query_timeout: Duration = Field(
        default="5m", validate_default=True, description="per statement; past it the check ends as error"
    )
    max_concurrency: int = Field(default=4, ge=1, le=256, description="statements in flight at once")
    read_files: bool = Field(
        default=False,
        description="DuckDB: let statements read files beside the database (views over Parquet files)",
    )
    work_mem: Memory | None = Field(
        default=None,
        description="PostgreSQL: work_mem of the statements reading a dataset's rows (SET LOCAL), so that a "
        "uniqueness rule's grouping stays in memory; the server's own (4MB by default) when unset",
    )
    memory_limit: Memory | None = Field(
        default=None,
        description="DuckDB: the memory of demon's connections (DuckDB's memory_limit), past which distinct "
        "counts and groupings spill to a temporary folder of demon's own; DuckDB's default (80% of RAM) when "
        "unset",
    )

    @model_validator(mode="after")
    def _memory_on_its_database(self) -> SqlSourceConfig:
        backend = self.url.split(":", 1)[0].split("+", 1)[0]
        for key, wanted in _MEMORY_SETTINGS.items():
            if getattr(self, key) is not None and backend != wanted:
                raise ValueError(f"{key!r} applies to {_TITLES[wanted]} sources only, not {backend}")
        database, _, query = self.url.partition("///")[2].partition("?")
        if backend == "duckdb" and any(key in _DUCKDB_SPILL for key in re.findall(r"([^&=]+)=", query)):
            # DuckDB would spill beside the database it reads (demon writes nothing there)
            raise ValueError("set memory_limit as a key of the source, not in its URL")
        if self.memory_limit is not None and database.startswith(("md:", "motherduck:")):
            raise ValueError("'memory_limit' applies to local DuckDB databases, not MotherDuck")
        return self


# A memory setting is a database's own, by its name: `work_mem` PostgreSQL's, `memory_limit` DuckDB's.
_MEMORY_SETTINGS = {"work_mem": "postgresql", "memory_limit": "duckdb"}
_TITLES = {"postgresql": "PostgreSQL", "duckdb": "DuckDB"}
_DUCKDB_SPILL = {"memory_limit", "temp_directory", "max_temp_directory_size"}


LAKE_CONCURRENCY = "datasets listed, and files read, at once"


class S3SourceConfig(SourceConfig):
    kind: Literal["s3"]
    bucket: str
    prefix: str = ""
    region: OptionalText = None
    endpoint_url: OptionalText = None
    max_concurrency: int = Field(default=16, ge=1, le=256, description=LAKE_CONCURRENCY)


class FilesSourceConfig(SourceConfig):
    kind: Literal["files"]
    root: str = Field(description="a local directory; relative to this file")
    max_concurrency: int = Field(default=8, ge=1, le=256, description=LAKE_CONCURRENCY)
