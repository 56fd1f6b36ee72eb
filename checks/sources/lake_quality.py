"""Quality probes on lake datasets: Pandera runs every value rule on a bounded, projected sample.

A lake has no engine to count in, so the files' columns answer the shape rules (presence, dtype
family, strictness) and a sample of at most `sample` rows, read from the newest files first and only
the schema's columns, answers the rest, each reported `on_sample` over the rows read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from checks.probes import Column, Observed
from checks.quality import frame
from checks.quality.rules import SHAPE_CHECKS, QualityPlan
from checks.quality.shape import Shape
from checks.sources.objects import ObjectInfo, ObjectStore
from checks.sources.samples import read_sample
from monitor.core.evidence import QualityReport


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
    newest_first = sorted(files, key=lambda info: (info.modified, info.key), reverse=True)
    families = {real: shape.families.get(name, "other") for name, real in shape.names.items()}
    sample = read_sample(store, newest_first, file_format, families, plan.sample)
    sample = sample.rename(columns={real: name for name, real in shape.names.items()})
    rows = len(sample)
    rules = shape.rules()
    results = [shape.result(rule, rows, "on_sample") for rule in rules if rule.check in SHAPE_CHECKS]
    wrong = shape.wrong_types()
    expected = [(rule.column, rule.label) for rule in rules if rule.check not in SHAPE_CHECKS]
    expected += [(column, label) for column, label in plan.residual_labels if shape.has(column)]
    schema = plan.frame_schema
    if wrong:  # as on SQL: a column of the wrong type fails its dtype rule, its checks do not run
        schema = schema.update_columns({name: {"checks": []} for name in wrong})
        expected = [(column, label) for column, label in expected if column not in wrong]
    keys = {(rule.column, rule.label): rule.shown_column for rule in rules}
    results += [
        replace(result, column=keys.get((result.column, result.check), result.column))
        for result in frame.validate(schema, sample, plan.pii, "on_sample", expected)
    ]
    return Observed(value=QualityReport(tuple(results), sample_rows=rows))
