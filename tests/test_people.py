"""The desk's people (issue 15): rights per blog, users managed on the desk, bylines.

A real `liveblog serve` (the session's server), real HTTP with session cookies and CSRF tokens,
the real CLI, and headless Chromium for what a user sees.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from .browsing import log_in_at, needs_chromium, watch
from .conftest import PASSWORD, Server, csrf_of, desk_blog, log_in, logged_in
from .markup import Elements
from .test_media import photo
from .test_pages import json_ld
from .test_sessions import assert_one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)
_names = itertools.count(1)
ATOM = "{http://www.w3.org/2005/Atom}"
NEW_PASSWORD = "another-pass"


def new_user(server: Server, role: str = "editor", *blogs: str, display_name: str = "") -> str:
    """A user made with the CLI: `role`, limited to `blogs` (none: every blog)."""
    name = f"person-{os.getpid()}-{next(_names)}"
    args = ["user", "add", name, "--role", role, "--password-stdin"]
    for slug in blogs:
        args += ["--blog", slug]
    if display_name:
        args += ["--display-name", display_name]
    server.cli(*args, stdin=PASSWORD + "\n")
    return name


@pytest.fixture
async def two_blogs(desk: httpx.AsyncClient) -> tuple[str, str]:
    return await desk_blog(desk, "people-a"), await desk_blog(desk, "people-b")


async def desk_csrf(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/editor/")).text)


def later() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")


async def writes(client: httpx.AsyncClient, api: httpx.AsyncClient, slug: str) -> dict[str, int]:
    """Every desk form and API write of a logged-in `client` on blog `slug`, each on things that
    exist (made with the admin token `api`): what each answered."""
    csrf = await desk_csrf(client)
    api_headers = {"X-CSRF-Token": csrf}
    ids = []
    for body in ("edit me", "pin me", "key me", "delete me", "delete me too"):
        made = await api.post(f"/api/v1/blogs/{slug}/updates", json={"body": body})
        ids.append(made.json()["id"])
    scheduled = []
    for body in ("cancel me", "cancel me too"):
        made = await api.post(f"/api/v1/blogs/{slug}/updates", json={"body": body, "scheduled_at": later()})
        scheduled.append(made.json()["scheduled_id"])
    base = f"/editor/{slug}"
    form = {"csrf": csrf, "body": "from the form", "title": ""}
    got = {
        "desk page": (await client.get(base)).status_code,
        "desk audience": (await client.get(f"{base}/audience")).status_code,
        "desk publish": (await client.post(f"{base}/updates", data=form)).status_code,
        "desk schedule": (
            await client.post(f"{base}/updates", data={**form, "scheduled_at": later()[:16]})
        ).status_code,
        "desk edit": (await client.post(f"{base}/updates/{ids[0]}/edit", data=form)).status_code,
        "desk pin": (await client.post(f"{base}/updates/{ids[1]}/pin", data={"csrf": csrf})).status_code,
        "desk key event": (
            await client.post(f"{base}/updates/{ids[2]}/key-event", data={"csrf": csrf})
        ).status_code,
        "desk delete": (
            await client.post(f"{base}/updates/{ids[3]}/delete", data={"csrf": csrf})
        ).status_code,
        "desk cancel": (
            await client.post(f"{base}/scheduled/{scheduled[0]}/cancel", data={"csrf": csrf})
        ).status_code,
        "desk end": (await client.post(f"{base}/status", data={"csrf": csrf, "status": "ended"})).status_code,
        "desk reopen": (
            await client.post(f"{base}/status", data={"csrf": csrf, "status": "live"})
        ).status_code,
    }
    url = f"/api/v1/blogs/{slug}"
    calls: list[tuple[str, str, str, Any]] = [
        ("api publish", "POST", f"{url}/updates", {"body": "from the API"}),
        ("api schedule", "POST", f"{url}/updates", {"body": "later", "scheduled_at": later()}),
        ("api edit", "PATCH", f"{url}/updates/{ids[0]}", {"body": "edited"}),
        ("api pin", "PATCH", f"{url}/updates/{ids[1]}", {"pinned": False}),
        ("api delete", "DELETE", f"{url}/updates/{ids[4]}", None),
        ("api cancel", "DELETE", f"{url}/scheduled/{scheduled[1]}", None),
        ("api end", "PATCH", url, {"status": "ended"}),
        ("api reopen", "PATCH", url, {"status": "live"}),
        ("api scheduled list", "GET", f"{url}/scheduled", None),
    ]
    for what, method, path, body in calls:
        got[what] = (await client.request(method, path, json=body, headers=api_headers)).status_code
    return got


async def test_an_editor_of_one_blog_gets_403_on_another_through_the_desk_and_the_api(
    server: Server, api: httpx.AsyncClient, two_blogs: tuple[str, str]
):
    mine, theirs = two_blogs
    name = new_user(server, "editor", mine)
    async with logged_in(server, name) as client:
        index = Elements((await client.get("/editor/")).text)
        assert [b["data-blog"] for b in index.with_class("blog-item")] == [mine]

        refused = await writes(client, api, theirs)
        assert refused == dict.fromkeys(refused, 403), refused
        page = await client.get(f"/editor/{theirs}")
        assert f"may not write to blog &#39;{theirs}&#39;" in page.text
        before = (await api.get(f"/api/v1/blogs/{theirs}/updates")).json()["updates"]
        assert sorted(u["body"] for u in before) == sorted(
            ["edit me", "pin me", "key me", "delete me", "delete me too"]
        )
        assert [
            s["body"] for s in (await api.get(f"/api/v1/blogs/{theirs}/scheduled")).json()["scheduled"]
        ] == [
            "cancel me",
            "cancel me too",
        ]

        allowed = await writes(client, api, mine)
    assert allowed == {
        "desk page": 200,
        "desk audience": 200,
        "desk publish": 303,
        "desk schedule": 303,
        "desk edit": 303,
        "desk pin": 303,
        "desk key event": 303,
        "desk delete": 303,
        "desk cancel": 303,
        "desk end": 303,
        "desk reopen": 303,
        "api publish": 201,
        "api schedule": 202,
        "api edit": 200,
        "api pin": 200,
        "api delete": 204,
        "api cancel": 204,
        "api end": 200,
        "api reopen": 200,
        "api scheduled list": 200,
    }


async def test_an_admin_adds_a_user_on_the_desk_who_then_logs_in(
    server: Server, desk: httpx.AsyncClient, two_blogs: tuple[str, str]
):
    mine, theirs = two_blogs
    name = f"added-{os.getpid()}-{next(_names)}"
    csrf = await desk_csrf(desk)
    form = {
        "csrf": csrf,
        "name": name,
        "display_name": "Olga Tokariuk",
        "role": "editor",
        "blogs": [mine],
        "avatar": "https://images.example.org/olga.png",
        "password": PASSWORD,
    }
    for wrong, message in (
        ({"password": "short"}, "password: must have 8 to 1000 characters"),
        ({"role": "owner"}, "role: must be one of admin, editor, contributor"),
        ({"blogs": ["no-such-blog"]}, "blogs: no blog &#39;no-such-blog&#39;"),
        ({"blogs": ["}{" * 200]}, "blogs: no blog &#39;}{}{"),
        ({"avatar": "javascript:alert(1)"}, "avatar: must be an https:// URL or a /media/... path"),
        ({"avatar": "/media/../secret"}, "avatar: must be an https:// URL or a /media/... path"),
        ({"display_name": "a\x07b"}, "display_name: must not contain control characters"),
    ):
        refused = await desk.post("/editor/users", data={**form, **wrong})
        assert refused.status_code == 422 and message in refused.text, (wrong, refused.text[:300])
        assert f'value="{name}"' in refused.text  # the form keeps what was typed
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        assert (await log_in(anonymous, name)).status_code == 401

    added = await desk.post("/editor/users", data=form)
    assert added.status_code == 303 and added.headers["location"] == "/editor/#users"
    index = await desk.get("/editor/")
    row = re.search(rf'<tr data-user="{name}">.*?</tr>', index.text, re.S)
    assert row is not None
    assert '<td class="user-display-name">Olga Tokariuk</td>' in row.group(0)
    assert f'<td class="user-blogs">{mine}</td>' in row.group(0)
    assert '<td class="user-role">editor</td>' in row.group(0)
    assert f"User {name} added" in index.text
    again = await desk.post("/editor/users", data=form)
    assert again.status_code == 409 and "exists already" in again.text

    async with logged_in(server, name) as client:
        listed = Elements((await client.get("/editor/")).text)
        assert [b["data-blog"] for b in listed.with_class("blog-item")] == [mine]
        assert (await client.get(f"/editor/{theirs}")).status_code == 403
        csrf = await desk_csrf(client)
        denied = await client.post("/editor/users", data={**form, "csrf": csrf, "name": name + "-x"})
        assert denied.status_code == 403 and "only admins manage users" in denied.text


async def test_resetting_a_password_ends_every_session_of_that_user(server: Server, desk: httpx.AsyncClient):
    name = new_user(server)
    async with logged_in(server, name) as first, logged_in(server, name) as second:
        for client in (first, second):
            assert (await client.get("/editor/")).status_code == 200
        csrf = await desk_csrf(desk)
        short = await desk.post("/editor/users/password", data={"csrf": csrf, "name": name, "password": "x"})
        assert short.status_code == 422
        assert (await first.get("/editor/")).status_code == 200  # a refused reset ends nothing
        reset = await desk.post(
            "/editor/users/password", data={"csrf": csrf, "name": name, "password": NEW_PASSWORD}
        )
        assert reset.status_code == 303 and reset.headers["location"] == "/editor/#users"
        for client in (first, second):
            ended = await client.get("/editor/")
            assert ended.status_code == 303 and ended.headers["location"] == "/login?next=/editor/"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        assert (await log_in(client, name)).status_code == 401
        assert (await log_in(client, name, NEW_PASSWORD)).status_code == 303
    missing = await desk.post(
        "/editor/users/password", data={"csrf": csrf, "name": name + "-x", "password": NEW_PASSWORD}
    )
    assert missing.status_code == 404


async def test_role_and_blog_changes_take_effect_on_the_next_request(
    server: Server, desk: httpx.AsyncClient, two_blogs: tuple[str, str]
):
    mine, theirs = two_blogs
    name = new_user(server)  # no blogs assigned: every blog, as for users made before blogs existed
    csrf = await desk_csrf(desk)

    async def change(role: str, *blogs: str) -> None:
        form = {"csrf": csrf, "name": name, "role": role, "blogs": list(blogs), "display_name": ""}
        changed = await desk.post("/editor/users/change", data=form)
        assert changed.status_code == 303, changed.text

    async with logged_in(server, name) as client:
        mine_csrf = csrf_of((await client.get(f"/editor/{mine}")).text)

        async def publish(slug: str) -> int:
            headers = {"X-CSRF-Token": mine_csrf}
            sent = await client.post(f"/api/v1/blogs/{slug}/updates", json={"body": "hi"}, headers=headers)
            return sent.status_code

        assert await publish(theirs) == 201 and (await client.get(f"/editor/{theirs}")).status_code == 200
        await change("editor", mine)
        assert await publish(theirs) == 403 and (await client.get(f"/editor/{theirs}")).status_code == 403
        assert await publish(mine) == 201
        await change("contributor", mine)
        assert (await client.get(f"/editor/{mine}")).status_code == 200  # sees the desk of its blog
        assert await publish(mine) == 403
        form = {"csrf": mine_csrf, "body": "from the form"}
        refused = await client.post(f"/editor/{mine}/updates", data=form)
        assert refused.status_code == 403 and "contributor" in refused.text
        index = await client.get("/editor/")
        assert f'action="/editor/{mine}/status"' not in index.text
        await change("admin", mine)  # an admin acts on every blog, whatever is assigned
        assert await publish(theirs) == 201
        assert (await client.get("/editor/")).text.count('class="blog-item"') >= 2

    boss_name = re.search(r'id="editor-name">([^<]+)<', (await desk.get("/editor/")).text)
    assert boss_name is not None
    own: dict[str, Any] = {"csrf": csrf, "name": boss_name.group(1), "role": "editor", "blogs": []}
    assert (await desk.post("/editor/users/change", data=own)).status_code == 409
    missing = await desk.post("/editor/users/change", data={**own, "name": name + "-x"})
    assert missing.status_code == 404


async def test_the_cli_adds_contributors_limited_to_blogs_with_a_display_name_and_avatar(
    server: Server, two_blogs: tuple[str, str]
):
    mine, _ = two_blogs
    name = f"cli-person-{os.getpid()}-{next(_names)}"
    server.cli(
        "user", "add", name, "--role", "contributor", "--blog", mine, "--display-name", "Ann Contributor",
        "--avatar", "https://images.example.org/ann.png", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    raw = server.redis().hget("lb:{auth}:users", name)
    assert raw is not None
    record = json.loads(raw)
    assert {k: record[k] for k in ("role", "blogs", "display_name", "avatar")} == {
        "role": "contributor",
        "blogs": [mine],
        "display_name": "Ann Contributor",
        "avatar": "https://images.example.org/ann.png",
    }
    for args, message in (
        (["--blog", "no-such-blog"], "blogs: no blog 'no-such-blog'"),
        (["--avatar", "javascript:alert(1)"], "avatar: must be an https:// URL or a /media/... path"),
    ):
        refused = run_cli(server, "user", "add", name, *args, "--password-stdin")
        assert_one_line_error(refused, message)
    assert json.loads(server.redis().hget("lb:{auth}:users", name) or "") == record  # unchanged


async def test_an_avatar_uploaded_on_the_desk_is_checked_re_encoded_and_signs_the_updates(
    server: Server, desk: httpx.AsyncClient, blog: str, api: httpx.AsyncClient
):
    """Uploaded like any image (media.py): an avatar is served from /media/_people/..., never as
    it came; a file that is no image is 422 with the form, and nothing is stored."""
    name = new_user(server, "editor", blog)
    csrf = await desk_csrf(desk)
    form = {"csrf": csrf, "name": name, "role": "editor", "blogs": [blog], "display_name": "Iryna"}
    avatars = server.redis()
    try:
        before = sorted(avatars.scan_iter("lb:{_people}:media:*"))
        refused = await desk.post(
            "/editor/users/change",
            data=form,
            files={"avatar_file": ("me.jpg", b"<html>no image", "image/jpeg")},
        )
        assert refused.status_code == 422, refused.text
        assert sorted(avatars.scan_iter("lb:{_people}:media:*")) == before
        changed = await desk.post(
            "/editor/users/change",
            data=form,
            files={"avatar_file": ("me.jpg", photo((300, 300)), "image/jpeg")},
        )
        assert changed.status_code == 303, changed.text
        record = json.loads(avatars.hget("lb:{auth}:users", name) or "{}")
    finally:
        avatars.close()
    avatar = record["avatar"]
    assert re.fullmatch(r"/media/_people/[0-9a-f]{32}-300\.webp", avatar), avatar
    served = await api.get(avatar)
    assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert b"Exif" not in served.content
    async with logged_in(server, name) as client:
        page_csrf = csrf_of((await client.get(f"/editor/{blog}")).text)
        sent = await client.post(
            f"/api/v1/blogs/{blog}/updates", json={"body": "Signed"}, headers={"X-CSRF-Token": page_csrf}
        )
    assert sent.json()["author"] == {"name": "Iryna", "kind": "editor", "avatar": avatar}
    assert (await api.get("/media/_people/" + "0" * 32 + "-300.webp")).status_code == 404


async def test_bylines_carry_the_display_name_and_avatar(
    server: Server, api: httpx.AsyncClient, desk: httpx.AsyncClient, two_blogs: tuple[str, str]
):
    slug, _ = two_blogs
    plain = new_user(server, "editor", slug)
    named = new_user(server, "editor", slug, display_name="Olga Tokariuk")
    csrf = await desk_csrf(desk)
    avatar = "/media/avatars/olga.png"
    form = {"csrf": csrf, "name": named, "role": "editor", "blogs": [slug], "display_name": "Olga Tokariuk"}
    assert (await desk.post("/editor/users/change", data={**form, "avatar": avatar})).status_code == 303

    async with logged_in(server, named) as client:
        page_csrf = csrf_of((await client.get(f"/editor/{slug}")).text)
        posted = await client.post(f"/editor/{slug}/updates", data={"csrf": page_csrf, "body": "By form"})
        assert posted.status_code == 303
        sent = await client.post(
            f"/api/v1/blogs/{slug}/updates", json={"body": "By API"}, headers={"X-CSRF-Token": page_csrf}
        )
        assert sent.status_code == 201
    async with logged_in(server, plain) as client:
        page_csrf = csrf_of((await client.get(f"/editor/{slug}")).text)
        await client.post(f"/editor/{slug}/updates", data={"csrf": page_csrf, "body": "By plain"})
    await api.post(f"/api/v1/blogs/{slug}/updates", json={"body": "By bot"})

    updates = {u["body"]: u for u in (await api.get(f"/api/v1/blogs/{slug}/updates")).json()["updates"]}
    olga = {"name": "Olga Tokariuk", "kind": "editor", "avatar": avatar}
    assert updates["By form"]["author"] == olga and updates["By API"]["author"] == olga
    assert updates["By plain"]["author"] == {"name": plain, "kind": "editor", "avatar": None}
    assert updates["By bot"]["author"] == {"name": "test-admin", "kind": "bot"}

    page = (await api.get(f"/blogs/{slug}")).text
    article = re.search(rf'<article[^>]*data-update-id="{updates["By form"]["id"]}".*?</article>', page, re.S)
    assert article is not None
    byline = Elements(article.group(0))
    [img] = byline.with_class("update-avatar")
    assert img["src"] == avatar and img["alt"] == ""
    assert '<span class="update-author" data-kind="editor">Olga Tokariuk</span>' in article.group(0)
    plain_article = re.search(rf'data-update-id="{updates["By plain"]["id"]}".*?</article>', page, re.S)
    assert plain_article is not None and "update-avatar" not in plain_article.group(0)

    posts = {p["articleBody"]: p for p in json_ld(page)["liveBlogUpdate"]}
    origin = server.url
    assert posts["By form"]["author"] == {
        "@type": "Person",
        "name": "Olga Tokariuk",
        "image": origin + avatar,
    }
    assert posts["By plain"]["author"] == {"@type": "Person", "name": plain}

    items = {i["content_html"]: i for i in (await api.get(f"/blogs/{slug}/feed.json")).json()["items"]}
    assert items["<p>By form</p>"]["authors"] == [{"name": "Olga Tokariuk", "avatar": origin + avatar}]
    assert items["<p>By plain</p>"]["authors"] == [{"name": plain}]
    atom = ET.fromstring((await api.get(f"/blogs/{slug}/feed.atom")).content)
    names = {
        e.findtext(f"{ATOM}content"): e.findtext(f"{ATOM}author/{ATOM}name")
        for e in atom.iter(f"{ATOM}entry")
    }
    assert names["<p>By form</p>"] == "Olga Tokariuk" and names["<p>By plain</p>"] == plain


# -- in Chromium ------------------------------------------------------------------------------------


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[Any]:
    made = await browser.new_context()
    yield made
    await made.close()


@pytest.mark.browser
@needs_chromium
async def test_in_chromium_a_disabled_users_open_desk_stops_working(
    server: Server, api: httpx.AsyncClient, browser: Browser, two_blogs: tuple[str, str]
):
    slug, _ = two_blogs
    name = new_user(server, "editor", slug)
    boss = new_user(server, "admin")
    desk_url = f"{server.url}/editor/{slug}"
    user_js = await browser.new_context()
    user_plain = await browser.new_context(java_script_enabled=False)
    admin = await browser.new_context()
    try:
        page = await user_js.new_page()
        errors = watch(page)
        await log_in_at(page, desk_url, name, PASSWORD)
        plain = await user_plain.new_page()
        await log_in_at(plain, desk_url, name, PASSWORD)

        boss_page = await admin.new_page()
        await log_in_at(boss_page, f"{server.url}/editor/", boss, PASSWORD)
        row = boss_page.locator(f'#users tr[data-user="{name}"]')
        await row.locator(".control-disable button").click()
        await expect(row.locator(".user-status")).to_have_text("disabled")

        form = page.locator("form#new-update")
        await form.locator("[name=body]").fill("After the disable")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#form-error")).to_contain_text("Your session has ended")
        await page.reload()
        await expect(page).to_have_url(re.compile(r"/login\?next=/editor/"))
        await expect(page.locator("form#login")).to_be_visible()

        await plain.locator("form#new-update [name=body]").fill("After the disable, no JS")
        await plain.locator("form#new-update button[type=submit]").click()
        await expect(plain).to_have_url(f"{server.url}/login?next=/editor/{slug}")
        assert (await api.get(f"/api/v1/blogs/{slug}/updates")).json()["updates"] == []
        assert [e for e in errors if "status of 401" not in e] == []
    finally:
        for made in (user_js, user_plain, admin):
            await made.close()


@pytest.mark.browser
@needs_chromium
async def test_in_chromium_an_editor_of_one_blog_does_not_see_another_and_gets_403(
    server: Server, context: Any, two_blogs: tuple[str, str]
):
    mine, theirs = two_blogs
    name = new_user(server, "editor", mine)
    page = await context.new_page()
    await log_in_at(page, f"{server.url}/editor/", name, PASSWORD)
    await expect(page.locator("#editor-blogs .blog-item")).to_have_count(1)
    await expect(page.locator(f'#editor-blogs [data-blog="{mine}"]')).to_be_visible()
    await expect(page.locator(f'[data-blog="{theirs}"]')).to_have_count(0)
    response = await page.goto(f"{server.url}/editor/{theirs}")
    assert response is not None and response.status == 403
    await expect(page.locator("body")).to_contain_text(f"may not write to blog {theirs!r}")


@pytest.mark.browser
@needs_chromium
async def test_in_chromium_a_live_update_shows_its_byline_and_avatar(
    server: Server, desk: httpx.AsyncClient, context: Any, two_blogs: tuple[str, str]
):
    slug, _ = two_blogs
    name = new_user(server, "editor", slug)
    avatar = "/media/avatars/olga.png"
    form = {"csrf": await desk_csrf(desk), "name": name, "role": "editor", "blogs": [slug]}
    changed = await desk.post("/editor/users/change", data={**form, "display_name": "Olga", "avatar": avatar})
    assert changed.status_code == 303
    desk_page = await context.new_page()
    await log_in_at(desk_page, f"{server.url}/editor/{slug}", name, PASSWORD)
    reader = await context.new_page()
    errors = watch(reader)
    await reader.goto(f"{server.url}/blogs/{slug}")
    await expect(reader.locator("#live-status")).to_have_text("live")
    new_update = desk_page.locator("form#new-update")
    await new_update.locator("[name=body]").fill("Live byline")
    await new_update.locator("button[type=submit]").click()
    byline = reader.locator("#updates article.update .update-byline")
    await expect(byline.locator(".update-author")).to_have_text("Olga")
    await expect(byline.locator("img.update-avatar")).to_have_attribute("src", avatar)
    await expect(byline.locator("img.update-avatar")).to_have_attribute("alt", "")
    assert [e for e in errors if "Failed to load resource" not in e] == []  # no /media/ yet (MEDIA)
