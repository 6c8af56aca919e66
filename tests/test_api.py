"""The bots' JSON API: every documented error, idempotent retries, token scopes, hostile Markdown."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from liveblog.auth import create_token
from liveblog.store import Keys, Store

from .clients import SSEReader
from .conftest import ROOT, Server, free_port, publish
from .markup import Elements

pytestmark = pytest.mark.timeout(60)

PROBLEM = "application/problem+json"
JSON_HEADERS = {"Content-Type": "application/json"}


def assert_problem(response: httpx.Response, status: int, *, detail: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem document with this status (and, when given, `detail` in its detail)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if detail is not None:
        assert detail in body["detail"], body
    return body


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def new_token(server: Server, name: str, *blogs: str) -> str:
    """What `liveblog token create` does, without a process per token."""
    client = server.aredis()
    try:
        token = await create_token(Store(client), name, list(blogs) or None)
    finally:
        await client.aclose()
    assert token is not None
    return token


@pytest.fixture
def api_name() -> str:
    return unique("api")


@pytest.fixture
async def api(server: Server, api_name: str) -> AsyncIterator[httpx.AsyncClient]:
    """Overrides conftest's `api`: each test writes with its own unscoped token, because the rate
    limit is per token and the session's shared admin token would be drained by this module."""
    headers = {"Authorization": f"Bearer {await new_token(server, api_name)}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
async def anonymous(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture
async def other_blog(api: httpx.AsyncClient) -> str:
    slug = unique("other")
    assert (await api.post("/api/v1/blogs", json={"slug": slug, "title": "Other"})).status_code == 201
    return slug


async def assert_no_updates(api: httpx.AsyncClient, blog: str) -> None:
    listed = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()
    assert listed["updates"] == []


# -- 400 -------------------------------------------------------------------------------------------


async def test_malformed_json_is_400(api, blog):
    for raw in (
        b'{"body": "unterminated',
        b"",
        b"\xff\xfe{",
        b"{'body': 'single quotes'}",
        b"[" * 100_000,  # json.loads raises RecursionError, not JSONDecodeError
        b'{"body": "x", "pinned": ' + b"7" * 5000 + b"}",  # int() refuses over 4300 digits: ValueError
    ):
        response = await api.post(f"/api/v1/blogs/{blog}/updates", content=raw, headers=JSON_HEADERS)
        assert_problem(response, 400, detail="JSON")
    response = await api.patch(f"/api/v1/blogs/{blog}", content=b"{", headers=JSON_HEADERS)
    assert_problem(response, 400)
    await assert_no_updates(api, blog)


async def test_malformed_before_is_400(anonymous, blog):
    for before in ("yesterday", "-1", "1-2-3", "<script>"):
        response = await anonymous.get(f"/api/v1/blogs/{blog}/updates", params={"before": before})
        assert_problem(response, 400, detail="before")


async def test_bad_limit_is_422_not_a_crash(anonymous, blog):
    """`"²".isdigit()` is true but `int("²")` raises: the limit check must not answer 500."""
    for limit in ("0", "101", "ten", "²", "-5", "١٠"):
        response = await anonymous.get(f"/api/v1/blogs/{blog}/updates", params={"limit": limit})
        assert_problem(response, 422, detail="limit")


async def test_overlong_idempotency_key_is_400(api, blog):
    response = await api.post(
        f"/api/v1/blogs/{blog}/updates", json={"body": "x"}, headers={"Idempotency-Key": "k" * 201}
    )
    assert_problem(response, 400, detail="Idempotency-Key")
    await assert_no_updates(api, blog)


# -- 401 -------------------------------------------------------------------------------------------


async def test_no_token_is_401(anonymous, blog):
    for method, path in (
        ("POST", "/api/v1/blogs"),
        ("PATCH", f"/api/v1/blogs/{blog}"),
        ("POST", f"/api/v1/blogs/{blog}/updates"),
        ("PATCH", f"/api/v1/blogs/{blog}/updates/1-0"),
        ("DELETE", f"/api/v1/blogs/{blog}/updates/1-0"),
    ):
        response = await anonymous.request(method, path, json={"body": "x"})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].lower().startswith("bearer")


async def test_bad_token_is_401(anonymous, blog):
    for authorization in (
        "Bearer lb_not-a-real-token",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "lb_token-without-scheme",
    ):
        response = await anonymous.post(
            f"/api/v1/blogs/{blog}/updates", json={"body": "x"}, headers={"Authorization": authorization}
        )
        assert_problem(response, 401)


async def test_revoked_token_is_401(server, anonymous, blog):
    name = unique("revoked")
    token = server.token(name)
    auth = {"Authorization": f"Bearer {token}"}
    response = await anonymous.post(
        f"/api/v1/blogs/{blog}/updates", json={"body": "before revoke"}, headers=auth
    )
    assert response.status_code == 201, response.text
    update_id = response.json()["id"]
    server.cli("token", "revoke", name)
    response = await anonymous.post(
        f"/api/v1/blogs/{blog}/updates", json={"body": "after revoke"}, headers=auth
    )
    assert_problem(response, 401, detail="revoked")
    response = await anonymous.delete(f"/api/v1/blogs/{blog}/updates/{update_id}", headers=auth)
    assert_problem(response, 401)
    assert (await anonymous.get(f"/api/v1/blogs/{blog}/updates/{update_id}")).status_code == 200


# -- 403 and token scopes --------------------------------------------------------------------------


async def test_token_scoped_to_another_blog_is_403(server, anonymous, api, blog, other_blog):
    token = server.token(unique("scoped"), other_blog)
    auth = {"Authorization": f"Bearer {token}"}
    update = await publish(api, blog, "published by the admin")
    for method, path, payload in (
        ("POST", f"/api/v1/blogs/{blog}/updates", {"body": "not mine"}),
        ("PATCH", f"/api/v1/blogs/{blog}", {"title": "Hijacked"}),
        ("PATCH", f"/api/v1/blogs/{blog}/updates/{update['id']}", {"body": "hijacked"}),
        ("DELETE", f"/api/v1/blogs/{blog}/updates/{update['id']}", None),
    ):
        response = await anonymous.request(method, path, json=payload, headers=auth)
        assert_problem(response, 403, detail=blog)
    listed = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]
    assert [(u["id"], u["body"]) for u in listed] == [(update["id"], "published by the admin")]
    assert (await api.get(f"/api/v1/blogs/{blog}")).json()["title"] == f"Blog {blog}"


async def test_scoped_token_may_write_to_its_own_blog(server, anonymous, blog):
    name = unique("own")
    auth = {"Authorization": f"Bearer {server.token(name, blog)}"}
    response = await anonymous.post(f"/api/v1/blogs/{blog}/updates", json={"body": "mine"}, headers=auth)
    assert response.status_code == 201, response.text
    update = response.json()
    assert update["author"] == {"name": name, "kind": "bot"}
    edited = await anonymous.patch(
        f"/api/v1/blogs/{blog}/updates/{update['id']}", json={"key_event": True}, headers=auth
    )
    assert edited.status_code == 200 and edited.json()["key_event"] is True
    deleted = await anonymous.delete(f"/api/v1/blogs/{blog}/updates/{update['id']}", headers=auth)
    assert deleted.status_code == 204


async def test_scoped_token_may_not_create_a_blog(server, anonymous, blog):
    auth = {"Authorization": f"Bearer {server.token(unique('scoped'), blog)}"}
    slug = unique("nope")
    response = await anonymous.post("/api/v1/blogs", json={"slug": slug, "title": "No"}, headers=auth)
    assert_problem(response, 403)
    assert_problem(await anonymous.get(f"/api/v1/blogs/{slug}"), 404)


# -- 404 -------------------------------------------------------------------------------------------


async def test_unknown_blog_is_404(api):
    slug = unique("missing")
    for method, path, payload in (
        ("GET", f"/api/v1/blogs/{slug}", None),
        ("PATCH", f"/api/v1/blogs/{slug}", {"title": "T"}),
        ("GET", f"/api/v1/blogs/{slug}/updates", None),
        ("POST", f"/api/v1/blogs/{slug}/updates", {"body": "x"}),
        ("GET", f"/api/v1/blogs/{slug}/updates/1-0", None),
        ("PATCH", f"/api/v1/blogs/{slug}/updates/1-0", {"body": "x"}),
        ("DELETE", f"/api/v1/blogs/{slug}/updates/1-0", None),
    ):
        response = await api.request(method, path, json=payload)
        assert_problem(response, 404, detail=slug)
    assert_problem(await api.get(f"/api/v1/blogs/{slug}"), 404)  # and nothing was created


async def test_a_publish_to_an_unknown_blog_is_404_whoever_and_whatever_it_names(
    server, api, anonymous, blog
):
    """A publish looks no blog up before its script (which answers 404 itself), except for a
    token scoped to other blogs (404 before 403) and an upload it names."""
    slug = unique("missing")
    scoped = {"Authorization": f"Bearer {server.token(unique('scoped'), blog)}"}
    for client, headers, payload in (
        (anonymous, scoped, {"body": "not my blog"}),
        (api, {}, {"body": "with a picture", "image": {"media": "0123456789abcdef" * 2, "alt": "A"}}),
    ):
        response = await client.post(f"/api/v1/blogs/{slug}/updates", json=payload, headers=headers)
        assert_problem(response, 404, detail=slug)
    assert_problem(await api.get(f"/api/v1/blogs/{slug}"), 404)


def _commands_during(client: Any, action: Any) -> list[dict[str, Any]]:
    """What Redis ran (MONITOR) while `action()` ran, up to a marker sent after it."""
    marker = f"end-{uuid.uuid4().hex}"
    seen: list[dict[str, Any]] = []
    with client.monitor() as monitor:
        action()
        client.echo(marker)
        while marker not in (command := monitor.next_command())["command"]:
            seen.append(command)
    return seen


async def test_a_publish_makes_no_round_trip_for_the_blog_before_its_script(server, api, blog):
    """A bot's publish reads its token, counts its rate, then runs the publish script, which
    checks the blog in the same step as the write: nothing reads the blog's meta before it."""
    if server.on_cluster:
        pytest.skip("MONITOR of one Redis process")
    keys = Keys.of(blog).meta.removesuffix("meta")
    loop = asyncio.get_running_loop()
    published: list[dict[str, Any]] = []

    def post() -> None:
        published.append(asyncio.run_coroutine_threadsafe(publish(api, blog, "counted"), loop).result(10))

    with server.redis() as client:
        commands = await asyncio.to_thread(_commands_during, client, post)
    assert published and published[0]["body"] == "counted"
    on_blog = [c["command"] for c in commands if c["client_type"] != "lua" and keys in c["command"]]
    names = {command.split()[0] for command in on_blog}
    assert "EVALSHA" in names, on_blog  # the publish script
    assert names <= {"EVALSHA", "XREAD"}, on_blog  # and the hub reading the stream, nothing more


async def test_unknown_update_is_404(api, blog):
    kept = await publish(api, blog, "kept")
    for update_id in ("1-0", "99999999999999-0", "not-an-id"):
        path = f"/api/v1/blogs/{blog}/updates/{update_id}"
        assert_problem(await api.get(path), 404, detail=update_id)
        assert_problem(await api.patch(path, json={"body": "x"}), 404, detail=update_id)
        assert_problem(await api.delete(path), 404, detail=update_id)
    listed = (await api.get(f"/api/v1/blogs/{blog}/updates")).json()
    assert [u["id"] for u in listed["updates"]] == [kept["id"]]
    assert listed["last_event_id"] == kept["id"]  # the failed writes appended no event


async def test_deleted_update_is_404(api, blog):
    update = await publish(api, blog, "short-lived")
    path = f"/api/v1/blogs/{blog}/updates/{update['id']}"
    assert (await api.delete(path)).status_code == 204
    assert_problem(await api.get(path), 404)
    assert_problem(await api.delete(path), 404)
    assert_problem(await api.patch(path, json={"body": "back"}), 404)


# -- 409 -------------------------------------------------------------------------------------------


async def test_creating_an_existing_blog_is_409(api, blog):
    response = await api.post("/api/v1/blogs", json={"slug": blog, "title": "Again"})
    assert_problem(response, 409, detail=blog)
    assert (await api.get(f"/api/v1/blogs/{blog}")).json()["title"] == f"Blog {blog}"


# -- 413 -------------------------------------------------------------------------------------------


async def test_markdown_body_over_64_kib_is_413(api, blog):
    response = await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "a" * (64 * 1024 + 1)})
    assert_problem(response, 413, detail="body")
    response = await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "é" * (32 * 1024 + 1)})
    assert_problem(response, 413)  # bytes of UTF-8, not characters
    await assert_no_updates(api, blog)
    at_limit = await publish(api, blog, "a" * (64 * 1024))
    response = await api.patch(
        f"/api/v1/blogs/{blog}/updates/{at_limit['id']}", json={"body": "b" * (64 * 1024 + 1)}
    )
    assert_problem(response, 413)


def _reference_bomb() -> str:
    """Under 64 KiB of Markdown that renders to some 75 MB of HTML: one long link, used 18,000 times."""
    url = "https://example.com/" + "y" * 8000
    return "[a]" * 18_000 + "\n\n[a]: " + url


async def test_markdown_that_renders_to_megabytes_is_413(api, blog):
    bomb = _reference_bomb()
    assert len(bomb.encode()) < 64 * 1024
    # Seconds of rendering, more on a busy machine: the answer matters here, not its speed.
    response = await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": bomb}, timeout=60)
    assert_problem(response, 413, detail="HTML")
    await assert_no_updates(api, blog)
    update = await publish(api, blog, "[a] " * 100 + "\n\n[a]: https://example.com/")  # ordinary use is fine
    response = await api.patch(
        f"/api/v1/blogs/{blog}/updates/{update['id']}", json={"body": bomb}, timeout=60
    )
    assert_problem(response, 413, detail="HTML")


async def test_rendering_a_huge_body_does_not_stall_the_server(server, api, blog):
    """Rendering runs off the event loop: other requests are answered while it works. The bomb
    takes seconds to render; on the loop, no /healthz could be answered until it ended."""
    answered = 0
    posting = asyncio.ensure_future(
        api.post(f"/api/v1/blogs/{blog}/updates", json={"body": _reference_bomb()}, timeout=60)
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as probe:
        while not posting.done():
            assert (await probe.get("/healthz")).status_code == 200
            answered += not posting.done()
            await asyncio.sleep(0.01)
    assert (await posting).status_code == 413
    assert answered >= 5, f"only {answered} /healthz answered while the update rendered"


async def test_request_over_256_kib_is_413(api, blog):
    payload = json.dumps({"body": "x", "title": "t" * (256 * 1024)}).encode()
    response = await api.post(f"/api/v1/blogs/{blog}/updates", content=payload, headers=JSON_HEADERS)
    assert_problem(response, 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the server counts as it reads
        for piece in range(0, len(payload), 16 * 1024):
            yield payload[piece : piece + 16 * 1024]

    response = await api.post(f"/api/v1/blogs/{blog}/updates", content=chunks(), headers=JSON_HEADERS)
    assert_problem(response, 413)
    await assert_no_updates(api, blog)


# -- 415 -------------------------------------------------------------------------------------------


async def test_wrong_content_type_is_415(api, blog):
    path = f"/api/v1/blogs/{blog}/updates"
    body = b'{"body": "x"}'
    for headers in (
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {},
    ):
        assert_problem(await api.post(path, content=body, headers=headers), 415)
    assert_problem(await api.post("/api/v1/blogs", content=b'{"slug": "s", "title": "t"}'), 415)
    ok = await api.post(path, content=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 201, ok.text


# -- 422 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"body": "x", "colour": "red"}, "colour"),
        ({"body": "x", "key_event": "yes"}, "key_event"),
        ({"body": "x", "pinned": 1}, "pinned"),
        ({"title": "No body"}, "body"),
        ({"body": 42}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "x", "title": ["list"]}, "title"),
        ({"body": "x", "image": {"url": "http://example.com/a.jpg"}}, "image.url"),
        ({"body": "x", "image": {"url": "javascript:alert(1)"}}, "image.url"),
        ({"body": "x", "image": {"url": "data:image/png;base64,AAAA"}}, "image.url"),
        ({"body": "x", "image": "https://example.com/a.jpg"}, "image"),
        ({"body": "lone surrogate \ud800"}, "body"),
        ({"body": "x", "title": "lone surrogate \udfff"}, "title"),
        (["body", "x"], "body"),
        ({"body": "x", "\ud800": 1}, "\\ud800"),
        ({"body": "x", "title": "nul \u0000 in a title"}, "title"),
        ({"body": "control \u0001 character"}, "body"),
        # What HTML's parser calls errors (a page holding one fails the Nu HTML Checker): DEL, C1
        # controls, Unicode's noncharacters.
        ({"body": "delete \u007f character"}, "body"),
        ({"body": "x", "title": "next line \u0085 in a title"}, "title"),
        ({"body": "noncharacter \ufdd0"}, "body"),
        ({"body": "x", "title": "plane 1 noncharacter \U0001ffff"}, "title"),
        (
            {"body": "x", "image": {"url": "https://example.com/a.jpg", "alt": "", "caption": "\u001f"}},
            "image.caption",
        ),
        ({"body": "x", "image": {"url": "https://example.com/a.jpg"}}, "image.alt"),
    ],
)
async def test_invalid_update_is_422_naming_the_field(api, blog, payload, field):
    raw = json.dumps(payload).encode()  # ASCII escapes, so lone surrogates reach the server
    response = await api.post(f"/api/v1/blogs/{blog}/updates", content=raw, headers=JSON_HEADERS)
    problem = assert_problem(response, 422)
    assert problem["detail"].startswith(f"{field}:"), problem
    await assert_no_updates(api, blog)


async def test_invalid_edit_and_blog_are_422_naming_the_field(api, blog):
    update = await publish(api, blog, "x")
    path = f"/api/v1/blogs/{blog}/updates/{update['id']}"
    assert_problem(await api.patch(path, json={"key_event": "no"}), 422, detail="key_event")
    assert_problem(await api.patch(path, json={"scheduled_at": None}), 422, detail="scheduled_at")
    assert_problem(await api.patch(f"/api/v1/blogs/{blog}", json={"status": "paused"}), 422, detail="status")
    for payload, field in (
        ({"slug": "Not A Slug", "title": "T"}, "slug"),
        ({"slug": "trailing-newline\n", "title": "T"}, "slug"),
        ({"slug": unique("ok")}, "title"),
        ({"slug": unique("ok"), "title": "T", "owner": "me"}, "owner"),
        ({"slug": unique("ok"), "title": "C1 \u009b control"}, "title"),
        ({"slug": unique("ok"), "title": "T", "description": "\uffff"}, "description"),
    ):
        assert_problem(await api.post("/api/v1/blogs", json=payload), 422, detail=field)


# -- 429 -------------------------------------------------------------------------------------------


async def test_over_the_rate_limit_is_429_with_retry_after(tmp_path):
    srv = Server(tmp_path / "data", rate_limit=3).start()
    try:
        first, second = srv.token("first"), srv.token("second")
        async with httpx.AsyncClient(
            base_url=srv.url, headers={"Authorization": f"Bearer {first}"}
        ) as client:
            assert (await client.post("/api/v1/blogs", json={"slug": "rl", "title": "RL"})).status_code == 201
            for i in range(2):
                response = await client.post("/api/v1/blogs/rl/updates", json={"body": f"n{i}"})
                assert response.status_code == 201, response.text
            response = await client.post("/api/v1/blogs/rl/updates", json={"body": "one too many"})
            assert_problem(response, 429)
            assert int(response.headers["retry-after"]) >= 1
            listed = (await client.get("/api/v1/blogs/rl/updates")).json()["updates"]
            assert [u["body"] for u in listed] == ["n1", "n0"]
            other = await client.post(
                "/api/v1/blogs/rl/updates",
                json={"body": "another bot"},
                headers={"Authorization": f"Bearer {second}"},
            )
            assert other.status_code == 201, "the limit is per token"
    finally:
        srv.stop()


# -- 503 -------------------------------------------------------------------------------------------


@pytest.fixture
def server_without_redis(tmp_path: Path) -> Iterator[str]:
    """`liveblog serve` pointed at a Redis that is not there; ready never, healthy at once."""
    # A socket bound but never listening: connections to it are refused, and no one else can take it.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        redis_url = f"redis://127.0.0.1:{closed.getsockname()[1]}"
        yield from _serve_without_waiting_for_ready(tmp_path, redis_url)


def _serve_without_waiting_for_ready(tmp_path: Path, redis_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "LIVEBLOG_LOG_LEVEL": "warning", "LIVEBLOG_REDIS_URL": redis_url}
    log_path = tmp_path / "server.log"
    data_dir = str(tmp_path / "data")
    command = [sys.executable, "-m", "liveblog", "serve", "--port", str(port), "--data-dir", data_dir]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_store_unreachable_is_503_with_retry_after(server_without_redis):
    async with httpx.AsyncClient(base_url=server_without_redis, timeout=20) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        auth = {"Authorization": "Bearer lb_any-token-at-all"}
        for method, path, payload in (
            ("POST", "/api/v1/blogs/some-blog/updates", {"body": "x"}),
            ("POST", "/api/v1/blogs", {"slug": "s", "title": "t"}),
            ("GET", "/api/v1/blogs", None),
            ("GET", "/api/v1/blogs/some-blog", None),
            ("GET", "/api/v1/blogs/some-blog/updates", None),
            ("GET", "/api/v1/blogs/some-blog/updates/1-0", None),
            ("GET", "/api/v1/blogs/some-blog/events", None),
        ):
            response = await client.request(method, path, json=payload, headers=auth if payload else None)
            assert_problem(response, 503)
            assert int(response.headers["retry-after"]) >= 1


# -- success paths ---------------------------------------------------------------------------------


async def test_publish_is_201_with_a_location_that_gets_the_update(api, api_name, blog):
    response = await api.post(
        f"/api/v1/blogs/{blog}/updates",
        json={"body": "Mr Guterres will visit **Kyiv**", "title": "Kyiv", "key_event": True},
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    update = response.json()
    assert response.headers["location"] == f"/api/v1/blogs/{blog}/updates/{update['id']}"
    assert re.fullmatch(r"\d+-\d+", update["id"])
    assert update["html"] == "<p>Mr Guterres will visit <strong>Kyiv</strong></p>"
    assert update["url"] == f"/blogs/{blog}/updates/{update['id']}"
    assert update["key_event"] is True and update["pinned"] is False
    assert update["author"] == {"name": api_name, "kind": "bot"}
    fetched = await api.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == update


# -- idempotency -----------------------------------------------------------------------------------


async def test_same_idempotency_key_and_body_publishes_once(server, api, blog):
    reader = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()
    try:
        await reader.live()
        key = {"Idempotency-Key": unique("retry")}
        payload = json.dumps({"body": "Sent twice, published once", "title": "Retry"}).encode()
        path = f"/api/v1/blogs/{blog}/updates"
        first = await api.post(path, content=payload, headers={**JSON_HEADERS, **key})
        second = await api.post(path, content=payload, headers={**JSON_HEADERS, **key})
        assert first.status_code == second.status_code == 201, (first.text, second.text)
        assert first.json() == second.json()
        assert first.headers["location"] == second.headers["location"]
        listed = (await api.get(path)).json()["updates"]
        assert [u["id"] for u in listed] == [first.json()["id"]]

        conflict = await api.post(path, json={"body": "Another body, same key"}, headers=key)
        assert_problem(conflict, 409, detail="Idempotency-Key")
        assert len((await api.get(path)).json()["updates"]) == 1

        sentinel = await publish(api, blog, "the next update")
        received = await reader.wait_for(2)
        assert [e.type for e in received] == ["update.published"] * 2
        assert [e.id for e in received] == [first.json()["id"], sentinel["id"]]
        assert len(reader.events) == 2
    finally:
        await reader.close()


async def test_a_retry_after_an_edit_or_a_delete_never_answers_the_earlier_text(server, api, blog):
    """A takedown is a takedown: the key keeps the update's ID, not its text."""
    key = {"Idempotency-Key": unique("takedown")}
    path = f"/api/v1/blogs/{blog}/updates"
    first = await api.post(path, json={"body": "A mistaken claim"}, headers=key)
    assert first.status_code == 201
    update = first.json()
    edited = await api.patch(f"{path}/{update['id']}", json={"body": "The corrected claim"})
    assert edited.status_code == 200
    retry = await api.post(path, json={"body": "A mistaken claim"}, headers=key)
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == update["id"] and retry.json()["body"] == "The corrected claim"
    assert (await api.delete(f"{path}/{update['id']}")).status_code == 204
    gone = await api.post(path, json={"body": "A mistaken claim"}, headers=key)
    assert_problem(gone, 409, detail="deleted")
    assert (await api.get(path)).json()["updates"] == []
    redis = server.redis()
    try:
        for name in redis.scan_iter(f"lb:{{{blog}}}:*"):
            if redis.type(name) == "hash":
                assert not any("mistaken" in value for value in redis.hgetall(name).values()), name
    finally:
        redis.close()


async def test_idempotency_keys_are_per_blog_and_distinct_keys_publish_twice(api, blog, other_blog):
    key = unique("key")
    a = await api.post(
        f"/api/v1/blogs/{blog}/updates", json={"body": "same"}, headers={"Idempotency-Key": key}
    )
    b = await api.post(
        f"/api/v1/blogs/{other_blog}/updates", json={"body": "same"}, headers={"Idempotency-Key": key}
    )
    c = await api.post(
        f"/api/v1/blogs/{blog}/updates", json={"body": "same"}, headers={"Idempotency-Key": key + "2"}
    )
    assert a.status_code == b.status_code == c.status_code == 201
    assert len({a.json()["id"] + blog, b.json()["id"] + other_blog, c.json()["id"] + blog}) == 3
    assert len((await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]) == 2


# -- hostile Markdown ------------------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    "before <script src=https://evil.example/x.js></script> after",
    "<img src=x onerror=alert(1)>",
    '<iframe src="https://evil.example/"></iframe>',
    '<a href="javascript:alert(1)">click</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java&#x73;cript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    "[ref][evil]\n\n[evil]: javascript:alert(1)",
    "<svg onload=alert(1)><style>body{display:none}</style>",
    '<div style="background:url(javascript:alert(1))" onclick="alert(1)">hi</div>',
    "**bold** [ok](https://example.com) <b onmouseover=alert(1)>b</b>",
    "`<script>` in code\n\n    <script>indented</script>",
]
_EVIL_SCHEMES = ("javascript:", "vbscript:", "data:")
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "data", "background", "cite", "srcset"}
_EVIL_TAGS = {
    "script",
    "iframe",
    "img",
    "style",
    "svg",
    "object",
    "embed",
    "frame",
    "frameset",
    "base",
    "form",
}


def hostile_markup(html: str, *, page: bool = False) -> list[str]:
    """The tags and attributes in `html` that could run script; [] when there are none."""
    found = []
    for tag, attrs in Elements(html).tags:
        if page and tag == "script" and set(attrs) == {"type"} and attrs["type"] == "application/ld+json":
            continue
        # A data block (script#lb-strings: the interface's words, issue 16): JSON, never run.
        if page and tag == "script" and set(attrs) == {"type", "id"} and attrs["type"] == "application/json":
            continue
        if (
            page
            and tag == "script"
            and attrs.get("type") == "module"
            and attrs.get("src", "").startswith("/static/")
        ):
            continue
        if page and tag == "link" and attrs == {"rel": "icon", "href": "data:,"}:
            continue  # the page's own empty favicon
        icon = page and tag == "svg" and attrs.get("class", "").startswith("icon ")  # templates/_icons.html
        if tag in _EVIL_TAGS and not icon:
            found.append(f"<{tag} {attrs}>")
        for name, value in attrs.items():
            squeezed = re.sub(r"[\x00-\x20]", "", value).lower()
            if name.startswith("on") or name in ("style", "srcdoc", "formaction"):
                found.append(f"<{tag} {name}={value!r}>")
            elif name in _URL_ATTRIBUTES and squeezed.startswith(_EVIL_SCHEMES):
                found.append(f"<{tag} {name}={value!r}>")
    return found


def assert_harmless(html: str, *, page: bool = False) -> None:
    assert hostile_markup(html, page=page) == [], html
    if not page:
        for raw in ("<script", "<iframe", "<img", "<style", "<svg"):
            assert raw not in html.lower(), html


def test_the_markup_check_itself_catches_each_hostile_form():
    """Guard against a checker that cannot fail."""
    for dangerous in (
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        '<a href=" JavaScript:alert(1)">x</a>',
        '<a href="data:text/html,x">x</a>',
        '<iframe src="https://e"></iframe>',
        '<p onclick="x">p</p>',
    ):
        assert hostile_markup(dangerous), dangerous
    assert hostile_markup("<p>&lt;script&gt; onerror=x javascript:y</p>") == []


async def test_hostile_markdown_never_reaches_readers_as_markup(server, api, blog):
    reader = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()
    try:
        await reader.live()
        published = []
        for i, body in enumerate(HOSTILE):
            update = await publish(api, blog, body, title=f'<script>alert("t{i}")</script>')
            assert update["body"] == body  # the source is kept as written
            assert_harmless(update["html"])
            published.append(update)
        assert '<strong>bold</strong> <a href="https://example.com" rel=' in published[-2]["html"]

        received = await reader.wait_for(len(HOSTILE))
        assert [e.id for e in received] == [u["id"] for u in published]
        for event in received:
            assert_harmless(event.data["update"]["html"])

        edited = await api.patch(
            f"/api/v1/blogs/{blog}/updates/{published[0]['id']}",
            json={"body": "<img src=x onerror=alert(2)>"},
        )
        assert edited.status_code == 200
        assert_harmless(edited.json()["html"])
        (event,) = (await reader.wait_for(len(HOSTILE) + 1))[-1:]
        assert event.type == "update.edited"
        assert_harmless(event.data["update"]["html"])
    finally:
        await reader.close()

    page = await api.get(f"/blogs/{blog}")
    assert page.status_code == 200
    assert_harmless(page.text, page=True)
    scripts = re.findall(r"<script\b[^>]*>", page.text, re.IGNORECASE)
    data = ('type="application/ld+json"', 'type="application/json"')  # data blocks, never run
    assert scripts and all('type="module"' in s or any(t in s for t in data) for s in scripts), scripts
    assert "<iframe" not in page.text.lower()
    for update in published:
        assert f'data-update-id="{update["id"]}"' in page.text
        permalink = await api.get(f"/blogs/{blog}/updates/{update['id']}")
        assert permalink.status_code == 200
        assert_harmless(permalink.text, page=True)


@pytest.mark.parametrize("path", ["/api/v1/blogs", "/api/v1/blogs/{blog}", "/api/v1/blogs/{blog}/updates"])
async def test_json_reads_carry_etag_and_revalidate_with_304(api, blog, path):
    url = path.format(blog=blog)
    first = await api.get(url)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=2"
    etag = first.headers["etag"]
    again = await api.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "changes every read"})
    changed = await api.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
