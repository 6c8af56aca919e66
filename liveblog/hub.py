"""The fan-out hub: one Redis reader per blog per process, bytes encoded once, bounded queues.

Plain asyncio and redis-py; no web framework. A transport enters
`async with hub.subscribe(slug, last_event_id, sink=...) as subscription:`, iterates
`subscription.batches()` and sends each batch; the hub does the rest:

- one `XREAD BLOCK` loop per blog that has subscribers, on its own connection,
  stopped shortly after the last subscriber leaves;
- each event encoded once (`events.Event`), the same object handed to every
  subscriber's bounded queue; a subscriber whose queue is full is dropped (it
  resumes by itself) and never slows the others;
- events read while a fan-out is under way go out together in the next one, so that a
  busy process makes fewer, larger sends instead of falling further behind;
- a ring of recent events (bounded by count and bytes) serves resumes from memory;
  older positions are read from the stream a page at a time, each page sent before the
  next is read, so a reader far behind costs a page of memory whatever the history;
  unknown positions, and those further behind than the replay window, get a `reset`;
- subscribe first, then replay, then go live, dropping IDs already sent;
- an edit or a delete erases the update's earlier events from the ring and from every
  queue they wait in (the store erases them from the stream in the same step);
- keep-alives (a `ping` event in the batches of readers that got nothing for a while) and a
  stall watchdog from one timer per blog: the hub times each batch it hands out, and cuts
  off a reader stuck in one send through the `Sink` its transport gave it;
- the reader task is supervised: a failover error is retried with the readers kept; any other
  failure is logged with the blog, its readers are ended (`READER_FAILED`: they resume by
  themselves) and the loop restarts after a backoff.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Protocol

import anyio
from redis.exceptions import (
    AskError,
    ClusterError,
    ConnectionError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

from . import events, metrics
from .audience import Audience
from .errors import TooManyRequests
from .events import Event, StreamKey
from .redis_client import BLOCK_MS, AsyncClient
from .store import Keys, Store

log = logging.getLogger("liveblog.hub")

READ_COUNT = 512  # entries per XREAD at most; and at most a quarter of a reader's queue
FANOUT_SLICE = 100  # subscribers served per turn of the event loop
BATCH_BYTES = 256 * 1024  # a batch (one send) grows past this by one event at most
PAGE_COUNT = 4  # entries of the first page read from the stream for a replay (then sized by bytes)
PING_CHECKS = 4  # looks per ping interval for readers that need a keep-alive
ZERO: StreamKey = (0, 0)
RETRY_FIRST, RETRY_MAX = 0.05, 2.0  # the reader's backoff after a failure, doubled each time

# Why a subscription ended (`Subscription.reason`), besides its reader leaving.
SHUTDOWN = "shutdown"  # the server is going away
READER_FAILED = "reader failed"  # the blog's reader task failed; it restarts

# What Redis answers while it is away or failing over (on a cluster: a master dying, a
# redirection to follow): the reader retries from its last event and its readers stay.
FAILOVER: tuple[type[Exception], ...] = (
    ConnectionError,
    TimeoutError,
    ClusterError,
    TryAgainError,
    ReadOnlyError,
    AskError,
    RedisClusterException,
    OSError,
)


class ClientFailed(Exception):
    """The client's XREAD call itself failed in a way Redis did not answer (not a
    `ResponseError`): it consumed nothing, so it is retried like a failover. redis-py 8.1's cluster
    client can raise AttributeError from a connection that another task is setting up (seen in
    CI, in tests/test_scheduler.py's race)."""


# What the reader retries from its last event, its readers staying; and what its XREAD lets
# through as it is (any other exception of that call is a ClientFailed).
RETRIED: tuple[type[Exception], ...] = (*FAILOVER, ClientFailed)
ANSWERED: tuple[type[Exception], ...] = (*FAILOVER, ResponseError)


class TooManyStreams(TooManyRequests):
    """This client (an IP address, say) already holds as many streams as it may."""


class ReaderTooSlow(Exception):
    """The subscriber's queue overflowed; the transport closes the connection."""


class MalformedEntry(Exception):
    """A stream entry the store did not write (no `type` or `data`, not UTF-8): skipped."""


class Sink(Protocol):
    """What the hub needs of a transport's connection, beside iterating `batches()`."""

    def abort(self) -> None:
        """Drop the connection at once, unsent data and all: its peer stopped reading."""


class Subscription:
    """One reader's view of a blog: replayed events first, then live ones, each once, in order.

    Kept small, as there is one per connected reader: the live queue, the replay's bounds (only
    while resuming) and one future while the transport waits.
    """

    __slots__ = (
        "channel",
        "client",
        "last_key",
        "closed",
        "dropped",
        "busy_since",
        "pinged_at",
        "keepalive",
        "sink",
        "reason",
        "_backlog",
        "_replay_to",
        "_page_count",
        "_held",
        "_queue",
        "_limit",
        "_waiter",
    )

    def __init__(
        self,
        channel: Channel,
        limit: int,
        client: str | None = None,
        sink: Sink | None = None,
        keepalive: bool = True,
    ) -> None:
        self.channel = channel
        self.client = client
        self.last_key: StreamKey = ZERO
        self.closed = False
        self.dropped = False  # the queue overflowed, or a send stalled: the reader was too slow
        self.busy_since = 0.0  # loop time when the transport took its current batch (0: idle)
        self.pinged_at = asyncio.get_running_loop().time()  # its latest keep-alive (or subscribing)
        self.keepalive = keepalive  # False: the transport keeps the connection alive itself
        self.sink = sink
        self.reason: str | None = None  # why the hub ended it (SHUTDOWN, READER_FAILED)
        self._backlog: list[Event] | None = None  # a `reset`, sent before anything else
        self._replay_to: StreamKey | None = None  # while replaying: the head when it subscribed
        self._page_count = PAGE_COUNT
        self._held = 0  # bytes of the replay page read from Redis for this reader
        self._queue: list[Event] = []  # a list, smaller than a deque
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None

    def push(self, batch: list[Event]) -> bool:
        """Queue live events; False (and the subscriber is dropped) when they do not all fit.

        Called per reader per fan-out: one call, with the wake-up written out. With `batches()`'
        one-event path, the server runs 13% fewer instructions per SSE delivery (callgrind,
        bench's server: 24.9k against 28.7k; sse-starlette alone 20.2k)."""
        queue = self._queue
        if len(queue) + len(batch) > self._limit:
            self.closed = self.dropped = True
            self._wake()
            return False
        queue += batch
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    def end(self, reason: str) -> None:
        """End the subscription: its batches end once the events already queued are taken."""
        if not self.closed:
            self.closed, self.reason = True, reason
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def reset(self, event: Event) -> None:
        self._backlog = [event]

    def replay_to(self, head: StreamKey) -> None:
        """Replay the events after `last_key` up to `head` before the live ones."""
        if head > self.last_key:
            self._replay_to = head

    def pending(self) -> list[Event]:
        """Take the live events that are ready now (for writing a burst in one send), up to
        `BATCH_BYTES`; the rest wait for the next call."""
        ready, size, taken = [], 0, 0
        if self._backlog:
            ready, self._backlog = self._backlog, None
        for event in self._queue:
            taken += 1
            if event.key > self.last_key:
                self.last_key = event.key
                if event.erased:
                    continue
                ready.append(event)
                size += event.size
                if size >= BATCH_BYTES:
                    break
            elif event.type == "ping":  # not a position in the stream
                ready.append(event)
        del self._queue[:taken]
        return ready

    async def _replayed(self) -> list[Event]:
        """The next batch of the replay (empty when it is over): from the ring when it reaches
        back to `last_key`, else one page read from the stream."""
        end = self._replay_to
        assert end is not None
        while True:
            batch = self.channel.ring_slice(self.last_key, end)
            if batch is None:
                batch = await self.channel.hub._page(self, end)
            if not batch:
                self._replay_to = None
                self.channel.hub._hold(self, 0)
                return []
            self.last_key = batch[-1].key
            batch = [event for event in batch if not event.erased]
            if batch:
                return batch

    async def batches(self) -> AsyncIterator[list[Event]]:
        """Yield lists of events as they become available; raises ReaderTooSlow when dropped.

        The transport sends each batch before it asks for the next: the hub times that send
        (`busy_since`), and its watchdog aborts the sink of one stuck too long."""
        # The loop once: on Python 3.11 each `get_running_loop()` is a getpid(2) syscall (its fork
        # check), here once per wait of every reader: 1.1 a delivery under `strace -c`.
        loop = asyncio.get_running_loop()
        clock = loop.time
        while True:
            if self._backlog:
                batch = self.pending()
            elif self._replay_to is not None and not self.closed:
                batch = await self._replayed()
                if not batch:
                    continue
            elif len(self._queue) == 1:  # the usual: one live event, without pending()'s list work
                event = self._queue.pop()
                if event.key > self.last_key:
                    self.last_key = event.key
                    if event.erased:
                        continue
                elif event.type != "ping":  # sent already (by the replay)
                    continue
                batch = [event]
            elif self._queue:
                batch = self.pending()
                if not batch:
                    continue
            else:
                batch = None
            if batch is not None:
                self.busy_since = clock()
                yield batch
                self.busy_since = 0.0
                continue
            if self.dropped:
                raise ReaderTooSlow()
            if self.closed:
                return
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        self.closed = True
        self._wake()
        self.channel.remove(self)
        if self._held:
            self.channel.hub._hold(self, 0)
        if self.client is not None:
            self.channel.hub._release(self.client)
            self.client = None


class Channel:
    """One blog's reader task, ring and subscribers in this process."""

    def __init__(self, hub: Hub, slug: str) -> None:
        self.hub = hub
        self.slug = slug
        self.keys = Keys.of(slug)
        self.ring: deque[Event] = deque()
        self.ring_bytes = 0
        self.subscribers: set[Subscription] = set()
        self.head: StreamKey = ZERO
        self.head_id = "0-0"
        self.task: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._pinger: asyncio.TimerHandle | None = None
        self._watcher: asyncio.TimerHandle | None = None
        self._fanouts: deque[tuple[list[Event], tuple[Subscription, ...], bool]] = deque()
        self.sent_at = 0.0  # loop time of the latest event's fan-out (to every reader then present)
        self._backoff = RETRY_FIRST  # the reader's wait after its next failure

    async def start(self) -> None:
        """Load the recent events into the ring (newest first, a page at a time, while they fit
        its bounds), then start the reader from the newest."""
        newest: list[Event] = []
        size, before, full = 0, None, False
        while not full and len(newest) < self.hub.ring_size:
            want = min(PAGE_COUNT, self.hub.ring_size - len(newest))
            page = await self.hub.store.latest_events(self.slug, want, before)
            for entry in reversed(page):
                event = events.encode(self.slug, *entry)
                full = bool(newest) and size + event.size > self.hub.ring_bytes
                if full:
                    break
                newest.append(event)
                size += event.size
            if len(page) < want:
                break
            before = page[0][0]
        for event in reversed(newest):
            self._append(event)
        loop = asyncio.get_running_loop()
        self.task = loop.create_task(self._read(), name=f"hub:{self.slug}")
        self._pinger = loop.call_later(self.hub.ping_interval / PING_CHECKS, self._ping)
        if self.hub.stall_timeout:
            self._watcher = loop.call_later(self.hub.stall_timeout / 2, self._watch)

    def _append(self, event: Event) -> None:
        ring = self.ring
        ring.append(event)
        self.ring_bytes += event.size
        while len(ring) > 1 and (len(ring) > self.hub.ring_size or self.ring_bytes > self.hub.ring_bytes):
            self.ring_bytes -= ring.popleft().size
        self.head, self.head_id = event.key, event.id

    def _erase(self, change: Event) -> None:
        """The update's earlier events leave the ring and every queue they wait in (the store
        took them out of the stream in the same step as `change`). Events are shared: erasing
        one empties it wherever it is held. Edits are rare; this walk is not on the fan-out path."""
        subject = change.update_id
        for event in self.ring:
            if event.update_id == subject and event is not change and not event.erased:
                self.ring_bytes -= event.size
                event.erase()
        for sub in self.subscribers:
            for event in sub._queue:
                if event.update_id == subject and event is not change:
                    event.erase()

    async def _read(self) -> None:
        """Follow the blog's stream after the last event delivered (`head_id`), for good.

        A `FAILOVER` error (the connection lost; on a cluster, a master dying: `ClusterDownError`,
        `TryAgainError`, `MasterDownError`, `ReadOnlyError`, a redirection to follow) is retried
        from there after a backoff, so readers stay connected through a failover and get every
        later event once; so is a `ClientFailed` XREAD. Any other failure (a `ResponseError` such as WRONGTYPE, an entry the
        store did not write, a bug) is logged with the blog and ends its readers with
        `READER_FAILED`, as this reader can no longer vouch for what they have; they resume by
        themselves from their last event. Then the loop restarts after the same backoff."""
        while True:
            try:
                await self._follow()
            except RETRIED as exc:
                log.warning(
                    "reader for %s: %s: %s; retrying from %s in %.2fs",
                    self.slug,
                    type(exc).__name__,
                    exc,
                    self.head_id,
                    self._backoff,
                )
            except Exception:
                log.exception(
                    "reader for %s failed at %s; ending its %d readers, restarting in %.2fs",
                    self.slug,
                    self.head_id,
                    len(self.subscribers),
                    self._backoff,
                )
                self.end_all(READER_FAILED)
            metrics.READER_ERRORS.inc()
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, RETRY_MAX)

    async def _follow(self) -> None:
        """Read, encode and fan out the stream's new entries until something fails."""
        while True:
            try:
                reply: Any = await self.hub.reader.xread(
                    {self.keys.events: self.head_id}, self.hub.read_count, BLOCK_MS
                )
            except ANSWERED:
                raise
            except Exception as exc:
                raise ClientFailed(f"{type(exc).__name__}: {exc}") from exc
            self._backoff = RETRY_FIRST
            for _stream, entries in reply or ():
                batch: list[Event] = []
                for event_id, fields in entries:
                    try:
                        event = events.encode(
                            self.slug, event_id.decode(), fields[b"type"].decode(), fields[b"data"].decode()
                        )
                    except (KeyError, UnicodeDecodeError) as exc:
                        if batch:
                            self._deliver(batch)
                        skipped = event_id.decode()  # read on past it
                        self.head, self.head_id = events.parse_id(skipped), skipped
                        raise MalformedEntry(f"entry {event_id!r}: {type(exc).__name__}: {exc}") from exc
                    self._append(event)
                    if event.type in ("update.edited", "update.deleted"):
                        self._erase(event)
                    batch.append(event)
                self._deliver(batch)
                metrics.READER_LAG.set(max(0.0, time.time() - self.head[0] / 1000))

    def end_all(self, reason: str) -> None:
        """End every subscription of this blog with `reason`."""
        for sub in tuple(self.subscribers):
            sub.end(reason)

    def _deliver(
        self, batch: list[Event], *, count: bool = True, targets: tuple[Subscription, ...] | None = None
    ) -> None:
        """Hand `batch` to every current subscriber, a slice of them per turn of the event loop.

        With tens of thousands of readers, one event wakes tens of thousands of tasks; slicing
        lets publishes and new readers in between slices instead of behind the whole fan-out.
        The slices of one batch finish before the next batch starts, so every subscriber still
        gets the events in order; a subscriber that joins meanwhile got them by replay.

        Events read while a fan-out is under way join the one waiting its turn, if any: when
        updates come faster than a fan-out takes, each reader gets all that came meanwhile in
        one batch (one wake-up, one send) instead of one batch per event, as a reader of a
        shared log would. A reader that subscribed between the two reads gets the earlier ones
        by replay, and drops them when they come again (`batches()` sends no ID twice). Up to
        `read_count` events, as a read.
        """
        fanouts = self._fanouts
        if targets is None:
            targets = tuple(self.subscribers)
            self.sent_at = asyncio.get_running_loop().time()
            if len(fanouts) > 1 and fanouts[-1][2]:  # waiting, and of events to every subscriber
                waiting = fanouts[-1][0]
                if len(waiting) + len(batch) <= self.hub.read_count:
                    fanouts[-1] = (waiting + batch, targets, True)
                    return
        fanouts.append((batch, targets, count))
        if len(fanouts) == 1:
            self._fan_out(0)

    def _fan_out(self, start: int) -> None:
        batch, targets, count = self._fanouts[0]
        loop, end = asyncio.get_running_loop(), start + FANOUT_SLICE
        for sub in targets[start:end]:
            if sub.closed:
                continue
            if not sub.push(batch):
                self._drop(sub)
        if end < len(targets):
            loop.call_soon(self._fan_out, end)
            return
        self._fanouts.popleft()
        if count:
            metrics.EVENTS_DELIVERED.inc(len(targets) * len(batch))
            now = time.time()
            for event in batch:
                metrics.DELIVERY_LATENCY.observe(max(0.0, now - event.key[0] / 1000))
        if self._fanouts:
            loop.call_soon(self._fan_out, 0)

    def _ping(self) -> None:
        """Keep-alives from one timer per blog, not one per connection, and only to the readers
        that got nothing for most of an interval: an event keeps a connection alive as well as a
        ping does, and pinging everyone in the middle of an event's fan-out would delay it.

        Checked `PING_CHECKS` times per interval, so a reader waits at most an interval. A
        reader last got something at its latest ping (or subscribing) or at the latest event,
        whichever is later: the fan-out itself keeps no time per reader."""
        loop, interval = asyncio.get_running_loop(), self.hub.ping_interval
        now = loop.time()
        due = now - interval * (1 - 1 / PING_CHECKS)
        if self.sent_at <= due:  # else every reader got the latest event since
            idle = tuple(sub for sub in self.subscribers if sub.keepalive and sub.pinged_at <= due)
            for sub in idle:
                sub.pinged_at = now
            if idle:
                self._deliver([events.PING], count=False, targets=idle)
        self._pinger = loop.call_later(interval / PING_CHECKS, self._ping)

    def _watch(self) -> None:
        """Drop the readers whose transport has been stuck in one send for longer than the
        stall timeout (checked twice per timeout by one timer per blog, not a timeout per send)."""
        loop, limit = asyncio.get_running_loop(), self.hub.stall_timeout
        now = loop.time()
        for sub in [s for s in self.subscribers if s.busy_since and now - s.busy_since > limit]:
            sub.closed = sub.dropped = True
            sub._wake()
            self._drop(sub)
        self._watcher = loop.call_later(limit / 2, self._watch)

    def _drop(self, sub: Subscription) -> None:
        """Drop a reader that fell behind. One stuck in a send is cut off at once: it would not
        see the drop before that send returns, which for a frozen peer is never."""
        self.subscribers.discard(sub)
        metrics.READERS_DROPPED.inc()
        if sub.busy_since and sub.sink is not None:
            sub.sink.abort()

    def add(self, sub: Subscription) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        self.subscribers.add(sub)

    def remove(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)
        if not self.subscribers and self._linger is None and self.hub._channels.get(self.slug) is self:
            self._linger = asyncio.get_running_loop().call_later(self.hub.linger, self._stop_if_idle)

    def _stop_if_idle(self) -> None:
        self._linger = None
        if not self.subscribers and self.hub._channels.get(self.slug) is self:
            del self.hub._channels[self.slug]
            self.stop()

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self._pinger is not None:
            self._pinger.cancel()
        if self._watcher is not None:
            self._watcher.cancel()

    def holds(self, key: StreamKey) -> bool:
        """Whether `key` is the position of an event in the ring (erased ones included)."""
        ring = self.ring
        if not ring or key < ring[0].key:
            return False
        index = bisect.bisect_left(ring, key, key=_key)
        return index < len(ring) and ring[index].key == key

    def ring_slice(self, after: StreamKey, end: StreamKey) -> list[Event] | None:
        """The ring's events after `after` up to `end`, about `BATCH_BYTES` of them; None when
        `after` is older than the ring. The ring holds every event of the stream from its first."""
        ring = self.ring
        if not ring or after < ring[0].key:
            return None
        batch, size = [], 0
        for index in range(bisect.bisect_right(ring, after, key=_key), len(ring)):
            event = ring[index]
            if event.key > end:
                break
            batch.append(event)
            size += event.size
            if size >= BATCH_BYTES:
                break
        return batch


def _key(event: Event) -> StreamKey:
    return event.key


class Subscribing:
    """What `Hub.subscribe` returns: subscribes on entry, closes the subscription on exit.

    A class rather than `contextlib.asynccontextmanager`, whose generator and frame would stay
    alive beside every connected reader (~450 bytes each: tens of thousands of readers).
    """

    __slots__ = ("_hub", "_args", "_subscription")

    def __init__(self, hub: Hub, args: tuple[str, str | None, str | None, Sink | None, bool]) -> None:
        self._hub, self._args = hub, args
        self._subscription: Subscription | None = None

    async def __aenter__(self) -> Subscription:
        self._subscription = await self._hub._subscribe(*self._args)
        return self._subscription

    async def __aexit__(self, *exc_info: object) -> None:
        if self._subscription is not None:
            self._subscription.close()


class Hub:
    """All channels of this process. Created (in the running event loop: it starts the one task
    that waits for `shutdown_event`) and closed by the app's lifespan."""

    def __init__(
        self,
        store: Store,
        reader: AsyncClient,
        *,
        queue_size: int = 256,
        ring_size: int = 1024,
        ring_bytes: int = 8 * 1024 * 1024,
        replay_max_events: int = 10_000,
        replay_max_bytes: int = 64 * 1024 * 1024,
        linger: float = 5.0,
        streams_per_client: int = 0,
        replay_bytes_per_client: int = 32 * 1024 * 1024,
        ping_interval: float = 14.0,
        stall_timeout: float = 30.0,
        audience_interval: float = 5.0,
    ) -> None:
        self.store = store
        self.reader = reader  # its own client: blocking XREADs never starve the store's pool
        self.queue_size = queue_size
        # What one XREAD or one joined fan-out hands a reader: one push of more than its queue
        # holds would drop every reader as too slow, however fast they are.
        self.read_count = min(READ_COUNT, max(1, queue_size // 4))
        self.ring_size = ring_size
        self.ring_bytes = ring_bytes
        self.replay_max_events = replay_max_events  # further behind than this: `reset`
        self.replay_max_bytes = replay_max_bytes
        self.linger = linger
        self.streams_per_client = streams_per_client  # 0: no limit
        self.replay_bytes_per_client = replay_bytes_per_client  # replay pages one address may hold
        self.ping_interval = ping_interval
        self.stall_timeout = stall_timeout  # a send stuck this long drops the reader (0: never)
        self._clients: dict[str, int] = {}
        self._client_bytes: dict[str, int] = {}  # replay pages held per client address
        self._channels: dict[str, Channel] = {}
        self._starting: dict[str, asyncio.Future[Channel]] = {}
        # Set by a transport told of the server's shutdown: every subscription then ends.
        self._shutdown = anyio.Event()
        self._shutdown_task = asyncio.get_running_loop().create_task(
            self._end_on(self._shutdown), name="hub:shutdown"
        )
        # Reading now: this process's readers per blog, reported to the store by one task.
        self.audience = Audience(store, self.readers, audience_interval)
        self._audience_task = asyncio.get_running_loop().create_task(self.audience.run(), name="hub:audience")

    async def channel(self, slug: str) -> Channel:
        existing = self._channels.get(slug)
        if existing is not None:
            return existing
        starting = self._starting.get(slug)
        if starting is not None:
            return await asyncio.shield(starting)
        future: asyncio.Future[Channel] = asyncio.get_running_loop().create_future()
        self._starting[slug] = future
        try:
            await self.store.require_blog(slug)
            channel = Channel(self, slug)
            await channel.start()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            self._starting.pop(slug, None)
        self._channels[slug] = channel
        future.set_result(channel)
        return channel

    def readers(self) -> dict[str, int]:
        """This process's readers (SSE and WebSocket) of each blog that has any."""
        return {slug: len(ch.subscribers) for slug, ch in self._channels.items() if ch.subscribers}

    def warm(self, slug: str) -> Channel | None:
        """The blog's channel when this process is following it, else None."""
        return self._channels.get(slug)

    def subscribe(
        self,
        slug: str,
        last_event_id: str | None = None,
        *,
        client: str | None = None,
        sink: Sink | None = None,
        keepalive: bool = True,
    ) -> Subscribing:
        """Subscribe, replay after `last_event_id` (or send `reset`), then live events; the
        subscription is closed on the way out, whatever happens.

        `sink`: how the watchdog cuts off the connection when a send stalls (None: it is only
        ended). `keepalive`: whether the batches carry `ping` events when the reader got
        nothing for a while (False: the transport keeps the connection alive itself).

        Raises events.BadEventId for a malformed ID, NotFound for an unknown blog, and
        TooManyStreams when `client` already holds `streams_per_client` subscriptions, or
        `replay_bytes_per_client` of replay pages.
        """
        return Subscribing(self, (slug, last_event_id, client, sink, keepalive))

    async def _subscribe(
        self, slug: str, last_event_id: str | None, client: str | None, sink: Sink | None, keepalive: bool
    ) -> Subscription:
        position = events.parse_id(last_event_id) if last_event_id is not None else None
        if client is not None:
            held = self._clients.get(client, 0)
            if self.streams_per_client and held >= self.streams_per_client:
                raise TooManyStreams(
                    f"{held} streams are open from your address already", headers={"Retry-After": "10"}
                )
            if position is not None and self._client_bytes.get(client, 0) >= self.replay_bytes_per_client:
                raise TooManyStreams(
                    "your address's streams are still catching up", headers={"Retry-After": "10"}
                )
        channel = await self.channel(slug)
        sub = Subscription(channel, self.queue_size, client, sink, keepalive)
        if client is not None:
            self._clients[client] = self._clients.get(client, 0) + 1
        channel.add(sub)  # live from here on: every event after channel.head reaches the queue
        head = channel.head
        try:
            if position is None or position == head:
                sub.last_key = head
            elif position > head:
                # The page may have been rendered a moment before this hub read the event.
                found = await self.store.events(slug, events.format_id(position), "+", count=1)
                if found and events.parse_id(found[0][0]) == position:
                    sub.last_key = position
                else:
                    self._reset(sub, head)
            elif channel.holds(position):  # served from memory: no Redis command
                sub.last_key = position
                sub.replay_to(head)
            else:
                where = await self.store.position(
                    slug, None if position == ZERO else events.format_id(position)
                )
                if (
                    where.known
                    and where.behind_events <= self.replay_max_events
                    and where.behind_bytes <= self.replay_max_bytes
                ):
                    sub.last_key = position
                    sub.replay_to(head)
                else:
                    self._reset(sub, head)
        except BaseException:
            sub.close()
            raise
        return sub

    async def _page(self, sub: Subscription, end: StreamKey) -> list[Event]:
        """The next page of `sub`'s replay, read from the stream: about `BATCH_BYTES`, the
        count of entries adjusted from the previous page's size."""
        entries = await self.store.events(
            sub.channel.slug,
            f"({events.format_id(sub.last_key)}",
            events.format_id(end),
            count=sub._page_count,
        )
        page = [events.encode(sub.channel.slug, *entry) for entry in entries]
        size = sum(event.size for event in page)
        if page:
            sub._page_count = max(1, min(256, sub._page_count * BATCH_BYTES // max(size, 1)))
        self._hold(sub, size)
        return page

    def _hold(self, sub: Subscription, size: int) -> None:
        """Count `size` bytes of replay page against `sub`'s client address (in place of its last)."""
        client, change = sub.client, size - sub._held
        sub._held = size
        if client is None or not change:
            return
        held = self._client_bytes.get(client, 0) + change
        if held > 0:
            self._client_bytes[client] = held
        else:
            self._client_bytes.pop(client, None)

    def _release(self, client: str) -> None:
        held = self._clients.get(client, 0) - 1
        if held > 0:
            self._clients[client] = held
        else:
            self._clients.pop(client, None)

    def _reset(self, sub: Subscription, head: StreamKey) -> None:
        sub.last_key = ZERO
        sub.reset(events.reset(sub.channel.slug, head))

    def shutdown_event(self) -> anyio.Event:
        """An event that ends every subscription with `SHUTDOWN` once it is set: for a transport
        told of the server's shutdown through an event (sse-starlette's `shutdown_event`). One
        per hub, whatever the number of connections, with one task waiting on it."""
        return self._shutdown

    async def _end_on(self, event: anyio.Event) -> None:
        await event.wait()
        for channel in tuple(self._channels.values()):
            channel.end_all(SHUTDOWN)

    async def close(self) -> None:
        for own in (self._shutdown_task, self._audience_task):
            own.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await own
        await self.audience.withdraw()
        for channel in list(self._channels.values()):
            channel.end_all(SHUTDOWN)
            channel.stop()
            task = channel.task
            # redis-py 8.1 can swallow the cancel of a blocked XREAD and block again (until the
            # channel's linger ended it, 5 s later): cancel until the task is done.
            while task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.05)
        self._channels.clear()
