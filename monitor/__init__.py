"""demon's monitor: configuration, command line, runner and state store."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`monitor.__version__`, read from the installed metadata only when asked (it costs ~40 ms)."""
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("demon-data")
    except PackageNotFoundError:  # a source tree that was not installed
        return "0.0.0+unknown"
