"""The desk's users: a user's record, checked once for the desk's forms and the CLI, and the store
calls that add and change one.

A record is `{"name", "password" (argon2), "role", "blogs", "display_name", "avatar", "disabled"}`.
`role` is `admin` (every blog, and the users, tokens, webhooks and feeds), `editor` or
`contributor` (sees the desk of its blogs, may not publish, edit, delete or end). `blogs` is the
slugs an editor or contributor acts on; null (or absent, as in records made before it existed)
means every blog, so an upgrade locks no newsroom out: assigning blogs restricts a user.
What a user may do is decided in one place, `auth.Principal`, built from the record by
`sessions.Editor`. Plain asyncio: the desk (editor.py) and the CLI are the adapters.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from . import auth, updates
from .errors import Conflict, Invalid
from .models import MAX_TEXT
from .store import Store

Role = Literal["admin", "editor", "contributor"]
ROLES: tuple[str, ...] = get_args(Role)
MIN_PASSWORD = 8
MAX_PASSWORD = 1000
# A same-origin path of an uploaded image (MEDIA's /media/...), no `..`, no query.
_MEDIA_PATH = re.compile(r"/media/(?!.*\.\.)[A-Za-z0-9._~/-]+")


def _role(value: str) -> str:
    if value not in ROLES:
        raise Invalid("role", f"must be one of {', '.join(ROLES)}")
    return value


def _display_name(value: str) -> str | None:
    """The byline's name (1 to 100 characters, no control character); empty: the login name."""
    return updates.name(value, "display_name") if value.strip() else None


def _avatar(value: str) -> str | None:
    """An https URL or a `/media/...` path on this site; empty: none."""
    value = value.strip()
    if not value:
        return None
    if len(value) <= MAX_TEXT and not any(c.isspace() or ord(c) < 32 for c in value):
        if _MEDIA_PATH.fullmatch(value):
            return value
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is not None and parts.scheme == "https" and parts.netloc:
            return value
    raise Invalid("avatar", "must be an https:// URL or a /media/... path on this site")


def _password(value: str) -> str:
    if not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise Invalid("password", f"must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return value


async def _blogs(store: Store, slugs: Iterable[str]) -> list[str] | None:
    """The blogs assigned, each an existing blog; none: every blog (stored as null)."""
    chosen = sorted({slug.strip() for slug in slugs if slug.strip()})
    for slug in chosen:
        if await store.get_blog(slug) is None:
            raise Invalid("blogs", f"no blog {slug!r}")
    return chosen or None


async def profile(
    store: Store, *, role: str, blogs: Iterable[str], display_name: str = "", avatar: str = ""
) -> dict[str, Any]:
    """The fields of a record that an admin sets, checked (422 naming the first wrong one)."""
    return {
        "role": _role(role),
        "blogs": await _blogs(store, blogs),
        "display_name": _display_name(display_name),
        "avatar": _avatar(avatar),
    }


async def record(name: str, secret: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A new record: the password hashed off the event loop (tens of milliseconds of a core)."""
    hashed = await asyncio.to_thread(auth.hash_password, _password(secret))
    return {"name": updates.name(name), **fields, "password": hashed}


async def add(store: Store, name: str, secret: str, fields: dict[str, Any]) -> None:
    """Add a user; 409 when the name is taken."""
    new = await record(name, secret, fields)
    if not await store.add_user(new["name"], new):
        raise Conflict(f"a user named {new['name']!r} exists already")


async def reset_password(store: Store, name: str, secret: str) -> bool:
    """A new password, which ends every session of the user; False when there is no such user."""
    hashed = await asyncio.to_thread(auth.hash_password, _password(secret))
    return await store.patch_user(name, {"password": hashed}, end_sessions=True)


def listed(user: dict[str, Any]) -> dict[str, Any]:
    """A user as the desk lists it: no password hash."""
    return {
        "name": user["name"],
        "display_name": user.get("display_name") or "",
        "avatar": user.get("avatar") or "",
        "role": user.get("role") or "editor",
        "blogs": user.get("blogs") or [],
        "disabled": bool(user.get("disabled")),
    }
