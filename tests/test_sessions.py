"""Sessions that end, and a login that cannot be turned into a lever (issue 10, findings 3 and 5).

Real `liveblog serve` processes on their own embedded Redis, real HTTP: a copied session cookie
stops working after logout, a password reset, `user disable` and `user remove`; failed logins are
counted in Redis before the password is checked; password checks are bounded per process.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from liveblog.store import USERS

from .conftest import Server

PASSWORD = "secret-pass"
NEW_PASSWORD = "another-pass"
COOKIE = "liveblog_session"
pytestmark = pytest.mark.timeout(120)
_names = itertools.count(1)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def new_user(server: Server, role: str = "editor", password: str = PASSWORD) -> str:
    name = f"user-{os.getpid()}-{next(_names)}"
    server.cli("user", "add", name, "--role", role, "--password-stdin", stdin=password + "\n")
    return name


async def log_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/login")
    assert page.status_code == 200
    return await client.post(
        "/login", data={"csrf": csrf_of(page.text), "username": name, "password": password}
    )


def run_cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """A `liveblog` command on the server's data that may fail: its exit code, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "liveblog", *args, "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, timeout=60, env={**os.environ, **server.settings},
    )  # fmt: skip


def assert_one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode != 0
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert text in result.stderr and "Traceback" not in result.stderr


def failures_key(kind: str, value: str) -> str:
    return f"lb:{{login}}:{kind}:" + hashlib.sha256(value.encode()).hexdigest()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


class Desk:
    """A logged-in editor's client, and a copy of its session cookie."""

    def __init__(self, client: httpx.AsyncClient, cookie: str, csrf: str) -> None:
        self.client, self.cookie, self.csrf = client, cookie, csrf


async def desk(server: Server, name: str) -> Desk:
    client = httpx.AsyncClient(base_url=server.url, timeout=10)
    assert (await log_in(client, name)).status_code == 303
    csrf = csrf_of((await client.get("/editor/")).text)
    cookie = client.cookies[COOKIE]
    return Desk(client, cookie, csrf)


@pytest.fixture
async def copier(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """A second client, for replaying a session cookie copied from another one."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def opens_the_desk(client: httpx.AsyncClient, cookie: str) -> bool:
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie)
    response = await client.get("/editor/")
    if response.status_code == 303:
        assert response.headers["location"].startswith("/login")
        return False
    assert response.status_code == 200, response.text
    return True


async def publishes(client: httpx.AsyncClient, cookie: str, csrf: str, slug: str) -> tuple[int, int]:
    """A publish through the form, then through the API, with a copied cookie: the statuses."""
    statuses = []
    for send in (
        lambda: client.post(f"/editor/{slug}/updates", data={"csrf": csrf, "body": "by form"}),
        lambda: client.post(
            f"/api/v1/blogs/{slug}/updates", json={"body": "by API"}, headers={"X-CSRF-Token": csrf}
        ),
    ):
        client.cookies.clear()
        client.cookies.set(COOKIE, cookie)
        response = await send()
        if response.status_code == 303 and response.headers["location"].startswith("/login"):
            statuses.append(401)  # the form's way of saying it: log in again
        else:
            statuses.append(response.status_code)
    return statuses[0], statuses[1]


PUBLISHED = (303, 201)
REFUSED = (401, 401)


# -- sessions that end (finding 3) ---------------------------------------------------------------


async def test_a_copied_cookie_is_refused_after_logout(server, blog, api, copier):
    """Regression for issue 10, finding 3: a cookie copied before logout still opened the desk
    (200) and published with its old CSRF token (303)."""
    name = new_user(server)
    mine, other = await desk(server, name), await desk(server, name)
    try:
        assert await opens_the_desk(copier, mine.cookie)
        assert await publishes(copier, mine.cookie, mine.csrf, blog) == PUBLISHED
        assert (await mine.client.post("/logout", data={"csrf": mine.csrf})).status_code == 303
        assert not await opens_the_desk(copier, mine.cookie)
        assert await publishes(copier, mine.cookie, mine.csrf, blog) == REFUSED
        # Logout ends that session, wherever it was copied; the user's other session goes on.
        assert await opens_the_desk(copier, other.cookie)
    finally:
        await mine.client.aclose()
        await other.client.aclose()
    bodies = [u["body"] for u in (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"]]
    assert bodies == ["by API", "by form"]  # only those sent before logout


async def test_a_password_reset_ends_every_session_of_the_user(server, blog, copier):
    """Regression for issue 10, finding 3: after `user add ed` with a new password, a copied cookie
    still worked."""
    name = new_user(server)
    first, second = await desk(server, name), await desk(server, name)
    try:
        server.cli("user", "add", name, "--password-stdin", stdin=NEW_PASSWORD + "\n")
        for session in (first, second):
            assert not await opens_the_desk(copier, session.cookie)
            assert await publishes(copier, session.cookie, session.csrf, blog) == REFUSED
        assert (await log_in(first.client, name, PASSWORD)).status_code == 401
        assert (await log_in(first.client, name, NEW_PASSWORD)).status_code == 303
    finally:
        await first.client.aclose()
        await second.client.aclose()


async def test_disable_enable_remove_and_list_users_from_the_command_line(server, blog, copier):
    name = new_user(server)
    session = await desk(server, name)
    try:
        assert run_cli(server, "user", "disable", name).returncode == 0
        assert not await opens_the_desk(copier, session.cookie)
        assert await publishes(copier, session.cookie, session.csrf, blog) == REFUSED
        refused = await log_in(copier, name)
        assert refused.status_code == 403 and "disabled" in refused.text
        listed = dict(line.split("\t", 1) for line in server.cli("user", "list").splitlines())
        assert listed[name] == "editor\tdisabled"

        assert run_cli(server, "user", "enable", name).returncode == 0
        assert dict(line.split("\t", 1) for line in server.cli("user", "list").splitlines())[name] == (
            "editor\tactive"
        )
        assert not await opens_the_desk(copier, session.cookie)  # enabling opens no old session
        copier.cookies.clear()
        assert (await log_in(copier, name)).status_code == 303
        again = copier.cookies[COOKIE]

        assert run_cli(server, "user", "remove", name).returncode == 0
        assert not await opens_the_desk(copier, again)
        assert (await log_in(copier, name)).status_code == 401
        assert name not in server.cli("user", "list")
    finally:
        await session.client.aclose()
    for action in ("remove", "disable", "enable"):
        assert_one_line_error(run_cli(server, "user", action, name), f"no user {name!r}")


async def test_an_admin_disables_enables_and_removes_users_from_the_desk(server, copier):
    boss_name = new_user(server, "admin")
    boss = await desk(server, boss_name)
    name = new_user(server)
    victim = await desk(server, name)
    try:
        page = await boss.client.get("/editor/")
        assert f'<tr data-user="{name}">' in page.text
        assert 'action="/editor/users/disable"' in page.text
        for action, status in (("disable", "disabled"), ("enable", "active")):
            done = await boss.client.post(f"/editor/users/{action}", data={"csrf": boss.csrf, "name": name})
            assert done.status_code == 303 and done.headers["location"] == "/editor/#users"
            row = re.search(
                rf'<tr data-user="{name}">.*?</tr>', (await boss.client.get("/editor/")).text, re.S
            )
            assert row is not None and f'<td class="user-status">{status}</td>' in row.group(0)
        assert not await opens_the_desk(copier, victim.cookie)  # ended by the disable

        copier.cookies.clear()
        assert (await log_in(copier, name)).status_code == 303
        editor_csrf = csrf_of((await copier.get("/editor/")).text)
        assert "/editor/users/" not in (await copier.get("/editor/")).text
        denied = await copier.post("/editor/users/disable", data={"csrf": editor_csrf, "name": name})
        assert denied.status_code == 403
        forged = await boss.client.post("/editor/users/remove", data={"name": name})
        assert forged.status_code == 403  # no CSRF token
        cookie = copier.cookies[COOKIE]
        removed = await boss.client.post("/editor/users/remove", data={"csrf": boss.csrf, "name": name})
        assert removed.status_code == 303
        assert not await opens_the_desk(copier, cookie)
        missing = await boss.client.post("/editor/users/remove", data={"csrf": boss.csrf, "name": name})
        assert missing.status_code == 404
        self_remove = await boss.client.post(
            "/editor/users/remove", data={"csrf": boss.csrf, "name": boss_name}
        )
        assert self_remove.status_code == 409
    finally:
        await boss.client.aclose()
        await victim.client.aclose()


async def test_an_editor_may_not_create_a_blog_through_the_form_either(server, copier):
    """One rule in the form and the API: editors got 403 through the API but 201 through the form."""
    session = await desk(server, new_user(server))
    try:
        page = await session.client.get("/editor/")
        assert 'id="new-blog"' not in page.text
        slug = f"by-editor-{os.getpid()}"
        denied = await session.client.post(
            "/editor/", data={"csrf": session.csrf, "slug": slug, "title": "No"}
        )
        assert denied.status_code == 403
        through_api = await session.client.post(
            "/api/v1/blogs", json={"slug": slug, "title": "No"}, headers={"X-CSRF-Token": session.csrf}
        )
        assert through_api.status_code == 403
        assert (await copier.get(f"/api/v1/blogs/{slug}")).status_code == 404
    finally:
        await session.client.aclose()


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("https") / "data", public_url="https://live.example.com")
    srv.start()
    yield srv
    srv.stop()


async def test_cookies_are_secure_when_the_public_url_is_https(server, https_server):
    for srv, secure in ((server, False), (https_server, True)):
        response = httpx.get(srv.url + "/login")
        cookie = response.headers["set-cookie"].lower()
        assert cookie.startswith(COOKIE + "=") and "httponly" in cookie
        assert ("; secure" in cookie) is secure, cookie


# -- names -----------------------------------------------------------------------------------------


async def test_token_and_user_names_with_control_characters_are_refused(server):
    assert_one_line_error(run_cli(server, "token", "create", "--name", "bad\x01name"), "control characters")
    assert_one_line_error(run_cli(server, "token", "create", "--name", "x" * 101), "1 to 100 characters")
    assert_one_line_error(
        run_cli(server, "user", "add", "ed\x1b[31m", "--password-stdin"), "control characters"
    )
    boss = await desk(server, new_user(server, "admin"))
    try:
        for name in ("nul\x00here", "tab\there", "del\x7f", "c1\x85inside"):
            refused = await boss.client.post("/editor/tokens", data={"csrf": boss.csrf, "name": name})
            assert refused.status_code == 422 and "name: must not contain control characters" in refused.text
        assert "nul" not in server.cli("token", "list")
    finally:
        await boss.client.aclose()


# -- a login that cannot be turned into a lever (finding 5) -----------------------------------


async def test_parallel_guesses_after_the_lockout_are_all_refused(server):
    """Regression for issue 10, finding 5: after 19 failures, 25 parallel guesses were all checked,
    because a failure was recorded after the slow hash, in one process's memory."""
    name = new_user(server)
    with server.redis() as r:
        r.set(failures_key("user", name), 19, ex=900)  # 19 failures, as another node saw them
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        csrf = csrf_of((await client.get("/login")).text)
        form = {"csrf": csrf, "username": name, "password": "wrong-guess"}
        answers = await asyncio.gather(*(client.post("/login", data=form) for _ in range(25)))
        statuses = sorted(a.status_code for a in answers)
        print(
            f"25 parallel guesses after 19 failures: {statuses.count(401)} checked, {statuses.count(429)} refused"
        )
        assert statuses.count(401) <= 1 and statuses.count(429) == 25 - statuses.count(401), statuses
        assert all(int(a.headers["retry-after"]) >= 1 for a in answers if a.status_code == 429)
        right = await client.post("/login", data={**form, "password": PASSWORD})
        assert right.status_code == 429 and 0 < int(right.headers["retry-after"]) <= 900
    with server.redis() as r:
        assert int(r.get(failures_key("user", name)) or 0) == 20


async def test_a_success_clears_the_username_and_x_forwarded_for_is_not_believed(server):
    name = new_user(server)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        with server.redis() as r:
            before = int(r.get(failures_key("addr", "127.0.0.1")) or 0)
        csrf = csrf_of((await client.get("/login")).text)
        spoofed = {"X-Forwarded-For": "203.0.113.9"}
        form = {"csrf": csrf, "username": name, "password": "wrong-guess"}
        assert (await client.post("/login", data=form, headers=spoofed)).status_code == 401
        with server.redis() as r:
            assert int(r.get(failures_key("user", name)) or 0) == 1
            assert int(r.get(failures_key("addr", "127.0.0.1")) or 0) == before + 1
            assert not r.exists(failures_key("addr", "203.0.113.9"))
        assert (await client.post("/login", data={**form, "password": PASSWORD})).status_code == 303
        with server.redis() as r:
            assert not r.exists(failures_key("user", name))
            assert int(r.get(failures_key("addr", "127.0.0.1")) or 0) == before + 1  # only the failure


async def test_old_argon2_hashes_verify_and_are_rehashed_with_owasp_parameters(server):
    name = new_user(server)
    with server.redis() as r:
        record = {"name": name, "role": "editor", "password": PasswordHasher().hash(PASSWORD)}
        assert "$m=65536," in record["password"]  # argon2-cffi's default: 64 MiB a check
        r.hset(USERS, name, json.dumps(record))
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await log_in(client, name)).status_code == 303
        stored = json.loads(r.hget(USERS, name))["password"]
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), stored
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await log_in(client, name)).status_code == 303


async def test_a_large_login_form_gets_413_before_it_is_parsed(server):
    """Regression for issue 10, finding 7: /login parsed 49 fields of 1 MB before the CSRF check."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        csrf = csrf_of((await client.get("/login")).text)
        form = {"csrf": csrf, "username": "x", "password": "y", "junk": "a" * 1_000_000}
        started = time.monotonic()
        declared = await client.post("/login", data=form)
        assert declared.status_code == 413, declared.status_code

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
            yield f"csrf={csrf}&username=x&password=y&junk=".encode()
            for _ in range(16):
                yield b"a" * 65_536

        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        streamed = await client.post("/login", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        print(f"two 1 MB login forms refused in {(time.monotonic() - started) * 1000:.0f} ms")
        assert "8192 bytes" in streamed.text


# A separate process measures /healthz, so the test's own 40 clients do not slow its answers.
PROBE = """
import http.client, json, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
latencies, deadline = [], time.monotonic() + seconds
while time.monotonic() < deadline:
    started = time.monotonic()
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    latencies.append((time.monotonic() - started) * 1000)
    time.sleep(0.01)
print(json.dumps(sorted(latencies)))
"""


async def test_concurrent_logins_keep_healthz_fast(tmp_path):
    """Regression for issue 10, finding 5: 40 concurrent logins with random usernames peaked at
    1,567 MiB and kept /healthz waiting 2 s. Now at most `login_concurrency` (2) argon2 checks of
    19 MiB run at once per process; the rest get 429 at once."""
    srv = Server(tmp_path / "data").start()
    assert srv.process is not None
    try:
        before = peak_rss_mib(srv.process.pid)
        statuses: list[int] = []
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=srv.url, timeout=30, limits=limits) as client:
            csrf = csrf_of((await client.get("/login")).text)  # one session: failures do not change it

            async def guesser(deadline: float) -> None:
                while time.monotonic() < deadline:
                    form = {"csrf": csrf, "username": secrets.token_hex(8), "password": secrets.token_hex(8)}
                    statuses.append((await client.post("/login", data=form)).status_code)

            probe = await asyncio.create_subprocess_exec(
                sys.executable, "-c", PROBE, str(srv.port), "4", stdout=asyncio.subprocess.PIPE
            )
            await asyncio.sleep(0.2)
            deadline = time.monotonic() + 3.6
            await asyncio.gather(*(guesser(deadline) for _ in range(40)))
            out, _ = await probe.communicate()
        assert probe.returncode == 0
        latencies = json.loads(out)
        peak = peak_rss_mib(srv.process.pid)
        worst, p50 = latencies[-1], latencies[len(latencies) // 2]
        print(
            f"40 concurrent login loops for 3.6 s: {len(statuses)} logins ({statuses.count(401)} checked, "
            f"{statuses.count(429)} got 429); /healthz p50 {p50:.1f} ms, max {worst:.1f} ms "
            f"over {len(latencies)} probes; server peak RSS {before:.0f} -> {peak:.0f} MiB"
        )
        assert set(statuses) <= {401, 429} and statuses.count(401) > 0
        assert peak - before < 150, f"peak RSS grew by {peak - before:.0f} MiB"
        # Before the cap, /healthz waited 2 s behind the flood; with it, at most 89 ms at a load
        # average of 11 and 355 ms at 6 beside five other test runs. The figure is printed; the
        # bound catches the stall, not a speed (that is `make bench`'s).
        assert worst < 1000, f"/healthz took {worst:.0f} ms during the login flood"
    finally:
        srv.stop()


# -- the editor's forms: rate limit, preview (finding 7) ------------------------------------------


async def test_editor_form_writes_share_the_rate_limit_of_the_api(tmp_path):
    """Regression for issue 10, finding 7: 200 pin toggles in a row passed; form writes were not
    rate-limited (only publishing was)."""
    srv = Server(tmp_path / "data", rate_limit=5).start()
    try:
        token = srv.token("setup")
        async with httpx.AsyncClient(base_url=srv.url, timeout=10) as bot:
            bot.headers["Authorization"] = f"Bearer {token}"
            assert (
                await bot.post("/api/v1/blogs", json={"slug": "limited", "title": "L"})
            ).status_code == 201
            update = (await bot.post("/api/v1/blogs/limited/updates", json={"body": "x"})).json()
        session = await desk(srv, new_user(srv))
        try:
            pin = f"/editor/limited/updates/{update['id']}/pin"
            statuses = [
                (await session.client.post(pin, data={"csrf": session.csrf})).status_code for _ in range(8)
            ]
            print(f"8 pin toggles with rate_limit=5: {statuses}")
            assert statuses[:5] == [303] * 5 and statuses[5:] == [429] * 3
            limited = await session.client.post(pin, data={"csrf": session.csrf})
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            for path, form in (
                (f"/editor/limited/updates/{update['id']}/key-event", {}),
                (f"/editor/limited/updates/{update['id']}/edit", {"body": "edited"}),
                (f"/editor/limited/updates/{update['id']}/delete", {}),
                ("/editor/limited/status", {"status": "ended"}),
                ("/editor/limited/updates", {"body": "more"}),
            ):
                refused = await session.client.post(path, data={"csrf": session.csrf, **form})
                assert refused.status_code == 429, (path, refused.status_code)
            # the same budget as the editor's writes through the API
            api = await session.client.post(
                "/api/v1/blogs/limited/updates", json={"body": "api"}, headers={"X-CSRF-Token": session.csrf}
            )
            assert api.status_code == 429
        finally:
            await session.client.aclose()
    finally:
        srv.stop()


async def test_the_preview_is_capped_like_publishing(server, blog):
    """Regression for issue 10, finding 7: the preview returned 29.6 MB of HTML."""
    session = await desk(server, new_user(server))
    try:
        url = f"/editor/{blog}/preview"
        definition = "[a]: https://example.com/" + "p" * 2000 + "\n\n"
        expanding = definition + "[a] " * 15_000  # under 64 KiB of Markdown, over 30 MB of HTML
        assert len(expanding.encode()) < 64 * 1024
        started = time.monotonic()
        response = await session.client.post(url, data={"csrf": session.csrf, "body": expanding})
        print(
            f"preview of a 62 KB body that expands to 30 MB: {response.status_code} in {(time.monotonic() - started) * 1000:.0f} ms"
        )
        assert response.status_code == 413 and "renders to over" in response.text
        too_long = await session.client.post(url, data={"csrf": session.csrf, "body": "x" * (64 * 1024 + 1)})
        assert too_long.status_code == 413
        too_big = await session.client.post(url, data={"csrf": session.csrf, "body": "x", "y": "z" * 300_000})
        assert too_big.status_code == 413 and "form over 262144 bytes" in too_big.text
        fine = await session.client.post(url, data={"csrf": session.csrf, "body": "**ok**"})
        assert fine.status_code == 200 and fine.text == "<p><strong>ok</strong></p>"
        # editor.js posts FormData: multipart/form-data, read within the same cap
        fields = {"csrf": (None, session.csrf), "body": (None, "**ok**")}
        multipart = await session.client.post(url, files=fields)
        assert multipart.status_code == 200 and multipart.text == "<p><strong>ok</strong></p>"
    finally:
        await session.client.aclose()
