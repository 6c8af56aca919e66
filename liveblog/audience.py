"""Reading now: the readers of each blog, summed over every server process and node.

Each process's hub knows its own subscribers per blog (SSE and WebSocket alike). One task per
process (`Audience.run`, started and stopped by the hub) reports them to the store every
`interval` seconds; a count expires `LIFETIME` intervals after its last report, so the readers of
a process that died leave the sum by themselves. The store keeps them per blog, under the blog's
hash tag, and trims and sums them in one script (see `Store.report_audience`). Plain asyncio.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from .redis_client import UNAVAILABLE
from .store import Store

log = logging.getLogger("liveblog.audience")

LIFETIME = 3  # reports a count outlives: two can be missed (a busy loop, a failover) before it goes


class Audience:
    """This process's reports: `readers()` gives its readers per blog (blogs without any left out)."""

    def __init__(self, store: Store, readers: Callable[[], dict[str, int]], interval: float) -> None:
        if interval <= 0:
            raise ValueError("audience interval must be > 0 seconds")
        self.store = store
        self.readers = readers
        self.interval = interval
        self.process = secrets.token_hex(8)  # this process's name in the blogs' counts
        self._reported: set[str] = set()  # blogs whose count holds readers of this process

    async def report(self) -> None:
        """One round: each blog's readers in this process; 0 (its count forgotten) for a blog
        it had readers of at the last round and has none of now."""
        counts = self.readers()
        counts.update((slug, 0) for slug in self._reported - counts.keys())
        for slug, readers in counts.items():
            await self.store.report_audience(slug, self.process, readers, self.interval * LIFETIME)
            if readers:
                self._reported.add(slug)
            else:
                self._reported.discard(slug)

    async def run(self) -> None:
        """Report every `interval` seconds until cancelled; a store away is retried next round."""
        while True:
            try:
                await self.report()
            except UNAVAILABLE as exc:
                log.warning("could not report this process's readers: %s", exc)
            await asyncio.sleep(self.interval)

    async def withdraw(self) -> None:
        """Take this process's readers out of every count (at shutdown): they are leaving."""
        try:
            for slug in tuple(self._reported):
                await self.store.report_audience(slug, self.process, 0, 0)
                self._reported.discard(slug)
        except UNAVAILABLE as exc:  # they expire by themselves
            log.warning("could not withdraw this process's readers: %s", exc)
