"""The desk's reach into a blog's past: every update, page by page (`?before=ID`, "Older" and
"Newer"), found by text (`?q=`), and each update's edit history on its edit page.

Bounded work per request: a page reads `PAGE_SIZE` updates (one script, `desk_updates` in
scripts.lua). A search runs that script on the blog's slot in slices, each reading at most
`SLICE_UPDATES` updates and `SLICE_BYTES` of their JSON (and at least one update), so Redis serves
its other clients between two slices; at most `SLICES` slices a request, then the page offers to
search further back from where it stopped. Plain asyncio and Starlette's request: editor.py's
handlers call these.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from .errors import BadRequest
from .models import Update
from .pages import before_of
from .store import DeskPage, Store, iso

PAGE_SIZE = 50  # updates on a page of the desk, and on a page of results
MAX_QUERY = 200  # characters of a search
# One slice holds Redis for about 10-30 ms (512 KiB of 3 KB updates: 25 ms on a 2-core machine at a
# load of 7); a request reads at most 8 slices: 4,000 updates, 4 MiB.
SLICE_UPDATES = 500
SLICE_BYTES = 512 * 1024
SLICES = 8
TEXT_FIELDS = ("title", "body")  # the fields whose earlier text the history keeps


def query_of(request: Request) -> str:
    """The `q` query parameter without surrounding spaces: 400 when over `MAX_QUERY` characters."""
    query = request.query_params.get("q", "").strip()
    if len(query) > MAX_QUERY:
        raise BadRequest(f"q: a search is at most {MAX_QUERY} characters")
    return query


def _href(slug: str, query: str, before: str | None) -> str:
    params = {name: value for name, value in (("q", query), ("before", before)) if value}
    return f"/editor/{slug}" + (f"?{urlencode(params)}" if params else "")


async def listing(request: Request, store: Store, slug: str) -> dict[str, Any]:
    """The desk page's list of updates, from its query (`before`, `q`): the updates, the links to
    the older and the newer page, and for a search how far back it read."""
    before, query = before_of(request), query_of(request)
    if query:
        page = await search(store, slug, before, query)
    else:
        page = await store.desk_updates(slug, limit=PAGE_SIZE, before=before, query="", most=0, most_bytes=0)
    return {
        "updates": page.updates,
        "last_event_id": page.last_event_id,
        "search": query,
        "before": before,
        "older": _href(slug, query, page.older) if page.older else None,
        "newer": _href(slug, query, page.newer) if page.newer is not None else None,
        "read": page.read,
        "read_to": _moment(page.read_to) if page.read_to else None,
    }


async def search(
    store: Store,
    slug: str,
    before: str | None,
    query: str,
    *,
    slice_updates: int = SLICE_UPDATES,
    slice_bytes: int = SLICE_BYTES,
    slices: int = SLICES,
) -> DeskPage:
    """Up to `PAGE_SIZE` updates before `before` that hold `query`, newest first, read in at most
    `slices` script calls of `slice_updates` updates and `slice_bytes` bytes each."""
    page = await store.desk_updates(
        slug, limit=PAGE_SIZE, before=before, query=query, most=slice_updates, most_bytes=slice_bytes
    )
    for _ in range(slices - 1):
        if len(page.updates) >= PAGE_SIZE or page.older is None:
            break
        more = await store.desk_updates(
            slug,
            limit=PAGE_SIZE - len(page.updates),
            before=page.older,
            query=query,
            most=slice_updates,
            most_bytes=slice_bytes,
        )
        page = page._replace(
            updates=page.updates + more.updates,
            older=more.older,
            read=page.read + more.read,
            read_to=more.read_to or page.read_to,
        )
    return page


def _moment(event_id: str) -> str:
    """When the event `event_id` happened (its stream ID starts with Unix milliseconds)."""
    return iso(datetime.fromtimestamp(int(event_id.partition("-")[0]) / 1000, UTC))


async def place(store: Store, slug: str, update_id: str) -> str:
    """The desk page where an update is (or was, when taken before a delete), at its anchor: the
    newest page, or the page that starts with it."""
    newer = await store.newer_neighbour(slug, update_id, PAGE_SIZE)
    return _href(slug, "", newer) + f"#update-{update_id}"


async def history(store: Store, slug: str, current: Update) -> list[dict[str, Any]]:
    """The update's edits, newest first, for its edit page: who, when, which fields changed, and
    for its title and body the text before and after the edit."""
    after = {field: current.get(field) for field in TEXT_FIELDS}
    entries = []
    for entry in await store.update_history(slug, current["id"]):
        texts = {}
        for field in TEXT_FIELDS:
            if field in entry["changed"]:
                texts[field] = (entry.get(field) or "", after[field] or "")
                after[field] = entry.get(field)
        entries.append({**entry, "texts": texts})
    return entries
