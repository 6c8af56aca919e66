"""Drafts: updates saved on the desk instead of published, and the contributor's rules.

A draft lives in the blog's `drafts` hash (store.py), apart from the stream and the published
state, so no reader, feed, webhook or page ever sees it. Publishing one goes through the one
publish path (`publishing.publish`) with the draft as a `DraftRef`: one Lua script takes it off
the desk and publishes it, with its ID as the idempotency key, so a retry is never a second update.
The byline is the draft's author; the publisher is recorded for the desk.

Plain asyncio over the store, like publishing.py: the API and the desk are thin adapters over it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any, cast

from . import publishing, updates
from .auth import Principal
from .errors import Forbidden, NotFound
from .models import DraftPatch, DraftUpdate, Image, ImageInput, MediaDoc, NewDraft, NewUpdate, validate
from .store import DraftRef, Published, Store, now_iso


def _rendered(blog: str, new: NewDraft, author: Any, upload: MediaDoc | None) -> dict[str, Any]:
    """A draft's fields from a validated request, its body rendered as a publish renders it
    (`upload`: the upload its image names)."""
    request = NewUpdate(title=new.title, body=new.body, key_event=new.key_event, image=new.image)
    fields: dict[str, Any] = dict(updates.draft(blog, request, author, upload))
    for name in ("pinned", "published_at", "updated_at"):
        del fields[name]
    return fields


def _text(draft: DraftUpdate) -> str:
    return json.dumps(draft, separators=(",", ":"))


async def create(
    store: Store, slug: str, obj: Any, writer: Principal, *, key: str | None = None, request: bytes = b""
) -> tuple[DraftUpdate, bool]:
    """Save the request `obj` as a new draft of blog `slug`, by `writer`: 422/413 like a publish.

    With an Idempotency-Key `key`, the retry of a save (the same `request`, the bytes that identify
    it) answers the draft it saved, as it is now, and True (replayed); 409 for another request,
    or once that draft was published or deleted."""
    new = validate(NewDraft, obj)
    upload = await publishing.uploaded(store, slug, new.image)
    fields = await asyncio.to_thread(_rendered, slug, new, writer.author, upload)
    await store.require_blog(slug)
    now = now_iso()
    draft = cast(
        DraftUpdate,
        {
            "id": secrets.token_hex(8),
            **fields,
            "owner": writer.rate_key,
            "created_at": now,
            "updated_at": now,
        },
    )
    idempotency = publishing.idempotency_of(key, b"draft\0" + request)  # never a publish's
    text, replayed = await store.create_draft(slug, draft["id"], _text(draft), idempotency=idempotency)
    return (cast(DraftUpdate, json.loads(text)), True) if replayed else (draft, False)


async def _gone(store: Store, slug: str, draft_id: str) -> NotFound:
    """The 404 of a draft that is not there (or of its blog)."""
    await store.require_blog(slug)
    return NotFound(f"no draft {draft_id!r} in blog {slug!r} (published or deleted?)")


async def get(store: Store, slug: str, draft_id: str) -> tuple[DraftUpdate, str]:
    """The draft and its JSON as stored, or 404."""
    text = await store.get_draft(slug, draft_id)
    if text is None:
        raise await _gone(store, slug, draft_id)
    return json.loads(text), text


def require_change(writer: Principal, draft: DraftUpdate) -> None:
    """A contributor changes and deletes their own drafts only; editors, admins and bots any."""
    if not writer.publishes and draft["owner"] != writer.rate_key:
        raise Forbidden("a contributor changes their own drafts only")


async def edit(store: Store, slug: str, draft_id: str, obj: Any, writer: Principal) -> DraftUpdate:
    """Apply the edit `obj` (title, body, image, key_event) to a draft."""
    patch = validate(DraftPatch, obj)
    draft, _ = await get(store, slug, draft_id)
    require_change(writer, draft)
    given = patch.model_fields_set
    merged = NewDraft(
        title=patch.title if "title" in given else draft["title"],
        body=patch.body if "body" in given else draft["body"],
        key_event=patch.key_event if "key_event" in given else draft["key_event"],
        image=patch.image if "image" in given else _image_input(draft),
    )
    upload = await publishing.uploaded(store, slug, merged.image)
    fields = await asyncio.to_thread(_rendered, slug, merged, draft["author"], upload)
    edited = cast(DraftUpdate, {**draft, **fields, "updated_at": now_iso()})
    if not await store.replace_draft(slug, draft_id, _text(edited)):
        raise await _gone(store, slug, draft_id)
    return edited


def _image_request(image: Image | None) -> dict[str, Any] | None:
    """A stored image as a request names it again: its upload's id, else its URL."""
    if image is None:
        return None
    source = {"media": image["media"]} if image.get("media") else {"url": image["url"]}
    return {**source, "alt": image["alt"], "caption": image["caption"], "credit": image.get("credit", "")}


def _image_input(draft: DraftUpdate) -> ImageInput | None:
    request = _image_request(draft["image"])
    return None if request is None else ImageInput(**request)


async def delete(store: Store, slug: str, draft_id: str, writer: Principal) -> None:
    draft, _ = await get(store, slug, draft_id)
    require_change(writer, draft)
    if not await store.delete_draft(slug, draft_id):
        raise await _gone(store, slug, draft_id)


async def publish(store: Store, slug: str, draft_id: str, publisher: Principal) -> Published:
    """Publish a draft as it is stored, by its author, as `publisher` (403 for a contributor).

    One step takes it off the desk and publishes it; a retry (its ID is the idempotency key) gets
    the first response, `replayed`. 404 when it is gone and was not published by a publish that
    is still remembered; 409 when it changed between this read and the publish."""
    publisher.require_publisher()
    text = await store.get_draft(slug, draft_id)
    if text is None:
        done = await store.draft_published(slug, draft_id)
        if done is None:
            raise await _gone(store, slug, draft_id)
        return done
    draft: DraftUpdate = json.loads(text)
    request: dict[str, Any] = {
        "title": draft["title"],
        "body": draft["body"],
        "key_event": draft["key_event"],
    }
    if draft["image"] is not None:
        request["image"] = _image_request(draft["image"])
    return await publishing.publish(
        store,
        slug,
        request,
        draft["author"],
        via=publisher.kind,
        draft=DraftRef(draft_id, text, publisher.name),
    )
