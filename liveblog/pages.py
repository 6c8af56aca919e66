"""Pages for people: the blog list, the reader page, its embeddable twin and an update's permalink page.

Public pages (and the feeds) go out through `cacheable`: a strong ETag of the body and a short
`Cache-Control`, so a CDN can absorb page views and revalidate with `If-None-Match`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .errors import BadRequest
from .events import BadEventId, parse_id
from .state import state_of

PAGE_SIZE = 20
CACHE_CONTROL = "public, max-age=2"
# What a 304 repeats of the full response (RFC 9110 15.4.5), plus the embed page's own CSP: a
# cache merges a 304's headers into the stored response, so the 304 must not carry another policy.
_KEPT_ON_304 = ("cache-control", "etag", "vary", "content-location", "expires", "content-security-policy")


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison: `W/"x"` matches `"x"`; `*` matches anything."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def cacheable(request: Request, response: Response) -> Response:
    """Add an ETag and a short Cache-Control to a rendered 200 response; 304 when it matches.

    A request with a session (a logged-in editor) gets `private`: the session middleware adds a
    Set-Cookie to its response, which no shared cache may keep and hand to other readers.
    """
    if response.status_code != 200 or request.method not in ("GET", "HEAD"):
        return response
    etag = etag_of(bytes(response.body))
    response.headers["etag"] = etag
    private = bool(request.scope.get("session"))
    response.headers["cache-control"] = (
        CACHE_CONTROL.replace("public", "private") if private else CACHE_CONTROL
    )
    if not etag_matches(request.headers.get("if-none-match"), etag):
        return response
    headers = {name: value for name, value in response.headers.items() if name in _KEPT_ON_304}
    return Response(status_code=304, headers=headers)


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
    updates, next_before, last_event_id = await state.store.list_updates(slug, limit=PAGE_SIZE, before=before)
    return {
        "blog": blog,
        "updates": updates,
        "last_event_id": last_event_id,
        "next_before": next_before,
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
