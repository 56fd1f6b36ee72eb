"""The starter file's text: every section of version 1, what was found written in, and what to tune.

A template rather than a YAML library, because the comments are half of a starter: every value from a source
(names of schemas, tables, columns) goes through `yamltext` and reads back as itself.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable

from checks.discovery.names import dataset_name, table_name, unique_name
from checks.probes import TableState
from checks.sources.catalog import CatalogTable
from monitor.app.init.survey import FRESHNESS_COLUMNS, Findings, Suggestion
from monitor.app.init.targets import literal
from monitor.app.init.yamltext import comment, scalar, source_lines
from monitor.core.config.types import parse_name

MAX_DATASETS = 10  # per source: tables written with their load-time column; the others are named in a comment
MAX_NAMED = 5  # tables named in a comment before "and N more"
DISCOVERED_CHECKS = "[freshness, volume, schema]"

ALERTING = """\
# Where incidents go: without channels they are printed on the console. Uncomment, fill in, keep what you use:
# alerting:
#   channels:
#     team-slack:
#       kind: slack
#       webhook_url: ${SLACK_WEBHOOK_URL}   # an incoming webhook; or token + channel for threads
#     pager:
#       kind: sns
#       topic_arn: arn:aws:sns:us-east-1:123456789012:data-incidents
#   routes:                     # the first match wins; `continue: true` goes on to the next route
#     - match: {severity: critical}
#       notify: [pager]
#       continue: true
#     - notify: [team-slack]    # a route with no match catches the rest
#   repeat_every: 4h            # re-notify an incident that is still open"""

TAIL = """\
metrics:
  listen: 127.0.0.1:9108        # tune: where `demon run` serves /metrics and /healthz, for Prometheus
  # pushgateway: ${PUSHGATEWAY_URL}   # `demon check --push` sends results here (CI)

state:
  url: sqlite:///.demon/state.db   # tune: results, baselines and incidents; PostgreSQL for production
  retention: 90d                # how long results are kept"""


def starter(findings: list[Findings], shown_path: str) -> str:
    """The whole file: sources, defaults, discover entries, datasets, alerting (commented), metrics, state."""
    parts = [
        _header(findings, shown_path),
        ["version: 1"],
        _sources(findings),
        _defaults(),
        _discover(findings),
        _datasets(findings),
        ALERTING.splitlines(),
        TAIL.splitlines(),
    ]
    return "\n\n".join("\n".join(part) for part in parts) + "\n"


def _header(findings: list[Findings], shown_path: str) -> list[str]:
    path = comment(shlex.quote(shown_path))
    lines = [
        "# A starter demon.yml, written by `demon init` from what the sources hold.",
        "# Tune what the comments marked `tune:` say, then:",
        f"#   demon validate --connect -c {path}   # every source answers, every table is there",
        f"#   demon check -c {path}                # every check once, results in the terminal",
        f"#   demon run -c {path}                  # the daemon: checks on schedule, /metrics, notifications",
        "# Every key: `demon schema` (JSON Schema, for editors) and the README's \"Configuration\".",
    ]
    hidden = [(variable, found.target.name) for found in findings for variable in found.target.hidden]
    if hidden:
        lines.append("# Set in the environment first (never written here):")
        lines += [f"#   {variable}: the password in source {source}'s URL" for variable, source in hidden]
    return lines


def _sources(findings: list[Findings]) -> list[str]:
    lines = ["# Where the data is. Relative paths are relative to this file.", "sources:"]
    for found in findings:
        lines += source_lines(found.target)
    return lines


def _defaults() -> list[str]:
    return [
        "defaults:                       # every dataset inherits these unless it sets its own",
        "  schedule: every 15m           # tune: how often `demon run` checks each dataset",
        "  severity: high                # tune: critical | high | medium | low, what a failure is worth",
        "  # owner: data-eng             # tune: who owns the data (routes can send owners' incidents apart)",
    ]


def _discover(findings: list[Findings]) -> list[str]:
    lines = [
        "# Datasets found rather than written: every table and view these entries select, new ones too,",
        "# is watched with metadata-first checks: freshness and volume from the engine's own statistics,",
        "# learned from history (they pass as learning for their first runs), and schema drift. No table",
        "# is scanned.",
    ]
    lines.append("discover:")
    for found in findings:
        lines += _sql_entry(found) if found.target.kind == "sql" else _lake_entry(found)
    return lines


def _sql_entry(found: Findings) -> list[str]:
    schemas = _counted(table.schema for table in found.tables)
    tables = tables_and_views(len(found.tables))
    lines = [f"  # {tables} in {plural(len(schemas), 'schema')}: {comment(found.where)}",
             f"  - source: {found.target.name}"]
    if schemas:
        lines.append("    include:                    # tune: the schemas to watch (schema.table globs)")
        lines += [f"      - {scalar(literal(_schema_glob(schema)))}   # {tables_and_views(count)}"
                  for schema, count in schemas.items()]
    else:
        lines.append('    include: ["*"]              # found no table: tune to the schemas to watch')
    lines += [f"    # {plural(count, 'table')} of schema {comment(schema)} left out: this role cannot read"
              f" {'it' if count == 1 else 'them'}" for schema, count in sorted(found.unreadable.items())]
    lines += [f"    # {comment(note)}" for note in found.notes]
    return [
        *lines,
        '    # exclude: ["*.tmp_*", "*_backup"]   # tune: tables never to watch',
        f"    checks: {DISCOVERED_CHECKS}   # tune: add profile for column profiles",
    ]


def _lake_entry(found: Findings) -> list[str]:
    """An entry over the lake's root: every dataset folder under it."""
    entry = [
        f"- source: {found.target.name}",
        '  include: ["*"]              # tune: path globs of the dataset folders to watch',
        f"  checks: {DISCOVERED_CHECKS}",
    ]
    return [f"  # a {found.target.kind} lake: {comment(found.where)}", *(f"  {line}" for line in entry)]


def _datasets(findings: list[Findings]) -> list[str]:
    written, unwritten = [], []
    for found in findings:
        written += [(found, suggestion) for suggestion in found.suggestions[:MAX_DATASETS]]
        unwritten += found.suggestions[MAX_DATASETS:]
    if not written:
        names = ", ".join(FRESHNESS_COLUMNS[:4])
        return [f"# datasets: none written: no table has an obvious load-time column ({names}, ...)."]
    lines = [
        "# Tables with an obvious load-time column, checked by it: a warning, then a failure, when no new",
        "# rows came for too long. A dataset written here replaces what discover finds for its table, so it",
        "# keeps volume and schema checks too. The names are those discovery would give.",
        "datasets:",
    ]
    taken: set[str] = set()
    for found, suggestion in written:
        lines += _dataset(found, suggestion, taken)
    if unwritten:
        named = ", ".join(f"{comment(item.table.qualified)} ({comment(item.column)})"
                          for item in unwritten[:MAX_NAMED])
        more = f" and {len(unwritten) - MAX_NAMED} more" if len(unwritten) > MAX_NAMED else ""
        lines.append(f"  # {plural(len(unwritten), 'more table')} with one: {named}{more}")
    return lines


def _dataset(found: Findings, suggestion: Suggestion, taken: set[str]) -> list[str]:
    table = suggestion.table
    name = _dataset_name(table, found.default_schema)
    name = unique_name(name, found.target.name, ".".join(table.key), taken)
    taken.add(name)
    column = scalar(literal(suggestion.column))
    freshness = f"{{column: {column}, warn_after: 1d, fail_after: 2d}}"
    return [
        f"  {name}:",
        f"    source: {found.target.name}",
        f"    table: {scalar(literal(table.qualified))}",
        "    checks:",
        f"      - freshness: {freshness}   # tune: how late may a load be?",
        "      - volume: {method: metadata, anomaly: {}}   # the engine's row count, learned",
        "      - schema: {}              # warns when columns are added, removed or retyped",
    ]


def _dataset_name(table: CatalogTable, default_schema: str | None) -> str:
    """Discovery's name for the table, unless it is no valid name (a character no identifier holds)."""
    name = table_name(table.schema, table.name, default_schema)
    try:
        return parse_name(name)
    except ValueError:
        return dataset_name("".join(char if ("_" + char).isidentifier() else "_" for char in name))


def _schema_glob(schema: str) -> str:
    """`schema.*` selecting every table of the schema: the schema as `CatalogTable.qualified` writes it,
    glob characters in it matched literally."""
    part = CatalogTable(schema, "t", False, True, TableState(None, None, None, None)).qualified[: -len(".t")]
    return "".join(f"[{char}]" if char in "*?[" else char for char in part) + ".*"


def _counted(items: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(items).items()))


def tables_and_views(count: int) -> str:
    return plural(count, "table or view", "tables and views")


def plural(count: int, one: str, many: str | None = None) -> str:
    """`1 schema`, `2 schemas`; `many` where adding an s does not make the plural."""
    return f"{count:,} {one if count == 1 else many or one + 's'}"
