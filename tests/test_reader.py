"""The reader page's furniture in a real Chromium: pinned updates, key events, relative times,
sharing, "Updated HH:MM", and #updates[data-hold="off"]."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.async_api import Browser, Route, expect

from .browsing import needs_chromium, open_reader, watch
from .conftest import publish

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(90),
    needs_chromium,
]

KOLKATA = timezone(timedelta(hours=5, minutes=30))  # no daylight saving: a fixed offset is exact


def local_hhmm(value: str) -> str:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(KOLKATA).strftime("%H:%M")


async def test_pinned_updates_are_listed_above_the_list_at_render_and_live(
    browser: Browser, server, api, blog
):
    first = await publish(
        api, blog, "Read this before anything else. " * 3, title="How we cover it", pinned=True
    )
    plain = await publish(api, blog, "An ordinary update")
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}")
    pinned = page.locator("aside#pinned")
    entries = pinned.locator(".pinned-entry")
    articles = page.locator("#updates article.update")

    await expect(entries).to_have_count(1)
    await expect(entries.first).to_have_attribute("data-update-id", first["id"])
    await expect(entries.first.locator(".pinned-title")).to_have_text("How we cover it")
    await expect(entries.first.locator("a")).to_have_attribute("href", f"#update-{first['id']}")
    await expect(pinned.locator("article, .update")).to_have_count(0)  # a copy, not a second article
    await expect(articles).to_have_count(2)
    await expect(page.locator(f"#update-{first['id']} .badge-pinned")).to_have_text("Pinned")
    embed = (await api.get(f"/blogs/{blog}/embed")).text  # <base target="_blank"> must not open a tab
    assert f'href="#update-{first["id"]}" target="_self"' in embed
    above = await page.evaluate(
        "document.getElementById('pinned').compareDocumentPosition(document.getElementById('updates'))"
    )
    assert above & 4  # Node.DOCUMENT_POSITION_FOLLOWING: the list comes after the pinned box

    second = await publish(api, blog, "Pinned while you read, with no title at all", pinned=True)
    await expect(entries).to_have_count(2, timeout=5000)
    await expect(entries.first).to_have_attribute("data-update-id", second["id"])  # newest first
    await expect(entries.first.locator(".pinned-title")).to_have_text(
        "Pinned while you read, with no title at all"
    )
    await expect(articles).to_have_count(3)

    response = await api.patch(f"/api/v1/blogs/{blog}/updates/{first['id']}", json={"pinned": False})
    assert response.status_code == 200, response.text
    await expect(pinned.locator(f'[data-update-id="{first["id"]}"]')).to_have_count(0, timeout=5000)
    await expect(page.locator(f"#update-{first['id']} .badge-pinned")).to_have_count(0)
    await expect(articles).to_have_count(3)

    await api.patch(f"/api/v1/blogs/{blog}/updates/{plain['id']}", json={"pinned": True})
    await expect(pinned.locator(f'[data-update-id="{plain["id"]}"]')).to_have_count(1, timeout=5000)
    await api.delete(f"/api/v1/blogs/{blog}/updates/{second['id']}")
    await expect(entries).to_have_count(1, timeout=5000)
    await api.patch(f"/api/v1/blogs/{blog}/updates/{plain['id']}", json={"pinned": False})
    await expect(pinned).to_be_hidden(timeout=5000)
    assert errors == []
    await page.close()


async def test_key_events_list_follows_live_changes_and_its_links_lead_to_the_update(
    browser: Browser, server, api, blog
):
    early = await publish(api, blog, "Mr Guterres arrives in Moscow", key_event=True)
    for i in range(8):
        await publish(api, blog, f"Background {i}\n\n" + "A paragraph of background. " * 40)
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}")
    nav = page.locator('nav#key-events[aria-label="Key events"]')
    links = nav.locator("a")
    await expect(links).to_have_count(1)
    await expect(links.first).to_have_attribute("href", f"#update-{early['id']}")
    await expect(links.first).to_contain_text("Mr Guterres arrives in Moscow")

    fresh = await publish(api, blog, "Talks begin", title="Talks begin in the Kremlin", key_event=True)
    await expect(links).to_have_count(2, timeout=5000)
    await expect(links.first).to_have_attribute("href", f"#update-{fresh['id']}")  # newest first
    await expect(links.first.locator(".key-event-title")).to_have_text("Talks begin in the Kremlin")
    await expect(links.first.locator("time")).to_have_attribute("datetime", fresh["published_at"])

    await links.nth(1).click()  # the oldest one, far down the page
    await expect(page).to_have_url(f"{server.url}/blogs/{blog}#update-{early['id']}")
    await expect(page.locator(f"#update-{early['id']}")).to_be_in_viewport()

    await api.patch(f"/api/v1/blogs/{blog}/updates/{early['id']}", json={"key_event": False})
    await expect(links).to_have_count(1, timeout=5000)
    edited = await publish(api, blog, "Not key at first")
    await api.patch(f"/api/v1/blogs/{blog}/updates/{edited['id']}", json={"key_event": True})
    await expect(links).to_have_count(2, timeout=5000)
    await expect(links.first).to_have_attribute("href", f"#update-{edited['id']}")
    await api.delete(f"/api/v1/blogs/{blog}/updates/{edited['id']}")
    await api.delete(f"/api/v1/blogs/{blog}/updates/{fresh['id']}")
    await expect(nav).to_be_hidden(timeout=5000)
    assert errors == []
    await page.close()


@pytest.mark.parametrize(("width", "beside"), [(1280, True), (390, False)])
async def test_key_events_are_a_sidebar_on_wide_screens_and_above_the_list_on_phones(
    browser: Browser, server, api, blog, width, beside
):
    await publish(api, blog, "A key event", key_event=True)
    page = await browser.new_page(viewport={"width": width, "height": 900})
    errors = watch(page)
    await page.goto(f"{server.url}/blogs/{blog}")
    nav = await page.locator("#key-events").bounding_box()
    updates = await page.locator("#updates").bounding_box()
    assert nav and updates
    if beside:
        assert nav["x"] >= updates["x"] + updates["width"]
    else:
        assert nav["y"] + nav["height"] <= updates["y"]
        assert nav["x"] + nav["width"] <= width  # nothing sticks out of a phone's screen
    assert errors == []
    await page.close()


@pytest.mark.parametrize(
    ("locale", "texts"),
    # The page's language (an English blog's), in the reader's variant of it (issue 16): a German
    # reader of an English page reads (plain "en") English times (test_i18n.py: a Ukrainian page's).
    [("en-GB", ("now", "5 min ago", "2 hr ago")), ("de-DE", ("now", "5 min. ago", "2 hr. ago"))],
)
async def test_each_update_shows_a_relative_time_that_keeps_up_in_the_pages_language(
    browser: Browser, server, api, blog, locale, texts
):
    await publish(api, blog, "Published a moment ago")
    context = await browser.new_context(locale=locale)
    await context.clock.install()
    page, errors = await open_reader(context, f"{server.url}/blogs/{blog}")
    ago = page.locator("#updates .update-ago")
    await expect(ago).to_have_text(texts[0])
    await expect(ago).to_have_attribute("aria-hidden", "true")  # the <time> says it; no chatter

    await context.clock.fast_forward("05:10")  # past the 30 s refresh
    await expect(ago).to_have_text(texts[1])
    await context.clock.fast_forward("02:00:00")
    await expect(ago).to_have_text(texts[2])

    assert errors == []
    await context.close()


async def test_an_update_arriving_live_has_its_relative_time_and_share_button(
    browser: Browser, server, api, blog
):
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}")
    live = await publish(api, blog, "Just in")
    article = page.locator(f"#update-{live['id']}")
    await expect(article.locator(".update-ago")).to_have_text("now", timeout=5000)  # en-US
    await expect(article.locator("button.update-share")).to_be_visible()
    assert errors == []
    await page.close()


async def test_share_button_copies_the_permalink_by_keyboard(browser: Browser, server, api, blog):
    update = await publish(api, blog, "Worth sharing")
    html = (await api.get(f"/blogs/{blog}")).text
    assert 'class="update-share" hidden' in html  # without JavaScript it would do nothing: not shown
    context = await browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    await context.add_init_script("delete Navigator.prototype.share;")  # a desktop: no share sheet
    page, errors = await open_reader(context, f"{server.url}/blogs/{blog}")
    button = page.locator(f"#update-{update['id']} .update-share")
    await expect(button).to_have_text("Share")

    for _ in range(30):  # reachable with Tab alone
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.classList.contains('update-share')"):
            break
    else:
        pytest.fail("Tab never reached the share button")
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")  # a visible focus ring
    await page.keyboard.press("Enter")
    await expect(button).to_have_text("Link copied")
    permalink = f"{server.url}/blogs/{blog}/updates/{update['id']}"
    assert await page.evaluate("navigator.clipboard.readText()") == permalink
    assert await page.evaluate("document.activeElement.classList.contains('update-share')")  # focus stays
    await expect(button).to_have_text("Share", timeout=5000)
    assert errors == []
    await context.close()


async def test_share_button_opens_the_share_sheet_where_there_is_one(browser: Browser, server, api, blog):
    update = await publish(api, blog, "Shared from a phone", title="On the move")
    context = await browser.new_context()
    await context.add_init_script(
        "navigator.share = (data) => { window.sharedData = data; return Promise.resolve(); };"
    )
    page, errors = await open_reader(context, f"{server.url}/blogs/{blog}")
    await page.locator(f"#update-{update['id']} .update-share").click()
    for _ in range(50):
        shared = await page.evaluate("window.sharedData || null")
        if shared:
            break
        await page.wait_for_timeout(50)
    assert shared == {"title": "On the move", "url": f"{server.url}/blogs/{blog}/updates/{update['id']}"}
    assert errors == []
    await context.close()


async def test_an_edited_update_says_when_in_local_time_rendered_and_live(
    browser: Browser, server, api, blog
):
    update = await publish(api, blog, "First version")
    context = await browser.new_context(timezone_id="Asia/Kolkata", locale="en-GB")
    page, errors = await open_reader(context, f"{server.url}/blogs/{blog}")
    article = page.locator(f"#update-{update['id']}")
    await expect(article.locator(".update-time")).to_have_text(local_hhmm(update["published_at"]))
    await expect(article.locator(".update-edited")).to_have_count(0)

    response = await api.patch(
        f"/api/v1/blogs/{blog}/updates/{update['id']}", json={"body": "Second version"}
    )
    edited = response.json()
    expected = f"Updated {local_hhmm(edited['updated_at'])}"
    await expect(article.locator(".update-edited")).to_have_text(expected, timeout=5000)
    await expect(article.locator(".update-edited time")).to_have_attribute("datetime", edited["updated_at"])

    await page.reload()
    await expect(article.locator(".update-body")).to_have_text("Second version")
    await expect(article.locator(".update-edited")).to_have_text(expected)  # server-rendered, localised
    assert errors == []
    await context.close()


async def test_data_hold_off_shows_new_updates_at_once_even_when_scrolled_down(
    browser: Browser, server, api, blog
):
    for i in range(12):
        await publish(api, blog, f"Earlier update {i}\n\n" + "A paragraph of background. " * 40)
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}")
    await page.evaluate("document.getElementById('updates').dataset.hold = 'off'")
    await page.evaluate("window.scrollTo({top: document.body.scrollHeight, behavior: 'instant'})")
    assert await page.evaluate("window.scrollY") > 500

    first = await publish(api, blog, "Shown at once")
    await expect(page.locator("#updates article.update").first).to_have_attribute(
        "data-update-id", first["id"], timeout=5000
    )
    await expect(page.locator("#new-updates")).to_be_hidden()

    # Read at each arrival: without the attribute the reader page holds them again.
    await page.evaluate("document.getElementById('updates').removeAttribute('data-hold')")
    await page.evaluate("window.scrollTo({top: document.body.scrollHeight, behavior: 'instant'})")
    held = await publish(api, blog, "Held behind the pill")
    await expect(page.locator("#new-updates")).to_have_text("1 new update", timeout=5000)
    await expect(page.locator(f"#update-{held['id']}")).to_have_count(0)
    await expect(page.locator("#announcer")).to_have_text("1 new update")  # said, focus untouched
    assert errors == []
    await page.close()


async def test_an_update_edited_before_the_page_saw_it_is_inserted_at_its_place(
    browser: Browser, server, api, blog
):
    """An edit erases the update's `update.published` from the stream (issue 10: retracted text
    stays retracted), so a page that resumes after both gets only `update.edited` for an update
    it never held: it inserts it where its ID places it."""
    older = await publish(api, blog, "Already on the page")
    page = await browser.new_page()
    errors = watch(page)
    released = asyncio.Event()

    async def hold(route: Route) -> None:
        await released.wait()
        await route.continue_()

    await page.route("**/api/v1/blogs/*/events*", hold)
    await page.goto(f"{server.url}/blogs/{blog}")
    fresh = await publish(api, blog, "CONFIDENTIAL first draft")
    response = await api.patch(
        f"/api/v1/blogs/{blog}/updates/{fresh['id']}",
        json={"body": "Checked and corrected", "title": "Fixed"},
    )
    assert response.status_code == 200
    released.set()
    await expect(page.locator("#live-status")).to_have_text("live")
    articles = page.locator("#updates article.update")
    await expect(articles).to_have_count(2, timeout=5000)
    await expect(articles.first).to_have_attribute("data-update-id", fresh["id"])
    await expect(articles.first.locator(".update-title")).to_have_text("Fixed")
    await expect(articles.nth(1)).to_have_attribute("data-update-id", older["id"])
    assert "CONFIDENTIAL" not in await page.content()
    assert errors == []
    await page.close()


async def test_load_more_pages_back_in_place_and_the_readers_preferences_are_remembered(
    browser: Browser, server, api, blog
):
    ids = [(await publish(api, blog, f"Update {i}", key_event=i % 5 == 0))["id"] for i in range(25)]
    page, errors = await open_reader(browser, f"{server.url}/blogs/{blog}")
    articles = page.locator("#updates article.update")
    shown = page.locator("#updates article.update:visible")
    await expect(articles).to_have_count(20)

    await page.locator("#load-more").click()
    await expect(articles).to_have_count(25)
    await expect(page.locator("#load-more")).to_have_count(0)  # nothing older
    assert page.url == f"{server.url}/blogs/{blog}"  # added in place, not the ?before= page
    assert [await a.get_attribute("data-update-id") for a in await articles.all()] == ids[::-1]

    # Issue 16: both ask the server for the first page of the view (not a filter of what is loaded).
    await page.locator("#order-toggle").click()
    await expect(page.locator("#order-toggle")).to_have_attribute("aria-pressed", "true")
    await expect(articles.first).to_have_attribute("data-update-id", ids[0])
    assert [await a.get_attribute("data-update-id") for a in await articles.all()] == ids[:20]
    await page.locator("#key-events-toggle").click()
    await expect(articles).to_have_count(5)
    assert [await a.get_attribute("data-update-id") for a in await articles.all()] == ids[::5]
    late = await publish(api, blog, "A late key event", key_event=True)
    await expect(shown).to_have_count(6, timeout=5000)
    await expect(articles.last).to_have_attribute("data-update-id", late["id"])  # oldest first: below

    await page.goto(f"{server.url}/blogs/{blog}")  # as the reader left them: oldest first, key events only
    await expect(page.locator("#live-status")).to_have_text("live")
    await expect(page.locator("#order-toggle")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#key-events-toggle")).to_have_attribute("aria-pressed", "true")
    await expect(articles.first).to_have_attribute("data-update-id", ids[0])
    await expect(articles.last).to_have_attribute("data-update-id", late["id"])
    await expect(shown).to_have_count(6)  # updates 0, 5, 10, 15, 20 and the late one
    assert errors == []
    await page.close()


async def test_a_reset_reloads_the_page_state_then_it_follows_the_stream_again(
    browser: Browser, server, api, blog
):
    """`reset` comes instead of a replay when the server does not know the page's position (here
    the first stream request carries an ID from the future): the page reloads its updates from
    the API, so a deletion it never got an event for still takes the update away, and its pinned
    entry too (regression: an entry older than every update on the page was kept even when the
    reload reached the first update)."""
    gone = await publish(api, blog, "Deleted while the page was away", pinned=True)
    kept = await publish(api, blog, "Kept")
    page = await browser.new_page()
    errors = watch(page)
    released = asyncio.Event()
    requests = 0

    async def unknown_position(route: Route) -> None:
        nonlocal requests
        requests += 1
        if requests > 1:
            await route.continue_()
            return
        await released.wait()
        url = re.sub(r"last_event_id=[^&]*", "last_event_id=99999999999999-0", route.request.url)
        await route.continue_(url=url)

    await page.route("**/api/v1/blogs/*/events*", unknown_position)
    await page.goto(f"{server.url}/blogs/{blog}")
    await expect(page.locator(f'#pinned [data-update-id="{gone["id"]}"]')).to_have_count(1)
    assert (await api.delete(f"/api/v1/blogs/{blog}/updates/{gone['id']}")).status_code == 204
    added = await publish(api, blog, "Published while the page was away")
    released.set()

    articles = page.locator("#updates article.update")
    await expect(page.locator(f"#update-{gone['id']}")).to_have_count(0, timeout=5000)
    await expect(page.locator("#pinned")).to_be_hidden()
    await expect(articles).to_have_count(2)
    assert [await a.get_attribute("data-update-id") for a in await articles.all()] == [
        added["id"],
        kept["id"],
    ]
    after = await publish(api, blog, "Published after the reset")
    await expect(articles).to_have_count(3, timeout=5000)
    assert [await a.get_attribute("data-update-id") for a in await articles.all()] == [
        after["id"],
        added["id"],
        kept["id"],
    ]
    assert errors == []
    await page.close()
