"""What the service counts, for Prometheus (``GET /metrics`` or ``--metrics-port``).

Labels take only values from a fixed set that Keyhouse defines (routed actions, vendor codes,
authentication failure reasons), never what a client wrote, so no client can grow the series;
nothing secret and nothing per key or per account is a label. Figures the service keeps anyway
(the cache's, the trail's) are read when scraped, costing the request path nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds: a request answered from memory takes about 0.1 ms, one that commits a few ms, one
# waiting out a store that is away up to the committer's 10 s.
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2000)
_COMMIT = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class Metrics:
    """The service's counters and histograms, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._answered: dict[tuple[str, str], tuple[Any, Any]] = {}
        r = self.registry
        # The process's CPU, memory and open files, and the garbage collector's runs.
        ProcessCollector(registry=r)
        GCCollector(registry=r)
        self.requests = Counter(
            "keyhouse_requests",
            "API requests answered, by action and vendor code (OK when it succeeded).",
            ["action", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "keyhouse_request_duration_seconds",
            "Time to answer an API request, from its body read to its answer, by action.",
            ["action"],
            buckets=_LATENCY,
            registry=r,
        )
        self.console_requests = Counter(
            "keyhouse_console_requests",
            "Console requests answered, by HTTP method and status class.",
            ["method", "status"],
            registry=r,
        )
        self.auth_failures = Counter(
            "keyhouse_auth_failures",
            "Requests refused by authentication, by reason.",
            ["reason"],
            registry=r,
        )
        self.verifications = Counter(
            "keyhouse_gateway_verifications",
            "Gateways' questions answered, by where: on the event loop from the cache, or on a "
            "worker thread against the store.",
            ["where"],
            registry=r,
        )
        self.throttled = Counter(
            "keyhouse_throttled",
            "Requests refused unread because their source address failed too often.",
            registry=r,
        )
        self.batch_size = Histogram(
            "keyhouse_commit_batch_size",
            "Items (requests' events, nonces and notes) in one committed batch.",
            buckets=_BATCH,
            registry=r,
        )
        self.commit_seconds = Histogram(
            "keyhouse_commit_duration_seconds",
            "Time one batch's transaction took, retries included.",
            buckets=_COMMIT,
            registry=r,
        )
        self.store_errors = Counter(
            "keyhouse_store_errors",
            "Times the store could not be reached or refused to commit, by where it was met.",
            ["where"],
            registry=r,
        )
        self.sweep_runs = Counter(
            "keyhouse_sweep_runs",
            "Retention sweeps this instance ran (holding the sweep lease).",
            registry=r,
        )
        self.sweep_purged = Counter(
            "keyhouse_sweep_purged",
            "Keys and users the retention sweep purged from recycle bins.",
            registry=r,
        )

    def answered(self, action: str, code: str, seconds: float) -> None:
        # The labelled children, kept: ``labels`` takes a lock and checks its arguments on
        # every call (a few microseconds a request). Actions and codes are a fixed set.
        children = self._answered.get((action, code))
        if children is None:
            children = (self.requests.labels(action, code), self.latency.labels(action))
            self._answered[(action, code)] = children
        children[0].inc()
        children[1].observe(seconds)

    def committed(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.commit_seconds.observe(seconds)

    def read(self, figures: Callable[[], Iterator[Metric]]) -> None:
        """Also report what ``figures`` yields when scraped."""
        self.registry.register(_Figures(figures))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Figures(Collector):
    def __init__(self, figures: Callable[[], Iterator[Metric]]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        return self.figures()

    def describe(self) -> list[Any]:
        return []


def counter(name: str, documentation: str, value: float) -> Metric:
    return CounterMetricFamily(name, documentation, value=value)


def gauge(name: str, documentation: str, value: float) -> Metric:
    return GaugeMetricFamily(name, documentation, value=value)
