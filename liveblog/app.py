"""The ASGI application: wiring of store, hub, transports, API and pages in one lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisClusterException, RedisError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import api, desk_drafts, drafts_api, editor, feeds, metrics, openapi, pages, runner, security, uploads
from .assets import Assets
from .auth import LoginGate, RateLimiter, SigningKey
from .caching import LONGER, NO_STORE, Rendered, error_headers, rendered
from .compression import Compression
from .dispatch import STREAM_ROUTES, Streams
from .embedded import EmbeddedRedis
from .errors import Forbidden, LiveblogError, Unavailable
from .hub import Hub
from .i18n import Localized
from .problems import problem
from .redis_client import UNAVAILABLE, AsyncClient, connect
from .render import markdown_to_html
from .security import SecurityHeaders
from .sessions import SESSION_LIFETIME, dummy_hash
from .settings import Settings
from .state import AppState, state_of
from .store import Store

log = logging.getLogger("liveblog")
PACKAGE_DIR = Path(__file__).parent


def static_dir() -> Path:
    """The static files: `liveblog/static` in an installed wheel, else `static/` of the checkout.

    The repository keeps `static/` at its top (DESIGN.md's layout) and the wheel ships it as
    `liveblog/static` (pyproject.toml); an editable install runs from the checkout.
    """
    packaged = resources.files("liveblog") / "static"
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = PACKAGE_DIR.parent / "static"
    if checkout.is_dir():
        return checkout
    raise RuntimeError(f"liveblog's static files are missing: neither {packaged} nor {checkout} exists")


# CPython's default collector (a young collection every 700 allocations; a full one whenever the
# old generation grew by a quarter) scans every connection's objects over and over while readers
# connect: in a reconnect storm of 10,000 readers, full collections took 3.7 s of its 7.5 s.
# Young collections every 50,000 allocations instead, and the objects of the startup (modules,
# routes, templates) frozen out of every scan. Cyclic garbage still goes, a little later.
GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> None:
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _problem(request: Request, exc: LiveblogError) -> Response:
    path = request.scope["path"]  # not `request.url`: that parses the Host, which may be junk
    headers = {**error_headers(request, exc.status), **exc.headers}
    if path.startswith("/api/") or path in ("/openapi.json", "/metrics"):
        return problem(exc, headers)
    templates: Localized = request.app.state.templates
    context = {"status": exc.status, "title": exc.title, "detail": exc.detail}
    return templates.TemplateResponse(request, "error.html", context, status_code=exc.status, headers=headers)


async def on_liveblog_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LiveblogError)
    return _problem(request, exc)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = LiveblogError(exc.detail, headers=dict(exc.headers or {}))
    error.status, error.title = exc.status_code, exc.detail
    if exc.status_code == 404:
        error.detail = f"nothing at {request.scope['path']}"
    return _problem(request, error)


async def on_redis_error(request: Request, exc: Exception) -> Response:
    log.warning("store unreachable: %s", exc)
    return _problem(request, Unavailable("the store is unreachable; retry shortly"))


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug's 500, as a page or problem+json like every other error. Starlette sends it from
    outside every middleware (and raises `exc` on, to be logged): so the headers are set here.
    `Connection: close`, because uvicorn closes the connection of a request that raised: without
    it a client would send its next request on a connection about to close, and lose it."""
    response = _problem(request, LiveblogError())
    for name, value in security.HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["connection"] = "close"
    return response


# A health check must reach the process: a cached answer would hide a dead one.
UNCACHED = {"Cache-Control": NO_STORE}


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok", headers=UNCACHED)


async def readyz(request: Request) -> Response:
    try:
        await state_of(request).store.ping()
    except UNAVAILABLE as exc:
        return PlainTextResponse(f"store unreachable: {exc}", 503, headers={"Retry-After": "2", **UNCACHED})
    return PlainTextResponse("ready", headers=UNCACHED)


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:  # a unix socket's peer, say: no address
        return False


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text, for the bearer of `LIVEBLOG_METRICS_TOKEN` when it is set, else for
    loopback clients only (127.0.0.0/8, ::1). Others get 403: the path is documented anyway, so a
    404 would hide nothing, and 403 tells an operator what is wrong."""
    token = state_of(request).settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        allowed = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
        if not allowed:
            raise Forbidden("send Authorization: Bearer with the metrics token")
    elif not _loopback(request.client.host if request.client else None):
        raise Forbidden("metrics answer to loopback clients only (or set LIVEBLOG_METRICS_TOKEN)")
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST, headers=UNCACHED)


class Sessions:
    """Starlette's SessionMiddleware, made at the first request with the lifespan's key.

    Several nodes on one Redis must sign with one key: with none configured, it is kept in Redis
    (`auth.SigningKey`), which only the lifespan reaches, after the middleware stack is built.
    So this wrapper builds SessionMiddleware, unchanged, once the key is known; until then (Redis
    away since startup) a request gets an empty session that is neither read nor written.
    """

    def __init__(self, app: ASGIApp, *, cookie: str, max_age: int, https_only: bool) -> None:
        self.app = app
        self.options: dict[str, Any] = {
            "session_cookie": cookie,
            "max_age": max_age,
            "same_site": "lax",
            "https_only": https_only,
        }
        self._inner: SessionMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self._inner is None:
            state: AppState = scope["state"]["liveblog"]
            key = await state.signing_key.resolve()
            if key is None:
                scope["session"] = {}
                await self.app(scope, receive, send)
                return
            self._inner = SessionMiddleware(self.app, secret_key=key, **self.options)
        await self._inner(scope, receive, send)


# Seconds the in-process workers have to hand back their work at shutdown (uvicorn's graceful
# shutdown gives the connections 5).
WORKERS_GRACE = 5.0


@contextlib.asynccontextmanager
async def in_process_workers(settings: Settings, client: AsyncClient, store: Store) -> AsyncIterator[None]:
    """Every installed worker runs in this process while the app runs, unless
    `LIVEBLOG_IN_PROCESS_WORKERS=0` (or `serve --no-workers`): a `liveblog worker` runs them."""
    if not settings.in_process_workers:
        yield
        return
    ctx = runner.Context(store, settings, client, asyncio.Event(), runner.log)
    task = asyncio.get_running_loop().create_task(
        runner.run_workers((), ctx, grace=WORKERS_GRACE), name="workers"
    )
    try:
        yield
    finally:
        ctx.stop.set()
        try:
            await task
        except Exception:
            log.exception("in-process workers failed")


# /openapi.json and /docs are the same for the process's life: rendered once into the render
# cache under a blog slug no blog can have (""), compressed once, revalidated by ETag.
_FIXED = "fixed"


async def openapi_endpoint(request: Request) -> Response:
    renders = state_of(request).renders

    async def build() -> Rendered:
        return rendered(_FIXED, bytes(JSONResponse(openapi.spec()).body))

    entry = await renders.get("", "openapi.json", _FIXED, build)
    return await renders.serve(request, entry, "application/json", {}, cache_control=LONGER)


async def docs_page(request: Request) -> Response:
    """The API's documentation: Swagger UI (static/vendor/swagger-ui) rendering /openapi.json,
    started by static/js/docs.js; the page's policy is the site's own."""
    state = state_of(request)

    async def build() -> Rendered:
        return rendered(_FIXED, state.templates.get_template("docs.html").render().encode("utf-8"))

    entry = await state.renders.get("", "docs", _FIXED, build)
    return await state.renders.serve(request, entry, "text/html", {}, cache_control=LONGER)


def create_app(settings: Settings | None = None, *, static: Path | None = None) -> Streams:
    """The app; `static`: its static files' directory (by default `static_dir()`)."""
    settings = settings or Settings.from_env()
    templates = Localized(PACKAGE_DIR / "templates")
    assets = Assets(static or static_dir())
    for language in templates.by_language.values():
        language.env.globals["static_url"] = assets.url

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, AppState]]:
        embedded = None
        url = settings.redis_url
        if url is None:
            embedded = EmbeddedRedis(settings.data_dir)
            url = embedded.start(supervise=True)
        client = connect(url, cluster=settings.redis_cluster)
        reader = connect(url, cluster=settings.redis_cluster, blocking=True)
        store = Store(
            client,
            stream_maxlen=settings.stream_maxlen,
            wait_replicas=settings.redis_wait_replicas,
            wait_timeout=settings.redis_wait_timeout,
        )
        try:
            await store.migrate()
        except (RedisError, OSError) as exc:  # Redis away: start anyway (the CLI migrates too)
            log.warning("could not move keys to the current layout, Redis is unreachable: %s", exc)
        hub = Hub(
            store,
            reader,
            queue_size=settings.queue_size,
            ring_size=settings.ring_size,
            ring_bytes=settings.ring_bytes,
            replay_max_events=settings.replay_max_events,
            replay_max_bytes=settings.replay_max_bytes,
            streams_per_client=settings.streams_per_ip,
            replay_bytes_per_client=settings.replay_bytes_per_ip,
            ping_interval=settings.ping_interval,
            stall_timeout=settings.send_timeout,
            audience_interval=settings.audience_interval,
        )
        own_redis = embedded is not None or url == EmbeddedRedis(settings.data_dir).url
        signing_key = SigningKey(settings, store, embedded=own_redis)
        await signing_key.resolve()
        # Posts are rendered on a worker thread, which starts with the first render: start it
        # now, or the first post after a start waits for it (35 ms with 19,000 readers).
        await run_in_threadpool(markdown_to_html, "")
        # The stand-in hash for unknown usernames is made once, here: made by the first login, it
        # held the event loop for 66 ms.
        await run_in_threadpool(dummy_hash)
        tune_gc()
        state = AppState(
            settings,
            client,
            store,
            hub,
            RateLimiter(store, settings.rate_limit),
            templates,
            signing_key,
            LoginGate(settings.login_concurrency),
        )
        try:
            async with in_process_workers(settings.with_(redis_url=url), client, store):
                yield {"liveblog": state}
        finally:
            await hub.close()
            await reader.aclose()
            await client.aclose()
            if embedded is not None:
                embedded.stop()
            metrics.process_exited()

    api_mount = Mount(
        "/api/v1", routes=[*api.routes(), *drafts_api.routes(), *uploads.api_routes(), *STREAM_ROUTES]
    )
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/openapi.json", openapi_endpoint),
            Route("/docs", docs_page),
            api_mount,
            Mount("/static", assets, name="static"),
            *feeds.routes(),
            *uploads.routes(),
            *editor.routes(),
            *desk_drafts.routes(),
            *pages.routes(),
        ],
        exception_handlers={
            LiveblogError: on_liveblog_error,
            HTTPException: on_http_error,
            RedisError: on_redis_error,
            RedisClusterException: on_redis_error,  # no RedisError: SlotNotCoveredError, say
            ConnectionError: on_redis_error,
            Exception: on_unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.templates = templates
    app.add_middleware(
        Sessions,
        cookie="liveblog_session",
        max_age=SESSION_LIFETIME,
        https_only=settings.secure_cookies or (settings.public_url or "").startswith("https://"),
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Compression)
    return Streams(app, api_mount, STREAM_ROUTES)
