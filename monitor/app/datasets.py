"""`demon datasets`: what demon watches, and where each dataset came from (config, discover, dbt)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TextIO, get_args

from monitor.core.config.models import Config, Origin

_EITHER = ("table", "path")  # a dataset has one of them: the other is left out of the JSON


@dataclass(frozen=True)
class Watched:
    """One dataset as `demon datasets` lists it (the JSON keys are the spec's)."""

    name: str
    source: str
    table: str | None
    path: str | None
    owner: str | None
    upstream: list[str]
    checks: list[str]
    origin: Origin

    def to_dict(self) -> dict[str, object]:
        shown = asdict(self)
        return {key: value for key, value in shown.items() if value is not None or key not in _EITHER}


def listing(config: Config) -> list[Watched]:
    checks: dict[str, list[str]] = {}
    for spec in config.checks:
        checks.setdefault(spec.dataset, []).append(spec.id)
    return [
        Watched(name, dataset.source, dataset.table, dataset.path, dataset.owner, list(dataset.upstream),
                checks.get(name, []), config.origin(name))
        for name, dataset in config.datasets.items()
    ]


def write_json(watched: list[Watched], stream: TextIO) -> None:
    json.dump({"datasets": [item.to_dict() for item in watched]}, stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def write_table(watched: list[Watched], stream: TextIO) -> None:
    """Aligned plain lines: name, origin, source, table or path, owner, checks and upstream."""
    titles = ("dataset", "origin", "source", "table/path", "owner", "checks", "upstream")
    rows = [(item.name, item.origin, item.source, item.table or item.path or "", item.owner or "",
             str(len(item.checks)), ", ".join(item.upstream)) for item in watched]
    widths = [max(len(row[index]) for row in [titles, *rows]) for index in range(len(titles) - 1)]
    for row in [tuple(title.upper() for title in titles), *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        stream.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
    origins = Counter(item.origin for item in watched)
    counts = ", ".join(f"{origins[origin]} {origin}" for origin in get_args(Origin))
    stream.write(f"{len(watched)} datasets: {counts}\n")
