"""Loading `demon.yml`: YAML with line numbers, `${VAR}` interpolation, strict validation, clear errors.

Only pydantic and PyYAML are imported here; sources and the state store resolve relative paths
against `Config.base_dir`, and redact `Config.secrets` wherever they print. The check kinds come from the
caller (the app passes checks/kinds' registry): a dataset's `checks:` take the keys and parameters of those.
"""

from __future__ import annotations

import os
from pathlib import Path

from monitor.core.config.errors import ConfigError, ConfigIssue
from monitor.core.config.loader import LIMITS, load_document
from monitor.core.config.models import Config, Plugins, config_model
from monitor.core.config.references import check_references
from monitor.core.config.schema import config_json_schema
from monitor.core.config.validation import validate

__all__ = ["Config", "ConfigError", "ConfigIssue", "KindSpec", "config_json_schema", "load_config"]


def load_config(path: str | Path, plugins: Plugins) -> Config:
    """The validated config of `path` whose checks are of `kinds`, or a `ConfigError` naming the file, line
    and field of every problem."""
    file = str(path)
    document = load_document(_read(Path(path), file), file, os.environ)
    config = validate(document, config_model(plugins))
    issues = check_references(config, document, plugins)
    if issues:
        raise ConfigError(issues)
    config._path = file
    config._base_dir = Path(path).resolve().parent
    config._secrets = document.secrets
    return config


def _read(path: Path, file: str) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(LIMITS.bytes + 1)
    except OSError as exc:
        reason = f"cannot read the file: {exc.strerror or exc}"
        raise ConfigError([ConfigIssue(file, None, "", reason)]) from None
    if len(data) > LIMITS.bytes:
        limit = f"larger than {LIMITS.bytes >> 20} MiB, the most demon reads"
        raise ConfigError([ConfigIssue(file, None, "", limit)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([_not_utf8(data, exc.start, file)]) from None


def _not_utf8(data: bytes, position: int, file: str) -> ConfigIssue:
    """The line and column of the first byte that is not UTF-8 (a Latin-1 `é`, say): the place to fix."""
    line_start = data.rfind(b"\n", 0, position) + 1
    line = data.count(b"\n", 0, position) + 1
    where = f"byte 0x{data[position]:02x} at column {position - line_start + 1}"
    return ConfigIssue(file, line, "", f"not UTF-8 ({where}; save the file as UTF-8)")
