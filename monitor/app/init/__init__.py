"""`demon init`: a starter demon.yml from what the sources hold (tables, schemas, load-time columns).

The sources are the `--source` URLs, or else an existing config's. Each is opened read-only through demon's
own source classes; one that cannot be reached ends the command (nothing written: a starter that has not seen
its source would be guesswork). A password never reaches the file or the terminal: the file names an
environment variable for it. The file is written whole or not at all, and an existing one is replaced only
with `--force`.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from monitor.app.init.starter import MAX_DATASETS, plural, starter, tables_and_views
from monitor.app.init.survey import Findings, SourceFailed, survey
from monitor.app.init.targets import Target, UsageError, from_config, from_urls


class InitError(Exception):
    """Why nothing was written: one line; `usage` for what the command was given (exit 2), else exit 3."""

    def __init__(self, message: str, usage: bool) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class Request:
    urls: tuple[str, ...]
    config_path: Path  # read for its sources when no URL is given
    output: Path
    force: bool


def run_init(request: Request, say: Callable[[str], None]) -> None:
    """Find what the sources hold, write the starter to `request.output`, and say what to do next."""
    output = request.output
    if output.exists() and not request.force:
        raise InitError(_exists(output), usage=True)
    out_dir = output.absolute().parent
    if not out_dir.is_dir():  # said before any source is asked
        raise InitError(f"cannot write {output}: no directory {out_dir}", usage=True)
    try:
        targets = from_urls(request.urls, Path.cwd(), out_dir) if request.urls else _configured(request)
    except UsageError as exc:
        raise InitError(str(exc), usage=True) from None
    findings = [_surveyed(target, out_dir, say) for target in targets]
    write_new(output, starter(findings, str(output)), request.force)
    say(_summary(output, findings))
    for found in findings:
        for variable in found.target.hidden:
            say(f"set {variable} in the environment: the password in source {found.target.name}'s URL")
    say(f"next: demon validate --connect -c {shlex.quote(str(output))}, then demon check")


def _configured(request: Request) -> list[Target]:
    """The sources of the existing config, as its file writes them (validated first, like any command)."""
    from monitor.app.config import ConfigError, load_config

    path = request.config_path
    if not path.exists():
        raise InitError(f"no --source given, and no {path} to take sources from (demon init --source URL)",
                        usage=True)
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise InitError(str(exc), usage=True) from None
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return from_config(raw["sources"], config.base_dir, request.output.absolute().parent)


def _surveyed(target: Target, out_dir: Path, say: Callable[[str], None]) -> Findings:
    try:
        found = survey(target, out_dir)
    except SourceFailed as exc:
        raise InitError(f"{exc} (nothing written)", usage=exc.setup) from None
    say(f"  {target.name}: {_found(found)}")
    for note in found.notes:
        say(f"  {target.name}: warning: {note}")
    return found


def _found(found: Findings) -> str:
    if found.target.kind != "sql":
        return f"{found.where} answers"
    schemas = plural(len({table.schema for table in found.tables}), "schema")
    timed = plural(len(found.suggestions), "table")
    tables = tables_and_views(len(found.tables))
    return f"{tables} in {schemas}, {timed} with a load-time column ({found.where})"


def _summary(output: Path, findings: list[Findings]) -> str:
    datasets = plural(sum(min(len(found.suggestions), MAX_DATASETS) for found in findings), "dataset")
    entries = plural(len(findings), "discover entry", "discover entries")
    return f"wrote {output}: {plural(len(findings), 'source')}, {entries}, {datasets} with a freshness column"


def _exists(output: Path) -> str:
    return f"{output} exists: not overwritten (--force replaces it, or write another file: -o demon.new.yml)"


def write_new(path: Path, text: str, force: bool) -> None:
    """Write `text` to `path` whole or not at all: a temporary file beside it, then linked into place (which
    fails if `path` exists meanwhile), or with `force` renamed over it."""
    try:
        handle, name = tempfile.mkstemp(dir=path.absolute().parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InitError(f"cannot write {path}: {exc.strerror or exc}", usage=True) from None
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        temporary.chmod(0o666 & ~_umask())
        if force:
            temporary.replace(path)
        else:
            os.link(temporary, path)
    except FileExistsError:
        raise InitError(_exists(path), usage=True) from None
    except OSError as exc:
        raise InitError(f"cannot write {path}: {exc.strerror or exc}", usage=False) from None
    finally:
        temporary.unlink(missing_ok=True)


def _umask() -> int:
    """The process's umask (read by setting it, then set back): the file gets a new file's usual mode."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
