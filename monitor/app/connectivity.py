"""`demon validate --connect`: open each source once, and find there what each of its datasets names."""

from __future__ import annotations

from collections.abc import Callable

from checks.sources import Source, SourceError, open_source
from monitor.core.config.models import Config
from monitor.core.redact import Redactor


def check_sources(config: Config, say: Callable[[str], None]) -> list[str]:
    """Open and ping every source (its driver imported), then locate each dataset's table or prefix;
    say what was found; return what was not, one problem a line."""
    redact = Redactor(config.secrets)
    problems = []
    for name, settings in config.sources.items():
        try:
            source = open_source(name, settings, config.base_dir, redact)
        except SourceError as exc:
            problems.append(name)
            say(f"  {name}: FAILED: {exc}")
            continue
        try:
            problems += _check_source(config, name, source, redact, say)
        finally:
            source.close()
    return problems


def _check_source(
    config: Config, name: str, source: Source, redact: Redactor, say: Callable[[str], None]
) -> list[str]:
    try:
        source.ping()
    except SourceError as exc:
        say(f"  {name}: FAILED: {exc}")
        return [name]
    say(f"  {name}: ok ({redact(source.describe())})")
    problems = []
    for dataset_name, dataset in config.datasets.items():
        if dataset.source != name:
            continue
        try:
            say(f"    {dataset_name}: {source.locate(dataset)}")
        except SourceError as exc:
            problems.append(dataset_name)
            say(f"    {dataset_name}: FAILED: {exc}")
    return problems
