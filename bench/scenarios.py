"""Scenarios: fan-out sessions (spaced, burst, idle memory), the reconnect storm, page views.

Each function takes a started server (`servers.Liveblog` or `nchan.Nginx`) and returns
plain dicts of figures; `report` turns them into tables.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from . import proc
from .loadgen import Fleet, Sent, publish


class Server(Protocol):
    name: str
    host: str
    port: int
    ok: tuple[int, ...]

    @property
    def pid(self) -> int: ...
    async def channel(self) -> str: ...
    def path(self, kind: str, channel: str) -> str: ...
    async def post(self, channel: str, text: bytes) -> tuple[int, float]: ...
    def page_path(self, channel: str) -> str: ...


@runtime_checkable
class Persisting(Protocol):
    """A server that writes each publish to disk before answering (liveblog's Redis)."""

    def watch_fsync(self) -> None: ...
    def fsync_max_ms(self) -> float: ...


@dataclass(frozen=True)
class Plan:
    """`m` updates, `interval` seconds apart (0: back to back)."""

    label: str
    m: int
    interval: float


SPACED_1S = Plan("spaced 1 s", 20, 1.0)
SPACED_02S = Plan("spaced 0.2 s", 20, 0.2)
BURST = Plan("burst", 200, 0.0)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def summarize(fleet: Fleet, sent: Sent) -> dict[str, Any]:
    """Deliveries, missing and duplicates over all N readers (one that never connected misses
    everything); fan-out and delivery latencies."""
    m, times = fleet.m, sent.times
    arrivals, counts = fleet.arrivals, fleet.counts
    latencies: list[float] = []
    fanout = [0.0] * m
    missing = duplicates = 0
    last = 0.0
    for reader in range(fleet.n):
        row = reader * m
        for j in range(m):
            count = counts[row + j]
            if not count:
                missing += 1
                continue
            duplicates += count - 1
            at = arrivals[row + j]
            delay = at - times[j]
            latencies.append(delay)
            if delay > fanout[j]:
                fanout[j] = delay
            if at > last:
                last = at
    delivered = len(latencies)
    span = last - times[0] if delivered else float("nan")
    return {
        "deliveries": delivered,
        "missing": missing,
        "duplicates": duplicates,
        "strays": fleet.strays,
        "resets": fleet.resets,
        "fanout_p50_ms": percentile(fanout, 0.5) * 1000,
        "fanout_p99_ms": percentile(fanout, 0.99) * 1000,
        "latency_p50_ms": percentile(latencies, 0.5) * 1000,
        "latency_p99_ms": percentile(latencies, 0.99) * 1000,
        "latency_max_ms": max(latencies, default=float("nan")) * 1000,
        "deliveries_per_s": delivered / span if delivered and span > 0 else float("nan"),
        "backlog_s": last - times[-1] if delivered else float("nan"),
        "publish_p99_ms": percentile(sent.latencies, 0.99) * 1000,
        "publish_failures": sent.failures,
        "caught_up_at": last,
    }


async def run_plan(server: Server, fleet: Fleet, channel: str, plan: Plan, base: int) -> dict[str, Any]:
    """Publish `plan` to connected readers; CPU and figures over the publish-to-last-delivery window."""
    fleet.expect(base, plan.m)
    disk = server if isinstance(server, Persisting) else None
    if disk:
        disk.watch_fsync()
    cpu0, own0, wall0 = proc.cpu(server.pid), proc.self_cpu(), time.monotonic()

    async def post(body: bytes) -> tuple[int, float]:
        return await server.post(channel, body)

    sent = await publish(post, base, plan.m, plan.interval, server.ok)
    complete = await fleet.wait_complete(timeout=max(15.0, fleet.n * plan.m / 5000))
    cpu1, own1, wall1 = proc.cpu(server.pid), proc.self_cpu(), time.monotonic()
    figures = summarize(fleet, sent)
    figures.update(
        plan=plan.label,
        complete=complete,
        cpu_us_per_delivery=(cpu1 - cpu0) / figures["deliveries"] * 1e6 if figures["deliveries"] else None,
        server_cpu_pct=100 * (cpu1 - cpu0) / (wall1 - wall0),
        loadgen_cpu_pct=100 * (own1 - own0) / (wall1 - wall0),
        fsync_max_ms=disk.fsync_max_ms() if disk else None,
    )
    fleet.strays = fleet.resets = 0
    return figures


async def fan_out(
    server: Server, kind: str, n: int, plans: Sequence[Plan], settle: float = 2.0
) -> list[dict[str, Any]]:
    """Connect N readers (connect time, idle memory per reader), then run each plan on them."""
    channel = await server.channel()
    fleet = Fleet(server.host, server.port, server.path(kind, channel), n, kind)
    await asyncio.sleep(0.5)
    rss0 = proc.rss(server.pid)
    connect_s = await fleet.connect()
    await asyncio.sleep(settle)
    connected = len(fleet.connect_times)
    rss1 = proc.rss(server.pid)
    session = {
        "server": server.name,
        "transport": kind,
        "n": n,
        "connected": connected,
        "connect_failed": fleet.failed,
        "connect_s": connect_s,
        "connect_p99_ms": percentile(fleet.connect_times, 0.99) * 1000,
        "kb_per_reader": (rss1 - rss0) / connected / 1024 if connected else float("nan"),
    }
    rows = []
    base = 0
    try:
        for plan in plans:
            figures = await run_plan(server, fleet, channel, plan, base)
            rows.append({**session, **figures, "lost": fleet.lost, "connect_failed": fleet.failed})
            base += plan.m
            await asyncio.sleep(0.5)
    finally:
        await fleet.close()
    return rows


async def fan_out_blogs(
    server: Server, n: int, blogs: int, plan: Plan, settle: float = 2.0
) -> dict[str, Any]:
    """N SSE readers spread over `blogs` blogs; each blog gets `plan`'s updates, all blogs at once.
    Fan-out per update of each blog (publish until its last reader has it) and publish latency,
    pooled over the blogs."""
    channels = [await server.channel() for _ in range(blogs)]
    fleets = [
        Fleet(server.host, server.port, server.path("sse", slug), n // blogs + (i < n % blogs), "sse")
        for i, slug in enumerate(channels)
    ]
    try:
        for fleet in fleets:
            await fleet.connect()
        await asyncio.sleep(settle)
        for fleet in fleets:
            fleet.expect(0, plan.m)
        cpu0, own0, wall0 = proc.cpu(server.pid), proc.self_cpu(), time.monotonic()

        def poster(slug: str) -> Any:
            return lambda body: server.post(slug, body)

        sents = await asyncio.gather(
            *(publish(poster(slug), 0, plan.m, plan.interval, server.ok) for slug in channels)
        )
        timeout = max(15.0, n * plan.m / 5000)
        complete = all([await fleet.wait_complete(timeout=timeout) for fleet in fleets])
        cpu1, own1, wall1 = proc.cpu(server.pid), proc.self_cpu(), time.monotonic()
        parts = [summarize(fleet, sent) for fleet, sent in zip(fleets, sents, strict=True)]
        fanouts = [f for fleet, sent in zip(fleets, sents, strict=True) for f in _fanouts(fleet, sent)]
        publishes = [latency for sent in sents for latency in sent.latencies]
    finally:
        for fleet in fleets:
            await fleet.close()
    deliveries = sum(part["deliveries"] for part in parts)
    return {
        "server": server.name,
        "n": n,
        "blogs": blogs,
        "plan": plan.label,
        "complete": complete,
        "connected": sum(len(fleet.connect_times) for fleet in fleets),
        "publish_p50_ms": percentile(publishes, 0.5) * 1000,
        "publish_p99_ms": percentile(publishes, 0.99) * 1000,
        "fanout_p50_ms": percentile(fanouts, 0.5) * 1000,
        "fanout_p99_ms": percentile(fanouts, 0.99) * 1000,
        "deliveries": deliveries,
        "missing": sum(part["missing"] for part in parts),
        "duplicates": sum(part["duplicates"] for part in parts),
        "publish_failures": sum(sent.failures for sent in sents),
        "server_cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "loadgen_cpu_pct": 100 * (own1 - own0) / (wall1 - wall0),
    }


def _fanouts(fleet: Fleet, sent: Sent) -> list[float]:
    """Per update: from its publish until the last reader that got it had it."""
    m, worst = fleet.m, [0.0] * fleet.m
    for reader in range(fleet.n):
        for j in range(m):
            if fleet.counts[reader * m + j]:
                worst[j] = max(worst[j], fleet.arrivals[reader * m + j] - sent.times[j])
    return worst


BACKGROUND_COMMANDS = frozenset({"hello", "client"})


async def reconnect_storm(server: Server, n: int, redis_commands: Any = None) -> dict[str, Any]:
    """N SSE readers drop and reconnect with Last-Event-ID within 1 s, having missed 2 updates."""
    channel = await server.channel()
    fleet = Fleet(server.host, server.port, server.path("sse", channel), n, "sse")

    async def post(body: bytes) -> tuple[int, float]:
        return await server.post(channel, body)

    try:
        await fleet.connect()
        fleet.expect(0, 3)
        await publish(post, 0, 3, 0.2, server.ok)
        warm = await fleet.wait_complete(timeout=30)
        fleet.drop()
        await asyncio.sleep(0.2)
        fleet.expect(3, 2)
        sent = await publish(post, 3, 2, 0.0, server.ok)
        before = redis_commands() if redis_commands else None
        await asyncio.sleep(0.2)
        started = time.time()
        reconnect_s = await fleet.reconnect(spread=1.0)
        fleet._target = n  # every reader must be caught up, not only the ones that got back in
        complete = await fleet.wait_complete(timeout=30)
        await asyncio.sleep(0.5)  # a duplicate or a stray would show up here
        after = redis_commands() if redis_commands else None
        figures = summarize(fleet, sent)
    finally:
        await fleet.close()
    commands = None
    if before is not None and after is not None:
        from .servers import command_delta

        commands = command_delta(before, after)
    return {
        "server": server.name,
        "n": n,
        "warm": warm,
        "complete": complete,
        "reconnected": len(fleet.connect_times),
        "connect_failed": fleet.failed,
        "reconnect_s": reconnect_s,
        "caught_up_s": figures["caught_up_at"] - started if figures["deliveries"] else float("nan"),
        "missing": figures["missing"],
        "duplicates": figures["duplicates"],
        "strays": figures["strays"],
        "resets": figures["resets"],
        # The storm's own reads; the handshake of the INFO probe's connection (HELLO, CLIENT
        # SETINFO) goes on whether there is a storm or not.
        "redis_commands": (
            sum(v for k, v in commands.items() if k not in BACKGROUND_COMMANDS)
            if commands is not None
            else None
        ),
        "redis_breakdown": commands,
    }


WRK_RATE = re.compile(rb"Requests/sec:\s+([0-9.]+)")
WRK_TOTAL = re.compile(rb"([0-9]+) requests in")
WRK_NON2XX = re.compile(rb"Non-2xx or 3xx responses:\s+([0-9]+)")


def wrk(url: str, seconds: int, connections: int, cpus: str | None) -> dict[str, float]:
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed")
    command = [binary, "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    out = subprocess.run(command, capture_output=True, timeout=seconds + 30, check=True).stdout
    rate, total = WRK_RATE.search(out), WRK_TOTAL.search(out)
    if rate is None or total is None:
        raise RuntimeError(f"cannot read wrk's output: {out.decode(errors='replace')}")
    bad = WRK_NON2XX.search(out)
    return {
        "requests_per_s": float(rate[1]),
        "requests": int(total[1]),
        "non_2xx": int(bad[1]) if bad else 0,
    }


async def page_views(
    server: Server,
    channel: str,
    seconds: int,
    cpus: str | None,
    redis_commands: Any = None,
    connections: int = 32,
) -> dict[str, Any]:
    """wrk against the page; Redis commands per view when the server has a Redis."""
    url = f"http://{server.host}:{server.port}{server.page_path(channel)}"
    before = redis_commands() if redis_commands else None
    result = await asyncio.to_thread(wrk, url, seconds, connections, cpus)
    after = redis_commands() if redis_commands else None
    per_view = None
    breakdown = None
    if before is not None and after is not None:
        from .servers import command_delta

        breakdown = command_delta(before, after)
        per_view = sum(breakdown.values()) / max(1, result["requests"])
    return {"server": server.name, **result, "redis_per_view": per_view, "redis_breakdown": breakdown}
