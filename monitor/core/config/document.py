"""A parsed config file: plain data plus the line of every field, to point problems at the right place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.core.config.errors import ConfigIssue
from monitor.core.redact import Redactor

Loc = tuple[str | int, ...]


def format_path(loc: Loc) -> str:
    """`("datasets", "d", "checks", 2, "volume")` -> `datasets.d.checks[2].volume`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass(frozen=True)
class Document:
    """The data of one file; `lines` maps each path to the line (1-based) of its key or list item."""

    file: str
    data: Any
    lines: Mapping[Loc, int]
    secrets: frozenset[str]

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest recorded ancestor (a missing key points at its parent)."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def issue(self, loc: Loc, message: str) -> ConfigIssue:
        """An issue at `loc`; environment values and URL passwords are masked out of the message."""
        return ConfigIssue(self.file, self.line_of(loc), format_path(loc), Redactor(self.secrets)(message))
