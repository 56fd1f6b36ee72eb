"""`demon check --push`: a run's results to a Prometheus Pushgateway, a group per check and per dataset.

Each check is its own group (`job="demon"`, `dataset`, `check`), replaced whole (HTTP PUT): a check that now
ends in `error` leaves no value of an earlier run behind. Each dataset has a group too, for what describes
the whole dataset (its size, newest data and info), added to with `pushadd` (HTTP POST), which replaces only
the metrics a push carries: a run that checked only the volume keeps the newest data an earlier run pushed.
So a run replaces what it measured and leaves everything else, other datasets and other checks of the same
dataset, and CI jobs checking different things never erase each other. Counters are not pushed (run counts,
the duration histogram): one that starts again at every push breaks `rate()`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.client import HTTPException
from urllib.error import HTTPError
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client import push_to_gateway, pushadd_to_gateway
from prometheus_client.exposition import basic_auth_handler, default_handler

from monitor.app.metrics.catalog import Latest, check_families, dataset_families
from monitor.app.metrics.exposition import Family, client_registry
from monitor.core.config.models import Config
from monitor.core.redact import Redactor, mask_url
from monitor.core.results import Result

JOB = "demon"
PUSH_TIMEOUT = 10.0  # seconds per request
COUNTERS = ("demon_check_runs_total",)  # not pushed
Handler = Callable[..., Callable[[], None]]


@dataclass(frozen=True)
class Group:
    """One Pushgateway group: its grouping key, its metrics, and whether a push replaces it whole."""

    key: dict[str, str]
    families: list[Family]
    whole: bool

    @property
    def name(self) -> str:
        return self.key.get("check") or self.key["dataset"]


def groups(results: Sequence[Result], config: Config) -> list[Group]:
    """A group per check, then one per dataset, with the series the daemon would export."""
    pushed = []
    by_dataset: dict[str, dict[str, Result]] = {}
    for result in results:
        families = check_families(Latest({result.check: result}, {}))
        kept = [family for family in families if family.name not in COUNTERS]
        pushed.append(Group({"dataset": result.dataset, "check": result.check}, kept, whole=True))
        by_dataset.setdefault(result.dataset, {})[result.check] = result
    for dataset, found in by_dataset.items():
        latest = Latest(found, {dataset: config.datasets[dataset]})
        pushed.append(Group({"dataset": dataset}, list(dataset_families(latest)), whole=False))
    return pushed


def push_results(results: Sequence[Result], config: Config, gateway: str) -> list[str]:
    """Push the results' groups; returns why any group could not be pushed (the messages are redacted)."""
    redact = Redactor(config.secrets)
    shown = mask_url(_with_scheme(gateway))  # with a scheme, so that mask_url sees the password
    try:
        url, handler = _endpoint(gateway)
    except ValueError as exc:  # a port that is no number, say
        return [redact(f"{shown}: {exc}")]
    problems = []
    pushed = groups(results, config)
    for index, group in enumerate(pushed):
        registry = client_registry(group.families)
        send = push_to_gateway if group.whole else pushadd_to_gateway
        try:
            send(
                url, job=JOB, registry=registry, grouping_key=group.key, timeout=PUSH_TIMEOUT, handler=handler
            )
        except (OSError, ValueError, HTTPException) as exc:  # URLError, HTTPError, timeouts, a bad URL
            stop = _hopeless(exc)
            left = len(pushed) - index - 1
            after = f" (and {left} more groups, not tried)" if stop and left else ""
            problems.append(redact(f"{group.name}{after}: {shown}: {exc}"))
            if stop:
                break
    return problems


def _hopeless(exc: Exception) -> bool:
    """Whether the other groups would fail the same way: all but the gateway's 400 about one group's metrics
    (unreachable, a bad URL, refused credentials, a server error)."""
    return not (isinstance(exc, HTTPError) and exc.code == HTTPStatus.BAD_REQUEST)


def _with_scheme(gateway: str) -> str:
    return gateway if "://" in gateway else f"http://{gateway}"


def _endpoint(gateway: str) -> tuple[str, Handler]:
    """The URL without its `user:password@`, and a handler that sends them as basic auth instead.

    Raises ValueError for a port that is no number, before any group is tried.
    """
    parts = urlsplit(_with_scheme(gateway))
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # IPv6
    url = urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))
    if parts.username is None:
        return url, default_handler
    username, password = unquote(parts.username), unquote(parts.password or "")

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        return basic_auth_handler(url, method, timeout, headers, data, username, password)

    return url, handler
