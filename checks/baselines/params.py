"""The `anomaly:` block of volume, freshness and metric checks: how a learned baseline learns and judges."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from monitor.core.config.models import Model
from monitor.core.config.types import Duration, Percentage, format_duration

Bucket = Literal["1h", "1d"]
BUCKET_SECONDS: dict[Bucket, float] = {"1h": 3600.0, "1d": 86400.0}
SEASON_SECONDS = {"none": 0.0, "hour_of_day": 86400.0, "day_of_week": 604800.0, "hour_of_week": 604800.0}


class AnomalyParams(Model):
    """Defaults that suit most tables: a month of history, three robust deviations, 14 points to start."""

    by: str | None = Field(
        default=None, description="timestamp column: the series is counted in the data, per bucket (sql only)"
    )
    bucket: Bucket = Field(default="1d", description="with `by`: the bucket judged, 1h or 1d")
    training: Duration = Field(default=28 * 86400.0, description="how far back to learn from")
    seasonality: Literal["auto", "none", "hour_of_day", "day_of_week", "hour_of_week"] = "auto"
    sensitivity: float = Field(default=3.0, gt=0, description="fail band half-width, in robust deviations")
    warn_sensitivity: float | None = Field(default=None, gt=0, description="a narrower band that warns")
    direction: Literal["both", "drop", "spike"] = "both"
    min_training: int = Field(default=14, ge=1, description="points needed before judging")
    min_change: Percentage = Field(default=0.05, description="a smaller deviation never alerts")

    @model_validator(mode="after")
    def _coherent(self) -> AnomalyParams:
        if self.warn_sensitivity is not None and self.warn_sensitivity >= self.sensitivity:
            raise ValueError(
                f"warn_sensitivity ({self.warn_sensitivity:g}) must be below sensitivity"
                f" ({self.sensitivity:g}): the warn band is the narrower one, inside the fail band"
            )
        season = SEASON_SECONDS.get(self.seasonality, 0.0)
        if self.training < season:
            raise ValueError(
                f"training {format_duration(self.training)} is shorter than one season of {self.seasonality}"
                f" ({format_duration(season)}): it could never learn it"
            )
        if self.by is None and "bucket" in self.model_fields_set:
            raise ValueError("bucket applies with `by` (rows per bucket); without it, one point a run")
        buckets = int(self.training // BUCKET_SECONDS[self.bucket])
        if self.by is not None and buckets < max(2, self.min_training):
            raise ValueError(
                f"training {format_duration(self.training)} holds {buckets} {self.bucket} buckets, fewer than"
                f" min_training ({self.min_training}): it would learn for ever"
            )
        return self
