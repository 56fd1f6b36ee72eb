"""`--select` and `--tag`: which checks of the config a command runs."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from monitor.config.models import CheckSpec, Config


def select(config: Config, globs: Sequence[str], tags: Sequence[str]) -> list[CheckSpec]:
    """Checks whose id or dataset matches any glob, and whose dataset has any of the tags.

    An empty list of globs (or tags) selects everything on that axis, as in dbt and Soda.
    """
    return [
        spec
        for spec in config.checks
        if (not globs or any(fnmatchcase(spec.id, g) or fnmatchcase(spec.dataset, g) for g in globs))
        and (not tags or set(tags) & set(config.datasets[spec.dataset].tags))
    ]
