"""The reader page, its embeddable twin and the permalink page: markup contract, JSON-LD, HTTP caching."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import redis

from liveblog.caching import etag_matches
from liveblog.pages import frame_ancestors_policy

from .clients import SSEReader
from .conftest import Server, publish
from .markup import Elements

pytestmark = pytest.mark.timeout(60)
JSON_LD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)


def json_ld(html: str) -> dict:
    scripts = JSON_LD.findall(html)
    assert len(scripts) == 1
    data: dict = json.loads(scripts[0])
    return data


async def test_reader_page_json_ld_describes_the_live_blog_and_each_update(
    server: Server, api: httpx.AsyncClient, blog: str
):
    first = await publish(api, blog, "Mr Guterres will visit **Kyiv**", title="Visit")
    second = await publish(api, blog, "Talks </script><script>alert(1)</script> continue")
    page = await api.get(f"/blogs/{blog}")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text

    ld = json_ld(page.text)
    page_url = f"{server.url}/blogs/{blog}"
    assert ld["@context"] == "https://schema.org"
    assert ld["@type"] == "LiveBlogPosting"
    assert ld["headline"] == f"Blog {blog}"
    assert ld["url"] == page_url
    assert ld["description"]
    assert ld["coverageStartTime"]
    assert "coverageEndTime" not in ld
    assert ld["publisher"]["@type"] == "Organization" and ld["publisher"]["name"]
    posts = ld["liveBlogUpdate"]
    rendered = [
        a["data-update-id"] for a in Elements(page.text).with_class("update") if a.get("data-update-id")
    ]
    assert rendered == [second["id"], first["id"]]
    assert [p["url"] for p in posts] == [f"{page_url}#update-{i}" for i in rendered]
    assert all(p["@type"] == "BlogPosting" and p["datePublished"] and p["author"]["name"] for p in posts)
    assert posts[1]["headline"] == "Visit"
    assert "Kyiv" in posts[1]["articleBody"]

    ended = await api.patch(f"/api/v1/blogs/{blog}", json={"status": "ended"})
    assert ended.status_code == 200, ended.text
    ld = json_ld((await api.get(f"/blogs/{blog}")).text)
    assert ld["coverageEndTime"] >= ld["coverageStartTime"]


async def test_reader_page_list_is_no_live_region(api: httpx.AsyncClient, blog: str):
    """Issue 16: an aria-live list read each new update out whole; static/js/announce.js says
    "New update: ..." instead (tests/test_accessibility.py)."""
    await publish(api, blog, "Hello")
    page = Elements((await api.get(f"/blogs/{blog}")).text)
    updates = page.by_id("updates")
    assert "aria-live" not in updates
    assert page.with_class("site-header")


async def test_embed_page_has_the_live_list_without_site_chrome(api: httpx.AsyncClient, blog: str):
    update = await publish(api, blog, "Embedded *update*", title="In a frame")
    response = await api.get(f"/blogs/{blog}/embed")
    assert response.status_code == 200
    page = Elements(response.text)
    updates = page.by_id("updates")
    assert updates["data-blog"] == blog and "aria-live" not in updates
    assert [a["data-update-id"] for a in page.with_class("update")] == [update["id"]]
    assert page.by_id("live-status")
    assert not page.with_class("site-header") and not page.with_class("site-footer")
    assert "embed" in (page.with_class("embed")[0].get("class") or "")
    assert ("base", {"target": "_blank"}) in page.tags  # links leave the frame
    assert "frame-ancestors" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "public, max-age=2"

    assert (await api.get("/blogs/no-such-blog/embed")).status_code == 404


async def test_embed_page_may_be_framed_by_other_sites(api: httpx.AsyncClient, blog: str):
    response = await api.get(f"/blogs/{blog}/embed")
    policies = response.headers.get_list("content-security-policy")
    assert len(policies) == 1, policies  # browsers enforce every policy: 'self' would win
    assert "frame-ancestors 'self'" not in policies[0]
    reader = await api.get(f"/blogs/{blog}")
    assert "frame-ancestors 'self'" in reader.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["", "/embed", "/feed.atom", "/feed.json", "/updates/{id}"])
async def test_pages_and_feeds_send_an_etag_and_honour_if_none_match(
    api: httpx.AsyncClient, blog: str, path: str
):
    update = await publish(api, blog, "Cached for two seconds")
    url = f"/blogs/{blog}" + path.format(id=update["id"])
    first = await api.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert re.fullmatch(r'(W/)?"[^"]+"', etag)
    assert first.headers["cache-control"] == "public, max-age=2"

    again = await api.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=2"
    if path == "/embed":  # a cache merges a 304's headers into the stored page: keep the embed's policy
        assert again.headers["content-security-policy"] == first.headers["content-security-policy"]
    weak = await api.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    assert (await api.get(url, headers={"If-None-Match": '"other"'})).status_code == 200

    await api.patch(f"/api/v1/blogs/{blog}/updates/{update['id']}", json={"body": "Edited"})
    changed = await api.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


async def test_reader_page_keeps_its_query_parameters(api: httpx.AsyncClient, blog: str):
    assert (await api.get(f"/blogs/{blog}?before=nope")).status_code == 400
    page = Elements((await api.get(f"/blogs/{blog}?transport=ws")).text)
    assert page.by_id("updates")["data-transport"] == "ws"


def test_etag_matching_uses_the_weak_comparison():
    assert etag_matches('"a"', '"a"')
    assert etag_matches('W/"a"', '"a"')
    assert etag_matches('"b", W/"a"', '"a"')
    assert etag_matches("*", '"a"')
    assert not etag_matches('"b"', '"a"')
    assert not etag_matches(None, '"a"')
    assert not etag_matches("", '"a"')


def test_frame_ancestors_replaces_only_that_directive():
    policy = "default-src 'self'; frame-ancestors 'self'; object-src 'none'"
    assert frame_ancestors_policy(policy, "https://news.example") == (
        "default-src 'self'; object-src 'none'; frame-ancestors https://news.example"
    )
    assert frame_ancestors_policy("default-src 'self'", "*") == "default-src 'self'; frame-ancestors *"


async def test_pinned_updates_and_key_events_are_listed_however_old(api: httpx.AsyncClient, blog: str):
    pinned = await publish(api, blog, "Read this first", title="What we know", pinned=True)
    key = await publish(api, blog, "Mr Guterres meets Mr Putin", title="Moscow", key_event=True)
    for i in range(25):  # both fall off the first page of 20
        await publish(api, blog, f"filler {i}")
    page = Elements((await api.get(f"/blogs/{blog}")).text)
    assert pinned["id"] not in {a.get("data-update-id") for a in page.with_class("update")}
    pinned_entries = [a for _, a in page.tags if "pinned-entry" in (a.get("class") or "").split()]
    key_entries = [a for _, a in page.tags if "key-event-entry" in (a.get("class") or "").split()]
    assert [a["data-update-id"] for a in pinned_entries] == [pinned["id"]]
    assert [a["data-update-id"] for a in key_entries] == [key["id"]]

    unpinned = await api.patch(f"/api/v1/blogs/{blog}/updates/{pinned['id']}", json={"pinned": False})
    assert unpinned.json()["updated_at"] == pinned["updated_at"]  # pinning is not an edit
    await api.delete(f"/api/v1/blogs/{blog}/updates/{key['id']}")
    page = Elements((await api.get(f"/blogs/{blog}")).text)
    assert not [a for _, a in page.tags if "pinned-entry" in (a.get("class") or "").split()]
    assert not [a for _, a in page.tags if "key-event-entry" in (a.get("class") or "").split()]


def _commands(nodes: list[redis.Redis]) -> dict[str, int]:
    """Commands each Redis process has run, summed (on a cluster: every node's)."""
    calls: dict[str, int] = {}
    for node in nodes:
        for name, value in node.info("commandstats").items():
            calls[name] = calls.get(name, 0) + int(value["calls"])
    return calls


# What Redis hears without any page view: this probe (INFO) and the hub's blocking read (XREAD);
# on a cluster (LIVEBLOG_TEST_CLUSTER), also each replica's acknowledgement to its master (REPLCONF).
# The server runs no in-process workers, whose polls (schedule, webhook queues, feeds) are no views.
BACKGROUND = frozenset({"cmdstat_info", "cmdstat_xread", "cmdstat_replconf"})


async def test_a_warm_blog_page_costs_no_redis_command_and_follows_every_event(tmp_path):
    server = Server(tmp_path / "data", in_process_workers=0).start()
    api = httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token('views')}"}, timeout=10
    )
    blog = "views"
    try:
        assert (await api.post("/api/v1/blogs", json={"slug": blog, "title": "Views"})).status_code == 201
        await view_a_warm_blog(server, api, blog)
    finally:
        await api.aclose()
        server.stop()


async def view_a_warm_blog(server: Server, api: httpx.AsyncClient, blog: str) -> None:
    reader = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()  # warms the hub
    try:
        await asyncio.sleep(0.2)
        first = await publish(api, blog, "Before the views")
        await reader.wait_for(1)
        assert first["id"] in (await api.get(f"/blogs/{blog}")).text  # rendered once, then kept
        assert first["id"] in (await api.get(f"/blogs/{blog}/embed")).text
        nodes = server.redis_nodes(replicas=False)  # a replica counts the DELs of expiring keys
        before = _commands(nodes)
        pages = [await api.get(f"/blogs/{blog}") for _ in range(20)]
        embeds = [await api.get(f"/blogs/{blog}/embed") for _ in range(2)]
        after = _commands(nodes)
        for node in nodes:
            node.close()
        spent = {
            name: after[name] - before.get(name, 0)
            for name in after
            if after[name] != before.get(name, 0) and name not in BACKGROUND
        }
        assert spent == {}  # not one Redis command for 22 page views
        assert {p.text for p in pages} == {pages[0].text}
        assert embeds[0].text == embeds[1].text
        second = await publish(api, blog, "After the views")
        await reader.wait_for(2)
        page = (await api.get(f"/blogs/{blog}")).text
        assert second["id"] in page and f'data-last-event-id="{second["id"]}"' in page
    finally:
        await reader.close()
