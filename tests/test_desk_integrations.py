"""The desk's webhooks and feeds, for admins: added, listed and removed through the blog's desk
page over real HTTP, into the same registries as the CLI and the API; a webhook added there is
delivered by the server's in-process workers to a real receiver, signed with the secret shown
once; a feed added there is polled from a real feed server. Editors see none of it (403)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Browser, expect

from liveblog.store import Store
from liveblog.webhooks import Webhooks

from .browsing import log_in_at, needs_chromium, watch
from .conftest import PASSWORD, Server, add_user, csrf_of, desk_blog, logged_in, until
from .endpoints import FeedServer, Receiver, rss, verified
from .markup import Elements

pytestmark = pytest.mark.timeout(90)
OPEN_ADMIN = "desk-boss"


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose webhooks and feeds may reach loopback, where the receiver and the feed server
    listen; its in-process workers deliver and poll."""
    srv = Server(tmp_path_factory.mktemp("desk") / "data", allow_private_urls=1, rate_limit=1_000_000)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
async def open_desk(open_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with logged_in(open_server, add_user(open_server, OPEN_ADMIN, "admin")) as http:
        yield http


@pytest.fixture
async def open_blog(open_desk: httpx.AsyncClient) -> str:
    return await desk_blog(open_desk, "desk")


def texts(page: str, css_class: str) -> list[str]:
    """The text of each element whose class attribute is `css_class` (elements holding only text)."""
    return [html.unescape(t).strip() for t in re.findall(rf'class="{css_class}"[^>]*>([^<]*)<', page)]


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert match, f"no element #{element_id}"
    return html.unescape(match.group(1)).strip()


def row(page: str, attribute: str, value: str) -> str:
    """The markup of the table row `<tr attribute="value" ...>` of `page`."""
    match = re.search(rf'<tr {attribute}="{re.escape(value)}"[^>]*>(.*?)</tr>', page, re.S)
    assert match, f"no row {attribute}={value!r}"
    return match.group(1)


async def test_an_admin_adds_a_webhook_sees_its_secret_once_it_delivers_and_is_removed(
    open_server: Server, open_desk: httpx.AsyncClient, open_blog: str, receiver: Receiver
):
    desk, blog = open_desk, open_blog
    page = (await desk.get(f"/editor/{blog}")).text
    assert 'id="webhooks"' in page and "No webhooks." in page
    csrf = csrf_of(page)
    url = receiver.url + "/desk"
    events = ["update.published", "update.deleted"]
    added = await desk.post(f"/editor/{blog}/webhooks", data={"csrf": csrf, "url": url, "events": events})
    assert added.status_code == 201, added.text
    assert "location" not in added.headers and added.headers["cache-control"] == "no-store"
    [secret] = re.findall(r'<code id="new-webhook-secret">([^<]+)</code>', added.text)
    assert secret.startswith("whsec_")

    # the registry the API reads lists it, without its secret
    api = f"/api/v1/blogs/{blog}/webhooks"
    listed = (await desk.get(api, headers={"X-CSRF-Token": csrf})).json()["webhooks"]
    assert [(h["url"], h["events"]) for h in listed] == [(url, sorted(events))]
    assert "secret" not in listed[0]
    hook_id = listed[0]["id"]

    # the desk lists it, and never shows the secret again
    page = (await desk.get(f"/editor/{blog}")).text
    assert secret not in page
    hook = row(page, "data-webhook-id", hook_id)
    assert texts(hook, "webhook-url") == [url]
    assert texts(hook, "webhook-events") == ["update.deleted, update.published"]
    assert texts(hook, "webhook-state") == ["enabled"]

    # an update published on the desk reaches the receiver, signed with that secret
    text = "Mr Guterres will visit Kyiv on April 28"
    published = await desk.post(f"/editor/{blog}/updates", data={"csrf": csrf, "body": text})
    assert published.status_code == 303
    [update] = (await desk.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
    [got] = await receiver.wait_for("/desk", lambda got: len(got) >= 1)
    body = verified(secret, got)
    assert (body["type"], body["blog"], body["update"]["body"]) == ("update.published", blog, text)
    assert got.headers["webhook-id"] == f"{update['id']}:{hook_id}"

    # its deliveries page shows it: event, attempt, status code, time
    log_page = f"/editor/{blog}/webhooks/{hook_id}/log"
    assert f'href="{log_page}"' in hook

    async def delivered() -> bool:
        return 'data-result="delivered"' in (await desk.get(log_page)).text

    await until(delivered)
    log = (await desk.get(log_page)).text
    line = row(log, "data-event-id", update["id"])
    assert texts(line, "delivery-event") == [update["id"]]
    assert texts(line, "delivery-type") == ["update.published"]
    assert texts(line, "delivery-attempt") == ["1"]
    assert texts(line, "delivery-status") == ["204"]
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d', line)
    assert secret not in log

    # removing it: 303 back to the desk, which says so once; the registry no longer has it
    removed = await desk.post(f"/editor/{blog}/webhooks/{hook_id}/remove", data={"csrf": csrf})
    assert removed.status_code == 303 and removed.headers["location"] == f"/editor/{blog}#webhooks"
    page = (await desk.get(f"/editor/{blog}")).text
    assert text_of(page, "flash") == f"Webhook {hook_id} to {url} removed"
    assert f'data-webhook-id="{hook_id}"' not in page
    assert 'id="flash"' not in (await desk.get(f"/editor/{blog}")).text
    assert (await desk.get(api, headers={"X-CSRF-Token": csrf})).json()["webhooks"] == []
    again = await desk.post(f"/editor/{blog}/webhooks/{hook_id}/remove", data={"csrf": csrf})
    assert again.status_code == 404 and "no webhook" in again.text
    assert (await desk.get(log_page)).status_code == 404
    assert secret not in open_server.log.read_text()


async def test_a_failing_or_disabled_webhook_shows_so_and_why(
    server: Server, api: httpx.AsyncClient, desk: httpx.AsyncClient, blog: str
):
    path = f"/api/v1/blogs/{blog}/webhooks"
    failing = (await api.post(path, json={"url": "https://hooks.example.com/failing"})).json()
    disabled = (await api.post(path, json={"url": "https://hooks.example.com/disabled"})).json()
    reason = "failing since 2026-01-01T00:00:00Z: last status 500"
    client = server.aredis()
    try:  # what the webhook worker writes back after a failure, and a day of them
        hooks = Webhooks(Store(client))
        assert await hooks.save({**failing, "failing_since": 1767225600.0})
        assert await hooks.save({**disabled, "disabled": reason})
    finally:
        await client.aclose()
    page = (await desk.get(f"/editor/{blog}")).text
    state = re.compile(r'class="webhook-state" data-state="(\w+)">([^<]*)<')
    assert state.findall(row(page, "data-webhook-id", failing["id"])) == [
        ("failing", "failing: retrying since 2026-01-01T00:00:00Z")
    ]
    assert state.findall(row(page, "data-webhook-id", disabled["id"])) == [
        ("disabled", f"disabled: {reason}")
    ]
    log = (await desk.get(f"/editor/{blog}/webhooks/{disabled['id']}/log")).text
    assert state.findall(log) == [("disabled", f"disabled: {reason}")] and "No deliveries yet." in log


async def test_an_admin_adds_a_feed_it_posts_with_its_settings_and_is_removed(
    open_server: Server, open_desk: httpx.AsyncClient, open_blog: str, origin: FeedServer
):
    desk, blog = open_desk, open_blog
    origin.files["/wire.rss"] = rss("Wire", 1, 2, 3)
    url = origin.url + "/wire.rss"
    csrf = csrf_of((await desk.get(f"/editor/{blog}")).text)
    form = {"csrf": csrf, "url": url, "every": "1", "backfill": "2", "key_events": "true"}
    added = await desk.post(f"/editor/{blog}/feeds", data=form)
    assert added.status_code == 303 and added.headers["location"] == f"/editor/{blog}#feeds"

    # the same registry as `liveblog feed list`
    [listed] = [line.split("\t") for line in open_server.cli("feed", "list", "--blog", blog).splitlines()]
    feed_id = listed[0]
    assert listed == [feed_id, blog, url, "1"]
    page = (await desk.get(f"/editor/{blog}")).text
    assert text_of(page, "flash") == f"Feed {feed_id} added: {url}"
    feed = row(page, "data-feed-id", feed_id)
    assert texts(feed, "feed-url") == [url]
    assert (texts(feed, "feed-every"), texts(feed, "feed-backfill")) == (["1 s"], ["2"])
    assert texts(feed, "feed-key-events") == ["yes"]

    # the in-process feed bot polls it: the newest two items (backfill), as key events
    async def posted() -> bool:
        updates = (await desk.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
        return len(updates) >= 2

    await until(posted)
    updates = (await desk.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
    assert sorted((u["title"], u["key_event"]) for u in updates) == [("Item 2", True), ("Item 3", True)]

    async def polled() -> bool:
        page = (await desk.get(f"/editor/{blog}")).text
        return texts(row(page, "data-feed-id", feed_id), "feed-state")[0].startswith("polled")

    await until(polled)

    removed = await desk.post(f"/editor/{blog}/feeds/{feed_id}/remove", data={"csrf": csrf})
    assert removed.status_code == 303 and removed.headers["location"] == f"/editor/{blog}#feeds"
    page = (await desk.get(f"/editor/{blog}")).text
    assert text_of(page, "flash") == f"Feed {feed_id} removed: {url}"
    assert f'data-feed-id="{feed_id}"' not in page and "No feeds." in page
    assert open_server.cli("feed", "list", "--blog", blog) == ""
    again = await desk.post(f"/editor/{blog}/feeds/{feed_id}/remove", data={"csrf": csrf})
    assert again.status_code == 404 and "no feed" in again.text


async def test_a_refused_webhook_or_feed_shows_the_registry_message_and_keeps_the_form(
    server: Server, desk: httpx.AsyncClient, blog: str
):
    """On a server that keeps webhooks and feeds off private addresses (the default)."""
    csrf = csrf_of((await desk.get(f"/editor/{blog}")).text)
    private = "http://127.0.0.1:9/hook"
    for form, message in (
        ({"url": private, "events": "update.edited"}, "url: loopback, link-local and private addresses are refused"),
        ({"url": "gopher://example.com/", "events": "update.edited"}, "url: an http or https URL with a host"),
        ({"url": "https://hooks.example.com/", "events": "nope"}, "events: 'nope' is not one of update.published"),
    ):  # fmt: skip
        refused = await desk.post(f"/editor/{blog}/webhooks", data={"csrf": csrf, **form})
        assert refused.status_code == 422, refused.text
        assert text_of(refused.text, "webhook-error").startswith(message)
        fields = Elements(refused.text)
        assert fields.by_id("webhook-url")["value"] == form["url"]
        checked = [a["value"] for _, a in fields.tags if a.get("name") == "events" and "checked" in a]
        assert checked == (["update.edited"] if form["events"] == "update.edited" else [])
    api = f"/api/v1/blogs/{blog}/webhooks"
    assert (await desk.get(api, headers={"X-CSRF-Token": csrf})).json()["webhooks"] == []

    for form, message in (
        ({"url": private, "every": "5"}, "url: loopback, link-local and private addresses are refused"),
        ({"url": "https://example.org/wire.rss", "every": "soon"}, "every: seconds between polls, 1 to 86400"),
        ({"url": "https://example.org/wire.rss", "every": "0"}, "every: seconds between polls, 1 to 86400"),
        ({"url": "https://example.org/wire.rss", "every": "86401"}, "every: seconds between polls, 1 to 86400"),
        ({"url": "https://example.org/wire.rss", "backfill": "-1"}, "backfill: how many"),
    ):  # fmt: skip
        refused = await desk.post(f"/editor/{blog}/feeds", data={"csrf": csrf, "key_events": "true", **form})
        assert refused.status_code == 422, refused.text
        assert text_of(refused.text, "feed-error").startswith(message)
        fields = Elements(refused.text)
        assert fields.by_id("feed-url")["value"] == form["url"]
        assert fields.by_id("feed-every")["value"] == form.get("every", "")
        assert "checked" in fields.by_id("feed-key-events")
    assert server.cli("feed", "list", "--blog", blog) == ""


async def test_editors_see_no_webhooks_or_feeds_and_get_403(
    server: Server, api: httpx.AsyncClient, editor: str, blog: str
):
    created = await api.post(f"/api/v1/blogs/{blog}/webhooks", json={"url": "https://hooks.example.com/x"})
    assert created.status_code == 201
    hook_id = created.json()["id"]
    async with logged_in(server, editor) as session:
        page = (await session.get(f"/editor/{blog}")).text
        assert 'id="new-update"' in page
        for hidden in ('id="webhooks"', 'id="feeds"', hook_id, "/webhooks", "/feeds"):
            assert hidden not in page
        csrf = csrf_of(page)
        for path, what in (
            (f"/editor/{blog}/webhooks", "webhooks"),
            (f"/editor/{blog}/webhooks/{hook_id}/remove", "webhooks"),
            (f"/editor/{blog}/feeds", "feeds"),
            (f"/editor/{blog}/feeds/fd_0/remove", "feeds"),
        ):
            form = {"csrf": csrf, "url": "https://hooks.example.com/y", "every": "5"}
            refused = await session.post(path, data=form)
            assert refused.status_code == 403, path
            assert f"only admins manage {what}" in refused.text
        log = await session.get(f"/editor/{blog}/webhooks/{hook_id}/log")
        assert log.status_code == 403 and "only admins manage webhooks" in log.text
    [still] = (await api.get(f"/api/v1/blogs/{blog}/webhooks")).json()["webhooks"]
    assert still["id"] == hook_id
    assert server.cli("feed", "list", "--blog", blog) == ""


async def test_the_desks_webhook_and_feed_forms_need_a_login_and_the_csrf_token(
    server: Server, api: httpx.AsyncClient, desk: httpx.AsyncClient, blog: str
):
    created = await api.post(f"/api/v1/blogs/{blog}/webhooks", json={"url": "https://hooks.example.com/x"})
    hook_id = created.json()["id"]
    posts: tuple[tuple[str, dict[str, str]], ...] = (
        (f"/editor/{blog}/webhooks", {"url": "https://hooks.example.com/y"}),
        (f"/editor/{blog}/webhooks/{hook_id}/remove", {}),
        (f"/editor/{blog}/feeds", {"url": "https://example.org/wire.rss"}),
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        for path, form in posts:  # to log in, then back to the desk (not to a POST-only URL: 405)
            refused = await anonymous.post(path, data=form)
            assert refused.status_code == 303 and refused.headers["location"] == f"/login?next=/editor/{blog}"
        log = await anonymous.get(f"/editor/{blog}/webhooks/{hook_id}/log")
        assert log.headers["location"] == f"/login?next=/editor/{blog}/webhooks/{hook_id}/log"
    for path, form in posts:
        for csrf, message in (({}, "missing CSRF token"), ({"csrf": "0" * 64}, "wrong CSRF token")):
            refused = await desk.post(path, data={**form, **csrf})
            assert refused.status_code == 403, path
            assert message in refused.text
    [still] = (await api.get(f"/api/v1/blogs/{blog}/webhooks")).json()["webhooks"]
    assert still["id"] == hook_id
    assert server.cli("feed", "list", "--blog", blog) == ""


@pytest.mark.browser
@needs_chromium
async def test_in_chromium_the_secret_shows_at_the_webhooks_section_and_removing_asks_first(
    browser: Browser, open_server: Server, open_desk: httpx.AsyncClient, open_blog: str, receiver: Receiver
):
    context = await browser.new_context()
    try:
        page = await context.new_page()
        errors = watch(page)
        await log_in_at(page, f"{open_server.url}/editor/{open_blog}", OPEN_ADMIN, PASSWORD)
        form = page.locator("form#new-webhook")
        await form.locator("[name=url]").fill(receiver.url + "/browser")
        await form.locator("[name=events][value='update.published']").check()
        await form.locator("button[type=submit]").click()
        await expect(page).to_have_url(f"{open_server.url}/editor/{open_blog}/webhooks#webhooks")
        secret = page.locator("#new-webhook-secret")
        await expect(secret).to_have_text(re.compile(r"^whsec_"))
        await expect(secret).to_be_in_viewport()  # the page opens at its section, at the foot
        hook = page.locator("#webhooks tr[data-webhook-id]")
        await expect(hook.locator(".webhook-events")).to_have_text("update.published")

        page.once("dialog", lambda dialog: dialog.dismiss())
        await hook.locator(".control-remove-webhook button").click()
        await expect(hook).to_have_count(1)
        page.once("dialog", lambda dialog: dialog.accept())
        await hook.locator(".control-remove-webhook button").click()
        await expect(page).to_have_url(f"{open_server.url}/editor/{open_blog}#webhooks")
        await expect(page.locator("#webhooks #flash")).to_contain_text("removed")
        await expect(page.locator("#flash")).to_be_in_viewport()
        await expect(hook).to_have_count(0)
        assert errors == []
    finally:
        await context.close()
