"""The editor's pages: login, CSRF, publishing with and without JavaScript, live on the reader page."""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Request, Route, expect

from .browsing import log_in_at, needs_chromium, watch
from .conftest import PASSWORD, Server, csrf_of, desk_blog, log_in, publish

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def blog(desk: httpx.AsyncClient) -> str:
    """A new, empty blog, created through the admin's own form."""
    return await desk_blog(desk, "editor")


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        yield http


@pytest.fixture
async def session(client: httpx.AsyncClient, editor: str) -> httpx.AsyncClient:
    response = await log_in(client, editor)
    assert response.status_code == 303, response.text
    return client


# -- login and sessions ----------------------------------------------------------------------------


async def test_login_sets_an_httponly_samesite_session_and_redirects(client, editor):
    response = await log_in(client, editor)
    assert response.status_code == 303
    assert response.headers["location"] == "/editor/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("liveblog_session=")
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    page = await client.get("/editor/")
    assert page.status_code == 200
    assert "ed" in page.text and "Content-Security-Policy" in page.headers
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


async def test_login_goes_back_to_a_local_next_page_only(client, editor, blog):
    page = await client.get(f"/editor/{blog}", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == f"/login?next=/editor/{blog}"
    login = await client.get(page.headers["location"])
    assert f'value="/editor/{blog}"' in login.text
    form = {"csrf": csrf_of(login.text), "username": editor, "password": PASSWORD, "next": "//evil.example/"}
    response = await client.post("/login?next=//evil.example/", data=form)
    assert response.status_code == 303 and response.headers["location"] == "/editor/"


async def test_wrong_password_and_unknown_user_get_the_same_answer(client, editor):
    wrong = await log_in(client, editor, "not-the-password")
    unknown = await log_in(client, "nobody-here", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong username or password" in response.text
        assert 'id="form-error"' in response.text
    error = re.compile(r'<p id="form-error"[^>]*>(.*?)</p>')
    assert error.findall(wrong.text) == error.findall(unknown.text) == ["Wrong username or password"]
    assert (await client.get("/editor/")).status_code == 303


async def test_repeated_failed_logins_are_slowed_down(client, editor):
    started = time.monotonic()
    for _ in range(5):  # failures 3, 4 and 5 wait 0.1 + 0.2 + 0.4 s
        assert (await log_in(client, "slow-" + editor, "guess")).status_code == 401
    assert time.monotonic() - started >= 0.7
    assert (await log_in(client, editor)).status_code == 303  # another username is not slowed


async def test_logout_needs_csrf_and_ends_the_session(session):
    page = await session.get("/editor/")
    assert (await session.post("/logout", data={})).status_code == 403
    response = await session.post("/logout", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert (await session.get("/editor/")).status_code == 303


# -- CSRF ----------------------------------------------------------------------------------------


async def test_posts_without_or_with_a_wrong_csrf_token_are_403(session, blog, api):
    url = f"/editor/{blog}/updates"
    assert (await session.post(url, data={"body": "no token"})).status_code == 403
    forged = await session.post(url, data={"body": "forged", "csrf": "0" * 64})
    assert forged.status_code == 403
    assert "CSRF" in forged.text and forged.headers["content-type"].startswith("text/html")
    login = await session.post("/login", data={"username": "ed", "password": PASSWORD})
    assert login.status_code == 403
    listed = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()
    assert listed["updates"] == []


async def test_the_csrf_token_changes_at_login(client, editor):
    before = csrf_of((await client.get("/login")).text)
    await log_in(client, editor)
    after = csrf_of((await client.get("/editor/")).text)
    assert before != after


# -- the editor without JavaScript ---------------------------------------------------------------


async def test_form_post_publishes_as_the_editor_and_redirects(session, blog, api):
    page = await session.get(f"/editor/{blog}")
    assert page.status_code == 200
    assert 'id="new-update"' in page.text and page.headers["cache-control"] == "no-store"
    form = {
        "csrf": csrf_of(page.text),
        "title": "From the form",
        "body": "Mr Guterres will visit **Kyiv**",
        "key_event": "true",
        "scheduled_at": "",
    }
    response = await session.post(f"/editor/{blog}/updates", data=form)
    assert response.status_code == 303 and response.headers["location"] == f"/editor/{blog}"
    [update] = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
    assert update["author"] == {"name": "ed", "kind": "editor", "avatar": None}
    assert update["title"] == "From the form" and update["key_event"] is True and update["pinned"] is False
    assert update["html"] == "<p>Mr Guterres will visit <strong>Kyiv</strong></p>"
    page = await session.get(f"/editor/{blog}")
    for control in ("/edit", "/pin", "/key-event", "/delete"):
        assert f'/editor/{blog}/updates/{update["id"]}{control}"' in page.text


async def test_invalid_form_is_shown_again_with_the_text_kept(session, blog, api):
    csrf = csrf_of((await session.get(f"/editor/{blog}")).text)
    form = {"csrf": csrf, "title": "Later", "body": "Kept *text* & more", "scheduled_at": "2999-01-01T10:00"}
    response = await session.post(f"/editor/{blog}/updates", data=form)
    assert response.status_code == 422
    assert "scheduled_at" in response.text
    assert "Kept *text* &amp; more</textarea>" in response.text
    assert 'value="Later"' in response.text
    empty = await session.post(f"/editor/{blog}/updates", data={"csrf": csrf, "body": "  "})
    assert empty.status_code == 422 and "body: must not be empty" in empty.text
    bad_image = {"csrf": csrf, "body": "x", "image_url": "http://insecure.example/a.png"}
    assert (await session.post(f"/editor/{blog}/updates", data=bad_image)).status_code == 422
    assert (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"] == []


async def test_the_form_url_answers_as_a_form_only(session, blog, api):
    """Issue 14: `/editor/{slug}/updates` also answered JSON (201, or a problem) to editor.js, a second
    publish endpoint beside the API's. It is now the form's path without JavaScript alone: 303 back,
    or the form again with its error, whatever the client accepts; the desk's script uses the API."""
    csrf = csrf_of((await session.get(f"/editor/{blog}")).text)
    headers = {"Accept": "application/json"}
    ok = await session.post(f"/editor/{blog}/updates", data={"csrf": csrf, "body": "Hi"}, headers=headers)
    assert ok.status_code == 303 and ok.headers["location"] == f"/editor/{blog}"
    bad = await session.post(f"/editor/{blog}/updates", data={"csrf": csrf, "body": ""}, headers=headers)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert "body: must not be empty" in bad.text
    assert [u["body"] for u in (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]] == ["Hi"]


async def test_edit_pin_key_event_and_delete_without_javascript(session, blog, api):
    update = await publish(api, blog, "First *draft*", title="Draft")
    base = f"/editor/{blog}/updates/{update['id']}"
    edit_page = await session.get(f"{base}/edit")
    assert edit_page.status_code == 200 and "First *draft*</textarea>" in edit_page.text
    csrf = csrf_of(edit_page.text)
    saved = await session.post(f"{base}/edit", data={"csrf": csrf, "title": "", "body": "Final text"})
    assert saved.status_code == 303
    current = (await api.get(f"/api/v1/blogs/{blog}/updates/{update['id']}")).json()
    assert current["title"] is None and current["body"] == "Final text" and current["author"]["kind"] == "bot"
    invalid = await session.post(f"{base}/edit", data={"csrf": csrf, "body": ""})
    assert invalid.status_code == 422

    assert (await session.post(f"{base}/pin", data={"csrf": csrf, "pinned": "true"})).status_code == 303
    assert (await session.post(f"{base}/key-event", data={"csrf": csrf})).status_code == 303
    current = (await api.get(f"/api/v1/blogs/{blog}/updates/{update['id']}")).json()
    assert current["pinned"] is True and current["key_event"] is True
    assert (await session.post(f"{base}/pin", data={"csrf": csrf, "pinned": "false"})).status_code == 303
    assert (await api.get(f"/api/v1/blogs/{blog}/updates/{update['id']}")).json()["pinned"] is False

    assert (await session.post(f"{base}/delete", data={"csrf": csrf})).status_code == 303
    assert (await api.get(f"/api/v1/blogs/{blog}/updates/{update['id']}")).status_code == 404


async def test_preview_returns_sanitized_html(session, blog):
    csrf = csrf_of((await session.get(f"/editor/{blog}")).text)
    body = "**bold** <script>alert(1)</script> [x](javascript:alert(1))"
    response = await session.post(f"/editor/{blog}/preview", data={"csrf": csrf, "body": body})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "<strong>bold</strong>" in response.text
    assert "<script>" not in response.text and "&lt;script&gt;" in response.text
    assert 'href="javascript:' not in response.text


async def test_blogs_are_created_by_admins_then_ended_and_reopened(session, desk, api):
    boss_csrf = csrf_of((await desk.get("/editor/")).text)
    slug = f"editor-made-{os.getpid()}"
    created = await desk.post("/editor/", data={"csrf": boss_csrf, "slug": slug, "title": "Made here"})
    assert created.status_code == 303 and created.headers["location"] == f"/editor/{slug}"
    again = await desk.post("/editor/", data={"csrf": boss_csrf, "slug": slug, "title": "Twice"})
    assert again.status_code == 409 and 'value="Twice"' in again.text
    csrf = csrf_of((await session.get("/editor/")).text)
    ended = await session.post(f"/editor/{slug}/status", data={"csrf": csrf, "status": "ended"})
    assert ended.status_code == 303
    assert (await api.get(f"/api/v1/blogs/{slug}")).json()["status"] == "ended"
    await session.post(f"/editor/{slug}/status", data={"csrf": csrf, "status": "live"})
    assert (await api.get(f"/api/v1/blogs/{slug}")).json()["status"] == "live"
    bad = await session.post(f"/editor/{slug}/status", data={"csrf": csrf, "status": "paused"})
    assert bad.status_code == 422


async def test_only_admins_manage_tokens(session, server, admin, blog):
    csrf = csrf_of((await session.get("/editor/")).text)
    assert (await session.post("/editor/tokens", data={"csrf": csrf, "name": "nope"})).status_code == 403
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as boss:
        assert (await log_in(boss, admin)).status_code == 303
        csrf = csrf_of((await boss.get("/editor/")).text)
        name = f"feed-{os.getpid()}"
        created = await boss.post("/editor/tokens", data={"csrf": csrf, "name": name, "blog": blog})
        assert created.status_code == 201
        token = re.search(r'<code id="new-token">([^<]+)</code>', created.text)
        assert token is not None
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        posted = await boss.post(f"/api/v1/blogs/{blog}/updates", json={"body": "via token"}, headers=headers)
        assert posted.status_code == 201
        listing = await boss.get("/editor/")
        assert f'data-token="{name}"' in listing.text and token.group(1) not in listing.text
        assert (await boss.post("/editor/tokens", data={"csrf": csrf, "name": name})).status_code == 422
        revoked = await boss.post("/editor/tokens/revoke", data={"csrf": csrf, "name": name})
        assert revoked.status_code == 303
        again = await boss.post(f"/api/v1/blogs/{blog}/updates", json={"body": "revoked"}, headers=headers)
        assert again.status_code == 401


# -- in the browser ------------------------------------------------------------------------------


@pytest.mark.browser
@needs_chromium
async def test_editor_posts_edits_and_deletes_and_the_reader_sees_it_live(browser, server, editor, blog):
    reader_context = await browser.new_context()
    editor_context = await browser.new_context()
    try:
        reader = await reader_context.new_page()
        reader_errors = watch(reader)
        await reader.goto(f"{server.url}/blogs/{blog}")
        await expect(reader.locator("#live-status")).to_have_text("live")

        page = await editor_context.new_page()
        errors = watch(page)
        await log_in_at(page, f"{server.url}/editor/{blog}", editor, PASSWORD)
        await expect(page.locator("#live-status")).to_have_text("live")

        form = page.locator("form#new-update")
        await form.locator("[name=title]").fill("Breaking")
        await form.locator("[name=body]").fill("Mr Guterres will visit **Kyiv** on April 28")
        await expect(page.locator("#preview strong")).to_have_text("Kyiv")
        await form.locator("[name=key_event]").check()

        article = reader.locator("#updates article.update")
        started = time.monotonic()
        await form.locator("button[type=submit]").click()
        await expect(article.locator(".update-title")).to_have_text("Breaking", timeout=5000)
        elapsed = time.monotonic() - started
        print(f"click to visible on the reader page: {elapsed * 1000:.0f} ms (make bench measures speed)")
        await expect(article).to_have_class("update key-event")
        await expect(form.locator("[name=body]")).to_have_value("")  # cleared after success
        mine = page.locator("#updates article.update")
        await expect(mine).to_have_count(1)
        await expect(mine.locator(".editor-controls .control-delete")).to_have_count(1)

        # a rejected post keeps the typed text and explains why
        await form.locator("[name=body]").fill("Scheduled for later")
        await form.locator("[name=scheduled_at]").fill("2999-01-01T10:00")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#form-error")).to_contain_text("scheduled_at")
        await expect(form.locator("[name=body]")).to_have_value("Scheduled for later")

        # edit through the edit page (a plain form post, then 303 back)
        await mine.locator(".control-edit").click()
        await page.locator("form#edit-update [name=body]").fill("He lands in *Kyiv* on April 28")
        await page.locator("form#edit-update button[type=submit]").click()
        await expect(page).to_have_url(re.compile(rf"/editor/{blog}(#.*)?$"))
        await expect(article.locator(".update-body em")).to_have_text("Kyiv", timeout=5000)

        # delete asks first: dismissing keeps it, accepting deletes it
        page.once("dialog", lambda dialog: dialog.dismiss())
        await mine.locator(".control-delete button").click()
        await expect(mine).to_have_count(1)
        page.once("dialog", lambda dialog: dialog.accept())
        await mine.locator(".control-delete button").click()
        await expect(article).to_have_count(0, timeout=5000)
        await expect(mine).to_have_count(0)

        # Chromium logs the rejected post's 422 response; nothing else may appear.
        assert [e for e in errors if "status of 422" not in e] == [] and reader_errors == []
    finally:
        await editor_context.close()
        await reader_context.close()


@pytest.mark.browser
@needs_chromium
async def test_the_desk_publishes_through_the_api_and_a_retry_after_a_lost_answer_publishes_once(
    browser, server, editor, blog, api
):
    """Issue 14: the desk's script posted to the form's URL for a JSON answer, with no
    Idempotency-Key, so sending again after a lost answer published twice, and a session that had
    ended got the login page as a success (the form was cleared, the text lost). It now publishes
    through `POST /api/v1/blogs/{slug}/updates` with the session, its X-CSRF-Token and a key kept
    until the publish succeeds."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        errors = watch(page)
        await log_in_at(page, f"{server.url}/editor/{blog}", editor, PASSWORD)
        await expect(page.locator("#live-status")).to_have_text("live")
        posts: list[Request] = []  # publishes, to the form's URL or the API's (not the previews)
        page.on(
            "request",
            lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/updates") else None,
        )

        async def lose_the_answer(route: Route) -> None:
            await route.fetch()  # the server gets the request and publishes...
            await route.abort()  # ...but its answer never reaches the page

        await page.route(f"{server.url}/api/v1/blogs/{blog}/updates", lose_the_answer, times=1)
        form = page.locator("form#new-update")
        await form.locator("[name=title]").fill("Once")
        await form.locator("[name=body]").fill("Sent *once*")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#form-error")).to_contain_text("Not sent")
        await expect(form.locator("[name=body]")).to_have_value("Sent *once*")
        await form.locator("button[type=submit]").click()
        await expect(form.locator("[name=body]")).to_have_value("")  # cleared: it succeeded
        await expect(page.locator("#form-error")).to_be_hidden()
        await expect(page.locator("#updates article.update .update-title")).to_have_text(["Once"])

        [update] = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
        assert update["body"] == "Sent *once*"
        assert update["author"] == {"name": editor, "kind": "editor", "avatar": None}
        assert [p.url for p in posts] == [f"{server.url}/api/v1/blogs/{blog}/updates"] * 2
        sent = [await p.all_headers() for p in posts]
        assert all(h["content-type"] == "application/json" and h["x-csrf-token"] for h in sent)
        assert sent[0]["idempotency-key"] == sent[1]["idempotency-key"]

        # a session that ended meanwhile: the API's 401 says so on the form, and the text stays
        await context.clear_cookies()
        await form.locator("[name=body]").fill("After the session")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#form-error")).to_contain_text("Your session has ended")
        await expect(form.locator("[name=body]")).to_have_value("After the session")
        assert len((await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]) == 1
        assert [e for e in errors if "ERR_FAILED" not in e and "status of 401" not in e] == []
    finally:
        await context.close()


async def test_the_api_accepts_an_editor_session_with_its_csrf_token(session, blog):
    csrf = csrf_of((await session.get(f"/editor/{blog}")).text)
    url = f"/api/v1/blogs/{blog}/updates"
    refused = await session.post(url, json={"body": "no token"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    forged = await session.post(url, json={"body": "forged"}, headers={"X-CSRF-Token": "0" * 64})
    assert forged.status_code == 403
    accepted = await session.post(url, json={"body": "From the *desk*"}, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["author"] == {"name": "ed", "kind": "editor", "avatar": None}
    # An editor (not an admin) may not create blogs through the API.
    denied = await session.post(
        "/api/v1/blogs", json={"slug": f"{blog}-x", "title": "X"}, headers={"X-CSRF-Token": csrf}
    )
    assert denied.status_code == 403
