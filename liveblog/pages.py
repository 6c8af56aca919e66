"""Pages for people: the blog list, the reader page, its embeddable twin and an update's permalink page.

Public pages go out through `caching.cacheable`, so a CDN can absorb page views.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .caching import cacheable
from .errors import BadRequest
from .events import BadEventId, parse_id
from .state import state_of

PAGE_SIZE = 20
FLAGGED_SHOWN = 50  # pinned updates and key events listed beside the page, however old


async def index(request: Request) -> Response:
    state = state_of(request)
    blogs = await state.store.list_blogs()
    return state.templates.TemplateResponse(request, "index.html", {"blogs": blogs})


async def _blog_context(request: Request) -> dict[str, Any]:
    state = state_of(request)
    slug = request.path_params["slug"]
    before = request.query_params.get("before")
    if before is not None:
        try:
            parse_id(before)
        except BadEventId as exc:
            raise BadRequest(f"before: {exc}") from None
    blog = await state.store.require_blog(slug)
    page = await state.store.list_updates(slug, limit=PAGE_SIZE, before=before, flagged=FLAGGED_SHOWN)
    return {
        "blog": blog,
        "updates": page.updates,
        "pinned": page.pinned,
        "key_events": page.key_events,
        "last_event_id": page.last_event_id,
        "next_before": page.next_before,
        "transport": "ws" if request.query_params.get("transport") == "ws" else "sse",
    }


async def blog_page(request: Request) -> Response:
    context = await _blog_context(request)
    response = state_of(request).templates.TemplateResponse(request, "blog.html", context)
    return cacheable(request, response)


def frame_ancestors_policy(policy: str, ancestors: str) -> str:
    """`policy` with its `frame-ancestors` directive replaced by (or given) `ancestors`."""
    directives = [d.strip() for d in policy.split(";") if d.strip()]
    kept = [d for d in directives if d.split()[0].lower() != "frame-ancestors"]
    return "; ".join([*kept, f"frame-ancestors {ancestors}"])


def _site_policy() -> str:
    # Imported here: app.py imports this module while it is being built.
    from .app import CONTENT_SECURITY_POLICY

    return CONTENT_SECURITY_POLICY


async def embed_page(request: Request) -> Response:
    """The live list alone, for an iframe on another site: framing allowed by LIVEBLOG_FRAME_ANCESTORS."""
    state = state_of(request)
    context = await _blog_context(request)
    context["embed"] = True
    ancestors = state.settings.frame_ancestors
    headers = {"content-security-policy": frame_ancestors_policy(_site_policy(), ancestors)}
    response = state.templates.TemplateResponse(request, "blog.html", context, headers=headers)
    return cacheable(request, response)


async def update_page(request: Request) -> Response:
    state = state_of(request)
    slug, update_id = request.path_params["slug"], request.path_params["update_id"]
    blog = await state.store.require_blog(slug)
    update = await state.store.require_update(slug, update_id)
    response = state.templates.TemplateResponse(request, "update.html", {"blog": blog, "update": update})
    return cacheable(request, response)


def routes() -> list[BaseRoute]:
    return [
        Route("/", index),
        Route("/blogs/{slug}", blog_page),
        Route("/blogs/{slug}/embed", embed_page),
        Route("/blogs/{slug}/updates/{update_id}", update_page),
    ]
