"""A blog's feeds: Atom 1.0 (`feed.atom`) and JSON Feed 1.1 (`feed.json`), newest update first.

The feed documents are built by pure functions from the blog and its updates; every text goes
through ElementTree or `json.dumps`, so nothing reaches the output unescaped.

A feed holds at most `FEED_SIZE` updates and `FEED_BYTES` of their HTML; older ones are on the
next page (`?before=ID`): Atom's `<link rel="next">` (RFC 5005 paged feeds; a later page also
links `rel="first"` and, to the newer page `?after=ID`, `rel="previous"`), JSON Feed's
`next_url`, so following them reaches every update once. Like pages, feeds are rendered once per blog state, off the event loop, and kept in
the bounded `caching.RenderCache`.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .caching import Rendered, head_of, rendered
from .models import Blog, Update
from .pages import respond, within_budget
from .paging import cursor_of
from .state import state_of
from .urls import shared_origin

FEED_SIZE = 50
FEED_BYTES = 1024 * 1024  # updates' HTML per feed document (escaped in Atom: about 2 MiB)
TITLE_CHARS = 80
ATOM = "http://www.w3.org/2005/Atom"
XML = "http://www.w3.org/XML/1998/namespace"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
JSON_FEED_TYPE = "application/feed+json; charset=utf-8"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

# Characters XML 1.0 cannot carry at all (ElementTree would write them and break the document).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

ET.register_namespace("", ATOM)


def entry_title(update: Mapping[str, Any]) -> str:
    """The update's title, or the first 80 characters of its text."""
    if update.get("title"):
        return str(update["title"])
    text = " ".join(Markup(update.get("html") or "").striptags().split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def content_html(update: Mapping[str, Any], base: str) -> str:
    """The sanitized HTML, followed by the update's image (its URL, alt and caption escaped here;
    an uploaded image's path made absolute on `base`, as a feed reader reads it elsewhere)."""
    html = str(update.get("html") or "")
    image = update.get("image") or {}
    if image.get("url"):
        src = _absolute(base, image["url"])
        figure = Markup('<figure><img src="{}" alt="{}">').format(src, image.get("alt") or "")
        if image.get("caption"):
            figure += Markup("<figcaption>{}</figcaption>").format(image["caption"])
        html += str(figure + Markup("</figure>"))
    return html


def _author(update: Mapping[str, Any]) -> str:
    return str((update.get("author") or {}).get("name") or "liveblog")


def _json_author(update: Mapping[str, Any], base: str) -> dict[str, str]:
    """JSON Feed's author: the name, and the avatar (absolute) when the update's author has one."""
    author = {"name": _author(update)}
    if avatar := (update.get("author") or {}).get("avatar"):
        author["avatar"] = _absolute(base, avatar)
    return author


def _absolute(base: str, path: str) -> str:
    return path if path.startswith(("http://", "https://")) else base.rstrip("/") + "/" + path.lstrip("/")


def _updated(update: Mapping[str, Any]) -> str:
    return str(update.get("updated_at") or update["published_at"])


def _feed_updated(blog: Mapping[str, Any], updates: Sequence[Mapping[str, Any]]) -> str:
    """The latest change, as RFC 3339 UTC text (all our times share one format, so max() works)."""
    return max([_updated(u) for u in updates] + [blog.get("updated_at") or blog.get("created_at") or ""])


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """An Atom child element; its text loses the characters XML cannot carry (ElementTree escapes the rest)."""
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = _NOT_XML.sub("", text)
    return element


def _paged(url: str, before: str | None, after: str | None = None) -> str:
    if after is not None:
        return f"{url}?{urlencode({'after': after})}"
    return url if before is None else f"{url}?{urlencode({'before': before})}"


def atom_feed(
    blog: Blog,
    updates: list[Update],
    base: str,
    *,
    before: str | None = None,
    next_before: str | None = None,
    after: str | None = None,
    next_after: str | None = None,
) -> bytes:
    """The Atom document; `before` / `after` is this page's position (None: the newest),
    `next_before` the next (older) page's, linked as `rel="next"`, and `next_after` the newer
    page's, as `rel="previous"` (with `rel="first"`): RFC 5005's paged feed."""
    page = _absolute(base, blog["url"])
    feed = ET.Element(f"{{{ATOM}}}feed")
    feed.set(f"{{{XML}}}lang", blog["lang"])  # the blog's language, that of every entry's text
    _add(feed, "id", page)
    _add(feed, "title", blog["title"])
    if blog.get("description"):
        _add(feed, "subtitle", blog["description"])
    _add(feed, "updated", _feed_updated(blog, updates))
    _add(
        feed, "link", rel="self", type="application/atom+xml", href=_paged(page + "/feed.atom", before, after)
    )
    if before is not None or after is not None:
        _add(feed, "link", rel="first", type="application/atom+xml", href=page + "/feed.atom")
    if next_after is not None:
        href = _paged(page + "/feed.atom", None, next_after)
        _add(feed, "link", rel="previous", type="application/atom+xml", href=href)
    if next_before is not None:
        _add(
            feed,
            "link",
            rel="next",
            type="application/atom+xml",
            href=_paged(page + "/feed.atom", next_before),
        )
    _add(feed, "link", rel="alternate", type="text/html", href=page)
    _add(_add(feed, "author"), "name", "liveblog")
    _add(feed, "generator", "liveblog")
    for update in updates:
        permalink = _absolute(base, update["url"])
        entry = _add(feed, "entry")
        _add(entry, "id", permalink)
        _add(entry, "title", entry_title(update))
        _add(entry, "updated", _updated(update))
        _add(entry, "published", update["published_at"])
        _add(entry, "link", rel="alternate", type="text/html", href=permalink)
        _add(_add(entry, "author"), "name", _author(update))
        if update.get("key_event"):
            _add(entry, "category", term="key-event", label="Key event")
        # xml:base resolves relative links in the update's HTML against its permalink.
        content = _add(entry, "content", content_html(update, base), type="html")
        content.set(f"{{{XML}}}base", permalink)
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def json_feed(
    blog: Blog, updates: list[Update], base: str, *, next_before: str | None = None
) -> dict[str, Any]:
    """The JSON Feed object; `next_before` the next (older) page's position, as `next_url`."""
    page = _absolute(base, blog["url"])
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": blog["title"],
        "home_page_url": page,
        "feed_url": page + "/feed.json",
        "language": blog["lang"],
        "authors": [{"name": "liveblog"}],
        "items": [],
    }
    if blog.get("description"):
        feed["description"] = blog["description"]
    if next_before is not None:
        feed["next_url"] = _paged(page + "/feed.json", next_before)
    for update in updates:
        item: dict[str, Any] = {
            "id": update["id"],
            "url": _absolute(base, update["url"]),
            "title": entry_title(update),
            "content_html": content_html(update, base),
            "date_published": update["published_at"],
            "date_modified": _updated(update),
            "authors": [_json_author(update, base)],
        }
        if image := update.get("image"):
            item["image"] = _absolute(base, image["url"])
        if update.get("key_event"):
            item["tags"] = ["key-event"]
        feed["items"].append(item)
    return feed


def _json_bytes(feed: dict[str, Any]) -> bytes:
    return json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def _feed(request: Request, kind: str) -> Rendered:
    """The blog's feed of `kind` at its current state, rendered once per state and page."""
    state = state_of(request)
    slug = request.path_params["slug"]
    before, after = cursor_of(request, "before"), cursor_of(request, "after")
    base = shared_origin(request)

    async def build() -> Rendered:
        blog = await state.store.require_blog(slug)
        page = await state.store.list_updates(slug, limit=FEED_SIZE, before=before, after=after)
        head = page.last_event_id if blog["last_event_id"] == page.last_event_id else ""

        def render() -> Rendered:
            updates, next_before = within_budget(page.updates, FEED_BYTES, page.next_before)
            if kind == "atom":
                body = atom_feed(
                    blog,
                    updates,
                    base,
                    before=before,
                    next_before=next_before,
                    after=after,
                    next_after=page.next_after,
                )
            else:
                body = _json_bytes(json_feed(blog, updates, base, next_before=next_before))
            return rendered(head, body)

        return await state.renders.run(render)

    head = await head_of(state.hub, state.store, slug)
    return await state.renders.get(slug, ("feed", kind, before, after), head, build)


async def atom(request: Request) -> Response:
    return await respond(request, await _feed(request, "atom"), ATOM_TYPE)


async def json_feed_endpoint(request: Request) -> Response:
    return await respond(request, await _feed(request, "json"), JSON_FEED_TYPE)


def routes() -> list[BaseRoute]:
    return [
        Route("/blogs/{slug}/feed.atom", atom),
        Route("/blogs/{slug}/feed.json", json_feed_endpoint),
    ]
