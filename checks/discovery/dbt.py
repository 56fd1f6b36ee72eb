"""dbt's artifacts as typed records: `manifest.json` (what a project builds) and `run_results.json` (how its
last invocation went), read with the stdlib's json and validated here, so nothing past this module meets
dbt's raw JSON and demon needs no dbt installed.

Only the fields demon reads are modelled; the rest of dbt's (large, version-dependent) schema is ignored.
Supported: the versions dbt 1.5-1.10 write (manifest v9-v12, run_results v4-v6). Every failure is a
`DbtArtifactError` of one line naming the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Artifact (as dbt's schema URLs spell it) -> its name in messages and the versions dbt 1.5-1.10 write.
SUPPORTED = {"manifest": ("manifest", range(9, 13)), "run-results": ("run_results", range(4, 7))}
DBT_RELEASES = "dbt 1.5-1.10"
_VERSION = re.compile(r"/(manifest|run-results)/v(\d+)\.json$")
READ_TYPES = frozenset({"model", "seed", "snapshot", "test"})  # of `nodes`; `sources` are read whole
DATASET_TYPES = frozenset({"model", "seed", "snapshot", "source"})


class DbtArtifactError(Exception):
    """A dbt artifact that cannot be read: missing, not JSON, not the expected artifact or version."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Metadata(_Record):
    dbt_schema_version: str
    generated_at: str | None = None


class _Artifact(_Record):
    metadata: Metadata


A = TypeVar("A", bound=_Artifact)


class DependsOn(_Record):
    nodes: list[str] = Field(default_factory=list)


class NodeConfig(_Record):
    enabled: bool = True
    materialized: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class Node(_Record):
    """A model, seed, snapshot, test (under `nodes`) or a source table (under `sources`)."""

    unique_id: str
    resource_type: str
    name: str
    database: str | None = None
    schema_name: str | None = Field(default=None, alias="schema")
    alias: str | None = None
    identifier: str | None = None  # sources
    relation_name: str | None = None
    version: str | int | float | None = None  # a versioned model's
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)
    group: str | None = None
    config: NodeConfig = Field(default_factory=NodeConfig)
    depends_on: DependsOn = Field(default_factory=DependsOn)
    attached_node: str | None = None  # a generic test's model
    source_name: str | None = None  # sources
    source_meta: dict[str, Any] = Field(default_factory=dict)  # sources: the source's, beside the table's

    @property
    def relation(self) -> str | None:
        """The table as dbt names it, its `relation_name` (`"db"."schema"."table"`), else built from parts."""
        if self.relation_name:
            return self.relation_name
        table = self.alias or self.identifier or self.name
        if not self.schema_name:
            return None
        return ".".join(_quoted(part) for part in (self.database, self.schema_name, table) if part)

    @property
    def owner(self) -> str | None:
        """`meta.owner` of the node (or its config), else of its source."""
        for meta in (self.config.meta, self.meta, self.source_meta):
            owner = meta.get("owner")
            if isinstance(owner, str) and owner.strip():
                return owner.strip()
        return None

    @property
    def ephemeral(self) -> bool:
        """A model dbt inlines into the models that read it: no relation of its own."""
        return self.config.materialized == "ephemeral"

    @property
    def dataset(self) -> bool:
        """A relation dbt builds or reads: an enabled model (not ephemeral), seed, snapshot or source."""
        return self.resource_type in DATASET_TYPES and self.config.enabled and not self.ephemeral


class GroupOwner(_Record):
    name: str | None = None
    email: str | list[str] | None = None


class Group(_Record):
    name: str
    owner: GroupOwner = Field(default_factory=GroupOwner)

    @property
    def owned_by(self) -> str | None:
        """The group owner's name, else (the first of) its email."""
        emails = [self.owner.email] if isinstance(self.owner.email, str) else self.owner.email or []
        return self.owner.name or next(iter(emails), None)


class _ManifestShape(_Artifact):
    """The top level only: a node that dbt wrote oddly costs that node, not the project."""

    nodes: dict[str, dict[str, Any]]
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    groups: dict[str, Group] = Field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    nodes: Mapping[str, Node]  # models, seeds, snapshots, tests and sources by unique_id
    groups: Mapping[str, Group]  # by name
    unreadable: tuple[str, ...] = ()  # unique_ids of nodes that did not parse

    def group_owner(self, node: Node) -> str | None:
        group = self.groups.get(node.group) if node.group else None
        return group.owned_by if group is not None else None


class NodeRun(_Record):
    """One node's outcome in `run_results.json`."""

    unique_id: str
    status: str
    message: str | None = None
    failures: int | None = None


class _RunResultsShape(_Artifact):
    results: list[NodeRun]


@dataclass(frozen=True)
class RunResults:
    generated_at: str | None
    runs: Mapping[str, NodeRun]  # by unique_id


def read_manifest(path: Path) -> Manifest:
    shape = _validated(_ManifestShape, path, "manifest")
    nodes: dict[str, Node] = {}
    unreadable: list[str] = []
    wanted = {**{key: raw for key, raw in shape.nodes.items() if _wanted(raw)}, **shape.sources}
    for unique_id, raw in wanted.items():
        try:
            nodes[unique_id] = Node.model_validate(raw)
        except ValidationError:
            unreadable.append(unique_id)
    groups = {group.name: group for group in shape.groups.values()}
    return Manifest(nodes, groups, tuple(unreadable))


def read_run_results(path: Path) -> RunResults:
    """The last outcome of every node in `run_results.json`, parsed once per version of the file (each
    dataset's checks ask for it in turn)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise DbtArtifactError(f"cannot read dbt run_results {path}: {exc.strerror or exc}") from None
    return _run_results(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _run_results(path: Path, mtime_ns: int, size: int) -> RunResults:
    shape = _validated(_RunResultsShape, path, "run-results")
    return RunResults(shape.metadata.generated_at, {run.unique_id: run for run in shape.results})


def _wanted(raw: Any) -> bool:
    return isinstance(raw, dict) and raw.get("resource_type") in READ_TYPES


def _validated(model: type[A], path: Path, artifact: str) -> A:
    name, supported = SUPPORTED[artifact]
    what = f"dbt {name} {path}"
    document = _json(path, what)
    version = _version(document, what, artifact)
    if version not in supported:
        raise DbtArtifactError(
            f"{what}: {name} v{version} is not supported"
            f" (demon reads v{supported.start}-v{supported.stop - 1}, {DBT_RELEASES})"
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the top level"
        raise DbtArtifactError(f"{what} is not a dbt {name}: {where}: {error['msg']}") from None


def _json(path: Path, what: str) -> Any:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise DbtArtifactError(f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DbtArtifactError(f"{what} is not valid JSON: {_json_error(exc)}") from None


def _json_error(exc: json.JSONDecodeError | UnicodeDecodeError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return "not UTF-8 text"


def _version(document: Any, what: str, artifact: str) -> int:
    """The artifact's schema version, from `metadata.dbt_schema_version` (`.../manifest/v12.json`)."""
    metadata = document.get("metadata") if isinstance(document, dict) else None
    written = metadata.get("dbt_schema_version") if isinstance(metadata, dict) else None
    found = _VERSION.search(written) if isinstance(written, str) else None
    if found is None or found.group(1) != artifact:
        said = f"metadata.dbt_schema_version is {written!r}" if written else "no metadata.dbt_schema_version"
        raise DbtArtifactError(f"{what} is not a dbt {SUPPORTED[artifact][0]}: {said}")
    return int(found.group(2))


def _quoted(part: str) -> str:
    return '"{}"'.format(part.replace('"', '""'))
