"""Heavy pages and feeds, the public URL and the Host header, /metrics (issue 10: finding 6 and
the public-URL and `/metrics` parts of finding 7).

A "heavy" blog holds 60 updates whose body is a Markdown table near the 64 KiB limit (about 160 KB
of HTML each). On the main of issue 10 its page with a junk query string took 6.9 s, `feed.json`
2.3 s, and `/healthz` stalled 6.4 s meanwhile.

`/healthz` stays under 500 ms in `make test` during the load below; `make stress`
(LIVEBLOG_STRESS=1) holds it to the issue's 200 ms, which this shared 2-core machine can miss
when other suites run beside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
import redis

from .clients import SSEReader
from .conftest import STRESS, Server, publish
from .markup import Elements

pytestmark = pytest.mark.timeout(240)
HEALTHZ_BOUND = 0.2 if STRESS else 0.5
MIB = 1024 * 1024
# The budgets (liveblog.pages.PAGE_BYTES, liveblog.feeds.FEED_BYTES) count updates' HTML; a page
# also carries each update's text in its JSON-LD, and a feed escapes its HTML once more.
PAGE_LIMIT = 2 * MIB + 256 * 1024
FEED_LIMIT = 2 * MIB + 256 * 1024
HEAVY_UPDATES = 60
A = "{http://www.w3.org/2005/Atom}"
JSON_LD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)
PUBLIC = "https://live.example.com"


def heavy_table(n: int) -> str:
    """A Markdown table just under the 64 KiB body limit."""
    rows = [f"Table {n}", "", "| n | left | right | note |", "|---|---|---|---|"]
    i = 0
    while True:
        row = f"| {i} | l{n}-{i} | r{i} | x |"
        if len("\n".join([*rows, row]).encode()) > 64 * 1024 - 256:
            return "\n".join(rows)
        rows.append(row)
        i += 1


@pytest.fixture(scope="module")
async def heavy(server: Server, admin_token: str) -> AsyncIterator[tuple[str, list[str]]]:
    """A blog of 60 heavy updates on the shared server; its slug and the update IDs, newest first."""
    slug = f"heavy-{os.getpid()}"
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as api:
        created = await api.post("/api/v1/blogs", json={"slug": slug, "title": "Heavy"})
        assert created.status_code == 201, created.text
        ids = []
        for n in range(HEAVY_UPDATES):  # in order: each update's ID is its position
            ids.append((await publish(api, slug, heavy_table(n)))["id"])
    yield slug, ids[::-1]


# The probe runs in a process of its own, so the test's own load (parsing megabytes of pages)
# does not delay it: what it measures is the server.
_PROBE = """
import sys, time, httpx
with httpx.Client(timeout=30) as client:
    while sys.stdin.readline():
        started = time.perf_counter()
        assert client.get(sys.argv[1]).status_code == 200
        print(time.perf_counter() - started, flush=True)
"""


class HealthProbe:
    """GET /healthz every 20 ms from another process, timing each answer."""

    def __init__(self, url: str) -> None:
        self.url = url + "/healthz"
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with subprocess.Popen(
            [sys.executable, "-c", _PROBE, self.url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        ) as probe:
            assert probe.stdin is not None and probe.stdout is not None
            while not self._stop.is_set():
                probe.stdin.write("\n")
                probe.stdin.flush()
                self.latencies.append(float(probe.stdout.readline()))
                self._stop.wait(0.02)
            probe.stdin.close()

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def figures(self) -> str:
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"{len(ordered)} probes, median {statistics.median(ordered) * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"
        )


# --- finding 6: heavy pages and feeds do not block the event loop ------------------------------


async def test_heavy_pages_and_feeds_keep_healthz_answering(
    server: Server, admin_token: str, heavy: tuple[str, list[str]]
):
    """Regression (issue 10, finding 6): `/blogs/heavy?a=1&b=2` took 6.9 s and stalled `/healthz`
    6.4 s; feeds were never cached, and the page cache was skipped for a junk query string."""
    slug, ids = heavy
    rounds = 12 if STRESS else 4
    paths = [
        f"/blogs/{slug}",
        f"/blogs/{slug}?a=1&b=2&c=3",
        f"/blogs/{slug}/embed",
        f"/blogs/{slug}/feed.atom",
        f"/blogs/{slug}/feed.json",
    ]
    times: dict[str, list[float]] = {path: [] for path in paths}
    sizes: dict[str, int] = {}

    async def load(client: httpx.AsyncClient, offset: int) -> None:
        for i in range(rounds * len(paths)):
            path = paths[(i + offset) % len(paths)]
            started = time.perf_counter()
            response = await client.get(path)
            times[path].append(time.perf_counter() - started)
            assert response.status_code == 200
            sizes[path] = len(response.content)

    async def edit(client: httpx.AsyncClient) -> None:
        """Two new states of the blog during the load: every page and feed is rendered again."""
        for n in (0, 1):
            await asyncio.sleep(0.5)
            url = f"/api/v1/blogs/{slug}/updates/{ids[n]}"
            body = {"body": heavy_table(HEAVY_UPDATES - 1 - n), "key_event": True}
            edited = await client.patch(url, json=body, headers={"Authorization": f"Bearer {admin_token}"})
            assert edited.status_code == 200, edited.text

    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        with HealthProbe(server.url) as probe:
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            await asyncio.gather(*(load(client, n) for n in range(6)), edit(client))
            elapsed = time.perf_counter() - started
            await asyncio.sleep(0.2)
    print(
        f"\n{6 * rounds * len(paths)} page and feed views (and 2 edits) of the heavy blog in {elapsed:.2f} s"
    )
    for path in paths:
        print(
            f"  {path}: {sizes[path] / 1024:.0f} KiB, first {times[path][0] * 1000:.0f} ms, "
            f"max {max(times[path]) * 1000:.0f} ms, median {statistics.median(times[path]) * 1000:.1f} ms"
        )
    print(f"  /healthz meanwhile: {probe.figures()} (bound {HEALTHZ_BOUND * 1000:.0f} ms)")
    assert len(probe.latencies) >= 10
    assert max(probe.latencies) < HEALTHZ_BOUND


def _load_more(html: str) -> str | None:
    links = [a for tag, a in Elements(html).tags if tag == "a" and a.get("id") == "load-more"]
    return links[0]["href"] if links else None


async def test_heavy_pages_and_feeds_are_bounded_and_page_through_every_update(
    server: Server, heavy: tuple[str, list[str]]
):
    """Regression (issue 10, finding 6): a page held 20 heavy updates (3.3 MB), a feed 50 (over
    10 MB), and feeds stopped at 50 updates. Now each response is bounded by its budget and the
    "Load more" link, Atom's rel="next" and JSON Feed's `next_url` reach every update exactly once."""
    slug, ids = heavy
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        seen, sizes, url = [], [], f"/blogs/{slug}"
        while url is not None:
            response = await client.get(url)
            assert response.status_code == 200
            sizes.append(len(response.content))
            seen += [a["data-update-id"] for a in Elements(response.text).with_class("update")]
            more = _load_more(response.text)
            url = urljoin(f"/blogs/{slug}", more) if more else None
        print(
            f"\npage: {len(sizes)} pages of at most {max(sizes) / 1024:.0f} KiB (limit {PAGE_LIMIT // 1024})"
        )
        assert seen == ids
        assert max(sizes) <= PAGE_LIMIT

        seen, sizes, next_url = [], [], f"{server.url}/blogs/{slug}/feed.atom"
        while next_url is not None:
            response = await client.get(next_url)
            assert response.status_code == 200
            sizes.append(len(response.content))
            feed = ET.fromstring(response.content)
            seen += [e.findtext(f"{A}id").rsplit("/", 1)[1] for e in feed.findall(f"{A}entry")]
            nexts = [link.get("href") for link in feed.findall(f"{A}link") if link.get("rel") == "next"]
            next_url = nexts[0] if nexts else None
        print(
            f"feed.atom: {len(sizes)} pages of at most {max(sizes) / 1024:.0f} KiB (limit {FEED_LIMIT // 1024})"
        )
        assert seen == ids
        assert max(sizes) <= FEED_LIMIT

        seen, sizes, next_url = [], [], f"{server.url}/blogs/{slug}/feed.json"
        while next_url is not None:
            response = await client.get(next_url)
            assert response.status_code == 200
            sizes.append(len(response.content))
            document = response.json()
            seen += [item["id"] for item in document["items"]]
            next_url = document.get("next_url")
        print(
            f"feed.json: {len(sizes)} pages of at most {max(sizes) / 1024:.0f} KiB (limit {FEED_LIMIT // 1024})"
        )
        assert seen == ids
        assert max(sizes) <= FEED_LIMIT


# --- the Host header and the public URL ---------------------------------------------------------


def _commands(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name: int(value["calls"]) for name, value in stats.items()}


# What goes on whether pages are read or not: the probe itself, the hub's XREAD, and the in-process
# workers' looks at their registries (the scheduler's SMEMBERS, the webhooks' and feeds' HVALS: when
# another test's change rings them, so one can fall between two reads of the counters; no page
# reads with HVALS) and
# at the queue of every webhook endpoint registered in this Redis, by any test (ZRANGE, ten a
# second each; a page reads with ZRANGE only from the scripts, which EVALSHA counts as well).
# The webhooks' fan-out of every blog with an endpoint reads its stream with an XREADGROUP that
# blocks 1 s at a time: one can end between two reads of the counters (no page reads with it).
BACKGROUND = frozenset(
    {
        "cmdstat_info",
        "cmdstat_xread",
        "cmdstat_xreadgroup",
        "cmdstat_smembers",
        "cmdstat_hvals",
        "cmdstat_zrange",
    }
)


def json_ld(html: str) -> dict:
    scripts = JSON_LD.findall(html)
    assert len(scripts) == 1
    data: dict = json.loads(scripts[0])
    return data


def canonical(html: str) -> str:
    return next(a["href"] for tag, a in Elements(html).tags if tag == "link" and a.get("rel") == "canonical")


def og_url(html: str) -> str:
    return next(
        a["content"] for tag, a in Elements(html).tags if tag == "meta" and a.get("property") == "og:url"
    )


async def test_junk_host_headers_do_not_evict_or_poison_the_real_hosts_page(
    server: Server, api: httpx.AsyncClient, blog: str
):
    """Regression (issue 10, findings 6 and 7): the page cache held one page per Host, so 8 junk
    Host headers evicted the real one; the Host flowed into canonical, og:url and JSON-LD."""
    reader = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()  # warms the hub
    try:
        await reader.live()
        update = await publish(api, blog, "Seen from every Host")
        await reader.wait_for(1)
        real = f"127.0.0.1:{server.port}"
        junks = [await api.get(f"/blogs/{blog}", headers={"Host": f"junk{n}.example"}) for n in range(8)]
        assert all(junk.status_code == 200 for junk in junks)
        client = server.redis()
        before = _commands(client)
        pages = [await api.get(f"/blogs/{blog}") for _ in range(2)]
        after = _commands(client)
        client.close()
        spent = {
            name: after[name] - before.get(name, 0)
            for name in after
            if after[name] != before.get(name, 0) and name not in BACKGROUND
        }
        print(f"\nRedis commands of 2 views after 8 junk Hosts: {spent or 'none'}")
        assert spent == {}
        for n, junk in enumerate(junks):  # each Host got its own URLs, from the one render
            assert canonical(junk.text) == f"http://junk{n}.example/blogs/{blog}"
            assert junk.headers["vary"].lower() == "host, accept-encoding"
        page = pages[0].text
        assert pages[1].text == page and "junk" not in page
        assert update["id"] in page
        assert canonical(page) == og_url(page) == json_ld(page)["url"] == f"http://{real}/blogs/{blog}"
        assert pages[0].headers["vary"].lower() == "host, accept-encoding"
        assert pages[0].headers["etag"] != junk.headers["etag"]

        for path in ("/feed.atom", "/feed.json", f"/updates/{update['id']}"):
            response = await api.get(f"/blogs/{blog}{path}", headers={"Host": "other.example:8443"})
            assert response.status_code == 200
            assert response.headers["vary"].lower() == "host, accept-encoding"
            assert f"http://other.example:8443/blogs/{blog}" in response.text
            assert real not in response.text

        for hostile in ('evil.example"><script>', "a b", "évil.example".encode(), "x" * 400):
            refused = await api.get(f"/blogs/{blog}", headers={"Host": hostile})
            assert refused.status_code == 400
    finally:
        await reader.close()


@pytest.fixture(scope="module")
def public_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with LIVEBLOG_PUBLIC_URL, listening on every address (for /metrics below)."""
    srv = Server(tmp_path_factory.mktemp("public") / "data", public_url=PUBLIC, host="0.0.0.0")
    srv.start()
    yield srv
    srv.stop()


async def test_with_a_public_url_every_absolute_url_uses_it_whatever_the_host(public_server: Server):
    """Regression (issue 10, finding 7): the Host header flowed into canonical, og:url, JSON-LD
    and feed URLs, and `Location` ignored the public URL."""
    token = public_server.token("public-admin")
    headers = {"Authorization": f"Bearer {token}", "Host": "evil.example"}
    async with httpx.AsyncClient(base_url=public_server.url, headers=headers, timeout=10) as api:
        created = await api.post("/api/v1/blogs", json={"slug": "public", "title": "Public"})
        assert created.status_code == 201
        assert created.headers["location"] == f"{PUBLIC}/api/v1/blogs/public"
        posted = await api.post("/api/v1/blogs/public/updates", json={"body": "Hello"})
        assert posted.status_code == 201
        update = posted.json()
        assert posted.headers["location"] == f"{PUBLIC}/api/v1/blogs/public/updates/{update['id']}"

        page = await api.get("/blogs/public")
        ld = json_ld(page.text)
        assert canonical(page.text) == og_url(page.text) == ld["url"] == ld["@id"] == f"{PUBLIC}/blogs/public"
        assert [p["url"] for p in ld["liveBlogUpdate"]] == [f"{PUBLIC}/blogs/public#update-{update['id']}"]
        permalink = await api.get(f"/blogs/public/updates/{update['id']}")
        assert (
            canonical(permalink.text)
            == og_url(permalink.text)
            == f"{PUBLIC}/blogs/public/updates/{update['id']}"
        )

        atom = ET.fromstring((await api.get("/blogs/public/feed.atom")).content)
        assert atom.findtext(f"{A}id") == f"{PUBLIC}/blogs/public"
        assert {link.get("href") for link in atom.findall(f"{A}link")} == {
            f"{PUBLIC}/blogs/public/feed.atom",
            f"{PUBLIC}/blogs/public",
        }
        assert atom.find(f"{A}entry").findtext(f"{A}id") == f"{PUBLIC}/blogs/public/updates/{update['id']}"
        feed = (await api.get("/blogs/public/feed.json")).json()
        assert feed["home_page_url"] == f"{PUBLIC}/blogs/public"
        assert feed["feed_url"] == f"{PUBLIC}/blogs/public/feed.json"
        assert feed["items"][0]["url"] == f"{PUBLIC}/blogs/public/updates/{update['id']}"

        for path in ("", "/embed", "/feed.atom", "/feed.json", f"/updates/{update['id']}"):
            response = await api.get(f"/blogs/public{path}")
            assert "evil.example" not in response.text and "127.0.0.1" not in response.text
            assert response.headers["vary"] == "Accept-Encoding"  # one answer for every Host


# --- /metrics ------------------------------------------------------------------------------------


def own_address() -> str | None:
    """This machine's first non-loopback IPv4 address (`hostname -I`), if any."""
    try:
        found = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    for address in found:
        if "." in address and not address.startswith("127."):
            with socket.socket() as sock:
                try:
                    sock.bind((address, 0))
                except OSError:
                    continue
            return address
    return None


async def test_metrics_answer_only_to_loopback_without_a_token(public_server: Server):
    """Regression (issue 10, finding 7): `/metrics` was public."""
    address = own_address()
    async with httpx.AsyncClient(timeout=10) as client:
        local = await client.get(f"{public_server.url}/metrics")
        assert local.status_code == 200 and "liveblog_readers" in local.text
        if address is None:
            pytest.skip("no non-loopback address on this machine")
        remote = await client.get(f"http://{address}:{public_server.port}/metrics")
        print(f"\n/metrics from {address}: {remote.status_code}; from 127.0.0.1: {local.status_code}")
        assert remote.status_code == 403
        assert remote.headers["content-type"] == "application/problem+json"
        assert (await client.get(f"http://{address}:{public_server.port}/healthz")).status_code == 200


async def test_metrics_answer_only_to_the_bearer_of_the_token(tmp_path: Path):
    srv = Server(tmp_path / "data", metrics_token="s3cret-metrics").start()
    try:
        async with httpx.AsyncClient(base_url=srv.url, timeout=10) as client:
            assert (await client.get("/metrics")).status_code == 403  # loopback is not enough then
            wrong = {"Authorization": "Bearer nope"}
            assert (await client.get("/metrics", headers=wrong)).status_code == 403
            right = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
            assert right.status_code == 200 and "liveblog_readers" in right.text
    finally:
        srv.stop()
