"""`python -m bench`: run the scenarios against liveblog and Nchan, print and save the tables.

With `--floor` (as `make bench` runs it), also against sse-starlette alone (`floor.py`).

The server under test runs on CPU 0 (`taskset -c 0`, its embedded Redis inherits it),
this load generator on CPU 1 (`sched_setaffinity`, the same call taskset makes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from . import nchan, proc, report, scenarios
from .floor import Floor
from .loadgen import Fleet
from .scenarios import BURST, SPACED_02S, SPACED_1S, Plan
from .servers import Liveblog, StandaloneRedis

RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"
ALL = ("spaced", "burst", "idle", "storm", "pages", "workers", "cluster")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: N=200, few updates, every scenario")
    p.add_argument(
        "--scenario", action="append", choices=ALL, help=f"run only these (repeatable; default all: {ALL})"
    )
    p.add_argument("--n", type=int, action="append", help="reader counts for spaced (default 1k 5k 10k 19k)")
    p.add_argument("--transport", action="append", choices=("sse", "ws"), help="default both")
    p.add_argument("--updates", type=int, help="updates per spaced run (default 20)")
    p.add_argument("--burst-n", type=int, default=1000)
    p.add_argument("--burst-updates", type=int, default=200)
    p.add_argument("--idle-n", type=int, default=19_000, help="idle memory (skipped when --n has it)")
    p.add_argument("--storm-n", type=int, default=10_000)
    p.add_argument("--workers-n", type=int, default=19_000)
    p.add_argument("--cluster-n", type=int, default=5000, help="readers of the cluster comparison")
    p.add_argument("--cluster-blogs", type=int, default=12)
    p.add_argument("--page-seconds", type=int, default=8)
    p.add_argument("--no-nchan", action="store_true", help="liveblog only")
    p.add_argument(
        "--floor",
        action="store_true",
        help="also sse-starlette alone on uvicorn (bench/floor.py) in the fan-out and storm runs",
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin server and load generator to CPUs")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.n = args.n or [200]
        args.updates = args.updates or 5
        args.burst_n = args.idle_n = args.storm_n = args.workers_n = 200
        args.cluster_n = 240
        args.burst_updates, args.page_seconds = 50, 3
    args.n = args.n or [1000, 5000, 10_000, 19_000]
    args.scenario = args.scenario or list(ALL)
    args.transport = args.transport or ["sse", "ws"]
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        pin = not args.no_pin and (os.cpu_count() or 1) >= 2
        self.server_cpus = "0" if pin else None
        self.loadgen_cpus = {1} if pin else None
        self.all_cpus = "0,1" if pin else None
        self.lacking = nchan.missing() if not args.no_nchan else []
        self.nchan = (
            not args.no_nchan and nchan.nginx_binary() is not None and nchan.nchan_module() is not None
        )
        self.fanout: list[dict[str, Any]] = []
        self.storm: list[dict[str, Any]] = []
        self.pages: list[dict[str, Any]] = []
        self.workers: list[dict[str, Any]] = []
        self.cluster: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def servers(self) -> list[tuple[str, Callable[[], Any]]]:
        made: list[tuple[str, Callable[[], Any]]] = [("liveblog", lambda: Liveblog(self.server_cpus))]
        if self.nchan:
            made.append(("nchan", lambda: nchan.Nginx(self.server_cpus)))
        if self.args.floor:
            made.append(("sse-starlette", lambda: Floor(self.server_cpus)))
        return made

    @contextlib.asynccontextmanager
    async def running(self, make: Callable[[], Any]) -> AsyncIterator[Any]:
        server = make()
        try:
            yield server.start()
        finally:
            await server.stop()

    async def guarded(self, what: str, step: Any) -> None:
        log(what)
        try:
            await step()
        except Exception as exc:  # one failed run must not lose the others' figures
            traceback.print_exc()
            self.notes.append(f"{what}: failed ({type(exc).__name__}: {exc})")

    def updates(self, plan: Plan) -> Plan:
        return Plan(plan.label, self.args.updates, plan.interval) if self.args.updates else plan

    async def run(self) -> str:
        args = self.args
        want = set(args.scenario)
        spaced = [self.updates(SPACED_1S), self.updates(SPACED_02S)]
        burst = Plan(BURST.label, args.burst_updates, 0.0)
        for kind in args.transport:
            sizes = sorted(set(args.n)) if "spaced" in want else []
            if "burst" in want and args.burst_n not in sizes:
                sizes.append(args.burst_n)
            if "idle" in want and args.idle_n not in sizes:
                sizes.append(args.idle_n)
            for n in sorted(sizes):
                plans: list[Plan] = []
                if "spaced" in want and n in args.n:
                    plans += spaced
                if "burst" in want and n == args.burst_n:
                    plans.append(burst)
                for name, make in self.servers():

                    async def step(
                        make: Callable[[], Any] = make,
                        n: int = n,
                        plans: list[Plan] = plans,
                        kind: str = kind,
                    ) -> None:
                        async with self.running(make) as server:
                            self.fanout += await scenarios.fan_out(server, kind, n, plans)

                    await self.guarded(
                        f"{name} {kind} N={n}: {', '.join(p.label for p in plans) or 'idle'}", step
                    )
        if "storm" in want:
            for name, make in self.servers():

                async def storm(make: Callable[[], Any] = make) -> None:
                    async with self.running(make) as server:
                        counter = getattr(server, "redis_commands", None)
                        self.storm.append(await scenarios.reconnect_storm(server, args.storm_n, counter))

                await self.guarded(f"{name} reconnect storm N={args.storm_n}", storm)
        if "pages" in want:
            await self.guarded("page views", self.page_views)
        if "workers" in want:
            for workers in (1, 2):
                await self.guarded(
                    f"liveblog workers={workers} N={args.workers_n}", lambda w=workers: self.worker(w)
                )
        if "cluster" in want:
            for clustered in (False, True):
                what = "a three-master cluster" if clustered else "one Redis"
                n, blogs = args.cluster_n, args.cluster_blogs
                await self.guarded(
                    f"liveblog on {what}: N={n} over {blogs} blogs", lambda c=clustered: self.on_cluster(c)
                )
        return self.render()

    async def on_cluster(self, clustered: bool) -> None:
        """One liveblog process on Debian's Redis 7: one redis-server, or a Redis Cluster of three
        masters with a replica each (`tests/cluster.py`), both with `appendfsync always`."""
        from tests.cluster import Cluster, cluster_binaries

        if cluster_binaries() is None:
            self.notes.append("cluster comparison skipped: needs redis-server and redis-cli (Redis 7)")
            return
        with tempfile.TemporaryDirectory(prefix="lbbench-redis-") as root:
            redis: Any = (
                Cluster(Path(root) / "cluster").start() if clustered else StandaloneRedis(Path(root)).start()
            )
            try:
                make = lambda: Liveblog(self.server_cpus, redis_url=redis.url, cluster=clustered)  # noqa: E731
                async with self.running(make) as server:
                    row = await scenarios.fan_out_blogs(
                        server, self.args.cluster_n, self.args.cluster_blogs, self.updates(SPACED_02S)
                    )
            finally:
                redis.stop()
        label = "cluster: 3 masters + 3 replicas" if clustered else "one redis-server"
        self.cluster.append({**row, "redis": label, "cluster": clustered})

    async def page_views(self) -> None:
        if nchan.nginx_binary() is None or "wrk" in self.lacking:
            self.notes.append(f"page views skipped: wrk or nginx missing ({nchan.INSTALL})")
            return
        seconds, cpus = self.args.page_seconds, "1" if self.loadgen_cpus else None
        async with self.running(lambda: Liveblog(self.server_cpus)) as server:
            slug = await server.channel()
            for i in range(50):
                await server.post(
                    slug, f"Page update {i}: **some** Markdown text of a typical length.".encode()
                )
            await asyncio.sleep(0.5)
            page = await asyncio.to_thread(_get, f"http://{server.host}:{server.port}/blogs/{slug}")
            # A live blog always has readers: one connected reader keeps the blog warm in the hub.
            reader = Fleet(server.host, server.port, server.path("sse", slug), 1, "sse")
            await reader.connect()
            try:
                await asyncio.sleep(0.5)
                row = await scenarios.page_views(server, slug, seconds, cpus, server.redis_commands)
            finally:
                await reader.close()
            self.pages.append(row)
        async with self.running(lambda: nchan.Nginx(self.server_cpus, nchan=False, page=page)) as static:
            row = await scenarios.page_views(static, "", seconds, cpus)
            row["server"] = "nginx static file"
            self.pages.append(row)

    async def worker(self, workers: int) -> None:
        """Server and load generator share both cores: no pinning, the kernel places them."""
        if self.loadgen_cpus:
            os.sched_setaffinity(0, {0, 1})
        try:
            async with self.running(lambda: Liveblog(self.all_cpus, workers=workers)) as server:
                rows = await scenarios.fan_out(server, "sse", self.args.workers_n, [self.updates(SPACED_02S)])
                self.workers += [{**row, "workers": workers} for row in rows]
        finally:
            if self.loadgen_cpus:
                os.sched_setaffinity(0, self.loadgen_cpus)

    def render(self) -> str:
        parts = [
            "# liveblog fan-out benchmark",
            "",
            environment(self.server_cpus is not None),
        ]
        if self.lacking:
            parts += ["", f"Missing: {', '.join(self.lacking)}; install with `{nchan.INSTALL}`. "
                      "Those comparisons were skipped."]  # fmt: skip
        if self.fanout:
            parts += ["", "## Fan-out", "", report.fanout_table(self.fanout), "", FANOUT_NOTES]
        if self.storm:
            parts += ["", "## Reconnect storm", "", report.storm_table(self.storm), "", STORM_NOTES]
        if self.pages:
            parts += ["", "## Page views (`wrk`)", "", report.pages_table(self.pages), "", PAGES_NOTES]
        if self.workers:
            parts += [
                "",
                "## `LIVEBLOG_WORKERS=2`",
                "",
                report.workers_table(self.workers),
                "",
                WORKERS_NOTES,
            ]
        if self.cluster:
            parts += ["", "## Redis Cluster", "", report.cluster_table(self.cluster), "", CLUSTER_NOTES]
        if self.notes:
            parts += ["", "## Notes", "", *(f"- {note}" for note in self.notes)]
        return "\n".join(parts) + "\n"


FANOUT_NOTES = """\
Each N runs on a fresh server: connect N readers, wait 2 s, then spaced 1 s, spaced 0.2 s
(and the burst at its N) on the same connections. *idle KB/reader*: the server's process tree
RSS (with its embedded Redis) after connecting minus before, per reader; the row at the
largest N is the idle-memory scenario. *fan-out*: per update, from the publish request until
the last reader has it. *delivery*: per reader and update. *deliveries/s*: deliveries over
first publish to last delivery. *backlog*: last publish to last delivery. *server CPU*:
utime+stime of the server's process tree over first publish to last delivery, divided by
deliveries (it includes handling the publishes). *Redis fsync max*: the longest fsync of Redis's
append-only file over the same window, from Redis's latency monitor (0: none took 10 ms or
more); each publish waits for one before it is answered (`appendfsync always`), and Nchan
writes nothing to disk, so a slow disk shows in liveblog's publish and fan-out times alone.
*loadgen CPU %*: near 100 means the load generator, not the server, was the limit."""

STORM_NOTES = """\
N SSE readers get 3 updates, drop at once (RST), miss 2 updates, then reconnect spread over
1 s with `Last-Event-ID`; *all caught up*: from the first reconnect until every reader has
both missed updates. Redis commands: `INFO commandstats` on the embedded Redis, from after
the 2 publishes until everyone caught up (INFO itself left out)."""

PAGES_NOTES = """\
`wrk -t1 -c32` pinned to CPU 1 against `/blogs/{slug}` with 50 updates, warm (one SSE reader
connected, so the hub holds the blog), and nginx
(one worker, CPU 0) serving the same HTML as a static file."""

WORKERS_NOTES = """\
Both rows run the server (1 or 2 uvicorn workers plus the embedded Redis) and the load
generator unpinned on the same two cores: with one core each there would be no core left for
the second worker, so the kernel schedules all of them. The load generator's own share of
the cores is in its CPU column; figures are therefore lower bounds for two dedicated cores."""

CLUSTER_NOTES = """\
One liveblog process (CPU 0) on Debian's Redis 7: one redis-server, then a Redis Cluster of three
masters with one replica each (`LIVEBLOG_REDIS_CLUSTER=1`), every node with the append-only file
and `appendfsync always`; the Redis processes are not pinned (the cluster's six share both
cores with everything else). N SSE readers spread evenly over the blogs; every blog gets the
same spaced updates at the same moments. *publish*: one bot request, pooled over the blogs.
*fan-out*: per update of each blog, from its publish until the last of that blog's readers has
it. `LIVEBLOG_REDIS_WAIT_REPLICAS` is 0 in both rows."""


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def environment(pinned: bool) -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nginx_version = "not installed"
    binary = nchan.nginx_binary()
    if binary:
        out = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
        nginx_version = out.removeprefix("nginx version: ")
    placement = (
        "server under test on CPU 0 (`taskset -c 0`), load generator on CPU 1" if pinned else "no CPU pinning"
    )
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    return (
        f"1-min load average at the end {load} (the bench alone accounts for up to 2) · "
        f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} × {cpu} · Linux {platform.release()} · "
        f"Python {platform.python_version()} · {nginx_version} · open files {proc.nofile_hard():,} · "
        f"{placement}"
    )


async def amain(args: argparse.Namespace) -> int:
    bench = Bench(args)
    if bench.loadgen_cpus:
        os.sched_setaffinity(0, bench.loadgen_cpus)
    proc.raise_nofile()
    if bench.lacking:
        log(f"missing {', '.join(bench.lacking)}: install with `{nchan.INSTALL}`; skipping that comparison")
    started = time.monotonic()
    text = await bench.run()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    log(f"done in {time.monotonic() - started:.0f} s; written to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(amain(args))
    return uvloop.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
