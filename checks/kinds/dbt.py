"""dbt: a dbt test's last outcome, read from the project's `run_results.json`, as a demon result.

dbt has already run the test in the warehouse, so this kind asks the source for nothing: it reports what
dbt found, and dbt's failures page through demon's incidents, routes and context like any check. The value
is the rows the test returned (dbt's `failures`). Discovery (checks/discovery/projects.py) writes one such
check per test of a `discover:` entry with `run_results`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from checks.kinds.base import CheckSetupError, Context, Kind
from checks.probes import Answers, Probe
from monitor.core.config.document import Loc
from monitor.core.config.models import CheckParams, DatasetConfig, SourceFamily
from monitor.core.evidence import DbtTestEvidence
from monitor.core.failures import Reason
from monitor.core.results import Evaluation, Outcome

if TYPE_CHECKING:
    from checks.discovery.dbt import NodeRun, RunResults

MAX_MESSAGE = 300  # characters of dbt's own message kept (its errors quote whole statements)
_OUTCOMES = {
    "pass": Outcome.PASS,
    "warn": Outcome.WARN,
    "fail": Outcome.FAIL,
    "error": Outcome.ERROR,
    "runtime error": Outcome.ERROR,  # older dbt's word for it
}
_VERBS = {Outcome.PASS: "passed", Outcome.WARN: "warned", Outcome.FAIL: "failed", Outcome.ERROR: "errored"}
# Why dbt has no usable outcome, and the reason of the error it becomes.
_SKIPPED = ("dbt skipped it (an upstream node failed)", Reason.DATA)
_NOT_RUN = ("not in run_results.json: dbt has not run it", Reason.MISSING)


class DbtParams(CheckParams):
    test: str = Field(description="the dbt test's unique_id, as manifest.json names it")
    run_results: str = Field(description="dbt's run_results.json, relative to this file")


class Dbt(Kind[DbtParams]):
    params = DbtParams

    def probes(self, params: DbtParams, context: Context, base_dir: Path) -> list[Probe[Any]]:
        _results(base_dir / params.run_results)  # an unreadable file ends the check before anything runs
        return []

    def misfits(
        self, family: SourceFamily, dataset: DatasetConfig, params: DbtParams
    ) -> Iterator[tuple[Loc, str]]:
        if family != "sql":
            yield (), "dbt checks report a dbt project's tests: they need a dataset on a sql source"

    def evaluate(self, params: DbtParams, answers: Answers, context: Context) -> Evaluation:
        try:  # read again: the file may have changed since `probes` (dbt ran meanwhile)
            results = _results(context.base_dir / params.run_results)
        except CheckSetupError as exc:
            return Evaluation(Outcome.ERROR, str(exc), reason=Reason.SETUP)
        run = results.runs.get(params.test)
        evidence = DbtTestEvidence(params.test, results.generated_at, run.failures if run else None)
        name = f"dbt test {params.name or params.test}"
        if run is None or run.status == "skipped":
            why, reason = _NOT_RUN if run is None else _SKIPPED
            return Evaluation(Outcome.ERROR, f"{name}: {why}", evidence=evidence, reason=reason)
        outcome = _OUTCOMES.get(run.status)
        if outcome is None:
            unknown = f"{name}: dbt's status {run.status[:40]!r} is not a test outcome"
            return Evaluation(Outcome.ERROR, unknown, evidence=evidence, reason=Reason.DATA)
        failures = None if run.failures is None else float(run.failures)
        return Evaluation(
            outcome, _message(name, outcome, run), value=failures, unit="rows", evidence=evidence,
            facts={} if failures is None else {"failing_rows": failures},
            reason=Reason.STATEMENT if outcome is Outcome.ERROR else None,
        )


def _results(path: Path) -> RunResults:
    from checks.discovery.dbt import DbtArtifactError, read_run_results

    try:
        return read_run_results(path)
    except DbtArtifactError as exc:
        raise CheckSetupError(str(exc)) from None


def _message(name: str, outcome: Outcome, run: NodeRun) -> str:
    """`dbt test <name> failed: <dbt's message>`, on one line and bounded."""
    said = " ".join((run.message or "").split())
    if len(said) > MAX_MESSAGE:
        said = said[:MAX_MESSAGE - 1] + "…"
    return f"{name} {_VERBS[outcome]}" + (f": {said}" if said else "")
