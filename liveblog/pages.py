"""Pages for people: the blog list, the reader page and an update's permalink page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .errors import BadRequest
from .events import BadEventId, parse_id
from .state import state_of

PAGE_SIZE = 20


async def index(request: Request) -> Response:
    state = state_of(request)
    blogs = await state.store.list_blogs()
    return state.templates.TemplateResponse(request, "index.html", {"blogs": blogs})


async def blog_page(request: Request) -> Response:
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
    transport = "ws" if request.query_params.get("transport") == "ws" else "sse"
    context = {
        "blog": blog,
        "updates": updates,
        "last_event_id": last_event_id,
        "next_before": next_before,
        "transport": transport,
    }
    return state.templates.TemplateResponse(
        request, "blog.html", context, headers={"Cache-Control": "public, max-age=2"}
    )


async def update_page(request: Request) -> Response:
    state = state_of(request)
    slug, update_id = request.path_params["slug"], request.path_params["update_id"]
    blog = await state.store.require_blog(slug)
    update = await state.store.require_update(slug, update_id)
    return state.templates.TemplateResponse(request, "update.html", {"blog": blog, "update": update})


def routes() -> list[BaseRoute]:
    return [
        Route("/", index),
        Route("/blogs/{slug}", blog_page),
        Route("/blogs/{slug}/updates/{update_id}", update_page),
    ]
