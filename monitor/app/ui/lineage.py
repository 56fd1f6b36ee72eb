"""The lineage graph's layout: datasets in columns by how far downstream they sit, edges as curves.

Computed here rather than in the browser, so the report needs no graph library and the graph draws
without scripts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.app.ui.model import DatasetView

NODE_WIDTH, NODE_HEIGHT, COLUMN_GAP, ROW_GAP, MARGIN = 190, 34, 70, 14, 10
LABEL = 22  # characters of a name drawn in a node (the full name is its title)


@dataclass(frozen=True)
class Node:
    name: str
    label: str
    outcome: str
    x: int
    y: int


@dataclass(frozen=True)
class Edge:
    path: str
    outcome: str  # of the upstream end: a failing parent colours what it feeds


@dataclass(frozen=True)
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int


def layout(datasets: Sequence[DatasetView]) -> Graph:
    """Datasets that have an upstream or a downstream, each in the column after its deepest parent."""
    known = {dataset.name: dataset for dataset in datasets}
    linked = [dataset for dataset in datasets if dataset.upstream or dataset.downstream]
    depth = {dataset.name: 0 for dataset in linked}
    for _ in range(len(linked)):  # longest path; a cycle stops growing after len(linked) rounds
        changed = False
        for dataset in linked:
            deepest = max((depth.get(parent, 0) + 1 for parent in dataset.upstream if parent in known),
                          default=0)
            if deepest > depth[dataset.name]:
                depth[dataset.name], changed = deepest, True
        if not changed:
            break
    columns: dict[int, list[str]] = {}
    for name in sorted(depth, key=lambda name: (depth[name], name)):
        columns.setdefault(depth[name], []).append(name)
    places: dict[str, tuple[int, int]] = {}
    for column, names in columns.items():
        for row, name in enumerate(names):
            x, y = column * (NODE_WIDTH + COLUMN_GAP), row * (NODE_HEIGHT + ROW_GAP)
            places[name] = (MARGIN + x, MARGIN + y)
    nodes = [Node(name, name if len(name) <= LABEL else name[:LABEL - 1] + "…", known[name].outcome, x, y)
             for name, (x, y) in places.items()]
    edges = [Edge(_curve(places[parent], places[dataset.name]), known[parent].outcome)
             for dataset in linked for parent in dataset.upstream if parent in places]
    width = max((x for x, _ in places.values()), default=0) + NODE_WIDTH + 2 * MARGIN
    height = max((y for _, y in places.values()), default=0) + NODE_HEIGHT + 2 * MARGIN
    return Graph(nodes, edges, width, height)


def _curve(start: tuple[int, int], end: tuple[int, int]) -> str:
    x1, y1 = start[0] + NODE_WIDTH, start[1] + NODE_HEIGHT // 2
    x2, y2 = end[0], end[1] + NODE_HEIGHT // 2
    middle = (x1 + x2) // 2
    return f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}"
