"""Sources answer probes: SQL warehouses now, object stores and local files by the same protocol.

Each kind is registered by the import path of its class, so that opening a config does not import
SQLAlchemy, DuckDB or boto3 until a source of that kind is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from checks.sources.base import Source, SourceError
from monitor.core.distribution import MissingModule, load
from monitor.core.failures import Reason

if TYPE_CHECKING:
    from monitor.core.config.models import SourceConfig
    from monitor.core.redact import Redactor

__all__ = ["Source", "SourceError", "open_source"]

# kind -> "module:Class"; the class is called as Class(name, config, base_dir, redact).
KINDS: dict[str, str] = {
    "sql": "checks.sources.sql:SqlSource",
    "s3": "checks.sources.lake:LakeSource",
    "files": "checks.sources.lake:LakeSource",
}


def open_source(name: str, config: SourceConfig, base_dir: Path, redact: Redactor) -> Source:
    """The source a config entry describes; `base_dir` is the config file's folder (for relative paths)."""
    try:
        factory = load(KINDS[config.kind])  # the config admits registered kinds only
    except MissingModule as exc:
        raise SourceError(f"source {name}: {exc}", Reason.SETUP) from None
    return cast(Source, factory(name, config, base_dir, redact))
