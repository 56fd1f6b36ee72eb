"""`demon validate --connect`: open each source once and say whether it answers."""

from __future__ import annotations

from collections.abc import Callable

from checks.sources import SourceError, open_source
from monitor.config.models import Config
from monitor.redact import Redactor


def ping_sources(config: Config, say: Callable[[str], None]) -> list[str]:
    """Ping every source; return the names of those that did not answer."""
    redact = Redactor(config.secrets)
    problems = []
    for name, settings in config.sources.items():
        try:
            source = open_source(name, settings, config.base_dir, redact)
            try:
                source.ping()
                say(f"  {name}: ok ({redact(source.describe())})")
            finally:
                source.close()
        except SourceError as exc:
            problems.append(name)
            say(f"  {name}: FAILED: {exc}")
    return problems
