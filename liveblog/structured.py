"""Structured data for the reader pages: schema.org JSON-LD and the Open Graph image.

Pure functions over a blog and its updates, no web framework: `live_blog` is the reader page's
`LiveBlogPosting` (one `BlogPosting` per update in `liveBlogUpdate`), `blog_posting` a permalink
page's own `BlogPosting`, as Google's LiveBlogPosting and Article guidance asks (headline,
description, image, dates, author, publisher with name, url and logo, mainEntityOfPage,
inLanguage). Every URL in them is absolute on `origin`: the public URL, or the placeholder that
`urls.localize` turns into the request's origin (the render is shared by every Host).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from .settings import Settings

HEADLINE_CHARS = 110  # Google: a headline of at most 110 characters
DESCRIPTION_CHARS = 200


def absolute(origin: str, url: str) -> str:
    """A path on this site (`/media/...`) made absolute; an https URL as it is."""
    return origin + url if url.startswith("/") else url


def clip(text: str, length: int) -> str:
    """`text` cut to `length` characters, the last one "…" when cut (Jinja's `truncate(length,
    true, "…", 0)`)."""
    return text if len(text) <= length else text[: length - 1] + "…"


def text_of(update: Mapping[str, Any]) -> str:
    """An update's text, without its markup, whitespace collapsed."""
    return Markup(str(update.get("html") or "")).striptags()


def headline(update: Mapping[str, Any]) -> str:
    return clip(str(update.get("title") or "") or text_of(update), HEADLINE_CHARS)


def publisher(settings: Settings, origin: str) -> dict[str, Any]:
    """The Organization that publishes every blog, from `LIVEBLOG_PUBLISHER_*`."""
    return {
        "@type": "Organization",
        "name": settings.publisher_name,
        "url": settings.publisher_url or origin + "/",
        "logo": {"@type": "ImageObject", "url": absolute(origin, settings.publisher_logo)},
    }


def share_image(image: Mapping[str, Any] | None, origin: str) -> dict[str, Any] | None:
    """An update's image or a blog's cover as `og:image` needs it: absolute `url`, and the
    `width`, `height` (an upload's; None when unknown) and `alt`."""
    if not image or not image.get("url"):
        return None
    return {
        "url": absolute(origin, str(image["url"])),
        "width": image.get("width"),
        "height": image.get("height"),
        "alt": image.get("alt") or "",
    }


def image_object(image: Mapping[str, Any] | None, origin: str) -> dict[str, Any] | None:
    shared = share_image(image, origin)
    if shared is None:
        return None
    found: dict[str, Any] = {"@type": "ImageObject", "url": shared["url"]}
    if shared["width"] and shared["height"]:
        found |= {"width": shared["width"], "height": shared["height"]}
    return found


def _author(update: Mapping[str, Any], origin: str) -> dict[str, Any]:
    author = update.get("author") or {}
    found: dict[str, Any] = {
        "@type": "Organization" if author.get("kind") == "bot" else "Person",
        "name": author.get("name") or "liveblog",
    }
    if author.get("avatar"):
        found["image"] = absolute(origin, str(author["avatar"]))
    return found


def update_post(update: Mapping[str, Any], url: str, origin: str) -> dict[str, Any]:
    """One update as a `BlogPosting` at `url`: an entry of `liveBlogUpdate`."""
    post: dict[str, Any] = {
        "@type": "BlogPosting",
        "headline": headline(update),
        "articleBody": text_of(update),
        "datePublished": update.get("published_at"),
        "dateModified": update.get("updated_at") or update.get("published_at"),
        "url": url,
        "author": _author(update, origin),
    }
    image = image_object(update.get("image"), origin)
    if image is not None:
        post["image"] = image
    return post


def live_blog(
    blog: Mapping[str, Any],
    updates: Sequence[Mapping[str, Any]],
    page_url: str,
    origin: str,
    publisher: Mapping[str, Any],
) -> dict[str, Any]:
    """The reader page's `LiveBlogPosting`, with a `BlogPosting` per update shown (each at the
    page's `#update-ID`)."""
    ld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "@id": page_url,
        "url": page_url,
        "mainEntityOfPage": page_url,
        "headline": clip(str(blog.get("title") or ""), HEADLINE_CHARS),
        "description": blog.get("description") or blog.get("title"),
        "inLanguage": blog["lang"],
        "datePublished": blog.get("created_at"),
        "dateModified": blog.get("updated_at"),
        "coverageStartTime": blog.get("created_at"),
    }
    if blog.get("status") == "ended":
        ld["coverageEndTime"] = blog.get("ended_at") or blog.get("updated_at")
    image = image_object(blog.get("cover"), origin)
    if image is not None:
        ld["image"] = image
    ld["publisher"] = publisher
    ld["liveBlogUpdate"] = [update_post(u, f"{page_url}#update-{u['id']}", origin) for u in updates]
    return ld


def blog_posting(
    blog: Mapping[str, Any],
    update: Mapping[str, Any],
    page_url: str,
    origin: str,
    publisher: Mapping[str, Any],
) -> dict[str, Any]:
    """A permalink page's `BlogPosting`: the update, part of its blog's `LiveBlogPosting`; its
    image, else the blog's cover."""
    blog_url = origin + str(blog.get("url") or f"/blogs/{blog['slug']}")
    post = update_post(update, page_url, origin)
    image = post.pop("image", None) or image_object(blog.get("cover"), origin)
    ld: dict[str, Any] = {"@context": "https://schema.org", "@id": page_url, **post}
    ld["description"] = clip(text_of(update), DESCRIPTION_CHARS)
    ld["mainEntityOfPage"] = page_url
    ld["inLanguage"] = blog["lang"]
    if image is not None:
        ld["image"] = image
    ld["publisher"] = publisher
    ld["isPartOf"] = {
        "@type": "LiveBlogPosting",
        "@id": blog_url,
        "url": blog_url,
        "headline": clip(str(blog.get("title") or ""), HEADLINE_CHARS),
    }
    return ld
