"""The reader page's "Key events only" and "Oldest first" ask the server (issue 16), in headless
Chromium: with 6 key events among 60 updates, "Key events only" showed 1 (it filtered only what
the browser had loaded), and oldest first "Load more" put older updates above the reader."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from .browsing import needs_chromium, open_reader
from .conftest import publish

pytestmark = [needs_chromium, pytest.mark.timeout(120)]


@pytest.fixture
async def sixty(api: httpx.AsyncClient, blog: str) -> tuple[str, list[str], list[str]]:
    """60 updates, oldest first; 6 key events among them, the newest of them 30 updates back."""
    ids, keys = [], []
    for i in range(60):
        key = i in (0, 7, 13, 19, 25, 29)
        ids.append((await publish(api, blog, f"Update number {i}", key_event=key))["id"])
        if key:
            keys.append(ids[-1])
    return blog, ids, keys


async def _shown(page: Page) -> list[str]:
    return [
        str(a)
        for a in await page.locator("#updates article.update:visible").evaluate_all(
            "(nodes) => nodes.map((n) => n.dataset.updateId)"
        )
    ]


async def test_key_events_only_shows_every_key_event_and_nothing_else(browser: Browser, server, api, sixty):
    blog, ids, keys = sixty
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}")
    await page.evaluate("localStorage.clear()")
    articles = page.locator("#updates article.update")
    await expect(articles).to_have_count(20)
    await page.locator("#key-events-toggle").click()
    await expect(page.locator("#key-events-toggle")).to_have_attribute("aria-pressed", "true")
    await expect(articles).to_have_count(6)  # all six, though none is among the 20 newest
    assert await _shown(page) == keys[::-1]
    assert await page.locator("#updates article.update:not(.key-event)").count() == 0
    await expect(page.locator("#load-more")).to_have_count(0)
    assert page.url.endswith(f"/blogs/{blog}?key_events=1")  # linkable

    # Live: a plain update does not show, a key event does, and an edit adds or takes one away.
    await publish(api, blog, "Not a key event")
    late = await publish(api, blog, "A late key event", key_event=True)
    await expect(articles.first).to_have_attribute("data-update-id", late["id"])
    base = f"/api/v1/blogs/{blog}/updates"
    assert (await api.patch(f"{base}/{ids[40]}", json={"key_event": True})).status_code == 200
    assert (await api.patch(f"{base}/{keys[0]}", json={"key_event": False})).status_code == 200
    await expect(page.locator(f"#update-{keys[0]}")).to_have_count(0)
    await expect(articles).to_have_count(7)
    assert await _shown(page) == [late["id"], ids[40], *keys[:0:-1]]

    # The same view from the server, without JavaScript's help: the URL alone.
    plain = await browser.new_page(java_script_enabled=False)
    await plain.goto(f"{server.url}/blogs/{blog}?key_events=1")
    assert await _shown(plain) == [late["id"], ids[40], *keys[:0:-1]]
    await expect(plain.locator("#key-events-toggle")).to_have_attribute("aria-pressed", "true")
    await plain.close()
    assert errors == []
    await page.close()


async def test_oldest_first_loads_newer_updates_below_and_live_ones_at_the_end(
    browser: Browser, server, api, sixty
):
    blog, ids, _ = sixty
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}")
    await page.evaluate("localStorage.clear()")
    articles = page.locator("#updates article.update")
    await page.locator("#order-toggle").click()
    await expect(page.locator("#order-toggle")).to_have_attribute("aria-pressed", "true")
    await expect(articles.first).to_have_attribute("data-update-id", ids[0])  # the oldest at the top
    assert await _shown(page) == ids[:20]
    assert page.url.endswith(f"/blogs/{blog}?order=oldest")

    # A live update before the reader reached the end waits behind the pill, off the list.
    early = await publish(api, blog, "Published while the reader is at the start")
    await expect(page.locator("#new-updates")).to_have_text("1 new update")
    assert early["id"] not in await _shown(page)

    await page.locator("#new-updates").click()  # the pill loads the next page, toward the end
    await expect(articles).to_have_count(40)
    assert await _shown(page) == ids[:40]  # the next-newer ones appended below, in order
    await expect(page.locator("#new-updates")).to_have_text("1 new update")  # not at the end yet
    await page.locator("#load-more").click()
    await expect(articles).to_have_count(60)
    await page.locator("#load-more").click()  # the live one, where the order puts it
    await expect(articles).to_have_count(61)
    await expect(page.locator("#load-more")).to_have_count(0)
    assert await _shown(page) == [*ids, early["id"]]  # once, in order, with the live one last
    await expect(page.locator("#new-updates")).to_be_hidden()

    # At the end, a live update goes at the end.
    late = await publish(api, blog, "Published once the reader is at the end")
    await expect(articles).to_have_count(62)
    await expect(articles.last).to_have_attribute("data-update-id", late["id"])
    assert len(set(await _shown(page))) == 62

    # Remembered: the plain address opens oldest first again.
    await page.goto(f"{server.url}/blogs/{blog}")
    await expect(page.locator("#order-toggle")).to_have_attribute("aria-pressed", "true")
    await expect(articles.first).to_have_attribute("data-update-id", ids[0])
    assert errors == []
    await page.close()


async def test_newest_first_live_update_goes_on_top(browser: Browser, server, api, sixty):
    blog, ids, _ = sixty
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}?order=newest")
    articles = page.locator("#updates article.update")
    assert await _shown(page) == ids[::-1][:20]
    fresh = await publish(api, blog, "Newest")
    await expect(articles.first).to_have_attribute("data-update-id", fresh["id"])
    await page.locator("#load-more").click()
    await expect(articles).to_have_count(41)
    assert await _shown(page) == [fresh["id"], *ids[::-1][:40]]
    await page.locator("#key-events-toggle").focus()
    await page.keyboard.press(" ")  # a toggle is a link with role="button": Space presses it
    await expect(page.locator("#key-events-toggle")).to_have_attribute("aria-pressed", "true")
    await expect(articles).to_have_count(6)
    assert errors == []
    await page.close()
