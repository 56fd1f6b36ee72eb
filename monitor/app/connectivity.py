"""`demon validate --connect`: open each source once, and find there what each of its datasets names."""

from __future__ import annotations

from collections.abc import Callable

from checks.kinds import KINDS
from checks.probes import BucketCounts
from checks.sources import Source, SourceError, open_source
from monitor.core.clock import utcnow
from monitor.core.config.models import Config
from monitor.core.redact import Redactor


def check_sources(config: Config, say: Callable[[str], None]) -> list[str]:
    """Open and ping every source (its driver imported), then locate each dataset's table or prefix;
    say what was found; return what was not, one problem a line."""
    redact = Redactor(config.secrets)
    problems = []
    for name, settings in config.sources.items():
        try:
            source = open_source(name, settings, config.base_dir, redact)
        except SourceError as exc:
            problems.append(name)
            say(f"  {name}: FAILED: {exc}")
            continue
        try:
            problems += _check_source(config, name, source, redact, say)
        finally:
            source.close()
    return problems


def check_discovery(config: Config, say: Callable[[str], None]) -> list[str]:
    """Run each `discover:` entry, say how many datasets it found; its problems (not reachable, a corrupt
    manifest, schemas demon may not read) are returned."""
    from monitor.app.watch import watched

    if not config.discover:
        return []
    found = watched(config)
    for index, entry in enumerate(config.discover):
        count = sum(1 for name in found.config.datasets
                    if (seen := found.config.discovered(name)) is not None and seen.entry == index)
        what = f"dbt project {entry.dbt}" if entry.dbt else f"source {entry.source}"
        say(f"  discover[{index}] ({what}): {count} datasets")
    for problem in found.problems:
        say(f"  {problem}")
    return [failure.partition(":")[0] for failure in found.failures]


def _check_source(
    config: Config, name: str, source: Source, redact: Redactor, say: Callable[[str], None]
) -> list[str]:
    try:
        source.ping()
    except SourceError as exc:
        say(f"  {name}: FAILED: {exc}")
        return [name]
    say(f"  {name}: ok ({redact(source.describe())})")
    problems = []
    for dataset_name, dataset in config.datasets.items():
        if dataset.source != name:
            continue
        try:
            say(f"    {dataset_name}: {source.locate(dataset)}")
        except SourceError as exc:
            problems.append(dataset_name)
            say(f"    {dataset_name}: FAILED: {exc}")
            continue
        for check, error in _unbucketable(config, dataset_name, source):
            problems.append(check)
            say(f"    {check}: FAILED: {redact(error)}")
    return problems


def _unbucketable(config: Config, dataset_name: str, source: Source) -> list[tuple[str, str]]:
    """Learned checks whose `by` column cannot be bucketed (missing, not a timestamp): asked for the rows
    per bucket from now on, which reads no rows but checks the column as a run would."""
    dataset = config.datasets[dataset_name]
    probes = {}
    for spec in config.checks:
        learning = KINDS[spec.kind].learns(spec.params, dataset) if spec.dataset == dataset_name else None
        if learning is not None and learning.anomaly.by is not None:
            probes[spec.id] = BucketCounts(learning.anomaly.by, learning.anomaly.bucket, utcnow())
    answers = source.observe(dataset, list(probes.values())) if probes else {}
    return [(check, answers[probe].error or "") for check, probe in probes.items() if not answers[probe].ok]
