"""The readers' streams, straight to their handlers; everything else to the Starlette app.

A reader's connection lasts for hours and there are tens of thousands of them: every layer of
middleware and routing it passed through would stay alive for each reader (memory), run for
each connection (CPU in a reconnect storm) and wrap each event's `send`. So a small ASGI app in
front matches the stream routes with Starlette's own `matches` (the routes are declared once,
in `STREAM_ROUTES`, and are in the API's mount of the Starlette app as well: there other
methods get their 405 and the OpenAPI walk finds them) and calls their handlers with the server's own
`receive` and `send`. The handlers answer their own errors (sse.py, ws.py) and the SSE response
carries the security headers itself; they need no session.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from . import sse, ws


class Endpoint:
    """An ASGI function as a route's endpoint (Starlette calls a plain function with a request)."""

    __slots__ = ("handler",)

    def __init__(self, handler: ASGIApp) -> None:
        self.handler = handler

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return self.handler(scope, receive, send)


# Beneath the API's mount (`/api/v1`): the SSE stream and the WebSocket one.
STREAM_ROUTES: list[BaseRoute] = [
    Route("/blogs/{slug}/events", Endpoint(sse.stream), methods=["GET"]),
    WebSocketRoute("/blogs/{slug}/ws", Endpoint(ws.endpoint)),
]


class Streams:
    """Pure ASGI: a request that fully matches one of `streams` beneath `mount` (which holds
    them too) goes to it at once, the rest to `app`, the Starlette app that holds `mount`."""

    def __init__(self, app: Starlette, mount: Mount, streams: list[BaseRoute]) -> None:
        self.app = app
        self.mount = mount
        self.streams = streams

    @property
    def routes(self) -> list[BaseRoute]:
        """Every route the app serves (the streams among them)."""
        return self.app.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            match, child_scope = self.mount.matches(scope)
            if match is Match.FULL:
                inner = {**scope, **child_scope}
                for route in self.streams:
                    match, child_scope = route.matches(inner)
                    if match is Match.FULL:
                        inner.update(child_scope)
                        await route.handle(inner, receive, send)
                        return
        await self.app(scope, receive, send)
