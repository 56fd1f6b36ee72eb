"""`demon feedback` and what `demon backtest` shares with it: a check's learned series as configured now,
and feedback resolved to the point it is about, so a running daemon applies it exactly at its next run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from checks.baselines.learn import part_key, series_key
from checks.kinds import KINDS, Learning
from monitor.core.config.models import CheckSpec, Config
from monitor.core.humanize import did_you_mean
from monitor.core.series import Feedback, FeedbackAction, SeriesHistory, SeriesPoint
from monitor.state.baselines import Baselines


class FeedbackError(Exception):
    """A user's mistake (an unknown check, a check that learns nothing, no such point): exit 2."""


@dataclass(frozen=True)
class Learner:
    """A configured check that learns, with its series' key; for a check that learns one series per part (a
    profile), `CHECK/part` names one part's series, and the check alone all of them."""

    spec: CheckSpec
    learning: Learning
    key: str
    part: str | None = None

    @property
    def whole(self) -> bool:
        """All the parts of a check that learns several: feedback only, which applies to every part."""
        return self.learning.parts is not None and self.part is None

    def history(self, baselines: Baselines, since: datetime) -> SeriesHistory:
        if not self.whole:
            return baselines.histories({self.spec.id: self.key}, since)[self.spec.id]
        keys = {key: key for key in baselines.keys_under(self.key)}
        parts = baselines.parts({self.spec.id: keys}, since).get(self.spec.id, {})
        taught = tuple(baselines.feedback([self.spec.id]).get(self.spec.id, []))
        return SeriesHistory(self.key, _runs(parts.values()), taught)


def _runs(parts: Iterable[SeriesHistory]) -> tuple[SeriesPoint, ...]:
    """The runs of a check's parts as one series: a run is flagged when any part was (its value is how many
    parts were, as the model needs a number)."""
    flagged: dict[datetime, int] = {}
    for history in parts:
        for point in history.points:
            flagged[point.at] = flagged.get(point.at, 0) + point.flagged
    return tuple(SeriesPoint(at, float(count), count > 0) for at, count in sorted(flagged.items()))


def learner(config: Config, check_id: str) -> Learner:
    """The check `check_id` of the config (or `CHECK/part`: one series of a check that learns several), which
    must have an `anomaly:` block."""
    check_id, _, part = check_id.partition("/")
    spec = next((spec for spec in config.checks if spec.id == check_id), None)
    if spec is None:
        known = [spec.id for spec in config.checks]
        raise FeedbackError(f"no check {check_id!r} in the config{did_you_mean(check_id, known)}")
    learning = KINDS[spec.kind].learns(spec.params, config.datasets[spec.dataset])
    if learning is None:
        learners = [other.id for other in config.checks if _learns(config, other)]
        raise FeedbackError(
            f"check {check_id!r} has no anomaly: block, so it learns nothing"
            + (f"; these do: {', '.join(learners)}" if learners else "")
        )
    key = series_key(spec.id, learning.definition)
    if not part:
        return Learner(spec, learning, key)
    if learning.parts is None:
        raise FeedbackError(f"check {check_id!r} learns one series: name it without /{part}")
    return Learner(spec, learning, part_key(key, part), part)


def _learns(config: Config, spec: CheckSpec) -> bool:
    return KINDS[spec.kind].learns(spec.params, config.datasets[spec.dataset]) is not None


def one_part(found: Learner, baselines: Baselines) -> None:
    """A backtest replays one series: of a check that learns several, the user names the part."""
    if not found.whole:
        return
    parts = [key.removeprefix(f"{found.key}/") for key in baselines.keys_under(found.key)]
    shown = ", ".join(f"{found.spec.id}/{part}" for part in parts[:5]) + (", ..." if len(parts) > 5 else "")
    like = f"{found.spec.id}/email.null_fraction"
    stored = f" (stored: {shown})" if parts else " (none stored yet)"
    why = f"{found.spec.id} learns one series per column statistic: name one, like {like}{stored}"
    raise FeedbackError(why)


def parse_time(text: str) -> datetime:
    """An ISO time or date (`2026-12-07`, `2026-12-07T09:00`, with an offset or Z); naive is UTC."""
    if not text.strip():
        raise FeedbackError("an empty time: expected ISO 8601 like 2026-12-07T09:00Z")
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FeedbackError(f"{text!r} is not a time: expected ISO 8601 like 2026-12-07T09:00Z") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_window(text: str) -> tuple[datetime, datetime]:
    """`FROM..TO`: a date as TO includes its whole day (`2026-12-24..2026-12-26` is three days); a time as
    TO is where the window ends."""
    start, dots, end = text.partition("..")
    if not dots:
        raise FeedbackError(f"--exclude {text!r}: expected FROM..TO, like 2026-12-24..2026-12-26")
    until = parse_time(end) + (timedelta(days=1) if _is_date(end) else timedelta(0))
    window = parse_time(start), until
    if window[1] <= window[0]:
        raise FeedbackError(f"--exclude {text!r}: the window is empty (it ends before it starts)")
    return window


def _is_date(text: str) -> bool:
    return len(text.strip()) == len("2026-12-24")


def point_at(found: Learner, history: SeriesHistory, action: FeedbackAction, at: datetime | None) -> datetime:
    """The point feedback is about: the one whose bucket, run or gap holds `at` (the latest one at or before
    it); without `at`, the latest flagged point (to mark expected) or the latest point."""
    points = found.learning.view(history.points)
    if at is None:
        wanted = [p for p in points if p.flagged] if action is FeedbackAction.EXPECTED else points
        if not wanted:
            what = "flagged point" if action is FeedbackAction.EXPECTED else "point"
            raise FeedbackError(f"{found.spec.id} has no {what} yet: name one with --at")
        return wanted[-1].at
    before = [p for p in points if p.at <= at]
    if not before:
        raise FeedbackError(f"{found.spec.id} has no point at or before {at:%Y-%m-%dT%H:%M:%SZ}")
    return before[-1].at


def teach(
    baselines: Baselines, found: Learner, action: FeedbackAction, at: datetime | None,
    window: tuple[datetime, datetime] | None, reason: str,
) -> tuple[Feedback, list[Feedback]]:
    """Store one piece of feedback, resolved to what it is about; returns it and what it replaced."""
    now = baselines.now()
    if at is not None and at > now:
        raise FeedbackError(f"--at {at:%Y-%m-%dT%H:%M:%SZ} is in the future: no point is there yet")
    if at is not None and window is not None:
        raise FeedbackError("--exclude FROM..TO names its window: --at does not apply")
    if action is FeedbackAction.EXCLUDE:
        assert window is not None
        return baselines.teach(found.spec.id, action, window[0], window[1], reason)
    if action is FeedbackAction.RESET:
        return baselines.teach(found.spec.id, action, at or now, None, reason)
    history = found.history(baselines, now - found.learning.horizon - timedelta(days=365))
    return baselines.teach(found.spec.id, action, point_at(found, history, action, at), None, reason)


def described(item: Feedback) -> str:
    """One line per piece of feedback, for the listing and the confirmation."""
    start, end = (f"{at:%Y-%m-%dT%H:%M:%SZ}" if at else "" for at in (item.start, item.end))
    what = {
        FeedbackAction.EXPECTED: "the point at {start} is expected: it passes and trains the baseline",
        FeedbackAction.ANOMALY: "the point at {start} is a real anomaly: it never trains the baseline",
        FeedbackAction.EXCLUDE: "{start}..{end} is excluded from training",
        FeedbackAction.RESET: "learning starts anew at {start}",
    }[item.action].format(start=start, end=end)
    reason = f" ({item.reason})" if item.reason else ""
    return f"feedback {item.id} on {item.check}: {what}{reason}"
