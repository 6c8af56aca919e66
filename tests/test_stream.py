"""The core pipeline end to end: publish over HTTP, read over SSE and WebSocket, resume."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from .clients import SSEReader, WSReader, key
from .conftest import Server, publish

pytestmark = pytest.mark.timeout(60)


async def test_published_update_reaches_sse_and_ws_readers_in_order(
    server: Server, api: httpx.AsyncClient, blog: str
):
    sse = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()
    ws = await WSReader(server.url, f"/api/v1/blogs/{blog}/ws").connect()
    await asyncio.sleep(0.2)  # both subscriptions are live before the first publish
    published = [await publish(api, blog, f"Update number {i}", title=f"U{i}") for i in range(5)]

    for reader in (sse, ws):
        received = await reader.wait_for(5)
        assert [e.type for e in received] == ["update.published"] * 5
        assert [e.id for e in received] == [u["id"] for u in published]
        assert [e.data["update"]["id"] for e in received] == [u["id"] for u in published]
        assert [e.data["update"]["title"] for e in received] == [f"U{i}" for i in range(5)]
        assert all(e.data["blog"] == blog for e in received)
    assert sse.status == 200 and sse.headers["content-type"].startswith("text/event-stream")
    assert sse.retry is not None and sse.retry > 0
    ids = [key(u["id"]) for u in published]
    assert ids == sorted(ids) and len(set(ids)) == 5

    page = (await api.get(f"/blogs/{blog}")).text
    for update in published:
        assert f'data-update-id="{update["id"]}"' in page
        assert f'id="update-{update["id"]}"' in page
    assert f'data-last-event-id="{published[-1]["id"]}"' in page
    await sse.close()
    await ws.close()


async def _resume_while_publishing(server: Server, api: httpx.AsyncClient, blog: str, transport: str):
    first = [await publish(api, blog, f"before {i}") for i in range(10)]
    resume_from = first[3]["id"]

    async def keep_publishing() -> list[dict]:
        return [await publish(api, blog, f"during {i}") for i in range(15)]

    publisher = asyncio.ensure_future(keep_publishing())
    await asyncio.sleep(0.05)
    if transport == "sse":
        reader: SSEReader | WSReader = await SSEReader(
            server.url, f"/api/v1/blogs/{blog}/events", last_event_id=resume_from
        ).connect()
    else:
        reader = await WSReader(server.url, f"/api/v1/blogs/{blog}/ws?last_event_id={resume_from}").connect()
    during = await publisher
    after = [await publish(api, blog, f"after {i}") for i in range(3)]
    expected = [u["id"] for u in first[4:] + during + after]
    await reader.wait_for(len(expected))
    await asyncio.sleep(0.3)  # anything extra (a duplicate) would arrive by now
    assert [e.id for e in reader.events] == expected
    await reader.close()


async def test_sse_resume_with_last_event_id_gets_each_missed_event_once(server, api, blog):
    await _resume_while_publishing(server, api, blog, "sse")


async def test_ws_resume_with_last_event_id_gets_each_missed_event_once(server, api, blog):
    await _resume_while_publishing(server, api, blog, "ws")


async def test_resume_older_than_the_ring_reads_redis(tmp_path):
    """Resuming from before the in-memory ring is served from the stream (XRANGE), still exact."""
    srv = Server(tmp_path / "data", ring_size=4).start()
    try:
        token = srv.token("ring")
        async with httpx.AsyncClient(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}) as api:
            assert (
                await api.post("/api/v1/blogs", json={"slug": "ring", "title": "Ring"})
            ).status_code == 201
            live = await SSEReader(srv.url, "/api/v1/blogs/ring/events").connect()  # warms the hub
            await live.live()
            published = [await publish(api, "ring", f"n{i}") for i in range(12)]
            await live.wait_for(12)
            reader = await SSEReader(
                srv.url, "/api/v1/blogs/ring/events", last_event_id=published[1]["id"]
            ).connect()
            received = await reader.wait_for(10)
            assert [e.id for e in received] == [u["id"] for u in published[2:]]
            await reader.close()
            await live.close()
    finally:
        srv.stop()


async def test_unknown_or_trimmed_position_gets_reset_not_a_silent_gap(server, api, blog):
    await publish(api, blog, "one")
    last = await publish(api, blog, "two")
    bogus = f"{key(last['id'])[0] - 10}-7"  # inside the retained range but never an event
    for reader in (
        SSEReader(server.url, f"/api/v1/blogs/{blog}/events", last_event_id=bogus),
        WSReader(server.url, f"/api/v1/blogs/{blog}/ws?last_event_id={bogus}"),
    ):
        await reader.connect()
        (event,) = await reader.wait_for(1)
        assert event.type == "reset"
        assert event.id == last["id"]
        last = await publish(api, blog, "three")
        received = await reader.wait_for(2)
        assert received[1].id == last["id"]
        await reader.close()


async def test_malformed_last_event_id_is_400_or_1008(server, blog):
    reader = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events", last_event_id="yesterday").connect()
    await reader.closed.wait()
    assert reader.status == 400
    assert reader.headers["content-type"] == "application/problem+json"
    await reader.close()
    ws = await WSReader(server.url, f"/api/v1/blogs/{blog}/ws?last_event_id=%3Cscript%3E").connect()
    await ws.closed.wait()
    assert ws.close_code == 1008
    ws = await WSReader(server.url, "/api/v1/blogs/no-such-blog/ws").connect()
    await ws.closed.wait()
    assert ws.close_code == 4404
    reader = await SSEReader(server.url, "/api/v1/blogs/no-such-blog/events").connect()
    await reader.closed.wait()
    assert reader.status == 404
    await reader.close()


async def test_edits_and_deletes_reach_readers_and_the_reads(server, api, blog):
    keep = await publish(api, blog, "Mr Guterres will visit Kyiv", title="Kyiv")
    gone = await publish(api, blog, "A mistaken update")
    sse = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()
    ws = await WSReader(server.url, f"/api/v1/blogs/{blog}/ws").connect()
    await asyncio.sleep(0.2)

    edited = await api.patch(
        f"/api/v1/blogs/{blog}/updates/{keep['id']}", json={"body": "He will visit Kyiv on **April 28**"}
    )
    assert edited.status_code == 200
    assert edited.json()["html"] == "<p>He will visit Kyiv on <strong>April 28</strong></p>"
    assert (await api.delete(f"/api/v1/blogs/{blog}/updates/{gone['id']}")).status_code == 204

    for reader in (sse, ws):
        first, second = await reader.wait_for(2)
        assert first.type == "update.edited"
        assert first.data["update"]["id"] == keep["id"]
        assert first.data["update"]["body"] == "He will visit Kyiv on **April 28**"
        assert first.data["update"]["title"] == "Kyiv"
        assert second.type == "update.deleted"
        assert second.data["update"] == {"id": gone["id"]}
        assert key(second.id) > key(first.id) > key(gone["id"])

    listed = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()
    assert [u["id"] for u in listed["updates"]] == [keep["id"]]
    assert listed["updates"][0]["body"] == "He will visit Kyiv on **April 28**"
    assert listed["last_event_id"] == sse.events[1].id
    assert (await api.get(f"/api/v1/blogs/{blog}/updates/{gone['id']}")).status_code == 404
    page = (await api.get(f"/blogs/{blog}")).text
    assert "<strong>April 28</strong>" in page
    assert gone["id"] not in page
    await sse.close()
    await ws.close()


async def test_paging_newest_first_with_before(api, blog):
    published = [await publish(api, blog, f"page {i}") for i in range(7)]
    first = (await api.get(f"/api/v1/blogs/{blog}/updates", params={"limit": 3})).json()
    assert [u["id"] for u in first["updates"]] == [u["id"] for u in reversed(published[-3:])]
    second = (
        await api.get(f"/api/v1/blogs/{blog}/updates", params={"limit": 3, "before": first["next_before"]})
    ).json()
    assert [u["id"] for u in second["updates"]] == [u["id"] for u in reversed(published[1:4])]
    third = (
        await api.get(f"/api/v1/blogs/{blog}/updates", params={"limit": 3, "before": second["next_before"]})
    ).json()
    assert [u["id"] for u in third["updates"]] == [published[0]["id"]]
    assert third["next_before"] is None


async def test_blog_patch_reaches_readers_as_blog_updated(server, api, blog):
    reader = await (await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()).live()
    response = await api.patch(f"/api/v1/blogs/{blog}", json={"status": "ended", "title": "Over"})
    assert response.status_code == 200
    assert response.json()["status"] == "ended"
    (event,) = await reader.wait_for(1)
    assert event.type == "blog.updated"
    assert event.data["meta"]["status"] == "ended"
    assert event.data["meta"]["title"] == "Over"
    assert (await api.get(f"/api/v1/blogs/{blog}")).json()["last_event_id"] == event.id
    await reader.close()


async def test_streams_answer_like_the_rest_of_the_app(server, api, blog):
    """The streams take a short way in past the middleware and the router; their heads, errors
    and other methods must not show it."""
    reader = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()
    await reader.close()
    missing = await SSEReader(server.url, "/api/v1/blogs/no-such-blog/events").connect()
    await missing.closed.wait()
    await missing.close()
    for response in (reader, missing):
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        assert response.headers["x-content-type-options"] == "nosniff"
    assert missing.status == 404 and missing.headers["content-type"] == "application/problem+json"

    head = await api.head(f"/api/v1/blogs/{blog}/events")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/event-stream")
    post = await api.post(f"/api/v1/blogs/{blog}/events", content=b"{}")
    assert post.status_code == 405 and post.headers["content-type"] == "application/problem+json"
    assert post.headers["content-security-policy"].startswith("default-src 'self'")
