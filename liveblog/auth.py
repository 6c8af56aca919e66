"""Bot tokens (stored only as hashes), editor passwords (argon2) and the per-token rate limit."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import Forbidden, TooManyRequests, Unauthorized
from .store import Store, now_iso

TOKEN_PREFIX = "lb_"
_hasher = PasswordHasher()


def token_digest(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 is the right hash (argon2 is for passwords)."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is writing: a bot token or an editor."""

    name: str
    kind: str  # "bot" or "editor"
    blogs: tuple[str, ...] | None  # None: every blog
    admin: bool = False

    @property
    def author(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind}

    def require_blog(self, slug: str) -> None:
        if self.blogs is not None and slug not in self.blogs:
            raise Forbidden(f"{self.kind} {self.name!r} may not write to blog {slug!r}")

    def require_admin(self) -> None:
        if not self.admin:
            raise Forbidden("only an admin (or a token not limited to some blogs) may do this")


async def create_token(store: Store, name: str, blogs: list[str] | None) -> str | None:
    """A new token for `name` (None when the name is taken); only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record: dict[str, Any] = {"name": name, "blogs": blogs or None, "created_at": now_iso()}
    return token if await store.put_token(token_digest(token), record) else None


async def bearer(store: Store, authorization: str | None) -> Principal:
    """The bot behind an `Authorization: Bearer` header, or 401."""
    if not authorization:
        raise Unauthorized("an Authorization: Bearer token is required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use Authorization: Bearer TOKEN")
    record = await store.get_token(token_digest(token.strip()))
    if record is None:
        raise Unauthorized("unknown or revoked token")
    blogs = tuple(record["blogs"]) if record.get("blogs") else None
    return Principal(record["name"], "bot", blogs, admin=blogs is None)


class RateLimiter:
    """A token bucket per principal, in this process: `rate` writes a minute, bursts of the same."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, key: str) -> None:
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - stamp) * self.refill)
        if tokens < 1.0:
            retry = max(1, int((1.0 - tokens) / self.refill + 0.999))
            self._buckets[key] = (tokens, now)
            raise TooManyRequests("rate limit exceeded", headers={"Retry-After": str(retry)})
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 120}


FAILURES_BEFORE_DELAY = 3
FAILURES_BEFORE_REFUSAL = 20
FAILURE_WINDOW = 15 * 60.0


class LoginFailures:
    """Failed logins per client address and username, in this process, to slow down guessing."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, float]] = {}

    def count(self, key: str) -> int:
        failures, stamp = self._seen.get(key, (0, 0.0))
        return failures if time.monotonic() - stamp < FAILURE_WINDOW else 0

    def add(self, key: str) -> int:
        now = time.monotonic()
        failures = self.count(key) + 1
        self._seen[key] = (failures, now)
        if len(self._seen) > 10_000:
            self._seen = {k: v for k, v in self._seen.items() if now - v[1] < FAILURE_WINDOW}
        return failures

    def clear(self, key: str) -> None:
        self._seen.pop(key, None)
