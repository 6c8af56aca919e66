"""The liveblog server under test: `python -m liveblog serve` on its own data dir, pinned to a CPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import redis

from . import proc
from .loadgen import Publisher

FSYNC_STALL_MS = 10


def wrap(command: list[str], cpus: str | None) -> list[str]:
    """Raise the child's open-files limit to the hard limit and pin it to `cpus` (all when None)."""
    hard = proc.nofile_hard()
    pinned = ["taskset", "-c", cpus] if cpus else []
    return ["prlimit", f"--nofile={hard}:{hard}", *pinned, *command]


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGINT) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ChildServer:
    """A server under test run as a child process, with numbered channels and a plain-text
    publisher at `/pub/{channel}`: Nchan's and sse-starlette alone's (`floor.py`)."""

    ok: tuple[int, ...] = (201,)
    stop_signal = signal.SIGINT

    def __init__(self, cpus: str | None, prefix: str) -> None:
        self.cpus = cpus
        self._tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self.root = Path(self._tmp.name)
        self.host, self.port = "127.0.0.1", proc.free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._channels = 0
        self._publisher: Publisher | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def stop(self) -> None:
        if self._publisher is not None:
            await self._publisher.close()
        stop_process(self.process, self.stop_signal)
        self.process = None
        self._tmp.cleanup()

    async def channel(self) -> str:
        self._channels += 1
        return f"bench{self._channels}"

    async def post(self, channel: str, text: bytes) -> tuple[int, float]:
        if self._publisher is None:
            self._publisher = Publisher(self.host, self.port)
        return await self._publisher.post(f"/pub/{channel}", text, "text/plain")


class Liveblog:
    """One liveblog server; `channel()` creates a fresh blog, `post()` publishes to it as a bot."""

    name = "liveblog"
    ok = (201,)

    def __init__(
        self,
        cpus: str | None = "0",
        workers: int = 1,
        root: Path | None = None,
        *,
        redis_url: str | None = None,
        cluster: bool = False,
    ) -> None:
        self.cpus, self.workers = cpus, workers
        self.redis_url, self.cluster = redis_url, cluster  # None: the embedded Redis
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="lbbench-")
        self.root = root or Path(self._tmp.name)  # type: ignore[union-attr]
        self.data_dir = self.root / "data"
        self.log = self.root / "server.log"
        self.host, self.port = "127.0.0.1", proc.free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.token = ""
        self._publishers: dict[str, Publisher] = {}
        self._blogs = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "liveblog", *args, "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, timeout=60, env=self._env(),
        )  # fmt: skip
        if result.returncode:
            raise RuntimeError(f"liveblog {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "LIVEBLOG_REDIS_URL"}
        env.update(
            LIVEBLOG_LOG_LEVEL="warning",
            LIVEBLOG_RATE_LIMIT="1000000000",
            LIVEBLOG_STREAMS_PER_IP="0",  # every reader comes from 127.0.0.1
            LIVEBLOG_WORKERS=str(self.workers),
        )
        if self.redis_url:
            env.update(LIVEBLOG_REDIS_URL=self.redis_url, LIVEBLOG_REDIS_CLUSTER=str(int(self.cluster)))
        return env

    def start(self) -> Liveblog:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.token = self._cli("token", "create", "--name", "bench").strip().splitlines()[-1]
        command = [sys.executable, "-m", "liveblog", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                wrap(command, self.cpus), stdout=log, stderr=subprocess.STDOUT, env=self._env()
            )
        wait_http(f"http://{self.host}:{self.port}/readyz", self.process, self.log)
        return self

    async def stop(self) -> None:
        for publisher in self._publishers.values():
            await publisher.close()
        self._publishers.clear()
        stop_process(self.process)
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()

    def _publisher(self, key: str) -> Publisher:
        if key not in self._publishers:
            self._publishers[key] = Publisher(self.host, self.port, {"Authorization": f"Bearer {self.token}"})
        return self._publishers[key]

    async def channel(self) -> str:
        self._blogs += 1
        slug = f"bench-{self._blogs}"
        body = json.dumps({"slug": slug, "title": f"Benchmark {self._blogs}"}).encode()
        status, _ = await self._publisher("admin").post("/api/v1/blogs", body)
        if status != 201:
            raise RuntimeError(f"creating blog {slug}: HTTP {status}")
        return slug

    def path(self, kind: str, slug: str) -> str:
        return f"/api/v1/blogs/{slug}/events" if kind == "sse" else f"/api/v1/blogs/{slug}/ws"

    async def post(self, slug: str, text: bytes) -> tuple[int, float]:
        body = b'{"body":"' + text + b'"}'
        return await self._publisher(slug).post(f"/api/v1/blogs/{slug}/updates", body)

    def page_path(self, slug: str) -> str:
        return f"/blogs/{slug}"

    # -- Redis figures ---------------------------------------------------------------------------

    def _redis(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.data_dir / "redis.sock"))

    def watch_fsync(self) -> None:
        """From now on, Redis's latency monitor records every fsync of its append-only file
        (each publish waits for one) that takes FSYNC_STALL_MS or more."""
        with self._redis() as client:
            client.config_set("latency-monitor-threshold", FSYNC_STALL_MS)
            client.execute_command("LATENCY", "RESET")

    def fsync_max_ms(self) -> float:
        """The longest such fsync since `watch_fsync` (0 when none reached FSYNC_STALL_MS)."""
        with self._redis() as client:
            history = client.execute_command("LATENCY", "HISTORY", "aof-fsync-always")
        return float(max((ms for _, ms in history), default=0))

    def redis_commands(self) -> dict[str, int]:
        """Calls per command on the embedded Redis (INFO itself left out)."""
        with self._redis() as client:
            stats: dict[str, Any] = client.info("commandstats")
        return {
            name.removeprefix("cmdstat_"): int(value["calls"])
            for name, value in stats.items()
            if name != "cmdstat_info"
        }


REDIS_SERVER = "/usr/bin/redis-server"


class StandaloneRedis:
    """One redis-server (Debian's Redis 7) configured as `tests/cluster.py`'s nodes are (append-only
    file, `appendfsync always`), on a free port: the single-Redis side of the cluster comparison."""

    def __init__(self, root: Path, binary: str = REDIS_SERVER) -> None:
        self.directory = root / "redis"
        self.port = proc.free_port()
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> StandaloneRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--maxclients", "20000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port) as client:
                    client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM)
        self.process = None


def command_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    delta = {name: calls - before.get(name, 0) for name, calls in after.items()}
    return {name: calls for name, calls in sorted(delta.items(), key=lambda kv: -kv[1]) if calls}
