"""Ended means ended (issue 15): an ended blog refuses every publish with a 409 that says so, by
the API, the desk's form (with and without JavaScript), the scheduler and the feed bot, down to
the store's script; edits and deletes still work; `coverageEndTime` is the time it was ended."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from liveblog.errors import BlogEnded
from liveblog.models import Author
from liveblog.store import Store

from .browsing import log_in_at, needs_chromium, watch
from .conftest import PASSWORD, Server, add_user, csrf_of, logged_in, until
from .endpoints import FeedServer, rss

pytestmark = pytest.mark.timeout(90)
_count = iter(range(1, 1000))
ENDED = "has ended: reopen it to publish"


@pytest.fixture(scope="module")
def ended_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose in-process feed bot may reach the feed server on loopback."""
    srv = Server(tmp_path_factory.mktemp("ended") / "data", allow_private_urls=1, rate_limit=1_000_000)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def editor(ended_server: Server) -> str:
    return add_user(ended_server, "ender")


@pytest.fixture
async def api(ended_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {ended_server.token(f'ended-{next(_count)}')}"}
    async with httpx.AsyncClient(base_url=ended_server.url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
async def blog(api: httpx.AsyncClient) -> str:
    slug = f"ended-{os.getpid()}-{next(_count)}"
    assert (await api.post("/api/v1/blogs", json={"slug": slug, "title": "Ends"})).status_code == 201
    return slug


async def set_status(api: httpx.AsyncClient, slug: str, status: str) -> dict[str, Any]:
    response = await api.patch(f"/api/v1/blogs/{slug}", json={"status": status})
    assert response.status_code == 200, response.text
    blog: dict[str, Any] = response.json()
    return blog


def assert_ended(response: httpx.Response, slug: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 409 and problem["detail"] == f"the blog {slug!r} {ENDED}"


def coverage_end(page: str) -> str | None:
    [ld] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    end: str | None = json.loads(ld).get("coverageEndTime")
    return end


async def test_an_ended_blog_refuses_publishes_with_409_until_reopened(api, blog):
    url = f"/api/v1/blogs/{blog}/updates"
    assert (await api.post(url, json={"body": "before the end"})).status_code == 201
    ended = await set_status(api, blog, "ended")
    assert ended["status"] == "ended" and ended["ended_at"]

    assert_ended(await api.post(url, json={"body": "after the end"}), blog)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert_ended(await api.post(url, json={"body": "scheduled", "scheduled_at": later}), blog)
    assert_ended(await api.post(url, json={"body": "keyed"}, headers={"Idempotency-Key": "k1"}), blog)
    listed = (await api.get(url)).json()["updates"]
    assert [u["body"] for u in listed] == ["before the end"]
    assert (await api.get(f"/api/v1/blogs/{blog}/scheduled")).json()["scheduled"] == []

    reopened = await set_status(api, blog, "live")
    assert reopened["status"] == "live" and reopened["ended_at"] is None
    assert (await api.post(url, json={"body": "reopened"})).status_code == 201


async def test_a_retry_of_a_publish_made_before_the_end_gets_its_first_answer(api, blog):
    url = f"/api/v1/blogs/{blog}/updates"
    first = await api.post(url, json={"body": "sent once"}, headers={"Idempotency-Key": "before"})
    assert first.status_code == 201
    await set_status(api, blog, "ended")
    retry = await api.post(url, json={"body": "sent once"}, headers={"Idempotency-Key": "before"})
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()


async def test_the_store_refuses_a_publish_that_comes_after_the_end(ended_server: Server, api, blog):
    """The race: a publish that passed `publishing`'s check as the blog ended is refused by the
    store's script, which checks in the same step as it writes."""
    await set_status(api, blog, "ended")
    client = ended_server.aredis()
    try:
        store = Store(client)
        author: Author = {"name": "racer", "kind": "bot"}
        now = "2026-01-01T00:00:00.000Z"
        draft = {"blog": blog, "title": None, "body": "late", "html": "<p>late</p>", "image": None,
                 "author": author, "key_event": False, "pinned": False, "published_at": now,
                 "updated_at": now}  # fmt: skip
        with pytest.raises(BlogEnded):
            await store.publish(blog, draft)  # type: ignore[arg-type]
        with pytest.raises(BlogEnded):
            await store.publish(blog, draft, at=datetime.now(UTC) + timedelta(hours=1))  # type: ignore[arg-type]
    finally:
        await client.aclose()
    assert (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"] == []


async def test_edits_and_deletes_still_work_and_coverage_ends_when_the_blog_ended(ended_server, api, blog):
    url = f"/api/v1/blogs/{blog}/updates"
    kept = (await api.post(url, json={"body": "kept"})).json()
    gone = (await api.post(url, json={"body": "gone"})).json()
    ended_at = (await set_status(api, blog, "ended"))["ended_at"]
    page = f"/blogs/{blog}"
    assert coverage_end((await api.get(page)).text) == ended_at

    edited = await api.patch(f"{url}/{kept['id']}", json={"body": "kept, corrected"})
    assert edited.status_code == 200 and edited.json()["body"] == "kept, corrected"
    assert (await api.delete(f"{url}/{gone['id']}")).status_code == 204
    assert [u["body"] for u in (await api.get(url)).json()["updates"]] == ["kept, corrected"]
    # ending it again moves nothing: still the time it ended, not the time of the later changes
    await set_status(api, blog, "ended")
    blog_now = (await api.get(f"/api/v1/blogs/{blog}")).json()
    assert blog_now["ended_at"] == ended_at and blog_now["updated_at"] > ended_at
    assert coverage_end((await api.get(page)).text) == ended_at

    # reopened: no coverageEndTime; ended by the CLI: the time of that end
    await set_status(api, blog, "live")
    assert coverage_end((await api.get(page)).text) is None
    ended_server.cli("blog", "end", blog)
    by_cli = (await api.get(f"/api/v1/blogs/{blog}")).json()["ended_at"]
    assert by_cli > ended_at and coverage_end((await api.get(page)).text) == by_cli


async def test_the_desk_form_refuses_with_the_reason_and_keeps_the_text(ended_server, editor, api, blog):
    async with logged_in(ended_server, editor) as desk:
        csrf = csrf_of((await desk.get(f"/editor/{blog}")).text)
        ended = await desk.post(f"/editor/{blog}/status", data={"csrf": csrf, "status": "ended"})
        assert ended.status_code == 303
        assert (await api.get(f"/api/v1/blogs/{blog}")).json()["ended_at"]
        form = {"csrf": csrf, "title": "Too late", "body": "Written after the end"}
        refused = await desk.post(f"/editor/{blog}/updates", data=form)
        assert refused.status_code == 409
        [error] = re.findall(r'<p id="form-error"[^>]*>([^<]*)</p>', refused.text)
        assert ENDED in error
        assert "Written after the end</textarea>" in refused.text and 'value="Too late"' in refused.text
    assert (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"] == []


async def test_a_scheduled_update_falling_due_on_an_ended_blog_waits_for_the_reopening(
    ended_server: Server, api, blog
):
    at = datetime.now(UTC) + timedelta(hours=1)
    url = f"/api/v1/blogs/{blog}/updates"
    response = await api.post(url, json={"body": "embargoed", "scheduled_at": at.isoformat()})
    assert response.status_code == 202
    await set_status(api, blog, "ended")
    client = ended_server.aredis()
    try:
        store, due = Store(client), at + timedelta(minutes=1)
        assert await store.publish_due(blog, due) == []
        [waiting] = await store.list_scheduled(blog)
        assert waiting["body"] == "embargoed" and blog in await store.scheduled_blogs()
        await set_status(api, blog, "live")
        [published] = await store.publish_due(blog, due)
    finally:
        await client.aclose()
    [update] = (await api.get(url)).json()["updates"]
    assert (update["id"], update["body"]) == (published, "embargoed")


async def test_the_feed_bot_logs_and_skips_items_for_an_ended_blog(
    ended_server: Server, api, blog, origin: FeedServer
):
    await set_status(api, blog, "ended")
    origin.files["/ended.rss"] = rss("Wire", 1, 2)
    ended_server.cli("feed", "add", "--blog", blog, "--url", origin.url + "/ended.rss", "--every", "1",
                     "--backfill", "2")  # fmt: skip

    async def logged() -> bool:
        return ended_server.log.read_text().count(f"{blog!r} {ENDED}") >= 2

    await until(logged)
    assert (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"] == []


@pytest.mark.browser
@needs_chromium
async def test_the_desk_says_an_ended_blog_refuses_and_keeps_the_text(
    browser: Browser, ended_server: Server, editor: str, api, blog
):
    context = await browser.new_context()
    try:
        page = await context.new_page()
        errors = watch(page)
        await log_in_at(page, f"{ended_server.url}/editor/{blog}", editor, PASSWORD)
        await page.locator("#blog-status button").click()  # "End the blog"
        await expect(page.locator("#live-status")).to_have_text("ended")
        form = page.locator("form#new-update")
        await form.locator("[name=body]").fill("Written after the end")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#form-error")).to_have_text(f"the blog {blog!r} {ENDED}")
        await expect(form.locator("[name=body]")).to_have_value("Written after the end")
        assert (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"] == []
        assert [e for e in errors if "status of 409" not in e] == []
    finally:
        await context.close()
