"""Bot tokens (stored only as hashes), editor passwords (argon2), the per-token rate limit and the
limits on password guessing."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool

from .errors import Forbidden, TooManyRequests, Unauthorized, Unavailable
from .models import Author, AuthorKind
from .redis_client import UNAVAILABLE
from .settings import Settings
from .store import Store, now_iso

log = logging.getLogger("liveblog")
TOKEN_PREFIX = "lb_"
# Users' roles: an admin does everything; an editor writes, publishes and manages updates; a
# contributor writes drafts only, which an editor or admin publishes.
ROLES = ("admin", "editor", "contributor")
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
    """Who is writing: a bot token or an editor, and what they may do: the one place that decides.

    `blogs` None: every blog. An editor's comes from their user record (`sessions.Editor`): an
    admin's is None, and so is that of a user without assigned blogs (records made before blogs
    could be assigned). `publishes` False: a contributor, who may see their blogs' desk but not
    publish, edit, delete, pin, schedule, cancel or end there."""

    name: str
    kind: AuthorKind
    blogs: tuple[str, ...] | None  # None: every blog
    admin: bool = False
    publishes: bool = True
    display_name: str | None = None
    avatar: str | None = None

    def require_publisher(self) -> None:
        """403 for a contributor: they write drafts; an editor publishes and manages updates."""
        if not self.publishes:
            raise Forbidden("a contributor writes drafts only: an editor publishes and manages updates")

    @property
    def author(self) -> Author:
        """The byline of what they publish: an editor's display name (else login name) and avatar."""
        if self.kind == "bot":
            return {"name": self.name, "kind": self.kind}
        return {"name": self.display_name or self.name, "kind": self.kind, "avatar": self.avatar}

    @property
    def rate_key(self) -> str:
        """Whose budget a write spends: the same through the API and the editor's forms."""
        return f"{self.kind}:{self.name}"

    def allows(self, slug: str) -> bool:
        return self.blogs is None or slug in self.blogs

    def require_blog(self, slug: str) -> None:
        """403 unless they may act on (or, on the desk, see) blog `slug`."""
        if not self.allows(slug):
            raise Forbidden(f"{self.kind} {self.name!r} may not write to blog {slug!r}")

    def require_write(self, slug: str) -> None:
        """403 unless they may change blog `slug`: publish, edit, delete, pin, end, schedule, cancel."""
        self.require_blog(slug)
        if not self.publishes:
            raise Forbidden(
                f"contributor {self.name!r} may not publish, edit, delete or end on blog {slug!r}"
            )

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
    """`per_minute` writes a minute per principal, in bursts of as many, counted in Redis so the
    limit holds across worker processes and nodes.

    One Lua script (GCRA over one key per principal, see `scripts.lua`) rather than the `limits`
    library's Redis storage: one round trip and one small key per writer, Redis's clock rather
    than each node's, no further dependency (`limits`' async Redis storage brings `coredis`), and
    the key layout stays in the store with the others.
    """

    def __init__(self, store: Store, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("rate_limit must be >= 1")
        self.store = store
        self.per_minute = per_minute

    async def check(self, key: str) -> None:
        wait = await self.store.rate_limit(key, self.per_minute)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise TooManyRequests("rate limit exceeded", headers={"Retry-After": str(retry)})


class SigningKey:
    """The key that signs session cookies and CSRF tokens: `LIVEBLOG_SECRET_KEY`; else, on the
    embedded Redis, the one generated once into the data dir; else the one key that every node
    of this Redis shares, kept in it (`Store.shared_secret_key`).

    A node must start, and answer `/healthz` and 503s, while its Redis is away; so the shared key
    is read at startup when Redis answers, else at the first request after it comes back (at
    most one try a second). Until then there is no session to read or sign.
    """

    RETRY = 1.0  # seconds between two tries while Redis is away

    def __init__(self, settings: Settings, store: Store, *, embedded: bool) -> None:
        self.value: str | None = settings.secret_key or None
        self._settings, self._store, self._embedded = settings, store, embedded
        self._next_try = 0.0

    async def resolve(self) -> str | None:
        """The key, or None while Redis cannot give it."""
        if self.value is None and self._embedded:
            self.value = await run_in_threadpool(self._settings.resolved_secret_key)
        if self.value is not None or time.monotonic() < self._next_try:
            return self.value
        self._next_try = time.monotonic() + self.RETRY
        try:
            self.value = await self._store.shared_secret_key()
        except UNAVAILABLE as exc:
            log.warning("no shared secret key yet, Redis is unreachable: %s", exc)
        return self.value

    @property
    def csrf(self) -> bytes:
        if self.value is None:
            raise Unavailable("the store is unreachable; retry shortly")
        return csrf_key(self.value)


def csrf_key(secret_key: str) -> bytes:
    return hashlib.sha256(b"liveblog csrf\0" + secret_key.encode()).digest()


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
