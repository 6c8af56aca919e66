"""Webhooks: who gets a blog's events, the URLs that may be registered, and their keys in Redis.

Plain asyncio and redis-py; the delivery itself is `workers/webhooks.py`. Keys, hash-tagged by blog
like the store's (so a blog's webhooks live on its Cluster slot), kept here rather than in the
store so that one module holds one concern:

- `lb:webhooks`: hash, webhook ID -> its blog (so `webhook remove ID` needs no slug);
- `lb:{slug}:webhooks`: hash, webhook ID -> its record (JSON: url, events, secret, since, ...);
- `lb:{slug}:webhook:ID:queue`: sorted set, the stream IDs still to deliver, in stream order;
- `lb:{slug}:webhook:ID:tries`: hash, stream ID -> {attempt, first, due} of a failed delivery;
- `lb:{slug}:webhook:ID:log`: list, its latest deliveries (newest first, at most `LOG_LENGTH`);
- `lb:{slug}:webhook:ID:lease`: which worker delivers to it now (expires: a dead one's lapses);
- `lb:{slug}:webhooks:fanout`: which worker queues the blog's events now (expires likewise).

The blog stream's consumer group `webhooks` is created at the first registration (`$`, MKSTREAM):
events before it are never sent. A webhook added later skips the events before its `since`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from redis.exceptions import ResponseError

from .errors import Invalid, NotFound
from .events import STORED_EVENT_TYPES as EVENT_TYPES
from .models import MAX_TEXT as MAX_URL
from .outbound import is_public
from .store import WEBHOOKS, Keys, Store, now_iso

INDEX = "lb:webhooks"
GROUP = "webhooks"
LOG_LENGTH = 100
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A signing secret by the Standard Webhooks conventions: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


_URI = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")  # RFC 3986's characters


def check_url(url: str, *, allow_private: bool) -> str:
    """`url` when it is an http(s) URL that may be registered, else Invalid naming the field."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise Invalid("url", f"an http or https URL of at most {MAX_URL} characters")
    if not _URI.fullmatch(url):
        raise Invalid(
            "url", "a URI: ASCII letters, digits and RFC 3986 punctuation (percent-encode the rest)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("url", "an http or https URL with a host")
    if parts.username or parts.password:
        raise Invalid("url", "no credentials in the URL")
    if not allow_private:
        try:
            if not is_public(parts.hostname):
                raise Invalid("url", "loopback, link-local and private addresses are refused")
        except ValueError:  # a name: its addresses are checked at every delivery (outbound.py)
            if parts.hostname.lower() == "localhost" or parts.hostname.lower().endswith(".localhost"):
                raise Invalid("url", "loopback, link-local and private addresses are refused") from None
    return url


def check_events(events: Iterable[str] | None) -> list[str]:
    chosen = list(events or [])
    if len(set(chosen)) != len(chosen):
        raise Invalid("events", "each event type once")
    for event in chosen:
        if event not in EVENT_TYPES:
            raise Invalid("events", f"{event!r} is not one of {', '.join(EVENT_TYPES)}")
    return sorted(set(chosen))


@dataclass(frozen=True, slots=True)
class WebhookKeys:
    blog: Keys
    hooks: str
    prefix: str

    @classmethod
    def of(cls, slug: str) -> WebhookKeys:
        return cls(Keys.of(slug), f"lb:{{{slug}}}:webhooks", f"lb:{{{slug}}}:webhook:")

    def queue(self, hook_id: str) -> str:
        return f"{self.prefix}{hook_id}:queue"

    def tries(self, hook_id: str) -> str:
        return f"{self.prefix}{hook_id}:tries"

    def log(self, hook_id: str) -> str:
        return f"{self.prefix}{hook_id}:log"

    def lease(self, hook_id: str) -> str:
        return f"{self.prefix}{hook_id}:lease"

    @property
    def fanout(self) -> str:
        return f"{self.hooks}:fanout"


def score(event_id: str) -> int:
    """A stream ID as a sorted-set score that keeps stream order (as the store's `order` does)."""
    ms, _, seq = event_id.partition("-")
    return int(ms) * 1000 + int(seq or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A webhook as listed: everything but its secret (shown once, at registration)."""
    return {k: v for k, v in record.items() if k != "secret"}


class Webhooks:
    """Registration, the delivery log and the per-webhook queues, on the store's Redis."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis

    async def add(
        self, slug: str, url: str, events: Iterable[str] | None = None, *, allow_private: bool = False
    ) -> dict[str, Any]:
        """Register a webhook; its record, with the secret (the only time it is returned)."""
        check_url(url, allow_private=allow_private)
        chosen = check_events(events)
        await self.store.require_blog(slug)
        keys = WebhookKeys.of(slug)
        try:
            await self.redis.xgroup_create(keys.blog.events, GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        seconds, micros = await self.redis.time()
        record: dict[str, Any] = {
            "id": "wh_" + secrets.token_hex(8),
            "blog": slug,
            "url": url,
            "events": chosen,  # empty: every event type
            "secret": new_secret(),
            "created_at": now_iso(),
            "since": f"{int(seconds) * 1000 + int(micros) // 1000}-0",  # events from here on
            "disabled": None,  # the reason, once disabled
        }
        await self.redis.hset(keys.hooks, record["id"], json.dumps(record))
        await self.redis.hset(INDEX, record["id"], slug)
        await self.store.notify(WEBHOOKS)
        return record

    async def registered(self, slug: str | None = None) -> list[dict[str, Any]]:
        """The webhooks of `slug` (of every blog when None), oldest first, with their secrets."""
        slugs = [slug] if slug else sorted({_text(s) for s in await self.redis.hvals(INDEX)})
        records = []
        for one in slugs:
            records += [json.loads(v) for v in (await self.redis.hvals(WebhookKeys.of(one).hooks))]
        return sorted(records, key=lambda r: (r["created_at"], r["id"]))

    async def blogs(self) -> set[str]:
        return {_text(s) for s in await self.redis.hvals(INDEX)}

    async def get(self, hook_id: str, slug: str | None = None) -> dict[str, Any]:
        found = slug or await self.redis.hget(INDEX, hook_id)
        raw = await self.redis.hget(WebhookKeys.of(_text(found)).hooks, hook_id) if found else None
        if raw is None:
            raise NotFound(f"no webhook {hook_id!r}" + (f" on blog {slug!r}" if slug else ""))
        record: dict[str, Any] = json.loads(raw)
        return record

    async def remove(self, hook_id: str, slug: str | None = None) -> dict[str, Any]:
        record = await self.get(hook_id, slug)
        keys = WebhookKeys.of(record["blog"])
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.hooks, hook_id)
            pipe.delete(keys.queue(hook_id), keys.tries(hook_id), keys.log(hook_id), keys.lease(hook_id))
            await pipe.execute()
        await self.redis.hdel(INDEX, hook_id)
        await self.store.notify(WEBHOOKS)
        return record

    async def save(self, record: dict[str, Any]) -> bool:
        """Write back a changed record (failing since, disabled); False when it was removed meanwhile."""
        keys = WebhookKeys.of(record["blog"])
        if not await self.redis.hexists(keys.hooks, record["id"]):
            return False
        await self.redis.hset(keys.hooks, record["id"], json.dumps(record))
        await self.store.notify(WEBHOOKS)
        return True

    async def record(self, slug: str, hook_id: str, entry: dict[str, Any]) -> None:
        """Add a line to a webhook's delivery log, keeping the latest `LOG_LENGTH`."""
        key = WebhookKeys.of(slug).log(hook_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, json.dumps({"time": now_iso(), **entry}))
            pipe.ltrim(key, 0, LOG_LENGTH - 1)
            await pipe.execute()

    async def log(self, hook_id: str) -> list[dict[str, Any]]:
        record = await self.get(hook_id)
        raw = await self.redis.lrange(WebhookKeys.of(record["blog"]).log(hook_id), 0, -1)
        return [json.loads(line) for line in raw]


def unix_ms() -> int:
    return int(time.time() * 1000)
