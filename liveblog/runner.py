"""The runner of the background workers (scheduler, webhooks, feed bot): their context, the
registry, and the supervision that `liveblog worker` and `serve`'s in-process workers share.

A worker is a function `async def run(ctx: Context) -> None`: it does its work until `ctx.stop` is
set, then hands back what it had claimed and returns, soon. `run_workers` runs the named ones as
tasks of one task group, restarting one that fails, and cancels one that does not return within its
grace period after the stop.

Idle workers make no Redis round trips: each waits (`ctx.wait`) until its own next piece of work is
due or until the store notices that what it works from changed (`Store.notify`: a scheduled update,
a webhook, a feed). One `XREAD BLOCK` per process (the `Doorbell`) reads those notices for all of
its workers; each worker still looks at everything every `IDLE` seconds, for a notice lost with a
process that died between its change and the notice.

The workers live in the top-level `workers/` package, which imports `liveblog`, never the reverse
(DESIGN.md): they are found through the `liveblog.workers` entry points that pyproject.toml
declares (name = "module:run"), and loaded when run, so a worker that is not installed breaks only a
command that names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .redis_client import BLOCK_MS, UNAVAILABLE, AsyncClient, connect
from .settings import Settings
from .store import NOTICES, NOTICES_KEPT, Store

# The entry-point group in which each worker is registered as `name = "module:run"`.
GROUP = "liveblog.workers"
# Seconds a worker has, once `stop` is set, to hand back its work and return before it is cancelled.
GRACE = 10.0
# Seconds before a worker that failed with an exception is started again.
RESTART_DELAY = 1.0
# The name of the doorbell's connection in Redis's CLIENT LIST.
NOTICES_CLIENT = "liveblog-notices"
# Seconds at most between two looks of a worker at everything, notices or not.
IDLE = 30.0

log = logging.getLogger("liveblog.workers")


class UnknownWorker(Exception):
    """A worker name that is not registered, or whose module is not installed."""


class Doorbell:
    """This process's reader of the store's notices: wakes the workers waiting for their topic.

    `run` reads them with one `XREAD BLOCK` on a connection of its own. Once it reads, it rings every
    topic: a worker that looked before the doorbell read its first notice looks again, so no change
    falls between the two. Should Redis be away, every topic rings when it is back."""

    def __init__(self) -> None:
        self._topics: dict[str, asyncio.Event] = {}

    def _topic(self, topic: str) -> asyncio.Event:
        rang = self._topics.get(topic)
        if rang is None:
            # Rung from the start: a worker's first wait returns at once, so its second look comes
            # after the doorbell's first ring, whichever of the two came first.
            rang = self._topics[topic] = asyncio.Event()
            rang.set()
        return rang

    def ring(self, *topics: str) -> None:
        """Wake the workers of `topics` (all when none is named) in this process."""
        for topic in topics or tuple(self._topics):
            self._topic(topic).set()

    async def wait(self, topic: str, seconds: float, stop: asyncio.Event) -> None:
        """Until `topic` rang (since the last wait for it), `stop` is set, or `seconds` passed."""
        rang = self._topic(topic)
        if not rang.is_set() and not stop.is_set():
            waits = [asyncio.ensure_future(rang.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waits, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
        rang.clear()

    async def run(self, ctx: Context) -> None:
        """Read the notices until `ctx.stop`."""
        client = ctx.connect(blocking=True, name=NOTICES_CLIENT)
        position = None
        try:
            while not ctx.stop.is_set():
                try:
                    if position is None:
                        position = await ctx.store.last_notice()
                        self.ring()
                    reply: Any = await client.xread({NOTICES: position}, NOTICES_KEPT, BLOCK_MS)
                except UNAVAILABLE as exc:
                    ctx.log.warning("notices: store unreachable (%s); retrying", exc)
                    position = None  # perhaps missed some: every worker looks again
                    if await ctx.sleep(RESTART_DELAY):
                        return
                    continue
                for _stream, entries in reply or ():
                    for notice_id, fields in entries:
                        position = notice_id
                        self.ring(fields.get(b"topic", b"").decode(errors="replace"))
        finally:
            await client.aclose()


@dataclass(frozen=True)
class Context:
    """What a worker gets: the shared store and client, the settings, the stop signal, a logger.

    `settings.redis_url` is always the Redis in use (the embedded one's URL when it was unset), so a
    worker that needs a connection of its own (a blocking `XREADGROUP`, say) opens it with `connect`.
    """

    store: Store
    settings: Settings
    redis: AsyncClient
    stop: asyncio.Event
    log: logging.Logger
    doorbell: Doorbell = field(default_factory=Doorbell)

    def for_worker(self, name: str) -> Context:
        return replace(self, log=log.getChild(name))

    def connect(self, *, blocking: bool = False, name: str | None = None) -> AsyncClient:
        """A new client of the same Redis; the caller closes it (`await client.aclose()`)."""
        assert self.settings.redis_url is not None, "Context.settings.redis_url is the Redis in use"
        return connect(
            self.settings.redis_url, cluster=self.settings.redis_cluster, blocking=blocking, name=name
        )

    async def sleep(self, seconds: float) -> bool:
        """Wait `seconds`, or less if the worker is asked to stop; True when it is."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)
        return self.stop.is_set()

    async def wait(self, topic: str, seconds: float = IDLE) -> bool:
        """Wait until a notice of `topic` (`Store.notify`, or `doorbell.ring` in this process),
        `seconds` (at most `IDLE`), or the stop; True when the worker is asked to stop."""
        await self.doorbell.wait(topic, min(seconds, IDLE), self.stop)
        return self.stop.is_set()


Worker = Callable[[Context], Awaitable[None]]


def store_for(client: AsyncClient, settings: Settings) -> Store:
    """The store as the server makes it (stream length, `WAIT` replicas) on `client`."""
    return Store(
        client,
        stream_maxlen=settings.stream_maxlen,
        wait_replicas=settings.redis_wait_replicas,
        wait_timeout=settings.redis_wait_timeout,
    )


@contextlib.asynccontextmanager
async def context(settings: Settings, stop: asyncio.Event | None = None) -> AsyncIterator[Context]:
    """A context on its own client of the Redis at `settings.redis_url` (which must be set)."""
    if settings.redis_url is None:
        raise ValueError("context(): settings.redis_url must name the Redis in use")
    client = connect(settings.redis_url, cluster=settings.redis_cluster)
    try:
        yield Context(store_for(client, settings), settings, client, stop or asyncio.Event(), log)
    finally:
        await client.aclose()


def registered() -> dict[str, EntryPoint]:
    """The workers the installed distributions register, by name."""
    return {entry.name: entry for entry in entry_points(group=GROUP)}


def load(name: str) -> Worker:
    """The `run` of worker `name`; `UnknownWorker` (its message one line) when there is none."""
    entries = registered()
    entry = entries.get(name)
    if entry is None:
        raise UnknownWorker(f"no worker named {name!r} (workers: {', '.join(entries) or 'none installed'})")
    try:
        worker: Worker = entry.load()
    except ImportError as exc:
        raise UnknownWorker(f"the {name} worker is not installed ({exc})") from None
    return worker


def resolve(names: Iterable[str] = ()) -> dict[str, Worker]:
    """The named workers (every installed one when none is named); fails before any starts."""
    chosen = list(dict.fromkeys(names)) or list(registered())
    return {name: load(name) for name in chosen}


async def run_workers(names: Iterable[str], ctx: Context, *, grace: float = GRACE) -> None:
    """Run the named workers (all installed ones when none is named) until `ctx.stop` is set and
    each has returned (or been cancelled `grace` seconds after the stop)."""
    chosen = resolve(names)
    log.info("workers running: %s", ", ".join(chosen) or "none")
    notices = asyncio.create_task(_notices(ctx), name="worker notices") if chosen else None
    try:
        async with asyncio.TaskGroup() as group:
            for name, worker in chosen.items():
                group.create_task(
                    _supervise(name, worker, ctx.for_worker(name), grace), name=f"worker:{name}"
                )
    finally:
        # redis-py 8.1 can swallow the cancel of a blocked XREAD and block again: until it is done.
        while notices is not None and not notices.done():
            notices.cancel()
            await asyncio.wait({notices}, timeout=0.05)
    log.info("workers stopped: %s", ", ".join(chosen) or "none")


async def _notices(ctx: Context) -> None:
    """The doorbell, started again should it fail (a worker waiting for it looks every `IDLE`)."""
    while not ctx.stop.is_set():
        try:
            await ctx.doorbell.run(ctx)
        except Exception:
            ctx.log.exception("notices failed; reading them again in %.0f s", RESTART_DELAY)
            await ctx.sleep(RESTART_DELAY)


async def _supervise(name: str, worker: Worker, ctx: Context, grace: float) -> None:
    """Run one worker until the stop; start it again after an exception (logged)."""
    while not ctx.stop.is_set():
        try:
            await _until_stopped(worker, ctx, grace)
        except Exception:
            ctx.log.exception("worker %s failed; starting it again in %.0f s", name, RESTART_DELAY)
            await ctx.sleep(RESTART_DELAY)
        else:
            if not ctx.stop.is_set():
                ctx.log.warning("worker %s returned before it was asked to stop", name)
                return


async def _until_stopped(worker: Worker, ctx: Context, grace: float) -> None:
    running = asyncio.ensure_future(worker(ctx))
    stopping = asyncio.ensure_future(ctx.stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            await asyncio.wait({running}, timeout=grace)
        if not running.done():
            ctx.log.warning("worker did not stop within %.0f s of the stop: cancelled", grace)
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            return
        running.result()
    finally:
        for task in (running, stopping):
            task.cancel()
        await asyncio.gather(running, stopping, return_exceptions=True)
