"""Editors' sessions: who is logged in, CSRF tokens, and slowing down password guessing.

The session itself is Starlette's signed, HttpOnly, SameSite cookie (itsdangerous); this
module keeps in it the user's name and a random CSRF secret, and derives the form token
from that secret with an HMAC keyed by the app's secret key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request

from . import auth
from .errors import Forbidden
from .state import state_of


def csrf_key(secret_key: str) -> bytes:
    return hashlib.sha256(b"liveblog csrf\0" + secret_key.encode()).digest()


@functools.cache
def dummy_hash() -> str:
    """Verifying against this when the user does not exist costs as long as a real check,
    so the response time does not tell which half was wrong."""
    return auth.hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Editor:
    name: str
    role: str

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    @property
    def author(self) -> dict[str, str]:
        return {"name": self.name, "kind": "editor"}

    def principal(self) -> auth.Principal:
        return auth.Principal(self.name, "editor", None, admin=self.admin)


def csrf_token(request: Request) -> str:
    """The form token: an HMAC of this session's random CSRF secret (created on first use)."""
    secret = request.session.get("csrf")
    if not isinstance(secret, str):
        secret = request.session["csrf"] = secrets.token_urlsafe(32)
    return hmac.new(state_of(request).csrf_key, secret.encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Request, sent: object) -> None:
    """403 unless `sent` is this session's CSRF token."""
    if not isinstance(sent, str) or not isinstance(request.session.get("csrf"), str):
        raise Forbidden("missing CSRF token: reload the page and try again")
    if not hmac.compare_digest(sent.encode(), csrf_token(request).encode()):
        raise Forbidden("wrong CSRF token: reload the page and try again")


async def checked_form(request: Request) -> FormData:
    """The POSTed form, or 403 when its `csrf` field is missing or wrong."""
    form = await request.form(max_files=0, max_fields=50)
    check_csrf(request, form.get("csrf"))
    return form


async def current_editor(request: Request) -> Editor | None:
    name = request.session.get("user")
    if not isinstance(name, str):
        return None
    user = await state_of(request).store.get_user(name)
    if user is None:  # removed since login
        request.session.pop("user", None)
        request.session.pop("role", None)
        return None
    return Editor(name, str(user.get("role") or "editor"))
