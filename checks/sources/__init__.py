"""Sources answer probes: SQL warehouses, object stores and local files by the same protocol.

A kind of source is one module and one line in `SOURCES`: its settings model (what a config file writes under
`sources:`), the family of datasets it holds, and the import path of its class, imported only when a source
of that kind opens, so that reading a config does not import SQLAlchemy, DuckDB or boto3.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from checks.sources.base import Source, SourceError
from checks.sources.settings import FilesSourceConfig, S3SourceConfig, SqlSourceConfig
from monitor.core.config.models import SourceConfig, SourceFamily
from monitor.core.distribution import MissingModule, load
from monitor.core.failures import Reason

if TYPE_CHECKING:
    from monitor.core.redact import Redactor

__all__ = ["SOURCES", "Source", "SourceError", "SourceKind", "open_source"]


@dataclass(frozen=True)
class SourceKind:
    """A kind of source: `opener` ("module:Class") is called as Class(name, settings, base_dir, redact)."""

    settings: type[SourceConfig]
    family: SourceFamily
    opener: str


SOURCES: dict[str, SourceKind] = {
    "sql": SourceKind(SqlSourceConfig, "sql", "checks.sources.sql:SqlSource"),
    "s3": SourceKind(S3SourceConfig, "lake", "checks.sources.lake:LakeSource"),
    "files": SourceKind(FilesSourceConfig, "lake", "checks.sources.lake:LakeSource"),
}


def open_source(name: str, config: SourceConfig, base_dir: Path, redact: Redactor) -> Source:
    """The source a config entry describes; `base_dir` is the config file's folder (for relative paths)."""
    try:
        factory = load(SOURCES[config.kind].opener)  # the config admits registered kinds only
    except MissingModule as exc:
        raise SourceError(f"source {name}: {exc}", Reason.SETUP) from None
    return cast(Source, factory(name, config, base_dir, redact))
