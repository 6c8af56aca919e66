"""Editors' sessions: who is logged in, CSRF tokens, and the size of the forms they post.

The cookie is Starlette's signed, HttpOnly, SameSite one (itsdangerous); this module keeps in
it the user's name, a session ID and a random CSRF secret, and derives the form token from that
secret with an HMAC keyed by the app's secret key. A signed cookie alone would stay valid for
as long as it is signed, wherever it was copied; so the session ID must also be open in the
store (`Store.session_user`), checked on every request: logout closes it, a password reset,
`user disable` and `user remove` close all of the user's sessions.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request

from . import auth
from .bodies import read_form
from .errors import Forbidden
from .models import Author
from .state import state_of

SESSION_LIFETIME = 14 * 24 * 3600  # seconds from login; the cookie's max-age too
MAX_FORM_BYTES = 8 * 1024  # login, logout and the admin's forms
MAX_UPDATE_FORM_BYTES = 256 * 1024  # an update's form: 64 KiB of Markdown, encoded, and its fields


@functools.cache
def dummy_hash() -> str:
    """Verifying against this when the user does not exist costs as long as a real check,
    so the response time does not tell which half was wrong."""
    return auth.hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Editor:
    """A logged-in user, as their record stands at this request (see people.py for its fields)."""

    name: str
    role: str
    blogs: tuple[str, ...] | None = None  # None: every blog
    display_name: str | None = None
    avatar: str | None = None

    @classmethod
    def of(cls, record: dict[str, Any]) -> Editor:
        blogs = record.get("blogs")
        return cls(
            name=str(record["name"]),
            role=str(record.get("role") or "editor"),
            blogs=tuple(blogs) if blogs else None,
            display_name=record.get("display_name") or None,
            avatar=record.get("avatar") or None,
        )

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    @property
    def contributor(self) -> bool:
        return self.role == "contributor"

    @property
    def publishes(self) -> bool:
        return not self.contributor

    @property
    def author(self) -> Author:
        return self.principal().author

    def principal(self) -> auth.Principal:
        return auth.Principal(
            self.name,
            "editor",
            None if self.admin else self.blogs,
            admin=self.admin,
            publishes=self.publishes,
            display_name=self.display_name,
            avatar=self.avatar,
        )


def csrf_token(request: Request) -> str:
    """The form token: an HMAC of this session's random CSRF secret (created on first use)."""
    secret = request.session.get("csrf")
    if not isinstance(secret, str):
        secret = request.session["csrf"] = secrets.token_urlsafe(32)
    return hmac.new(state_of(request).signing_key.csrf, secret.encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Request, sent: object) -> None:
    """403 unless `sent` is this session's CSRF token."""
    if not isinstance(sent, str) or not isinstance(request.session.get("csrf"), str):
        raise Forbidden("missing CSRF token: reload the page and try again")
    if not hmac.compare_digest(sent.encode(), csrf_token(request).encode()):
        raise Forbidden("wrong CSRF token: reload the page and try again")


async def checked_form(request: Request, limit: int = MAX_FORM_BYTES, *, files: int = 0) -> FormData:
    """The POSTed form, at most `limit` bytes (else 413, before any parsing) with at most `files`
    files, or 403 when its `csrf` field is missing or wrong."""
    form = await read_form(request, limit, max_files=files)
    check_csrf(request, form.get("csrf"))
    return form


def log_in(request: Request, name: str, session_id: str) -> None:
    """Start the cookie's side of a session opened in the store, with a new CSRF secret."""
    request.session.clear()
    request.session["user"] = name
    request.session["sid"] = session_id
    request.session["csrf"] = secrets.token_urlsafe(32)  # rotate on login


async def log_out(request: Request) -> None:
    """Close this session in the store, so a copy of the cookie no longer opens it either."""
    name, session_id = request.session.get("user"), request.session.get("sid")
    if isinstance(name, str) and isinstance(session_id, str):
        await state_of(request).store.end_session(name, session_id)
    request.session.clear()


async def current_editor(request: Request) -> Editor | None:
    """The editor of this request's session, while the store holds it open and the user enabled."""
    name, session_id = request.session.get("user"), request.session.get("sid")
    if not isinstance(name, str) or not isinstance(session_id, str):
        return None
    user = await state_of(request).store.session_user(name, session_id)
    if user is None or user.get("disabled"):  # logged out, reset, disabled or removed since login
        for key in ("user", "sid"):
            request.session.pop(key, None)
        return None
    return Editor.of({**user, "name": name})
