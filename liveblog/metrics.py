"""Prometheus metrics, served as text at /metrics."""

from __future__ import annotations

import asyncio

from prometheus_client import Counter, Gauge, Histogram

READERS = Gauge("liveblog_readers", "Connected readers", ["transport"], multiprocess_mode="livesum")
EVENTS_DELIVERED = Counter("liveblog_events_delivered_total", "Events handed to readers' queues")
READERS_DROPPED = Counter(
    "liveblog_readers_dropped_total", "Readers disconnected because their queue was full"
)
READER_ERRORS = Counter("liveblog_redis_reader_errors_total", "Redis errors seen by the hub's reader tasks")
DELIVERY_LATENCY = Histogram(
    "liveblog_publish_to_delivery_seconds",
    "From the event's stream timestamp to its hand-off to the readers' queues",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
READER_LAG = Gauge("liveblog_redis_reader_lag_seconds", "Age of the newest event the hub has read")
PUBLISHED = Counter("liveblog_publishes_total", "Updates published", ["via"])


def _tasks() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # scraped outside the event loop
        return 0.0


TASKS = Gauge("liveblog_asyncio_tasks", "asyncio tasks alive in this process (a leak shows here)")
TASKS.set_function(_tasks)
