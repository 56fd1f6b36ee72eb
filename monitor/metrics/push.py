"""`demon check --push`: a run's results to a Prometheus Pushgateway, one group per dataset.

Each dataset is its own group (`job="demon"`, `dataset=NAME`), pushed with `pushadd` (HTTP POST): a run
replaces the metrics of the datasets it checked and leaves every other group alone, so CI jobs checking
different datasets never erase each other. Run counts are not pushed: a counter that starts again at every
push says nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from http.client import HTTPException
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client import CollectorRegistry, pushadd_to_gateway
from prometheus_client.core import Metric
from prometheus_client.exposition import basic_auth_handler, default_handler
from prometheus_client.registry import Collector

from checks.result import Result
from monitor.config.models import Config
from monitor.metrics.catalog import DURATION_BUCKETS, Latest, result_families
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


def dataset_families(results: Sequence[Result], config: Config, dataset: str) -> list[Family]:
    """The metrics of one dataset's results, as the daemon exports them (without run counts)."""
    durations: dict[tuple[str, str], Histogram] = {}
    for result in results:
        durations.setdefault((result.source, result.kind), Histogram(DURATION_BUCKETS)).observe(
            result.duration_seconds
        )
    latest = Latest(
        {result.check: result for result in results}, {dataset: config.datasets[dataset]}, durations=durations
    )
    return result_families(latest)


def push_results(results: Sequence[Result], config: Config, gateway: str) -> list[str]:
    """Push each dataset's results; returns why any dataset could not be pushed (the message is redacted)."""
    redact = Redactor(config.secrets)
    shown = mask_url(_with_scheme(gateway))  # with a scheme, so that mask_url sees the password
    try:
        url, handler = _endpoint(gateway)
    except ValueError as exc:  # a port that is no number, say
        return [redact(f"{shown}: {exc}")]
    grouped: dict[str, list[Result]] = {}
    for result in results:
        grouped.setdefault(result.dataset, []).append(result)
    problems = []
    for dataset, found in grouped.items():
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(dataset_families(found, config, dataset)))
        try:
            pushadd_to_gateway(
                url,
                job=JOB,
                registry=registry,
                grouping_key={"dataset": dataset},
                timeout=PUSH_TIMEOUT,
                handler=handler,
            )
        except (OSError, ValueError, HTTPException) as exc:  # URLError, HTTPError, timeouts, a bad URL
            problems.append(redact(f"dataset {dataset}: {shown}: {exc}"))
    return problems


def _with_scheme(gateway: str) -> str:
    return gateway if "://" in gateway else f"http://{gateway}"


def _endpoint(gateway: str) -> tuple[str, Handler]:
    """The URL without its `user:password@`, and a handler that sends them as basic auth instead."""
    parts = urlsplit(_with_scheme(gateway))
    if parts.username is None:
        return urlunsplit(parts), default_handler
    netloc = parts.hostname or ""
    netloc += f":{parts.port}" if parts.port else ""
    username, password = unquote(parts.username), unquote(parts.password or "")

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        return basic_auth_handler(url, method, timeout, headers, data, username, password)

    return urlunsplit(parts._replace(netloc=netloc)), handler
