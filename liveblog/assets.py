"""Static files under content-hashed URLs: `/static/<version>/<path>`, cached for a year.

The version is a hash of the whole static tree (every file's path and bytes), made at startup:
no build step. Why the tree and not each file's name: the reader's scripts are ES modules that
import one another by relative URL (`static/js/liveblog.js` imports `./stream.js`), and a hash in
each file's name would need those imports rewritten; under one version segment every relative
URL stays within the same version. The price: a deploy that changes one file changes the URL of
all of them, so browsers fetch the rest again once (tens of KB, and Swagger UI's bundle for /docs).

- `/static/<version>/<path>` of this process's version: `public, max-age=31536000, immutable`.
- `/static/<path>` (the stable URL a host site's snippet uses) and another version's URL (a page
  rendered by another release, during a rolling deploy): the current file, cached briefly.
- A compressible file of at least `compression.MIN_BYTES` goes out in the coding the client
  prefers, compressed once (on a worker thread, at its first request) and kept: at most one copy
  per file of the startup tree and coding. A Range request gets identity bytes (Starlette's
  `StaticFiles`, which answers Range, HEAD, If-None-Match and If-Modified-Since).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from dataclasses import dataclass
from mimetypes import guess_type
from pathlib import Path

import anyio.to_thread
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from . import compression, metrics
from .caching import KEPT_ON_304, etag_matches

PREFIX = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"
# The unversioned URL: a fix reaches a host site's embed snippet within 5 minutes.
SHORT = "public, max-age=300"
VERSION_CHARS = 16
_VERSION = re.compile(f"[0-9a-f]{{{VERSION_CHARS}}}")
MAX_ENCODED_FILE = 8 * 1024 * 1024  # larger files go out as they are


def tree_digests(directory: Path) -> dict[str, str]:
    """Every file under `directory` (its path relative to it, with `/`) and its SHA-256."""
    digests = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            digests[path.relative_to(directory).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def tree_version(digests: dict[str, str]) -> str:
    """The version of a tree: a hash of its paths and their files' digests."""
    listing = "".join(f"{path}\0{digest}\n" for path, digest in sorted(digests.items()))
    return hashlib.sha256(listing.encode()).hexdigest()[:VERSION_CHARS]


@dataclass(frozen=True, slots=True)
class _Encoded:
    stamp: tuple[int, int]  # the file's mtime and size when it was compressed
    coding: str
    body: bytes
    etag: str


class Assets:
    """The ASGI app mounted at `PREFIX`, and `url()`, the templates' `static_url`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.digests = tree_digests(directory)
        self.version = tree_version(self.digests)
        self.files = StaticFiles(directory=directory)
        self._encoded: dict[tuple[str, str], _Encoded] = {}
        self._lock = asyncio.Lock()  # one compression at a time, each once

    def url(self, path: str) -> str:
        """The versioned URL of the static file `path` (`js/liveblog.js`); a path that is not in
        the tree fails loudly, at render time, instead of linking a 404."""
        if path not in self.digests:
            raise ValueError(f"no static file {path!r} in {self.directory}")
        return f"{PREFIX}/{self.version}/{path}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path", "")
        route_path = scope["path"][len(root) :] if scope["path"].startswith(root) else scope["path"]
        first, _, rest = route_path.lstrip("/").partition("/")
        cache_control = SHORT
        if rest and first == self.version:
            cache_control, route_path = IMMUTABLE, "/" + rest
        elif rest and _VERSION.fullmatch(first):
            route_path = "/" + rest  # another release's URL: today's file, not for a year
        relative = route_path.lstrip("/")
        headers = Headers(scope=scope)
        if scope["method"] in ("GET", "HEAD") and "range" not in headers and relative in self.digests:
            encoded = await self._encoded_for(relative, headers)
            if encoded is not None:
                await self._send_encoded(scope, receive, send, relative, encoded, cache_control, headers)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["cache-control"] = cache_control
                if compression.compressible(guess_type(relative)[0]):
                    compression.vary(response_headers, "Accept-Encoding")
            await send(message)

        await self.files({**scope, "path": root + route_path}, receive, send_with_headers)

    async def _encoded_for(self, relative: str, headers: Headers) -> _Encoded | None:
        """The file compressed in the client's preferred coding, once; None: send it as it is."""
        media_type = guess_type(relative)[0]
        if not compression.compressible(media_type):
            return None
        try:
            stat = os.stat(self.directory / relative)
        except OSError:
            return None
        if not compression.MIN_BYTES <= stat.st_size <= MAX_ENCODED_FILE:
            return None
        coding = compression.negotiate(headers.get("accept-encoding"))
        if coding is None:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        key = (relative, coding)
        async with self._lock:
            hit = self._encoded.get(key)
            if hit is not None and hit.stamp == stamp:
                return hit
            path = self.directory / relative

            def compress() -> _Encoded:
                body = compression.encode(path.read_bytes(), coding, "static")
                return _Encoded(stamp, coding, body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

            encoded = await anyio.to_thread.run_sync(compress)
            metrics.COMPRESSIONS.labels("static", coding).inc()
            self._encoded[key] = encoded  # one per file of the startup tree and coding
            return encoded

    async def _send_encoded(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        relative: str,
        encoded: _Encoded,
        cache_control: str,
        headers: Headers,
    ) -> None:
        response_headers = {
            "cache-control": cache_control,
            "etag": encoded.etag,
            "vary": "Accept-Encoding",
            "content-encoding": encoded.coding,
        }
        if etag_matches(headers.get("if-none-match"), encoded.etag):
            kept = {name: value for name, value in response_headers.items() if name in KEPT_ON_304}
            await Response(status_code=304, headers=kept)(scope, receive, send)
            return
        media_type = guess_type(relative)[0] or "text/plain"
        await Response(encoded.body, headers=response_headers, media_type=media_type)(scope, receive, send)
