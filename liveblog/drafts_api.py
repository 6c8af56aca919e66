"""The drafts' part of the JSON API, `/api/v1/blogs/{slug}/drafts`: thin adapters over drafts.py.

For the blog's writers only (a bearer token allowed on it, or a session with its CSRF token), and
never cached: drafts are not public. A contributor creates drafts and changes their own; publishing
one is an editor's, an admin's or a bot's.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import drafts
from .api import blog_writer, idempotency_key, read_json, writer
from .state import state_of
from .urls import location

PRIVATE = {"Cache-Control": "private, no-store"}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(data, status, headers={**PRIVATE, **(headers or {})})


async def list_drafts(request: Request) -> Response:
    slug = request.path_params["slug"]
    await blog_writer(request, slug)
    return _json({"drafts": await state_of(request).store.list_drafts(slug)})


async def create_draft(request: Request) -> Response:
    slug = request.path_params["slug"]
    principal = await writer(request, slug, drafts=True)
    key = idempotency_key(request)
    obj, raw = await read_json(request)
    draft, replayed = await drafts.create(
        state_of(request).store, slug, obj, principal, key=key, request=principal.name.encode() + b"\0" + raw
    )
    headers = {"Location": location(request, f"/api/v1/blogs/{slug}/drafts/{draft['id']}")}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(draft, 201, headers)


async def get_draft(request: Request) -> Response:
    slug, draft_id = request.path_params["slug"], request.path_params["draft_id"]
    await blog_writer(request, slug)
    draft, _ = await drafts.get(state_of(request).store, slug, draft_id)
    return _json(draft)


async def patch_draft(request: Request) -> Response:
    slug, draft_id = request.path_params["slug"], request.path_params["draft_id"]
    principal = await writer(request, slug, drafts=True)
    obj, _ = await read_json(request)
    return _json(await drafts.edit(state_of(request).store, slug, draft_id, obj, principal))


async def delete_draft(request: Request) -> Response:
    slug, draft_id = request.path_params["slug"], request.path_params["draft_id"]
    principal = await writer(request, slug, drafts=True)
    await drafts.delete(state_of(request).store, slug, draft_id, principal)
    return Response(status_code=204)


async def publish_draft(request: Request) -> Response:
    """201 with the update, as a publish answers; a retry gets the same answer, marked replayed."""
    slug, draft_id = request.path_params["slug"], request.path_params["draft_id"]
    principal = await writer(request, slug)
    result = await drafts.publish(state_of(request).store, slug, draft_id, principal)
    headers = {"Location": location(request, f"/api/v1/blogs/{slug}/updates/{result.update['id']}")}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(result.json, 201, headers=headers, media_type="application/json")


def routes() -> list[BaseRoute]:
    """Beneath `/api/v1`, beside api.routes()."""
    one = "/blogs/{slug}/drafts/{draft_id}"
    return [
        Route("/blogs/{slug}/drafts", list_drafts, methods=["GET"]),
        Route("/blogs/{slug}/drafts", create_draft, methods=["POST"]),
        Route(one, get_draft, methods=["GET"]),
        Route(one, patch_draft, methods=["PATCH"]),
        Route(one, delete_draft, methods=["DELETE"]),
        Route(f"{one}/publish", publish_draft, methods=["POST"]),
    ]
