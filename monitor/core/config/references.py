"""Rules that need the whole file: references between sections, which checks suit which source, check ids.

Each rule yields `(path, message)`; the path is what the user wrote, so the issue gets its line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from monitor.core.config.document import Document, Loc
from monitor.core.config.errors import ConfigIssue
from monitor.core.config.models import Config, DatasetConfig, Plugins, SourceFamily, check_id, is_loopback
from monitor.core.humanize import did_you_mean

Finding = tuple[Loc, str]
LAKE: SourceFamily = "lake"

# Per source family: the dataset keys it needs, and those that mean nothing to it.
_REQUIRED = {"sql": ("table",), LAKE: ("path", "format")}
_FORBIDDEN = {"sql": ("path", "format", "partitioning"), LAKE: ("table", "where")}
_NEEDED_FOR = {
    "table": "names a [schema.]table",
    "path": "names a prefix under the source",
    "format": "says how its files are written (parquet, csv or jsonl)",
}


def check_references(config: Config, document: Document, plugins: Plugins) -> list[ConfigIssue]:
    """Every cross-reference and whole-file problem of a validated config, and every check that does not
    suit its dataset (each kind says which do not)."""
    return [document.issue(loc, message) for rule in RULES for loc, message in rule(config, plugins)]


def _family(config: Config, dataset: DatasetConfig, plugins: Plugins) -> SourceFamily | None:
    source = config.sources.get(dataset.source)
    return None if source is None else plugins.sources[source.kind].family


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    names = sorted(known)
    listed = f"defined: {', '.join(names)}" if names else f"no {what}s are defined"
    return f"unknown {what} {name!r}" + (did_you_mean(name, names) or f" ({listed})")


def _sources(config: Config, plugins: Plugins) -> Iterator[Finding]:
    for name, dataset in config.datasets.items():
        if dataset.source not in config.sources:
            yield ("datasets", name, "source"), _unknown("source", dataset.source, config.sources)


def _discover(config: Config, plugins: Plugins) -> Iterator[Finding]:
    """A discover entry names a defined source; a dbt project's tables live on a sql source."""
    for index, entry in enumerate(config.discover):
        source = config.sources.get(entry.source)
        if source is None:
            yield ("discover", index, "source"), _unknown("source", entry.source, config.sources)
        elif entry.dbt is not None and plugins.sources[source.kind].family != "sql":
            kind = f"{source.kind} source {entry.source!r}"
            yield ("discover", index, "source"), f"a dbt project's tables live on a sql source, not on {kind}"


def _channels(config: Config, plugins: Plugins) -> Iterator[Finding]:
    for index, route in enumerate(config.alerting.routes):
        for position, channel in enumerate(route.notify):
            if channel not in config.alerting.channels:
                loc = ("alerting", "routes", index, "notify", position)
                yield loc, _unknown("channel", channel, config.alerting.channels)


def _upstream(config: Config, plugins: Plugins) -> Iterator[Finding]:
    for name, dataset in config.datasets.items():
        for position, upstream in enumerate(dataset.upstream):
            if upstream not in config.datasets:
                yield ("datasets", name, "upstream", position), _unknown("dataset", upstream, config.datasets)


def _unique_entries(config: Config, plugins: Plugins) -> Iterator[Finding]:
    for name, dataset in config.datasets.items():
        for key in ("pii_columns", "upstream"):
            first: dict[str, int] = {}
            for position, entry in enumerate(getattr(dataset, key)):
                if entry in first:
                    message = f"duplicate entry {entry!r} (also {key}[{first[entry]}])"
                    yield ("datasets", name, key, position), message
                first.setdefault(entry, position)


def _dataset_keys(config: Config, plugins: Plugins) -> Iterator[Finding]:
    for name, dataset in config.datasets.items():
        family = _family(config, dataset, plugins)
        if family is None:
            continue
        on = f"a dataset on {config.sources[dataset.source].kind} source {dataset.source!r}"
        for key in _REQUIRED[family]:
            if getattr(dataset, key) is None:
                yield ("datasets", name, key), f"missing required key {key!r}: {on} {_NEEDED_FOR[key]}"
        for key in _FORBIDDEN[family]:
            if getattr(dataset, key) != DatasetConfig.model_fields[key].default:
                yield ("datasets", name, key), f"{key!r} does not apply to {on}"


def _check_fit(config: Config, plugins: Plugins) -> Iterator[Finding]:
    for name, dataset in config.datasets.items():
        family = _family(config, dataset, plugins)
        if family is None:
            continue
        for index, entry in enumerate(dataset.checks):
            for loc, message in plugins.kinds[entry.kind].misfits(family, dataset, entry.params):
                yield ("datasets", name, "checks", index, entry.kind, *loc), message


def _check_ids(config: Config, plugins: Plugins) -> Iterator[Finding]:
    for name, dataset in config.datasets.items():
        first: dict[str, int] = {}
        for index, entry in enumerate(dataset.checks):
            identifier = check_id(name, entry.kind, entry.params)
            if identifier in first:
                message = (
                    f"a second {entry.kind} check needs a distinct name "
                    f"(id {identifier!r} is taken by checks[{first[identifier]}])"
                )
                yield ("datasets", name, "checks", index, entry.kind), message
            first.setdefault(identifier, index)


def _ui_auth(config: Config, plugins: Plugins) -> Iterator[Finding]:
    """Off loopback, the web UI shows the data's health to whoever reaches the port: it needs credentials."""
    if config.ui.enabled and config.ui.auth is None and not is_loopback(config.metrics.listen):
        yield ("ui", "auth"), (
            f"required: the web UI is enabled and metrics.listen {config.metrics.listen!r} is off loopback; "
            "set a bearer token or user:password (say ${DEMON_UI_TOKEN}), or listen on 127.0.0.1"
        )


RULES: tuple[Callable[[Config, Plugins], Iterator[Finding]], ...] = (
    _sources,
    _discover,
    _channels,
    _upstream,
    _unique_entries,
    _dataset_keys,
    _check_fit,
    _check_ids,
    _ui_auth,
)
