"""The config file as this build of demon reads it: with the check kinds of checks/kinds' registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checks.kinds import KINDS
from monitor.core import config as core
from monitor.core.config import Config, ConfigError, ConfigIssue

__all__ = ["Config", "ConfigError", "ConfigIssue", "config_json_schema", "load_config"]


def load_config(path: str | Path) -> Config:
    """The validated config of `path`, or a `ConfigError` naming the file, line and field of every problem."""
    return core.load_config(path, KINDS)


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of the file, for editors and `demon schema`."""
    return core.config_json_schema(KINDS)
