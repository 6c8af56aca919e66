"""Issue 16: key events only and oldest first from the server, paged both ways, and feeds that
page through the whole blog (API and feeds here; the reader page's in tests/test_reader.py)."""

from __future__ import annotations

from typing import Any

import feedparser
import httpx
import pytest

from liveblog.store import Keys, Store

from .conftest import publish


async def _walk(api: httpx.AsyncClient, url: str, link: str = "next") -> list[dict[str, Any]]:
    """Every page from `url` on, following `link`; the pages' bodies."""
    pages: list[dict[str, Any]] = []
    while url is not None:
        response = await api.get(url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        url = pages[-1][link]
        assert len(pages) < 100
    return pages


def _ids(pages: list[dict[str, Any]]) -> list[str]:
    return [u["id"] for page in pages for u in page["updates"]]


@pytest.fixture
async def busy(api: httpx.AsyncClient, blog: str) -> tuple[str, list[str], list[str]]:
    """A blog of 23 updates, oldest first, every fourth a key event (6 of them)."""
    ids, keys = [], []
    for i in range(23):
        update = await publish(api, blog, f"Update {i}", key_event=i % 4 == 0)
        ids.append(update["id"])
        if i % 4 == 0:
            keys.append(update["id"])
    return blog, ids, keys


async def test_both_orders_page_forwards_and_back_through_every_update_once(api, busy):
    blog, ids, _ = busy
    base = f"/api/v1/blogs/{blog}/updates"
    newest = await _walk(api, f"{base}?limit=5")
    assert _ids(newest) == ids[::-1]
    assert [len(p["updates"]) for p in newest] == [5, 5, 5, 5, 3]
    assert newest[0]["prev"] is None and newest[0]["next_after"] is None
    assert newest[-1]["next"] is None and newest[-1]["next_before"] is None
    assert newest[1]["next_before"] == ids[-10] and newest[1]["next_after"] == ids[-6]

    oldest = await _walk(api, f"{base}?limit=5&order=oldest")
    assert _ids(oldest) == ids
    assert oldest[0]["prev"] is None and oldest[-1]["next"] is None
    assert oldest[0]["next"] == f"{base}?limit=5&order=oldest&after={ids[4]}"

    # Backwards from the last page of each order: the same pages in reverse.
    back = await _walk(api, oldest[-1]["prev"], "prev")
    assert [p["updates"] for p in back] == [p["updates"] for p in oldest[-2::-1]]
    back = await _walk(api, newest[-1]["prev"], "prev")
    assert [p["updates"] for p in back] == [p["updates"] for p in newest[-2::-1]]

    # The existing cursor still works unchanged: `before` alone, newest first.
    old_style = (await api.get(base, params={"limit": 3, "before": ids[10]})).json()
    assert [u["id"] for u in old_style["updates"]] == ids[7:10][::-1]
    assert old_style["next_before"] == ids[7]
    # `after` alone, newest first: the updates just newer, newest first.
    after = (await api.get(base, params={"limit": 3, "after": ids[10]})).json()
    assert [u["id"] for u in after["updates"]] == ids[11:14][::-1]
    # Both: the updates between them, from the end the order starts at, with the pages beyond.
    between = {"limit": 3, "after": ids[10], "before": ids[16]}
    newest_between = (await api.get(base, params=between)).json()
    assert [u["id"] for u in newest_between["updates"]] == ids[13:16][::-1]
    assert (newest_between["next_before"], newest_between["next_after"]) == (ids[13], ids[15])
    oldest_between = (await api.get(base, params={**between, "order": "oldest"})).json()
    assert [u["id"] for u in oldest_between["updates"]] == ids[11:14]
    assert (oldest_between["next_before"], oldest_between["next_after"]) == (ids[11], ids[13])
    narrow = (await api.get(base, params={"limit": 9, "after": ids[10], "before": ids[12]})).json()
    assert [u["id"] for u in narrow["updates"]] == [ids[11]]
    assert (narrow["next_before"], narrow["next_after"]) == (ids[11], ids[11])


async def test_key_events_only_come_from_their_index_in_either_order(api, busy):
    blog, ids, keys = busy
    base = f"/api/v1/blogs/{blog}/updates"
    pages = await _walk(api, f"{base}?limit=4&key_events=1")
    assert _ids(pages) == keys[::-1]
    assert all(u["key_event"] for p in pages for u in p["updates"])
    assert [len(p["updates"]) for p in pages] == [4, 2]
    assert pages[0]["next"] == f"{base}?limit=4&key_events=1&before={keys[2]}"
    oldest = await _walk(api, f"{base}?limit=4&key_events=1&order=oldest")
    assert _ids(oldest) == keys
    assert _ids(await _walk(api, oldest[-1]["prev"], "prev")) == keys[:4]


async def test_edits_and_deletes_that_change_key_event_status_change_the_listing(api, busy):
    blog, ids, keys = busy
    base = f"/api/v1/blogs/{blog}/updates"

    async def key_ids() -> list[str]:
        return _ids(await _walk(api, f"{base}?limit=2&key_events=1&order=oldest"))

    promoted, demoted, gone = ids[1], keys[2], keys[3]
    assert (await api.patch(f"{base}/{promoted}", json={"key_event": True})).status_code == 200
    assert (await api.patch(f"{base}/{demoted}", json={"key_event": False})).status_code == 200
    assert (await api.delete(f"{base}/{gone}")).status_code == 204
    expected = sorted({*keys, promoted} - {demoted, gone})
    assert await key_ids() == expected
    assert len(expected) == 5
    # The whole list lost only the deleted one, in both orders.
    assert _ids(await _walk(api, f"{base}?limit=7&order=oldest")) == [i for i in ids if i != gone]
    assert _ids(await _walk(api, f"{base}?limit=7")) == [i for i in ids if i != gone][::-1]


@pytest.mark.parametrize(
    ("params", "status", "word"),
    [
        ({"order": "sideways"}, 422, "order"),
        ({"order": ""}, 422, "order"),
        ({"key_events": "yes"}, 422, "key_events"),
        ({"limit": "0"}, 422, "limit"),
        ({"limit": "101"}, 422, "limit"),
        ({"after": "nope"}, 400, "after"),
        ({"after": "99999999999999999999999"}, 400, "after"),
    ],
)
async def test_bad_paging_parameters_are_a_clear_4xx(api, blog, params, status, word):
    response = await api.get(f"/api/v1/blogs/{blog}/updates", params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert word in response.json()["detail"]


async def test_blogs_made_before_the_key_event_index_get_it_at_startup(api, busy, server):
    """The index is built at startup (`Store.migrate`, which `serve` and the CLI run): here a blog
    loses its index and mark, as one made before the publishing scripts kept them."""
    blog, _, keys = busy
    redis = server.aredis()
    try:
        k = Keys.of(blog)
        await redis.delete(k.key_events, k.pinned)
        await redis.hdel(k.meta, "flags_indexed")
        store = Store(redis)
        assert await store.index_flags() >= 1
        assert await store.index_flags() == 0  # once
        page = await store.list_updates(blog, limit=10, key_events=True)
        assert [u["id"] for u in page.updates] == keys[::-1]
        assert await redis.hget(k.meta, "flags_indexed") == b"1"
    finally:
        await redis.aclose()
    patched = await api.patch(f"/api/v1/blogs/{blog}", json={"title": "Renamed"})
    assert "flags_indexed" not in patched.text  # the mark stays out of `blog.updated`


async def test_feeds_page_through_every_update_once(api, server, blog):
    """Regression (issue 16): feeds held the newest 50 updates though the README promised one
    entry per update. Atom's rel="next" and JSON Feed's `next_url` now reach every one."""
    ids = [(await publish(api, blog, f"Feed item {i}", key_event=i == 3))["id"] for i in range(112)]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        seen, url, pages = [], f"/blogs/{blog}/feed.atom", 0
        while url:
            response = await client.get(url)
            assert response.status_code == 200
            parsed = feedparser.parse(response.content)
            assert parsed.bozo == 0, parsed.get("bozo_exception")
            seen += [e.id.rsplit("/", 1)[1] for e in parsed.entries]
            links = {link.rel: link.href for link in parsed.feed.links}
            if pages:
                assert links["first"].endswith(f"/blogs/{blog}/feed.atom")
                assert "previous" in links
            url = links.get("next")
            pages += 1
        assert seen == ids[::-1] and pages == 3

        seen, url, pages = [], f"/blogs/{blog}/feed.json", 0
        while url:
            feed = (await client.get(url)).json()
            assert feed["version"] == "https://jsonfeed.org/version/1.1"
            assert feed["title"] and feed["home_page_url"] and feed["feed_url"]
            for item in feed["items"]:
                assert {"id", "url", "content_html", "date_published"} <= item.keys()
            seen += [item["id"] for item in feed["items"]]
            url = feed.get("next_url")
            pages += 1
        assert seen == ids[::-1] and pages == 3
        # Each page is cached like the first: the same ETag for the same state.
        second = await client.get(f"/blogs/{blog}/feed.json", params={"before": ids[-51]})
        again = await client.get(f"/blogs/{blog}/feed.json", params={"before": ids[-51]})
        assert second.headers["etag"] == again.headers["etag"]
        assert (await client.get(f"/blogs/{blog}/feed.atom", params={"before": "x"})).status_code == 400
