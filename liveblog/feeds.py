"""A blog's feeds: Atom 1.0 (`feed.atom`) and JSON Feed 1.1 (`feed.json`), newest update first.

The feed documents are built by pure functions from the blog and its updates; every text goes
through ElementTree or `json.dumps`, so nothing reaches the output unescaped.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .caching import cacheable
from .state import state_of

FEED_SIZE = 50
TITLE_CHARS = 80
ATOM = "http://www.w3.org/2005/Atom"
XML = "http://www.w3.org/XML/1998/namespace"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
JSON_FEED_TYPE = "application/feed+json; charset=utf-8"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

# Characters XML 1.0 cannot carry at all (ElementTree would write them and break the document).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

ET.register_namespace("", ATOM)


def entry_title(update: dict[str, Any]) -> str:
    """The update's title, or the first 80 characters of its text."""
    if update.get("title"):
        return str(update["title"])
    text = " ".join(Markup(update.get("html") or "").striptags().split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def content_html(update: dict[str, Any]) -> str:
    """The sanitized HTML, followed by the update's image (its URL, alt and caption escaped here)."""
    html = str(update.get("html") or "")
    image = update.get("image") or {}
    if image.get("url"):
        figure = Markup('<figure><img src="{}" alt="{}">').format(image["url"], image.get("alt") or "")
        if image.get("caption"):
            figure += Markup("<figcaption>{}</figcaption>").format(image["caption"])
        html += str(figure + Markup("</figure>"))
    return html


def _author(update: dict[str, Any]) -> str:
    return str((update.get("author") or {}).get("name") or "liveblog")


def _absolute(base: str, path: str) -> str:
    return path if path.startswith(("http://", "https://")) else base.rstrip("/") + "/" + path.lstrip("/")


def _updated(update: dict[str, Any]) -> str:
    return str(update.get("updated_at") or update["published_at"])


def _feed_updated(blog: dict[str, Any], updates: list[dict[str, Any]]) -> str:
    """The latest change, as RFC 3339 UTC text (all our times share one format, so max() works)."""
    return max([_updated(u) for u in updates] + [blog.get("updated_at") or blog.get("created_at") or ""])


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """An Atom child element; its text loses the characters XML cannot carry (ElementTree escapes the rest)."""
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = _NOT_XML.sub("", text)
    return element


def atom_feed(blog: dict[str, Any], updates: list[dict[str, Any]], base: str) -> bytes:
    page = _absolute(base, blog["url"])
    feed = ET.Element(f"{{{ATOM}}}feed")
    _add(feed, "id", page)
    _add(feed, "title", blog["title"])
    if blog.get("description"):
        _add(feed, "subtitle", blog["description"])
    _add(feed, "updated", _feed_updated(blog, updates))
    _add(feed, "link", rel="self", type="application/atom+xml", href=page + "/feed.atom")
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
        content = _add(entry, "content", content_html(update), type="html")
        content.set(f"{{{XML}}}base", permalink)
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def json_feed(blog: dict[str, Any], updates: list[dict[str, Any]], base: str) -> dict[str, Any]:
    page = _absolute(base, blog["url"])
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": blog["title"],
        "home_page_url": page,
        "feed_url": page + "/feed.json",
        "authors": [{"name": "liveblog"}],
        "items": [],
    }
    if blog.get("description"):
        feed["description"] = blog["description"]
    for update in updates:
        item: dict[str, Any] = {
            "id": update["id"],
            "url": _absolute(base, update["url"]),
            "title": entry_title(update),
            "content_html": content_html(update),
            "date_published": update["published_at"],
            "date_modified": _updated(update),
            "authors": [{"name": _author(update)}],
        }
        if (update.get("image") or {}).get("url"):
            item["image"] = update["image"]["url"]
        if update.get("key_event"):
            item["tags"] = ["key-event"]
        feed["items"].append(item)
    return feed


async def _blog_and_updates(request: Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    state = state_of(request)
    slug = request.path_params["slug"]
    blog = await state.store.require_blog(slug)
    updates = (await state.store.list_updates(slug, limit=FEED_SIZE)).updates
    return blog, updates


async def atom(request: Request) -> Response:
    blog, updates = await _blog_and_updates(request)
    body = atom_feed(blog, updates, str(request.base_url))
    return cacheable(request, Response(body, media_type=ATOM_TYPE))


async def json_feed_endpoint(request: Request) -> Response:
    blog, updates = await _blog_and_updates(request)
    feed = json_feed(blog, updates, str(request.base_url))
    body = json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return cacheable(request, Response(body, media_type=JSON_FEED_TYPE))


def routes() -> list[BaseRoute]:
    return [
        Route("/blogs/{slug}/feed.atom", atom),
        Route("/blogs/{slug}/feed.json", json_feed_endpoint),
    ]
