"""Extending demon: a check kind, a source and a channel are each one module and one registry line.

The module here is this file; the registry line is the `monkeypatch.setitem` of each test. Nothing else of
demon changes, and the config file takes the new keys (validated, with line numbers, and in `demon schema`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import pytest
from click.testing import CliRunner, Result
from pydantic import Field

from alerting.channels import CHANNELS, ChannelEnv, ChannelKind
from alerting.model import Delivered, Notification
from checks.kinds import KINDS
from checks.kinds.base import Context, Kind
from checks.probes import Answers, Observed, Probe, RowCount
from checks.sources import SOURCES, SourceKind
from monitor.app.cli import main
from monitor.core.config.document import Loc
from monitor.core.config.models import ChannelConfig, CheckParams, DatasetConfig, SourceConfig, SourceFamily
from monitor.core.redact import Redactor
from monitor.core.results import Evaluation, Outcome

# --- a toy check kind: the row count is even (or odd) ------------------------------------------------


class ParityParams(CheckParams):
    even: bool = Field(default=True, description="true: an even number of rows passes")


class Parity(Kind[ParityParams]):
    params = ParityParams

    def probes(self, params: ParityParams, context: Context, base_dir: Path) -> list[Probe[Any]]:
        return [RowCount()]

    def misfits(
        self, family: SourceFamily, dataset: DatasetConfig, params: ParityParams
    ) -> Iterator[tuple[Loc, str]]:
        if dataset.where:
            yield (), "parity counts every row: a dataset with a where would mislead it"

    def evaluate(self, params: ParityParams, answers: Answers, context: Context) -> Evaluation:
        rows = answers[RowCount()]
        ok = (rows % 2 == 0) == params.even
        outcome = Outcome.PASS if ok else Outcome.FAIL
        return Evaluation(outcome, f"{rows} rows", value=float(rows), unit="rows")


# --- a toy source: every table holds the same number of rows -------------------------------------------


class ConstantConfig(SourceConfig):
    kind: Literal["constant"]
    rows: int = Field(ge=0)


class ConstantSource:
    def __init__(self, name: str, config: ConstantConfig, base_dir: Path, redact: Redactor) -> None:
        self.name, self.max_concurrency, self.rows = name, config.max_concurrency, config.rows
        self.requests: Counter[str] = Counter()

    def observe(self, dataset: DatasetConfig, probes: Collection[Probe[Any]]) -> dict[Probe[Any], Observed]:
        answer, refusal = Observed(value=self.rows, statement="constant"), Observed(error="only rows")
        return {probe: answer if isinstance(probe, RowCount) else refusal for probe in probes}

    def locate(self, dataset: DatasetConfig) -> str:
        return f"table {dataset.table}"

    def ping(self) -> None:
        """Always there."""

    def interrupt(self) -> None:
        """Nothing runs."""

    def close(self) -> None:
        """Nothing is held."""

    def describe(self) -> str:
        return f"constant {self.rows}"


# --- a toy channel: notifications kept in memory ------------------------------------------------------


class MemoryConfig(ChannelConfig):
    kind: Literal["memory"]


RECEIVED: list[Notification] = []


class MemoryChannel:
    def __init__(self, name: str, config: MemoryConfig, env: ChannelEnv) -> None:
        self.name = name

    def send(self, notification: Notification, thread: Mapping[str, str] | None) -> Delivered:
        RECEIVED.append(notification)
        return Delivered(None)

    def close(self) -> None:
        """Nothing is held."""


# --- the registry lines, and a config using all three ------------------------------------------------


@pytest.fixture
def extended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KINDS, "parity", Parity())
    monkeypatch.setitem(SOURCES, "constant", SourceKind(ConstantConfig, "sql", f"{__name__}:ConstantSource"))
    monkeypatch.setitem(CHANNELS, "memory", ChannelKind(MemoryConfig, f"{__name__}:MemoryChannel"))
    RECEIVED.clear()


CONFIG = """\
version: 1
sources:
  fixed:
    kind: constant
    rows: {rows}
datasets:
  orders:
    source: fixed
    table: orders
    checks:
      - parity: {{even: {even}}}
      - volume: {{min: 1}}
alerting:
  channels:
    inbox: {{kind: memory}}
state:
  url: sqlite:///state.db
"""


def demon(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write(tmp_path: Path, rows: Any = 7, even: Any = "true") -> str:
    path = tmp_path / "demon.yml"
    path.write_text(CONFIG.format(rows=rows, even=even))
    return str(path)


@pytest.mark.usefixtures("extended")
def test_a_kind_a_source_and_a_channel_each_take_one_registry_line(tmp_path: Path) -> None:
    config = write(tmp_path)
    checked = demon("check", "-c", config, "--format", "json", "--notify")
    results = {r["check"]: (r["outcome"], r["value"]) for r in json.loads(checked.stdout)["results"]}
    assert results == {"orders.parity": ("fail", 7.0), "orders.volume": ("pass", 7.0)}
    assert [(n.incident_key, n.event.value) for n in RECEIVED] == [("orders.parity", "opened")]
    assert demon("validate", "--connect", "-c", config).stdout.endswith(
        "  fixed: ok (constant 7)\n    orders: table orders\n")


@pytest.mark.usefixtures("extended")
def test_their_keys_are_validated_like_every_other(tmp_path: Path) -> None:
    bad = demon("validate", "-c", write(tmp_path, rows=-1, even="maybe"))
    assert bad.exit_code == 2
    assert bad.stderr.splitlines() == [
        f"{tmp_path}/demon.yml:5: sources.fixed.rows: expected a number >= 0, got -1",
        f"{tmp_path}/demon.yml:11: datasets.orders.checks[0].parity.even: expected true or false,"
        " got 'maybe'",
    ]
    scoped = Path(write(tmp_path))
    scoped.write_text(scoped.read_text().replace("table: orders\n", "table: orders\n    where: x > 1\n"))
    assert demon("validate", "-c", str(scoped)).stderr == (
        f"{scoped}:12: datasets.orders.checks[0].parity: parity counts every row: a dataset with a where"
        " would mislead it\n")


@pytest.mark.usefixtures("extended")
def test_the_json_schema_has_them() -> None:
    schema = json.loads(demon("schema").stdout)
    assert schema["$defs"]["ParityParams"]["properties"]["even"]["type"] == "boolean"
    assert "parity" in schema["$defs"]["CheckEntry"]["properties"]
    assert {"ConstantConfig", "MemoryConfig"} <= set(schema["$defs"])


def test_without_the_registry_line_the_key_is_unknown(tmp_path: Path) -> None:
    bad = demon("validate", "-c", write(tmp_path))
    assert bad.exit_code == 2
    assert "sources.fixed.kind: expected one of 'sql', 's3', 'files', got 'constant'" in bad.stderr
