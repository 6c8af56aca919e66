"""The one publish path (liveblog/publishing.py), called in this process against the server's real
Redis: what it publishes, what an Idempotency-Key replays, and what it counts by the way it came
(`liveblog_publishes_total{via}`), feed and scheduler included (issue 14: neither was counted)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from liveblog import publishing
from liveblog.errors import Conflict, Invalid
from liveblog.store import Store, iso

from .conftest import Server

pytestmark = pytest.mark.timeout(30)
WIRE = {"name": "Wire", "kind": "bot"}


def published(via: str) -> float:
    """This process's count of publishes that came `via`."""
    return REGISTRY.get_sample_value("liveblog_publishes_total", {"via": via}) or 0.0


@pytest.fixture
async def store(server: Server) -> AsyncIterator[Store]:
    client = server.aredis()
    try:
        yield Store(client)
    finally:
        await client.aclose()


async def test_a_publish_is_counted_once_by_its_way_in_and_a_replay_not_at_all(store, blog):
    before = published("feed")
    request = {"body": "From the *wire*", "title": "Wire"}
    first = await publishing.publish(store, blog, request, WIRE, via="feed", key="item-1", request=b"1")
    again = await publishing.publish(store, blog, request, WIRE, via="feed", key="item-1", request=b"1")
    assert not first.replayed and again.replayed and again.update == first.update
    assert first.update["html"] == "<p>From the <em>wire</em></p>" and first.update["author"] == WIRE
    assert first.update["url"] == f"/blogs/{blog}/updates/{first.update['id']}"
    assert published("feed") == before + 1
    with pytest.raises(Conflict):  # the same key for another request
        await publishing.publish(store, blog, {"body": "Other"}, WIRE, via="feed", key="item-1", request=b"2")
    with pytest.raises(Invalid):
        await publishing.publish(store, blog, {"body": " "}, WIRE, via="feed")
    assert published("feed") == before + 1


async def test_a_scheduled_update_is_counted_when_it_is_published_not_when_it_is_accepted(store, blog):
    before_bot, before_scheduler = published("bot"), published("scheduler")
    due = datetime.now(UTC) + timedelta(hours=1)
    request = {"body": "Embargoed", "scheduled_at": iso(due)}
    accepted = await publishing.publish(store, blog, request, WIRE, via="bot")
    assert accepted.scheduled and published("bot") == before_bot
    ids = await publishing.publish_due(store, blog, due + timedelta(seconds=1))
    assert len(ids) == 1 and published("scheduler") == before_scheduler + 1
    assert (await store.require_update(blog, ids[0]))["url"] == f"/blogs/{blog}/updates/{ids[0]}"
