"""demon's monitor: configuration, command line, runner and state store."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("demon")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
