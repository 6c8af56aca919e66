"""Drafts, the contributor role and scheduled posts on the desk (issue 15, DRAFTS).

A draft is on no public path (stream, updates API, permalink, page, feeds) until it is published;
publishing it goes through the one publish path, in one step with its removal, once however often
it is retried; a contributor writes drafts and nothing else; a scheduled update's text and time can
be changed on the desk, and what is published is the changed one."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Browser, Route, expect

from liveblog.errors import Conflict
from liveblog.models import MAX_DRAFTS
from liveblog.store import DraftRef, Keys, Store

from .browsing import log_in_at, needs_chromium, open_reader, watch
from .clients import SSEReader
from .conftest import PASSWORD, Server, add_user, csrf_of, desk_blog, logged_in, publish
from .test_media import photo

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def contributor(server: Server) -> str:
    return add_user(server, "cora", "contributor")


@pytest.fixture
async def blog(desk: httpx.AsyncClient) -> str:
    return await desk_blog(desk, "drafts")


@pytest.fixture
async def cora(server: Server, contributor: str) -> AsyncIterator[httpx.AsyncClient]:
    async with logged_in(server, contributor) as http:
        yield http


@pytest.fixture
async def ed(server: Server, editor: str) -> AsyncIterator[httpx.AsyncClient]:
    async with logged_in(server, editor) as http:
        yield http


async def csrf(http: httpx.AsyncClient, blog: str) -> dict[str, str]:
    """The X-CSRF-Token header of `http`'s session, for the API."""
    return {"X-CSRF-Token": csrf_of((await http.get(f"/editor/{blog}")).text)}


async def save_draft(http: httpx.AsyncClient, blog: str, body: str, **fields: object) -> dict:
    response = await http.post(
        f"/api/v1/blogs/{blog}/drafts", json={"body": body, **fields}, headers=await csrf(http, blog)
    )
    assert response.status_code == 201, response.text
    return response.json()


# -- a draft is on no public path --------------------------------------------------------------------


async def test_a_draft_is_on_no_public_path(server: Server, api, cora, blog):
    secret = f"EMBARGOED-{uuid.uuid4().hex}"
    before = await (await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()).live()
    redis = server.redis()
    events = Keys.of(blog).events
    length = redis.xlen(events)

    draft = await save_draft(cora, blog, f"The *{secret}* text", title=f"Title {secret}", key_event=True)
    assert (
        draft["author"] == {"name": "cora", "kind": "editor", "avatar": None} and draft["key_event"] is True
    )
    assert draft["html"] == f"<p>The <em>{secret}</em> text</p>"
    listed = await cora.get(f"/api/v1/blogs/{blog}/drafts")
    assert listed.headers["cache-control"] == "private, no-store"
    assert [d["id"] for d in listed.json()["drafts"]] == [draft["id"]]

    assert redis.xlen(events) == length
    after = await (
        await SSEReader(server.url, f"/api/v1/blogs/{blog}/events?last_event_id=0-0").connect()
    ).live()
    marker = await publish(api, blog, "a published update, after the draft")
    for reader in (before, after):  # the marker is the first and only event either reader gets
        (event,) = await reader.wait_for(1)
        assert event.id == marker["id"] and secret not in json.dumps(event.data)
        await reader.close()

    assert (await api.get(f"/api/v1/blogs/{blog}/updates/{draft['id']}")).status_code == 404
    assert (await api.get(f"/blogs/{blog}/updates/{draft['id']}")).status_code == 404
    assert (await api.get(f"/api/v1/blogs/{blog}/drafts")).status_code == 200  # a writer's token
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        assert (await anonymous.get(f"/api/v1/blogs/{blog}/drafts")).status_code == 401
        assert (await anonymous.get(f"/api/v1/blogs/{blog}/drafts/{draft['id']}")).status_code == 401
        for path in ("/api/v1/blogs/{}/updates", "/blogs/{}", "/blogs/{}/feed.atom", "/blogs/{}/feed.json"):
            response = await anonymous.get(path.format(blog))
            assert response.status_code == 200 and marker["id"] in response.text, path
            assert secret not in response.text, path


# -- publishing a draft ----------------------------------------------------------------------------


async def test_an_editor_publishes_a_contributors_draft_once_with_the_contributor_as_author(
    server: Server, api, cora, ed, blog
):
    draft = await save_draft(cora, blog, "Written by **Cora**", title="Cora's")
    reader = await (await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()).live()
    url = f"/api/v1/blogs/{blog}/drafts/{draft['id']}/publish"
    headers = await csrf(ed, blog)
    first = await ed.post(url, headers=headers)
    assert first.status_code == 201, first.text
    update = first.json()
    assert first.headers["location"].endswith(f"/api/v1/blogs/{blog}/updates/{update['id']}")
    assert (
        update["author"] == {"name": "cora", "kind": "editor", "avatar": None} and update["title"] == "Cora's"
    )
    assert "published_by" not in update  # the publisher is the desk's to know

    retry = await ed.post(url, headers=headers)  # the answer was lost, say: the same update
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == update
    marker = await publish(api, blog, "marker")
    events = await reader.wait_for(2)
    assert [(e.type, e.id) for e in events] == [
        ("update.published", update["id"]),
        ("update.published", marker["id"]),
    ]
    assert events[0].data["update"]["author"]["name"] == "cora"
    await reader.close()

    listed = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
    assert [u["id"] for u in listed] == [marker["id"], update["id"]]
    assert all("published_by" not in u for u in listed)
    assert (await ed.get(f"/api/v1/blogs/{blog}/drafts")).json()["drafts"] == []
    assert server.redis().hget(Keys.of(blog).published_by, update["id"]) == b"ed"
    desk = (await ed.get(f"/editor/{blog}")).text
    assert "Published by ed" in desk

    # deleting the update forgets who published it too
    assert (await api.delete(f"/api/v1/blogs/{blog}/updates/{update['id']}")).status_code == 204
    assert server.redis().hexists(Keys.of(blog).published_by, update["id"]) == 0


async def test_a_draft_changed_since_it_was_read_is_not_published(server: Server, cora, blog):
    draft = await save_draft(cora, blog, "first version")
    redis = server.aredis()
    store = Store(redis)
    stale = await store.get_draft(blog, draft["id"])
    assert stale is not None
    edited = await cora.patch(
        f"/api/v1/blogs/{blog}/drafts/{draft['id']}",
        json={"body": "second version"},
        headers=await csrf(cora, blog),
    )
    assert edited.status_code == 200 and edited.json()["html"] == "<p>second version</p>"
    fields = {**json.loads(stale), "pinned": False, "published_at": "", "updated_at": ""}
    with pytest.raises(Conflict):
        await store.publish(
            blog, fields, idempotency=("draft-x", "x"), draft=DraftRef(draft["id"], stale, "ed")
        )
    assert await store.get_draft(blog, draft["id"]) is not None
    assert (await store.list_updates(blog)).updates == []
    await redis.aclose()


async def test_drafts_by_bots_and_their_validation(api, blog):
    url = f"/api/v1/blogs/{blog}/drafts"
    response = await api.post(
        url, json={"body": "from a bot", "image": {"url": "https://x.example/a.png", "alt": "A"}}
    )
    assert response.status_code == 201 and response.json()["author"]["kind"] == "bot"
    draft = response.json()
    assert (await api.post(url, json={"body": "x", "pinned": True})).json()[
        "detail"
    ] == "pinned: unknown field"
    assert (await api.post(url, json={"body": " "})).status_code == 422
    assert (
        await api.post(url, content=b"{", headers={"Content-Type": "application/json"})
    ).status_code == 400
    assert (await api.post(f"/api/v1/blogs/no-such-{blog}/drafts", json={"body": "x"})).status_code == 404
    one = f"{url}/{draft['id']}"
    patched = await api.patch(one, json={"title": "Titled", "image": None})
    assert (
        patched.status_code == 200 and patched.json()["title"] == "Titled" and patched.json()["image"] is None
    )
    assert (await api.get(one)).json() == patched.json()
    published = await api.post(f"{one}/publish")
    assert published.status_code == 201 and published.json()["title"] == "Titled"
    assert (await api.patch(one, json={"body": "too late"})).status_code == 404  # it does not come back
    assert (await api.get(one)).status_code == 404
    assert (await api.post(f"{url}/0000000000000000/publish")).status_code == 404
    other = (await api.post(url, json={"body": "deleted"})).json()
    assert (await api.delete(f"{url}/{other['id']}")).status_code == 204
    assert (await api.post(f"{url}/{other['id']}/publish")).status_code == 404
    listed = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
    assert [u["title"] for u in listed] == ["Titled"]
    assert (await api.delete(f"/api/v1/blogs/{blog}/updates/{listed[0]['id']}")).status_code == 204
    late = await api.post(f"{one}/publish")  # a retry after its update was deleted: no second one
    assert late.status_code == 409 and "deleted" in late.json()["detail"]

    # an ended blog refuses a draft's publish; the draft stays for the reopening
    kept = (await api.post(url, json={"body": "for later"})).json()
    assert (await api.patch(f"/api/v1/blogs/{blog}", json={"status": "ended"})).status_code == 200
    refused = await api.post(f"{url}/{kept['id']}/publish")
    assert refused.status_code == 409 and "ended" in refused.json()["detail"]
    assert (await api.get(f"{url}/{kept['id']}")).status_code == 200
    assert (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"] == []


async def test_a_bots_draft_with_an_idempotency_key_is_saved_once_however_often_it_is_retried(api, blog):
    url = f"/api/v1/blogs/{blog}/drafts"
    key = {"Idempotency-Key": f"wire-{uuid.uuid4()}"}
    first = await api.post(url, json={"body": "Saved once"}, headers=key)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await api.post(url, json={"body": "Saved once"}, headers=key)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    # Retries racing each other: one draft still.
    racing = {"Idempotency-Key": f"wire-{uuid.uuid4()}"}
    raced = await asyncio.gather(*(api.post(url, json={"body": "Raced"}, headers=racing) for _ in range(6)))
    assert {r.status_code for r in raced} == {201} and len({r.json()["id"] for r in raced}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in raced) == 5
    bodies = [d["body"] for d in (await api.get(url)).json()["drafts"]]
    assert sorted(bodies) == ["Raced", "Saved once"]

    # The draft as it is now; another body with the key is 409, as is any use of a publish's key.
    one = f"{url}/{first.json()['id']}"
    assert (await api.patch(one, json={"title": "Since titled"})).status_code == 200
    edited = await api.post(url, json={"body": "Saved once"}, headers=key)
    assert edited.status_code == 201 and edited.json()["title"] == "Since titled"
    other = await api.post(url, json={"body": "Another text"}, headers=key)
    assert other.status_code == 409 and "another request body" in other.json()["detail"]
    published_key = {"Idempotency-Key": f"wire-{uuid.uuid4()}"}
    publish = await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "Same"}, headers=published_key)
    assert publish.status_code == 201
    assert (await api.post(url, json={"body": "Same"}, headers=published_key)).status_code == 409
    assert (await api.post(url, json={"body": "x"}, headers={"Idempotency-Key": ""})).status_code == 400

    # Once published, a retry saves no second draft of it.
    assert (await api.post(f"{one}/publish")).status_code == 201
    late = await api.post(url, json={"body": "Saved once"}, headers=key)
    assert late.status_code == 409 and "published or deleted" in late.json()["detail"]
    assert [d["body"] for d in (await api.get(url)).json()["drafts"]] == ["Raced"]


async def test_a_desk_holds_at_most_max_drafts_counted_in_the_step_that_saves_one(
    server: Server, api, cora, blog
):
    """The drafts list (the API's and the desk page's) has a bound: a new draft past `MAX_DRAFTS`
    is 409 on every way in, the desk's form showing the refused text again to be kept, and
    saves racing for the last places never pass it."""
    url = f"/api/v1/blogs/{blog}/drafts"
    first = (await api.post(url, json={"body": "The first"})).json()
    key = Keys.of(blog).drafts
    with server.redis() as redis:  # the desk filled up to one place short, as the API would
        text = redis.hget(key, first["id"])
        text = text.decode() if isinstance(text, bytes) else text
        copies = {f"{n:016x}": text.replace(first["id"], f"{n:016x}") for n in range(1, MAX_DRAFTS - 1)}
        redis.hset(key, mapping=copies)
    assert (await api.post(url, json={"body": "The last that fits"})).status_code == 201
    refused = await api.post(url, json={"body": "One too many"})
    assert refused.status_code == 409, refused.text
    assert f"holds {MAX_DRAFTS} drafts" in refused.json()["detail"]

    token = csrf_of((await cora.get(f"/editor/{blog}")).text)
    fields = {"csrf": token, "title": "Kept", "body": "Typed at the desk, not lost", "image_alt": ""}
    form = await cora.post(f"/editor/{blog}/drafts", data=fields)
    assert form.status_code == 409, form.text
    assert "Typed at the desk, not lost" in form.text and f"holds {MAX_DRAFTS} drafts" in form.text

    listed = (await api.get(url)).json()["drafts"]
    assert len(listed) == MAX_DRAFTS and "The last that fits" in {d["body"] for d in listed}
    for draft in listed[:3]:
        assert (await api.delete(f"{url}/{draft['id']}")).status_code == 204
    raced = await asyncio.gather(*(api.post(url, json={"body": f"Race {n}"}) for n in range(8)))
    assert sorted(r.status_code for r in raced) == [201] * 3 + [409] * 5
    assert len((await api.get(url)).json()["drafts"]) == MAX_DRAFTS


# -- the contributor --------------------------------------------------------------------------------


async def test_a_contributor_gets_403_on_every_other_write_through_the_api(api, cora, blog):
    update = await publish(api, blog, "published by a bot")
    headers = await csrf(cora, blog)
    base = f"/api/v1/blogs/{blog}"
    attempts = [
        ("POST", f"{base}/updates", {"body": "publish"}),
        ("PATCH", f"{base}/updates/{update['id']}", {"body": "edit"}),
        ("PATCH", f"{base}/updates/{update['id']}", {"pinned": True}),
        ("DELETE", f"{base}/updates/{update['id']}", None),
        ("PATCH", base, {"status": "ended"}),
    ]
    draft = await save_draft(cora, blog, "mine")
    attempts.append(("POST", f"{base}/drafts/{draft['id']}/publish", None))
    for method, url, body in attempts:
        response = await cora.request(method, url, json=body, headers=headers)
        assert response.status_code == 403, (method, url, response.text)
        assert "contributor" in response.json()["detail"]
    assert (await api.get(f"{base}/updates/{update['id']}")).json()["body"] == "published by a bot"
    assert (await api.get(base)).json()["status"] == "live"

    theirs = (await api.post(f"{base}/drafts", json={"body": "a bot's draft"})).json()
    for method, body in (("PATCH", {"body": "mine now"}), ("DELETE", None)):
        response = await cora.request(method, f"{base}/drafts/{theirs['id']}", json=body, headers=headers)
        assert response.status_code == 403 and "own drafts" in response.json()["detail"]
    mine = await cora.patch(f"{base}/drafts/{draft['id']}", json={"body": "mine, edited"}, headers=headers)
    assert mine.status_code == 200
    assert (await cora.delete(f"{base}/drafts/{draft['id']}", headers=headers)).status_code == 204


async def test_a_contributor_gets_403_on_the_desks_forms_and_sees_only_save_draft(api, cora, blog):
    update = await publish(api, blog, "published")
    scheduled = await api.post(
        f"/api/v1/blogs/{blog}/updates", json={"body": "later", "scheduled_at": _in(600)}
    )
    sid = scheduled.json()["scheduled_id"]
    page = (await cora.get(f"/editor/{blog}")).text
    assert 'id="save-draft"' in page and f'action="/editor/{blog}/drafts"' in page
    for absent in ('id="publish"', 'id="blog-status"', "control-delete", "control-pin", "control-cancel",
                   "control-edit-scheduled", 'name="pinned"', 'name="scheduled_at"', 'id="update-controls"'):  # fmt: skip
        assert absent not in page, absent
    token = {"csrf": csrf_of(page)}
    base = f"/editor/{blog}/updates/{update['id']}"
    forms = [
        (f"/editor/{blog}/updates", {"body": "publish"}),
        (f"{base}/edit", {"body": "edit"}),
        (f"{base}/pin", {"pinned": "true"}),
        (f"{base}/key-event", {"key_event": "true"}),
        (f"{base}/delete", {}),
        (f"/editor/{blog}/status", {"status": "ended"}),
        (f"/editor/{blog}/scheduled/{sid}/cancel", {}),
        (f"/editor/{blog}/scheduled/{sid}/edit", {"body": "x", "scheduled_at": _in(900)[:19]}),
    ]
    for url, form in forms:
        response = await cora.post(url, data={**token, **form})
        assert response.status_code == 403, (url, response.text)
    assert (await cora.get(f"{base}/edit")).status_code == 403
    assert (await cora.get(f"/editor/{blog}/scheduled/{sid}/edit")).status_code == 403
    current = (await api.get(f"/api/v1/blogs/{blog}/updates/{update['id']}")).json()
    assert current["body"] == "published" and current["pinned"] is False and current["key_event"] is False
    assert len((await api.get(f"/api/v1/blogs/{blog}/scheduled")).json()["scheduled"]) == 1

    saved = await cora.post(f"/editor/{blog}/drafts", data={**token, "title": "T", "body": "Draft *text*"})
    assert saved.status_code == 303 and saved.headers["location"] == f"/editor/{blog}#drafts"
    [draft] = (await api.get(f"/api/v1/blogs/{blog}/drafts")).json()["drafts"]
    assert draft["author"]["name"] == "cora" and draft["title"] == "T"
    refused = await cora.post(f"/editor/{blog}/drafts/{draft['id']}/publish", data=token)
    assert refused.status_code == 403
    page = (await cora.get(f"/editor/{blog}")).text
    assert f'data-draft-id="{draft["id"]}"' in page and "Draft saved" in page
    assert "control-publish-draft" not in page and "control-delete-draft" in page


async def test_an_editor_reviews_edits_and_publishes_a_draft_on_the_desk(api, cora, ed, blog):
    draft = await save_draft(cora, blog, "Frist draft", title="Typo")
    page = (await ed.get(f"/editor/{blog}")).text
    assert "control-publish-draft" in page and 'id="publish"' in page and 'form="new-update"' in page
    review = await ed.get(f"/editor/{blog}/drafts/{draft['id']}/edit")
    assert (
        review.status_code == 200
        and "Frist draft</textarea>" in review.text
        and 'id="publish-draft"' in review.text
    )
    token = csrf_of(review.text)
    invalid = await ed.post(f"/editor/{blog}/drafts/{draft['id']}/publish", data={"csrf": token, "body": ""})
    assert invalid.status_code == 422 and "body: must not be empty" in invalid.text
    form = {"csrf": token, "title": "Fixed", "body": "First draft", "key_event": "true"}
    done = await ed.post(f"/editor/{blog}/drafts/{draft['id']}/publish", data=form)
    assert done.status_code == 303
    [update] = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
    assert done.headers["location"] == f"/editor/{blog}#update-{update['id']}"
    assert (update["title"], update["body"], update["key_event"]) == ("Fixed", "First draft", True)
    assert update["author"] == {"name": "cora", "kind": "editor", "avatar": None}
    again = await ed.post(f"/editor/{blog}/drafts/{draft['id']}/publish", data={"csrf": token})
    assert again.status_code == 303  # a second click: the same update, not another one
    assert len((await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]) == 1


async def test_the_desks_form_without_javascript_saves_a_draft_with_its_photo(api, cora, blog):
    """The new-update form is multipart (it may carry an image file): "Save draft" posts it as it
    is, as a browser without JavaScript does, and a contributor's photo goes with the draft."""
    token = csrf_of((await cora.get(f"/editor/{blog}")).text)
    fields = {"csrf": token, "title": "", "body": "No photo, an empty file field", "image_alt": ""}
    # What a browser sends for a file field left empty (httpx would leave out `filename=""`).
    parts = [f'Content-Disposition: form-data; name="{k}"\r\n\r\n{v}' for k, v in fields.items()]
    parts.append('Content-Disposition: form-data; name="image_file"; filename=""\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n")  # fmt: skip
    body = "".join(f"--b0undary\r\n{part}\r\n" for part in parts) + "--b0undary--\r\n"
    empty = await cora.post(
        f"/editor/{blog}/drafts",
        content=body.encode(),
        headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert empty.status_code == 303, empty.text
    fields = {**fields, "body": "The shelter", "image_alt": "People sleeping on a platform"}
    saved = await cora.post(
        f"/editor/{blog}/drafts",
        data=fields,
        files={"image_file": ("s.jpg", photo((800, 600)), "image/jpeg")},
    )
    assert saved.status_code == 303, saved.text
    listed = (await cora.get(f"/api/v1/blogs/{blog}/drafts", headers=await csrf(cora, blog))).json()["drafts"]
    [with_photo] = [d for d in listed if d["body"] == "The shelter"]
    assert with_photo["image"]["alt"] == "People sleeping on a platform"
    assert (await api.get(with_photo["image"]["url"])).headers["content-type"] == "image/webp"
    # Through the API too: a contributor uploads for their drafts (an upload publishes nothing).
    uploaded = await cora.post(
        f"/api/v1/blogs/{blog}/media", files={"file": ("s.jpg", photo((400, 300)), "image/jpeg")},
        headers=await csrf(cora, blog),
    )  # fmt: skip
    assert uploaded.status_code == 201, uploaded.text


# -- scheduled updates on the desk -----------------------------------------------------------------


def _in(seconds: float) -> str:
    return (
        (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


async def test_a_scheduled_updates_edit_on_the_desk_changes_what_is_published(server: Server, api, ed, blog):
    request = {"body": "the old text", "title": "Old", "key_event": True, "scheduled_at": _in(3600)}
    sid = (await api.post(f"/api/v1/blogs/{blog}/updates", json=request)).json()["scheduled_id"]
    page = await ed.get(f"/editor/{blog}/scheduled/{sid}/edit")
    assert page.status_code == 200 and "the old text</textarea>" in page.text
    assert 'data-zone="UTC"' in page.text and '(<span class="time-zone">UTC</span>' in page.text
    token = csrf_of(page.text)
    url = f"/editor/{blog}/scheduled/{sid}/edit"
    past = await ed.post(url, data={"csrf": token, "body": "x", "scheduled_at": _in(-60)[:16]})
    assert past.status_code == 422 and "scheduled_at: must be a time in the future" in past.text
    reader = await (await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()).live()
    form = {"csrf": token, "title": "New", "body": "the **new** text", "scheduled_at": _in(2)[:19]}
    saved = await ed.post(url, data=form)
    assert saved.status_code == 303 and saved.headers["location"] == f"/editor/{blog}#scheduled"
    (event,) = await reader.wait_for(1, timeout=20)
    published = event.data["update"]
    assert (published["title"], published["html"]) == ("New", "<p>the <strong>new</strong> text</p>")
    assert published["key_event"] is True and published["author"]["kind"] == "bot"
    await reader.close()
    gone = await ed.post(url, data=form)
    assert gone.status_code == 404


# -- in the browser ------------------------------------------------------------------------------


@pytest.mark.browser
@needs_chromium
async def test_a_contributors_draft_is_reviewed_and_published_live_with_their_byline(
    browser: Browser, server: Server, api, contributor, editor, blog
):
    reader, reader_errors = await open_reader(browser, f"{server.url}/blogs/{blog}")
    cora_context = await browser.new_context()
    ed_context = await browser.new_context(timezone_id="Asia/Kolkata")
    try:
        page = await cora_context.new_page()
        errors = watch(page)
        await log_in_at(page, f"{server.url}/editor/{blog}", contributor, PASSWORD)
        form = page.locator("form#new-update")
        await expect(page.locator("#publish")).to_have_count(0)
        await form.locator("[name=title]").fill("From Cora")
        await form.locator("[name=body]").fill("Seen by *editors* first")
        await page.locator("#save-draft").click()
        await expect(page.locator("#drafts li.draft .draft-title")).to_have_text(["From Cora"])
        assert (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"] == []
        marker = await publish(api, blog, "the reader is live")
        await expect(reader.locator("#updates article.update")).to_have_count(1)  # the marker only
        await expect(reader.locator(f"#update-{marker['id']}")).to_have_count(1)

        desk = await ed_context.new_page()
        desk_errors = watch(desk)
        await log_in_at(desk, f"{server.url}/editor/{blog}", editor, PASSWORD)
        await desk.locator("#drafts li.draft .control-open-draft").click()
        await expect(desk.locator("#draft-author")).to_have_text(contributor)
        await desk.locator("form#edit-draft [name=body]").fill("Seen by *readers* now")
        await desk.locator("#publish-draft").click()
        article = reader.locator("#updates article.update").first
        await expect(article.locator(".update-body em")).to_have_text("readers")
        await expect(article.locator(".update-title")).to_have_text("From Cora")
        await expect(article.locator(".update-author")).to_have_text(contributor)
        await expect(desk.locator("#drafts .empty")).to_have_text("No drafts.")
        await expect(desk.locator(".update-published-by").first).to_have_text(f"Published by {editor}")

        # an editor's own draft, saved with JavaScript from the desk's form (its "Save draft"). The
        # first answer is lost on its way back (the server saved the draft; the connection dropped
        # the 201), so the editor clicks again: the retry carries the same Idempotency-Key, and the
        # desk holds one draft, not two.
        lost: list[str] = []

        async def lose_the_first_answer(route: Route) -> None:
            if lost:
                await route.continue_()
                return
            saved = await route.fetch()  # the real server's answer, which the page never gets
            lost.append(f"{saved.status} {route.request.headers.get('idempotency-key')}")
            await route.abort()

        await desk.route(f"**/api/v1/blogs/{blog}/drafts", lose_the_first_answer)
        await desk.locator("form#new-update [name=body]").fill("The editor's own draft")
        await desk.locator("#save-draft").click()
        await expect(desk.locator("#form-error")).to_be_visible()
        assert len(lost) == 1 and lost[0].startswith("201 ") and not lost[0].endswith(" None"), lost
        assert len(desk_errors) == 1 and "ERR_FAILED" in desk_errors[0], desk_errors  # the lost answer
        desk_errors.clear()
        await desk.locator("#save-draft").click()
        await expect(desk.locator("#drafts li.draft .draft-author")).to_have_text([editor])
        await desk.unroute(f"**/api/v1/blogs/{blog}/drafts")
        await expect(reader.locator("#updates article.update")).to_have_count(2)  # nothing new

        # the desk takes and shows the time to publish at in the editor's zone (UTC+05:30 here)
        zone = desk.locator("form#new-update .time-zone")
        await expect(zone).to_have_text(re.compile(r"^Asia/(Kolkata|Calcutta)$"))
        local = datetime.now(UTC) + timedelta(days=2, hours=5, minutes=30)
        await desk.locator("form#new-update [name=body]").fill("Later")
        await desk.locator("form#new-update [name=scheduled_at]").fill(local.strftime("%Y-%m-%dT%H:%M"))
        await desk.locator("#publish").click()
        await expect(desk.locator("#scheduled li.scheduled")).to_have_count(1)
        [item] = (await api.get(f"/api/v1/blogs/{blog}/scheduled")).json()["scheduled"]
        assert item["scheduled_at"][:16] == (local - timedelta(hours=5, minutes=30)).strftime(
            "%Y-%m-%dT%H:%M"
        )
        await desk.locator(".control-edit-scheduled").click()
        await expect(desk.locator("[name=scheduled_at]")).to_have_value(local.strftime("%Y-%m-%dT%H:%M"))
        await desk.locator("form#edit-scheduled button[type=submit]").click()
        await expect(desk.locator("#flash")).to_contain_text("Scheduled update saved")
        [item] = (await api.get(f"/api/v1/blogs/{blog}/scheduled")).json()["scheduled"]
        assert item["scheduled_at"][:16] == (local - timedelta(hours=5, minutes=30)).strftime(
            "%Y-%m-%dT%H:%M"
        )
        assert errors == [] and desk_errors == [] and reader_errors == []
    finally:
        await ed_context.close()
        await cora_context.close()
        await reader.close()
