"""Issue 12: liveblog on a real Redis Cluster (three masters, one replica each) with
LIVEBLOG_REDIS_CLUSTER=1: twelve blogs over all three masters, each one's writes, pages, streams and
resumes; a warm page costs no command on any node; the operator's commands on the cluster."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from liveblog.store import BLOGS, USERS, Keys

from .clients import SSEReader, WSReader
from .cluster import Cluster, cluster_binaries
from .conftest import Server, cli, publish
from .test_sessions import log_in

pytestmark = [
    pytest.mark.skipif(
        cluster_binaries() is None and not os.environ.get("CI"),
        reason="needs /usr/bin/redis-server and redis-cli (Debian's Redis 7; `.ci/run` installs them)",
    ),
    pytest.mark.timeout(180),
]

BLOG_COUNT = 12
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = Cluster(tmp_path_factory.mktemp("cluster")).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def on_cluster(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("on-cluster") / "data",
        redis_url=cluster.url,
        redis_cluster=1,
        rate_limit=1_000_000,
        in_process_workers=0,  # their polls (schedule, webhook and feed indexes) are no page views
        audience_interval=3600,  # nor are the readers' reports (every 5 s: seen once amid the views)
    ).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
async def admin(on_cluster: Server) -> AsyncIterator[httpx.AsyncClient]:
    token = on_cluster.token("cluster-admin")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=on_cluster.url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
async def blogs(cluster: Cluster, admin: httpx.AsyncClient) -> list[str]:
    """Twelve blogs created through the API; their slots fall on all three masters."""
    slugs = [f"cluster-blog-{i}" for i in range(1, BLOG_COUNT + 1)]
    for slug in slugs:
        response = await admin.post("/api/v1/blogs", json={"slug": slug, "title": f"On the cluster: {slug}"})
        assert response.status_code == 201, response.text
    return slugs


def _masters_of(cluster: Cluster, slugs: list[str]) -> dict[int, list[str]]:
    held: dict[int, list[str]] = {node.port: [] for node in cluster.master_nodes()}
    for slug in slugs:
        held[cluster.master_of(Keys.of(slug).meta).port].append(slug)
    return held


async def test_twelve_blogs_spread_over_the_three_masters(cluster: Cluster, blogs: list[str]):
    held = _masters_of(cluster, blogs)
    counts = cluster.key_counts()
    for port, slugs in held.items():
        print(f"master :{port}: {counts[port]} keys, blogs {', '.join(s.rsplit('-', 1)[1] for s in slugs)}")
    assert len(counts) == 3
    assert all(counts.values()) and all(held.values()), (counts, held)
    # The accounts share one slot, and so do the login counters: a script or MULTI never crosses.
    with cluster.client() as client:
        assert (
            client.keyslot(USERS)
            == client.keyslot("lb:{auth}:sessions:x")
            == client.keyslot("lb:{auth}:tokens")
        )
        assert client.zcard(BLOGS) == BLOG_COUNT


async def _one_blog(server: Server, admin: httpx.AsyncClient, slug: str) -> None:
    """Publish, edit, delete and page through one blog while an SSE and a WebSocket reader follow
    it, then resume both from the first event. The readers start from a first update's ID, so
    they get every later event however late their subscription begins."""
    zero = await publish(admin, slug, f"Opening {slug}")
    sse = await SSEReader(server.url, f"/api/v1/blogs/{slug}/events", last_event_id=zero["id"]).connect()
    ws = await WSReader(server.url, f"/api/v1/blogs/{slug}/ws?last_event_id={zero['id']}").connect()
    try:
        first = await publish(admin, slug, f"First on {slug}", key_event=True)
        second = await publish(admin, slug, f"Second on {slug}")
        third = await publish(admin, slug, f"Third on {slug}")
        for reader in (sse, ws):  # else the edit and the delete erase them from the queues
            assert [e.id for e in await reader.wait_for(3)] == [first["id"], second["id"], third["id"]]
        edited = await admin.patch(f"/api/v1/blogs/{slug}/updates/{second['id']}", json={"body": "Corrected"})
        assert edited.status_code == 200, edited.text
        assert edited.json()["body"] == "Corrected"
        deleted = await admin.delete(f"/api/v1/blogs/{slug}/updates/{third['id']}")
        assert deleted.status_code == 204
        page = (await admin.get(f"/api/v1/blogs/{slug}/updates", params={"limit": 2})).json()
        assert [u["id"] for u in page["updates"]] == [second["id"], first["id"]]
        older = await admin.get(
            f"/api/v1/blogs/{slug}/updates", params={"limit": 2, "before": page["next_before"]}
        )
        assert [u["id"] for u in older.json()["updates"]] == [zero["id"]]
        assert older.json()["next_before"] is None
        types = [
            "update.published",
            "update.published",
            "update.published",
            "update.edited",
            "update.deleted",
        ]
        for reader in (sse, ws):
            got = await reader.wait_for(5)
            assert [e.type for e in got] == types, slug
            assert [e.id for e in got[:3]] == [first["id"], second["id"], third["id"]]
        live_ids = [e.id for e in sse.events]
        assert [e.id for e in ws.events] == live_ids
        # Resume after the first event. The edit and the delete erased the events that carried the
        # second and third update's text, so the replay is the edit and the delete, once, in order.
        resumed_sse = await SSEReader(
            server.url, f"/api/v1/blogs/{slug}/events", last_event_id=first["id"]
        ).connect()
        resumed_ws = await WSReader(
            server.url, f"/api/v1/blogs/{slug}/ws?last_event_id={first['id']}"
        ).connect()
        try:
            for reader in (resumed_sse, resumed_ws):
                got = await reader.wait_for(2)
                assert [e.id for e in got] == live_ids[3:], slug
            await asyncio.sleep(0.2)
            assert len(resumed_sse.events) == len(resumed_ws.events) == 2  # nothing twice
        finally:
            await resumed_sse.close()
            await resumed_ws.close()
    finally:
        await sse.close()
        await ws.close()


async def test_writes_pages_streams_and_resumes_on_every_blog(
    on_cluster: Server, admin: httpx.AsyncClient, blogs: list[str]
):
    await asyncio.gather(*(_one_blog(on_cluster, admin, slug) for slug in blogs))


def _commands(masters: list[redis.Redis]) -> dict[str, int]:
    """Commands run on every master, summed (on connections opened before: a new one's HELLO
    would count)."""
    calls: dict[str, int] = {}
    for client in masters:
        for name, value in client.info("commandstats").items():
            calls[name] = calls.get(name, 0) + int(value["calls"])
    return calls


# The probe itself (INFO), the hubs' blocking reads (XREAD); REPLCONF: each replica's
# acknowledgement to its master, once a second. The server runs no in-process workers.
BACKGROUND = frozenset({"cmdstat_info", "cmdstat_xread", "cmdstat_replconf"})


async def test_a_warm_blog_page_costs_no_command_on_any_master(
    cluster: Cluster, on_cluster: Server, admin: httpx.AsyncClient, blogs: list[str]
):
    held = _masters_of(cluster, blogs)
    slugs = [slugs[0] for slugs in held.values()]  # one blog on each master
    readers = [await SSEReader(on_cluster.url, f"/api/v1/blogs/{s}/events").connect() for s in slugs]
    try:
        await asyncio.sleep(0.3)
        for slug, reader in zip(slugs, readers, strict=True):
            update = await publish(admin, slug, f"Before the views of {slug}")
            await reader.wait_for(1)
            assert update["id"] in (await admin.get(f"/blogs/{slug}")).text  # rendered once, then kept
        masters = [node.client() for node in cluster.master_nodes()]
        before = _commands(masters)
        pages = {slug: [await admin.get(f"/blogs/{slug}") for _ in range(10)] for slug in slugs}
        after = _commands(masters)
        for client in masters:
            client.close()
        spent = {
            name: after[name] - before.get(name, 0)
            for name in after
            if after[name] != before.get(name, 0) and name not in BACKGROUND
        }
        print(
            f"{sum(map(len, pages.values()))} page views of {len(slugs)} warm blogs on 3 masters: {spent or 0} commands"
        )
        assert spent == {}
        assert all(
            len({p.text for p in views}) == 1 and views[0].status_code == 200 for views in pages.values()
        )
    finally:
        for reader in readers:
            await reader.close()


async def test_operator_commands_on_the_cluster(
    cluster: Cluster, on_cluster: Server, blogs: list[str], tmp_path: Path
):
    """`--redis-url` of one node plus LIVEBLOG_REDIS_CLUSTER=1: the commands reach the same data
    as the server, whichever master holds it."""
    env = {"LIVEBLOG_REDIS_CLUSTER": "1"}

    def run(*args: str, stdin: str | None = None) -> str:
        return cli(*args, "--redis-url", cluster.url, data_dir=tmp_path, env=env, stdin=stdin)

    listed = run("blog", "list")
    assert sorted(line.split("\t")[0] for line in listed.splitlines()) == sorted(blogs)
    token = run("token", "create", "--name", "cluster-bot", "--blog", blogs[5]).strip().splitlines()[-1]
    assert "cluster-bot" in run("token", "list")
    async with httpx.AsyncClient(base_url=on_cluster.url, timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        response = await client.post(f"/api/v1/blogs/{blogs[5]}/updates", json={"body": "From the CLI's bot"})
        assert response.status_code == 201, response.text
        refused = await client.post(f"/api/v1/blogs/{blogs[6]}/updates", json={"body": "Not its blog"})
        assert refused.status_code == 403
    run("user", "add", "cluster-editor", "--password-stdin", stdin=PASSWORD + "\n")
    assert "cluster-editor\teditor\tactive" in run("user", "list")
    async with httpx.AsyncClient(base_url=on_cluster.url, timeout=10) as editor:
        assert (await log_in(editor, "cluster-editor", PASSWORD)).status_code == 303
        assert (await editor.get(f"/editor/{blogs[0]}")).status_code == 200
        # Disabling the user ends the session: a script over the user and their sessions, one slot.
        run("user", "disable", "cluster-editor")
        assert (await editor.get(f"/editor/{blogs[0]}")).status_code in (303, 401, 403)
    assert "revoked" in run("token", "revoke", "cluster-bot")
    # Without LIVEBLOG_REDIS_CLUSTER, a node's client cannot follow the keys to their masters.
    with pytest.raises(AssertionError):
        cli(
            "blog", "list", "--redis-url", cluster.url, data_dir=tmp_path, env={"LIVEBLOG_REDIS_CLUSTER": "0"}
        )


def test_a_cluster_without_a_url_is_a_bad_setting(tmp_path: Path):
    with pytest.raises(AssertionError, match="LIVEBLOG_REDIS_CLUSTER"):
        cli("blog", "list", data_dir=tmp_path, env={"LIVEBLOG_REDIS_CLUSTER": "1", "LIVEBLOG_REDIS_URL": ""})


def test_the_readiness_probe_pings_the_masters(on_cluster: Server):
    assert httpx.get(on_cluster.url + "/readyz").text == "ready"
