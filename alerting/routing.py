"""Which channels hear about an incident: `alerting.routes`, in order, first match wins unless `continue`.

Within a route's `match`, every field given must match (AND) and any of a field's values will do (OR);
`dataset` takes globs and `tags` match on any overlap. A route with no `outcome` takes failures and errors;
warnings alert only where a route lists `warn`. With no routes, every configured channel hears everything,
and with no channel either, the console does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from alerting.channels import DEFAULT_CHANNEL
from monitor.core.config.models import AlertingConfig, RouteMatch

DEFAULT_OUTCOMES = ("fail", "error")


@dataclass(frozen=True)
class Subject:
    """What routes look at: the incident's check (or one dataset of a source incident) and its outcome."""

    severity: str
    owner: str | None
    tags: tuple[str, ...]
    dataset: str
    kind: str
    outcome: str


_FIELDS: dict[str, Callable[[RouteMatch, Subject], bool]] = {
    "severity": lambda match, s: not match.severity or s.severity in match.severity,
    "owner": lambda match, s: not match.owner or s.owner in match.owner,
    "tags": lambda match, s: not match.tags or bool(set(match.tags) & set(s.tags)),
    "dataset": lambda match, s: not match.dataset or any(fnmatchcase(s.dataset, g) for g in match.dataset),
    "kind": lambda match, s: not match.kind or s.kind in match.kind,
    "outcome": lambda match, s: s.outcome in (match.outcome or DEFAULT_OUTCOMES),
}


def matches(match: RouteMatch, subject: Subject) -> bool:
    return all(test(match, subject) for test in _FIELDS.values())


def channels_for(alerting: AlertingConfig, subject: Subject) -> list[str]:
    """The channels to notify, in route order, each once."""
    if not alerting.routes:
        wanted = subject.outcome in DEFAULT_OUTCOMES
        return (sorted(alerting.channels) or [DEFAULT_CHANNEL]) if wanted else []
    chosen: dict[str, None] = {}
    for route in alerting.routes:
        if matches(route.match, subject):
            chosen.update(dict.fromkeys(route.notify))
            if not route.continue_:
                break
    return list(chosen)


def alerts_on(alerting: AlertingConfig, subject: Subject) -> bool:
    """Whether `subject.outcome` opens (or keeps open) an incident: fail and error always, warn where a route
    that would match asks for it."""
    if subject.outcome in DEFAULT_OUTCOMES:
        return True
    return subject.outcome == "warn" and bool(channels_for(alerting, subject))
