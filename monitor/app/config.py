"""The config file as this build of demon reads it: with the check kinds, sources and channels registered in
checks/kinds, checks/sources and alerting/channels (read when a config loads, so a registration counts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alerting.channels import CHANNELS
from checks.kinds import KINDS
from checks.sources import SOURCES
from monitor.core import config as core
from monitor.core.config import Config, ConfigError, ConfigIssue
from monitor.core.config.models import Plugins

__all__ = ["Config", "ConfigError", "ConfigIssue", "config_json_schema", "load_config", "plugins"]


def plugins() -> Plugins:
    return Plugins(KINDS, SOURCES, CHANNELS)


def load_config(path: str | Path) -> Config:
    """The validated config of `path`, or a `ConfigError` naming the file, line and field of every problem."""
    return core.load_config(path, plugins())


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of the file, for editors and `demon schema`."""
    return core.config_json_schema(plugins())
