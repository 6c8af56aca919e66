"""The desk's reach into a blog's past (liveblog/desk_updates.py): paging through every update
with "Older" and "Newer" links (no JavaScript), finding updates by text however far back, and each
update's edit history on its edit page, which a delete erases with the update and which no public
path serves. Over real HTTP, on the server's real Redis (or Redis Cluster), and in Chromium."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from liveblog import desk_updates
from liveblog.desk_updates import MAX_QUERY, PAGE_SIZE
from liveblog.store import Store

from .browsing import log_in_at, needs_chromium, open_reader, watch
from .conftest import PASSWORD, Server, csrf_of, desk_blog, logged_in, publish
from .markup import Elements

pytestmark = pytest.mark.timeout(120)
UPDATES = 130
FAR = UPDATES - 1 - 120  # the update with 120 newer ones


async def _long_blog(desk: httpx.AsyncClient) -> tuple[str, list[str]]:
    """A blog of `UPDATES` updates, published in order through the API with the desk's session:
    the slug and the IDs, oldest first. A few far back carry words to search for."""
    slug = await desk_blog(desk, "history")
    csrf = csrf_of((await desk.get(f"/editor/{slug}")).text)
    special = {
        FAR: {"body": "Shelling near Zaporizhzhia overnight, the governor says"},
        FAR + 3: {"title": "Кривий Ріг: power is back", "body": "Most districts have light again"},
        FAR + 5: {"body": "Die Straße nach Cherson ist gesperrt"},
    }
    ids = []
    for i in range(UPDATES):
        fields = special.get(i, {"body": f"Routine update number {i}"})
        response = await desk.post(
            f"/api/v1/blogs/{slug}/updates", json=fields, headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return slug, ids


@pytest.fixture(scope="module")
async def long_blog(desk: httpx.AsyncClient) -> tuple[str, list[str]]:
    return await _long_blog(desk)


@pytest.fixture
async def session(server: Server, editor: str) -> AsyncIterator[httpx.AsyncClient]:
    async with logged_in(server, editor) as http:
        yield http


def listed(page: str) -> list[str]:
    """The IDs of the updates a desk page lists, in order."""
    return [attrs["data-update-id"] for tag, attrs in Elements(page).tags if tag == "article"]


def link(page: str, element_id: str) -> str | None:
    found = [attrs["href"] for _, attrs in Elements(page).tags if attrs.get("id") == element_id]
    return found[0] if found else None


def texts(page: str, css_class: str) -> list[str]:
    """The text of each element of class `css_class` (elements holding only text)."""
    return [html.unescape(t).strip() for t in re.findall(rf'class="{css_class}"[^>]*>([^<]*)<', page)]


async def walk(http: httpx.AsyncClient, start: str, towards: str) -> list[list[str]]:
    """The updates of each page from `start`, following the `towards` link while there is one."""
    pages, url = [], start
    while url is not None:
        response = await http.get(url)
        assert response.status_code == 200, response.text
        pages.append(listed(response.text))
        url = link(response.text, towards)
        assert len(pages) <= UPDATES, "the links go round in circles"
    return pages


async def test_the_desk_pages_back_to_the_oldest_and_forth_each_update_once(session, long_blog):
    slug, ids = long_blog
    newest_first = ids[::-1]
    pages = await walk(session, f"/editor/{slug}", "page-older")
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, UPDATES - 2 * PAGE_SIZE]
    assert [i for p in pages for i in p] == newest_first  # each once, in order, down to the oldest

    # and "Newer" from the oldest page goes back up through the same pages
    oldest_page = (await session.get(f"/editor/{slug}?before={pages[1][-1]}")).text
    assert listed(oldest_page) == pages[2] and link(oldest_page, "page-older") is None
    assert await walk(session, f"/editor/{slug}?before={pages[1][-1]}", "page-newer") == pages[::-1]
    assert link((await session.get(f"/editor/{slug}")).text, "page-newer") is None

    # each listed update has its controls, also far back
    assert f'action="/editor/{slug}/updates/{ids[0]}/delete"' in oldest_page
    bad = await session.get(f"/editor/{slug}?before=yesterday")
    assert bad.status_code == 400 and "before" in bad.text


async def test_a_control_far_back_returns_to_the_page_of_its_update(session, long_blog):
    slug, ids = long_blog
    page = await session.get(f"/editor/{slug}?before={ids[FAR + 1]}")
    assert listed(page.text)[0] == ids[FAR]
    csrf = csrf_of(page.text)
    pinned = await session.post(
        f"/editor/{slug}/updates/{ids[FAR]}/pin", data={"csrf": csrf, "pinned": "true"}
    )
    assert pinned.status_code == 303
    assert pinned.headers["location"] == f"/editor/{slug}?before={ids[FAR + 1]}#update-{ids[FAR]}"
    unpinned = await session.post(
        f"/editor/{slug}/updates/{ids[FAR]}/pin", data={"csrf": csrf, "pinned": "false"}
    )
    assert unpinned.headers["location"] == pinned.headers["location"]
    newest = await session.post(
        f"/editor/{slug}/updates/{ids[-1]}/pin", data={"csrf": csrf, "pinned": "false"}
    )
    assert newest.headers["location"] == f"/editor/{slug}#update-{ids[-1]}"


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("zAPORIZHZHIA", FAR),  # a word of the body, in another case
        ("кривий ріг", FAR + 3),  # a title's words, Cyrillic capitals found by small letters
        ("STRASSE", FAR + 5),  # Unicode case folding: ß is ss
        ("straße", FAR + 5),
    ],
)
async def test_search_finds_an_update_by_title_or_body_case_insensitively_far_back(
    session, long_blog, query, index
):
    slug, ids = long_blog
    response = await session.get(f"/editor/{slug}", params={"q": query})
    assert response.status_code == 200
    assert listed(response.text) == [ids[index]]
    assert f'value="{html.escape(query)}"' in response.text  # the box keeps the query
    assert link(response.text, "page-older") is None  # the whole blog was read
    assert 'data-blog="' not in response.text  # results are a snapshot, not the live list


async def test_search_results_are_paged_and_the_query_is_bounded(session, long_blog):
    slug, ids = long_blog
    pages = await walk(session, f"/editor/{slug}?q=ROUTINE+update", "page-older")
    routine = [i for n, i in enumerate(ids) if n not in (FAR, FAR + 3, FAR + 5)][::-1]
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, len(routine) - 2 * PAGE_SIZE]
    assert [i for p in pages for i in p] == routine
    nothing = await session.get(f"/editor/{slug}", params={"q": "Kherson"})
    assert nothing.status_code == 200 and listed(nothing.text) == []
    assert "0 updates match “Kherson”" in nothing.text
    for odd in ("%ED%A0%80", "%FF%00", "%5C%22%25", "*+%5B"):  # a lone surrogate, bad UTF-8, quotes, patterns
        response = await session.get(f"/editor/{slug}?q={odd}")
        assert response.status_code == 200 and listed(response.text) == [], odd
    too_long = await session.get(f"/editor/{slug}", params={"q": "x" * (MAX_QUERY + 1)})
    assert too_long.status_code == 400 and f"at most {MAX_QUERY} characters" in too_long.text


async def test_a_search_reads_a_bounded_number_of_updates_then_goes_on_from_there(server, long_blog):
    slug, ids = long_blog
    newest_first = ids[::-1]
    store = Store(server.aredis())
    try:
        # one script call reads at most `most` updates, or `most_bytes` (at least one update) ...
        first = await store.desk_updates(
            slug, limit=50, before=None, query="zaporizhzhia", most=60, most_bytes=10**9
        )
        assert (first.updates, first.read, first.older) == ([], 60, newest_first[59])
        by_bytes = await store.desk_updates(
            slug, limit=50, before=None, query="zaporizhzhia", most=500, most_bytes=1
        )
        assert (by_bytes.read, by_bytes.older) == (1, newest_first[0])

        # ... a request makes at most `slices` of them, and the next goes on where it stopped
        short = await desk_updates.search(store, slug, None, "zaporizhzhia", slice_updates=40, slices=3)
        assert (short.updates, short.read, short.older) == ([], 120, newest_first[119])
        rest = await desk_updates.search(store, slug, short.older, "zaporizhzhia", slice_updates=40, slices=3)
        assert ([u["id"] for u in rest.updates], rest.read, rest.older) == ([ids[FAR]], UPDATES - 120, None)
        assert rest.newer == ""  # back to the newest results
    finally:
        await store.redis.aclose()


def _dump(server: Server, slug: str) -> tuple[list[str], bytes]:
    """Every key of the blog (SCAN on each master) and all that they hold, read by type."""
    keys, held = [], b""
    for node in server.redis_nodes(replicas=False):
        with node:
            for key in node.scan_iter(match=f"lb:{{{slug}}}:*", count=1000):
                keys.append(key.decode())
                kind = node.type(key).decode()
                if kind == "string":
                    value: Any = node.get(key)
                elif kind == "hash":
                    value = node.hgetall(key)
                elif kind == "list":
                    value = node.lrange(key, 0, -1)
                elif kind == "zset":
                    value = node.zrange(key, 0, -1)
                elif kind == "set":
                    value = node.smembers(key)
                else:
                    assert kind == "stream", kind
                    value = node.xrange(key)
                held += repr(value).encode() + b"\n"
    return keys, held


async def test_two_edits_make_a_history_that_only_editors_see_and_a_delete_erases(server, session, api, blog):
    first = "The convoy left Kyiv at dawn"
    update = await publish(api, blog, first, title="Convoy")
    uid = update["id"]
    edit_url = f"/editor/{blog}/updates/{uid}/edit"
    page = await session.get(edit_url)
    assert "Not edited yet." in page.text
    second = "The convoy left Kyiv at noon"
    saved = await session.post(
        edit_url, data={"csrf": csrf_of(page.text), "title": "Convoy, later", "body": second}
    )
    assert saved.status_code == 303
    patched = await api.patch(f"/api/v1/blogs/{blog}/updates/{uid}", json={"body": "The convoy reached Lviv"})
    assert patched.status_code == 200

    page = (await session.get(edit_url)).text
    assert len(re.findall(r'<li class="history-entry">', page)) == 2
    assert texts(page, "history-by") == ["test-admin", "ed"]  # newest first: the bot, then the editor
    assert texts(page, "history-changed") == ["body", "title, body"]
    assert texts(page, "history-old") == [second, "Convoy", first]  # the texts each edit replaced
    assert texts(page, "history-new") == ["The convoy reached Lviv", "Convoy, later", second]
    times = re.findall(r'class="history-time" datetime="([^"]+)"', page)
    assert len(times) == 2 and times[0] >= times[1] >= update["published_at"]
    refused = await session.post(edit_url, data={"csrf": csrf_of(page), "body": ""})  # shown again, with it
    assert refused.status_code == 422 and texts(refused.text, "history-old") == texts(page, "history-old")

    # no public path holds the earlier texts: the API's JSON, the pages, the feeds
    for path in (
        f"/api/v1/blogs/{blog}/updates/{uid}",
        f"/api/v1/blogs/{blog}/updates",
        f"/blogs/{blog}",
        f"/blogs/{blog}/updates/{uid}",
        f"/blogs/{blog}/feed.atom",
        f"/blogs/{blog}/feed.json",
    ):
        response = await api.get(path)
        assert response.status_code == 200, path
        assert first not in response.text and second not in response.text, path
    assert set((await api.get(f"/api/v1/blogs/{blog}/updates/{uid}")).json()) == set(update)

    keys, held = _dump(server, blog)
    assert f"lb:{{{blog}}}:history:{uid}" in keys and first.encode() in held

    deleted = await session.post(f"/editor/{blog}/updates/{uid}/delete", data={"csrf": csrf_of(page)})
    assert deleted.status_code == 303
    keys, held = _dump(server, blog)
    assert not [key for key in keys if ":history:" in key]
    for text in (first, second, "The convoy reached Lviv", "Convoy, later"):
        assert text.encode() not in held, text


@pytest.mark.browser
@needs_chromium
async def test_an_update_far_back_is_found_on_the_desk_edited_and_a_reader_sees_it_live(
    browser: Browser, server: Server, desk: httpx.AsyncClient, editor: str
):
    slug, ids = await _long_blog(desk)
    far = ids[FAR]
    reader_context = await browser.new_context()
    editor_context = await browser.new_context()
    try:
        # a reader on the older page of the blog that shows it
        reader, reader_errors = await open_reader(
            reader_context, f"{server.url}/blogs/{slug}?before={ids[FAR + 1]}"
        )
        await expect(reader.locator(f"#update-{far} .update-body")).to_contain_text("Zaporizhzhia")

        page = await editor_context.new_page()
        errors = watch(page)
        await log_in_at(page, f"{server.url}/editor/{slug}", editor, PASSWORD)
        await expect(page.locator("#updates article.update")).to_have_count(PAGE_SIZE)
        await expect(page.locator(f"#update-{far}")).to_have_count(0)

        # an edit of an update older than the page stays on its own page, not at the foot of this one
        csrf = csrf_of((await desk.get(f"/editor/{slug}")).text)
        for uid, body in ((ids[0], "The oldest, edited"), (ids[-1], "The newest, edited")):
            edited = await desk.patch(
                f"/api/v1/blogs/{slug}/updates/{uid}", json={"body": body}, headers={"X-CSRF-Token": csrf}
            )
            assert edited.status_code == 200, edited.text
        await expect(page.locator(f"#update-{ids[-1]} .update-body")).to_have_text("The newest, edited")
        await expect(page.locator(f"#update-{ids[0]}")).to_have_count(0)

        await page.fill("#search-q", "zaporizhzhia")
        await page.click("#search-updates button[type=submit]")
        found = page.locator("#updates article.update")
        await expect(found).to_have_count(1)
        await expect(found).to_have_attribute("data-update-id", far)

        await found.locator(".control-edit").click()
        body = page.locator("form#edit-update [name=body]")
        await expect(body).to_have_value("Shelling near Zaporizhzhia overnight, the governor says")
        await body.fill("Shelling near Zaporizhzhia overnight, the governor *now* says")
        await page.locator("form#edit-update button[type=submit]").click()

        # back on the desk page that starts with it, and the reader sees the edit live
        await expect(page).to_have_url(f"{server.url}/editor/{slug}?before={ids[FAR + 1]}#update-{far}")
        await expect(page.locator("#updates article.update").first).to_have_attribute("data-update-id", far)
        await expect(reader.locator(f"#update-{far} .update-body em")).to_have_text("now", timeout=5000)
        await expect(reader.locator(f"#update-{far} .update-edited")).to_be_visible()

        # its edit page shows the history
        await page.goto(f"{server.url}/editor/{slug}/updates/{far}/edit")
        await expect(page.locator(".history-entry")).to_have_count(1)
        await expect(page.locator(".history-by")).to_have_text(editor)
        await expect(page.locator(".history-old")).to_have_text(
            "Shelling near Zaporizhzhia overnight, the governor says"
        )
        assert errors == [] and reader_errors == []
    finally:
        await editor_context.close()
        await reader_context.close()
