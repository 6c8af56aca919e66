"""The feed bot's registrations: which RSS, Atom and JSON feeds post into which blog, and their
keys in Redis. (`feeds.py` is the other direction: the blog's own Atom and JSON feeds.)

Plain asyncio and redis-py; the polling is `workers/feeds.py`. Keys, hash-tagged by blog like the
webhooks' (so a blog's feeds live on its Cluster slot):

- `lb:feedbot`: hash, feed ID -> its blog (so `feed remove ID` needs no slug);
- `lb:{slug}:feedbot`: hash, feed ID -> its record (JSON: url, every, backfill, key_events, ...);
- `lb:{slug}:feedbot:ID:state`: hash, the poller's: etag, last_modified, next (unix s), primed,
  title, error;
- `lb:{slug}:feedbot:ID:seen`: sorted set, the items already recorded (score: when), the newest
  `MAX_SEEN` kept;
- `lb:{slug}:feedbot:ID:lease`: which worker polls it now (expires: a dead one's lapses).

Feed URLs follow the webhooks' rule (`webhooks.check_url` at registration, `outbound` at each fetch).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from .errors import Invalid, NotFound
from .store import FEEDS, Store, now_iso
from .webhooks import check_url

INDEX = "lb:feedbot"
DEFAULT_EVERY = 60
MIN_EVERY = 1
MAX_EVERY = 86_400  # a day: a poll's next time stays a plain number of seconds
MAX_SEEN = 5000
MAX_BACKFILL = MAX_SEEN  # items of the feed as it is now, posted at its first poll


@dataclass(frozen=True, slots=True)
class FeedKeys:
    feeds: str
    prefix: str

    @classmethod
    def of(cls, slug: str) -> FeedKeys:
        return cls(f"lb:{{{slug}}}:feedbot", f"lb:{{{slug}}}:feedbot:")

    def state(self, feed_id: str) -> str:
        return f"{self.prefix}{feed_id}:state"

    def seen(self, feed_id: str) -> str:
        return f"{self.prefix}{feed_id}:seen"

    def lease(self, feed_id: str) -> str:
        return f"{self.prefix}{feed_id}:lease"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Feeds:
    """Registration of the feeds a blog follows, on the store's Redis."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis

    async def add(
        self,
        slug: str,
        url: str,
        *,
        every: int = DEFAULT_EVERY,
        backfill: int = 0,
        key_events: bool = False,
        allow_private: bool = False,
    ) -> dict[str, Any]:
        check_url(url, allow_private=allow_private)
        if not isinstance(every, int) or not MIN_EVERY <= every <= MAX_EVERY:
            raise Invalid("every", f"seconds between polls, {MIN_EVERY} to {MAX_EVERY}")
        if not isinstance(backfill, int) or not 0 <= backfill <= MAX_BACKFILL:
            raise Invalid("backfill", f"how many of the feed's present items to post, 0 to {MAX_BACKFILL}")
        await self.store.require_blog(slug)
        record: dict[str, Any] = {
            "id": "fd_" + secrets.token_hex(8),
            "blog": slug,
            "url": url,
            "every": every,
            "backfill": backfill,
            "key_events": bool(key_events),
            "created_at": now_iso(),
        }
        await self.redis.hset(FeedKeys.of(slug).feeds, record["id"], json.dumps(record))
        await self.redis.hset(INDEX, record["id"], slug)
        await self.store.notify(FEEDS)
        return record

    async def registered(self, slug: str | None = None) -> list[dict[str, Any]]:
        """The feeds of `slug` (of every blog when None), oldest first."""
        slugs = [slug] if slug else sorted({_text(s) for s in await self.redis.hvals(INDEX)})
        records = []
        for one in slugs:
            records += [json.loads(v) for v in await self.redis.hvals(FeedKeys.of(one).feeds)]
        return sorted(records, key=lambda r: (r["created_at"], r["id"]))

    async def get(self, feed_id: str, slug: str | None = None) -> dict[str, Any]:
        found = slug or await self.redis.hget(INDEX, feed_id)
        raw = await self.redis.hget(FeedKeys.of(_text(found)).feeds, feed_id) if found else None
        if raw is None:
            raise NotFound(f"no feed {feed_id!r}" + (f" on blog {slug!r}" if slug else ""))
        record: dict[str, Any] = json.loads(raw)
        return record

    async def exists(self, record: dict[str, Any]) -> bool:
        return bool(await self.redis.hexists(FeedKeys.of(record["blog"]).feeds, record["id"]))

    async def remove(self, feed_id: str, slug: str | None = None) -> dict[str, Any]:
        record = await self.get(feed_id, slug)
        keys = FeedKeys.of(record["blog"])
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.feeds, feed_id)
            pipe.delete(keys.state(feed_id), keys.seen(feed_id), keys.lease(feed_id))
            await pipe.execute()
        await self.redis.hdel(INDEX, feed_id)
        await self.store.notify(FEEDS)
        return record

    async def state(self, record: dict[str, Any]) -> dict[str, str]:
        raw = await self.redis.hgetall(FeedKeys.of(record["blog"]).state(record["id"]))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def save_state(self, record: dict[str, Any], state: dict[str, str]) -> None:
        if state:
            mapping: dict[Any, Any] = dict(state)  # redis-py types its keys invariantly
            await self.redis.hset(FeedKeys.of(record["blog"]).state(record["id"]), mapping=mapping)

    async def unseen(self, record: dict[str, Any], item_ids: list[str]) -> list[str]:
        """Those of `item_ids` not recorded yet, in the same order."""
        if not item_ids:
            return []
        scores = await self.redis.zmscore(FeedKeys.of(record["blog"]).seen(record["id"]), item_ids)
        return [item for item, score in zip(item_ids, scores, strict=True) if score is None]

    async def mark_seen(self, record: dict[str, Any], item_ids: list[str], when: float) -> None:
        if not item_ids:
            return
        key = FeedKeys.of(record["blog"]).seen(record["id"])
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, dict.fromkeys(item_ids, when))
            pipe.zremrangebyrank(key, 0, -MAX_SEEN - 1)
            await pipe.execute()
