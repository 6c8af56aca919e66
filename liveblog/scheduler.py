"""The scheduler: publishes scheduled updates when they fall due.

Every server process runs one; each due update is taken off the schedule and
published by one Lua script, so it is published once however many run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from .redis_client import UNAVAILABLE
from .store import Store

log = logging.getLogger("liveblog.scheduler")
INTERVAL = 1.0


async def run(store: Store, interval: float = INTERVAL) -> None:
    while True:
        try:
            for slug in await store.scheduled_blogs():
                published = await store.publish_due(slug)
                if published:
                    log.info("published %d scheduled update(s) in %s", len(published), slug)
        except UNAVAILABLE as exc:
            log.warning("scheduler: store unreachable (%s); retrying", exc)
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running(store: Store, interval: float = INTERVAL) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(run(store, interval), name="scheduler")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
