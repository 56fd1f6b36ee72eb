"""The installed distribution: its name, its version, and which of its extras installs a missing module.

Drivers and channel libraries are imported only when a source or channel of their kind is used, so a
missing one shows at that moment; every such place words it through `missing_module`, naming the command
that installs it.
"""

from __future__ import annotations

import importlib
from typing import Any

# The PyPI name: `demon` itself belongs to an unrelated project. The command is still `demon`.
DISTRIBUTION = "demon-data"
_OWN_PACKAGES = frozenset({"monitor", "checks", "alerting", "dashboards"})

# Top-level module -> the extra of DISTRIBUTION that installs it.
EXTRAS: dict[str, str] = {
    "boto3": "s3",
    "botocore": "s3",
    "slack_sdk": "slack",
    "psycopg": "postgres",
    "psycopg_binary": "postgres",
}
# Modules no extra installs, with what to do instead.
OTHER_HINTS: dict[str, str] = {
    "psycopg2": f"write the URL as postgresql+psycopg://... and pip install '{DISTRIBUTION}[postgres]'"
                " (or pip install psycopg2-binary)",
}


def version() -> str:
    """The installed version, read from the metadata only when asked (it costs ~40 ms)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:  # a source tree that was not installed
        return "0.0.0+unknown"


def install_command(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_module(error: ModuleNotFoundError) -> str:
    """`<module> is not installed: <how to install it>` for an import that failed."""
    module = (error.name or str(error)).partition(".")[0]
    if module in EXTRAS:
        return f"{module} is not installed: {install_command(EXTRAS[module])}"
    hint = OTHER_HINTS.get(module, "install the package that provides it into demon's environment")
    return f"{module} is not installed: {hint}"


class MissingModule(Exception):
    """An optional dependency is not installed; the message says which and how to install it."""


def load(target: str) -> Any:
    """The object at `module:attribute`, importing the module (and what it needs) now.

    Registries name their entries this way so heavy or optional libraries load only when used.
    """
    module, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] in _OWN_PACKAGES:
            raise  # a module of demon's own is missing: a broken install or a bug, not an extra
        raise MissingModule(missing_module(error)) from None
