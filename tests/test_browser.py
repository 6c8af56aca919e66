"""The reader page in a real headless Chromium: server-rendered, then live over SSE or WebSocket."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from .conftest import publish

CHROMIUM = os.environ.get("LIVEBLOG_CHROMIUM", "/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(90),
    pytest.mark.skipif(
        not shutil.which(CHROMIUM) and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (.ci/run installs it)",
    ),
]
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        await browser.close()


async def open_reader(browser: Browser, url: str) -> tuple[Page, list[str]]:
    page = await browser.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    await expect(page.locator("#live-status")).to_have_text("live")
    return page, errors


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
