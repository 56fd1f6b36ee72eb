"""Config problems, each pinned to a file, a line and the path of the field it concerns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigIssue:
    """One problem, as `demon.yml:42: datasets.d.checks[2].volume.min: expected a number, got 'abc'`."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return printable(text)


def printable(text: str) -> str:
    """Control and other invisible characters escaped (`\\x1b`, `\\x07`, `\\u202e`): a value from the file
    must not recolour, ring or reorder the terminal, nor break the one line of its problem."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class ConfigError(Exception):
    """Every problem found in a config file, sorted by line; `str()` gives one line per problem."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues = sorted(issues, key=lambda issue: (issue.line or 0, issue.path))
        super().__init__("\n".join(str(issue) for issue in self.issues))
