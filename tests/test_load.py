"""Load: frozen readers, a reconnect storm, churn, and two processes serving one blog.

Each scenario checks itself (every update once, in order; nothing leaks) and prints its figures.
`make test` runs small sizes; `make stress` (LIVEBLOG_STRESS=1) runs the sizes of issue 5.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import re
import socket
import string
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from .clients import Follower, Received, SSEReader, WSReader, all_connected, key
from .conftest import Server, sized
from .test_chaos import Publisher, check_exactly_once

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("open_files")]
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


# --- figures from /proc, /metrics and Redis ---------------------------------------------------


def process_tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    todo += map(int, Path(f"/proc/{current}/task/{task}/children").read_text().split())
    return found


def rss(pid: int, tree: bool = True) -> int:
    """Resident bytes of `pid` (and, with `tree`, of its children: workers, the embedded Redis)."""
    total = 0
    for member in process_tree(pid) if tree else [pid]:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE_SIZE
    return total


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def scrape(url: str) -> dict[str, float]:
    """/metrics as {'name{labels}': value}, on a connection of its own (closed after)."""
    async with httpx.AsyncClient(timeout=10, headers={"Connection": "close"}) as client:
        text = (await client.get(url + "/metrics")).text
    return {m[1]: float(m[2]) for m in re.finditer(r"^(\S+) (\S+)$", text, re.M) if not m[1].startswith("#")}


def readers(metrics: dict[str, float]) -> int:
    return int(sum(v for k, v in metrics.items() if k.startswith("liveblog_readers{")))


def stream_reads(server: Server) -> dict[str, int]:
    """Redis's call counts of the commands that read a stream (INFO commandstats)."""
    with server.redis() as client:
        stats = client.info("commandstats")
    return {c: int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("xrange", "xrevrange", "xread")}


def all_calls(server: Server) -> int:
    with server.redis() as client:
        return sum(int(s["calls"]) for s in client.info("commandstats").values())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Stamped(list[Received]):
    """An event list that notes when each event arrived (a reader appends to it as it parses), and
    keeps of each update only the first word of its body: thousands of readers share this process."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[float] = []

    def append(self, item: Received) -> None:
        self.arrived.append(time.time())
        head = item.data.get("update", {}).get("body", "").split(" ", 1)[0]
        super().append(Received(item.id, item.type, {"head": head}))


def sse_path(slug: str) -> str:
    return f"/api/v1/blogs/{slug}/events"


def ws_path(slug: str, last_event_id: str | None = None) -> str:
    return f"/api/v1/blogs/{slug}/ws" + (f"?last_event_id={last_event_id}" if last_event_id else "")


async def close_all(clients: list[Any]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=False)


async def create_blog(server: Server, slug: str) -> httpx.AsyncClient:
    """The blog, and an admin API client (the caller closes it)."""
    api = httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token('load-' + slug)}"}, timeout=10
    )
    response = await api.post("/api/v1/blogs", json={"slug": slug, "title": f"Load {slug}"})
    assert response.status_code == 201, response.text
    return api


async def publish(api: httpx.AsyncClient, slug: str, body: str) -> str:
    response = await api.post(f"/api/v1/blogs/{slug}/updates", json={"body": body})
    assert response.status_code == 201, response.text
    update_id: str = response.json()["id"]
    return update_id


def ids(reader: SSEReader | WSReader) -> list[str]:
    return [e.id for e in reader.events if e.id and e.type != "reset"]


# --- scenario 3: slow and frozen readers ------------------------------------------------------


class FrozenWS(WSReader):
    """A WebSocket reader that stops reading once connected. It sends no keepalive pings (they
    would time out and close the socket from this side) and asks for no compression (so that it
    fills its buffers as fast as an SSE reader does)."""

    async def connect(self) -> FrozenWS:
        url = "ws" + self.base_url.removeprefix("http") + self.path
        self.ws = await websockets.connect(url, ping_interval=None, compression=None)
        self.ws.transport.pause_reading()
        self._task = asyncio.ensure_future(self._read())
        return self

    def thaw(self) -> None:
        self.ws.transport.resume_reading()


def prose(size: int) -> str:
    """Text that compresses about as well as an article does (WebSocket frames are deflated)."""
    rng = random.Random(size)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(3000)]
    return " ".join(rng.choices(words, k=size // 5))[:size]


def thaw(frozen: SSEReader | FrozenWS) -> None:
    """Start reading again: to see what a frozen reader got, and how its connection ended."""
    if isinstance(frozen, FrozenWS):
        frozen.thaw()
        return
    assert frozen._writer is not None
    stream = frozen._writer.transport.get_protocol()._stream_reader  # type: ignore[attr-defined]
    frozen._task = asyncio.ensure_future(frozen._read(stream))


def by_transport(metrics: dict[str, float], transport: str) -> int:
    return int(metrics.get(f'liveblog_readers{{transport="{transport}"}}', 0))


async def test_frozen_readers_are_dropped_and_do_not_slow_the_others(tmp_path):
    """Scenario 3. A loopback socket that is never read absorbs ~4 MB (the server's send buffer
    autotunes that far) before a send blocks; then the send timeout drops the reader."""
    n = sized(300, 1000)
    frozen_n = n // 10
    frozen_ws = max(2, frozen_n // 10)
    rate = sized(3.0, 1.2)  # updates a second: each is ~120 KB on the wire, to every healthy reader
    baseline_count = sized(20, 12)
    body = prose(60_000)
    srv = Server(
        tmp_path / "data", queue_size=32, send_timeout=3, rate_limit=1_000_000, streams_per_ip=0
    ).start()
    assert srv.process is not None
    with srv.redis() as client:  # latencies of the fan-out, not of this disk's fsyncs
        client.config_set("appendfsync", "no")
    api = await create_blog(srv, "frozen")
    healthy: list[SSEReader | WSReader] = []
    swapped: list[SSEReader | WSReader] = []
    frozen: list[SSEReader | FrozenWS] = []
    published: list[tuple[str, float]] = []  # (id, sent at)

    def reader(i: int) -> SSEReader | WSReader:
        if i % 10 == 9:
            return WSReader(srv.url, ws_path("frozen"), events=Stamped())
        return SSEReader(srv.url, sse_path("frozen"), events=Stamped())

    async def publish_at_rate(count: int | None, until: asyncio.Event | None = None) -> None:
        started = time.monotonic()
        n = 0
        while (count is None or n < count) and not (until is not None and until.is_set()):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            sent = time.time()
            published.append((await publish(api, "frozen", f"{len(published)} {sent:.6f} {body}"), sent))
            n += 1

    async def all_received(group: list[SSEReader | WSReader], timeout: float = 60) -> None:
        await asyncio.gather(*(r.wait_for(len(published), timeout=timeout) for r in group))

    try:
        healthy = [reader(i) for i in range(n - frozen_n)]
        swapped = [reader(i) for i in range(frozen_n)]
        for group in (healthy, swapped):
            await asyncio.gather(*(r.connect() for r in group))
        async with asyncio.timeout(30):
            while readers(await scrape(srv.url)) < n:
                await asyncio.sleep(0.1)

        # Without frozen readers: N healthy readers, the same rate and bodies (after a warm-up).
        await publish_at_rate(3)
        warmed = len(published)
        await publish_at_rate(baseline_count)
        await all_received(healthy + swapped)
        rss_before = rss(srv.process.pid)

        # 10% of the readers freeze: the same N, of which these never read again.
        await close_all(swapped)
        frozen_sse = [SSEReader(srv.url, sse_path("frozen")) for _ in range(frozen_n - frozen_ws)]
        frozen_wsr = [FrozenWS(srv.url, ws_path("frozen")) for _ in range(frozen_ws)]
        frozen = [*frozen_sse, *frozen_wsr]
        await asyncio.gather(*(r.connect(read=False) for r in frozen_sse), *(r.connect() for r in frozen_wsr))
        async with asyncio.timeout(30):
            while readers(await scrape(srv.url)) < n:
                await asyncio.sleep(0.1)
        frozen_at = time.monotonic()
        freeze_starts = len(published)
        healthy_sse = sum(isinstance(r, SSEReader) for r in healthy)
        gone = asyncio.Event()
        steady = asyncio.ensure_future(publish_at_rate(None, until=gone))
        peak_rss = rss_before
        try:
            async with asyncio.timeout(60):  # the frozen SSE readers are dropped by the send timeout
                while by_transport(await scrape(srv.url), "sse") > healthy_sse:
                    peak_rss = max(peak_rss, rss(srv.process.pid))
                    await asyncio.sleep(0.25)
        finally:
            gone.set()
            await steady
        dropped_in = time.monotonic() - frozen_at
        await publish_at_rate(5)  # and the healthy ones are still live
        await all_received(healthy)
        ws_left = by_transport(await scrape(srv.url), "ws") - (len(healthy) - healthy_sse)
        rss_after = rss(srv.process.pid)

        # Every healthy reader: every update, once, in order.
        expected = [i for i, _ in published]
        for r in healthy:
            assert ids(r) == expected, f"{type(r).__name__}: {len(ids(r))} ids, expected {len(expected)}"
        sent_at = dict(published)
        before_ms: list[float] = []
        during_ms: list[float] = []
        for r in healthy:
            assert isinstance(r.events, Stamped)
            for event, arrived in zip(r.events, r.events.arrived, strict=True):
                seq = int(event.data["head"])
                if seq >= warmed:
                    latency = (arrived - sent_at[event.id or ""]) * 1000
                    (before_ms if seq < freeze_starts else during_ms).append(latency)

        # The frozen ones got a prefix of what followed; the SSE ones were cut off (EOF once read).
        for r in frozen:
            thaw(r)
        await asyncio.gather(*(asyncio.wait_for(r.closed.wait(), 30) for r in frozen_sse))
        with contextlib.suppress(TimeoutError):  # see test_a_frozen_websocket_reader_is_disconnected
            await asyncio.wait_for(asyncio.gather(*(r.closed.wait() for r in frozen_wsr)), 5)
        since = expected[freeze_starts:]
        for r in frozen:
            assert ids(r) == since[: len(ids(r))]
        assert all(len(ids(r)) < len(since) for r in frozen_sse)
        got = {kind: sorted(len(ids(r)) for r in frozen if isinstance(r, cls)) for kind, cls in
               (("sse", SSEReader), ("ws", FrozenWS))}  # fmt: skip

        p50_before, p99_before = percentile(before_ms, 0.5), percentile(before_ms, 0.99)
        p50_during, p99_during = percentile(during_ms, 0.5), percentile(during_ms, 0.99)
        print(
            f"\nfrozen readers: {n} readers ({len(healthy)} healthy, {len(frozen_sse)} SSE and "
            f"{len(frozen_wsr)} WS frozen), {len(published)} updates of {len(body) // 1024} KB at "
            f"{rate}/s, queue 32, send timeout 3 s\n"
            f"  healthy latency without frozen readers: p50 {p50_before:.0f} ms, p99 {p99_before:.0f} ms; "
            f"with them: p50 {p50_during:.0f} ms, p99 {p99_during:.0f} ms\n"
            f"  frozen SSE readers all disconnected {dropped_in:.1f}s after freezing, having got "
            f"{got['sse'][0]}-{got['sse'][-1]} of the {len(since)} updates since; frozen WS readers "
            f"still connected then: {ws_left} of {len(frozen_wsr)}; they got {got['ws'][0]}-{got['ws'][-1]} "
            f"once they read again\n"
            f"  gaps 0, duplicates 0; server RSS {rss_before / MB:.0f} MB before freezing, "
            f"peak {peak_rss / MB:.0f} MB, {rss_after / MB:.0f} MB after"
        )
        assert p99_during <= 2 * p99_before + 100, (p99_before, p99_during)
        assert rss_after < 1.5 * rss_before + 50 * MB
    finally:
        await close_all([*healthy, *swapped, *frozen])
        await api.aclose()
        srv.stop()


async def _publish_until_dropped(srv: Server, api: httpx.AsyncClient, slug: str, timeout: float) -> int:
    """Publish ~120 KB updates until only the one healthy reader is left (or `timeout`)."""
    body, count, started = prose(60_000), 0, time.monotonic()
    while readers(await scrape(srv.url)) > 1 and time.monotonic() - started < timeout:
        await publish(api, slug, f"{count} {body}")
        count += 1
        await asyncio.sleep(0.03)
    return count


@contextlib.asynccontextmanager
async def _freezing(tmp_path: Path, slug: str) -> AsyncIterator[tuple[Server, httpx.AsyncClient, list[Any]]]:
    """A server that drops frozen readers soon (queue 32, send timeout 3 s), its blog's API
    client, and the list the test puts its clients in: a live one first, then frozen ones,
    which thaw on the way out before everything closes."""
    srv = Server(tmp_path / "data", queue_size=32, send_timeout=3, rate_limit=1_000_000).start()
    api = await create_blog(srv, slug)
    clients: list[Any] = []
    try:
        yield srv, api, clients
    finally:
        for r in clients[1:]:
            thaw(r)
        await close_all(clients)
        await api.aclose()
        srv.stop()


async def test_a_frozen_websocket_reader_is_disconnected(tmp_path):
    """Scenario 3, WebSocket: a reader that stops reading is disconnected within a bounded
    time, as a frozen SSE reader is by the send timeout."""
    async with _freezing(tmp_path, "ws-frozen") as (srv, api, clients):
        clients.append(await SSEReader(srv.url, sse_path("ws-frozen")).connect())
        clients += [await FrozenWS(srv.url, ws_path("ws-frozen")).connect() for _ in range(2)]
        started = time.monotonic()
        count = await _publish_until_dropped(srv, api, "ws-frozen", timeout=25)
        left = by_transport(await scrape(srv.url), "ws")
        print(
            f"\nfrozen WebSocket readers: {left} of 2 still connected "
            f"{time.monotonic() - started:.1f}s and {count} updates of 120 KB after they froze"
        )
        assert left == 0


async def test_the_connection_of_a_dropped_frozen_reader_is_closed_by_the_server(tmp_path):
    """Scenario 3, at the socket: dropping a frozen reader frees its connection, not only its
    subscription (a frozen but alive peer acknowledges zero-window probes forever)."""
    async with _freezing(tmp_path, "cut") as (srv, api, clients):
        assert srv.process is not None
        clients.append(await SSEReader(srv.url, sse_path("cut")).connect())
        base = open_fds(srv.process.pid)
        clients += [await SSEReader(srv.url, sse_path("cut")).connect(read=False) for _ in range(3)]
        with_them = open_fds(srv.process.pid)
        count = await _publish_until_dropped(srv, api, "cut", timeout=30)
        assert readers(await scrape(srv.url)) == 1  # the send timeout did drop them
        waited = time.monotonic()
        while (now := open_fds(srv.process.pid)) > base + 1 and time.monotonic() - waited < 5:
            await asyncio.sleep(0.05)  # the sockets close on their own: wait for that, 5 s at most
        print(
            f"\ndropped frozen SSE readers: server fds {base} without them, {with_them} with them, "
            f"{now} {time.monotonic() - waited:.2f} s after they were dropped ({count} updates of 120 KB)"
        )
        assert now <= base + 1


# --- scenario 4: reconnect storm --------------------------------------------------------------


async def test_a_reconnect_storm_is_served_from_the_ring_with_a_handful_of_redis_reads(tmp_path):
    """Scenario 4: every reader drops and comes back at once with its Last-Event-ID, once while
    the hub is warm and once after it went cold (as after a deploy)."""
    n = sized(1000, 2000)
    srv = Server(tmp_path / "data", rate_limit=1_000_000, streams_per_ip=0).start()
    api = await create_blog(srv, "storm")
    clients: list[SSEReader | WSReader] = []

    def reader(i: int, last: str | None) -> SSEReader | WSReader:
        if i % 4 == 3:
            return WSReader(srv.url, ws_path("storm", last))
        return SSEReader(srv.url, sse_path("storm"), last_event_id=last)

    try:
        clients = [reader(i, None) for i in range(n)]
        await asyncio.gather(*(r.connect() for r in clients))
        async with asyncio.timeout(30):
            while readers(await scrape(srv.url)) < n:
                await asyncio.sleep(0.1)
        first = [await publish(api, "storm", f"before {i}") for i in range(5)]
        await asyncio.gather(*(r.wait_for(len(first), timeout=30) for r in clients))
        assert all(ids(r) == first for r in clients)

        for storm in ("warm", "cold"):
            positions = [r.last_event_id for r in clients]
            await close_all(clients)
            clients = []
            missed = [await publish(api, "storm", f"{storm} missed {i}") for i in range(5)]
            if storm == "cold":
                async with asyncio.timeout(30):  # the hub stops the blog's reader after its linger
                    while srv.stream_readers(blocked=True).count("xread"):
                        await asyncio.sleep(0.2)
            else:
                await asyncio.sleep(0.3)  # the hub has read what was published
            reads_before, calls_before = stream_reads(srv), all_calls(srv)
            started = time.monotonic()
            clients = [reader(i, position) for i, position in enumerate(positions)]
            await asyncio.gather(*(r.connect() for r in clients))
            await asyncio.gather(*(r.wait_for(len(missed), timeout=60) for r in clients))
            caught_up = time.monotonic() - started
            reads = {c: v - reads_before[c] for c, v in stream_reads(srv).items()}
            calls = all_calls(srv) - calls_before - 2  # the two INFO calls of stream_reads itself
            live = await publish(api, "storm", f"{storm} live")
            await asyncio.gather(*(r.wait_for(len(missed) + 1, timeout=30) for r in clients))
            duplicates = sum(len(ids(r)) - len(set(ids(r))) for r in clients)
            gaps = sum(len(set(missed) - set(ids(r))) for r in clients)
            print(
                f"\nreconnect storm ({storm} hub): {n} readers ({n - n // 4} SSE, {n // 4} WS) back at "
                f"once, {len(missed)} updates missed each; all caught up in {caught_up:.2f}s; Redis "
                f"stream reads for it {reads}, all Redis commands {calls}; gaps {gaps}, "
                f"duplicates {duplicates}"
            )
            for r in clients:
                assert ids(r) == [*missed, live], f"{type(r).__name__}: {ids(r)}"
            assert sum(reads.values()) <= 10, reads
            assert calls <= 50, calls  # a handful, not one per reader
    finally:
        await close_all(clients)
        await api.aclose()
        srv.stop()


# --- scenario 5: churn ------------------------------------------------------------------------


async def _cycle(url: str, i: int, last: str | None) -> None:
    """One reader's life: connect, maybe read for a moment, leave cleanly or abruptly."""
    kind = ("sse-clean", "sse-abrupt", "ws-clean", "ws-abrupt")[i % 4]
    stay = random.uniform(0.0, 0.08)
    if kind.startswith("sse"):
        sse = SSEReader(url, sse_path("churn"), last_event_id=last if i % 3 == 0 else None)
        try:
            await sse.connect()
            await asyncio.sleep(stay)
            if kind == "sse-abrupt":  # RST mid-stream, no FIN
                assert sse._writer is not None
                sock = sse._writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            await sse.close()
        return
    ws = WSReader(url, ws_path("churn", last if i % 3 == 0 else None))
    await ws.connect()
    try:
        await asyncio.sleep(stay)
        if kind == "ws-abrupt":  # the socket goes away without a closing handshake
            ws.ws.transport.abort()
    finally:
        await ws.close()


async def _churn(url: str, cycles: int, seconds: float, last: list[str]) -> int:
    """`cycles` connect-disconnect cycles spread over about `seconds`; returns the failures."""
    failures = 0
    counter = iter(range(cycles))
    started = time.monotonic()

    async def worker() -> None:
        nonlocal failures
        for i in counter:
            await asyncio.sleep(max(0.0, started + i * seconds / cycles - time.monotonic()))
            try:
                await asyncio.wait_for(_cycle(url, i, last[-1] if last else None), 10)
            except (OSError, TimeoutError, ConnectionError):
                failures += 1

    await asyncio.gather(*(worker() for _ in range(64)))
    return failures


def fd_kinds(pid: int) -> Counter[str]:
    """The process's open files by kind ("socket", "pipe", "anon_inode:[eventpoll]", a path...)."""
    kinds: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            kinds[target.split(":[")[0] if target.startswith(("socket:", "pipe:")) else target] += 1
    return kinds


async def _settled(srv: Server, fds: int, tasks: float, timeout: float = 60) -> tuple[int, float, float]:
    """Wait until no reader is left and fds and tasks are back to (about) `fds` and `tasks`; it
    returns as soon as they are (a loaded machine closes the last connections later)."""
    assert srv.process is not None
    started = time.monotonic()
    while True:
        metrics = await scrape(srv.url)
        now_fds, now_tasks = open_fds(srv.process.pid), metrics["liveblog_asyncio_tasks"]
        settled = readers(metrics) == 0 and now_fds <= fds + 2 and now_tasks <= tasks
        if settled or time.monotonic() - started > timeout:
            if not settled:  # what is left, for the failure's message
                print(
                    f"\nnot settled: {readers(metrics)} readers, open files {dict(fd_kinds(srv.process.pid))}"
                )
            return now_fds, now_tasks, time.monotonic() - started
        await asyncio.sleep(0.5)


async def test_churn_leaks_no_tasks_fds_or_memory(tmp_path):
    """Scenario 5: mixed SSE and WebSocket readers come and go, cleanly or abruptly, while a bot
    publishes; once they are gone, tasks, file descriptors and memory are back where they were
    after the warm-up (RSS levels off after ~10,000 cycles: the allocator's high-water mark)."""
    cycles, seconds = sized(3000, 20_000), sized(10.0, 60.0)
    warm_cycles, warm_seconds = sized(3000, 6000), sized(10.0, 20.0)
    srv = Server(tmp_path / "data", rate_limit=1_000_000, streams_per_ip=0).start()
    assert srv.process is not None
    pid = srv.process.pid
    api = await create_blog(srv, "churn")
    last: list[str] = [await publish(api, "churn", "first")]
    await api.aclose()
    start = await scrape(srv.url)
    fds0, tasks0 = open_fds(pid), start["liveblog_asyncio_tasks"]
    publisher = Publisher(srv.url, srv.token("churn-bot"), "churn")
    stop = asyncio.Event()
    numbers = itertools.count()

    async def publish_steadily() -> None:
        while not stop.is_set():
            last.append(await publisher.publish(next(numbers)))
            await asyncio.sleep(0.05)

    bot = asyncio.ensure_future(publish_steadily())
    try:
        warm_failures = await _churn(srv.url, warm_cycles, warm_seconds, last)
        stop.set()
        await bot
        await asyncio.sleep(6.5)  # the hub stops the blog's reader 5 s after its last reader left
        fds1, tasks1, _ = await _settled(srv, fds0, tasks0 + 1)
        rss1, rss1_own = rss(pid), rss(pid, tree=False)

        stop.clear()
        bot = asyncio.ensure_future(publish_steadily())
        started = time.monotonic()
        failures = await _churn(srv.url, cycles, seconds, last)
        churned = time.monotonic() - started
        stop.set()
        await bot
        fds2, tasks2, took = await _settled(srv, fds1, tasks1)
        rss2, rss2_own = rss(pid), rss(pid, tree=False)
        print(
            f"\nchurn: {warm_cycles} warm-up cycles, then {cycles} connect-disconnect cycles in "
            f"{churned:.1f}s ({cycles / churned:.0f}/s; SSE and WS, clean and abrupt; "
            f"{failures + warm_failures} failed), {len(last)} updates published meanwhile\n"
            f"  fds {fds0} at start, {fds1} after warm-up, {fds2} at the end; asyncio tasks {tasks0:.0f}, "
            f"{tasks1:.0f}, {tasks2:.0f} (settled {took:.1f}s after the last cycle)\n"
            f"  RSS (server and its Redis) {rss1 / MB:.1f} MB after warm-up, {rss2 / MB:.1f} MB at the end "
            f"({(rss2 / rss1 - 1) * 100:+.1f}%); server alone {rss1_own / MB:.1f} -> {rss2_own / MB:.1f} MB"
        )
        assert failures + warm_failures <= cycles // 100
        assert abs(fds2 - fds1) <= 2, (fds1, fds2)
        assert tasks2 <= tasks1 <= tasks0 + 1, (tasks0, tasks1, tasks2)
        assert rss2 <= 1.10 * rss1 + sized(5, 2) * MB, (rss1, rss2)
    finally:
        stop.set()
        await bot
        await publisher.aclose()
        srv.stop()


# --- scenario 7: two processes, one blog ------------------------------------------------------


def stream_ids(server: Server, slug: str) -> list[str]:
    with server.redis() as client:
        entries = client.xrange(f"lb:{{{slug}}}:events")
    return [i.decode() for i, fields in entries if fields[b"type"] == b"update.published"]


async def test_two_workers_readers_on_both_see_the_same_events_in_the_same_order(tmp_path):
    """Scenario 7a: LIVEBLOG_WORKERS=2, readers spread over both processes by the kernel."""
    n = sized(100, 500)  # per transport
    srv = Server(tmp_path / "data", workers=2, rate_limit=1_000_000, streams_per_ip=0).start()
    followers: list[Follower] = []
    publisher = Publisher(srv.url, srv.token("two-workers"), "two")
    try:
        response = await publisher.client.post("/api/v1/blogs", json={"slug": "two", "title": "Two"})
        assert response.status_code == 201, response.text
        for wave in range(10):  # in waves, so that both processes get to accept
            followers += [Follower(srv.url, "two", t).start() for t in ("sse", "ws") for _ in range(n // 10)]
            await all_connected(followers)
            await asyncio.sleep(0.02 * wave)
        async with asyncio.timeout(10):  # each process runs its own reader of the blog
            while (hubs := srv.stream_readers(blocked=True).count("xread")) < 2:
                await asyncio.sleep(0.1)
        await publisher.run(sized(60, 200), 0.01)
        last = publisher.acknowledged[-1]
        await asyncio.gather(*(f.wait_for_id(last) for f in followers))
        expected = stream_ids(srv, "two")
        assert expected == publisher.acknowledged
        figures = check_exactly_once(followers, expected)
        reconnects = sum(f.connections for f in followers) - len(followers)
        print(
            f"\ntwo workers: {len(followers)} readers over {hubs} processes (blocking XREADs), "
            f"{len(expected)} updates, {reconnects} reconnects; every reader the same "
            f"{len(expected)} ids in stream order; gaps {figures['gaps']}, duplicates {figures['duplicates']}"
        )
    finally:
        await close_all(followers)
        await publisher.aclose()
        srv.stop()


async def test_two_servers_on_one_redis_give_their_readers_the_same_events_in_the_same_order(tmp_path):
    """Scenario 7b: two `serve` processes on their own ports share one Redis; a bot publishes
    through both, readers follow through both."""
    n = sized(100, 500)  # per transport and server
    first = Server(tmp_path / "a", rate_limit=1_000_000, streams_per_ip=0).start()
    second: Server | None = None
    followers: list[Follower] = []
    publishers: list[Publisher] = []
    try:
        second = Server(tmp_path / "b", redis_url=first.redis_url, rate_limit=1_000_000, streams_per_ip=0)
        second.start()
        token = first.token("two-servers")
        publishers = [Publisher(s.url, token, "shared") for s in (first, second)]
        response = await publishers[0].client.post("/api/v1/blogs", json={"slug": "shared", "title": "S"})
        assert response.status_code == 201, response.text
        by_server = {
            s.url: [Follower(s.url, "shared", t).start() for t in ("sse", "ws") for _ in range(n)]
            for s in (first, second)
        }
        followers = [f for group in by_server.values() for f in group]
        await all_connected(followers)
        async with asyncio.timeout(10):  # one blog reader per server, both on this Redis
            while first.stream_readers(blocked=True).count("xread") < 2:
                await asyncio.sleep(0.1)
        count = sized(60, 200)
        for i in range(count):
            await publishers[i % 2].publish(i)
            await asyncio.sleep(0.01)
        acknowledged = sorted({*publishers[0].acknowledged, *publishers[1].acknowledged}, key=key)
        await asyncio.gather(*(f.wait_for_id(acknowledged[-1]) for f in followers))
        expected = stream_ids(first, "shared")
        assert expected == acknowledged
        figures = check_exactly_once(followers, expected)
        lists = {url: {tuple(f.ids()) for f in group} for url, group in by_server.items()}
        assert all(found == {tuple(expected)} for found in lists.values())
        print(
            f"\ntwo servers, one Redis: {len(followers)} readers ({2 * n} on each), {count} updates "
            f"published through both in turn; both servers' readers hold the same {len(expected)} ids "
            f"in stream order; gaps {figures['gaps']}, duplicates {figures['duplicates']}"
        )
    finally:
        await close_all(followers)
        for publisher in publishers:
            await publisher.aclose()
        if second is not None:
            second.stop()
        first.stop()
