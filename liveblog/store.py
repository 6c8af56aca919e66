"""The Redis store: key layout and the Lua scripts that change it.

Keys are hash-tagged by blog (`lb:{slug}:...`) so a blog lives on one Redis
Cluster slot: `events` (the stream, the source of truth), `updates` (hash id ->
current JSON), `order` (sorted set for paging), `meta` (the blog's hash), `audience` and
`audience-counts` (reading now: see audience.py), `media:ID` (an uploaded image: its document and
the bytes of each width).
Global keys: `lb:blogs` (sorted set of slugs), `lb:scheduled-blogs`, `lb:notices` (a short stream:
what changed for the background workers, see `Store.notify`), the accounts under one hash
tag, as they change together (`lb:{auth}:users`, `lb:{auth}:tokens`, `lb:{auth}:token-names`,
`lb:{auth}:sessions:NAME-HASH`, a user's open sessions), the login failure counters
`lb:{login}:user:HASH` and `lb:{login}:addr:HASH`, the writers' rate limits `lb:rate:HASH` (one
key each) and `lb:secret-key` (the nodes' shared key, when none is set).

On a Redis Cluster no command, transaction or script crosses slots: a script's keys are one
blog's, or share the `{auth}` or `{login}` tag; the other global keys are used one per command.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, NamedTuple, cast

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.cluster import REPLICA
from redis.exceptions import NoScriptError, ResponseError

from .errors import BlogEnded, Conflict, DeskFull, NotFound, NotReplicated, Unavailable
from .folding import fold_table
from .languages import direction, language_of
from .models import MAX_DRAFTS, Author, Blog, Cover, Draft, MediaDoc, Update
from .redis_client import AsyncClient, is_cluster

IDEMPOTENCY_TTL = 24 * 3600
BLOGS = "lb:blogs"
USERS = "lb:{auth}:users"
TOKENS = "lb:{auth}:tokens"
TOKEN_NAMES = "lb:{auth}:token-names"
SESSIONS = "lb:{auth}:sessions:"
# The keys of the accounts before they shared the `{auth}` tag (liveblog 0.x on one Redis).
LEGACY_KEYS = {"lb:users": USERS, "lb:tokens": TOKENS, "lb:token-names": TOKEN_NAMES}
LEGACY_SESSIONS = "lb:sessions:"
SCHEDULED_BLOGS = "lb:scheduled-blogs"
NOTICES = "lb:notices"
NOTICES_KEPT = 100  # about this many notices are kept: a worker that missed more looks at everything
SECRET_KEY = "lb:secret-key"
# The topics of the workers' notices.
SCHEDULED, WEBHOOKS, FEEDS = "scheduled", "webhooks", "feeds"
SCHEDULED_LIMIT = 1000  # scheduled updates listed per blog, soonest first
HISTORY_KEPT = 50  # edits kept in an update's history, the newest


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def updates_path(slug: str) -> str:
    """Where a blog's updates live: an update's permalink, its `url`, is this plus its ID, which the
    publishing scripts append (the ID is the event's stream ID). The one place it is built."""
    return f"/blogs/{slug}/updates/"


def _load_scripts() -> dict[str, str]:
    text = resources.files("liveblog").joinpath("scripts.lua").read_text()
    sections: dict[str, str] = {}
    for chunk in text.split("--! ")[1:]:
        name, _, body = chunk.partition("\n")
        sections[name.strip()] = body
    common = sections.pop("common")
    return {name: common + body for name, body in sections.items()}


@dataclass(frozen=True, slots=True)
class Keys:
    events: str
    updates: str
    order: str
    meta: str

    @classmethod
    def of(cls, slug: str) -> Keys:
        tag = f"lb:{{{slug}}}:"
        return cls(tag + "events", tag + "updates", tag + "order", tag + "meta")

    def idempotency(self, key: str) -> str:
        return self.meta.removesuffix("meta") + "idem:" + key

    @property
    def scheduled(self) -> str:
        return self.meta.removesuffix("meta") + "scheduled"

    @property
    def pending(self) -> str:
        return self.meta.removesuffix("meta") + "pending"

    @property
    def pinned(self) -> str:
        return self.meta.removesuffix("meta") + "pinned"

    @property
    def key_events(self) -> str:
        return self.meta.removesuffix("meta") + "key-events"

    @property
    def audience(self) -> tuple[str, str]:
        """Reading now: a sorted set (process -> when its count expires) and a hash (process -> readers)."""
        tag = self.meta.removesuffix("meta")
        return tag + "audience", tag + "audience-counts"

    @property
    def trail(self) -> str:
        """Hash: update id -> the ID of its latest `update.edited` event (erased with the update)."""
        return self.meta.removesuffix("meta") + "trail"

    def media(self, media_id: str) -> str:
        """Hash of one uploaded image: `meta` (its JSON document) and each width's bytes."""
        return self.meta.removesuffix("meta") + "media:" + media_id

    @property
    def removed(self) -> str:
        """Sorted set: IDs of events erased from the stream, still known positions for resumes."""
        return self.meta.removesuffix("meta") + "removed"

    def history(self, update_id: str) -> str:
        """List: an update's edits, newest first, with the texts they replaced (erased with it)."""
        return self.meta.removesuffix("meta") + "history:" + update_id

    @property
    def drafts(self) -> str:
        """Hash: draft id -> the draft's JSON; never in the stream nor on any public path."""
        return self.meta.removesuffix("meta") + "drafts"

    @property
    def published_by(self) -> str:
        """Hash: update id -> the name of the editor who published it from a draft (desk only)."""
        return self.meta.removesuffix("meta") + "published-by"


def _score_bound(update_id: str) -> str:
    ms, _, seq = update_id.partition("-")
    return f"({int(ms) * 1000 + int(seq or 0)}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Position(NamedTuple):
    """Where a resume position stands in a blog's stream (see the `position` script)."""

    known: bool  # an entry of the stream, or one erased while the stream still reaches back to it
    behind_events: int  # events after it; -1 when the stream's events predate these counts
    behind_bytes: int  # bytes of those events' data; -1 likewise


class DeskPage(NamedTuple):
    """A page of the desk's list or search (see the `desk_updates` script)."""

    updates: list[Update]
    older: str | None  # the `before` of the next older page
    newer: str | None  # the `before` of the newer page, "" for the newest page, None: none newer
    last_event_id: str
    read: int  # updates read for it
    read_to: str | None  # the oldest of them


class UpdatePage(NamedTuple):
    """A page of updates (see `Store.list_updates`), in the order asked for."""

    updates: list[Update]
    next_before: str | None  # the oldest update shown, when older ones remain (else None)
    last_event_id: str
    pinned: list[Update]
    key_events: list[Update]
    next_after: str | None = None  # the newest update shown, when newer ones remain (else None)


def draft_key(draft_id: str) -> str:
    """The idempotency key of a draft's publish (no bot's key, a SHA-256 in hex, looks like it)."""
    return "draft-" + draft_id


class DraftRef(NamedTuple):
    """The draft a publish takes off the desk in the same step: it must still hold `text` (else
    Conflict); `publisher` is who published it. Its ID is the publish's idempotency key."""

    id: str
    text: str
    publisher: str


@dataclass(frozen=True, slots=True)
class Published:
    """A publish's response: the update, or for a scheduled one `{"scheduled_id", "scheduled_at", ...}`."""

    update: dict[str, Any]
    json: str
    replayed: bool  # True when an Idempotency-Key matched an earlier publish

    @property
    def scheduled(self) -> bool:
        return "scheduled_id" in self.update


class Store:
    """Every read and write of liveblog's data; plain redis-py, no web framework."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        stream_maxlen: int = 100_000,
        wait_replicas: int = 0,
        wait_timeout: int = 1000,
    ) -> None:
        if wait_replicas < 0 or wait_timeout < 1:
            raise ValueError("wait_replicas must be >= 0 and wait_timeout (ms) >= 1")
        self.redis = client
        self.cluster = is_cluster(client)
        self.stream_maxlen = stream_maxlen
        self.wait_replicas = wait_replicas  # WAIT for this many replicas after each write (0: none)
        self.wait_timeout = wait_timeout
        self._scripts = {name: client.register_script(body) for name, body in _load_scripts().items()}

    async def _write(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run one of the scripts that change data; with `wait_replicas`, return only once WAIT
        has confirmed that many replicas have the change, else raise NotReplicated."""
        if not self.wait_replicas:
            return await self._scripts[script](keys=keys, args=args)
        runner = self._scripts[script]
        try:
            return await self._replicated(keys[0], "EVALSHA", runner.sha, len(keys), *keys, *args)
        except NoScriptError:  # a node that never ran it (a new master, a restarted one)
            return await self._replicated(keys[0], "EVAL", runner.script, len(keys), *keys, *args)

    async def _command(self, key: str, *command: Any) -> Any:
        """One write command on `key`, confirmed like `_write`'s scripts."""
        if not self.wait_replicas:
            return await self.redis.execute_command(*command)
        return await self._replicated(key, *command)

    async def _replicated(self, key: str, *command: Any) -> Any:
        """Run `command` and `WAIT` on one connection (WAIT counts the writes of its own
        connection): a pipeline, routed on a cluster to the node that holds `key`'s slot.

        A command redirected meanwhile (MOVED, ASK: the slot changed hands) ran on another node
        than the WAIT, which then confirms nothing: it is NotReplicated too, and the client's
        retry with the same Idempotency-Key gets its confirmation."""
        route: dict[str, Any] = {}
        cluster = self.redis if isinstance(self.redis, RedisCluster) else None
        if cluster is not None:
            route["target_nodes"] = node = cluster.get_node_from_key(key)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.execute_command(*command, **route)
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout, **route)
            result, acked = await pipe.execute(raise_on_error=False)
        for outcome in (result, acked):
            if isinstance(outcome, Exception):
                raise outcome
        if cluster is not None and cluster.get_node_from_key(key) is not node:
            raise NotReplicated(0, self.wait_replicas)
        if int(acked) < self.wait_replicas:
            raise NotReplicated(int(acked), self.wait_replicas)
        return result

    async def ping(self) -> bool:
        """Redis answers; on a Cluster, every master does."""
        if isinstance(self.redis, RedisCluster):
            return bool(await self.redis.ping(target_nodes=RedisCluster.PRIMARIES))
        return bool(await self.redis.ping())

    async def migrate(self) -> int:
        """Move the accounts' keys of an older layout to the current one (`RENAMENX`, so a key
        already moved, or moved meanwhile by another process, stays as it is); returns the keys
        moved. Only a single Redis can hold such keys: clusters came with the current layout.
        Then build the pinned and key-event indexes of blogs made before they were kept."""
        await self.index_flags()
        if self.cluster:
            return 0
        moved = 0
        if await self.redis.exists("lb:users"):  # sessions go first, users last
            async for old in self.redis.scan_iter(match=LEGACY_SESSIONS + "*", count=1000):
                moved += await self._rename(_text(old), SESSIONS + _text(old).removeprefix(LEGACY_SESSIONS))
        for old, new in LEGACY_KEYS.items():
            moved += await self._rename(old, new)
        return moved

    async def index_flags(self) -> int:
        """Build the pinned and key-event indexes of every blog that was made before the publish,
        edit and delete scripts kept them (one script per blog, each once: a mark in its meta);
        returns how many were built. Run at startup, before any reader asks for key events."""
        built = 0
        for slug in [_text(s) for s in await self.redis.zrange(BLOGS, 0, -1)]:
            keys = Keys.of(slug)
            built += int(
                await self._write("index_flags", [keys.updates, keys.pinned, keys.key_events, keys.meta], [])
            )
        return built

    async def _rename(self, old: str, new: str) -> int:
        try:
            return int(await self.redis.renamenx(old, new))
        except ResponseError as exc:  # gone: moved by another process, or never there
            if "no such key" not in str(exc).lower():
                raise
            return 0

    async def compact(self, poll: float = 0.1) -> bool:
        """Rewrite Redis's append-only file from the current data (`BGREWRITEAOF`), so the bytes
        of erased updates leave the disk too; returns when the rewrite is done, False when this
        Redis keeps no append-only file. On a Cluster, every node's file, one node at a time."""
        if isinstance(self.redis, RedisCluster):
            return all([await self._compact(poll, target_nodes=node) async for node in self._all_nodes()])
        return await self._compact(poll)

    async def _all_nodes(self) -> AsyncIterator[ClusterNode]:
        """Every reachable node of the cluster, replicas too. From `CLUSTER NODES`: the client's
        own table comes from `CLUSTER SLOTS`, where Redis 7 leaves out a replica until the other
        nodes have heard its replication offset."""
        assert isinstance(self.redis, RedisCluster)
        options = self.redis.nodes_manager.connection_kwargs
        for address, node in (await self.redis.cluster_nodes()).items():
            if {"fail", "noaddr", "handshake"} & set(str(node["flags"]).split(",")):
                continue
            host, _, port = address.rpartition(":")
            target = ClusterNode(host, int(port), REPLICA, **options)
            try:
                yield target
            finally:
                await target.disconnect()

    async def _compact(self, poll: float, **target: Any) -> bool:
        client: Any = self.redis
        info = await client.info("persistence", **target)
        if not info.get("aof_enabled"):
            return False
        while True:
            try:
                await client.bgrewriteaof(**target)
                break
            except ResponseError as exc:  # one is running already: ours must start after it
                if "in progress" not in str(exc):
                    raise
            await asyncio.sleep(poll)
        while True:
            info = await client.info("persistence", **target)
            if not (info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled")):
                break
            await asyncio.sleep(poll)
        if info.get("aof_last_bgrewrite_status", "ok") != "ok":
            raise Unavailable("Redis failed to rewrite its append-only file; see its log")
        return True

    # -- blogs -------------------------------------------------------------------------------

    async def create_blog(
        self, slug: str, title: str, description: str = "", lang: str = "en", *, cover: Cover | None = None
    ) -> Blog:
        now = now_iso()
        meta = {
            "slug": slug,
            "title": title,
            "description": description,
            "lang": lang,
            "status": "live",
            "created_at": now,
            "updated_at": now,
            "last_event_id": "",
        }
        if cover is not None:
            meta["cover"] = cover_field(cover)
        # A new blog's pinned and key-event indexes are kept from its first update on.
        flat = [item for pair in [*meta.items(), ("flags_indexed", "1")] for item in pair]
        created = await self._write("create_blog", [Keys.of(slug).meta], flat)
        if not created:
            raise Conflict(f"blog {slug!r} already exists")
        await self._command(BLOGS, "ZADD", BLOGS, time.time(), slug)
        return _blog(meta)

    async def get_blog(self, slug: str) -> Blog | None:
        raw = await self.redis.hgetall(Keys.of(slug).meta)
        return _blog({_text(k): _text(v) for k, v in raw.items()}) if raw else None

    async def require_blog(self, slug: str) -> Blog:
        blog = await self.get_blog(slug)
        if blog is None:
            raise NotFound(f"no blog {slug!r}")
        return blog

    async def list_blogs(self) -> list[Blog]:
        slugs = [_text(s) for s in await self.redis.zrevrange(BLOGS, 0, -1)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for slug in slugs:
                pipe.hgetall(Keys.of(slug).meta)
            metas = await pipe.execute()
        return [_blog({_text(k): _text(v) for k, v in m.items()}) for m in metas if m]

    async def patch_blog(self, slug: str, changes: dict[str, str]) -> Blog:
        flat = [item for pair in changes.items() for item in pair]
        keys = Keys.of(slug)
        result = await self._write(
            "patch_blog", [keys.events, keys.meta], [self.stream_maxlen, now_iso(), *flat]
        )
        if not result:
            raise NotFound(f"no blog {slug!r}")
        if "status" in changes:  # reopened, its due updates are published
            await self.notify(SCHEDULED)
        meta = json.loads(result[1])
        meta["last_event_id"] = _text(result[0])
        return _blog(meta)

    # -- updates -----------------------------------------------------------------------------

    async def publish(
        self,
        slug: str,
        fields: Draft,
        *,
        idempotency: tuple[str, str] | None = None,
        at: datetime | None = None,
        draft: DraftRef | None = None,
    ) -> Published:
        """Append `update.published` and store the update in one step, or schedule it for `at`;
        BlogEnded (409) when the blog has ended, checked in the same step.

        `fields` is the update without `id` and `url` (the script adds both: the
        id is the stream ID of the event, the url `updates_path`). `idempotency` is (key, fingerprint).
        With `draft`, the same step removes that draft (NotFound when it is gone, Conflict when it
        changed since it was read) and records its publisher in `published_by`.
        """
        keys = Keys.of(slug)
        idem_key, fingerprint = idempotency or ("", "")
        rest = {k: v for k, v in fields.items() if k not in ("published_at", "updated_at")}
        rest_json = json.dumps(rest, separators=(",", ":"))
        if at is not None and at > datetime.now(UTC):
            scheduled_id = secrets.token_hex(8)
            response = {"scheduled_id": scheduled_id, "scheduled_at": iso(at), **rest}
            response_json = json.dumps(response, separators=(",", ":"))
            result = await self._write(
                "schedule",
                [keys.meta, keys.scheduled, keys.pending, keys.idempotency(idem_key)],
                [
                    scheduled_id,
                    int(at.timestamp() * 1000),
                    rest_json,
                    fingerprint,
                    IDEMPOTENCY_TTL,
                    response_json,
                ],
            )
            if _text(result[0]) == "ok":
                await self.redis.sadd(SCHEDULED_BLOGS, slug)
                await self.notify(SCHEDULED)
                return Published(response, response_json, replayed=False)
        else:
            result = await self._write(
                "publish",
                [
                    keys.events,
                    keys.updates,
                    keys.order,
                    keys.meta,
                    keys.idempotency(idem_key),
                    keys.pinned,
                    keys.key_events,
                    keys.drafts,
                    keys.published_by,
                ],
                [
                    updates_path(slug),
                    rest_json,
                    self.stream_maxlen,
                    fingerprint,
                    IDEMPOTENCY_TTL,
                    now_iso(),
                    *(draft or ("", "", "")),
                ],
            )
        status = _text(result[0])
        if status == "missing":
            raise NotFound(f"no blog {slug!r}")
        if status == "ended":
            raise BlogEnded(slug)
        if status == "draft-gone":
            raise NotFound(f"no draft {draft.id if draft else ''!r} in blog {slug!r} (published or deleted?)")
        if status == "draft-changed":
            raise Conflict("the draft changed since it was opened: reload it, then publish")
        if status in ("duplicate", "deleted"):
            _same_request(result[1], fingerprint)
        if status == "deleted":
            raise Conflict("this Idempotency-Key's update was published and has since been deleted")
        text = _text(result[2])
        return Published(json.loads(text), text, replayed=status == "duplicate")

    async def publish_due(self, slug: str, now: datetime | None = None) -> list[str]:
        """Publish the blog's scheduled updates that are due; returns their IDs. None while the
        blog has ended: they stay scheduled."""
        keys = Keys.of(slug)
        now = now or datetime.now(UTC)
        remaining, published = await self._write(
            "publish_due",
            [
                keys.events,
                keys.updates,
                keys.order,
                keys.meta,
                keys.scheduled,
                keys.pending,
                keys.pinned,
                keys.key_events,
            ],
            [int(now.timestamp() * 1000), iso(now), self.stream_maxlen, updates_path(slug)],
        )
        if not remaining:
            await self.redis.srem(SCHEDULED_BLOGS, slug)
            if await self.redis.zcard(keys.scheduled):  # scheduled meanwhile: keep it on the list
                await self.redis.sadd(SCHEDULED_BLOGS, slug)
        return [_text(i) for i in published]

    async def list_scheduled(self, slug: str, limit: int = SCHEDULED_LIMIT) -> list[dict[str, Any]]:
        """The blog's scheduled updates, soonest first: `{"scheduled_id", "scheduled_at", ...}`
        with the update's fields, as the 202 of the publish that scheduled it."""
        keys = Keys.of(slug)
        raw = await self._scripts["scheduled"](keys=[keys.scheduled, keys.pending], args=[limit])
        items = []
        for i in range(0, len(raw), 3):
            due = datetime.fromtimestamp(int(float(_text(raw[i + 1]))) / 1000, UTC)
            fields = json.loads(_text(raw[i + 2]))
            items.append({"scheduled_id": _text(raw[i]), "scheduled_at": iso(due), **fields})
        return items

    async def cancel_scheduled(self, slug: str, scheduled_id: str) -> bool:
        """Take a scheduled update off the schedule; False when it is not scheduled (any more)."""
        keys = Keys.of(slug)
        return bool(await self._write("cancel_scheduled", [keys.scheduled, keys.pending], [scheduled_id]))

    async def edit_scheduled(self, slug: str, scheduled_id: str, fields: Draft, at: datetime) -> bool:
        """Give a scheduled update new fields and a new time; False when it is not scheduled (any
        more): published or cancelled meanwhile."""
        keys = Keys.of(slug)
        rest = {k: v for k, v in fields.items() if k not in ("published_at", "updated_at")}
        args = [scheduled_id, int(at.timestamp() * 1000), json.dumps(rest, separators=(",", ":"))]
        if not await self._write("edit_scheduled", [keys.scheduled, keys.pending], args):
            return False
        await self.notify(SCHEDULED)  # it may fall due sooner
        return True

    # -- drafts: apart from the stream and the published state, under the blog's tag -----------

    async def create_draft(
        self, slug: str, draft_id: str, text: str, *, idempotency: tuple[str, str] | None = None
    ) -> tuple[str, bool]:
        """Store a new draft's JSON; DeskFull (409) when the blog holds `MAX_DRAFTS`, checked in
        the same step. With `idempotency` (key, fingerprint), a key used before answers that
        draft as it is now instead: (its JSON, True); 409 when it came with another request or
        its draft has since been published or deleted."""
        keys = Keys.of(slug)
        idem_key, fingerprint = idempotency or ("", "")
        result = await self._write(
            "create_draft",
            [keys.drafts, keys.idempotency(idem_key)],
            [draft_id, text, MAX_DRAFTS, fingerprint, IDEMPOTENCY_TTL],
        )
        status = _text(result[0])
        if status == "full":
            raise DeskFull(slug, MAX_DRAFTS)
        if status == "taken":
            raise RuntimeError("a random draft ID was taken")  # 64 random bits: not in practice
        if status in ("duplicate", "gone"):
            _same_request(result[1], fingerprint)
        if status == "gone":
            raise Conflict("this Idempotency-Key's draft was saved and has since been published or deleted")
        return (_text(result[2]), True) if status == "duplicate" else (text, False)

    async def replace_draft(self, slug: str, draft_id: str, text: str) -> bool:
        """Store a draft's JSON over the existing one: False when there is none (published or
        deleted meanwhile, so it does not come back)."""
        return bool(await self._write("replace_draft", [Keys.of(slug).drafts], [draft_id, text]))

    async def get_draft(self, slug: str, draft_id: str) -> str | None:
        """A draft's JSON as stored (the text a publish must find unchanged), or None."""
        raw = await self.redis.hget(Keys.of(slug).drafts, draft_id)
        return _text(raw) if raw is not None else None

    async def list_drafts(self, slug: str) -> list[dict[str, Any]]:
        """The blog's drafts, the latest changed first: at most `MAX_DRAFTS` (`create_draft`)."""
        drafts = [json.loads(v) for v in (await self.redis.hvals(Keys.of(slug).drafts))]
        return sorted(drafts, key=lambda d: d["updated_at"], reverse=True)

    async def delete_draft(self, slug: str, draft_id: str) -> bool:
        keys = Keys.of(slug)
        return bool(await self._command(keys.drafts, "HDEL", keys.drafts, draft_id))

    async def draft_published(self, slug: str, draft_id: str) -> Published | None:
        """The update this draft became, as it is now, while its publish's idempotency record
        lasts (24 hours), else None; Conflict once that update was deleted (as a publish's retry)."""
        keys = Keys.of(slug)
        update_id = await self.redis.hget(keys.idempotency(draft_key(draft_id)), "id")
        if update_id is None:
            return None
        text = await self.redis.hget(keys.updates, _text(update_id))
        if text is None:
            raise Conflict("this draft was published, and its update has since been deleted")
        return Published(json.loads(text), _text(text), replayed=True)

    async def publishers(self, slug: str, update_ids: list[str]) -> dict[str, str]:
        """Who published each of these updates from a draft (the desk shows it), by update ID."""
        if not update_ids:
            return {}
        names = await self.redis.hmget(Keys.of(slug).published_by, update_ids)
        return {i: _text(n) for i, n in zip(update_ids, names, strict=True) if n is not None}

    async def scheduled_blogs(self) -> list[str]:
        return sorted(_text(s) for s in await self.redis.smembers(SCHEDULED_BLOGS))

    async def next_due(self, slug: str) -> float | None:
        """When the blog's soonest scheduled update falls due (unix seconds); None when it has
        none, or has ended (its updates wait until it is reopened, which `notify`s)."""
        keys = Keys.of(slug)
        due = await self._scripts["next_due"](keys=[keys.meta, keys.scheduled])
        return None if due is None else float(due) / 1000

    # -- notices to the background workers -------------------------------------------------

    async def notify(self, topic: str) -> None:
        """Tell the background workers of every process that `topic` changed (`SCHEDULED`,
        `WEBHOOKS`, `FEEDS`): they wait for this (`runner.Doorbell`) instead of polling. Written
        after the change itself, so a worker that reads on a notice finds the change."""
        await self.redis.xadd(NOTICES, {"topic": topic}, maxlen=NOTICES_KEPT, approximate=True)

    async def last_notice(self) -> str:
        """The ID of the latest notice ("0-0" when there is none): where a doorbell starts."""
        latest = await self.redis.xrevrange(NOTICES, count=1)
        return _text(latest[0][0]) if latest else "0-0"

    async def get_update(self, slug: str, update_id: str) -> Update | None:
        raw = await self.redis.hget(Keys.of(slug).updates, update_id)
        return json.loads(raw) if raw else None

    async def require_update(self, slug: str, update_id: str) -> Update:
        update = await self.get_update(slug, update_id)
        if update is None:
            await self.require_blog(slug)
            raise NotFound(f"no update {update_id!r} in blog {slug!r}")
        return update

    async def replace_update(self, slug: str, update: Update, *, by: Author) -> str:
        """Store an edited update and append `update.edited`, erasing the events of its earlier
        versions from the stream and adding the edit to the update's history (`by` made it) in the
        same step; returns the event ID."""
        keys = Keys.of(slug)
        text = json.dumps(update, separators=(",", ":"))
        editor = json.dumps(by, separators=(",", ":"))
        event_id = await self._write(
            "edit",
            [
                keys.events,
                keys.updates,
                keys.meta,
                keys.pinned,
                keys.key_events,
                keys.trail,
                keys.removed,
                keys.history(update["id"]),
            ],
            [update["id"], text, self.stream_maxlen, now_iso(), editor, HISTORY_KEPT],
        )
        if not event_id:
            raise NotFound(f"no update {update['id']!r} in blog {slug!r}")
        return _text(event_id)

    async def delete_update(self, slug: str, update_id: str) -> str:
        """Delete an update and append `update.deleted`, erasing every event that carried its
        text from the stream in the same step; returns the event ID."""
        keys = Keys.of(slug)
        event_id = await self._write(
            "delete",
            [
                keys.events,
                keys.updates,
                keys.order,
                keys.meta,
                keys.pinned,
                keys.key_events,
                keys.trail,
                keys.removed,
                keys.history(update_id),
                keys.published_by,
            ],
            [update_id, self.stream_maxlen, now_iso()],
        )
        if not event_id:
            await self.require_blog(slug)
            raise NotFound(f"no update {update_id!r} in blog {slug!r}")
        return _text(event_id)

    async def list_updates(
        self,
        slug: str,
        *,
        limit: int = 20,
        before: str | None = None,
        after: str | None = None,
        oldest: bool = False,
        key_events: bool = False,
        flagged: int = 0,
    ) -> UpdatePage:
        """A page of current updates, newest first (`oldest`: oldest first), key events only with
        `key_events` (from their index): the `limit` just older than `before`, or just newer than
        `after` (with both: of those between them, the end the order starts at), else the newest
        (oldest) ones. With `flagged`, that many pinned updates
        and key events of the whole blog, newest first; all from one consistent read."""
        # Read from `after` up (oldest first, or `after` alone), else from `before` down; with both,
        # the page is the updates between them, read from the end its order starts at.
        if before is not None and after is not None:
            ascending = oldest
        else:
            ascending = after is not None or (before is None and oldest)
        start, stop = (after, before) if ascending else (before, after)
        bound = _score_bound(start) if start else ("-inf" if ascending else "+inf")
        end = _score_bound(stop) if stop else ("+inf" if ascending else "-inf")
        keys = Keys.of(slug)
        last_event_id, docs, pinned, flagged_keys, behind, more = await self._scripts["list_updates"](
            keys=[keys.updates, keys.order, keys.meta, keys.pinned, keys.key_events],
            args=[bound, limit, flagged, "asc" if ascending else "desc", "1" if key_events else "0", end],
        )
        updates = _docs(docs)
        newer, older = (int(more), int(behind)) if ascending else (int(behind), int(more))
        if ascending != oldest:
            updates.reverse()
        first, last = (updates[0]["id"], updates[-1]["id"]) if updates else (None, None)
        newest, eldest = (last, first) if oldest else (first, last)
        return UpdatePage(
            updates,
            eldest if older else None,
            _text(last_event_id) or "0-0",
            _docs(pinned),
            _docs(flagged_keys),
            newest if newer else None,
        )

    # -- the desk: every update, page by page; search; edit history --------------------------

    async def desk_updates(
        self, slug: str, *, limit: int, before: str | None, query: str, most: int, most_bytes: int
    ) -> DeskPage:
        """Updates before `before`, newest first: `limit` of them, or with a `query` those of
        them whose title or body holds it (Unicode case-insensitively), reading at most `most`
        updates and `most_bytes` of their JSON (at least one update), in one script."""
        keys = Keys.of(slug)
        needle, table = await asyncio.to_thread(fold_table, query) if query else ("", [])
        last_event_id, docs, last, older, newer, read = await self._scripts["desk_updates"](
            keys=[keys.updates, keys.order, keys.meta],
            args=[
                _score_bound(before) if before else "+inf",
                limit,
                needle,
                most,
                most_bytes,
                *table,
            ],
        )
        last, newer = _text(last), _text(newer)
        return DeskPage(
            updates=_docs(docs),
            older=last if int(older) else None,
            newer=None if not newer else "" if newer == "+" else newer,
            last_event_id=_text(last_event_id) or "0-0",
            read=int(read),
            read_to=last or None,
        )

    async def newer_neighbour(self, slug: str, update_id: str, skip: int) -> str | None:
        """The update just newer than `update_id`, when over `skip` updates are newer (None when
        fewer, or when there is no such update): a desk page that starts at `update_id` comes
        before it."""
        order = Keys.of(slug).order
        rank: Any = await self.redis.zrevrank(order, update_id)
        if rank is None or int(rank) < max(skip, 1):
            return None
        found = await self.redis.zrevrange(order, int(rank) - 1, int(rank) - 1)
        return _text(found[0]) if found else None

    async def update_history(self, slug: str, update_id: str) -> list[dict[str, Any]]:
        """An update's edits, newest first: `{"at", "by", "changed", "title"?, "body"?}`, with the
        title and body each replaced."""
        raw = await self.redis.lrange(Keys.of(slug).history(update_id), 0, -1)
        return [json.loads(entry) for entry in raw]

    # -- the stream --------------------------------------------------------------------------

    async def events(
        self, slug: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[tuple[str, str, str]]:
        """Stream entries as (id, type, data JSON), oldest first."""
        entries: Any = await self.redis.xrange(Keys.of(slug).events, start, end, count=count)
        return [_entry(e) for e in entries]

    async def latest_events(
        self, slug: str, count: int, before: str | None = None
    ) -> list[tuple[str, str, str]]:
        """The newest `count` entries (before the ID `before`, when given), oldest first."""
        end = f"({before}" if before else "+"
        entries: Any = await self.redis.xrevrange(Keys.of(slug).events, end, "-", count=count)
        return [_entry(e) for e in reversed(entries)]

    async def position(self, slug: str, event_id: str | None) -> Position:
        """Whether `event_id` (None: the start of the stream) is a position to resume from, and
        how far behind the head it is, reading no entry's data out of Redis."""
        keys = Keys.of(slug)
        known, behind_events, behind_bytes = await self._scripts["position"](
            keys=[keys.events, keys.removed, keys.meta], args=[event_id or ""]
        )
        return Position(bool(known), int(behind_events), int(behind_bytes))

    # -- reading now -------------------------------------------------------------------------

    async def report_audience(self, slug: str, process: str, readers: int, lifetime: float) -> int:
        """Record `process`'s `readers` of the blog for `lifetime` seconds (0 readers: forget them),
        and return the blog's readers summed over every process whose count has not expired."""
        args: list[str | int] = [process, readers, int(lifetime * 1000)]
        return int(await self._scripts["audience"](keys=list(Keys.of(slug).audience), args=args))

    async def audience(self, slug: str) -> int:
        """The blog's readers now, over every process and node."""
        return await self.report_audience(slug, "", 0, 0)

    # -- uploaded images: one hash per image, under the blog's tag (on the blog's slot) ---------

    async def put_media(self, slug: str, document: MediaDoc, variants: dict[int, bytes]) -> None:
        """Store an upload's document and the bytes of each width in one command (the same upload
        again writes the same values)."""
        key = Keys.of(slug).media(document["id"])
        fields = [item for width, data in variants.items() for item in (str(width), data)]
        await self._command(key, "HSET", key, "meta", json.dumps(document), *fields)

    async def get_media(self, slug: str, media_id: str) -> MediaDoc | None:
        raw = await self.redis.hget(Keys.of(slug).media(media_id), "meta")
        return json.loads(raw) if raw else None

    async def media_bytes(self, slug: str, media_id: str, width: int) -> bytes | None:
        data = await self.redis.hget(Keys.of(slug).media(media_id), str(width))
        return data.encode() if isinstance(data, str) else data

    # -- users and tokens --------------------------------------------------------------------

    async def put_user(self, name: str, record: dict[str, Any]) -> None:
        """Add a user, or replace one (a password reset): every session of theirs ends."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(USERS, name, json.dumps(record))
            pipe.delete(_sessions_key(name))
            await pipe.execute()

    async def add_user(self, name: str, record: dict[str, Any]) -> bool:
        """Add a user unless one has this name (False then)."""
        return bool(await self.redis.hsetnx(USERS, name, json.dumps(record)))

    async def patch_user(
        self, name: str, changes: dict[str, Any], *, end_sessions: bool, password: str = ""
    ) -> bool:
        """Change some fields of a user's record (only while it holds `password`, when given);
        False when there is no such user."""
        args = [name, "1" if end_sessions else "0", json.dumps(changes), password]
        return bool(await self._scripts["patch_user"](keys=[USERS, _sessions_key(name)], args=args))

    async def set_user_disabled(self, name: str, disabled: bool) -> bool:
        """Disable a user (ending every session of theirs) or enable them; False when unknown."""
        return await self.patch_user(name, {"disabled": disabled}, end_sessions=disabled)

    async def remove_user(self, name: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(USERS, name)
            pipe.delete(_sessions_key(name))
            removed, _ = await pipe.execute()
        return bool(removed)

    async def get_user(self, name: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(USERS, name)
        return json.loads(raw) if raw else None

    async def list_users(self) -> list[dict[str, Any]]:
        records = [json.loads(v) for v in (await self.redis.hgetall(USERS)).values()]
        return sorted(records, key=lambda r: r["name"])

    async def count_users(self) -> int:
        return int(await self.redis.hlen(USERS))

    # -- sessions: one hash per user, session ID -> when it expires (Unix seconds) -------------

    async def start_session(self, name: str, lifetime: int) -> str:
        """A new session ID for `name`, valid for `lifetime` seconds or until it is ended."""
        session_id = secrets.token_urlsafe(24)
        now = int(time.time())
        key = _sessions_key(name)
        expired = [field for field, until in (await self.redis.hgetall(key)).items() if int(until) <= now]
        async with self.redis.pipeline(transaction=True) as pipe:
            if expired:
                pipe.hdel(key, *expired)
            pipe.hset(key, session_id, now + lifetime)
            pipe.expire(key, lifetime)
            await pipe.execute()
        return session_id

    async def session_user(self, name: str, session_id: str) -> dict[str, Any] | None:
        """The user's record while this session of theirs is open, else None."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(USERS, name)
            pipe.hget(_sessions_key(name), session_id)
            raw, until = await pipe.execute()
        if not raw or until is None or int(until) <= time.time():
            return None
        record: dict[str, Any] = json.loads(raw)
        return record

    async def end_session(self, name: str, session_id: str) -> None:
        await self.redis.hdel(_sessions_key(name), session_id)

    # -- login failures ----------------------------------------------------------------------

    async def login_attempt(
        self, username: str, client: str, limits: tuple[int, int], window: int
    ) -> list[int]:
        """Count a login attempt against the username and the client address before its password
        is checked: [1, username's count, address's count], or [0, seconds] when either is locked."""
        result = await self._scripts["login_attempt"](
            keys=[_failures_key("user", username), _failures_key("addr", client)], args=[window, *limits]
        )
        return [int(n) for n in result]

    async def login_succeeded(self, username: str, client: str) -> None:
        """Forget the username's failures, and this attempt on the address's count."""
        keys = [_failures_key("user", username), _failures_key("addr", client)]
        await self._scripts["login_succeeded"](keys=keys, args=[])

    # -- writers' rate limit and the shared secret key ----------------------------------------

    async def rate_limit(self, principal: str, per_minute: int) -> float:
        """Spend one of `principal`'s `per_minute` writes (bursts of as many): 0.0 when it may
        write, else the seconds until it may. Counted in Redis, so it holds across processes
        and nodes."""
        interval = max(1, 60_000_000 // per_minute)  # microseconds; a huge limit is still >= 1
        wait = await self._scripts["rate_limit"](keys=[_rate_key(principal)], args=[interval, per_minute])
        return int(wait) / 1_000_000

    async def shared_secret_key(self) -> str:
        """The key every node of this Redis signs with: created once, by whichever node comes
        first (SET NX), then read by all."""
        await self.redis.set(SECRET_KEY, secrets.token_urlsafe(48), nx=True)
        key = await self.redis.get(SECRET_KEY)
        return str(key.decode() if isinstance(key, bytes) else key)

    async def put_token(self, digest: str, record: dict[str, Any]) -> bool:
        """Store a token's record under its hash; False when the name is taken."""
        if not await self._command(TOKEN_NAMES, "HSETNX", TOKEN_NAMES, record["name"], digest):
            return False
        await self._command(TOKENS, "HSET", TOKENS, digest, json.dumps(record))
        return True

    async def get_token(self, digest: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(TOKENS, digest)
        return json.loads(raw) if raw else None

    async def list_tokens(self) -> list[dict[str, Any]]:
        records = [json.loads(v) for v in (await self.redis.hgetall(TOKENS)).values()]
        return sorted(records, key=lambda r: r["name"])

    async def revoke_token(self, name: str) -> bool:
        digest = await self.redis.hget(TOKEN_NAMES, name)
        if digest is None:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(TOKENS, digest)
            pipe.hdel(TOKEN_NAMES, name)
            await pipe.execute()
        return True


def _sessions_key(name: str) -> str:
    return SESSIONS + hashlib.sha256(name.encode()).hexdigest()


def _rate_key(principal: str) -> str:
    return "lb:rate:" + hashlib.sha256(principal.encode()).hexdigest()


def _failures_key(kind: str, value: str) -> str:
    # One hash tag for every counter, so the login script's two keys share a Cluster slot.
    return f"lb:{{login}}:{kind}:" + hashlib.sha256(value.encode()).hexdigest()


def _same_request(first: Any, fingerprint: str) -> None:
    """An Idempotency-Key's retry: 409 unless it is the request that first used the key."""
    if _text(first) != fingerprint:
        raise Conflict("this Idempotency-Key was used with another request body")


def _blog(meta: dict[str, Any]) -> Blog:
    lang = language_of(meta.get("lang"))  # a blog stored before languages: English
    return {
        "slug": meta["slug"],
        "title": meta.get("title", ""),
        "description": meta.get("description", ""),
        "status": meta.get("status", "live"),
        "created_at": meta.get("created_at", ""),
        "updated_at": meta.get("updated_at", ""),
        "ended_at": meta.get("ended_at") or None,
        "last_event_id": meta.get("last_event_id") or "0-0",
        "url": f"/blogs/{meta['slug']}",
        "cover": _cover(meta.get("cover")),
        "lang": lang,
        "dir": direction(lang),
    }


def cover_field(cover: Cover | None) -> str:
    """A blog's cover as its meta hash keeps it: JSON, or "" for none (`patch_blog` sets it so)."""
    return json.dumps(cover, separators=(",", ":")) if cover else ""


def _cover(raw: Any) -> Cover | None:
    """The meta's cover: JSON in the hash (`cover_field`), or already decoded in a `blog.updated`
    event's meta (the `patch_blog` script decodes it)."""
    if isinstance(raw, dict):
        return cast(Cover, raw)
    return cast(Cover, json.loads(raw)) if isinstance(raw, str) and raw else None


def _docs(raw: list[Any]) -> list[Update]:
    return [json.loads(d) for d in raw if d]


def _entry(entry: Any) -> tuple[str, str, str]:
    event_id, fields = entry
    return _text(event_id), _text(fields[b"type"]), _text(fields[b"data"])
