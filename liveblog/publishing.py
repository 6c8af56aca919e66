"""The one publish path: the bots' API (and the desk's JavaScript through it), the editor's form,
the demo seed and the feed bot publish with `publish`; the scheduler with `publish_due`; the API
and the desk edit with `edit`. An image that names an upload (`media`) gets it from the store here.

Each validates with models.py's `NewUpdate`, renders Markdown off the event loop, applies the
Idempotency-Key, writes through the store's Lua scripts and counts what it published in
`metrics.PUBLISHED`, by the way it came (`via`). Plain asyncio: the adapters that call it hold the
web framework.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from typing import Any

from . import metrics, updates
from .errors import Invalid
from .models import Author, Cover, CoverInput, ImageInput, MediaDoc, NewUpdate, Update, UpdatePatch, validate
from .store import DraftRef, Published, Store, cover_field, draft_key


def idempotency_of(key: str | None, request: bytes) -> tuple[str, str] | None:
    """What the store keeps of an Idempotency-Key: its hash, and the hash of the request that
    first used it (the same key with another request is 409)."""
    if key is None:
        return None
    return hashlib.sha256(key.encode()).hexdigest(), hashlib.sha256(request).hexdigest()


async def publish(
    store: Store,
    slug: str,
    obj: Any,
    author: Author,
    *,
    via: str,
    key: str | None = None,
    request: bytes = b"",
    draft: DraftRef | None = None,
) -> Published:
    """Publish the request `obj` (a bot's JSON object) to blog `slug`, or schedule it when its
    `scheduled_at` is ahead: 422 or 413 when it is no valid update, 404 without the blog, 409 when
    `key` was used with another `request` (the bytes that identify it), and 409 (`BlogEnded`)
    once the blog has ended. The store's script checks both in the same step as the write, and
    answers the retry of a publish made before the end with its first response: nothing looks
    the blog up before (a round trip to Redis fewer per publish).

    `via` is how it came, the label it is counted by in `liveblog_publishes_total`: "bot" or
    "editor" (who wrote it, through the API or the desk), "feed" or "demo".

    With `draft` (drafts.py publishes one), the draft leaves the desk in the same step, and its ID
    is the idempotency key: a retry answers the same update, never a second one."""
    # Rendering 64 KiB of hostile Markdown takes up to a second: off the event loop, so the
    # readers this process serves do not stall meanwhile.
    new = validate(NewUpdate, obj)
    upload = await uploaded(store, slug, new.image)
    fields = await asyncio.to_thread(updates.draft, slug, new, author, upload)
    idempotency = (draft_key(draft.id), draft.id) if draft else idempotency_of(key, request)
    result = await store.publish(slug, fields, idempotency=idempotency, at=new.scheduled_at, draft=draft)
    if not (result.replayed or result.scheduled):  # a scheduled one counts when it falls due
        metrics.PUBLISHED.labels(via).inc()
    return result


async def edit(store: Store, slug: str, current: Update, obj: Any, *, by: Author) -> Update:
    """Apply the edit request `obj` to the update `current` of blog `slug` and store it, recorded
    in its history as `by`'s (422 or 413 when it is no valid edit); returns the edited update."""
    patch = validate(UpdatePatch, obj)
    upload = await uploaded(store, slug, patch.image)
    update = await asyncio.to_thread(updates.patched, current, patch, upload)
    await store.replace_update(slug, update, by=by)
    return update


async def uploaded(store: Store, slug: str, image: ImageInput | None) -> MediaDoc | None:
    """The upload an image names by its `media` id: one of this blog's, else 422."""
    if image is None or image.media is None:
        return None
    upload = await store.get_media(slug, image.media)
    if upload is None:
        await store.require_blog(slug)  # 404 first: a publish does not look the blog up before
        raise Invalid("image.media", f"no upload {image.media!r} in blog {slug!r}")
    return upload


async def cover(store: Store, slug: str, given: CoverInput | None) -> Cover | None:
    """A blog's cover as stored: an https URL as given, or the blog's upload its `media` names,
    with its size (422 when the blog has no such upload)."""
    if given is None:
        return None
    if given.media is None:
        return {"url": str(given.url), "alt": given.alt}
    upload = await store.get_media(slug, given.media)
    if upload is None:
        raise Invalid("cover.media", f"no upload {given.media!r} in blog {slug!r}")
    return {
        "url": upload["url"],
        "alt": given.alt,
        "media": upload["id"],
        "width": upload["width"],
        "height": upload["height"],
    }


async def blog_changes(store: Store, slug: str, obj: Any) -> dict[str, str]:
    """The blog patch request `obj` as the store's changes, its cover looked up (`cover`)."""
    changes = updates.blog_changes(obj)
    if "cover" in changes:
        changes["cover"] = cover_field(await cover(store, slug, changes["cover"]))
    return changes


async def publish_due(store: Store, slug: str, now: datetime | None = None) -> list[str]:
    """Publish the blog's scheduled updates that are due (by `now`); returns their IDs. An ended
    blog's stay scheduled until it is reopened (or they are cancelled)."""
    published = await store.publish_due(slug, now)
    if published:
        metrics.PUBLISHED.labels("scheduler").inc(len(published))
    return published
