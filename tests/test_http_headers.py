"""Compression and caching headers, by kind of response, over a real server (issue 16: nothing
came back compressed; static files had no Cache-Control and no version in their URL; `/`,
/openapi.json and 404s said nothing about caching; SSE said `no-cache` without `no-transform`; a
logged-in editor's pages said `private` without `Vary: Cookie`)."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import brotli
import httpx
import pytest
from starlette.requests import Request

from liveblog import assets, caching, compression
from liveblog.app import static_dir
from liveblog.assets import Assets
from liveblog.caching import RenderCache, Rendered, rendered
from liveblog.store import Keys

from .conftest import ROOT, Server, free_port, logged_in, publish

pytestmark = pytest.mark.timeout(120)

IMMUTABLE = "public, max-age=31536000, immutable"
PAGE = "public, max-age=2"
DOCUMENT = "public, max-age=300"
CODINGS = ["br", "gzip", None]
# Kinds whose body may be under compression.MIN_BYTES: then it goes out as it is, whatever was asked.
SMALL = {"docs", "404 page", "404 problem", "404 static"}
LONG = "A paragraph long enough that every page, feed and JSON read is worth compressing. " * 30


def decode(raw: bytes, coding: str | None) -> bytes:
    if coding == "br":
        return bytes(brotli.decompress(raw))
    if coding == "gzip":
        return gzip.decompress(raw)
    assert coding is None, coding
    return raw


def vary_of(response: httpx.Response) -> set[str]:
    return {v.strip().lower() for v in response.headers.get("vary", "").split(",") if v.strip()}


async def fetch(
    client: httpx.AsyncClient, path: str, accept: str | None, method: str = "GET", **headers: str
) -> tuple[httpx.Response, bytes]:
    """The response and its body as it came over the wire (not decoded by httpx); `accept` None
    sends no Accept-Encoding at all."""
    request = client.build_request(method, path, headers=headers)
    if accept is None:
        del request.headers["accept-encoding"]
    else:
        request.headers["accept-encoding"] = accept
    response = await client.send(request, stream=True)
    raw = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()
    return response, raw


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


def counter(metrics_text: str, kind: str, coding: str) -> float:
    """liveblog_compressions_total{kind, coding} in /metrics text (0 before the first)."""
    for line in metrics_text.splitlines():
        if (
            line.startswith("liveblog_compressions_total{")
            and f'kind="{kind}"' in line
            and f'coding="{coding}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def compressions(http: httpx.AsyncClient, kind: str, coding: str) -> float:
    response = await http.get("/metrics")  # loopback: allowed without a token
    assert response.status_code == 200
    return counter(response.text, kind, coding)


# -- Accept-Encoding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, None),
        ("", None),
        ("gzip", "gzip"),
        ("gzip, br", "br"),  # a tie: ours first
        ("br;q=0.5, gzip", "gzip"),
        ("GZIP;Q=0.9, BR;q=0.8", "gzip"),
        ("x-gzip", "gzip"),
        ("*", "br"),
        ("*;q=0.5, br;q=0", "gzip"),
        ("br;q=0, gzip;q=0", None),
        ("identity", None),
        ("gzip;q=0.5, identity", None),  # identity named with a higher q
        ("gzip, identity;q=0.5", "gzip"),
        ("deflate, zstd", None),  # nothing of ours
        ("gzip;q=abc, br", "br"),  # a malformed item is skipped, not refused
        ("gzip;q=2", None),
        ("br;q=nan, gzip;q=0.1", "gzip"),
        (", ,;q=1,", None),
        ("deflate, " * 200 + "br", None),  # read up to a bound, never in full
    ],
)
def test_accept_encoding_is_negotiated_by_q_value(header, chosen):
    assert compression.negotiate(header) == chosen


def test_each_coding_has_its_own_etag():
    assert compression.tagged('"abc"', "br") == '"abc-br"'
    assert compression.tagged('W/"abc"', "gzip") == 'W/"abc-gzip"'
    assert compression.tagged('"abc"', None) == '"abc"'


# -- by kind ------------------------------------------------------------------------------------


@pytest.fixture
async def kinds(api: httpx.AsyncClient, blog: str, http: httpx.AsyncClient) -> dict[str, tuple[str, str]]:
    """Path and expected Cache-Control of each kind of response, over a blog with updates."""
    first = await publish(api, blog, LONG, title="First")
    await publish(api, blog, LONG, title="Second")
    page = (await http.get(f"/blogs/{blog}")).text
    static = re.search(r'src="(/static/[0-9a-f]{16}/js/liveblog\.js)"', page)
    assert static, "the reader page links liveblog.js under a versioned URL"
    return {
        "page": (f"/blogs/{blog}", PAGE),
        "permalink": (f"/blogs/{blog}/updates/{first['id']}", PAGE),
        "embed": (f"/blogs/{blog}/embed", PAGE),
        "atom": (f"/blogs/{blog}/feed.atom", PAGE),
        "json feed": (f"/blogs/{blog}/feed.json", PAGE),
        "api json": (f"/api/v1/blogs/{blog}/updates", PAGE),
        "index": ("/", PAGE),
        "openapi": ("/openapi.json", DOCUMENT),
        "docs": ("/docs", DOCUMENT),
        "static hashed": (static.group(1), IMMUTABLE),
        "static plain": ("/static/js/liveblog.js", "public, max-age=300"),
        "static css": ("/static/css/liveblog.css", "public, max-age=300"),
        "404 page": ("/no/such/page", PAGE),
        "404 problem": ("/api/v1/blogs/no-such-blog", PAGE),
        "404 static": (static.group(1).replace("liveblog.js", "no-such.js"), PAGE),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "page",
        "permalink",
        "embed",
        "atom",
        "json feed",
        "api json",
        "index",
        "openapi",
        "docs",
        "static hashed",
        "static plain",
        "static css",
        "404 page",
        "404 problem",
        "404 static",
    ],
)
async def test_each_kind_is_compressed_as_asked_and_says_how_long_to_cache(http, kinds, kind):
    path, cache_control = kinds[kind]
    identity, body = await fetch(http, path, "identity")
    assert "content-encoding" not in identity.headers
    assert identity.headers["cache-control"] == cache_control
    assert "accept-encoding" in vary_of(identity)
    assert len(body) == int(identity.headers["content-length"])
    worth = len(body) >= compression.MIN_BYTES
    if kind not in SMALL:
        assert worth, f"{kind}: {len(body)} bytes, the test meant a body worth compressing"
    etags = {identity.headers.get("etag")}
    for asked, coding in [("br", "br"), ("gzip", "gzip"), ("gzip;q=0.5, br", "br"), (None, None), ("", None)]:
        response, raw = await fetch(http, path, asked)
        expected = coding if worth else None
        assert response.status_code == identity.status_code
        assert response.headers.get("content-encoding") == expected, (kind, asked)
        assert response.headers["cache-control"] == cache_control
        assert "accept-encoding" in vary_of(response)
        assert decode(raw, expected) == body, (kind, asked)
        assert int(response.headers["content-length"]) == len(raw)
        if expected is not None:
            assert len(raw) < len(body)
            etags.add(response.headers.get("etag"))
    if "etag" in identity.headers and worth:
        assert len(etags) == 3, etags  # identity, br and gzip: each its own ETag


@pytest.mark.parametrize("kind", ["page", "atom", "api json", "index", "openapi", "static hashed"])
async def test_if_none_match_gets_a_304_for_the_same_coding_only(http, kinds, kind):
    path, cache_control = kinds[kind]
    tags = {}
    for coding in CODINGS:
        response, _ = await fetch(http, path, coding or "identity")
        assert response.status_code == 200 and response.headers.get("content-encoding") == coding
        tags[coding] = response.headers["etag"]
    assert len(set(tags.values())) == 3, tags
    for coding, etag in tags.items():
        asked = coding or "identity"
        again, raw = await fetch(http, path, asked, **{"if-none-match": etag})
        assert again.status_code == 304 and raw == b"", (kind, coding)
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == cache_control
        assert "accept-encoding" in vary_of(again)
        weak, _ = await fetch(http, path, asked, **{"if-none-match": f'"other", W/{etag}'})
        assert weak.status_code == 304
        for other in CODINGS:
            if other != coding:  # another coding's tag names another representation
                full, _ = await fetch(http, path, other or "identity", **{"if-none-match": etag})
                assert full.status_code == 200, (kind, coding, other)


async def test_head_and_range_stay_right(http, kinds):
    for kind in ("page", "static hashed", "openapi"):
        path, _ = kinds[kind]
        get, raw = await fetch(http, path, "br")
        head, nothing = await fetch(http, path, "br", method="HEAD")
        assert head.status_code == 200 and nothing == b""
        assert head.headers["content-encoding"] == get.headers["content-encoding"] == "br"
        assert head.headers["content-length"] == str(len(raw))
        assert head.headers["etag"] == get.headers["etag"]
    path, _ = kinds["static hashed"]
    _, whole = await fetch(http, path, "identity")
    ranged, part = await fetch(http, path, "gzip, br", range="bytes=10-99")
    assert ranged.status_code == 206 and part == whole[10:100]  # a range of the identity bytes
    assert "content-encoding" not in ranged.headers
    assert ranged.headers["content-range"] == f"bytes 10-99/{len(whole)}"
    assert ranged.headers["cache-control"] == IMMUTABLE


async def test_what_is_never_compressed_or_stored(http, server, blog):
    """Health checks say no-store; an error that answers the request itself (400, 401) too;
    the event stream is never compressed and says no-cache, no-transform."""
    for path in ("/healthz", "/readyz"):
        response, _ = await fetch(http, path, "gzip, br")
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    bad, _ = await fetch(http, f"/blogs/{blog}?before=junk", "gzip, br")
    assert bad.status_code == 400 and bad.headers["cache-control"] == "no-store"
    unauthorized = await http.post(f"/api/v1/blogs/{blog}/updates", json={"body": "x"})
    assert unauthorized.status_code == 401 and unauthorized.headers["cache-control"] == "no-store"
    redirect = await http.get("/editor", follow_redirects=False)  # said nothing: stored nowhere
    assert redirect.status_code == 308 and redirect.headers["cache-control"] == "no-store"

    url = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        request = (
            f"GET /api/v1/blogs/{blog}/events HTTP/1.1\r\nHost: {url.netloc}\r\n"
            "Accept: text/event-stream\r\nAccept-Encoding: gzip, br\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        async with asyncio.timeout(10):
            head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
            first_chunk = await reader.readuntil(b"\n\n")
    finally:
        writer.close()
    assert head.startswith("http/1.1 200")
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache, no-transform"
    assert "content-encoding" not in headers
    assert b"retry: " in first_chunk  # plain text on the wire

    refused, _ = await fetch(http, "/api/v1/blogs/no-such-blog/events", "gzip, br")
    assert refused.status_code == 404 and refused.headers["cache-control"] == PAGE


async def test_a_logged_in_editor_gets_private_pages_that_vary_on_cookie(server, editor, http, kinds):
    path, _ = kinds["page"]
    anonymous, _ = await fetch(http, path, "br")
    assert anonymous.headers["cache-control"] == PAGE and "cookie" not in vary_of(anonymous)
    async with logged_in(server, editor) as client:
        for kind in ("page", "atom", "api json", "index", "openapi", "404 page"):
            path, cache_control = kinds[kind]
            response, raw = await fetch(client, path, "br")
            assert response.headers["cache-control"] == cache_control.replace("public", "private"), kind
            assert {"cookie", "accept-encoding"} <= vary_of(response), kind
        desk, _ = await fetch(client, "/editor/", "br")
        assert desk.status_code == 200 and desk.headers["cache-control"] == "no-store"
        assert "cookie" in vary_of(desk)
        # Never compressed: the desk holds a CSRF token beside text the request chooses (BREACH).
        assert "content-encoding" not in desk.headers and int(desk.headers["content-length"]) > 1024
        slug = kinds["page"][0].rsplit("/", 1)[1]
        search, _ = await fetch(client, f"/editor/{slug}?q=" + "x" * 150, "br")
        assert search.status_code == 200 and "content-encoding" not in search.headers
    login, _ = await fetch(http, "/login", "br")  # its form's CSRF token is in a new session
    assert login.status_code == 200 and "content-encoding" not in login.headers


async def test_a_kept_render_is_compressed_once_per_coding_whatever_the_requests(http, api, blog):
    """The render cache holds the compressed page beside the identity one: ten readers asking
    for br cost one compression (liveblog_compressions_total), until the blog changes."""
    await publish(api, blog, LONG)
    path = f"/blogs/{blog}"
    _, body = await fetch(http, path, "identity")  # rendered and kept
    before = {coding: await compressions(http, "render", coding) for coding in ("br", "gzip")}
    for _ in range(10):
        response, raw = await fetch(http, path, "br")
        assert response.headers["content-encoding"] == "br" and decode(raw, "br") == body
    head, _ = await fetch(http, path, "br", method="HEAD")
    assert head.headers["content-encoding"] == "br"
    assert await compressions(http, "render", "br") == before["br"] + 1
    for _ in range(3):
        response, raw = await fetch(http, path, "gzip")
        assert decode(raw, "gzip") == body
    assert await compressions(http, "render", "gzip") == before["gzip"] + 1

    await publish(api, blog, "The page changes, so does its compressed copy")
    changed, raw = await fetch(http, path, "br")
    assert b"so does its compressed copy" in decode(raw, "br")
    assert await compressions(http, "render", "br") == before["br"] + 2


async def test_a_static_file_is_compressed_once(http, kinds):
    path, _ = kinds["static css"]
    await fetch(http, path, "br")
    once = await compressions(http, "static", "br")
    for _ in range(5):
        response, _ = await fetch(http, path, "br")
        assert response.headers["content-encoding"] == "br"
    version = kinds["static hashed"][0].split("/")[2]
    hashed, _ = await fetch(http, f"/static/{version}/css/liveblog.css", "br")
    assert hashed.headers["content-encoding"] == "br" and hashed.headers["cache-control"] == IMMUTABLE
    assert await compressions(http, "static", "br") == once


# -- versioned static URLs ----------------------------------------------------------------------


def test_the_version_follows_the_bytes_of_the_tree_not_the_times(tmp_path: Path):
    tree = tmp_path / "static"
    shutil.copytree(static_dir(), tree)
    first = Assets(tree)
    assert re.fullmatch(r"/static/[0-9a-f]{16}/js/liveblog\.js", first.url("js/liveblog.js"))
    os.utime(tree / "js" / "stream.js", (1, 1))  # touched, not changed
    assert Assets(tree).version == first.version
    with (tree / "js" / "stream.js").open("ab") as script:
        script.write(b"\n// changed\n")
    changed = Assets(tree)
    assert changed.version != first.version
    assert changed.url("js/liveblog.js") != first.url("js/liveblog.js")  # every URL: one version
    (tree / "js" / "renamed.js").write_bytes((tree / "js" / "stream.js").read_bytes())
    (tree / "js" / "stream.js").unlink()
    assert Assets(tree).version != changed.version  # a rename is a change too
    with pytest.raises(ValueError, match="no static file 'js/missing.js'"):
        first.url("js/missing.js")  # a template linking a missing file fails when it renders


APP_ON = """
import sys
from pathlib import Path

import uvicorn

from liveblog.app import create_app

uvicorn.run(create_app(static=Path(sys.argv[1])), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


@pytest.fixture
def app_on_tree(server: Server, tmp_path: Path) -> Iterator[object]:
    """Start the app over a static tree of the test's own, on the shared server's Redis."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(tree: Path) -> str:
        port = free_port()
        env = {**os.environ, **server.settings, "LIVEBLOG_REDIS_URL": server.redis_url}
        env |= {"LIVEBLOG_IN_PROCESS_WORKERS": "0", "LIVEBLOG_DATA_DIR": str(tmp_path / "data")}
        with (tmp_path / f"app-{port}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", APP_ON, str(tree), str(port)],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / f"app-{port}.log").read_text()
            time.sleep(0.1)
        raise AssertionError("the app did not start")

    yield start
    for process in processes:
        process.terminate()
        process.wait(15)


async def test_a_changed_static_file_changes_every_versioned_url(tmp_path: Path, app_on_tree):
    tree = tmp_path / "static"
    shutil.copytree(static_dir(), tree)
    before = app_on_tree(tree)
    async with httpx.AsyncClient(base_url=before, timeout=10) as client:
        page = (await client.get("/")).text
        old_css = re.search(r'href="(/static/([0-9a-f]{16})/css/liveblog\.css)"', page)
        old_js = re.search(r'src="(/static/[0-9a-f]{16}/js/liveblog\.js)"', page)
        assert old_css and old_js
        served = await client.get(old_css.group(1))
        assert served.headers["cache-control"] == IMMUTABLE
        assert served.content == (tree / "css" / "liveblog.css").read_bytes()

    changed = (tree / "css" / "liveblog.css").read_bytes() + b"\n/* a fix */\n"
    (tree / "css" / "liveblog.css").write_bytes(changed)
    after = app_on_tree(tree)
    async with httpx.AsyncClient(base_url=after, timeout=10) as client:
        page = (await client.get("/")).text
        new_css = re.search(r'href="(/static/([0-9a-f]{16})/css/liveblog\.css)"', page)
        assert new_css and new_css.group(2) != old_css.group(2)
        assert old_js.group(1) not in page  # one version for the tree: the script's URL moved too
        fresh = await client.get(new_css.group(1))
        assert fresh.content == changed and fresh.headers["cache-control"] == IMMUTABLE
        # A page of the other release asks for its version: today's file, not kept for a year.
        stale = await client.get(old_css.group(1))
        assert stale.status_code == 200 and stale.content == changed
        assert stale.headers["cache-control"] == assets.SHORT
        plain = await client.get("/static/css/liveblog.css")
        assert plain.content == changed and plain.headers["cache-control"] == assets.SHORT


async def test_the_render_cache_keeps_the_compressed_variant_and_counts_its_bytes():
    """The variant lives in the entry, beside the identity body, and in the cache's byte bound."""
    cache = RenderCache(entries=2)
    body = LONG.encode() * 4

    async def build() -> Rendered:
        return rendered("1-0", body)

    entry = await cache.get("blog", "page", "1-0", build)
    assert cache.bytes == len(body) and entry.encoded == {}
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"accept-encoding", b"br")]}
    response = await cache.serve(Request(scope), entry, "text/html", {})
    assert response.headers["content-encoding"] == "br"
    assert entry.encoded[("", "br")] == response.body and decode(bytes(response.body), "br") == body
    assert cache.bytes == len(body) + len(response.body) == entry.size
    again = await cache.serve(Request(scope), await cache.get("blog", "page", "1-0", build), "text/html", {})
    assert again.body is entry.encoded[("", "br")]  # the same bytes, not compressed again
    for n in range(2):  # two newer entries push it out, variant and all
        await cache.get(f"other-{n}", "page", "1-0", build)
    assert len(cache) == 2 and cache.bytes == 2 * len(body) and not entry.kept


async def test_compressed_copies_are_kept_for_a_few_hosts_only(http, blog):
    """Without LIVEBLOG_PUBLIC_URL a page holds the request's origin: a compressed copy is kept
    per Host, for `ORIGINS_ENCODED` of them; past that a Host gets the page uncompressed, so junk
    Host headers cannot make the server compress each request."""
    path = f"/blogs/{blog}"
    hosts = [f"host-{n}.example" for n in range(caching.ORIGINS_ENCODED + 1)]
    for host in hosts[:-1]:
        response, raw = await fetch(http, path, "br", host=host)
        assert response.headers["content-encoding"] == "br"
        assert f"http://{host}/blogs/{blog}".encode() in decode(raw, "br")
    extra, raw = await fetch(http, path, "br", host=hosts[-1])
    assert "content-encoding" not in extra.headers and f"http://{hosts[-1]}/".encode() in raw
    assert "accept-encoding" in vary_of(extra) and "host" in vary_of(extra)
    known, _ = await fetch(http, path, "br", host=hosts[0])
    assert known.headers["content-encoding"] == "br"


async def test_a_bug_gets_a_500_like_every_other_error_and_the_traceback_goes_to_the_log(
    http, server: Server, blog
):
    """A record the code cannot read (here a blog's cover field that is not JSON, as a bad manual
    edit of Redis leaves it) is a bug's 500: problem+json on the API, the error page for people,
    both with the security headers that Starlette's outermost handler would not add and nothing of
    the exception in the body; the traceback is in the server's log, and the server goes on."""
    meta = Keys.of(blog).meta
    logged = server.log.stat().st_size
    with server.redis() as redis:
        redis.hset(meta, "cover", "{not json")
        try:
            api = await http.get(f"/api/v1/blogs/{blog}")
            page = await http.get(f"/blogs/{blog}", headers={"Accept": "text/html"})
        finally:
            redis.hset(meta, "cover", "")
    assert api.status_code == 500 and api.headers["content-type"] == "application/problem+json"
    assert api.json()["status"] == 500 and api.json()["title"] == "Internal Server Error"
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "Internal Server Error" in page.text
    for response in (api, page):
        assert "default-src" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "no-store" in response.headers["cache-control"]
        assert response.headers["connection"] == "close"  # uvicorn closes it after a bug
        assert "JSONDecodeError" not in response.text and "not json" not in response.text
    deadline = time.monotonic() + 10  # uvicorn logs the traceback once the response is out
    while b"json.decoder.JSONDecodeError" not in server.log.read_bytes()[logged:]:
        assert time.monotonic() < deadline, server.log.read_bytes()[logged:][-2000:]
        await asyncio.sleep(0.05)
    assert (await http.get(f"/api/v1/blogs/{blog}")).status_code == 200
