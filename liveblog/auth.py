"""Bot tokens (stored only as hashes), editor passwords (argon2), the per-token rate limit and the
limits on password guessing."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import Forbidden, TooManyRequests, Unauthorized
from .store import Store, now_iso

TOKEN_PREFIX = "lb_"
# argon2id with the OWASP Password Storage Cheat Sheet's first choice: 19 MiB, 2 passes, 1 lane
# (argon2-cffi's default takes 64 MiB a check: 40 logins at once took the server to 1.5 GiB).
# Hashes made with other parameters still verify, and are rehashed at the next login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


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


def needs_rehash(stored: str) -> bool:
    """True when `stored` was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
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

    @property
    def rate_key(self) -> str:
        """Whose budget a write spends: the same through the API and the editor's forms."""
        return f"{self.kind}:{self.name}"

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


FAILURES_BEFORE_DELAY = 3  # a username's failures before each further one waits (0.1 s, doubling, to 3 s)
FAILURES_PER_USERNAME = 20  # failures in FAILURE_WINDOW that lock a username out
FAILURES_PER_ADDRESS = 100  # ... and a client address (a newsroom behind one NAT shares it)
FAILURE_WINDOW = 15 * 60  # seconds


def failure_delay(failures: int) -> float:
    """Seconds a failed login waits before its answer, after the username's `failures`-th failure."""
    if failures < FAILURES_BEFORE_DELAY:
        return 0.0
    return float(min(2 ** (failures - FAILURES_BEFORE_DELAY) * 0.1, 3.0))


class LoginGate:
    """At most `limit` password checks at once in this process; the next one gets 429 at once.

    A password check costs 19 MiB and a core for tens of milliseconds: a queue of them would grow
    without bound under a flood of logins, and so would the server's memory.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("login_concurrency must be >= 1")
        self.limit = limit
        self.running = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if self.running >= self.limit:
            raise TooManyRequests("too many logins at once; try again", headers={"Retry-After": "1"})
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
