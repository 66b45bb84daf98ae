"""Prometheus metrics: request counts and latency by route template, and engine gauges.

Request metrics are kept by the web face; engine figures (actors, mailboxes, store commits,
price ticks, stream clients) are read from the running exchange at scrape time, so the engine
never depends on the metrics library. Labels are route templates, never raw paths, so their
number stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from exchange.buckets import Buckets
from exchange.engine import Exchange

UPKEEP_BUCKETS = (
    0.0001,
    0.0002,
    0.0003,
    0.0005,
    0.00075,
    0.001,
    0.00125,
    0.0015,
    0.00175,
    0.002,
    0.0025,
    0.003,
    0.005,
    0.01,
    0.025,
    0.1,
)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """The metrics of one app."""

    def __init__(
        self,
        exchange: Exchange,
        blocked_ips: Callable[[], int],
        blocked_logins: Callable[[], int] = lambda: 0,
    ) -> None:
        self.registry = CollectorRegistry()
        self.blocked_ips = blocked_ips
        self.blocked_logins = blocked_logins
        self.requests = Counter(
            "exchange_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "exchange_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "exchange_http_requests_in_flight",
            "HTTP requests being handled.",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "exchange_rate_limited",
            "Requests refused by a rate limit, by limit.",
            ["limit"],
            registry=self.registry,
        )
        self.ws_frames = Counter(
            "exchange_websocket_frames_sent",
            "Websocket messages sent, by stream.",
            ["stream"],
            registry=self.registry,
        )
        self.ws_dropped = Counter(
            "exchange_websocket_clients_dropped",
            "Websocket clients closed for falling behind, by stream.",
            ["stream"],
            registry=self.registry,
        )
        self.board_upkeep = Histogram(
            "exchange_class_board_upkeep_seconds",
            "CPU time of making one class's leaderboard frame (ranking and encoding), per tick.",
            buckets=UPKEEP_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(EngineCollector(exchange, self))
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request and its latency (label children cached: route templates are few)."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


def _histogram(name: str, doc: str, buckets: Buckets) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], buckets.cumulative(), buckets.total)
    return family


class EngineCollector(Collector):
    """Reads the engine's figures at scrape time."""

    def __init__(self, exchange: Exchange, metrics: Metrics) -> None:
        self.exchange = exchange
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        """Every engine metric family."""
        exchange = self.exchange
        store, feed = exchange.store, exchange.feed
        yield GaugeMetricFamily(
            "exchange_account_actors", "Account actors running.", value=exchange.accounts_alive()
        )
        mailbox = GaugeMetricFamily(
            "exchange_mailbox_high_water", "Deepest mailbox seen, by actor kind.", labels=["actor"]
        )
        mailbox.add_metric(["account"], exchange.mailbox_high_water())
        mailbox.add_metric(["store"], store.mailbox.high_water)
        yield mailbox
        depth = GaugeMetricFamily(
            "exchange_mailbox_depth", "Commands waiting now.", labels=["actor"]
        )
        depth.add_metric(["store"], store.mailbox.depth())
        yield depth
        yield _histogram(
            "exchange_store_commit_seconds", "Store commit latency.", store.stats.latency
        )
        yield _histogram(
            "exchange_store_batch_size", "Writes per store commit.", store.stats.batches
        )
        yield CounterMetricFamily(
            "exchange_store_failed_commits",
            "Commits the database refused (disk full, I/O error, locked).",
            value=store.stats.failed_commits,
        )
        yield CounterMetricFamily(
            "exchange_store_refused_writes",
            "Writes answered storage_unavailable.",
            value=store.stats.refused_writes,
        )
        yield CounterMetricFamily(
            "exchange_price_ticks", "Price ticks since start.", value=feed.stats_ticks
        )
        clients = GaugeMetricFamily(
            "exchange_websocket_clients", "Connected stream clients.", labels=["stream"]
        )
        clients.add_metric(["prices"], feed.subscribers())
        clients.add_metric(["account"], exchange.events.subscribers())
        yield clients
        yield GaugeMetricFamily(
            "exchange_resting_orders",
            "Orders resting in the triggers index.",
            value=len(exchange.triggers),
        )
        yield GaugeMetricFamily(
            "exchange_blocked_ips",
            "IPs whose logins are blocked now.",
            value=self.metrics.blocked_ips(),
        )
        yield GaugeMetricFamily(
            "exchange_blocked_logins",
            "(address, username) pairs whose logins are blocked now.",
            value=self.metrics.blocked_logins(),
        )
