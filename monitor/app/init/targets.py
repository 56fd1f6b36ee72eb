"""What `demon init` is asked to watch: each `--source` (or an existing config's source) as the settings it
writes under `sources:`, named readably, paths relative to the new file, and never a password in them.

Settings are kept as the file's text: strings are *templates*, where `$` is written `$$` and `${VAR}` is a
reference to the environment, exactly as the config loader reads them back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

from checks.discovery.names import dataset_name
from checks.sources.dialects import profile_for
from monitor.core.config.types import parse_name
from monitor.core.redact import mask_url

URL_FORMS = "postgresql://user:password@host/db, duckdb:///path.duckdb, s3://bucket/prefix or a directory"
S3_ENDPOINT = "${S3_ENDPOINT_URL:-}"  # as demon.example.yml writes it: an S3-compatible store, or AWS
# Where a URL holds a password, as SQLAlchemy reads it: `scheme://user:PASSWORD@` (up to the first `@`), and a
# `password=` query parameter (libpq's).
_USERINFO_PASSWORD = re.compile(r"^(?P<head>[\w+]+://[^:/]*:)(?P<secret>[^@]*)(?=@)")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<secret>[^&]*)")


class UsageError(Exception):
    """A `--source` that cannot be used as given: one line, no password in it."""


@dataclass(frozen=True)
class Target:
    """A source as the starter writes it. `hidden` maps each variable that stands for a password in
    `settings` to its value: to connect with now, never to write or print."""

    name: str
    settings: dict[str, Any]
    hidden: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.settings["kind"])


def literal(text: str) -> str:
    """Text as a template that reads back as itself (`$` is written `$$`)."""
    return text.replace("$", "$$")


def from_urls(urls: Iterable[str], cwd: Path, out_dir: Path) -> list[Target]:
    """One source per `--source`; relative paths are the caller's (`cwd`), written relative to `out_dir`."""
    targets: list[Target] = []
    for url in urls:
        settings, hint = _settings(url, cwd)
        targets.append(_target(rebased(settings, cwd, out_dir), hint, targets))
    return targets


def from_config(raw: dict[str, dict[str, Any]], config_dir: Path, out_dir: Path) -> list[Target]:
    """An existing config's sources as its file writes them (`${VAR}` references kept), moved to `out_dir`."""
    targets: list[Target] = []
    for name, settings in raw.items():
        targets.append(_secured(Target(name, rebased(dict(settings), config_dir, out_dir)), targets))
    return targets


def _target(settings: dict[str, Any], hint: str, others: list[Target]) -> Target:
    taken = {other.name for other in others}
    base = _name(hint) or ("warehouse" if settings["kind"] == "sql" else "lake")
    name = next(candidate for index in range(1, len(taken) + 2)
                if (candidate := base if index == 1 else f"{base}-{index}") not in taken)
    return _secured(Target(name, settings), others)


def _name(hint: str) -> str | None:
    """A source name from a database, bucket or folder name, if one makes a valid name."""
    name = dataset_name(hint) if hint else ""
    try:
        return parse_name(name)
    except ValueError:
        return None


def _settings(url: str, cwd: Path) -> tuple[dict[str, Any], str]:
    """The settings (templates) of one `--source`, and a hint of its name."""
    if "://" not in url:
        return _directory(Path(url).expanduser(), url, cwd)
    scheme = url.partition("://")[0].lower()
    if scheme == "s3":
        return _s3(url)
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"--source {url}: expected file:///absolute/path (a directory of this machine)")
        return _directory(Path(unquote(parts.path)), url, cwd)
    return _sql(url)


def _directory(path: Path, given: str, cwd: Path) -> tuple[dict[str, Any], str]:
    if not (cwd / path).is_dir():
        raise UsageError(f"--source {given}: not a directory, nor a URL (expected {URL_FORMS})")
    return {"kind": "files", "root": literal(str(path))}, (cwd / path).resolve().name


def _s3(url: str) -> tuple[dict[str, Any], str]:
    parts = urlsplit(url)
    if not parts.netloc or parts.query or parts.fragment:
        raise UsageError(f"--source {url}: expected s3://bucket or s3://bucket/prefix/")
    prefix = parts.path.strip("/")
    settings: dict[str, Any] = {"kind": "s3", "bucket": literal(parts.netloc)}
    if prefix:
        settings["prefix"] = literal(f"{prefix}/")
    return {**settings, "endpoint_url": S3_ENDPOINT}, parts.netloc


def _sql(url: str) -> tuple[dict[str, Any], str]:
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise UsageError(f"--source {mask_url(url)}: not a valid URL (expected {URL_FORMS})") from None
    database = parsed.database or ""
    local = profile_for(parsed.get_backend_name()).is_local_file(parsed)
    hint = Path(database).stem if local else ("" if database.startswith(":") else database)  # `:memory:`
    return {"kind": "sql", "url": literal(url), "query_timeout": "30s"}, hint


def rebased(settings: dict[str, Any], from_dir: Path, to_dir: Path) -> dict[str, Any]:
    """Settings whose relative paths (a `files` root, a DuckDB or SQLite file) meant `from_dir`, now
    relative to `to_dir`, where the new file is. Templates holding `${VAR}` are left as written."""
    moved = dict(settings)
    if settings["kind"] == "files":
        moved["root"] = _moved(settings["root"], from_dir, to_dir)
    elif settings["kind"] == "sql" and "${" not in settings["url"]:
        moved["url"] = _moved_database(settings["url"], from_dir, to_dir)
    return moved


def _moved(template: str, from_dir: Path, to_dir: Path) -> str:
    text = template.replace("$$", "$")
    if "${" in template or text.startswith("~") or Path(text).is_absolute():
        return template
    return literal(os.path.relpath(from_dir / text, to_dir))


def _moved_database(template: str, from_dir: Path, to_dir: Path) -> str:
    url = sa.make_url(template.replace("$$", "$"))
    database = url.database or ""
    if not profile_for(url.get_backend_name()).is_local_file(url) or Path(database).is_absolute():
        return template
    moved = _moved(literal(database), from_dir, to_dir).replace("$$", "$")
    if moved == database:
        return template
    return literal(url.set(database=moved).render_as_string(hide_password=False))


def _secured(target: Target, others: list[Target]) -> Target:
    """The target with each password of its URL replaced by a `${VAR}` reference (named after the source)."""
    url = target.settings.get("url")
    if target.kind != "sql" or not isinstance(url, str) or "${" in url:
        return target
    taken = {variable for other in others for variable in other.hidden}
    hidden: dict[str, str] = {}

    def hide(match: re.Match[str]) -> str:
        variable = _variable(target.name, taken | hidden.keys())
        hidden[variable] = match["secret"].replace("$$", "$")
        return f"{match['head']}${{{variable}}}"

    url = _QUERY_PASSWORD.sub(hide, _USERINFO_PASSWORD.sub(hide, url, count=1))
    return Target(target.name, {**target.settings, "url": url}, hidden)


def _variable(source: str, taken: set[str]) -> str:
    """`WAREHOUSE_PASSWORD`, or `..._2` when taken: an environment variable's name (ASCII, no digit first)."""
    stem = re.sub(r"[^A-Za-z0-9]", "_", source).upper()
    base = f"{'_' if stem[:1].isdigit() else ''}{stem}_PASSWORD"
    return next(candidate for index in range(1, len(taken) + 2)
                if (candidate := base if index == 1 else f"{base}_{index}") not in taken)
