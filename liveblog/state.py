"""What the app's lifespan owns, reached through Starlette's lifespan state."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
from starlette.requests import HTTPConnection

from .auth import LoginGate, RateLimiter, SigningKey
from .caching import RenderCache
from .hub import Hub
from .i18n import Localized
from .media import UPLOAD_THREADS
from .redis_client import AsyncClient
from .settings import Settings
from .store import Store


@dataclass
class AppState:
    settings: Settings
    redis: AsyncClient
    store: Store
    hub: Hub
    rate_limiter: RateLimiter
    templates: Localized  # one Jinja2Templates per language
    signing_key: SigningKey
    login_gate: LoginGate
    renders: RenderCache = field(default_factory=RenderCache)
    # Uploads processed at once (made in the lifespan's running loop, as anyio wants).
    uploads: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(UPLOAD_THREADS))


def state_of(conn: HTTPConnection) -> AppState:
    state: AppState = conn.state.liveblog
    return state
