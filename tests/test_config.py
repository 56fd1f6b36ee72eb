"""Loading demon.yml: the canonical example, and every kind of mistake pinned to its line and field."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from alerting.channels.settings import PagerDutyChannelConfig, TeamsChannelConfig
from checks.kinds.freshness import FreshnessParams
from checks.kinds.schema import SchemaParams
from checks.kinds.volume import VolumeParams
from checks.sources.settings import S3SourceConfig, SqlSourceConfig
from monitor.app.config import Config, ConfigError, config_json_schema, load_config
from monitor.core.config.types import Severity

EXAMPLE = Path(__file__).parent / "fixtures" / "demon.example.yml"  # a copy of ../shared/spec's
ROUTING_KEY = "R0123456789abcdef0123456789ABCDE"
TEAMS_URL = "https://example.webhook.office.com/webhookb2/t-0/IncomingWebhook/s3cret/u-0"
TOP_LEVEL = "a mapping of settings (version:, sources:, datasets:, ...)"

# Line numbers below refer to this file; each test changes one fragment in place.
BASE = """\
version: 1
sources:
  warehouse:
    kind: sql
    url: duckdb:///w.duckdb
  lake:
    kind: files
    root: lake
datasets:
  orders:
    source: warehouse
    table: main.orders
    checks:
      - freshness:
          column: loaded_at
          fail_after: 6h
      - volume:
          min: 1
  events:
    source: lake
    path: events/
    format: parquet
    checks:
      - volume: {min: 1}
alerting:
  channels:
    terminal:
      kind: console
  routes:
    - notify: [terminal]
"""


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory so messages name `demon.yml` as the user would type it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(text: str) -> Path:
    path = Path("demon.yml")
    path.write_text(text, encoding="utf-8")
    return path


def edited(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


def warehouse(config: Config) -> SqlSourceConfig:
    source = config.sources["warehouse"]
    assert isinstance(source, SqlSourceConfig)
    return source


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(text))
    return str(caught.value).splitlines()


# --- the canonical example --------------------------------------------------------------------------


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Config:
    for name in ("WAREHOUSE_URL", "S3_ENDPOINT_URL", "SLACK_API_URL", "SNS_ENDPOINT_URL", "GRAFANA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PUSHGATEWAY_URL", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1234-secret")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/secret")
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", TEAMS_URL)
    return load_config(EXAMPLE)


def test_example_has_every_check_with_its_stable_id(example: Config) -> None:
    assert [check.id for check in example.checks] == [
        "fact_orders.freshness",
        "fact_orders.volume",
        "fact_orders.schema",
        "fact_orders.quality",
        "fact_orders.metric.negative_totals",
        "raw_orders.freshness",
        "raw_orders.volume",
        "raw_orders.schema",
        "raw_orders.quality",
        "dim_customers.volume",
        "dim_customers.freshness",
    ]
    assert example.path == str(EXAMPLE)
    assert example.base_dir == EXAMPLE.parent


def test_example_inherits_defaults_and_schedules(example: Config) -> None:
    fact, raw, dim = (example.datasets[name] for name in ("fact_orders", "raw_orders", "dim_customers"))
    assert (fact.owner, fact.severity) == ("sales-analytics", Severity.CRITICAL)
    assert (raw.owner, raw.severity) == ("platform", Severity.HIGH)
    assert (dim.owner, dim.severity) == ("data-eng", Severity.HIGH)
    assert fact.schedule is not None and fact.schedule.cron == "*/10 * * * *"
    assert fact.schedule.interval is None
    assert dim.schedule is not None and dim.schedule.interval == 900.0
    assert fact.upstream == ["raw_orders"] and fact.pii_columns == ["customer_email"]


def test_example_durations_in_seconds_and_percentages_as_fractions(example: Config) -> None:
    fact = {check.kind: check.params for check in example.checks if check.dataset == "fact_orders"}
    freshness, volume = fact["freshness"], fact["volume"]
    assert isinstance(freshness, FreshnessParams) and isinstance(volume, VolumeParams)
    assert (freshness.warn_after, freshness.fail_after) == (7200.0, 21600.0)
    assert (volume.max_drop, volume.max_growth, volume.min) == (0.5, 3.0, 1000.0)
    dim_freshness = example.checks[-1].params
    assert isinstance(dim_freshness, FreshnessParams) and dim_freshness.fail_after == 86400.0
    assert warehouse(example).query_timeout == 30.0
    assert (example.alerting.repeat_every, example.state.retention) == (4 * 3600.0, 90 * 86400.0)


def test_example_env_defaults_and_secrets(example: Config) -> None:
    lake = example.sources["lake"]
    assert warehouse(example).url == "duckdb:///demo/warehouse.duckdb"
    assert isinstance(lake, S3SourceConfig) and lake.endpoint_url is None  # `${S3_ENDPOINT_URL:-}`: unset
    assert example.secrets == {"xoxb-1234-secret", "https://hooks.slack.com/services/T0/B0/secret",
                               ROUTING_KEY, TEAMS_URL}
    oncall, teams = example.alerting.channels["oncall"], example.alerting.channels["teams"]
    assert isinstance(oncall, PagerDutyChannelConfig) and oncall.routing_key == ROUTING_KEY
    assert oncall.url == "https://events.pagerduty.com/v2/enqueue"
    assert isinstance(teams, TeamsChannelConfig) and teams.webhook_url == TEAMS_URL
    routes = example.alerting.routes
    assert [route.continue_ for route in routes] == [True, False, False]
    assert routes[0].match.severity == [Severity.CRITICAL]


def test_base_config_is_valid_and_resolves_against_its_directory(in_tmp: Path) -> None:
    config = load_config(write(BASE))
    assert [check.id for check in config.checks] == ["orders.freshness", "orders.volume", "events.volume"]
    assert config.base_dir == in_tmp.resolve()
    assert config.secrets == frozenset()


# --- mistakes, each with its exact line and path ----------------------------------------------------


def test_unknown_key_at_top_level() -> None:
    assert problems(edited("alerting:", "alertng:")) == [
        "demon.yml:25: alertng: unknown key 'alertng' (did you mean 'alerting'?)"
    ]


def test_unknown_key_in_a_check() -> None:
    assert problems(edited("fail_after: 6h", "fail_afterr: 6h")) == [
        "demon.yml:16: datasets.orders.checks[0].freshness.fail_afterr: "
        "unknown key 'fail_afterr' (did you mean 'fail_after'?)"
    ]


def test_unknown_key_in_a_source_also_reports_the_missing_one() -> None:
    assert problems(edited("url: duckdb", "urll: duckdb")) == [
        "demon.yml:3: sources.warehouse.url: missing required key 'url'",
        "demon.yml:5: sources.warehouse.urll: unknown key 'urll' (did you mean 'url'?)",
    ]


def test_wrong_type() -> None:
    assert problems(edited("min: 1\n", "min: abc\n")) == [
        "demon.yml:18: datasets.orders.checks[1].volume.min: expected a number, got 'abc'"
    ]


def test_bad_duration() -> None:
    assert problems(edited("fail_after: 6h", "fail_after: 6 hours")) == [
        "demon.yml:16: datasets.orders.checks[0].freshness.fail_after: "
        "expected a duration like 90s, 15m, 2h, 1d or 1w, got '6 hours'"
    ]


def test_a_duration_past_a_century_is_refused() -> None:
    """Run, retention and repeat times are dates: 200000000w is past the last one Python has (a daemon's
    reload, `demon run` and `demon check` each failed on it with an OverflowError)."""
    text = edited("table: main.orders\n", "table: main.orders\n    schedule: every 200000000w\n")
    assert problems(text + "state:\n  retention: 36501d\n") == [
        "demon.yml:13: datasets.orders.schedule: "
        "expected a duration of at most 36500d (100 years), got '200000000w'",
        "demon.yml:33: state.retention: expected a duration of at most 36500d (100 years), got '36501d'",
    ]
    assert load_config(write(BASE + "state:\n  retention: 36500d\n")).state.retention == 36500 * 86400


@pytest.mark.parametrize("listen", ["localhost:99999", "no-port", "host:80:80", "a b:80"])
def test_a_bad_listen_address_is_described_in_words(listen: str) -> None:
    assert problems(BASE + f"metrics:\n  listen: {listen!r}\n") == [
        f"demon.yml:32: metrics.listen: expected HOST:PORT with a port from 0 to 65535, got {listen!r}"
    ]


def test_every_text_pattern_of_the_file_is_described_in_words() -> None:
    """A field's pattern reaches users only through its words in validation's table: none may drift."""
    from monitor.core.config.types import _DURATION, _PERCENT, NAME_SCHEMA_PATTERN
    from monitor.core.config.validation import _PATTERNS

    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            found.update([node["pattern"]] if isinstance(node.get("pattern"), str) else [])
            found.update(node.get("patternProperties", {}))  # the names of a mapping's entries
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config_json_schema())
    described_by_their_validators = {_DURATION.pattern, _PERCENT.pattern, NAME_SCHEMA_PATTERN}
    assert found - described_by_their_validators == set(_PATTERNS)


def test_bad_percentage() -> None:
    assert problems(edited("min: 1\n", "min: 1\n          max_drop: 50\n")) == [
        "demon.yml:19: datasets.orders.checks[1].volume.max_drop: expected a percentage like 50%, got 50"
    ]


def test_bad_cron() -> None:
    [problem] = problems(edited("table: main.orders\n", "table: main.orders\n    schedule: '61 * * * *'\n"))
    assert problem.startswith("demon.yml:13: datasets.orders.schedule: invalid cron expression '61 * * * *'")


def test_a_cron_that_never_fires_is_refused() -> None:
    assert problems(edited("table: main.orders\n", "table: main.orders\n    schedule: '0 0 31 2 *'\n")) == [
        "demon.yml:13: datasets.orders.schedule: cron expression '0 0 31 2 *' never fires"
    ]


def test_cron_needs_five_fields() -> None:
    assert problems(edited("table: main.orders\n", "table: main.orders\n    schedule: '* * * *'\n")) == [
        "demon.yml:13: datasets.orders.schedule: "
        "expected 'every <duration>' or a 5-field cron expression, got '* * * *'"
    ]


def test_unknown_check_kind() -> None:
    assert problems(edited("- volume:\n", "- volumes:\n")) == [
        "demon.yml:17: datasets.orders.checks[1].volumes: unknown key 'volumes' (did you mean 'volume'?)"
    ]


def test_two_kinds_in_one_check_item() -> None:
    assert problems(edited("          min: 1\n", "          min: 1\n        schema: {}\n")) == [
        "demon.yml:17: datasets.orders.checks[1]: "
        "expected exactly one check kind (freshness, volume, schema, quality, metric, profile, dbt),"
        " got volume and schema"
    ]


def test_unknown_source_kind_points_at_kind() -> None:
    assert problems(edited("kind: files", "kind: file")) == [
        "demon.yml:7: sources.lake.kind: expected one of 'sql', 's3', 'files', got 'file'"
    ]


def test_invalid_name_of_a_source() -> None:
    assert problems(edited("  lake:", "  my lake:").replace("source: lake", "source: my lake")) == [
        "demon.yml:6: sources.my lake: expected a name of letters (any script), digits, '_' and '-' "
        "that starts with a letter or '_', got 'my lake'"
    ]


def test_names_may_be_written_in_any_script() -> None:
    """Letters and digits of any script, with their combining marks (Hindi, or an accent typed apart)."""
    text = (
        edited("  warehouse:\n", "  entrepôt:\n")
        .replace("source: warehouse", "source: entrepôt")
        .replace("  orders:\n", "  données:\n")
        .replace("  events:\n", "  बिक्री_2026:\n")
        .replace("- volume: {min: 1}", "- volume: {min: 1, name: e\u0301cart}")
    )
    config = load_config(write(text))
    assert [check.id for check in config.checks] == [
        "données.freshness", "données.volume", "बिक्री_2026.volume.e\u0301cart"
    ]
    assert list(config.sources) == ["entrepôt", "lake"]
    assert list(Draft202012Validator(config_json_schema()).iter_errors(yaml.safe_load(text))) == []  # editors


@pytest.mark.parametrize("name", ["1st", "a.b", "-a", "a b", "€uro"])
def test_a_name_is_letters_digits_underscores_and_dashes(name: str) -> None:
    assert problems(edited("  orders:", f"  {name!r}:")) == [
        f"demon.yml:10: datasets.{name}: expected a name of letters (any script), digits, '_' and '-' "
        f"that starts with a letter or '_', got {name!r}"
    ]


def test_channel_names_stay_ascii_for_the_http_headers_they_go_into() -> None:
    text = edited("    terminal:", "    équipe:").replace("[terminal]", "[équipe]")
    assert problems(text) == [
        "demon.yml:27: alerting.channels.équipe: expected a name of ASCII letters, digits, '_' and '-' "
        "that starts with a letter or '_' (it goes into HTTP headers), got 'équipe'"
    ]


def test_a_refused_value_shows_its_control_characters_escaped() -> None:
    """A double-quoted escape can put one in a name: printed raw, it would ring or recolour the terminal."""
    [problem] = problems(edited("  orders:", '  "bad\\e[31mname\\a":'))
    assert problem.startswith("demon.yml:10: datasets.bad\\x1b[31mname\\x07: expected a name")
    assert problem.endswith("got 'bad\\x1b[31mname\\x07'")
    assert problem.isprintable()


def test_missing_source_reference() -> None:
    assert problems(edited("source: warehouse", "source: warehous")) == [
        "demon.yml:11: datasets.orders.source: unknown source 'warehous' (did you mean 'warehouse'?)"
    ]


def test_missing_channel() -> None:
    assert problems(edited("notify: [terminal]", "notify: [terminal, pager]")) == [
        "demon.yml:30: alerting.routes[0].notify[1]: unknown channel 'pager' (defined: terminal)"
    ]


def test_missing_upstream() -> None:
    assert problems(edited("table: main.orders\n", "table: main.orders\n    upstream: [events, raw]\n")) == [
        "demon.yml:13: datasets.orders.upstream[1]: unknown dataset 'raw' (defined: events, orders)"
    ]


def test_duplicate_key() -> None:
    text = edited("table: main.orders\n", "table: main.orders\n    owner: a\n    table: other\n")
    assert problems(text) == ["demon.yml:14: datasets.orders.table: duplicate key 'table' (first on line 12)"]


def test_broken_yaml_unclosed_bracket() -> None:
    assert problems(edited("table: main.orders\n", "table: main.orders\n    tags: [a, b\n")) == [
        "demon.yml:14: invalid YAML at column 11: did not find expected ',' or ']' "
        "(while parsing a flow sequence that starts on line 13)"
    ]


def test_empty_file() -> None:
    expected = f"demon.yml:1: the file is empty: expected {TOP_LEVEL}"
    assert problems("") == [expected]
    assert problems("# nothing but a comment\n") == [expected]


def test_top_level_must_be_a_mapping() -> None:
    assert problems("- version: 1\n- sources: {}\n") == [f"demon.yml:1: expected {TOP_LEVEL}, got a list"]


def test_a_file_that_is_not_utf8_names_the_line() -> None:
    text = edited("table: main.orders\n", "table: main.orders\n    description: Données brutes\n")
    Path("demon.yml").write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config("demon.yml")
    assert str(caught.value) == "demon.yml:13: not UTF-8 (byte 0xe9 at column 22; save the file as UTF-8)"


def test_missing_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^nowhere\.yml: cannot read the file: No such file"):
        load_config("nowhere.yml")


def test_all_problems_at_once_sorted_by_line() -> None:
    text = edited("alerting:", "alertng:").replace("min: 1\n", "min: -1\n").replace("column:", "colum:")
    assert problems(text) == [
        "demon.yml:15: datasets.orders.checks[0].freshness.colum: "
        "unknown key 'colum' (did you mean 'column'?)",
        "demon.yml:18: datasets.orders.checks[1].volume.min: expected a number >= 0, got -1",
        "demon.yml:25: alertng: unknown key 'alertng' (did you mean 'alerting'?)",
    ]


# --- environment -------------------------------------------------------------------------------------


def test_unset_env_var_is_named_with_file_line_and_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_URL", raising=False)
    assert problems(edited("url: duckdb:///w.duckdb", "url: ${NOPE_URL}")) == [
        "demon.yml:5: sources.warehouse.url: environment variable NOPE_URL is not set "
        "(write ${NOPE_URL:-default} for a default)"
    ]


def test_env_default_is_used_when_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_URL", raising=False)
    monkeypatch.setenv("EMPTY_TABLE", "")
    text = edited("url: duckdb:///w.duckdb", "url: ${NOPE_URL:-duckdb:///x.duckdb}")
    config = load_config(write(text.replace("table: main.orders", "table: ${EMPTY_TABLE:-main.t}")))
    assert warehouse(config).url == "duckdb:///x.duckdb"
    assert config.datasets["orders"].table == "main.t"
    assert config.secrets == frozenset()


def test_env_values_are_secrets_even_with_yaml_syntax_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WH_URL", "postgresql://demon:p#ss: word@db/x")
    monkeypatch.setenv("SCOPE", "status = 'a: #b'")
    text = edited("url: duckdb:///w.duckdb", "url: ${WH_URL}")
    config = load_config(write(text.replace("table: main.orders", "table: main.orders\n    where: ${SCOPE}")))
    assert warehouse(config).url == "postgresql://demon:p#ss: word@db/x"
    assert config.datasets["orders"].where == "status = 'a: #b'"
    assert config.secrets == {"postgresql://demon:p#ss: word@db/x", "status = 'a: #b'"}


def test_env_values_are_redacted_from_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONC", "hunter2")
    text = edited("url: duckdb:///w.duckdb\n", "url: duckdb:///w.duckdb\n    max_concurrency: ${CONC}\n")
    text += "state:\n  retention: postgresql://demon:pw-in-file@db/x\n"
    assert problems(text) == [
        "demon.yml:6: sources.warehouse.max_concurrency: expected an integer, got '***'",
        "demon.yml:33: state.retention: "
        "expected a duration like 90s, 15m, 2h, 1d or 1w, got 'postgresql://demon:***@db/x'",
    ]


def test_interpolated_plain_scalars_get_their_type_quoted_ones_stay_strings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CONC", raising=False)
    monkeypatch.setenv("YEAR", "2024")
    text = edited("url: duckdb:///w.duckdb\n", "url: duckdb:///w.duckdb\n    max_concurrency: ${CONC:-7}\n")
    config = load_config(write(text.replace("table: main.orders", 'table: "${YEAR}"')))
    assert warehouse(config).max_concurrency == 7
    assert config.datasets["orders"].table == "2024"
    monkeypatch.delenv("NO_YEAR", raising=False)
    assert problems(text.replace("table: main.orders", "table: ${NO_YEAR:-2024}")) == [
        "demon.yml:13: datasets.orders.table: expected a string, got 2024"
    ]


def test_double_dollar_is_a_literal_dollar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGE", "leaked")
    text = edited("table: main.orders", "table: main.orders\n    runbook: https://wiki/$${PAGE}/$$5")
    config = load_config(write(text))
    assert config.datasets["orders"].runbook == "https://wiki/${PAGE}/$5"
    assert config.secrets == frozenset()


def test_malformed_reference_is_an_error() -> None:
    assert problems(edited("table: main.orders", "table: ${main.orders}")) == [
        "demon.yml:12: datasets.orders.table: expected ${VAR} or ${VAR:-default} after '${' "
        "(write $$ for a literal $)"
    ]


# --- rules that need the whole file -----------------------------------------------------------------


def test_sql_dataset_without_table() -> None:
    assert problems(edited("    table: main.orders\n", "")) == [
        "demon.yml:10: datasets.orders.table: missing required key 'table': "
        "a dataset on sql source 'warehouse' names a [schema.]table"
    ]


def test_sql_dataset_with_lake_keys() -> None:
    text = edited("table: main.orders\n", "table: main.orders\n    format: csv\n    partitioning: hive\n")
    assert problems(text) == [
        "demon.yml:13: datasets.orders.format: "
        "'format' does not apply to a dataset on sql source 'warehouse'",
        "demon.yml:14: datasets.orders.partitioning: "
        "'partitioning' does not apply to a dataset on sql source 'warehouse'",
    ]


def test_lake_dataset_needs_path_and_format_and_no_table() -> None:
    text = edited("    path: events/\n    format: parquet\n", "    table: events\n")
    assert problems(text) == [
        "demon.yml:19: datasets.events.format: missing required key 'format': "
        "a dataset on files source 'lake' says how its files are written (parquet, csv or jsonl)",
        "demon.yml:19: datasets.events.path: missing required key 'path': "
        "a dataset on files source 'lake' names a prefix under the source",
        "demon.yml:21: datasets.events.table: 'table' does not apply to a dataset on files source 'lake'",
    ]


def test_metric_on_a_lake_dataset() -> None:
    text = edited("- volume: {min: 1}\n", "- volume: {min: 1}\n      - metric: {sql: SELECT 1, max: 0}\n")
    assert problems(text) == [
        "demon.yml:25: datasets.events.checks[1].metric: "
        "metric checks run SQL: they need a dataset on a sql source"
    ]


def test_sql_freshness_without_a_column_reads_statistics_unless_scoped() -> None:
    without = edited("          column: loaded_at\n", "")
    assert load_config(write(without)).datasets["orders"].checks[0].params.column is None  # type: ignore[attr-defined]
    scoped = without.replace("table: main.orders", "table: main.orders\n    where: status = 'a'")
    assert problems(scoped) == [
        "demon.yml:15: datasets.orders.checks[0].freshness.column: missing required key 'column': "
        "a table's statistics say when it changed, not when rows of a where or a bucket did"
    ]


def test_lake_only_volume_settings_on_sql() -> None:
    lake_only = "          metric: bytes\n          scope: latest_partition\n"
    text = edited("          min: 1\n", "          min: 1\n" + lake_only)
    assert problems(text) == [
        "demon.yml:19: datasets.orders.checks[1].volume.metric: "
        "expected 'rows' on a sql dataset, got 'bytes' (files, bytes: s3/files only)",
        "demon.yml:20: datasets.orders.checks[1].volume.scope: "
        "'latest_partition' applies to s3/files datasets with partitioning: hive",
    ]


def test_latest_partition_needs_hive_partitioning() -> None:
    text = edited("- volume: {min: 1}", "- volume: {min: 1, metric: files, scope: latest_partition}")
    assert problems(text) == [
        "demon.yml:24: datasets.events.checks[0].volume.scope: "
        "'latest_partition' applies to s3/files datasets with partitioning: hive"
    ]
    hive = text.replace("format: parquet", "format: parquet\n    partitioning: hive")
    assert load_config(write(hive)).datasets["events"].partitioning == "hive"


def test_two_unnamed_volume_checks() -> None:
    assert problems(edited("          min: 1\n", "          min: 1\n      - volume: {max: 10}\n")) == [
        "demon.yml:19: datasets.orders.checks[2].volume: "
        "a second volume check needs a distinct name (id 'orders.volume' is taken by checks[1])"
    ]


def test_named_checks_of_one_kind_get_distinct_ids() -> None:
    text = edited("          min: 1\n", "          min: 1\n      - volume: {name: ceiling, max: 10}\n")
    ids = [check.id for check in load_config(write(text)).checks]
    assert ids == ["orders.freshness", "orders.volume", "orders.volume.ceiling", "events.volume"]


def test_list_entries_must_be_unique() -> None:
    text = edited("table: main.orders\n", "table: main.orders\n    pii_columns: [email, phone, email]\n")
    assert problems(text) == [
        "demon.yml:13: datasets.orders.pii_columns[2]: duplicate entry 'email' (also pii_columns[0])"
    ]


# --- YAML features ---------------------------------------------------------------------------------


def test_anchors_and_merge_keys(in_tmp: Path) -> None:
    text = edited("- volume:\n", "- volume: &floor\n")
    text = text.replace("- volume: {min: 1}", "- volume: {<<: *floor, max: 9}")
    events = load_config(write(text)).checks[-1].params
    assert isinstance(events, VolumeParams) and (events.min, events.max) == (1.0, 9.0)


MISTAGGED = ["!!int abc", "!!int 0x", "!!float abc", "!!bool abc", "!!timestamp 2001-13-45", "!!timestamp x"]


@pytest.mark.parametrize("value", MISTAGGED)
def test_a_value_its_explicit_tag_does_not_fit_is_named(value: str) -> None:
    """PyYAML's constructors raise ValueError, KeyError or AttributeError there, not YAMLError."""
    tag, text = value.split(" ")
    assert problems(edited("  events:\n", f"  events:\n    owner: {value}\n")) == [
        f"demon.yml:20: datasets.events.owner: invalid {tag} value {text!r}"
    ]


def test_keys_are_names_as_written_values_follow_yaml() -> None:
    """A column named `on` stays a name; the value `on` is YAML 1.1's true, as PyYAML reads it."""
    columns = "      - schema: {columns: {on: boolean, no: string}}\n      - freshness:\n"
    config = load_config(write(edited("      - freshness:\n", columns)))
    schema = config.checks[0].params
    assert isinstance(schema, SchemaParams) and schema.columns == {"on": "boolean", "no": "string"}
    assert problems(edited("  events:\n", "  events:\n    owner: on\n")) == [
        "demon.yml:20: datasets.events.owner: expected a string, got true"
    ]


# --- bounds: what a small file may expand to -----------------------------------------------------------


def laughs(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs": each level lists `width` aliases of the one before (9 x 9: 387 million values)."""
    lines = ["lol:", f"  - &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  - &a{level} [{', '.join([f'*a{level - 1}'] * width)}]" for level in range(1, levels)]
    return "\n".join(lines) + "\n"


BASE_LINES = BASE.count("\n")
NODES = "expands to more than 500,000 values (an alias counts as often as it is used), the most demon reads"


def test_a_billion_laughs_is_refused_at_once_in_bounded_memory(in_tmp: Path) -> None:
    """Under a 1 GiB address space (a daemon's reload got a MemoryError): one line, exit 2, in seconds."""
    write(BASE + laughs())
    limit = 1 << 30
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "validate", "-c", "demon.yml"], capture_output=True, text=True,
        timeout=60, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)),
    )
    assert (result.returncode, result.stdout) == (2, ""), result.stderr[-2000:]
    assert result.stderr == f"demon.yml:{BASE_LINES + 7}: lol[5]: {NODES}\n"  # &a5: 597,871 values


WIDE = "wide: &w [" + ", ".join(["1"] * 10_000) + "]\nx: [" + ", ".join(["*w"] * 60) + "]\n"
FLOOD = "one: &s x\nx: [" + ", ".join(["*s"] * 100_001) + "]\n"
DEEP = "x: " + "[" * 64 + "]" * 64 + "\n"  # the file's mapping is the first level
DEEP_THROUGH_AN_ALIAS = "deep: &d " + "[" * 40 + "]" * 40 + "\nx: " + "[" * 30 + "*d" + "]" * 30 + "\n"
DEEPER = "nests more than 64 levels deep, the most demon reads"
BOUNDS = {
    "values": (WIDE, f":{BASE_LINES + 2}: x: {NODES}"),
    "aliases": (FLOOD, f":{BASE_LINES + 2}: x: uses aliases more than 100,000 times, the most demon reads"),
    "depth": (DEEP, f":{BASE_LINES + 1}: x{'[0]' * 62}: {DEEPER}"),
    "depth through an alias": (DEEP_THROUGH_AN_ALIAS, f":{BASE_LINES + 2}: x{'[0]' * 29}: {DEEPER}"),
    "bytes": ("#" * (4 << 20) + "\n", ": larger than 4 MiB, the most demon reads"),
}


@pytest.mark.parametrize(("extra", "problem"), BOUNDS.values(), ids=BOUNDS.keys())
def test_what_the_file_expands_to_is_bounded(extra: str, problem: str) -> None:
    assert problems(BASE + extra) == [f"demon.yml{problem}"]


def test_an_alias_inside_its_own_anchor_is_named_not_expanded() -> None:
    assert problems(BASE + "x: &loop [1, *loop]\n") == [
        f"demon.yml:{BASE_LINES + 1}: x[1]: an alias that contains itself"
    ]


# --- JSON schema -----------------------------------------------------------------------------------

def test_json_schema_is_draft_2020_12_with_the_file_keys() -> None:
    schema = json.loads(json.dumps(config_json_schema()))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"].startswith("demon")
    sections = {"version", "sources", "defaults", "datasets", "discover", "alerting", "metrics", "ui",
                "state"}
    assert set(schema["properties"]) == sections
    assert schema["required"] == ["version", "sources"] and schema["additionalProperties"] is False
    Draft202012Validator.check_schema(schema)
    defs = schema["$defs"]
    assert "schema" in defs["CheckEntry"]["properties"] and "schema" in defs["QualityParams"]["properties"]
    assert "continue" in defs["RouteConfig"]["properties"]
    assert defs["StateConfig"]["properties"]["retention"]["default"] == "90d"
    assert defs["Config" if "Config" in defs else "DatasetConfig"]["additionalProperties"] is False
    sources = schema["properties"]["sources"]
    assert sources["additionalProperties"] is False and "patternProperties" in sources


def test_json_schema_accepts_the_example_and_rejects_unknown_keys() -> None:
    validator = Draft202012Validator(config_json_schema())
    example = yaml.safe_load(EXAMPLE.read_text())
    assert list(validator.iter_errors(example)) == []
    example["datasets"]["fact_orders"]["checks"][0]["freshness"]["fail_afterr"] = "1h"
    errors = list(validator.iter_errors(example))
    assert errors and "fail_afterr" in errors[0].message
