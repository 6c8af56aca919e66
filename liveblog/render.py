"""Markdown to safe HTML: markdown-it-py with raw HTML off, then nh3 against an allow-list.

A paragraph that holds only the URL of a known service's post becomes an embed card
(embeds.py): made by this renderer, never from the body's HTML, and let through by the sanitizer
with only the tags, classes and attributes a card needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from .embeds import card, embed_of, framable

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4",
        "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table",
        "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"align"}, "th": {"align"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# An embed card's markup (embeds.card), and nothing more of those tags.
EMBED_TAGS = frozenset({"figure", "figcaption", "button"})
EMBED_ATTRIBUTES = {"figure": {"data-embed-service", "data-embed-src"}, "button": {"type"}}
EMBED_CLASSES = {"figure": {"embed"}, "button": {"embed-load"}}

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable(["table", "strikethrough"])


def _image_as_alt_text(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """`<img>` is not allowed (an update has its own `image`), so a Markdown image shows its alt text
    rather than vanishing with the tag."""
    return escapeHtml(self.renderInlineAsText(tokens[idx].children, options, env))


_markdown.add_render_rule("image", _image_as_alt_text)


def _embeds(state: StateCore) -> None:
    """Each paragraph that holds only a known service's post URL (bare or `<URL>`) becomes one
    `embed` token, rendered as its card."""
    tokens = state.tokens
    for i in range(len(tokens) - 2, 0, -1):
        opening, inline = tokens[i - 1], tokens[i]
        if opening.type != "paragraph_open" or opening.hidden or tokens[i + 1].type != "paragraph_close":
            continue
        text = inline.content.strip()
        if text.startswith("<") and text.endswith(">"):
            text = text[1:-1]
        embed = embed_of(text)
        if embed is not None:
            token = Token("embed", "", 0, block=True, level=opening.level, map=opening.map)
            token.meta = {"embed": embed}
            tokens[i - 1 : i + 2] = [token]


_markdown.core.ruler.push("embeds", _embeds)
_markdown.add_render_rule("embed", lambda self, tokens, idx, options, env: card(tokens[idx].meta["embed"]))


def _attribute(tag: str, name: str, value: str) -> str | None:
    """A card may name only a service's iframe, and its button is only a button."""
    if name == "data-embed-src":
        return value if framable(value) else None
    if name == "type":
        return "button"
    return value


def sanitize(html: str) -> str:
    """Keep only the allow-listed tags, attributes and URL schemes."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS | EMBED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in (ALLOWED_ATTRIBUTES | EMBED_ATTRIBUTES).items()},
        attribute_filter=_attribute,
        allowed_classes={tag: set(classes) for tag, classes in EMBED_CLASSES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def markdown_to_html(source: str) -> str:
    """Render Markdown (raw HTML is shown as text, never passed through) and sanitize it."""
    return sanitize(_markdown.render(source)).strip()
