"""The compose stack's topology without containers (issue 11, points 4 to 6): Debian's Redis 7
(append-only file, fsync always), two `liveblog serve` nodes sharing it with no secret key set
(so the key they share is the one in Redis), and Debian's nginx in front with the very
`deploy/nginx.conf` that the compose stack mounts, all on free local ports.

Through nginx: SSE and WebSocket readers spread over both nodes, a bot posting every 200 ms,
a rolling restart (SIGTERM node A, start it again, then B): every reader ends with every update
once, in order, and every post answered 201 is on the page; an editor stays logged in whichever
node answers. Directly on the nodes: the bots' rate limit holds across both. And /metrics of
two workers reports both. `make test` runs small sizes; `make stress` (LIVEBLOG_STRESS=1) more.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from .clients import Follower, all_connected
from .conftest import ROOT, STRESS, TEST_REDIS_SERVER, ExternalRedis, Server, free_port, sized

NGINX = os.environ.get("LIVEBLOG_TEST_NGINX", "/usr/sbin/nginx")
REDIS_SERVER = "/usr/bin/redis-server"
PASSWORD = "desk-pass-1"
COOKIE = "liveblog_session"

# Skipped only off CI: there `.ci/run` installs both, and a missing one must fail.
pytestmark = [
    pytest.mark.skipif(
        not (shutil.which(NGINX) and shutil.which(REDIS_SERVER)) and not os.environ.get("CI"),
        reason="Debian's nginx and redis-server are not installed (.ci/run installs them)",
    ),
    pytest.mark.timeout(300 if STRESS else 150),
    pytest.mark.usefixtures("open_files"),
]
# These run on Debian's redis-server whatever LIVEBLOG_TEST_REDIS_SERVER says: once is enough.
once = pytest.mark.skipif(TEST_REDIS_SERVER is not None, reason="ran already on Debian's Redis 7")


# --- the parts ---------------------------------------------------------------------------------


class Nginx:
    """Debian's nginx as a child process (no daemon) on a free port, in front of `upstreams`,
    with deploy/nginx.conf included as it is but for its `listen` lines."""

    def __init__(self, directory: Path, upstreams: list[str]) -> None:
        self.directory = directory
        self.port = free_port()
        self.upstreams = upstreams
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def configure(self) -> Path:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        site = (ROOT / "deploy" / "nginx.conf").read_text()
        site, listens = re.subn(r"(?m)^    listen 80;$", f"    listen 127.0.0.1:{self.port};", site)
        site, listens6 = re.subn(r"(?m)^    listen \[::\]:80;\n", "", site)
        assert (listens, listens6) == (1, 1), "deploy/nginx.conf no longer listens on port 80"
        (d / "liveblog.conf").write_text(site)
        # Beside the main config file, where deploy/nginx.conf's `include` looks for it.
        servers = "".join(f"server {u} max_fails=1 fail_timeout=1s;\n" for u in self.upstreams)
        (d / "liveblog-upstream.conf").write_text(servers)
        # As root, nginx's workers would switch to `nobody`, who cannot enter pytest's 0700 dirs.
        user = "user root;\n" if os.geteuid() == 0 else ""
        main = d / "nginx.conf"
        main.write_text(
            f"{user}worker_processes 1;\nerror_log {d}/error.log warn;\n"
            "events { worker_connections 8192; }\n"
            "http {\n"
            f"  access_log {d}/access.log;\n"
            + "".join(f"  {kind}_temp_path {d}/{kind}-temp;\n" for kind in ("client_body", "proxy"))
            + "".join(f"  {kind}_temp_path {d}/{kind}-temp;\n" for kind in ("fastcgi", "uwsgi", "scgi"))
            + f"  include {d}/liveblog.conf;\n"
            "}\n"
        )
        return main

    def start(self) -> Nginx:
        main = self.configure()
        with open(self.directory / "stderr.log", "wb") as stderr:
            self.process = subprocess.Popen(
                [NGINX, "-p", str(self.directory), "-c", str(main), "-g", f"daemon off; pid {self.directory}/nginx.pid;"],
                stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (
                    (self.directory / "error.log").read_text()
                    if (self.directory / "error.log").exists()
                    else ""
                )
                raise RuntimeError(
                    f"nginx did not start:\n{(self.directory / 'stderr.log').read_text()}{log}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def terminate(node: Server) -> float:
    """SIGTERM a node, as an orchestrator does; the seconds it took to exit."""
    assert node.process is not None
    started = time.monotonic()
    node.process.send_signal(signal.SIGTERM)
    node.process.wait(30)
    node.process = None
    return time.monotonic() - started


@dataclass
class Topology:
    redis: ExternalRedis
    nodes: list[Server]
    nginx: Nginx


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    redis = ExternalRedis(REDIS_SERVER, tmp_path / "redis")
    redis.start()
    nodes: list[Server] = []
    nginx: Nginx | None = None
    try:
        for name in ("a", "b"):
            node = Server(
                tmp_path / name, redis_url=redis.url, rate_limit=1_000_000, streams_per_ip=0,
                forwarded_allow_ips="127.0.0.1",
            )  # fmt: skip
            nodes.append(node.start())
        nginx = Nginx(tmp_path / "nginx", [f"127.0.0.1:{n.port}" for n in nodes]).start()
        yield Topology(redis, nodes, nginx)
    finally:
        if nginx is not None:
            nginx.stop()
        for node in nodes:
            node.stop()
        redis.stop()


# --- a bot that posts through nginx --------------------------------------------------------------


@dataclass
class Bot:
    """Posts an update every `every` seconds; each with its own Idempotency-Key, retried with
    the same key on 502/503/504 and on connection errors until it is answered 201."""

    client: httpx.AsyncClient
    slug: str
    every: float = 0.2
    acknowledged: list[str] = field(default_factory=list)
    retries: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    async def post(self, n: int) -> None:
        key = secrets.token_hex(16)
        async with asyncio.timeout(30):
            while True:
                try:
                    response = await self.client.post(
                        f"/api/v1/blogs/{self.slug}/updates",
                        json={"body": f"Update {n}"},
                        headers={"Idempotency-Key": key},
                    )
                except httpx.TransportError:
                    self.retries += 1
                    await asyncio.sleep(0.1)
                    continue
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                if response.status_code in (502, 503, 504):
                    self.retries += 1
                    await asyncio.sleep(0.1)
                    continue
                assert response.status_code == 201, response.text
                self.acknowledged.append(response.json()["id"])
                return

    async def run(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            started = time.monotonic()
            await self.post(n)
            n += 1
            await asyncio.sleep(max(0.0, self.every - (time.monotonic() - started)))


def gaps_and_duplicates(got: list[str], expected: list[str]) -> tuple[int, int]:
    """Missing events, and events received more than once or out of order."""
    want = set(expected)
    seen: set[str] = set()
    duplicates = 0
    for event_id in got:
        if event_id in seen:
            duplicates += 1
        seen.add(event_id)
    gaps = len(want - seen)
    if not duplicates and not gaps and got != expected:
        duplicates = 1  # the same events in another order
    return gaps, duplicates


async def all_updates(client: httpx.AsyncClient, slug: str) -> set[str]:
    """Every update on the blog's page, through the JSON API's paging."""
    found: set[str] = set()
    before: str | None = None
    while True:
        params = {"limit": "100", **({"before": before} if before else {})}
        page = (await client.get(f"/api/v1/blogs/{slug}/updates", params=params)).json()
        found |= {u["id"] for u in page["updates"]}
        before = page["next_before"]
        if before is None:
            return found


# --- an editor --------------------------------------------------------------------------------


async def log_in(client: httpx.AsyncClient, name: str) -> str:
    """The session cookie of `name`, logged in through the /login form and its CSRF token."""
    page = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, "no CSRF field in the login page"
    response = await client.post("/login", data={"csrf": csrf[1], "username": name, "password": PASSWORD})
    assert response.status_code == 303, response.text
    return client.cookies[COOKIE]


async def at_the_desk(url: str, cookie: str, slug: str) -> int:
    """The status of the editor's page of `slug` for this cookie (303 to /login: not logged in)."""
    async with httpx.AsyncClient(base_url=url, cookies={COOKIE: cookie}, timeout=10) as client:
        return (await client.get(f"/editor/{slug}")).status_code


# --- the tests ---------------------------------------------------------------------------------


@once
async def test_two_nodes_behind_nginx_behave_as_one_through_a_rolling_restart(topology: Topology):
    a, b = topology.nodes
    url = topology.nginx.url
    slug = "topology"
    token = a.token("topology-bot")
    a.cli("user", "add", "desk", "--role", "editor", "--password-stdin", stdin=PASSWORD + "\n")
    n_sse, n_ws = sized(300, 1500), sized(100, 500)
    followers: list[Follower] = []
    stop = asyncio.Event()
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as api,
        httpx.AsyncClient(base_url=url, timeout=10) as browser,
    ):
        response = await api.post("/api/v1/blogs", json={"slug": slug, "title": "Topology"})
        assert response.status_code == 201, response.text

        # An editor logs in through nginx; both nodes know the session (one key, in Redis).
        cookie = await log_in(browser, "desk")
        through_nginx = [await at_the_desk(url, cookie, slug) for _ in range(6)]
        direct = [await at_the_desk(node.url, cookie, slug) for node in (a, b)]
        assert through_nginx == [200] * 6 and direct == [200, 200], (through_nginx, direct)
        with a.redis() as client:
            assert client.exists("lb:secret-key"), "the nodes did not share a key in Redis"

        try:
            for _ in range(10):  # in waves, as readers arrive
                followers += [Follower(url, slug, "sse").start() for _ in range(n_sse // 10)]
                followers += [Follower(url, slug, "ws").start() for _ in range(n_ws // 10)]
                await all_connected(followers)
            spread = [await readers_on(node) for node in (a, b)]
            bot = Bot(api, slug)
            posting = asyncio.ensure_future(bot.run(stop))
            await asyncio.sleep(2)

            restarts, desk_during = [], []
            for down in (a, b):
                started = time.monotonic()
                stopped_in = terminate(down)
                # Only `up` answers now: the editor is still logged in, readers moved over.
                desk_during.append(await at_the_desk(url, cookie, slug))
                await asyncio.sleep(1)
                down.start()
                restarts.append((stopped_in, time.monotonic() - started))
                await asyncio.sleep(2)
            stop.set()
            await posting

            expected = bot.acknowledged
            with a.redis() as client:
                entries = client.xrange(f"lb:{{{slug}}}:events")
            stream = [i.decode() for i, f in entries if f[b"type"] == b"update.published"]
            assert stream == expected, "the stream and the acknowledged posts differ"
            async with asyncio.timeout(60):
                await asyncio.gather(*(f.wait_for_id(expected[-1]) for f in followers))
            figures = [gaps_and_duplicates(f.ids(), expected) for f in followers]
            gaps, duplicates = sum(g for g, _ in figures), sum(d for _, d in figures)
            on_page = await all_updates(api, slug)
            lost = len(set(expected) - on_page)
            reconnects = sum(f.connections for f in followers) - len(followers)
            print(
                f"\ntopology: {n_sse} SSE + {n_ws} WebSocket readers through nginx "
                f"(on the nodes: {spread[0]} + {spread[1]}), {len(expected)} updates every 200 ms, "
                f"{reconnects} reconnects, bot retries {bot.retries} (statuses {bot.statuses}); "
                f"gaps {gaps}, duplicates {duplicates}, lost {lost}; rolling restart: "
                + ", ".join(
                    f"node {n} stopped in {s:.2f} s, back in {t:.2f} s"
                    for n, (s, t) in zip("AB", restarts, strict=True)
                )
                + f"; editor's page while one node was down: {desk_during}"
            )
            assert min(spread) > 0, f"nginx did not spread the readers over both nodes: {spread}"
            assert (gaps, duplicates, lost) == (0, 0, 0)
            assert desk_during == [200, 200]
            assert [await at_the_desk(node.url, cookie, slug) for node in (a, b)] == [200, 200]
        finally:
            stop.set()
            await asyncio.gather(*(f.close() for f in followers))


async def readers_on(node: Server) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(node.url + "/metrics")).text
    return int(sum(float(v) for v in re.findall(r"(?m)^liveblog_readers\{[^}]*\} (\S+)$", text)))


@once
async def test_the_bots_rate_limit_holds_across_two_nodes(tmp_path: Path):
    """Regression (issue 11): each process counted its own, so N nodes allowed N times the limit."""
    limit = 10
    redis = ExternalRedis(REDIS_SERVER, tmp_path / "redis")
    redis.start()
    nodes = [Server(tmp_path / n, redis_url=redis.url, rate_limit=limit) for n in ("a", "b")]
    try:
        for node in nodes:
            node.start()
        token = nodes[0].token("limited")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(headers=headers, timeout=10) as api:
            response = await api.post(nodes[0].url + "/api/v1/blogs", json={"slug": "limited", "title": "L"})
            assert response.status_code == 201, response.text
            started = time.monotonic()
            statuses = []
            for i in range(3 * limit):
                node = nodes[i % 2]
                response = await api.post(f"{node.url}/api/v1/blogs/limited/updates", json={"body": f"{i}"})
                statuses.append(response.status_code)
                if response.status_code == 429:
                    assert int(response.headers["retry-after"]) >= 1
            elapsed = time.monotonic() - started
        # The blog's creation spent one; a write comes back every 60/limit seconds.
        allowed = limit - 1 + int(elapsed * limit / 60)
        print(
            f"\nrate limit {limit}/min over two nodes: {statuses.count(201)} of {len(statuses)} posts "
            f"answered 201 (allowed {allowed}), {statuses.count(429)} answered 429, in {elapsed:.2f} s"
        )
        assert set(statuses) == {201, 429}
        assert statuses.count(201) <= allowed
        assert statuses[: limit - 1] == [201] * (limit - 1)
    finally:
        for node in nodes:
            node.stop()
        redis.stop()


@pytest.fixture
def multiprocess_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "metrics"
    directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    return directory


async def test_metrics_of_two_workers_report_the_whole_server(tmp_path: Path, multiprocess_dir: Path):
    """With LIVEBLOG_WORKERS=2 each process counts its own; /metrics, whichever answers, sums them."""
    stale = multiprocess_dir / "counter_1.db"
    stale.write_bytes(b"left by an earlier run")
    srv = Server(tmp_path / "data", workers=2, rate_limit=1_000_000).start()
    try:
        assert not stale.exists(), "an earlier run's samples were not cleared"
        token = srv.token("metrics")
        posts = 40
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as api:
            response = await api.post(srv.url + "/api/v1/blogs", json={"slug": "m", "title": "M"})
            assert response.status_code == 201, response.text
        for i in range(posts):  # a connection each, so both processes take some
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as api:
                response = await api.post(srv.url + "/api/v1/blogs/m/updates", json={"body": f"{i}"})
                assert response.status_code == 201, response.text
        # Each process's own count, from its file: both took some of the posts.
        per_process = {
            path.name: sum(
                value
                for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path))
                if "liveblog_publishes_total" in key
            )
            for path in multiprocess_dir.glob("counter_*.db")
        }
        writers = {name: count for name, count in per_process.items() if count}
        scraped = []
        for _ in range(10):
            async with httpx.AsyncClient(timeout=10) as client:
                text = (await client.get(srv.url + "/metrics")).text
            match = re.search(r'(?m)^liveblog_publishes_total\{via="bot"\} (\S+)$', text)
            assert match, text[:2000]
            scraped.append(float(match[1]))
        print(f"\ntwo workers: publishes per process {writers}; /metrics scraped 10 times: {scraped}")
        assert len(writers) == 2 and sum(writers.values()) == posts, per_process
        assert scraped == [float(posts)] * 10
    finally:
        srv.stop()
