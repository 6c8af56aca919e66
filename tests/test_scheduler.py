"""Scheduled updates: accepted with 202, published once when due, by whichever process runs first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from liveblog.store import Keys

from .clients import SSEReader
from .conftest import Server

pytestmark = pytest.mark.timeout(60)


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def test_a_scheduled_update_is_published_when_due_and_reaches_readers(server: Server, api, blog):
    reader = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()
    await asyncio.sleep(0.2)
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
    await reader.close()


async def test_publish_due_publishes_each_update_once_however_many_schedulers_race(server: Server, api, blog):
    from liveblog.store import Store

    for i in range(5):
        response = await api.post(
            f"/api/v1/blogs/{blog}/updates", json={"body": f"batch {i}", "scheduled_at": soon(30)}
        )
        assert response.status_code == 202
    client = server.aredis()
    try:
        later = datetime.now(UTC) + timedelta(seconds=60)
        results = await asyncio.gather(*(Store(client).publish_due(blog, later) for _ in range(8)))
    finally:
        await client.aclose()
    published = [i for ids in results for i in ids]
    assert len(published) == 5 and len(set(published)) == 5
    listed = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
    assert sorted(u["body"] for u in listed) == [f"batch {i}" for i in range(5)]


async def test_scheduled_at_must_be_a_time(api, blog):
    response = await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "x", "scheduled_at": "tomorrow"})
    assert response.status_code == 422
    assert "scheduled_at" in response.json()["detail"]
