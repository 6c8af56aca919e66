"""Validation of update and blog payloads, and building the stored update document.

The bots' API, the editor form and the CLI all call these, then the store.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .errors import Invalid, PayloadTooLarge
from .render import markdown_to_html
from .store import SLUG, now_iso

MAX_BODY_BYTES = 64 * 1024
MAX_HTML_BYTES = 8 * MAX_BODY_BYTES  # ordinary Markdown grows 1-4x; reference links can grow 1000x
MAX_TITLE = 300
MAX_TEXT = 2000
MAX_NAME = 100  # user and token names
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
NEW_UPDATE_FIELDS = {"title", "body", "key_event", "pinned", "image", "scheduled_at"}
PATCH_UPDATE_FIELDS = {"title", "body", "key_event", "pinned", "image"}
NEW_BLOG_FIELDS = {"slug", "title", "description"}
PATCH_BLOG_FIELDS = {"title", "description", "status"}


def _printable(name: str) -> str:
    """A client's field name, safe to echo in an error: short, and no lone surrogates."""
    return name[:100].encode("utf-8", "backslashreplace").decode("utf-8")


def _check_fields(obj: Any, allowed: set[str], required: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    if not isinstance(obj, dict):
        raise Invalid("body", "the request body must be a JSON object")
    for name in obj:
        if name not in allowed:
            raise Invalid(_printable(name), "unknown field")
    for name in sorted(required):
        if name not in obj:
            raise Invalid(name, "field required")
    return obj


def _unicode(value: str, name: str) -> str:
    """Text that every output can carry, else 422: JSON's `\\ud800` escapes decode to lone surrogates,
    which no UTF-8 response can encode, and C0 controls (but tab and newlines) are not allowed in XML."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(name, "must be valid Unicode text (no lone surrogates)") from None
    if _CONTROL.search(value):
        raise Invalid(name, "must not contain control characters")
    return value


def name(value: str, field: str = "name") -> str:
    """A user's or token's name, without surrounding spaces: 1 to 100 characters, none of them
    a control character (not even tab or newline), else 422."""
    value = _unicode(value, field).strip()
    if not value or len(value) > MAX_NAME:
        raise Invalid(field, f"1 to {MAX_NAME} characters")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise Invalid(field, "must not contain control characters")
    return value


def _string(obj: dict[str, Any], name: str, *, limit: int, nullable: bool = False, empty: bool = True) -> Any:
    value = obj[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise Invalid(name, "must be a string" + (" or null" if nullable else ""))
    _unicode(value, name)
    if len(value) > limit:
        raise Invalid(name, f"must be at most {limit} characters")
    if not empty and not value.strip():
        raise Invalid(name, "must not be empty")
    return value


def _bool(obj: dict[str, Any], name: str) -> bool:
    value = obj[name]
    if not isinstance(value, bool):
        raise Invalid(name, "must be true or false")
    return value


def _body(obj: dict[str, Any]) -> str:
    body = obj["body"]
    if not isinstance(body, str):
        raise Invalid("body", "must be a string (Markdown)")
    if len(_unicode(body, "body").encode("utf-8")) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: Markdown over {MAX_BODY_BYTES} bytes")
    if not body.strip():
        raise Invalid("body", "must not be empty")
    return body


def render_body(body: str) -> str:
    """The sanitized HTML of a body, or 413 when it would be too large to store and fan out
    (publishing, editing and the editor's preview alike).

    One reference definition used 20,000 times turns 64 KiB of Markdown into tens of megabytes.
    """
    html = markdown_to_html(body)
    if len(html.encode("utf-8")) > MAX_HTML_BYTES:
        raise PayloadTooLarge(f"body: renders to over {MAX_HTML_BYTES} bytes of HTML")
    return html


def _image(obj: dict[str, Any]) -> dict[str, str] | None:
    image = obj["image"]
    if image is None:
        return None
    if not isinstance(image, dict):
        raise Invalid("image", "must be an object with url, alt and caption, or null")
    for name in image:
        if name not in {"url", "alt", "caption"}:
            raise Invalid(f"image.{_printable(name)}", "unknown field")
    url = image.get("url")
    if not isinstance(url, str) or len(url) > MAX_TEXT:
        raise Invalid("image.url", "must be a string")
    _unicode(url, "image.url")
    try:
        parts = urlsplit(url)
    except ValueError:  # "https://[x": an unclosed IPv6 literal, or a host that NFKC turns into "/"
        raise Invalid("image.url", "must be an https:// URL") from None
    if parts.scheme != "https" or not parts.netloc:
        raise Invalid("image.url", "must be an https:// URL")
    if "alt" not in image:  # required, even if empty: say "" for a decorative image
        raise Invalid("image.alt", "required: the image's text alternative")
    alt, caption = image["alt"], image.get("caption", "")
    if not isinstance(alt, str) or len(alt) > MAX_TEXT:
        raise Invalid("image.alt", "must be a string")
    if not isinstance(caption, str) or len(caption) > MAX_TEXT:
        raise Invalid("image.caption", "must be a string")
    _unicode(alt, "image.alt")
    _unicode(caption, "image.caption")
    return {"url": url, "alt": alt, "caption": caption}


def parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise Invalid(name, "must be an RFC 3339 date-time string")
    try:  # RFC 3339 allows a lower-case "t" and "z"; fromisoformat() does not
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(name, "must be an RFC 3339 date-time string") from None
    if moment.tzinfo is None:
        raise Invalid(name, "must carry a time zone (e.g. Z)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # "0001-01-01T00:00:00+01:00" is before year 1 in UTC
        raise Invalid(name, "must be a time between the years 1 and 9999 in UTC") from None


MAX_SCHEDULE_AHEAD = timedelta(days=366)


def scheduled_time(obj: dict[str, Any]) -> datetime | None:
    """When a publish request asks to be published (None: now; a past time also means now)."""
    value = obj.get("scheduled_at")
    if value is None:
        return None
    moment = parse_time(value, "scheduled_at")
    if moment - datetime.now(UTC) > MAX_SCHEDULE_AHEAD:
        raise Invalid("scheduled_at", "must be within a year from now")
    return moment


def new_update(blog: str, obj: Any, author: dict[str, str]) -> dict[str, Any]:
    """Validate a publish request; returns the update document without `id` and `url`."""
    obj = _check_fields(obj, NEW_UPDATE_FIELDS, {"body"})
    body = _body(obj)
    scheduled_time(obj)  # validated here, used by the caller
    now = now_iso()
    return {
        "blog": blog,
        "title": _string(obj, "title", limit=MAX_TITLE, nullable=True) if "title" in obj else None,
        "body": body,
        "html": render_body(body),
        "image": _image(obj) if "image" in obj else None,
        "author": author,
        "key_event": _bool(obj, "key_event") if "key_event" in obj else False,
        "pinned": _bool(obj, "pinned") if "pinned" in obj else False,
        "published_at": now,
        "updated_at": now,
    }


def edited_update(current: dict[str, Any], obj: Any) -> dict[str, Any]:
    """Validate an edit and apply it to the current document."""
    obj = _check_fields(obj, PATCH_UPDATE_FIELDS)
    update = dict(current)
    if "title" in obj:
        update["title"] = _string(obj, "title", limit=MAX_TITLE, nullable=True)
    if "body" in obj:
        update["body"] = _body(obj)
        update["html"] = render_body(update["body"])
    if "image" in obj:
        update["image"] = _image(obj)
    for flag in ("key_event", "pinned"):
        if flag in obj:
            update[flag] = _bool(obj, flag)
    if {"title", "body", "image"} & obj.keys():  # pinning or marking a key event is not an edit
        update["updated_at"] = now_iso()
    return update


def new_blog(obj: Any) -> tuple[str, str, str]:
    obj = _check_fields(obj, NEW_BLOG_FIELDS, {"slug", "title"})
    slug = _string(obj, "slug", limit=64)
    if not SLUG.fullmatch(slug):  # not match(): its `$` also matches before a trailing newline
        raise Invalid("slug", "lowercase letters, digits and hyphens, 1 to 64 characters")
    title = _string(obj, "title", limit=MAX_TITLE, empty=False)
    description = _string(obj, "description", limit=MAX_TEXT) if "description" in obj else ""
    return slug, title, description


def blog_changes(obj: Any) -> dict[str, str]:
    obj = _check_fields(obj, PATCH_BLOG_FIELDS)
    changes = {}
    if "title" in obj:
        changes["title"] = _string(obj, "title", limit=MAX_TITLE, empty=False)
    if "description" in obj:
        changes["description"] = _string(obj, "description", limit=MAX_TEXT)
    if "status" in obj:
        if obj["status"] not in ("live", "ended"):
            raise Invalid("status", "must be 'live' or 'ended'")
        changes["status"] = obj["status"]
    if not changes:
        raise Invalid("body", "nothing to change: give title, description or status")
    return changes
