"""A wall clock that a test steps while a real `demon` process runs: libfaketime, preloaded into the process,
reads the offset from a file that the test rewrites.

Only the wall clock moves (CLOCK_REALTIME: time.time, datetime.now, SQLite's and DuckDB's now()). The
monotonic clock stays true, as it does when an operator or NTP steps a real machine's clock. demon has no hook
of its own for this: the process under test is the one that ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LIBRARY = "libfaketimeMT.so.1"  # the thread-safe build: the daemon is multithreaded
_MISSING = "libfaketime is not installed: apt-get install libfaketime (or run .ci/run)"


def library() -> Path:
    found = sorted(Path("/usr/lib").glob(f"*/faketime/{LIBRARY}"))
    if not found:
        raise RuntimeError(_MISSING)
    return found[0]


@dataclass
class FakeClock:
    """The offset file at `path`; `env()` is what a process needs in its environment to follow it."""

    path: Path

    def __post_init__(self) -> None:
        self.step(0)

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": str(library()),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_CACHE_DURATION": "1",  # read the file again at most a second after it changed
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    def step(self, seconds: int) -> None:
        """Put the wall clock `seconds` away from the true time (0: back to it), atomically."""
        written = self.path.with_suffix(".new")
        written.write_text(f"{seconds:+d}\n")
        written.replace(self.path)
