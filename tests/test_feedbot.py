"""The feed bot: feeds registered by the CLI, polled by a real `liveblog worker feeds` process from
a real HTTP server on loopback serving RSS, Atom and JSON Feed files that the tests change (with
ETag and 304), published to a real `liveblog serve`: each item once, across worker restarts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from liveblog.feedbot import MAX_BACKFILL, MAX_EVERY, FeedKeys
from liveblog.redis_client import connect

from .conftest import Server, Worker, until
from .endpoints import FeedServer, rss

pytestmark = pytest.mark.timeout(120)


def atom(*items: int) -> tuple[str, bytes]:
    entries = "".join(
        f"<entry><id>urn:atom:{n}</id><title>Atom {n}</title><updated>2026-01-0{n}T00:00:00Z</updated>"
        f"<link href='https://example.org/atom/{n}'/><content type='html'>&lt;p&gt;Atom text {n}&lt;/p&gt;</content></entry>"
        for n in sorted(items, reverse=True)
    )
    doc = (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>Atom wire</title><id>urn:atom</id><updated>2026-01-01T00:00:00Z</updated>{entries}</feed>"
    )
    return "application/atom+xml", doc.encode()


def json_feed(*items: int) -> tuple[str, bytes]:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON wire",
        "items": [
            {
                "id": f"j{n}",
                "url": f"https://example.org/j/{n}",
                "title": f"JSON {n}",
                "content_text": f"JSON text {n}",
            }
            for n in sorted(items, reverse=True)
        ],
    }
    return "application/feed+json", json.dumps(doc).encode()


@pytest.fixture(scope="module")
def feeds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("feedbot") / "data",
        allow_private_urls=1,
        in_process_workers=0,
        rate_limit=1_000_000,
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def admin(feeds_server: Server) -> str:
    return feeds_server.token("feeds-admin")


@pytest.fixture
async def api(feeds_server: Server, admin: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=feeds_server.url, headers=headers, timeout=10) as client:
        yield client


_count = iter(range(1, 1000))


@pytest.fixture
async def blog(api: httpx.AsyncClient) -> str:
    slug = f"feeds-{os.getpid()}-{next(_count)}"
    response = await api.post("/api/v1/blogs", json={"slug": slug, "title": f"Blog {slug}"})
    assert response.status_code == 201, response.text
    return slug


def add_feed(server: Server, slug: str, url: str, *extra: str) -> str:
    """`liveblog feed add`: the feed's ID (the last line)."""
    lines = (
        server.cli("feed", "add", "--blog", slug, "--url", url, "--every", "1", *extra).strip().splitlines()
    )
    assert lines[-1].startswith("fd_"), lines
    return lines[-1]


async def posted(api: httpx.AsyncClient, slug: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/blogs/{slug}/updates", params={"limit": 100})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["updates"]
    return items


async def titles(api: httpx.AsyncClient, slug: str) -> list[str]:
    return sorted(u["title"] for u in await posted(api, slug))


async def test_items_become_updates_once_backfill_is_honoured_a_304_publishes_nothing(
    feeds_server: Server, api: httpx.AsyncClient, blog: str, origin: FeedServer
):
    origin.files["/wire.rss"] = rss("Wire", 1, 2, 3)
    feed_id = add_feed(feeds_server, blog, origin.url + "/wire.rss", "--backfill", "2", "--key-events")
    assert feed_id in feeds_server.cli("feed", "list", "--blog", blog)
    bad_ones = (
        ["--every", "0"],
        ["--every", str(MAX_EVERY + 1)],
        ["--every", "9" * 400],  # the worker's next poll time overflowed a float
        ["--backfill", "-1"],
        ["--backfill", str(MAX_BACKFILL + 1)],
        ["--url", "ftp://example.org/feed"],
    )
    for bad in bad_ones:
        refused = subprocess.run(
            [sys.executable, "-m", "liveblog", "feed", "add", "--blog", blog, "--url", origin.url, *bad,
             "--data-dir", str(feeds_server.data_dir)],
            capture_output=True, text=True, timeout=60, env={**os.environ, **feeds_server.settings},
        )  # fmt: skip
        assert refused.returncode != 0 and refused.stderr.count("\n") == 1, refused.stderr
    worker = Worker(feeds_server, "feeds", "once")
    try:
        await until(lambda: _has(api, blog, 2))
        updates = await posted(api, blog)
        assert sorted(u["title"] for u in updates) == ["Item 2", "Item 3"]  # the newest two
        one = updates[0]
        assert one["author"] == {"name": "Wire", "kind": "bot"}
        assert one["key_event"] is True
        assert 'href="https://example.org/' in one["html"]
        assert "<script" not in one["html"] and "x()" not in one["html"]
        assert "<b>" not in one["body"] and "Text of item" in one["html"]

        seen = origin.count("/wire.rss", 304)
        await until(lambda: _true(origin.count("/wire.rss", 304) >= seen + 2))
        assert await titles(api, blog) == ["Item 2", "Item 3"]  # the 304s published nothing

        origin.files["/wire.rss"] = rss("Wire", 1, 2, 3, 4, 5)
        await until(lambda: _has(api, blog, 4))
        await until(lambda: _true(origin.count("/wire.rss", 304) >= 2 + seen + 2))
        assert await titles(api, blog) == ["Item 2", "Item 3", "Item 4", "Item 5"]
    finally:
        worker.stop()
    assert "removed" in feeds_server.cli("feed", "remove", feed_id)
    assert feed_id not in feeds_server.cli("feed", "list")


async def test_atom_and_json_feed(
    feeds_server: Server, api: httpx.AsyncClient, blog: str, origin: FeedServer
):
    origin.files["/wire.atom"] = atom(1, 2)
    origin.files["/wire.json"] = json_feed(1, 2)
    ids = [add_feed(feeds_server, blog, origin.url + "/wire.atom")]  # backfill 0: only later entries
    ids.append(add_feed(feeds_server, blog, origin.url + "/wire.json", "--backfill", "10"))  # > there are
    worker = Worker(feeds_server, "feeds", "formats")
    try:
        await until(lambda: _has(api, blog, 2))
        await until(lambda: _true(origin.count("/wire.atom", 304) >= 1))
        assert await titles(api, blog) == ["JSON 1", "JSON 2"]
        origin.files["/wire.atom"] = atom(1, 2, 3)
        origin.files["/wire.json"] = json_feed(1, 2, 3)
        await until(lambda: _has(api, blog, 4))
        updates = {u["title"]: u for u in await posted(api, blog)}
        assert sorted(updates) == ["Atom 3", "JSON 1", "JSON 2", "JSON 3"]
        assert updates["Atom 3"]["author"] == {"name": "Atom wire", "kind": "bot"}
        assert "Atom text 3" in updates["Atom 3"]["html"]
        assert updates["JSON 3"]["author"] == {"name": "JSON wire", "kind": "bot"}
    finally:
        worker.stop()
    for feed_id in ids:
        feeds_server.cli("feed", "remove", feed_id)


async def test_nothing_is_posted_twice_across_sigterm_sigkill_and_a_crash_before_recording(
    feeds_server: Server, api: httpx.AsyncClient, blog: str, origin: FeedServer
):
    origin.files["/r.rss"] = rss("Restarts", 1, 2, 3)
    feed_id = add_feed(feeds_server, blog, origin.url + "/r.rss", "--backfill", "3")
    first = Worker(feeds_server, "feeds", "first")
    await until(lambda: _has(api, blog, 3))
    first.stop()  # SIGTERM
    # A worker that died between publishing item 3 and recording it: the record is gone, and so
    # are the validators it saves last; the next worker gets the body again and must not repost.
    redis = connect(feeds_server.redis_url, cluster=feeds_server.on_cluster)
    try:
        keys = FeedKeys.of(blog)
        assert await redis.zrem(keys.seen(feed_id), "item-3") == 1
        await redis.hdel(keys.state(feed_id), "etag")
    finally:
        await redis.aclose()
    origin.files["/r.rss"] = rss("Restarts", 1, 2, 3, 4)
    second = Worker(feeds_server, "feeds", "second")
    await until(lambda: _has(api, blog, 4))
    await until(lambda: _true(origin.count("/r.rss", 304) >= 2))
    second.kill()  # SIGKILL: its lease lapses
    origin.files["/r.rss"] = rss("Restarts", 1, 2, 3, 4, 5)
    third = Worker(feeds_server, "feeds", "third")
    try:
        await until(lambda: _has(api, blog, 5), timeout=90)
        await until(lambda: _true(origin.count("/r.rss", 304) >= 4))
    finally:
        third.stop()
    assert await titles(api, blog) == [f"Item {n}" for n in range(1, 6)]  # each once
    feeds_server.cli("feed", "remove", feed_id)


async def test_bad_xml_a_huge_response_a_redirect_loop_and_a_dead_host_are_survived(
    feeds_server: Server, api: httpx.AsyncClient, blog: str, origin: FeedServer
):
    origin.files["/bad.xml"] = ("application/rss+xml", b"<<< this is not < xml &&&")
    bad = add_feed(feeds_server, blog, origin.url + "/bad.xml", "--backfill", "1")
    huge = add_feed(feeds_server, blog, origin.url + "/huge")
    loop = add_feed(feeds_server, blog, origin.url + "/loop")
    dead = add_feed(feeds_server, blog, "http://127.0.0.1:9/feed")
    worker = Worker(feeds_server, "feeds", "bad")
    redis = connect(feeds_server.redis_url, cluster=feeds_server.on_cluster)
    try:
        keys = FeedKeys.of(blog)

        async def errors() -> dict[str, str]:
            return {
                feed: _str(await redis.hget(keys.state(feed), "error")) for feed in (bad, huge, loop, dead)
            }

        await until(lambda: _all_set(errors))
        got = await errors()
        assert "not a feed" in got[bad] and "bytes" in got[huge]
        assert "redirects" in got[loop] and got[dead]
        await until(lambda: _true(origin.count("/bad.xml", 200) >= 2))  # polled again
        origin.files["/bad.xml"] = rss("Fixed", 1, 2)
        await until(lambda: _has(api, blog, 1))
        assert await titles(api, blog) == ["Item 2"]
        assert worker.process.poll() is None
    finally:
        await redis.aclose()
        worker.stop()
    for feed_id in (bad, huge, loop, dead):
        feeds_server.cli("feed", "remove", feed_id)


async def _has(api: httpx.AsyncClient, slug: str, n: int) -> bool:
    count = len(await posted(api, slug))
    assert count <= n, f"{count} updates, expected {n}"
    return count == n


async def _true(value: bool) -> bool:
    return value


async def _all_set(errors: Any) -> bool:
    return all((await errors()).values())


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
