"""Pages for people: the blog list, the reader page, its embeddable twin and an update's permalink page.

Public pages go out through `caching.cacheable`, so a CDN can absorb page views.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from .caching import cacheable
from .errors import BadRequest
from .events import BadEventId, parse_id
from .state import state_of

PAGE_SIZE = 20
MEMO_ENTRIES = 8  # variants of a page kept per blog (host, transport, embed): a bound, not a target
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


async def _render_blog(request: Request, *, embed: bool) -> bytes:
    """The reader page's HTML. While this process has readers of the blog (its hub channel is
    warm) the page is kept in memory until the blog's next event, so a page view costs no
    Redis round trip; the cached page is always the one the last event read left behind."""
    state = state_of(request)
    slug = request.path_params["slug"]
    transport = "ws" if request.query_params.get("transport") == "ws" else "sse"
    cached = "before" not in request.query_params and len(request.query_params) <= 1
    channel = state.hub.warm(slug) if cached else None
    key = ("blog.html", str(request.base_url), transport, embed)
    if channel is not None and key in channel.memo:
        body: bytes = channel.memo[key]
        return body
    head = channel.head if channel is not None else None
    context = await _blog_context(request)
    context["embed"] = embed
    body = bytes(state.templates.TemplateResponse(request, "blog.html", context).body)
    current = channel is not None and channel.head == head and context["last_event_id"] == channel.head_id
    if channel is not None and current and len(channel.memo) < MEMO_ENTRIES:
        channel.memo[key] = body
    return body


async def blog_page(request: Request) -> Response:
    body = await _render_blog(request, embed=False)
    return cacheable(request, HTMLResponse(body))


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
    ancestors = state_of(request).settings.frame_ancestors
    headers = {"content-security-policy": frame_ancestors_policy(_site_policy(), ancestors)}
    body = await _render_blog(request, embed=True)
    return cacheable(request, HTMLResponse(body, headers=headers))


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
