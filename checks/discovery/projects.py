"""A dbt project's models, seeds, snapshots and sources, read from its `manifest.json`, as datasets on the
entry's sql source; with `run_results`, each of its tests as a `dbt` check on the dataset it tests.

Names are dbt's own (`customers`; a source table `shop_raw-orders`; a versioned model `dim_customers-v2`), so
they read as the project does and stay put while the project does. The entry's `include`/`exclude` globs
match the same names dbt's selectors use: a node's name, or `source_name.table` for a source table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any

from checks.discovery.dbt import DbtArtifactError, Manifest, Node, read_manifest
from checks.discovery.defaults import SQL_TABLE, SQL_VIEW, Written, checks_of
from checks.discovery.model import Candidate, DiscoverContext, DiscoveryError, Found, Key
from checks.discovery.names import dataset_name
from checks.discovery.tables import shared
from monitor.core.config.models import DiscoverConfig

MAX_DESCRIPTION = 500  # characters of a node's description kept (docs blocks can be pages long)


def find_models(entry: DiscoverConfig, context: DiscoverContext) -> Found:
    assert entry.dbt is not None  # the registry sends only dbt entries here
    try:
        manifest = read_manifest(context.config.base_dir / entry.dbt)
    except DbtArtifactError as exc:
        raise DiscoveryError(str(exc)) from None
    chosen = {unique_id: node for unique_id, node in manifest.nodes.items()
              if node.dataset and _selected(node, entry.include, entry.exclude)}
    keys = {unique_id: context.key_of(table) for unique_id, node in chosen.items()
            if (table := node.relation) is not None}
    tests = _tests_by_node(manifest, keys, entry.run_results)
    candidates = [
        Candidate(_name(node), _fields(entry, manifest, node, tests.get(unique_id, [])), "dbt",
                  keys[unique_id], tuple(dict.fromkeys(_upstream(manifest, node, keys))))
        for unique_id, node in chosen.items() if unique_id in keys
    ]
    return Found(candidates, _problems(entry, manifest, chosen, keys))


def _selected(node: Node, include: list[str], exclude: list[str]) -> bool:
    """Case-insensitive globs over the name dbt selects a node by; exclude wins."""
    name = f"{node.source_name}.{node.name}" if node.resource_type == "source" else node.name

    def matches(pattern: str) -> bool:
        return fnmatchcase(name.lower(), pattern.lower())

    return any(map(matches, include)) and not any(map(matches, exclude))


def _name(node: Node) -> str:
    if node.resource_type == "source":
        return dataset_name(node.source_name or "", node.name)
    return dataset_name(node.name, f"v{node.version}" if node.version is not None else "")


def _fields(
    entry: DiscoverConfig, manifest: Manifest, node: Node, tests: list[Written]
) -> dict[str, Any]:
    written = SQL_VIEW if node.config.materialized == "view" else SQL_TABLE
    fields = {
        **shared(entry),
        "source": entry.source,
        "table": node.relation,
        "checks": checks_of(entry.checks, written) + tests,
        "tags": list(dict.fromkeys([*node.tags, *entry.tags])),
    }
    owner = node.owner or manifest.group_owner(node) or entry.owner
    description = " ".join((node.description or "").split())
    optional = {"owner": owner, "description": _clipped(description)}
    return {**fields, **{key: value for key, value in optional.items() if value}}


def _clipped(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[:MAX_DESCRIPTION - 1] + "…"


def _upstream(manifest: Manifest, node: Node, keys: Mapping[str, Key]) -> Iterator[Key]:
    """The keys of the datasets a node reads; through ephemeral models, which dbt inlines into their
    readers (so they hold no table of their own)."""
    for parent in node.depends_on.nodes:
        if parent in keys:
            yield keys[parent]
        elif (inlined := manifest.nodes.get(parent)) is not None and inlined.ephemeral:
            yield from _upstream(manifest, inlined, keys)


def _tests_by_node(
    manifest: Manifest, keys: Mapping[str, Key], run_results: str | None
) -> dict[str, list[Written]]:
    """Each enabled test as a `dbt` check of the dataset it tests: its `attached_node` (a generic test's
    model), else the first node it depends on that is a dataset (a singular test's). None without
    `run_results`: the outcomes are there."""
    found: dict[str, list[Written]] = {}
    if run_results is None:
        return found
    for test in manifest.nodes.values():
        if test.resource_type != "test" or not test.config.enabled:
            continue
        parents = [test.attached_node] if test.attached_node else test.depends_on.nodes
        target = next((parent for parent in parents if parent in keys), None)
        if target is not None:
            checks = found.setdefault(target, [])
            checks.append({"dbt": {"name": _check_name(test, checks), "test": test.unique_id,
                                   "run_results": run_results}})
    return found


def _check_name(test: Node, taken: list[Written]) -> str:
    """The test's name as a check name (the check's id is `<dataset>.dbt.<name>`); should two tests of one
    dataset read alike once sanitised, the second gets a digest of its unique_id."""
    name = dataset_name(test.name)
    if any(check["dbt"]["name"] == name for check in taken):
        name = dataset_name(test.name, hashlib.sha1(test.unique_id.encode()).hexdigest()[:6])
    return name


def _problems(
    entry: DiscoverConfig, manifest: Manifest, chosen: Mapping[str, Node], keys: Mapping[str, Key]
) -> list[str]:
    problems = [f"{entry.dbt}: {unique_id} left out: it does not read as a dbt node"
                for unique_id in manifest.unreadable]
    problems += [f"{entry.dbt}: {unique_id} left out: the manifest names no schema for it"
                 for unique_id in chosen if unique_id not in keys]
    datasets = [node for node in manifest.nodes.values() if node.dataset]
    problems += [f"include {pattern!r} matched no model, seed, snapshot or source of {entry.dbt}"
                 for pattern in entry.include
                 if not any(_selected(node, [pattern], []) for node in datasets)]
    return problems
