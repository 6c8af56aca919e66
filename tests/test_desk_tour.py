"""The desk as a newsroom's live team sees it on a busy day, and as the README's picture shows it:
a contributor's draft waiting for review, an uploaded photo, a key event, the live count of
readers. With LIVEBLOG_SCREENSHOTS=1 the picture is written to docs/desk.png."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from .browsing import log_in_at, needs_chromium, open_reader, screenshot_path, watch
from .conftest import PASSWORD, Server, add_user, csrf_of, logged_in, publish
from .test_media import photo, upload

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120), needs_chromium]


async def test_the_desk_shows_drafts_photos_key_events_and_who_is_reading(
    browser, server: Server, api: httpx.AsyncClient, blog: str, editor: str, tmp_path: Path
):
    contributor = add_user(server, "rita", "contributor")
    await api.patch(f"/api/v1/blogs/{blog}", json={"title": "Live updates: Russia-Ukraine"})
    await publish(api, blog, "Air-raid sirens sounded across **Kyiv** at 05:10.", title="Sirens")
    media = (await upload(api, blog, photo((1600, 1067)))).json()
    await publish(
        api,
        blog,
        "Rescue teams are working at the site of the strike.",
        title="Rescue work",
        image={"media": media["id"], "alt": "Rescuers at a damaged building", "credit": "Photo: Desk"},
    )
    await publish(api, blog, "The UN Secretary-General will visit Kyiv on April 28.", key_event=True)
    async with logged_in(server, contributor) as desk:  # the contributor's session and its token
        token = csrf_of((await desk.get(f"/editor/{blog}")).text)
        saved = await desk.post(
            f"/api/v1/blogs/{blog}/drafts",
            json={"title": "Eyewitness", "body": "A resident describes the night in the shelter."},
            headers={"X-CSRF-Token": token},
        )
        assert saved.status_code == 201, saved.text
        draft = saved.json()

    reader_context = await browser.new_context()
    desk_context = await browser.new_context(viewport={"width": 1100, "height": 900})
    try:
        await open_reader(reader_context, f"{server.url}/blogs/{blog}")
        page = await desk_context.new_page()
        errors = watch(page)
        await log_in_at(page, f"{server.url}/editor/{blog}", editor, PASSWORD)
        await expect(page.locator("#live-status")).to_have_text("live")
        await expect(page.locator(f'#drafts li.draft[data-draft-id="{draft["id"]}"]')).to_contain_text(
            "Eyewitness"
        )
        await expect(page.locator("#updates article.update")).to_have_count(3)
        await expect(page.locator("#updates article.update.key-event")).to_have_count(1)
        image = page.locator("#updates .update-image img")
        await expect(image).to_have_attribute("alt", "Rescuers at a damaged building")
        # The reader page and this desk, reported by the server every few seconds.
        await expect(page.locator("#reading-count")).to_have_text(re.compile(r"^[1-9]\d*$"), timeout=30_000)
        picture = screenshot_path("desk.png", tmp_path)
        await page.screenshot(path=str(picture), full_page=True)
        assert picture.stat().st_size > 10_000
        assert not errors, errors
    finally:
        await reader_context.close()
        await desk_context.close()
