"""The settings of the built-in kinds of source, as a config file writes them (imported without SQLAlchemy or
boto3: the registry in checks/sources/__init__.py needs them to read a config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.core.config.models import SourceConfig
from monitor.core.config.types import Duration, OptionalText


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
