"""Typed models of `demon.yml`, version 1 (see ../shared/spec/demon.example.yml).

Every model forbids unknown keys. Rules that span several parts of the file (references, check
ids, which checks suit which source) live in `references.py`, where they can name the exact field.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Union, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    create_model,
    model_validator,
)

from monitor.core.config.document import Loc
from monitor.core.config.types import (
    Duration,
    Name,
    OptionalText,
    Prefix,
    ScheduleText,
    Severity,
    SqlCondition,
)

# Patterns of text fields, each with the words a problem message uses for it (validation.py's _PATTERNS).
# Channel names stay ASCII: a webhook sends the channel's name in its Idempotency-Key header.
CHANNEL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
TOPIC_ARN_PATTERN = r"^arn:aws[a-z-]*:sns:"
_PORT = r"(6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|\d{1,4})"  # 0-65535
LISTEN_PATTERN = rf"^[^\s:]*:{_PORT}$"
ChannelName = Annotated[str, Field(pattern=CHANNEL_NAME_PATTERN)]


def _as_list(value: Any) -> Any:
    """Let a single value stand for a one-element list (`severity: critical`)."""
    return [value] if isinstance(value, str) else value


def _one_or_many(item: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [item, {"type": "array", "items": item}]})


StrList = Annotated[list[str], BeforeValidator(_as_list), _one_or_many({"type": "string"})]
SeverityList = Annotated[
    list[Severity], BeforeValidator(_as_list), _one_or_many({"enum": [level.value for level in Severity]})
]
Alerting = Literal["warn", "fail", "error"]
OutcomeList = Annotated[
    list[Alerting], BeforeValidator(_as_list), _one_or_many({"enum": ["warn", "fail", "error"]})
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


# --- sources -------------------------------------------------------------------------------------


class SourceConfig(Model):
    """A source's settings; each kind of source declares its model with its `kind` (see `SourceSpec`)."""

    kind: str
    max_concurrency: int = Field(default=4, ge=1, le=256, description="statements or reads in flight at once")


# --- checks --------------------------------------------------------------------------------------


class CheckParams(Model):
    name: Name | None = Field(default=None, description="required when a dataset has two checks of one kind")


SourceFamily = Literal["sql", "lake"]  # what a check kind may need of its dataset's source
Origin = Literal["config", "discover", "dbt"]  # where a dataset came from


class KindSpec(Protocol):
    """What the config needs of a check kind: the model of its parameters, and which datasets it suits.

    The kinds themselves live above this layer (checks/kinds); whoever loads a config passes their registry.
    """

    params: type[CheckParams]

    def misfits(self, family: SourceFamily, dataset: DatasetConfig, params: Any) -> Iterator[tuple[Loc, str]]:
        """Why these parameters do not suit this dataset (each relative to the check's params); none: fits."""
        ...


class CheckEntry(Model):
    """One item of a dataset's `checks:` list: a mapping with exactly one check kind as its key. The config
    model of a registry of kinds (`config_model`) has one optional field per kind, named `kind_<name>` and
    written as `<name>` (so a kind may be called `schema`, which pydantic reserves)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_body_means_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: ({} if value is None else value) for key, value in data.items()}
        return data

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> CheckEntry:
        given = [kind for kind, _ in self.kinds()]
        if len(given) != 1:
            known = ", ".join(str(field.alias) for field in type(self).model_fields.values())
            got = " and ".join(given) or "none"
            raise ValueError(f"expected exactly one check kind ({known}), got {got}")
        return self

    @property
    def kind(self) -> str:
        return self.kinds()[0][0]

    @property
    def params(self) -> CheckParams:
        return self.kinds()[0][1]

    def kinds(self) -> list[tuple[str, CheckParams]]:
        found = ((str(field.alias), getattr(self, name)) for name, field in type(self).model_fields.items())
        return [(kind, params) for kind, params in found if params is not None]


# --- datasets ------------------------------------------------------------------------------------

Format = Literal["parquet", "csv", "jsonl"]


class DatasetConfig(Model):
    source: str
    table: str | None = Field(default=None, description="sql sources: [schema.]table")
    path: Prefix | None = Field(default=None, description="s3/files sources: prefix under the source's root")
    format: Format | None = None
    partitioning: Literal["hive", "none"] = "none"
    description: str | None = None
    owner: str | None = None
    tags: StrList = Field(default_factory=list)
    severity: Severity | None = None
    upstream: StrList = Field(default_factory=list)
    runbook: str | None = None
    schedule: ScheduleText | None = None
    where: SqlCondition | None = Field(
        default=None, description="SQL condition scoping every check of the dataset"
    )
    pii_columns: StrList = Field(default_factory=list)
    checks: list[CheckEntry] = Field(default_factory=list)


DiscoveredCheck = Literal["freshness", "volume", "schema", "profile"]
DEFAULT_DISCOVERED_CHECKS: list[DiscoveredCheck] = ["freshness", "volume", "schema"]


class DiscoverConfig(Model):
    """One `discover:` entry: the tables of a sql source, the dataset folders of a lake source, or the nodes
    of a dbt project, each watched with the same few checks (checks/discovery finds them)."""

    source: str
    dbt: str | None = Field(default=None, description="a dbt manifest.json, relative to this file")
    run_results: str | None = Field(default=None, description="dbt's run_results.json: dbt tests as results")
    include: StrList = Field(
        default_factory=lambda: ["*"], min_length=1, description="schema.table (or path) globs"
    )
    exclude: StrList = Field(default_factory=list, description="globs; an excluded name is never watched")
    checks: list[DiscoveredCheck] = Field(
        default_factory=lambda: list(DEFAULT_DISCOVERED_CHECKS),
        description="metadata-first freshness and volume, schema drift; profile adds column profiles",
    )
    owner: str | None = None
    tags: StrList = Field(default_factory=list)
    severity: Severity | None = None
    schedule: ScheduleText | None = None
    rediscover: Duration = Field(
        default="10m", validate_default=True, description="how often `demon run` looks for new tables"
    )

    @model_validator(mode="after")
    def _run_results_need_a_manifest(self) -> DiscoverConfig:
        if self.run_results is not None and self.dbt is None:
            raise ValueError("'run_results' needs 'dbt' (the manifest.json its tests are described in)")
        if len(set(self.checks)) != len(self.checks):
            raise ValueError("each check kind at most once in 'checks'")
        return self


class Defaults(Model):
    schedule: ScheduleText = Field(default="every 15m", validate_default=True)
    owner: str | None = None
    severity: Severity = Severity.HIGH
    tags: StrList = Field(default_factory=list)


# --- alerting ------------------------------------------------------------------------------------


class ChannelConfig(Model):
    """A notification channel's settings; each kind of channel declares its model (see `ChannelSpec`)."""

    kind: str


class RouteMatch(Model):
    severity: SeverityList = Field(default_factory=list)
    owner: StrList = Field(default_factory=list)
    tags: StrList = Field(default_factory=list)
    dataset: StrList = Field(default_factory=list, description="dataset names or globs")
    kind: StrList = Field(default_factory=list)
    outcome: OutcomeList = Field(default_factory=list)


class RouteConfig(Model):
    match: RouteMatch = Field(default_factory=RouteMatch)
    notify: list[str] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")


class AlertingConfig(Model):
    channels: dict[ChannelName, ChannelConfig] = Field(default_factory=dict)
    routes: list[RouteConfig] = Field(default_factory=list)
    repeat_every: Duration | None = Field(default="4h", validate_default=True)
    notify_resolved: bool = True
    grafana_url: OptionalText = None


class TlsConfig(Model):
    """A certificate chain and its key, PEM files relative to the config file: /metrics over https."""

    cert_file: str
    key_file: str


class MetricsConfig(Model):
    listen: str = Field(default="127.0.0.1:9108", pattern=LISTEN_PATTERN, description="host:port")
    pushgateway: OptionalText = None
    tls: TlsConfig | None = None


class UiConfig(Model):
    """The read-only web UI at / of `metrics.listen` (`demon run`); off loopback it needs `auth`."""

    enabled: bool = Field(default=False, description="serve the web UI at / of metrics.listen")
    auth: OptionalText = Field(
        default=None,
        description="a bearer token, or user:password for basic auth; required when listen is off loopback",
    )


def is_loopback(listen: str) -> bool:
    """Whether `host:port` listens on the loopback interface only (an empty host means every interface)."""
    host = listen.rpartition(":")[0].strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


class StateConfig(Model):
    url: str = "sqlite:///.demon/state.db"
    retention: Duration = Field(default="90d", validate_default=True)


class SourceSpec(Protocol):
    """What the config needs of a kind of source: the model of its settings, and which datasets it holds."""

    @property
    def settings(self) -> type[SourceConfig]: ...

    @property
    def family(self) -> SourceFamily: ...


class ChannelSpec(Protocol):
    """What the config needs of a kind of channel: the model of its settings."""

    @property
    def settings(self) -> type[ChannelConfig]: ...


@dataclass(frozen=True)
class Plugins:
    """The check kinds, sources and channels a config may name, each by its key: the app passes the
    registries of checks/kinds, checks/sources and alerting/channels."""

    kinds: Mapping[str, KindSpec]
    sources: Mapping[str, SourceSpec]
    channels: Mapping[str, ChannelSpec]


# --- the file ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscoveredDataset:
    """A dataset a `discover:` entry found (checks/discovery), which entry (its index) found it, and what it
    watches on its source (`schema.table` in lower case, or a path): a name sticks to that."""

    dataset: DatasetConfig
    origin: Origin
    entry: int
    key: str = ""


@dataclass(frozen=True)
class CheckSpec:
    """A check with its stable id, flattened out of its dataset for the runner."""

    id: str
    kind: str
    dataset: str
    params: CheckParams


def _section() -> Any:
    """A section the file leaves out, validated as an empty one by the config's own validator: instantiating
    the section's model instead would build a validator for that model too (a few ms each at start-up)."""
    return Field(default={}, validate_default=True)


class Config(Model):
    """demon.yml, version 1: sources, datasets and their checks, alerting, metrics and the state store."""

    version: Literal[1]
    sources: dict[Name, SourceConfig]
    defaults: Defaults = _section()
    datasets: dict[Name, DatasetConfig] = Field(default_factory=dict)
    discover: list[DiscoverConfig] = Field(default_factory=list)
    alerting: AlertingConfig = _section()
    metrics: MetricsConfig = _section()
    ui: UiConfig = _section()
    state: StateConfig = _section()

    _path: str = PrivateAttr(default="demon.yml")
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _secrets: frozenset[str] = PrivateAttr(default_factory=frozenset)
    _found: dict[str, DiscoveredDataset] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _inherit_defaults(self) -> Config:
        for dataset in self.datasets.values():
            self.inherit(dataset)
        return self

    def inherit(self, dataset: DatasetConfig) -> DatasetConfig:
        """Fill what the dataset leaves unset from `defaults:` (discovered datasets too)."""
        dataset.schedule = dataset.schedule or self.defaults.schedule
        dataset.owner = dataset.owner or self.defaults.owner
        dataset.severity = dataset.severity or self.defaults.severity
        dataset.tags = dataset.tags or list(self.defaults.tags)
        return dataset

    @classmethod
    def dataset_model(cls) -> type[DatasetConfig]:
        """The model of one dataset of this config (its `checks:` take this build's kinds): discovery builds
        its datasets with it, so they are validated like written ones."""
        annotation = cls.model_fields["datasets"].annotation
        model: type[DatasetConfig] = get_args(annotation)[1]
        return model

    def origin(self, dataset: str) -> Origin:
        """Where a dataset came from: written under `datasets:`, or found by a `discover:` entry."""
        found = self._found.get(dataset)
        return "config" if found is None else found.origin

    def discovered(self, dataset: str) -> DiscoveredDataset | None:
        return self._found.get(dataset)

    def watching(self, found: Mapping[str, DiscoveredDataset]) -> Config:
        """This config with discovered datasets added after the written ones (which win: discovery leaves
        out what they name); the file's path, folder and secrets kept."""
        kept = {name: entry for name, entry in found.items() if name not in self.datasets}
        merged = {**self.datasets, **{name: self.inherit(entry.dataset) for name, entry in kept.items()}}
        copy = self.model_copy(update={"datasets": merged})
        copy.__dict__.pop("checks", None)  # a cached_property of the copied instance
        copy._found = kept
        return copy

    @property
    def path(self) -> str:
        return self._path

    @property
    def base_dir(self) -> Path:
        """The config file's directory: relative paths of sources and the state store resolve against it."""
        return self._base_dir

    @property
    def secrets(self) -> frozenset[str]:
        """Values that came from the environment, and the web UI's credentials: never printed, logged or
        exported."""
        auth = self.ui.auth
        return self._secrets | ({auth, *auth.split(":", 1)} if auth else set())

    @cached_property
    def checks(self) -> list[CheckSpec]:
        return [spec for name in self.datasets for spec in dataset_checks(name, self.datasets[name])]


def check_id(dataset: str, kind: str, params: CheckParams) -> str:
    return ".".join(part for part in (dataset, kind, params.name) if part)


def dataset_checks(name: str, dataset: DatasetConfig) -> list[CheckSpec]:
    return [
        CheckSpec(
            id=check_id(name, entry.kind, entry.params), kind=entry.kind, dataset=name, params=entry.params
        )
        for entry in dataset.checks
    ]


def config_model(plugins: Plugins) -> type[Config]:
    """The model of a config file whose checks, sources and channels are those `plugins` register: one per
    set of registrations, built once."""
    key = (
        tuple((name, spec.params) for name, spec in plugins.kinds.items()),
        tuple(spec.settings for spec in plugins.sources.values()),
        tuple(spec.settings for spec in plugins.channels.values()),
    )
    if key not in _MODELS:
        _MODELS[key] = _build(*key)
    return _MODELS[key]


def _build(
    kinds: tuple[tuple[str, type[CheckParams]], ...],
    sources: tuple[type[SourceConfig], ...],
    channels: tuple[type[ChannelConfig], ...],
) -> type[Config]:
    fields: dict[str, Any] = {
        f"kind_{name}": (params | None, Field(default=None, alias=name)) for name, params in kinds
    }
    entry = create_model("CheckEntry", __base__=CheckEntry, **fields)
    dataset = create_model("DatasetConfig", __base__=DatasetConfig,
                           checks=(list[entry], Field(default_factory=list)))  # type: ignore[valid-type]
    channel_types: Any = dict[ChannelName, _one_of(channels)]  # type: ignore[misc]
    source_types: Any = dict[Name, _one_of(sources)]  # type: ignore[misc]
    alerting = create_model("AlertingConfig", __base__=AlertingConfig,
                            channels=(channel_types, Field(default_factory=dict)))
    return create_model(
        "Config", __base__=Config,
        sources=(source_types, ...),
        datasets=(dict[Name, dataset], Field(default_factory=dict)),  # type: ignore[valid-type]
        alerting=(alerting, _section()),
    )


def _one_of(models: tuple[type[Model], ...]) -> Any:
    """The union of settings models told apart by their `kind`."""
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 (a tuple of classes)


_MODELS: dict[tuple[Any, ...], type[Config]] = {}
