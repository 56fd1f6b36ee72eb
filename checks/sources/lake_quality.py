"""Quality probes on lake datasets: Pandera runs every value rule on a bounded, projected sample.

A lake has no engine to count in, so the files' columns answer the shape rules (presence, dtype
family, strictness) and a sample of at most `sample` rows, read from the newest files first and only
the schema's columns, answers the rest, each reported `on_sample` over the rows read.
"""

from __future__ import annotations

from collections.abc import Sequence

from checks.probes import Column, Observed
from checks.quality import frame
from checks.quality.rules import SHAPE_CHECKS, QualityPlan, QualityReport
from checks.quality.shape import Shape
from checks.sources.objects import ObjectInfo, ObjectStore
from checks.sources.samples import read_sample


def validate_files(
    plan: QualityPlan,
    store: ObjectStore,
    files: Sequence[ObjectInfo],
    columns: Sequence[Column],
    file_format: str,
    where: str,
) -> Observed:
    """The report of `plan` over `files`, whose majority columns are `columns`."""
    shape = Shape(plan, columns)
    if shape.missing:
        listed = ", ".join(column.name for column in columns[:20])
        missing = f"column {shape.missing[0]} not found in {where} (columns: {listed})"
        return Observed(error=f"schema {plan.ref}: {missing}")
    newest = sorted(files, key=lambda info: (info.modified, info.key), reverse=True)
    newest_first = [info.key for info in newest]
    sample = read_sample(store, newest_first, file_format, list(shape.names.values()), plan.sample)
    sample = sample.rename(columns={real: name for name, real in shape.names.items()})
    rows = len(sample)
    rules = shape.rules()
    results = [shape.result(rule, rows, "on_sample") for rule in rules if rule.check in SHAPE_CHECKS]
    expected = [(rule.column, rule.label) for rule in rules if rule.check not in SHAPE_CHECKS]
    expected += list(plan.residual_labels)
    results += frame.validate(plan.frame_schema, sample, plan.pii, "on_sample", expected)
    return Observed(value=QualityReport(tuple(results), sample_rows=rows))
