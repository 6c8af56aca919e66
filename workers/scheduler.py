"""The scheduler: publishes scheduled updates when they fall due.

Each due update is taken off the schedule and published by one Lua script (`publishing.publish_due`),
so it is published once however many schedulers run (in every server process, in `liveblog
worker` processes, or both). It claims nothing between two rounds: stopping hands back nothing.
Between two rounds it waits until the soonest scheduled update falls due, or until an update is
scheduled, rescheduled or its blog reopened (the store's `SCHEDULED` notice): idle, it sends Redis
nothing.
"""

from __future__ import annotations

import time

from liveblog import publishing
from liveblog.redis_client import UNAVAILABLE
from liveblog.runner import IDLE, RESTART_DELAY, Context
from liveblog.store import SCHEDULED

LATE = 0.005  # seconds after an update falls due that the round starts: it is due by then


async def run(ctx: Context) -> None:
    while not ctx.stop.is_set():
        soonest = await publish_due(ctx)
        wait = IDLE if soonest is None else soonest - time.time() + LATE
        if await ctx.wait(SCHEDULED, wait):
            return


async def publish_due(ctx: Context) -> float | None:
    """One round: every blog's due updates published; when the soonest one left falls due (unix
    seconds; None when none is left; soon when the store was unreachable)."""
    soonest: float | None = None
    try:
        for slug in await ctx.store.scheduled_blogs():
            if ctx.stop.is_set():
                break
            published = await publishing.publish_due(ctx.store, slug)
            if published:
                ctx.log.info("published %d scheduled update(s) in %s", len(published), slug)
            due = await ctx.store.next_due(slug)
            if due is not None and (soonest is None or due < soonest):
                soonest = due
    except UNAVAILABLE as exc:
        ctx.log.warning("scheduler: store unreachable (%s); retrying", exc)
        return time.time() + RESTART_DELAY
    return soonest
