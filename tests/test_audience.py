"""Reading now (issue 15): the desk shows how many read a blog, SSE and WebSocket readers summed
over every server process on the same Redis; a killed process's readers leave the count once its
report expires. Real servers, real Redis, real readers, real Chromium."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from .browsing import log_in_at, needs_chromium, open_reader, watch
from .clients import SSEReader, WSReader
from .conftest import PASSWORD, Server, add_user, logged_in, until

pytestmark = pytest.mark.timeout(90)
INTERVAL = 0.3  # seconds between two reports: a killed process's count expires after three


@pytest.fixture(scope="module")
def node_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("audience") / "a", audience_interval=INTERVAL, rate_limit=1_000_000)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def watcher(node_a: Server) -> str:
    return add_user(node_a, "watcher")


@pytest.fixture(scope="module")
async def desk(node_a: Server, watcher: str) -> AsyncIterator[httpx.AsyncClient]:
    async with logged_in(node_a, watcher) as http:
        yield http


_slugs = iter(range(1, 100))


@pytest.fixture
async def blog(node_a: Server) -> str:
    slug = f"audience-{next(_slugs)}"
    node_a.cli("blog", "create", slug, "--title", "Watched")
    return slug


def second_node(node_a: Server, directory: Path) -> Server:
    """Another server process on node A's Redis (its cluster, under TEST_CLUSTER)."""
    extra = {"redis_cluster": 1} if node_a.on_cluster else {}
    return Server(directory, redis_url=node_a.redis_url, audience_interval=INTERVAL, **extra)


async def reading(desk: httpx.AsyncClient, slug: str) -> int:
    response = await desk.get(f"/editor/{slug}/audience")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    count: int = response.json()["reading"]
    return count


async def test_reading_now_sums_every_process_and_a_killed_ones_readers_expire(
    node_a: Server, desk: httpx.AsyncClient, blog: str, tmp_path: Path
):
    async def count_is(n: int) -> bool:
        return await reading(desk, blog) == n

    assert await reading(desk, blog) == 0
    node_b = second_node(node_a, tmp_path / "b").start()
    try:
        sse = [await SSEReader(node_a.url, f"/api/v1/blogs/{blog}/events").connect() for _ in range(2)]
        ws = await WSReader(node_b.url, f"/api/v1/blogs/{blog}/ws").connect()
        await until(lambda: count_is(3))  # two SSE readers on A, one WebSocket reader on B
        page = (await desk.get(f"/editor/{blog}")).text
        assert re.search(r'<span id="reading-count">3</span> reading now', page)

        assert node_b.process is not None
        node_b.process.kill()  # no goodbye: its report must expire
        node_b.process.wait()
        node_b.process = None
        await until(lambda: count_is(2))
        await ws.close()

        await sse[0].close()
        await until(lambda: count_is(1))
        await sse[1].close()
        await until(lambda: count_is(0))
    finally:
        node_b.stop()


async def test_reading_now_is_for_logged_in_editors(node_a: Server, desk: httpx.AsyncClient, blog: str):
    async with httpx.AsyncClient(base_url=node_a.url, timeout=10) as anonymous:
        refused = await anonymous.get(f"/editor/{blog}/audience")
        assert refused.status_code == 401 and '"reading"' not in refused.text
    assert (await desk.get("/editor/no-such-blog/audience")).status_code == 404


@pytest.mark.browser
@needs_chromium
async def test_the_desk_count_goes_up_as_readers_open_the_page_and_down_as_they_leave(
    browser: Browser, node_a: Server, watcher: str, blog: str
):
    """The desk's own page follows the blog's stream too, so it counts itself: 1 alone."""
    desk_context = await browser.new_context()
    readers_context = await browser.new_context()
    try:
        page = await desk_context.new_page()
        errors = watch(page)
        await log_in_at(page, f"{node_a.url}/editor/{blog}", watcher, PASSWORD)
        count = page.locator("#reading-now")
        await expect(count).to_have_text("1 reading now")
        readers = [await open_reader(readers_context, f"{node_a.url}/blogs/{blog}") for _ in range(2)]
        await expect(count).to_have_text("3 reading now")
        for reader, reader_errors in readers:
            await reader.close()
            assert reader_errors == []
        await expect(count).to_have_text("1 reading now")
        assert errors == []
    finally:
        await readers_context.close()
        await desk_context.close()
