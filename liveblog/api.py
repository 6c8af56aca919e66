"""The bots' JSON API under /api/v1: thin adapters over the store."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import publishing, sessions, updates
from .auth import Principal, bearer
from .bodies import read_body
from .caching import cacheable
from .errors import BadRequest, Invalid, NotFound, UnsupportedMediaType
from .models import MAX_IDEMPOTENCY_KEY, MAX_REQUEST_BYTES, NewBlog, NewWebhook, validate
from .paging import listing_of
from .state import state_of
from .urls import location
from .webhooks import Webhooks, public


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(data, status, headers={"Cache-Control": "no-cache", **(headers or {})})


async def read_json(request: Request) -> tuple[Any, bytes]:
    """The request's JSON body and its raw bytes: 415, 413 or 400 when it is not one."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("send Content-Type: application/json")
    raw = await read_body(request, MAX_REQUEST_BYTES)
    try:
        # Strict UTF-8 (RFC 8259): json.loads(bytes) would also take UTF-16 and UTF-32, and it decodes
        # with "surrogatepass", so CESU-8 surrogates became a lone-surrogate 422 instead of this 400.
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"malformed JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text), raw
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, an integer of over 4300 digits
        raise BadRequest(f"malformed JSON: {str(exc)[:200]}") from None


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key header, if any: 400 unless it is 1 to 200 characters."""
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise BadRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    return key


async def _principal(request: Request) -> Principal:
    """A bot's bearer token, or a logged-in editor's session cookie plus its X-CSRF-Token header."""
    authorization = request.headers.get("authorization")
    if authorization is None and "user" in request.session:
        editor = await sessions.current_editor(request)
        if editor is not None:
            sessions.check_csrf(request, request.headers.get("x-csrf-token"))
            return editor.principal()
    return await bearer(state_of(request).store, authorization)


async def writer(
    request: Request, slug: str | None = None, *, drafts: bool = False, lookup: bool = True
) -> Principal:
    """Authenticate a write (401), check that the blog exists (404), its scope and the writer's
    role (403: a contributor writes `drafts` only) and the rate limit (429).

    `lookup=False` where the write itself answers 404 for a missing blog, in the same step (the
    publish script): a round trip to Redis fewer per write. A writer outside the blog's scope
    still gets 404 for a missing blog, before 403."""
    state = state_of(request)
    principal = await _principal(request)
    if not drafts:
        principal.require_publisher()
    if slug is not None:
        if lookup or not principal.allows(slug):
            await state.store.require_blog(slug)
        principal.require_blog(slug)
    await state.rate_limiter.check(principal.rate_key)
    return principal


async def blog_writer(request: Request, slug: str) -> Principal:
    """A writer of the blog, for a read that only its writers may make (no rate limit): a bearer
    token, or an editor's session (no CSRF token: a GET changes nothing). 401, 403, 404."""
    state = state_of(request)
    principal = None
    if request.headers.get("authorization") is None and "user" in request.session:
        editor = await sessions.current_editor(request)
        principal = editor.principal() if editor is not None else None
    if principal is None:
        principal = await bearer(state.store, request.headers.get("authorization"))
    await state.store.require_blog(slug)
    principal.require_blog(slug)
    return principal


# -- blogs -----------------------------------------------------------------------------------


def _read(request: Request, data: Any) -> Response:
    """A public JSON read: ETag and a short Cache-Control, 304 on a matching If-None-Match."""
    return cacheable(request, JSONResponse(data))


async def list_blogs(request: Request) -> Response:
    return _read(request, {"blogs": await state_of(request).store.list_blogs()})


async def create_blog(request: Request) -> Response:
    principal = await writer(request)
    principal.require_admin()
    obj, _ = await read_json(request)
    slug, title, description, lang = updates.new_blog(obj)
    store = state_of(request).store
    cover = await publishing.cover(store, slug, validate(NewBlog, obj).cover)
    blog = await store.create_blog(slug, title, description, lang, cover=cover)
    return _json(blog, 201, {"Location": location(request, f"/api/v1/blogs/{slug}")})


async def get_blog(request: Request) -> Response:
    return _read(request, await state_of(request).store.require_blog(request.path_params["slug"]))


async def patch_blog(request: Request) -> Response:
    slug = request.path_params["slug"]
    await writer(request, slug)
    obj, _ = await read_json(request)
    store = state_of(request).store
    return _json(await store.patch_blog(slug, await publishing.blog_changes(store, slug, obj)))


# -- updates ---------------------------------------------------------------------------------


def _is_decimal(text: str) -> bool:
    """ASCII digits only: `str.isdigit()` is also true of "²" and "١", which `int()` rejects or reads."""
    return text.isascii() and text.isdigit()


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "20")
    if not _is_decimal(raw) or not 1 <= int(raw) <= 100:
        raise Invalid("limit", "must be an integer from 1 to 100")
    return int(raw)


async def list_updates(request: Request) -> Response:
    """A page of updates in either order, or of key events only, with the cursors and links of
    the pages on either side (see `paging.Listing`)."""
    slug = request.path_params["slug"]
    store = state_of(request).store
    limit, listing = _limit(request), listing_of(request)
    await store.require_blog(slug)
    page = await store.list_updates(slug, limit=limit, **listing.window())
    path = f"/api/v1/blogs/{slug}/updates"
    size = {"limit": str(limit)} if "limit" in request.query_params else {}
    following = listing.next_query(page.next_before, page.next_after, **size)
    preceding = listing.prev_query(page.next_before, page.next_after, **size)
    return _read(
        request,
        {
            "updates": page.updates,
            "next_before": page.next_before,
            "next_after": page.next_after,
            "next": None if following is None else path + following,
            "prev": None if preceding is None else path + preceding,
            "last_event_id": page.last_event_id,
        },
    )


async def publish(request: Request) -> Response:
    slug = request.path_params["slug"]
    principal = await writer(request, slug, lookup=False)  # the publish script answers 404
    key = idempotency_key(request)
    obj, raw = await read_json(request)
    result = await publishing.publish(
        state_of(request).store,
        slug,
        obj,
        principal.author,
        via=principal.kind,
        key=key,
        request=principal.name.encode() + b"\0" + raw,
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    if result.scheduled:  # 202: accepted now, published (with its stream ID) when it falls due
        return Response(result.json, 202, headers=headers, media_type="application/json")
    headers["Location"] = location(request, f"/api/v1/blogs/{slug}/updates/{result.update['id']}")
    return Response(result.json, 201, headers=headers, media_type="application/json")


async def get_update(request: Request) -> Response:
    slug, update_id = request.path_params["slug"], request.path_params["update_id"]
    return _read(request, await state_of(request).store.require_update(slug, update_id))


async def patch_update(request: Request) -> Response:
    slug, update_id = request.path_params["slug"], request.path_params["update_id"]
    principal = await writer(request, slug)
    obj, _ = await read_json(request)
    store = state_of(request).store
    return _json(
        await publishing.edit(
            store, slug, await store.require_update(slug, update_id), obj, by=principal.author
        )
    )


async def delete_update(request: Request) -> Response:
    slug, update_id = request.path_params["slug"], request.path_params["update_id"]
    await writer(request, slug)
    await state_of(request).store.delete_update(slug, update_id)
    return Response(status_code=204)


# -- webhooks (admins) -----------------------------------------------------------------------


async def _admin(request: Request, slug: str) -> tuple[Principal, Webhooks]:
    """An admin's request on an existing blog (401, 403, 404, 429): who, and the webhooks."""
    principal = await _principal(request)
    principal.require_admin()
    state = state_of(request)
    await state.store.require_blog(slug)
    await state.rate_limiter.check(principal.rate_key)
    return principal, Webhooks(state.store)


async def list_webhooks(request: Request) -> Response:
    slug = request.path_params["slug"]
    _, hooks = await _admin(request, slug)
    return _json({"webhooks": [public(r) for r in await hooks.registered(slug)]})


async def add_webhook(request: Request) -> Response:
    slug = request.path_params["slug"]
    _, hooks = await _admin(request, slug)
    obj, _ = await read_json(request)
    new = validate(NewWebhook, obj)
    allow = state_of(request).settings.allow_private_urls
    record = await hooks.add(slug, new.url, new.events, allow_private=allow)
    where = location(request, f"/api/v1/blogs/{slug}/webhooks/{record['id']}")
    return _json(record, 201, {"Location": where})


async def delete_webhook(request: Request) -> Response:
    slug = request.path_params["slug"]
    _, hooks = await _admin(request, slug)
    await hooks.remove(request.path_params["webhook_id"], slug)
    return Response(status_code=204)


# -- scheduled updates -----------------------------------------------------------------------


async def list_scheduled(request: Request) -> Response:
    """The blog's scheduled updates, soonest first; for its writers only (they are embargoed)."""
    slug = request.path_params["slug"]
    await blog_writer(request, slug)
    scheduled = await state_of(request).store.list_scheduled(slug)
    return _json({"scheduled": scheduled}, headers={"Cache-Control": "private, no-store"})


async def cancel_scheduled(request: Request) -> Response:
    slug, scheduled_id = request.path_params["slug"], request.path_params["scheduled_id"]
    await writer(request, slug)
    if not await state_of(request).store.cancel_scheduled(slug, scheduled_id):
        raise NotFound(f"no scheduled update {scheduled_id!r} in blog {slug!r} (published or cancelled?)")
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    """The API's routes beneath `/api/v1`, except the readers' streams (`dispatch.STREAM_ROUTES`)."""
    return [
        Route("/blogs", list_blogs, methods=["GET"]),
        Route("/blogs", create_blog, methods=["POST"]),
        Route("/blogs/{slug}", get_blog, methods=["GET"]),
        Route("/blogs/{slug}", patch_blog, methods=["PATCH"]),
        Route("/blogs/{slug}/updates", list_updates, methods=["GET"]),
        Route("/blogs/{slug}/updates", publish, methods=["POST"]),
        Route("/blogs/{slug}/webhooks", list_webhooks, methods=["GET"]),
        Route("/blogs/{slug}/webhooks", add_webhook, methods=["POST"]),
        Route("/blogs/{slug}/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
        Route("/blogs/{slug}/updates/{update_id}", get_update, methods=["GET"]),
        Route("/blogs/{slug}/updates/{update_id}", patch_update, methods=["PATCH"]),
        Route("/blogs/{slug}/updates/{update_id}", delete_update, methods=["DELETE"]),
        Route("/blogs/{slug}/scheduled", list_scheduled, methods=["GET"]),
        Route("/blogs/{slug}/scheduled/{scheduled_id}", cancel_scheduled, methods=["DELETE"]),
    ]
