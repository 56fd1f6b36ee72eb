"""The settings of the built-in kinds of source, as a config file writes them (imported without SQLAlchemy or
boto3: the registry in checks/sources/__init__.py needs them to read a config)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from monitor.core.config.models import SourceConfig
from monitor.core.config.types import Duration, OptionalText

_MEMORY = re.compile(r"^[1-9][0-9]*(kB|MB|GB|TB)$")
MEMORY_HINT = "a memory size like 256MB (kB, MB, GB or TB)"


def parse_memory(value: object) -> str:
    """A memory size as PostgreSQL and DuckDB both read it: a whole number and a unit (1MB = 1,000 kB)."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"expected {MEMORY_HINT}, got {value}: add a unit, as in {value}MB")
    if not isinstance(value, str) or not _MEMORY.match(value):
        raise ValueError(f"expected {MEMORY_HINT}, got {value!r}")
    return value


Memory = Annotated[str, BeforeValidator(parse_memory)]


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

    @field_validator("url")
    @classmethod
    def _no_spill_settings_in_a_duckdb_url(cls, url: str) -> str:
        """DuckDB given its memory or temporary folder by the URL would spill beside the database it reads."""
        if _backend(url) == "duckdb":
            given = sorted({key.lower() for key in re.findall(r"([^?&=]+)=", url.partition("?")[2])}
                           & _DUCKDB_SPILL)
            if given:
                raise ValueError(f"{given[0]} in a DuckDB URL: give the source memory_limit instead (demon "
                                 "spills to a folder of its own, never beside the database)")
        return url

    @field_validator("work_mem", "memory_limit")
    @classmethod
    def _on_its_database(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Each memory setting is one database's own, by its name: `work_mem` PostgreSQL's, `memory_limit`
        that of a local DuckDB database (MotherDuck ignores it)."""
        url = info.data.get("url")
        if value is None or not isinstance(url, str) or info.field_name is None:
            return value
        backend, wanted = _backend(url), _MEMORY_SETTINGS[info.field_name]
        if backend != wanted:
            raise ValueError(f"applies to {_TITLES[wanted]} sources only, not {backend}")
        if backend == "duckdb" and url.partition("///")[2].lower().startswith(("md:", "motherduck:")):
            raise ValueError("applies to local DuckDB databases, not MotherDuck")
        return value


def _backend(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]


_MEMORY_SETTINGS = {"work_mem": "postgresql", "memory_limit": "duckdb"}
_TITLES = {"postgresql": "PostgreSQL", "duckdb": "DuckDB"}
_DUCKDB_SPILL = {"memory_limit", "max_memory", "temp_directory", "max_temp_directory_size"}


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
