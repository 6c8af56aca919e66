"""Update and blog documents from requests: validated against models.py's shapes, the body
rendered, the stored update document built.

The bots' API, the editor form, the CLI and the feed bot all call these, then the store.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from .errors import Invalid, PayloadTooLarge
from .models import (
    MAX_HTML_BYTES,
    MAX_NAME,
    Author,
    BlogPatch,
    Draft,
    Image,
    ImageInput,
    MediaDoc,
    NewBlog,
    NewUpdate,
    Update,
    UpdatePatch,
    validate,
)
from .render import markdown_to_html
from .store import now_iso


def name(value: str, field: str = "name") -> str:
    """A user's or token's name, without surrounding spaces: 1 to 100 characters, none of them
    a control character (not even tab or newline), else 422."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(field, "must be valid Unicode text (no lone surrogates)") from None
    value = value.strip()
    if not value or len(value) > MAX_NAME:
        raise Invalid(field, f"1 to {MAX_NAME} characters")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise Invalid(field, "must not contain control characters")
    return value


def render_body(body: str) -> str:
    """The sanitized HTML of a body, or 413 when it would be too large to store and fan out
    (publishing, editing and the editor's preview alike).

    One reference definition used 20,000 times turns 64 KiB of Markdown into tens of megabytes.
    """
    html = markdown_to_html(body)
    if len(html.encode("utf-8")) > MAX_HTML_BYTES:
        raise PayloadTooLarge(f"body: renders to over {MAX_HTML_BYTES} bytes of HTML")
    return html


def _image(image: ImageInput | None, upload: MediaDoc | None = None) -> Image | None:
    """The stored image: the request's, with the upload it names (`upload`, looked up by the caller:
    see `publishing.uploaded`) giving its url, size and srcset."""
    if image is None:
        return None
    stored: Image = {"url": image.url, "alt": image.alt, "caption": image.caption}
    if image.credit:
        stored["credit"] = image.credit
    if upload is not None:
        stored |= {
            "url": upload["url"],
            "media": upload["id"],
            "width": upload["width"],
            "height": upload["height"],
            "srcset": upload["srcset"],
        }
    return stored


def draft(blog: str, request: NewUpdate, author: Author, upload: MediaDoc | None = None) -> Draft:
    """The update document of a validated publish request, without `id` and `url`; renders its body
    (up to a second for hostile Markdown: call it off the event loop). `upload`: the image's upload."""
    now = now_iso()
    return {
        "blog": blog,
        "title": request.title,
        "body": request.body,
        "html": render_body(request.body),
        "image": _image(request.image, upload),
        "author": author,
        "key_event": request.key_event,
        "pinned": request.pinned,
        "published_at": now,
        "updated_at": now,
    }


def edited_update(current: Update, obj: Any) -> Update:
    """Validate an edit and apply it to the current document."""
    return patched(current, validate(UpdatePatch, obj))


def patched(current: Update, patch: UpdatePatch, upload: MediaDoc | None = None) -> Update:
    """The current document with a validated edit applied; `upload`: its image's upload."""
    given = patch.model_fields_set
    update = current.copy()
    if "title" in given:
        update["title"] = patch.title
    if "body" in given:
        update["body"] = patch.body
        update["html"] = render_body(patch.body)
    if "image" in given:
        update["image"] = _image(patch.image, upload)
    if "key_event" in given:
        update["key_event"] = patch.key_event
    if "pinned" in given:
        update["pinned"] = patch.pinned
    if {"title", "body", "image"} & given:  # pinning or marking a key event is not an edit
        update["updated_at"] = now_iso()
    return update


def new_blog(obj: Any) -> tuple[str, str, str, str]:
    """The new blog's slug, title, description and language."""
    request = validate(NewBlog, obj)
    return request.slug, request.title, request.description, request.lang


def blog_changes(obj: Any) -> dict[str, Any]:
    """A blog's validated changes: strings, but `cover`, a `CoverInput` (or None: remove it) that
    `publishing.cover` turns into the stored one."""
    patch = validate(BlogPatch, obj)
    changes: dict[str, Any] = patch.model_dump(exclude_unset=True, exclude={"cover"})
    if "cover" in patch.model_fields_set:
        changes["cover"] = patch.cover
    if not changes:
        raise Invalid("body", "nothing to change: give title, description, status, cover or lang")
    return changes
