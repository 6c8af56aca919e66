"""The reader page in a real headless Chromium: server-rendered, then live over SSE or WebSocket."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from .browsing import needs_chromium, open_reader, screenshot_path
from .conftest import Server, publish

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90), needs_chromium]


@pytest.mark.parametrize("transport", ["sse", "ws"])
async def test_reader_page_shows_published_edited_and_deleted_updates_live(
    browser, server, api, blog, transport
):
    existing = await publish(api, blog, "Rendered by the **server**", title="First")
    suffix = "?transport=ws" if transport == "ws" else ""
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}{suffix}")
    articles = page.locator("#updates article.update")
    await expect(articles).to_have_count(1)

    update = await publish(api, blog, "Mr Guterres will visit **Kyiv**", title="Live", key_event=True)
    fresh = page.locator(f'article.update[data-update-id="{update["id"]}"]')
    await expect(fresh).to_be_visible(timeout=5000)
    await expect(fresh.locator(".update-title")).to_have_text("Live")
    await expect(fresh.locator(".update-body strong")).to_have_text("Kyiv")
    await expect(fresh).to_have_class("update key-event")
    assert await articles.first.get_attribute("data-update-id") == update["id"]  # newest first

    await api.patch(
        f"/api/v1/blogs/{blog}/updates/{update['id']}", json={"body": "He lands in *Kyiv* on April 28"}
    )
    await expect(fresh.locator(".update-body em")).to_have_text("Kyiv", timeout=5000)
    await api.delete(f"/api/v1/blogs/{blog}/updates/{existing['id']}")
    await expect(page.locator(f'article.update[data-update-id="{existing["id"]}"]')).to_have_count(
        0, timeout=5000
    )
    await expect(articles).to_have_count(1)
    assert errors == []
    await page.close()


# An element's markup as the reader's browser holds it, less what only time changes: the brief
# "is-new"/"is-edited" highlight and the relative time's text (its data-since stays compared).
MARKUP = """(selector) => {
  const node = document.querySelector(selector)?.cloneNode(true);
  if (!node) return null;
  node.classList.remove('is-new', 'is-edited');
  for (const ago of node.querySelectorAll('.update-ago')) ago.textContent = '';
  return node.outerHTML;
}"""
PIXEL = bytes.fromhex(  # a 1x1 transparent GIF
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


@pytest.mark.parametrize("path", ["", "/embed"])
async def test_an_update_inserted_live_has_the_markup_the_server_renders_for_it(
    browser, server, api, blog, path
):
    """Issue 14: the live copy is a clone of the server's `_update.html` (its <template>), not a
    hand-made look-alike. Each live article, pinned entry and key-event entry must be, to the
    byte, what the same page shows for the same update after a reload; in the embed too, whose
    entries' links stay in the frame."""
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}{path}")
    await page.route(
        "https://images.example/**", lambda route: route.fulfill(body=PIXEL, content_type="image/gif")
    )
    image = {"url": "https://images.example/kyiv.gif", "alt": "Kyiv", "caption": "Kyiv & <Lviv>"}
    full = await publish(
        api, blog, "Mr Guterres will visit **Kyiv**", title="Visit", key_event=True, pinned=True, image=image
    )
    # No title, no picture: its key-event entry shows its first words, cut as the server cuts them.
    untitled = await publish(api, blog, "The talks *went on* into the night, " * 5, key_event=True)
    response = await api.patch(  # an excerpt to cut, and "Updated HH:MM"
        f"/api/v1/blogs/{blog}/updates/{full['id']}", json={"body": "He lands in *Kyiv* on April 28. " * 8}
    )
    assert response.status_code == 200, response.text
    await expect(page.locator(f"#update-{full['id']} .update-edited")).to_be_visible(timeout=5000)
    await expect(page.locator(f"#update-{untitled['id']}")).to_be_visible()
    selectors = [
        f"#update-{full['id']}",
        f"#update-{untitled['id']}",
        f'#pinned [data-update-id="{full["id"]}"]',
        f'#key-events [data-update-id="{full["id"]}"]',
        f'#key-events [data-update-id="{untitled["id"]}"]',
    ]
    live = [await page.evaluate(MARKUP, selector) for selector in selectors]

    await page.reload()
    await expect(page.locator("#live-status")).to_have_text("live")
    rendered = [await page.evaluate(MARKUP, selector) for selector in selectors]
    assert None not in rendered
    assert rendered[4].count("…") == 1 and rendered[2].count("…") == 1  # both cut at a word boundary
    for selector, live_markup, rendered_markup in zip(selectors, live, rendered, strict=True):
        assert live_markup == rendered_markup, selector
    assert errors == []
    await page.close()


async def test_scrolled_down_reader_sees_the_new_updates_pill_not_a_jump(browser, server, api, blog):
    for i in range(12):
        await publish(api, blog, f"Earlier update {i}\n\n" + "A paragraph of background. " * 40)
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}")
    await page.evaluate("window.scrollTo({top: document.body.scrollHeight, behavior: 'instant'})")
    scrolled = await page.evaluate("window.scrollY")
    assert scrolled > 500

    first = await publish(api, blog, "Breaking: while you were reading", title="New one")
    second = await publish(api, blog, "And another")
    pill = page.locator("#new-updates")
    await expect(pill).to_be_visible(timeout=5000)
    await expect(pill).to_have_text("2 new updates")
    assert await page.evaluate("window.scrollY") == scrolled  # the page did not move
    await expect(page.locator(f'article.update[data-update-id="{first["id"]}"]')).to_have_count(0)

    await pill.click()
    await expect(page.locator(f'article.update[data-update-id="{first["id"]}"]')).to_be_visible()
    await expect(page.locator("#updates article.update").first).to_have_attribute(
        "data-update-id", second["id"]
    )
    await expect(pill).to_be_hidden()
    for _ in range(50):
        if await page.evaluate("window.scrollY") < 200:
            break
        await page.wait_for_timeout(50)
    assert await page.evaluate("window.scrollY") < 200
    assert errors == []
    await page.close()


@pytest.mark.parametrize("transport", ["sse", "ws"])
async def test_open_reader_page_reconnects_after_a_server_restart_and_catches_up_once(
    browser, tmp_path, transport
):
    srv = Server(tmp_path / "data").start()
    try:
        token = srv.token("restart")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=srv.url, headers=headers) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "r", "title": "R"})).status_code == 201
            before = await publish(api, "r", "Before the restart")
        page = await browser.new_page()
        await page.goto(f"{srv.url}/blogs/r" + ("?transport=ws" if transport == "ws" else ""))
        status = page.locator("#live-status")
        await expect(status).to_have_text("live")

        srv.kill()
        await expect(status).to_have_text("reconnecting", timeout=10000)
        srv.start()
        async with httpx.AsyncClient(base_url=srv.url, headers=headers) as api:
            away = [await publish(api, "r", f"Published while the page was away {i}") for i in range(3)]
            await expect(status).to_have_text("live", timeout=20000)
            after = await publish(api, "r", "Published after the reconnect")
        articles = page.locator("#updates article.update")
        expected = [after["id"], *[u["id"] for u in reversed(away)], before["id"]]
        await expect(articles).to_have_count(len(expected), timeout=10000)
        assert [await a.get_attribute("data-update-id") for a in await articles.all()] == expected
        await page.close()
    finally:
        srv.stop()


async def test_screenshot_of_the_reader_page_for_the_readme(browser, server, api, blog, tmp_path):
    """The README's picture is taken here, from a real page, so it never drifts from the product
    (written to docs/ with LIVEBLOG_SCREENSHOTS=1)."""
    from liveblog import demo

    for item in demo.DEMO_UPDATES:
        await publish(api, blog, item["body"], title=item["title"], key_event=item["key_event"])
    await api.patch(
        f"/api/v1/blogs/{blog}", json={"title": demo.DEMO_TITLE, "description": demo.DEMO_DESCRIPTION}
    )
    page = await browser.new_page(viewport={"width": 1000, "height": 1100})
    await page.goto(f"{server.url}/blogs/{blog}")
    await expect(page.locator("#live-status")).to_have_text("live")
    live = await publish(api, blog, "Mr Guterres has **landed in Moscow**.", title="Arrival", key_event=True)
    await expect(page.locator(f'article.update[data-update-id="{live["id"]}"]')).to_be_visible()
    await page.wait_for_timeout(300)
    picture = screenshot_path("reader.png", tmp_path)
    await page.screenshot(path=str(picture))
    assert picture.stat().st_size > 10_000
    await page.close()
