"""Hostile input (issue 5, scenario 8): schemathesis against /openapi.json, and protocol abuse over raw
sockets. Nothing a client sends may answer 500, hang, or leave the server unable to serve the next
reader. (The Markdown sanitizer's hypothesis properties live in test_render.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import requests
import schemathesis
import websockets
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .clients import SSEReader
from .conftest import Server, publish

pytestmark = pytest.mark.timeout(180)

PROBLEM = "application/problem+json"


# -- after every test: the server still serves ----------------------------------------------------


async def assert_still_serving(server: Server, api: httpx.AsyncClient) -> None:
    """/healthz answers and a normal publish still reaches a new reader."""
    assert (await api.get("/healthz")).status_code == 200
    slug = f"alive-{uuid.uuid4().hex[:10]}"
    assert (await api.post("/api/v1/blogs", json={"slug": slug, "title": "Alive"})).status_code == 201
    reader = await SSEReader(server.url, f"/api/v1/blogs/{slug}/events").connect()
    try:
        await asyncio.sleep(0.1)  # subscribed before the publish: live events only
        update = await publish(api, slug, "still here")
        (event,) = await reader.wait_for(1, timeout=10)
        assert event.id == update["id"]
    finally:
        await reader.close()


@pytest.fixture(autouse=True)
async def still_serving(server: Server, api: httpx.AsyncClient) -> AsyncIterator[None]:
    yield
    await assert_still_serving(server, api)


# -- 1. schemathesis against /openapi.json --------------------------------------------------------

FUZZ_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]
FUZZ_CONFIG = {
    "checks": {
        # 413 is the documented answer to a body over 64 KiB (maxLength counts characters, the server
        # bytes); JSON Schema cannot say "bytes of UTF-8" nor "renders to at most 512 KiB of HTML".
        "negative_data_rejection": {
            "expected-statuses": ["400", "401", "403", "404", "409", "413", "415", "422", "429"]
        },
        "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "413", "429"]},
    }
}
# Rules the schema states in prose, not in JSON Schema: `scheduled_at` at most a year ahead; an image
# or a blog's cover has either a url or a media id; a media id names an upload of the blog; an
# upload is an image.
EXEMPT_REJECTIONS = (
    "scheduled_at: must be within a year",
    "image: give either url",
    "image.media: no upload",
    "cover: give either url",
    "cover.media: no upload",
    "file: not a",
)


@dataclass
class FuzzReport:
    cases: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    exempt: int = 0
    unsatisfiable: list[str] = field(default_factory=list)
    failures: dict[tuple[str, str, str, str], str] = field(default_factory=dict)


def _exempt(check: Any, response: requests.Response) -> bool:
    if check is not positive_data_acceptance or response.status_code != 422:
        return False
    with contextlib.suppress(ValueError):
        return str(response.json().get("detail", "")).startswith(EXEMPT_REJECTIONS)
    return False


def _fuzz_variant(
    report: FuzzReport, session: requests.Session, base_url: str, label: str, variant: str, strategy: Any
) -> None:
    """Run one operation's cases of one variant; every failed check is recorded, none stops the run."""

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, timeout=15)
        report.cases += 1
        report.statuses[(label, response.status_code)] += 1
        for check in CHECKS:
            try:
                case.validate_response(response, checks=[check])
            except (AssertionError, BaseExceptionGroup) as exc:
                if _exempt(check, response):
                    report.exempt += 1
                    continue
                key = (label, variant, check.__name__, str(response.status_code))
                report.failures.setdefault(key, f"{exc}\n{case.as_curl_command()}"[:1500])

    try:
        run()
    except Unsatisfiable:
        # Nothing to negate: GET /api/v1/blogs takes no input at all, and the slug is fixed.
        assert variant.endswith("negative"), (label, variant)
        report.unsatisfiable.append(f"{label} {variant}")


def _fuzz(base_url: str, token: str, slug: str, update_ids: list[str]) -> FuzzReport:
    """Every operation but the two endless streams, positive and negative data, with and without a
    token; every response checked against the document. Runs in a thread (requests is blocking)."""
    report = FuzzReport()
    with requests.Session() as session:
        # from_dict, not from_url: from_url leaves out the document's own operation, GET /openapi.json.
        document = session.get(f"{base_url}/openapi.json", timeout=10).json()
        schema = schemathesis.openapi.from_dict(document, config=SchemathesisConfig.from_dict(FUZZ_CONFIG))
        schema = schema.exclude(tag="streams")  # SSE and WebSocket: tested below, over real sockets
        for result in schema.get_all_operations():
            operation = result.ok()
            # Our own blog, and also its real updates where the path names one (else all 404).
            paths: list[dict[str, str]] = [{"slug": slug}] if "{slug}" in operation.path else [{}]
            if "{id}" in operation.path:
                paths += [{"slug": slug, "id": update_id} for update_id in update_ids]
            for auth, headers in (("token", {"Authorization": f"Bearer {token}"}), ("anonymous", None)):
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    strategy = st.one_of(
                        operation.as_strategy(generation_mode=mode, path_parameters=p, headers=headers)
                        for p in paths
                    )
                    _fuzz_variant(
                        report, session, base_url, operation.label, f"{auth}/{mode.value}", strategy
                    )
    return report


@pytest.mark.timeout(600)  # 22 operations since drafts and uploads; 25 examples of each variant
async def test_schemathesis_finds_no_server_error_and_no_response_outside_the_schema(server, api):
    token = server.token("fuzz")
    slug = f"fuzz-{uuid.uuid4().hex[:10]}"
    assert (await api.post("/api/v1/blogs", json={"slug": slug, "title": "Fuzz"})).status_code == 201
    update_ids = [(await publish(api, slug, f"update {i}"))["id"] for i in range(3)]

    started = time.monotonic()
    report = await asyncio.to_thread(_fuzz, server.url, token, slug, update_ids)
    elapsed = time.monotonic() - started

    by_operation: dict[str, Counter[int]] = {}
    for (label, status), count in report.statuses.items():
        by_operation.setdefault(label, Counter())[status] += count
    print(f"\nschemathesis: {report.cases} cases in {elapsed:.1f} s, {len(by_operation)} operations")
    for label, statuses in by_operation.items():
        print(f"  {label:40} " + " ".join(f"{s}x{n}" for s, n in sorted(statuses.items())))
    print(f"  exempt rejections: {report.exempt}; nothing to negate: {report.unsatisfiable}")
    for key, detail in report.failures.items():
        print(f"FAILURE {key}:\n{detail}\n")

    assert len(by_operation) == 22, sorted(by_operation)  # every operation but /events and /ws
    assert report.cases >= 22 * 2 * FUZZ_EXAMPLES  # both auth variants of every operation ran
    assert not [s for (_, s) in report.statuses if s >= 500]
    assert not report.failures, sorted(report.failures)
    # The token variant reached past authentication: writes succeeded and validation answered.
    assert {201, 200, 204, 422} <= {s for (_, s) in report.statuses}


async def test_the_schema_checks_fail_on_a_response_that_breaks_the_schema(server):
    """Guard against a fuzz test that cannot fail: the checks it runs catch a 500 and a wrong body."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", timeout=10)
    case = schema["/api/v1/blogs/{slug}"]["GET"].Case(path_parameters={"slug": "no-such-blog"})
    with requests.Session() as session:
        wrong_body = session.get(f"{server.url}/openapi.json", timeout=10)  # 200, but not a Blog
        with pytest.raises((AssertionError, BaseExceptionGroup)):
            case.validate_response(wrong_body, checks=[response_schema_conformance])
        crashed = requests.Response()
        crashed.status_code, crashed._content = 500, b"Internal Server Error"
        crashed.headers["Content-Type"] = "text/plain; charset=utf-8"
        crashed.url = f"{server.url}/api/v1/blogs/no-such-blog"
        crashed.request = requests.Request("GET", crashed.url).prepare()
        crashed.elapsed = wrong_body.elapsed
        with pytest.raises((AssertionError, BaseExceptionGroup)):
            case.validate_response(crashed, checks=[not_a_server_error])
        fine = session.get(f"{server.url}/api/v1/blogs/no-such-blog", timeout=10)
        case.validate_response(fine, checks=CHECKS[:5])  # a documented 404 problem passes


# Found by the fuzz run: each answered 500 before (ValueError from urlsplit, OverflowError from
# astimezone), and lower-case RFC 3339 was refused.
@pytest.mark.parametrize(
    ("fields", "status", "detail"),
    [
        ({"image": {"url": "https://[", "alt": ""}}, 422, "image.url"),
        ({"image": {"url": "https://[::1/x.png", "alt": ""}}, 422, "image.url"),
        ({"image": {"url": "https://\u2100.example/x.png", "alt": ""}}, 422, "image.url"),
        ({"scheduled_at": "0001-01-01T00:00:00+01:00"}, 422, "scheduled_at"),
        ({"scheduled_at": "9999-12-31T23:59:59-01:00"}, 422, "scheduled_at"),
        ({"scheduled_at": "2022-04-24t03:06:00z"}, 201, None),
    ],
)
async def test_edge_values_the_fuzzer_found_are_clean_errors_not_500(api, blog, fields, status, detail):
    response = await api.post(f"/api/v1/blogs/{blog}/updates", json={"body": "x", **fields})
    assert response.status_code == status, response.text
    if detail is not None:
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["detail"].startswith(detail)


# -- 3. protocol abuse over raw sockets -----------------------------------------------------------


@dataclass
class Raw:
    status: int | None  # None: the server closed the connection without a response
    headers: dict[str, str]
    body: bytes


async def raw_request(server: Server, head: bytes, body: bytes = b"", timeout: float = 5.0) -> Raw:
    """Send bytes as they are (no client-side validation or encoding) and read the whole answer;
    `head` is the request line and headers without the final blank line. A hang fails the test."""
    url = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head + f"\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n".encode() + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        async with asyncio.timeout(timeout):
            try:
                data = await reader.read()
            except ConnectionError:
                data = b""
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if not data:
        return Raw(None, {}, b"")
    head_bytes, _, content = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Raw(int(lines[0].split()[1]), headers, content)


def assert_problem_400(raw: Raw, detail: str) -> None:
    assert raw.status == 400, raw
    assert raw.headers["content-type"] == PROBLEM, raw
    assert detail.encode() in raw.body, raw


GARBAGE_IDS = [
    "-1",
    "1-2-3",
    "abc",
    "9" * 10240,
    "99999999999999999999999-0",
    "18446744073709551616-0",  # 2**64: one past Redis's range
    "\u0661\u0662\u0663-0",  # Arabic-Indic digits: str.isdigit() says yes
    "%00",
    "1-0\x00",
    "<script>",
]


@pytest.mark.parametrize("value", GARBAGE_IDS, ids=lambda v: repr(v[:24]))
async def test_garbage_last_event_id_header_is_400_problem(server, blog, value):
    head = f"GET /api/v1/blogs/{blog}/events HTTP/1.1\r\nAccept: text/event-stream\r\n".encode()
    raw = await raw_request(server, head + b"Last-Event-ID: " + value.encode("utf-8"))
    if "\x00" in value:  # a NUL is not allowed in a header value: the HTTP parser refuses the request
        assert raw.status is None or 400 <= raw.status < 500, raw
    else:
        assert_problem_400(raw, "Last-Event-ID")


QUERY_GARBAGE = [
    "-1",
    "1-2-3",
    "abc",
    "9" * 10240,
    "99999999999999999999999-0",
    "%D9%A1%D9%A2%D9%A3-0",  # Arabic-Indic digits
    "%00",
    "1-0%00",
    "%FF%FE",  # not UTF-8 once decoded
    "%3Cscript%3E",
]


@pytest.mark.parametrize("query", QUERY_GARBAGE, ids=lambda v: repr(v[:24]))
async def test_garbage_last_event_id_query_is_400_problem(server, blog, query):
    raw = await raw_request(
        server, f"GET /api/v1/blogs/{blog}/events?last_event_id={query} HTTP/1.1".encode()
    )
    assert_problem_400(raw, "Last-Event-ID")


async def ws_close_code(url: str, *, send: Any = None, timeout: float = 5.0) -> int | None:
    """Connect, optionally send one message, and return the close code the server sends."""
    async with asyncio.timeout(timeout):
        async with websockets.connect(url, max_size=None, open_timeout=timeout) as ws:
            if send is not None:
                await ws.send(send)
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    await ws.recv()
            return ws.close_code


@pytest.mark.parametrize(
    "query",
    # Regression: under uvicorn's websockets-sansio the 10 KB one hung the handshake.
    [*[q for q in QUERY_GARBAGE if len(q) < 1000], "9" * 10240],
    ids=lambda v: repr(v[:24]),
)
async def test_garbage_last_event_id_on_websocket_closes_1008(server, blog, query):
    url = "ws" + server.url.removeprefix("http") + f"/api/v1/blogs/{blog}/ws?last_event_id={query}"
    try:
        code = await ws_close_code(url)
    except websockets.InvalidStatus as exc:  # refused at the handshake: also a clean answer
        assert 400 <= exc.response.status_code < 500, exc
    else:
        assert code == 1008


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"\x00\x01binary", 1008),  # readers send nothing
        ("hello", 1008),
        ('{"type": "subscribe"}', 1008),
        ("x" * (64 * 1024 + 1), 1009),  # over the 64 KiB frame limit
        (b"\xff" * (1024 * 1024), 1009),
    ],
    ids=["binary", "text", "json", "text-over-64KiB", "binary-1MiB"],
)
async def test_websocket_frames_from_a_reader_close_the_socket(server, blog, message, code):
    url = "ws" + server.url.removeprefix("http") + f"/api/v1/blogs/{blog}/ws"
    assert await ws_close_code(url, send=message) == code


# Under the 64 KiB head limit, so the app's own checks answer (over it: tests/test_limits.py).
BIG = "a" * 60_000


@pytest.mark.parametrize(
    ("method", "path", "header", "expected"),
    [
        ("GET", "/healthz", f"X-Padding: {BIG}", {200, 400, 413, 431}),
        ("GET", "/api/v1/blogs", "\r\n".join(f"X-Header-{i}: v" for i in range(5000)), {200, 400, 431}),
        ("GET", "/api/v1/blogs/{blog}/events", f"Last-Event-ID: {BIG}", {400}),
        ("POST", "/api/v1/blogs/{blog}/updates", f"Authorization: Bearer {BIG}", {401}),
        ("POST", "/api/v1/blogs/{blog}/updates", f"Cookie: liveblog_session={BIG}", {401}),
        (
            "POST",
            "/api/v1/blogs/{blog}/updates",
            f"Authorization: Bearer {{token}}\r\nIdempotency-Key: {BIG}",
            {400},
        ),
        ("GET", "/api/v1/blogs/{blog}", f"If-None-Match: {BIG}", {200}),
        ("GET", "/blogs/{blog}", f"Accept-Language: {BIG}", {200}),
    ],
    ids=[
        "padding",
        "5000-headers",
        "last-event-id",
        "authorization",
        "cookie",
        "idempotency",
        "etag",
        "page",
    ],
)
async def test_huge_headers_get_a_clean_answer(server, admin_token, blog, method, path, header, expected):
    """Large headers within the head limit are parsed and the app answers. Whatever it does,
    never a 5xx, never a hang, and the API's own checks still apply."""
    body = b'{"body": "x"}' if method == "POST" else b""
    head = f"{method} {path.format(blog=blog)} HTTP/1.1\r\n{header.replace('{token}', admin_token)}\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}" if body else "Accept: */*"
    started = time.monotonic()
    raw = await raw_request(server, head.encode(), body, timeout=10)
    print(f"\n{len(header)} bytes of header: {raw.status} in {time.monotonic() - started:.2f} s")
    assert raw.status is None or raw.status in expected, raw.status


INVALID_UTF8_BODIES = [
    b'{"body": "caf\xc3"}',  # truncated sequence
    b'{"body": "\xc0\xaf"}',  # overlong encoding of "/"
    b'{"body": "\xed\xa0\x80"}',  # a UTF-16 surrogate encoded as UTF-8 (CESU-8)
    b'{"body": "\xf8\x88\x80\x80\x80"}',  # a five-byte sequence
    b'{"title": "\xff", "body": "x"}',
]


@pytest.mark.parametrize("raw_body", INVALID_UTF8_BODIES, ids=repr)
async def test_invalid_utf8_in_a_json_body_is_400(api, blog, raw_body):
    for method, path in (
        ("POST", f"/api/v1/blogs/{blog}/updates"),
        ("PATCH", f"/api/v1/blogs/{blog}"),
        ("POST", "/api/v1/blogs"),
    ):
        response = await api.request(
            method, path, content=raw_body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert (await api.get(f"/api/v1/blogs/{blog}/updates")).json()["updates"] == []


@pytest.mark.parametrize(
    "target",
    [
        b"/api/v1/blogs/\xff\xfe",  # raw bytes that are not UTF-8
        b"/api/v1/blogs/{blog}/updates?limit=\xff",
        b"/api/v1/blogs/{blog}/events?last_event_id=\xc3",
        b"/blogs/\xc3\x28",
        b"/api/v1/blogs/%FF%FE",  # percent-encoded, decoding to no UTF-8
        b"/api/v1/blogs/{blog}/updates/%FF",
        b"/api/v1/blogs/{blog}/updates?before=%FF",
        b"/api/v1/blogs/{blog}/updates?limit=%FF",
        b"/blogs/%FF",
        b"/blogs/{blog}/updates/%ED%A0%80",
        b"/blogs/{blog}?before=%FF",
        b"/api/v1/blogs/%00",
    ],
    ids=repr,
)
async def test_invalid_utf8_in_the_url_is_4xx_not_500(server, blog, target):
    raw = await raw_request(server, b"GET " + target.replace(b"{blog}", blog.encode()) + b" HTTP/1.1")
    print(f"\n{target!r}: {raw.status}")
    assert raw.status is not None and 400 <= raw.status < 500, raw


# -- findings that need a fix outside the files this suite may touch -----------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server of this test's own, for abuse that would hurt the shared one."""
    srv = Server(tmp_path / "data", rate_limit=1_000_000).start()
    try:
        yield srv
    finally:
        srv.stop()


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_a_stuck_websocket_handshake_neither_hangs_nor_breaks_shutdown(own_server):
    url = urlsplit(own_server.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(
        f"GET /api/v1/blogs/x/ws?last_event_id={'9' * 10240} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    try:
        async with asyncio.timeout(3):
            answer = await reader.read(1024)
        assert answer.startswith(b"HTTP/1.1 4"), answer
    finally:
        assert own_server.process is not None
        own_server.process.send_signal(signal.SIGINT)  # shut down with the connection still open
        returncode = await asyncio.to_thread(own_server.process.wait, 15)
        own_server.process = None
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    assert returncode == 0, own_server.log.read_text()[-2000:]


async def test_distinct_huge_host_headers_do_not_grow_the_server(own_server):
    token = own_server.token("host")
    slug = "hosts"
    async with httpx.AsyncClient(
        base_url=own_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        assert (await client.post("/api/v1/blogs", json={"slug": slug, "title": "H"})).status_code == 201
        await publish(client, slug, "one")
        reader = await SSEReader(own_server.url, f"/api/v1/blogs/{slug}/events").connect()  # warm
        try:
            assert own_server.process is not None
            pid = own_server.process.pid
            for _ in range(20):  # warm-up
                await client.get(f"/blogs/{slug}")
            before = _rss_mib(pid)
            for i in range(200):
                response = await client.get(f"/blogs/{slug}", headers={"Host": f"h{i}.{'a' * 50_000}"})
                assert response.status_code == 400  # not a host name: never rendered, never cached
            grown = _rss_mib(pid) - before
            print(f"\nRSS after 200 distinct 50 KB Host headers: +{grown:.1f} MiB")
            assert grown < 20
        finally:
            await reader.close()
