"""`demon check --push`: a run's results to a Prometheus Pushgateway, a group per check and per dataset.

Each check is its own group (`job="demon"`, `dataset`, `check`), and so is each dataset, for what describes
the whole dataset (its size, newest data and info). Groups are pushed with `pushadd` (HTTP POST), which
replaces only the metrics a push carries. So a run replaces what it measured and leaves everything else,
whether other datasets or other checks of the same dataset, and CI jobs checking different things never
erase each other. Run counts are not pushed: a counter that starts again at every push says nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from http.client import HTTPException
from urllib.error import HTTPError
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client import CollectorRegistry, pushadd_to_gateway
from prometheus_client.core import Metric
from prometheus_client.exposition import basic_auth_handler, default_handler
from prometheus_client.registry import Collector

from checks.result import Result
from monitor.config.models import Config
from monitor.metrics.catalog import (
    DURATION_BUCKETS,
    Latest,
    check_families,
    dataset_families,
    duration_family,
)
from monitor.metrics.exposition import Family, Histogram, to_client
from monitor.redact import Redactor, mask_url

JOB = "demon"
PUSH_TIMEOUT = 10.0  # seconds per request
Handler = Callable[..., Callable[[], None]]


class _Families(Collector):
    def __init__(self, families: Sequence[Family]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return (to_client(family) for family in self._families if family)


def groups(results: Sequence[Result], config: Config) -> list[tuple[dict[str, str], list[Family]]]:
    """(grouping key, families) per check, then per dataset, as the daemon would export them."""
    pushed: list[tuple[dict[str, str], list[Family]]] = []
    by_dataset: dict[str, dict[str, Result]] = {}
    for result in results:
        duration = Histogram(DURATION_BUCKETS)
        duration.observe(result.duration_seconds)
        latest = Latest({result.check: result}, {}, durations={(result.source, result.kind): duration})
        families = [*check_families(latest), duration_family(latest.durations)]
        pushed.append(({"dataset": result.dataset, "check": result.check}, families))
        by_dataset.setdefault(result.dataset, {})[result.check] = result
    for dataset, found in by_dataset.items():
        latest = Latest(found, {dataset: config.datasets[dataset]})
        pushed.append(({"dataset": dataset}, list(dataset_families(latest))))
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
    for index, (key, families) in enumerate(pushed):
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(families))
        try:
            pushadd_to_gateway(
                url, job=JOB, registry=registry, grouping_key=key, timeout=PUSH_TIMEOUT, handler=handler
            )
        except (OSError, ValueError, HTTPException) as exc:  # URLError, HTTPError, timeouts, a bad URL
            # Only an HTTP error is about this group; unreachable or a bad URL, the rest would fail the same.
            stop = not isinstance(exc, HTTPError)
            left = len(pushed) - index - 1
            after = f" (and {left} more groups, not tried)" if stop and left else ""
            problems.append(redact(f"{key.get('check') or key['dataset']}{after}: {shown}: {exc}"))
            if stop:
                break
    return problems


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
