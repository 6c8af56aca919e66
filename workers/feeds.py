"""The feed bot: polls each registered RSS, Atom or JSON feed when it is due and publishes its new
items as updates of the blog, by the bot author named after the feed.

- **One poller per feed**: the worker holding the feed's lease polls it; the others skip it.
  The lease is renewed every third of `LEASE_MS` while the poll lasts, so a SIGKILLed worker's
  lapses within `LEASE_MS` (the webhooks' delivery lease works the same way).
- **Conditional GET** (`If-None-Match`, `If-Modified-Since`); a 304 publishes nothing. At most
  `MAX_REDIRECTS` redirects, each target checked by the webhooks' URL rule and fetched through
  `liveblog.outbound` (which connects only to the address it checked); at most
  `MAX_BYTES` read. RSS 0.9x-2.0, Atom and JSON Feed 1.1 are read by `liveblog.feeditems`.
- **Each item once**: an item is known by its guid/id, else its link. A new one is published
  through `publishing.publish` with an idempotency key derived from feed and item, then recorded; a
  worker that dies between the two publishes it again on the next poll, and the store replays
  the first. The validators (`ETag`, `Last-Modified`) are saved only after every item of the
  response is recorded, so the next poll after a crash gets the body again, not a 304.
- **First poll**: the newest `backfill` items present become updates, the others are recorded
  unpublished; every later item is published.
- A failing poll (unreachable, bad XML or JSON, too large, redirect loop, a refused address) is
  logged and recorded in the feed's state; the feed is polled again at its next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from liveblog import outbound, publishing
from liveblog.errors import LiveblogError
from liveblog.feedbot import FeedKeys, Feeds
from liveblog.feeditems import FeedError, item_markdown, item_title, parse
from liveblog.models import MAX_NAME, MAX_TITLE, Author
from liveblog.outbound import PrivateAddress
from liveblog.redis_client import UNAVAILABLE
from liveblog.runner import IDLE, Context
from liveblog.store import FEEDS
from liveblog.webhooks import check_url

TIMEOUT = 15.0  # seconds for one whole fetch, redirects included
MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
LEASE_MS = 5_000  # a feed's poll lease; renewed every third of it while the poll lasts
TICK = 0.5  # seconds between two looks at which feeds are due, while polls run
USER_AGENT = "liveblog-feedbot"
REDIRECTS = (301, 302, 303, 307, 308)

# Keep the lease when ours: 1 when this worker still holds it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


async def run(ctx: Context) -> None:
    consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    feeds = Feeds(ctx.store)
    scripts = ctx.redis.register_script(_RENEW), ctx.redis.register_script(_RELEASE)
    tasks: dict[str, asyncio.Task[None]] = {}
    try:
        async with outbound.client(
            allow_private=ctx.settings.allow_private_urls, timeout=TIMEOUT, max_connections=20
        ) as http:
            while not ctx.stop.is_set():
                for feed_id in [f for f, t in tasks.items() if t.done()]:
                    task = tasks.pop(feed_id)
                    if not task.cancelled() and task.exception() is not None:
                        ctx.log.error("feeds: %s failed: %r", feed_id, task.exception())
                soonest = None  # when the next feed falls due
                try:
                    records = await feeds.registered()
                    now = time.time()
                    for record in records:
                        if record["id"] in tasks:
                            continue
                        state = await feeds.state(record)
                        due = float(state.get("next", 0))
                        if due > now:
                            soonest = due if soonest is None else min(soonest, due)
                            continue
                        tasks[record["id"]] = asyncio.create_task(
                            _leased(ctx, feeds, http, record, consumer, scripts),
                            name=f"feeds {record['id']}",
                        )
                except UNAVAILABLE as exc:
                    ctx.log.warning("feeds: store unreachable (%s); retrying", exc)
                    soonest = time.time() + TICK
                # While polls run, a look every TICK (at the times they recorded); idle, none
                # until the next feed falls due or one is added (the store's FEEDS notice).
                await ctx.wait(FEEDS, TICK if tasks else IDLE if soonest is None else soonest - time.time())
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


async def _leased(
    ctx: Context,
    feeds: Feeds,
    http: httpx.AsyncClient,
    record: dict[str, Any],
    consumer: str,
    scripts: tuple[Any, Any],
) -> None:
    """Poll `record` if this worker gets its lease and it is (still) due."""
    lease = FeedKeys.of(record["blog"]).lease(record["id"])
    renew, release = scripts

    async def keep() -> None:
        while True:
            await asyncio.sleep(LEASE_MS / 3000)
            with contextlib.suppress(*UNAVAILABLE):
                await renew(keys=[lease], args=[consumer, LEASE_MS])

    try:
        if not await feeds.redis.set(lease, consumer, nx=True, px=LEASE_MS):
            return
        keeper = asyncio.create_task(keep(), name=f"feeds lease {record['id']}")
        try:
            state = await feeds.state(record)
            if float(state.get("next", 0)) > time.time():  # another worker has just polled it
                return
            await poll(ctx, feeds, http, record, state)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(*UNAVAILABLE):
                await release(keys=[lease], args=[consumer])
    except UNAVAILABLE as exc:
        ctx.log.warning("feeds: %s: store unreachable (%s); retrying", record["id"], exc)


async def poll(
    ctx: Context, feeds: Feeds, http: httpx.AsyncClient, record: dict[str, Any], state: dict[str, str]
) -> None:
    """One poll of one feed: fetch, parse, publish what is new, record it."""
    feed_id, url = record["id"], record["url"]
    started = time.time()
    await feeds.save_state(record, {"next": str(started + record["every"])})
    try:
        fetched = await fetch(http, url, state, ctx.settings.allow_private_urls)
        if fetched is None:  # 304
            await feeds.save_state(record, {"error": ""})
            return
        body, content_type, validators = fetched
        title, items = await asyncio.to_thread(parse, body, content_type)  # up to MAX_BYTES: off the loop
    except FeedError as exc:
        ctx.log.warning("feeds: %s (%s): %s; polled again in %d s", feed_id, url, exc, record["every"])
        await feeds.save_state(record, {"error": str(exc)[:300]})
        return
    author: Author = {"name": (title or urlsplit(url).hostname or url)[:MAX_NAME], "kind": "bot"}
    ids = [item["id"] for item in items]
    new = set(await feeds.unseen(record, ids))
    fresh = [item for item in items if item["id"] in new]  # oldest first
    if state.get("primed") != "1":
        keep = fresh[max(0, len(fresh) - record["backfill"]) :] if record["backfill"] else []
        await feeds.mark_seen(record, [i["id"] for i in fresh if i not in keep], started)
        fresh = keep
    published = 0
    for item in fresh:
        if not await feeds.exists(record):  # removed meanwhile
            return
        try:
            if await publish(ctx, record, item, author):
                published += 1
        except LiveblogError as exc:  # a blog removed, an item that is no valid update: skipped
            ctx.log.warning("feeds: %s: item %r not published: %s", feed_id, item["id"], exc)
        await feeds.mark_seen(record, [item["id"]], time.time())
    await feeds.save_state(record, {**validators, "primed": "1", "title": author["name"], "error": ""})
    if published:
        ctx.log.info("feeds: %s: %d item(s) published to %s", feed_id, published, record["blog"])


async def publish(ctx: Context, record: dict[str, Any], item: dict[str, Any], author: Author) -> bool:
    """Publish one item by the API's path; False when there is nothing to say."""
    body = item_markdown(item)
    if not body.strip():
        return False
    obj: dict[str, Any] = {"body": body, "key_event": bool(record.get("key_events"))}
    if title := item_title(item, MAX_TITLE):
        obj["title"] = title
    key = f"feedbot\0{record['id']}\0{item['id']}"
    result = await publishing.publish(
        ctx.store, record["blog"], obj, author, via="feed", key=key, request=b"feedbot\0" + key.encode()
    )
    return not result.replayed


# -- fetching --------------------------------------------------------------------------------------


async def fetch(
    http: httpx.AsyncClient, url: str, state: dict[str, str], allow_private: bool
) -> tuple[bytes, str, dict[str, str]] | None:
    """The body, its content type and validators; None on 304; FeedError when it fails.

    `http` is an `outbound.client`: every request, each redirect's too, goes to a checked address."""
    headers = {"user-agent": USER_AGENT, "accept-encoding": "gzip, deflate"}
    if state.get("etag"):
        headers["if-none-match"] = state["etag"]
    if state.get("last_modified"):
        headers["if-modified-since"] = state["last_modified"]
    try:
        async with asyncio.timeout(TIMEOUT):
            for _ in range(MAX_REDIRECTS + 1):
                check_url(url, allow_private=allow_private)  # each address: `http`'s transport
                async with http.stream("GET", url, headers=headers) as response:
                    if response.status_code in REDIRECTS and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code == 304:
                        return None
                    if response.status_code != 200:
                        raise FeedError(f"answered {response.status_code}")
                    if int(response.headers.get("content-length") or 0) > MAX_BYTES:
                        raise FeedError(f"over {MAX_BYTES} bytes")
                    chunks, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > MAX_BYTES:
                            raise FeedError(f"over {MAX_BYTES} bytes")
                        chunks.append(chunk)
                    validators = {
                        "etag": response.headers.get("etag", ""),
                        "last_modified": response.headers.get("last-modified", ""),
                    }
                    return b"".join(chunks), response.headers.get("content-type", ""), validators
            raise FeedError(f"more than {MAX_REDIRECTS} redirects")
    except TimeoutError:
        raise FeedError(f"no answer in {TIMEOUT:g} s") from None
    except (PrivateAddress, LiveblogError) as exc:
        raise FeedError(str(exc)) from None
    except (httpx.HTTPError, OSError) as exc:
        raise FeedError(f"{type(exc).__name__}: {exc}") from None
