"""`liveblog worker` as a real process beside a server that runs no workers of its own; the server's
in-process workers and `serve --no-workers`; the registry's answers to unknown names."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from liveblog.store import Keys

from .conftest import ROOT, Server

pytestmark = pytest.mark.timeout(90)


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


class WorkerProcess:
    """`python -m liveblog worker NAME ...` on a server's Redis, with the server's settings."""

    def __init__(self, server: Server, *names: str, label: str = "worker") -> None:
        self.server = server
        self.names = names
        self.log = server.data_dir.parent / f"{server.data_dir.name}-{label}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> WorkerProcess:
        env = {**os.environ, "LIVEBLOG_LOG_LEVEL": "info", **self.server.settings}
        start = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "liveblog", "worker", *self.names, "--data-dir", str(self.server.data_dir)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while "workers running" not in self.log.read_bytes()[start:].decode(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Send `sig`; the exit code, which must come within `timeout` seconds."""
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that runs no workers (as the compose stack's web nodes)."""
    srv = Server(tmp_path_factory.mktemp("no-workers") / "data", in_process_workers=0, rate_limit=1_000_000)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def quiet_token(quiet_server: Server) -> str:
    return quiet_server.token("workers-admin")


@pytest.fixture
async def quiet_api(quiet_server: Server, quiet_token: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {quiet_token}"}
    async with httpx.AsyncClient(base_url=quiet_server.url, headers=headers, timeout=10) as client:
        yield client


_count = iter(range(1, 1000))


async def new_blog(api: httpx.AsyncClient) -> str:
    slug = f"workers-{os.getpid()}-{next(_count)}"
    response = await api.post("/api/v1/blogs", json={"slug": slug, "title": slug})
    assert response.status_code == 201, response.text
    return slug


async def schedule(api: httpx.AsyncClient, slug: str, body: str, seconds: float) -> str:
    response = await api.post(
        f"/api/v1/blogs/{slug}/updates", json={"body": body, "scheduled_at": soon(seconds)}
    )
    assert response.status_code == 202, response.text
    scheduled_id: str = response.json()["scheduled_id"]
    return scheduled_id


async def bodies(api: httpx.AsyncClient, slug: str) -> list[str]:
    response = await api.get(f"/api/v1/blogs/{slug}/updates", params={"limit": 100})
    return sorted(u["body"] for u in response.json()["updates"])


async def wait_for_bodies(api: httpx.AsyncClient, slug: str, count: int, timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(found := await bodies(api, slug)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return found


async def test_without_a_worker_nothing_is_published_and_a_worker_process_publishes_it(
    quiet_server, quiet_api
):
    slug = await new_blog(quiet_api)
    await schedule(quiet_api, slug, "Embargo lifted", 0.5)
    await asyncio.sleep(2.5)  # due for 2 s: a scheduler would have published it
    assert await bodies(quiet_api, slug) == []
    assert quiet_server.redis().zcard(Keys.of(slug).scheduled) == 1

    worker = WorkerProcess(quiet_server, "scheduler").start()
    try:
        assert await wait_for_bodies(quiet_api, slug, 1) == ["Embargo lifted"]
        started = time.monotonic()
        assert worker.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 5
    finally:
        worker.kill()
    assert "Traceback" not in worker.log.read_text()


async def test_two_worker_processes_publish_each_due_update_once(quiet_server, quiet_api):
    workers = [WorkerProcess(quiet_server, "scheduler", label=f"pair-{i}").start() for i in range(2)]
    try:
        slug = await new_blog(quiet_api)
        for i in range(12):
            await schedule(quiet_api, slug, f"item {i:02d}", 1.0 + (i % 3) * 0.4)
        expected = [f"item {i:02d}" for i in range(12)]
        assert await wait_for_bodies(quiet_api, slug, 12) == expected
        await asyncio.sleep(2.5)  # both ran several rounds more: still once each
        assert await bodies(quiet_api, slug) == expected
        entries = quiet_server.redis().xrange(Keys.of(slug).events)
        assert len(entries) == 12  # one update.published event each, nothing else
        assert quiet_server.redis().zcard(Keys.of(slug).scheduled) == 0
        assert [w.stop(signal.SIGINT) for w in workers] == [0, 0]
    finally:
        for w in workers:
            w.kill()


def polls(server: Server) -> int:
    """The commands the workers look at their work with (SMEMBERS: the blogs with scheduled
    updates; HVALS: the feeds' and the webhooks' registries), in all, since Redis started."""
    stats = server.redis().info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("smembers", "hvals"))


async def test_idle_workers_send_redis_nothing_until_the_store_notices_a_change(quiet_server, quiet_api):
    """Every worker waits until its next piece of work is due or the store notifies it of a change,
    instead of looking every second: idle, they send Redis nothing, and an update scheduled in the
    meantime is still published on time (its notice wakes the scheduler)."""
    worker = WorkerProcess(quiet_server, label="idle").start()  # every installed worker
    try:
        await asyncio.sleep(1.0)  # their first looks
        before = polls(quiet_server)
        await asyncio.sleep(3.0)
        assert polls(quiet_server) == before  # polling, they made 12 looks or so in 3 s

        slug = await new_blog(quiet_api)
        await schedule(quiet_api, slug, "Woken by its notice", 1.0)
        assert await wait_for_bodies(quiet_api, slug, 1, timeout=10) == ["Woken by its notice"]
        assert worker.stop(signal.SIGTERM) == 0
    finally:
        worker.kill()
    assert "Traceback" not in worker.log.read_text()


async def test_a_worker_with_nothing_to_do_stops_at_once_on_sigterm(quiet_server):
    worker = WorkerProcess(quiet_server, label="all").start()  # no name: every installed worker
    try:
        started = time.monotonic()
        assert worker.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 5
    finally:
        worker.kill()
    assert "workers stopped" in worker.log.read_text()


def test_an_unknown_worker_is_one_line_on_stderr_and_a_non_zero_exit(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "liveblog", "worker", "scheduler", "no-such-worker", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert "no-such-worker" in result.stderr
    assert not (tmp_path / "redis.sock").exists()  # it failed before starting anything


async def test_serve_no_workers_publishes_nothing_scheduled(tmp_path: Path):
    srv = Server(tmp_path / "data", rate_limit=1_000_000).start("--no-workers")
    try:
        token = srv.token("no-workers-admin")
        async with httpx.AsyncClient(
            base_url=srv.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as api:
            slug = await new_blog(api)
            await schedule(api, slug, "held", 0.3)
            await asyncio.sleep(2.5)
            assert await bodies(api, slug) == []
    finally:
        srv.stop()
