"""Prometheus metrics, served as text at /metrics.

With several server processes (`LIVEBLOG_WORKERS` > 1), `liveblog serve` gives them one
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode, read when this module is
imported): each process writes its samples there and `/metrics`, whichever process answers,
reports the whole server (counters and histograms summed, readers summed over live processes,
the reader lag the worst one's).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROCESS = bool(os.environ.get(MULTIPROC_ENV))

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
READER_LAG = Gauge(
    "liveblog_redis_reader_lag_seconds",
    "Age of the newest event the hub has read",
    multiprocess_mode="livemax",
)
PUBLISHED = Counter("liveblog_publishes_total", "Updates published", ["via"])
COMPRESSIONS = Counter(
    "liveblog_compressions_total",
    "Response bodies compressed: a kept render or a static file once each, others per response",
    ["kind", "coding"],
)


def _tasks() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # scraped outside the event loop
        return 0.0


# A gauge read by a function at scrape time is one process's own: there is none to sum in the
# multiprocess files, so this one is reported with a single worker only.
if not MULTIPROCESS:
    TASKS = Gauge("liveblog_asyncio_tasks", "asyncio tasks alive in this process (a leak shows here)")
    TASKS.set_function(_tasks)


def render() -> bytes:
    """The text of /metrics: this process's metrics, or every worker's in multiprocess mode."""
    if not MULTIPROCESS:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def process_exited() -> None:
    """Drop this process's live gauges (its readers) from the shared files, at shutdown."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())


@contextlib.contextmanager
def multiprocess_dir(workers: int) -> Iterator[None]:
    """For `liveblog serve` before it starts `workers` processes: with more than one, a fresh
    directory for their samples in `PROMETHEUS_MULTIPROC_DIR` (the operator's, emptied of an
    earlier run's files, or a temporary one removed at exit)."""
    given = os.environ.get(MULTIPROC_ENV)
    if workers < 2:
        yield
        return
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        yield
        return
    with tempfile.TemporaryDirectory(prefix="liveblog-metrics-") as path:
        os.environ[MULTIPROC_ENV] = path
        try:
            yield
        finally:
            os.environ.pop(MULTIPROC_ENV, None)
