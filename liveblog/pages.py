"""Pages for people: the blog list, the reader page, its embeddable twin and an update's permalink page.

Public pages are rendered once per blog state, off the event loop, and kept in the bounded
`caching.RenderCache`; they go out through `caching.cacheable`, so a CDN can absorb page views.
A page holds at most `PAGE_BYTES` of updates' HTML: older ones are behind "Load more".
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import structured
from .caching import Rendered, cacheable, head_of, rendered
from .errors import BadRequest
from .events import BadEventId, parse_id
from .models import Update
from .paging import listing_of
from .security import CONTENT_SECURITY_POLICY, frame_ancestors_policy
from .state import state_of
from .urls import localize, request_origin, shared_origin, varies, vary_host

PAGE_SIZE = 20
PAGE_BYTES = 1024 * 1024  # updates' HTML on one page; older updates go behind "Load more"
FLAGGED_SHOWN = 50  # pinned updates and key events listed beside the page, however old


async def index(request: Request) -> Response:
    state = state_of(request)
    blogs = await state.store.list_blogs()
    return cacheable(request, state.templates.TemplateResponse(request, "index.html", {"blogs": blogs}))


def before_of(request: Request) -> str | None:
    """The `before` query parameter, validated (400 when it is not an event ID)."""
    before = request.query_params.get("before")
    if before is not None:
        try:
            parse_id(before)
        except BadEventId as exc:
            raise BadRequest(f"before: {exc}") from None
    return before


def within_budget(
    updates: list[Update], budget: int, next_before: str | None
) -> tuple[list[Update], str | None]:
    """The newest updates whose HTML fits in `budget` bytes (at least one), and the `before` of
    the next page: the last one kept when some were left out, else `next_before`."""
    kept: list[Update] = []
    used = 0
    for update in updates:
        size = len(str(update.get("html") or "").encode("utf-8"))
        if kept and used + size > budget:
            return kept, kept[-1]["id"]
        kept.append(update)
        used += size
    return kept, next_before


async def respond(
    request: Request, entry: Rendered, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    """A shared render, with this request's origin in it when no public URL is set, compressed
    once per render (see `caching.RenderCache.serve`)."""
    origin = request_origin(request) if varies(request) else ""
    return await state_of(request).renders.serve(
        request,
        entry,
        media_type,
        vary_host(request, headers or {}),
        origin=origin,
        localize=lambda body: localize(request, body),
    )


async def _render_blog(request: Request, *, embed: bool) -> Rendered:
    """The reader page (or its embed) at the blog's current state, rendered once per state and
    variant (see `caching.RenderCache`): a warm blog's page view costs no Redis command, a cold
    one's a single `HGET`."""
    state = state_of(request)
    slug = request.path_params["slug"]
    listing = listing_of(request)
    transport = "ws" if request.query_params.get("transport") == "ws" else "sse"
    origin = shared_origin(request)
    path = request.url.path

    async def build() -> Rendered:
        blog = await state.store.require_blog(slug)
        page = await state.store.list_updates(
            slug,
            limit=PAGE_SIZE,
            **listing.window(),
            flagged=FLAGGED_SHOWN,
        )
        # Read apart, the blog and its updates may straddle an event: then the render is served
        # but kept under no head, so the next view renders the current state.
        head = page.last_event_id if blog["last_event_id"] == page.last_event_id else ""
        template = state.templates[blog["lang"]].get_template("blog.html")

        def render() -> Rendered:
            updates, cut = within_budget(page.updates, PAGE_BYTES, None)
            next_before, next_after = page.next_before, page.next_after
            if cut is not None and listing.oldest:
                next_after = cut
            elif cut is not None:
                next_before = cut
            page_url = origin + blog["url"]
            publisher = structured.publisher(state.settings, origin)
            context = {
                "blog": blog,
                "page_url": page_url,
                "origin": origin,
                "ld": structured.live_blog(blog, updates, page_url, origin, publisher),
                "share_image": structured.share_image(blog.get("cover"), origin),
                "site_name": state.settings.publisher_name,
                "updates": updates,
                "pinned": page.pinned,
                "key_events": page.key_events,
                "last_event_id": page.last_event_id,
                "next_before": next_before,
                "next_page": listing.next_query(next_before, next_after),
                "listing": listing,
                "order_toggle": path
                + listing._replace(before=None, after=None, oldest=not listing.oldest).query(),
                "key_events_toggle": path
                + listing._replace(before=None, after=None, key_events=not listing.key_events).query(),
                "transport": transport,
                "embed": embed,
            }
            return rendered(head, template.render(context).encode("utf-8"))

        return await state.renders.run(render)

    head = await head_of(state.hub, state.store, slug)
    return await state.renders.get(slug, ("blog", embed, transport, *listing), head, build)


async def blog_page(request: Request) -> Response:
    return await respond(request, await _render_blog(request, embed=False), "text/html")


async def embed_page(request: Request) -> Response:
    """The live list alone, for an iframe on another site: framing allowed by LIVEBLOG_FRAME_ANCESTORS."""
    ancestors = state_of(request).settings.frame_ancestors
    headers = {"content-security-policy": frame_ancestors_policy(CONTENT_SECURITY_POLICY, ancestors)}
    return await respond(request, await _render_blog(request, embed=True), "text/html", headers)


async def update_page(request: Request) -> Response:
    state = state_of(request)
    slug, update_id = request.path_params["slug"], request.path_params["update_id"]
    origin = shared_origin(request)

    async def build() -> Rendered:
        blog = await state.store.require_blog(slug)
        update = await state.store.require_update(slug, update_id)
        template = state.templates[blog["lang"]].get_template("update.html")
        page_url = origin + update["url"]
        publisher = structured.publisher(state.settings, origin)
        context = {
            "blog": blog,
            "update": update,
            "updates": [update],  # base.html adds the <template>s that a live edit is drawn from
            "page_url": page_url,
            "origin": origin,
            "ld": structured.blog_posting(blog, update, page_url, origin, publisher),
            "share_image": structured.share_image(update.get("image") or blog.get("cover"), origin),
            "site_name": state.settings.publisher_name,
        }
        return await state.renders.run(
            lambda: rendered(blog["last_event_id"], template.render(context).encode("utf-8"))
        )

    head = await head_of(state.hub, state.store, slug)
    entry = await state.renders.get(slug, ("update", update_id), head, build)
    return await respond(request, entry, "text/html")


def routes() -> list[BaseRoute]:
    return [
        Route("/", index),
        Route("/blogs/{slug}", blog_page),
        Route("/blogs/{slug}/embed", embed_page),
        Route("/blogs/{slug}/updates/{update_id}", update_page),
    ]
