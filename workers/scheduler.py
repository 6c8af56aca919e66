"""The scheduler: publishes scheduled updates when they fall due.

Each due update is taken off the schedule and published by one Lua script (`publishing.publish_due`),
so it is published once however many schedulers run (in every server process, in `liveblog
worker` processes, or both). It claims nothing between two rounds: stopping hands back nothing.
"""

from __future__ import annotations

from liveblog import publishing
from liveblog.redis_client import UNAVAILABLE
from liveblog.runner import Context

INTERVAL = 1.0  # seconds between two rounds: a scheduled update is published at most this late


async def run(ctx: Context, interval: float = INTERVAL) -> None:
    while not ctx.stop.is_set():
        await publish_due(ctx)
        if await ctx.sleep(interval):
            return


async def publish_due(ctx: Context) -> int:
    """One round: every blog's due updates published; how many."""
    total = 0
    try:
        for slug in await ctx.store.scheduled_blogs():
            if ctx.stop.is_set():
                break
            published = await publishing.publish_due(ctx.store, slug)
            if published:
                ctx.log.info("published %d scheduled update(s) in %s", len(published), slug)
            total += len(published)
    except UNAVAILABLE as exc:
        ctx.log.warning("scheduler: store unreachable (%s); retrying", exc)
    return total
