"""`--select` and `--tag`: which checks of the config a command runs."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from monitor.core.config.models import CheckSpec, Config
from monitor.core.humanize import closest, did_you_mean, suggestion

_WILDCARDS = frozenset("*?[")


def select(config: Config, globs: Sequence[str], tags: Sequence[str]) -> list[CheckSpec]:
    """Checks whose id or dataset matches any glob, and whose dataset has any of the tags.

    An empty list of globs (or tags) selects everything on that axis, as in dbt and Soda.
    """
    return [
        spec
        for spec in config.checks
        if (not globs or any(_matches(spec, glob) for glob in globs))
        and (not tags or set(tags) & set(config.datasets[spec.dataset].tags))
    ]


def unmatched(config: Config, globs: Sequence[str], tags: Sequence[str]) -> list[str]:
    """Each glob and tag that selects nothing, with the nearest that would: for a warning or an error."""
    problems = []
    for glob in globs:
        if not any(_matches(spec, glob) for spec in config.checks):
            problems.append(f"--select {glob!r} matches no check{suggestion(_nearest_glob(config, glob))}")
    known = {tag for dataset in config.datasets.values() for tag in dataset.tags}
    problems += [f"--tag {tag!r}: no dataset has this tag{did_you_mean(tag, known)}"
                 for tag in tags if tag not in known]
    return problems


def _matches(spec: CheckSpec, glob: str) -> bool:
    return fnmatchcase(spec.id, glob) or fnmatchcase(spec.dataset, glob)


def _nearest_glob(config: Config, glob: str) -> list[str]:
    """`fact_order.*` -> `fact_orders.*`: the dataset part corrected when it is literal, else the nearest
    check id or dataset name."""
    head, dot, rest = glob.partition(".")
    if dot and not _WILDCARDS & set(head):
        fixed = [f"{name}.{rest}" for name in closest(head, config.datasets)]
        if fixed and any(_matches(spec, fixed[0]) for spec in config.checks):
            return fixed
    return closest(glob, [*config.datasets, *(spec.id for spec in config.checks)])
