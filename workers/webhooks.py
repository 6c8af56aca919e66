"""The webhook worker: reads each blog stream that has webhooks through the consumer group
`webhooks` and POSTs every event to every registered URL, signed by the Standard Webhooks spec.

Two stages, so that no endpoint ever waits for another, nor the readers for any endpoint:

1. **Fan-out** (one owner per blog): of the worker processes running, the one holding the blog's
   fan-out lease (`WebhookKeys.fanout`) `XREADGROUP`s new entries, then takes the group's whole
   pending list with `XAUTOCLAIM` (idle 0, from `0-0`: in ID order, its own entries and any a
   dead or stalled worker read), and in one script on the blog's slot, only while it still holds
   the lease, `ZADD`s each event's ID to the queue of each endpoint that wants it and `XACK`s it.
   Stream order is kept because an entry is queued only by the lease holder, together with every
   older entry still pending: an older entry is pending (it was read before the newer one was)
   or acknowledged, that is queued. A worker killed before its script leaves the entries pending
   and its lease lapses after `LEASE_MS`: the next owner queues them, before any newer entry.
   A stalled owner that wakes up after losing the lease is refused by the script.
2. **Delivery** (one task per endpoint): the worker holding the endpoint's lease (a key that a
   dead worker's lets lapse after `LEASE_MS`) takes the queue's head, the oldest event, POSTs it
   (10 s to get a 2xx), and removes it only then; a failure records its next try (`webhook_retry_base`
   seconds, doubling, with jitter) in Redis and the head waits for it, so a healthy endpoint gets
   the events in stream order. After 24 hours of tries an event is recorded as failed and dropped;
   an endpoint failing for a day is disabled, the reason in its log. An empty queue costs Redis
   nothing: its task waits for the fan-out's notice that it queued something (`Store.notify`,
   read by each process's `runner.Doorbell`), looking again after `IDLE_LOOK` should it miss one.

The body is the `data` object that SSE sends for the event (`liveblog.events.encode`), built at
delivery time from the stream, so an update deleted meanwhile is not sent again. Requests go
through `liveblog.outbound`, which connects only to the address it checked.
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
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.exceptions import ResponseError
from standardwebhooks import Webhook

from liveblog import outbound
from liveblog.events import encode, parse_id
from liveblog.outbound import PrivateAddress
from liveblog.redis_client import UNAVAILABLE, AsyncClient
from liveblog.runner import IDLE, Context
from liveblog.store import WEBHOOKS
from liveblog.webhooks import GROUP, WebhookKeys, Webhooks, score

TIMEOUT = 10.0  # seconds a receiver has to answer 2xx
MAX_RESPONSE = 4096  # bytes of a receiver's answer read (the rest is dropped)
RETRY_FOR = 24 * 3600.0  # seconds of retries before an event is failed, and an endpoint disabled
LEASE_MS = 5_000  # a blog's fan-out lease and an endpoint's delivery lease; renewed every third of it
REFRESH = 1.0  # seconds before another look at the registered webhooks, when the store was away
# An endpoint with nothing queued waits for the fan-out's notice that it queued something (the
# store's notices, `runner.Doorbell`), and looks again after this long should it miss one.
IDLE_LOOK = 5.0
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
# Queue and acknowledge, only while the fan-out lease is ours: 1 when done, 0 when not ours.
# KEYS: the lease, the stream, the queues; ARGV: the owner, the group, how many IDs to acknowledge,
# those IDs, then (queue's index in KEYS, score, ID) triples.
_QUEUE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local acks = tonumber(ARGV[3])
for i = 4 + acks, #ARGV, 3 do
  redis.call('ZADD', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
end
if acks > 0 then redis.call('XACK', KEYS[2], ARGV[2], unpack(ARGV, 4, 3 + acks)) end
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Leases:
    """This worker's leases (a blog's fan-out, an endpoint's delivery): a key holding its name,
    taken when free, renewed every third of `LEASE_MS`, lapsed when the worker dies."""

    def __init__(self, redis: AsyncClient, owner: str) -> None:
        self.owner = owner
        self._take, self._release = redis.register_script(_LEASE), redis.register_script(_RELEASE)

    @contextlib.asynccontextmanager
    async def holding(self, key: str) -> AsyncIterator[asyncio.Event]:
        """An event set while this worker holds `key`; the lease is handed back on exit."""
        held = asyncio.Event()

        async def keep() -> None:
            while True:
                try:
                    ours = await self._take(keys=[key], args=[self.owner, LEASE_MS])
                except UNAVAILABLE:
                    ours = 0
                held.set() if ours else held.clear()
                await asyncio.sleep(LEASE_MS / 3000)

        keeper = asyncio.create_task(keep(), name=f"webhooks lease {key}")
        try:
            yield held
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(*UNAVAILABLE):  # hand it over at once
                await self._release(keys=[key], args=[self.owner])


async def run(ctx: Context) -> None:
    hooks = Webhooks(ctx.store)
    leases = _Leases(ctx.redis, f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}")
    queue = ctx.redis.register_script(_QUEUE)
    reader = ctx.connect(blocking=True)
    tasks: dict[str, asyncio.Task[None]] = {}
    try:
        async with outbound.client(allow_private=ctx.settings.allow_private_urls, timeout=TIMEOUT) as http:
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
                            ctx, hooks, reader, leases, queue, s
                        )
                        if not record.get("disabled"):
                            wanted["hook:" + record["id"]] = lambda r=record: _deliver(
                                ctx, hooks, http, leases, r
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
                            tasks[name].add_done_callback(lambda task: _ended(ctx, task))
                # Until a webhook is added, changed or removed (the store's WEBHOOKS notice).
                await ctx.wait(WEBHOOKS, IDLE if records is not None else REFRESH)
    finally:
        for task in tasks.values():  # each hands its leases back
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await reader.aclose()


def _ended(ctx: Context, task: asyncio.Task[None]) -> None:
    """A task ended: its endpoint disabled (looked at at once), or failed (started again after
    `REFRESH`, not in a loop as fast as it fails)."""
    failed = not task.cancelled() and task.exception() is not None
    asyncio.get_running_loop().call_later(REFRESH if failed else 0, ctx.doorbell.ring, WEBHOOKS)


# -- fan-out ---------------------------------------------------------------------------------------


async def _fan_out(
    ctx: Context, hooks: Webhooks, client: AsyncClient, leases: _Leases, queue: Any, slug: str
) -> None:
    keys = WebhookKeys.of(slug)
    stream = keys.blog.events
    async with leases.holding(keys.fanout) as held:
        while True:
            await held.wait()
            try:  # new entries become pending; then every pending entry, in ID order, is queued
                await client.xreadgroup(GROUP, leases.owner, {stream: ">"}, count=BATCH, block=1000)
                cursor = "0-0"
                while True:
                    claim: Any = await client.xautoclaim(stream, GROUP, leases.owner, 0, cursor, count=BATCH)
                    cursor, claimed = _text(claim[0]), claim[1]
                    if claimed and not await _queue(hooks, queue, leases.owner, slug, claimed):
                        ctx.log.info("webhooks: %s: another worker owns the fan-out now", slug)
                        held.clear()
                        break
                    if cursor == "0-0":
                        break
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                with contextlib.suppress(ResponseError):  # the stream was deleted and written again
                    await client.xgroup_create(stream, GROUP, id="$", mkstream=True)
            except UNAVAILABLE as exc:
                ctx.log.warning("webhooks: reading %s: %s; retrying", slug, exc)
                await asyncio.sleep(1)


async def _queue(hooks: Webhooks, queue: Any, owner: str, slug: str, entries: list[Any]) -> bool:
    """Put each entry on the queue of every endpoint that wants it, and acknowledge it, at once and
    only while `owner` holds the blog's fan-out lease; False when it does not."""
    keys = WebhookKeys.of(slug)
    records = [r for r in await hooks.registered(slug) if not r.get("disabled")]
    ids: list[str] = []
    triples: list[Any] = []
    for raw_id, fields in entries:
        event_id = _text(raw_id)
        ids.append(event_id)
        if not fields:  # an entry erased from the stream (Redis 6.2's XAUTOCLAIM still lists it)
            continue
        event_type = _text(fields[b"type"])
        for index, record in enumerate(records, start=3):  # KEYS[3] is the first queue
            if parse_id(event_id) < parse_id(record["since"]):
                continue
            if record["events"] and event_type not in record["events"]:
                continue
            triples += [index, score(event_id), event_id]
    done = await queue(
        keys=[keys.fanout, keys.blog.events, *(keys.queue(r["id"]) for r in records)],
        args=[owner, GROUP, len(ids), *ids, *triples],
    )
    if done:
        for index in sorted(set(triples[::3])):  # each endpoint that got something: its deliverer
            await hooks.store.notify(queued(records[index - 3]["id"]))
    return bool(done)


def queued(hook_id: str) -> str:
    """The notice topic of an endpoint's queue: something was queued for it."""
    return "webhook-queued:" + hook_id


# -- delivery --------------------------------------------------------------------------------------


async def _deliver(
    ctx: Context, hooks: Webhooks, http: httpx.AsyncClient, leases: _Leases, record: dict[str, Any]
) -> None:
    slug, hook_id = record["blog"], record["id"]
    keys = WebhookKeys.of(slug)
    redis = hooks.redis
    signer = Webhook(record["secret"])
    async with leases.holding(keys.lease(hook_id)) as held:
        while True:
            await held.wait()
            try:
                head = await redis.zrange(keys.queue(hook_id), 0, 0)
                if not head:
                    await ctx.wait(queued(hook_id), IDLE_LOOK)
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
    status, error = await post(http, signer, record["url"], f"{event_id}:{hook_id}", payload)
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
    http: httpx.AsyncClient, signer: Webhook, url: str, msg_id: str, payload: str
) -> tuple[int, str]:
    """POST one signed event with `http` (an `outbound.client`); (status, "") or (0, why) when there
    was no answer in time, or the address was refused."""
    moment = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signer.sign(msg_id, moment, payload),
    }
    try:
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
