"""`demon demo` end to end: the defects it injects produce exactly the outcomes it announces."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from monitor.app.cli import main
from monitor.app.config import load_config
from monitor.app.demo import DEFECTS, EXPECTED_OUTCOMES


def test_demo_shows_every_outcome_as_announced(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "demo"), "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    outcomes = {r["check"]: r["outcome"] for r in document["results"]}
    broken = {check: outcome for check, outcome in outcomes.items() if outcome != "pass"}
    assert broken == EXPECTED_OUTCOMES
    assert {"pass", "warn", "fail", "error"} <= set(outcomes.values())
    assert (tmp_path / "demo" / "demon.yml").is_file()


def test_demo_table_lists_the_defects_and_history_has_both_days(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    runner = CliRunner()
    result = runner.invoke(main, ["demo", "--dir", str(directory)])
    assert result.exit_code == 0, result.output
    assert all(defect in result.stdout for defect in DEFECTS)
    history = runner.invoke(
        main, ["history", "orders.volume", "-c", str(directory / "demon.yml"), "--format", "json"]
    )
    runs = json.loads(history.stdout)["results"]
    assert [r["outcome"] for r in runs] == ["fail", "pass"]  # today's drop, yesterday's baseline
    assert runs[1]["value"] > runs[0]["value"] * 2


def test_yesterday_passes_every_quality_check_that_today_breaks(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["demo", "--dir", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    config = str(tmp_path / "demon.yml")
    quality = [spec.id for spec in load_config(Path(config)).checks if spec.kind == "quality"]
    assert len(quality) == 3 and set(quality) <= set(EXPECTED_OUTCOMES)
    for check in quality:
        history = runner.invoke(main, ["history", check, "-c", config, "--format", "json"])
        today, yesterday = json.loads(history.stdout)["results"]
        assert (yesterday["outcome"], yesterday["value"]) == ("pass", 0), check
        assert today["outcome"] == EXPECTED_OUTCOMES[check] and today["value"] > 0, check


def test_demo_can_be_rebuilt_in_place(tmp_path: Path) -> None:
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(main, ["demo", "--dir", str(tmp_path), "--format", "json"])
        assert result.exit_code == 0, result.output
    outcomes = {r["check"]: r["outcome"] for r in json.loads(result.stdout)["results"]}
    assert {c: o for c, o in outcomes.items() if o != "pass"} == EXPECTED_OUTCOMES


def test_the_learned_check_catches_what_every_fixed_threshold_lets_through(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["demo", "--dir", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    outcomes = {r["check"]: r for r in json.loads(result.stdout)["results"]}
    assert outcomes["fact_orders.volume"]["outcome"] == "pass"  # min, warn_min and max_drop all hold
    learned = outcomes["fact_orders.volume.daily"]
    assert learned["outcome"] == "fail" and learned["thresholds"]["expected_min"] > learned["value"]
    assert learned["details"]["learned"]["learning"] is False
    config = str(tmp_path / "demon.yml")
    history = runner.invoke(main, ["history", "fact_orders.volume.daily", "-c", config, "--format", "json"])
    today, yesterday = json.loads(history.stdout)["results"]
    assert (today["outcome"], yesterday["outcome"]) == ("fail", "pass")
    assert yesterday["details"]["learned"]["learning"] is False  # learnt from the data on its first run
    backtest = runner.invoke(main, ["backtest", "fact_orders.volume.daily", "-c", config, "--format", "json"])
    points = json.loads(backtest.stdout)["points"]
    assert points[-1]["outcome"] == "fail" and points[-1]["value"] == learned["value"]
    assert "learning" in {point["outcome"] for point in points[:14]}
