"""Others' feeds read: RSS 0.9x-2.0 and Atom (by feedparser) and JSON Feed 1.1 (as JSON) into
items, and an item into the Markdown of an update. Pure functions; the polling is
`workers/feeds.py`.

An item's HTML is reduced to its text (raw HTML in an update's Markdown would be shown as text),
its paragraphs escaped as Markdown text, then its link; the result goes through the renderer and
the sanitizer like every update's body.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import feedparser

MAX_TEXT = 8000  # characters of an item's text put in the update


class FeedError(Exception):
    """A poll that failed in an expected way; its message is the line logged."""


def parse(body: bytes, content_type: str) -> tuple[str, list[dict[str, Any]]]:
    """The feed's title and its items, oldest first: {"id", "title", "html", "text", "link"}.

    JSON Feed by its content type or a leading `{`; anything else goes to feedparser."""
    if "json" in content_type or body.lstrip()[:1] == b"{":
        return _json_feed(body)
    parsed = feedparser.parse(body)
    if parsed.get("bozo") and not parsed.get("entries"):
        raise FeedError(f"not a feed: {parsed.get('bozo_exception')!r}"[:300])
    if not parsed.get("version") and not parsed.get("entries"):
        raise FeedError("not an RSS or Atom feed")
    items = []
    for entry in parsed.entries:
        link = entry.get("link") or ""
        content = entry.get("content") or []
        html = (content[0].get("value") if content else None) or entry.get("summary") or ""
        items.append(_item(entry.get("id") or link, entry.get("title"), html, "", link))
    return str(parsed.feed.get("title") or ""), _ordered(items)


def _json_feed(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/"):
        raise FeedError("not a JSON Feed (no jsonfeed.org version)")
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        raise FeedError("a JSON Feed without an items list")
    items = []
    for entry in raw_items:
        if not isinstance(entry, dict):
            continue
        link = entry.get("url") if isinstance(entry.get("url"), str) else ""
        item_id = entry.get("id")
        item_id = str(item_id) if isinstance(item_id, str | int) and item_id != "" else link
        html = entry.get("content_html") or entry.get("summary") or ""
        text = entry.get("content_text") or ""
        items.append(
            _item(item_id, entry.get("title"), html if isinstance(html, str) else "", text, link or "")
        )
    title = doc.get("title")
    return title if isinstance(title, str) else "", _ordered(items)


def _item(item_id: Any, title: Any, html: str, text: Any, link: str) -> dict[str, Any]:
    return {
        "id": str(item_id or ""),
        "title": title if isinstance(title, str) else "",
        "html": html,
        "text": text if isinstance(text, str) else "",
        "link": link if isinstance(link, str) else "",
    }


def _ordered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Feeds list the newest first: oldest first, each ID once, items without one dropped."""
    seen: set[str] = set()
    out = []
    for item in reversed(items):
        if item["id"] and item["id"] not in seen:
            seen.add(item["id"])
            out.append(item)
    return out


# -- an item as Markdown ---------------------------------------------------------------------------

_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "tr", "hr"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&])")


class _Text(HTMLParser):
    """An HTML fragment's text, a paragraph per block element; scripts and styles dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def _clean(text: str) -> str:
    return " ".join(text.split())


def item_title(item: dict[str, Any], limit: int) -> str | None:
    """The item's title on one line, at most `limit` characters; None when it has none."""
    return _clean(item["title"])[:limit] or None


def item_markdown(item: dict[str, Any]) -> str:
    """The update's body: the item's text, its paragraphs escaped as Markdown text, then its link.

    Raw HTML in an update's Markdown is shown as text, so the item's HTML is reduced to its text
    here; what remains still goes through the renderer and the sanitizer like every update."""
    text = item["text"] or html_text(item["html"])
    paragraphs = [_clean(p) for p in text.split("\n\n")]
    paragraphs = [_MARKDOWN_SPECIAL.sub(r"\\\1", p) for p in paragraphs if p]
    body = "\n\n".join(paragraphs)
    if len(body) > MAX_TEXT:
        body = body[:MAX_TEXT].rstrip("\\") + "…"
    link = item["link"]
    if link and urlsplit(link).scheme in ("http", "https") and not re.search(r"[\s<>]", link):
        body += ("\n\n" if body else "") + f"[Read the original](<{link}>)"
    if not body and item["title"]:
        body = _MARKDOWN_SPECIAL.sub(r"\\\1", _clean(item["title"]))
    return body
