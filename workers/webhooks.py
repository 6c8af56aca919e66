"""The webhook worker: reads each blog stream that has webhooks through the consumer group
`webhooks` and POSTs every event to every registered URL, signed by the Standard Webhooks spec.

Two stages, so that no endpoint ever waits for another, nor the readers for any endpoint:

1. **Fan-out** (one task per blog): `XREADGROUP` (consumer name per worker process), then in one
   `MULTI` on the blog's slot: `ZADD` the event's ID to the queue of each endpoint that wants it
   and `XACK` it. An event is acknowledged once every endpoint's queue holds it; a worker killed
   before that leaves it pending, and the next worker's `XAUTOCLAIM` (after `CLAIM_IDLE_MS`)
   takes it over.
2. **Delivery** (one task per endpoint): the worker holding the endpoint's lease (a key that a
   dead worker's lets lapse after `LEASE_MS`) takes the queue's head, the oldest event, POSTs it
   (10 s to get a 2xx), and removes it only then; a failure records its next try (`webhook_retry_base`
   seconds, doubling, with jitter) in Redis and the head waits for it, so a healthy endpoint gets
   the events in stream order. After 24 hours of tries an event is recorded as failed and dropped;
   an endpoint failing for a day is disabled, the reason in its log.

The body is the `data` object that SSE sends for the event (`liveblog.events.encode`), built at
delivery time from the stream, so an update deleted meanwhile is not sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import socket
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from redis.exceptions import ResponseError
from standardwebhooks import Webhook

from liveblog.events import encode, parse_id
from liveblog.redis_client import UNAVAILABLE, AsyncClient
from liveblog.webhooks import (
    GROUP,
    PrivateAddress,
    WebhookKeys,
    Webhooks,
    check_resolved,
    score,
)

if TYPE_CHECKING:
    from workers import Context

TIMEOUT = 10.0  # seconds a receiver has to answer 2xx
MAX_RESPONSE = 4096  # bytes of a receiver's answer read (the rest is dropped)
RETRY_FOR = 24 * 3600.0  # seconds of retries before an event is failed, and an endpoint disabled
CLAIM_IDLE_MS = 5_000  # a pending entry idle this long belongs to a dead worker
LEASE_MS = 5_000  # an endpoint's delivery lease; renewed every third of it
REFRESH = 1.0  # seconds between two looks at the registered webhooks
IDLE_POLL = 0.1  # seconds between two looks at an empty queue
BATCH = 100
USER_AGENT = "liveblog-webhooks"

# Take the lease when free, keep it when ours: 1 when this worker holds it.
_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def run(ctx: Context) -> None:
    consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    hooks = Webhooks(ctx.store)
    reader = ctx.connect(blocking=True)
    tasks: dict[str, asyncio.Task[None]] = {}
    lease, release = ctx.redis.register_script(_LEASE), ctx.redis.register_script(_RELEASE)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as http:
            while not ctx.stop.is_set():
                try:
                    records = await hooks.registered()
                except UNAVAILABLE as exc:
                    ctx.log.warning("webhooks: store unreachable (%s); retrying", exc)
                    records = None
                if records is not None:
                    wanted: dict[str, Any] = {}
                    for record in records:
                        wanted["blog:" + record["blog"]] = lambda s=record["blog"]: _fan_out(
                            ctx, hooks, reader, s, consumer
                        )
                        if not record.get("disabled"):
                            wanted["hook:" + record["id"]] = lambda r=record: _deliver(
                                ctx, hooks, http, r, consumer, lease
                            )
                    for name in list(tasks):
                        task = tasks[name]
                        if name not in wanted or task.done():
                            task.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await task
                            if not task.cancelled() and task.exception() is not None:
                                ctx.log.error("webhooks: %s failed: %r; restarting", name, task.exception())
                            del tasks[name]
                    for name, start in wanted.items():
                        if name not in tasks:
                            tasks[name] = asyncio.create_task(start(), name=f"webhooks {name}")
                await ctx.sleep(REFRESH)
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        with contextlib.suppress(*UNAVAILABLE):  # hand the endpoints back at once
            for record in await hooks.registered():
                await release(keys=[WebhookKeys.of(record["blog"]).lease(record["id"])], args=[consumer])
        await reader.aclose()


# -- fan-out ---------------------------------------------------------------------------------------


async def _fan_out(ctx: Context, hooks: Webhooks, client: AsyncClient, slug: str, consumer: str) -> None:
    stream = WebhookKeys.of(slug).blog.events
    next_claim = 0.0
    while True:
        try:
            if time.monotonic() >= next_claim:  # a dead worker's pending entries
                cursor = "0-0"
                while True:
                    claim: Any = await client.xautoclaim(
                        stream, GROUP, consumer, CLAIM_IDLE_MS, cursor, count=BATCH
                    )
                    cursor, claimed = _text(claim[0]), claim[1]
                    if claimed:
                        ctx.log.info("webhooks: claimed %d pending event(s) of %s", len(claimed), slug)
                        await _queue(hooks, slug, claimed)
                    if cursor == "0-0":
                        break
                next_claim = time.monotonic() + CLAIM_IDLE_MS / 2000
            read: Any = await client.xreadgroup(GROUP, consumer, {stream: ">"}, count=BATCH, block=1000)
            for _, entries in read or ():
                await _queue(hooks, slug, entries)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            with contextlib.suppress(ResponseError):  # the stream was deleted and written again
                await client.xgroup_create(stream, GROUP, id="$", mkstream=True)
        except UNAVAILABLE as exc:
            ctx.log.warning("webhooks: reading %s: %s; retrying", slug, exc)
            await asyncio.sleep(1)


async def _queue(hooks: Webhooks, slug: str, entries: list[Any]) -> None:
    """Put each entry on the queue of every endpoint that wants it, and acknowledge it, at once."""
    keys = WebhookKeys.of(slug)
    records = await hooks.registered(slug)
    async with hooks.redis.pipeline(transaction=True) as pipe:
        for raw_id, fields in entries:
            event_id = _text(raw_id)
            if not fields:  # an entry erased from the stream (Redis 6.2's XAUTOCLAIM still lists it)
                continue
            event_type = _text(fields[b"type"])
            for record in records:
                if record.get("disabled") or parse_id(event_id) < parse_id(record["since"]):
                    continue
                if record["events"] and event_type not in record["events"]:
                    continue
                pipe.zadd(keys.queue(record["id"]), {event_id: score(event_id)})
        pipe.xack(keys.blog.events, GROUP, *[_text(raw_id) for raw_id, _ in entries])
        await pipe.execute()


# -- delivery --------------------------------------------------------------------------------------


async def _deliver(
    ctx: Context, hooks: Webhooks, http: httpx.AsyncClient, record: dict[str, Any], consumer: str, lease: Any
) -> None:
    slug, hook_id = record["blog"], record["id"]
    keys = WebhookKeys.of(slug)
    redis = hooks.redis
    signer = Webhook(record["secret"])
    held = asyncio.Event()

    async def keep_lease() -> None:
        while True:
            try:
                ours = await lease(keys=[keys.lease(hook_id)], args=[consumer, LEASE_MS])
            except UNAVAILABLE:
                ours = 0
            held.set() if ours else held.clear()
            await asyncio.sleep(LEASE_MS / 3000)

    keeper = asyncio.create_task(keep_lease(), name=f"webhooks lease {hook_id}")
    try:
        while True:
            await held.wait()
            try:
                head = await redis.zrange(keys.queue(hook_id), 0, 0)
                if not head:
                    await asyncio.sleep(IDLE_POLL)
                    continue
                event_id = _text(head[0])
                raw = await redis.hget(keys.tries(hook_id), event_id)
                tries = json.loads(raw) if raw else {}
                wait = tries.get("due", 0) - time.time()
                if wait > 0:
                    await asyncio.sleep(min(wait, LEASE_MS / 3000))
                    continue
                if not await _attempt(ctx, hooks, http, signer, record, event_id, tries):
                    return  # disabled
            except UNAVAILABLE as exc:
                ctx.log.warning("webhooks: %s: store unreachable (%s); retrying", hook_id, exc)
                await asyncio.sleep(1)
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper


async def _attempt(
    ctx: Context,
    hooks: Webhooks,
    http: httpx.AsyncClient,
    signer: Webhook,
    record: dict[str, Any],
    event_id: str,
    tries: dict[str, Any],
) -> bool:
    """One delivery of the queue's head; False when the endpoint is disabled after it."""
    slug, hook_id = record["blog"], record["id"]
    keys = WebhookKeys.of(slug)
    redis = hooks.redis
    entries = await ctx.store.events(slug, event_id, event_id)
    if not entries:  # erased (its update deleted) or trimmed: nothing to send
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.queue(hook_id), event_id)
            pipe.hdel(keys.tries(hook_id), event_id)
            await pipe.execute()
        return True
    _, event_type, data = entries[0]
    payload = encode(slug, event_id, event_type, data).payload
    attempt = int(tries.get("attempt", 0)) + 1
    status, error = await post(
        http, signer, record["url"], f"{event_id}:{hook_id}", payload, ctx.settings.allow_private_urls
    )
    line: dict[str, Any] = {"event": event_id, "type": event_type, "attempt": attempt, "status": status}
    now = time.time()
    if 200 <= status < 300:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.queue(hook_id), event_id)
            pipe.hdel(keys.tries(hook_id), event_id)
            await pipe.execute()
        await hooks.record(slug, hook_id, {**line, "result": "delivered"})
        if record.get("failing_since"):
            record["failing_since"] = None
            await hooks.save(record)
        return True
    first = float(tries.get("first", now))
    if error:
        line["error"] = error[:300]
    if now - first >= RETRY_FOR:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.queue(hook_id), event_id)
            pipe.hdel(keys.tries(hook_id), event_id)
            await pipe.execute()
        await hooks.record(slug, hook_id, {**line, "result": "failed"})
    else:
        delay = ctx.settings.webhook_retry_base * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
        due = now + min(delay, RETRY_FOR)
        await redis.hset(
            keys.tries(hook_id), event_id, json.dumps({"attempt": attempt, "first": first, "due": due})
        )
        await hooks.record(slug, hook_id, {**line, "result": "retry", "retry_at": _iso(due)})
    ctx.log.info("webhooks: %s: %s attempt %d: %s %s", hook_id, event_id, attempt, status, error)
    since = record.get("failing_since") or now
    if record.get("failing_since") is None:
        record["failing_since"] = now
        await hooks.save(record)
    elif now - since >= RETRY_FOR:
        reason = f"failing since {_iso(since)}: last {error or f'status {status}'}"
        record["disabled"] = reason
        await hooks.save(record)
        await hooks.record(slug, hook_id, {"event": event_id, "result": "disabled", "reason": reason})
        ctx.log.warning("webhooks: %s disabled: %s", hook_id, reason)
        return False
    return True


async def post(
    http: httpx.AsyncClient, signer: Webhook, url: str, msg_id: str, payload: str, allow_private: bool
) -> tuple[int, str]:
    """POST one signed event; (status, "") or (0, why) when there was no answer in time."""
    moment = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signer.sign(msg_id, moment, payload),
    }
    try:
        await check_resolved(url, allow_private=allow_private)
        async with asyncio.timeout(TIMEOUT):
            async with http.stream("POST", url, content=payload.encode(), headers=headers) as response:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= MAX_RESPONSE:
                        break
                return response.status_code, ""
    except TimeoutError:
        return 0, f"no answer in {TIMEOUT:g} s"
    except PrivateAddress as exc:
        return 0, str(exc)
    except (httpx.HTTPError, OSError) as exc:
        return 0, f"{type(exc).__name__}: {exc}"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
