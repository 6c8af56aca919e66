"""Scheduled updates (workers/scheduler.py): accepted with 202, published once when due by whichever
process runs first; listed and cancelled by the blog's writers, through the API and the desk."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from liveblog.store import Keys

from .clients import SSEReader
from .conftest import Server

pytestmark = pytest.mark.timeout(60)


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def scheduler_publishes(api: httpx.AsyncClient) -> float:
    """The server's `liveblog_publishes_total{via="scheduler"}` (issue 14: scheduled updates were
    not counted when published)."""
    text = (await api.get("/metrics")).text
    found = re.search(r'(?m)^liveblog_publishes_total\{via="scheduler"\} (\S+)$', text)
    return float(found.group(1)) if found else 0.0


async def test_a_scheduled_update_is_published_when_due_and_reaches_readers(server: Server, api, blog):
    counted = await scheduler_publishes(api)
    reader = await (await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()).live()
    request = {"body": "Embargoed until **now**", "title": "Embargo", "scheduled_at": soon(1.5)}
    key = {"Idempotency-Key": f"sched-{blog}"}
    response = await api.post(f"/api/v1/blogs/{blog}/updates", json=request, headers=key)
    assert response.status_code == 202, response.text
    scheduled = response.json()
    assert scheduled["scheduled_id"] and scheduled["title"] == "Embargo"
    assert (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"] == []  # not yet

    retry = await api.post(f"/api/v1/blogs/{blog}/updates", json=request, headers=key)
    assert retry.status_code == 202
    assert retry.json()["scheduled_id"] == scheduled["scheduled_id"]  # a retry does not schedule twice

    (event,) = await reader.wait_for(1, timeout=10)
    assert event.type == "update.published"
    assert event.data["update"]["title"] == "Embargo"
    assert event.data["update"]["html"] == "<p>Embargoed until <strong>now</strong></p>"
    assert event.data["update"]["published_at"] >= scheduled["scheduled_at"][:19]
    listed = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
    assert [u["id"] for u in listed] == [event.id]
    await asyncio.sleep(1.5)  # the scheduler ran again meanwhile: still exactly one
    assert len(reader.events) == 1
    assert server.redis().zcard(Keys.of(blog).scheduled) == 0
    assert await scheduler_publishes(api) >= counted + 1
    await reader.close()


async def test_publish_due_publishes_each_update_once_however_many_schedulers_race(server: Server, api, blog):
    from liveblog.store import Store

    for i in range(5):
        response = await api.post(
            f"/api/v1/blogs/{blog}/updates", json={"body": f"batch {i}", "scheduled_at": soon(30)}
        )
        assert response.status_code == 202
    # Eight schedulers, each with its own client, as eight worker processes would have. Each client
    # is connected to every node first: on a cluster, redis-py 8.1 once failed in CI while eight
    # fresh clients set up their connections at once (AttributeError inside its on_connect); the
    # race under test is the publishing script's, not the client's connection setup.
    clients = [server.aredis() for _ in range(8)]
    try:
        for client in clients:
            await client.ping(**({"target_nodes": "all"} if server.on_cluster else {}))
        later = datetime.now(UTC) + timedelta(seconds=60)
        results = await asyncio.gather(*(Store(client).publish_due(blog, later) for client in clients))
    finally:
        for client in clients:
            await client.aclose()
    published = [i for ids in results for i in ids]
    assert len(published) == 5 and len(set(published)) == 5
    listed = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
    assert sorted(u["body"] for u in listed) == [f"batch {i}" for i in range(5)]


async def test_scheduled_at_must_be_a_time(api, blog):
    response = await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "x", "scheduled_at": "tomorrow"})
    assert response.status_code == 422
    assert "scheduled_at" in response.json()["detail"]


# -- the desk's view: GET and DELETE .../scheduled, the editor's list and cancel ------------------


async def test_scheduled_updates_are_listed_for_the_blogs_writers_only(server: Server, api, blog):
    first = await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "later", "scheduled_at": soon(600)})
    second = await api.post(
        f"/api/v1/blogs/{blog}/updates", json={"body": "sooner", "title": "T", "scheduled_at": soon(300)}
    )
    assert first.status_code == second.status_code == 202
    response = await api.get(f"/api/v1/blogs/{blog}/scheduled")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    listed = response.json()["scheduled"]
    assert [s["scheduled_id"] for s in listed] == [
        second.json()["scheduled_id"],
        first.json()["scheduled_id"],
    ]
    assert listed[0] == second.json()  # the 202's shape: scheduled_id, scheduled_at, the fields
    assert listed[0]["html"] == "<p>sooner</p>" and listed[0]["author"]["kind"] == "bot"

    other = await api.post("/api/v1/blogs", json={"slug": f"{blog}-other", "title": "Other"})
    assert other.status_code == 201
    scoped = server.token(f"scoped-{blog}", f"{blog}-other")
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        assert (await anonymous.get(f"/api/v1/blogs/{blog}/scheduled")).status_code == 401
        bad = {"Authorization": "Bearer nope"}
        assert (await anonymous.get(f"/api/v1/blogs/{blog}/scheduled", headers=bad)).status_code == 401
        not_here = {"Authorization": f"Bearer {scoped}"}
        assert (await anonymous.get(f"/api/v1/blogs/{blog}/scheduled", headers=not_here)).status_code == 403
        assert (
            await anonymous.delete(f"/api/v1/blogs/{blog}/scheduled/x", headers=not_here)
        ).status_code == 403
        mine = await anonymous.get(f"/api/v1/blogs/{blog}-other/scheduled", headers=not_here)
        assert mine.status_code == 200 and mine.json() == {"scheduled": []}
    assert (await api.get("/api/v1/blogs/no-such-blog/scheduled")).status_code == 404


async def test_a_cancelled_update_is_never_published(server: Server, api, blog):
    reader = await (await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()).live()
    kept = await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "kept", "scheduled_at": soon(1.5)})
    dropped = await api.post(
        f"/api/v1/blogs/{blog}/updates", json={"body": "dropped", "scheduled_at": soon(1.5)}
    )
    dropped_id = dropped.json()["scheduled_id"]
    response = await api.delete(f"/api/v1/blogs/{blog}/scheduled/{dropped_id}")
    assert response.status_code == 204
    again = await api.delete(f"/api/v1/blogs/{blog}/scheduled/{dropped_id}")
    assert again.status_code == 404 and again.headers["content-type"] == "application/problem+json"
    assert (await api.delete(f"/api/v1/blogs/{blog}/scheduled/unknown")).status_code == 404
    assert (await api.delete("/api/v1/blogs/no-such-blog/scheduled/unknown")).status_code == 404
    listed = (await api.get(f"/api/v1/blogs/{blog}/scheduled")).json()["scheduled"]
    assert [s["scheduled_id"] for s in listed] == [kept.json()["scheduled_id"]]

    (event,) = await reader.wait_for(1, timeout=10)
    assert event.data["update"]["body"] == "kept"
    await asyncio.sleep(1.5)  # the scheduler ran again: the cancelled one never comes
    assert len(reader.events) == 1
    assert [u["body"] for u in (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]] == ["kept"]
    assert (await api.get(f"/api/v1/blogs/{blog}/scheduled")).json() == {"scheduled": []}
    # published meanwhile: no longer scheduled, so nothing to cancel
    kept_id = kept.json()["scheduled_id"]
    assert (await api.delete(f"/api/v1/blogs/{blog}/scheduled/{kept_id}")).status_code == 404
    await reader.close()


PASSWORD = "secret-pass"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


@pytest.fixture(scope="module")
def scheduling_editor(server: Server) -> str:
    server.cli("user", "add", "sched-ed", "--role", "editor", "--password-stdin", stdin=PASSWORD + "\n")
    return "sched-ed"


async def test_the_desk_lists_scheduled_updates_in_local_time_and_cancels_without_javascript(
    server: Server, api, blog, scheduling_editor
):
    at = soon(900)
    scheduled = await api.post(
        f"/api/v1/blogs/{blog}/updates",
        json={"body": "Embargoed *text*", "title": "Embargo", "scheduled_at": at},
    )
    scheduled_id = scheduled.json()["scheduled_id"]
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as desk:
        login = await desk.get("/login")
        form = {"csrf": csrf_of(login.text), "username": scheduling_editor, "password": PASSWORD}
        assert (await desk.post("/login", data=form)).status_code == 303

        # the editor's session reads the API's list too (a GET needs no CSRF token)
        listed = await desk.get(f"/api/v1/blogs/{blog}/scheduled")
        assert listed.status_code == 200 and len(listed.json()["scheduled"]) == 1

        page = await desk.get(f"/editor/{blog}")
        assert page.status_code == 200
        item = re.search(
            rf'<li class="scheduled" data-scheduled-id="{scheduled_id}">(.*?)</li>', page.text, re.S
        )
        assert item, page.text
        when = scheduled.json()["scheduled_at"]
        assert f'<time class="scheduled-time" datetime="{when}" data-format="datetime">' in item.group(1)
        assert "Embargo" in item.group(1) and "Embargoed *text*" in item.group(1)
        action = f'action="/editor/{blog}/scheduled/{scheduled_id}/cancel"'
        assert action in item.group(1) and 'name="csrf"' in item.group(1)

        cancel = f"/editor/{blog}/scheduled/{scheduled_id}/cancel"
        assert (await desk.post(cancel, data={"csrf": "wrong"})).status_code == 403
        response = await desk.post(cancel, data={"csrf": csrf_of(page.text)})
        assert response.status_code == 303 and response.headers["location"] == f"/editor/{blog}#scheduled"
        page = await desk.get(f"/editor/{blog}")
        assert scheduled_id not in page.text and "Nothing scheduled." in page.text
        assert (await desk.post(cancel, data={"csrf": csrf_of(page.text)})).status_code == 404
    assert (await api.get(f"/api/v1/blogs/{blog}/scheduled")).json() == {"scheduled": []}
