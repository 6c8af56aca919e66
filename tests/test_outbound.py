"""The workers' outbound HTTP (`liveblog.outbound`): real servers on 127.0.0.1 and 127.0.0.2 (the
same port), real TLS; the transport's own resolver and rule arguments stand in for a hostile DNS."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from liveblog import outbound
from liveblog.feeditems import FeedError
from liveblog.outbound import CheckedTransport, PrivateAddress
from workers.feeds import fetch

from .endpoints import Loopback, read_head

pytestmark = pytest.mark.timeout(30)


@dataclass
class Origin(Loopback):
    """HTTP/1.1 on one address: records (path, Host header) of each request; `/away` redirects to
    `redirect`, anything else answers 204."""

    redirect: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await read_head(reader)
            if head is None:
                return
            path, headers = head
            self.seen.append((path, headers["host"]))
            if path == "/away":
                writer.write(f"HTTP/1.1 302 Found\r\nlocation: {self.redirect}\r\n".encode())
            else:
                writer.write(b"HTTP/1.1 204 No Content\r\n")
            writer.write(b"content-length: 0\r\nconnection: close\r\n\r\n")
            await writer.drain()
        except (ConnectionError, ValueError, ssl.SSLError):
            pass
        finally:
            writer.close()


class Dns:
    """A resolver that gives its answers in turn (the last one again), and counts the questions."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
async def origins() -> AsyncIterator[tuple[Origin, Origin]]:
    """One origin on 127.0.0.1 and another on 127.0.0.2, on the same port."""
    first = await Origin("127.0.0.1").start()
    second = await Origin("127.0.0.2", first.port).start()
    yield first, second
    await first.close()
    await second.close()


def only_first(address: str) -> bool:
    """The rule in these tests: 127.0.0.1 stands for a public address, anything else is refused."""
    return address == "127.0.0.1"


async def test_a_name_that_resolves_to_loopback_is_refused_without_the_setting(origins):
    first, _ = origins
    url = f"http://localhost:{first.port}/hook"
    async with outbound.client(allow_private=False, timeout=5) as http:
        with pytest.raises(PrivateAddress, match=r"localhost resolves to (127\.0\.0\.1|::1)"):
            await http.post(url, content=b"{}")
    assert first.seen == []  # nothing connected
    async with outbound.client(allow_private=True, timeout=5) as http:  # LIVEBLOG_ALLOW_PRIVATE_URLS=1
        assert (await http.post(url, content=b"{}")).status_code == 204
    assert first.seen == [("/hook", f"localhost:{first.port}")]


async def test_the_connection_goes_to_the_address_that_was_checked(origins):
    """DNS rebinding: the name answers an allowed address to the check, then another one. Each
    request resolves once and connects to what it checked; the Host header keeps the name."""
    first, second = origins
    dns = Dns(["127.0.0.1"], ["127.0.0.2"], ["127.0.0.1", "127.0.0.2"])
    url = f"http://hooks.test:{first.port}/hook"
    async with httpx.AsyncClient(transport=CheckedTransport(allowed=only_first, resolver=dns)) as http:
        assert (await http.post(url, content=b"1")).status_code == 204
        for _ in range(2):  # rebound: to the refused address alone, then among allowed ones
            with pytest.raises(PrivateAddress, match="hooks.test resolves to 127.0.0.2"):
                await http.post(url, content=b"2")
    assert dns.asked == ["hooks.test"] * 3  # once per request: httpx never resolved it again
    assert first.seen == [("/hook", f"hooks.test:{first.port}")]
    assert second.seen == []
    dns = Dns(["127.0.0.2"])  # every address allowed (LIVEBLOG_ALLOW_PRIVATE_URLS=1): still pinned
    async with httpx.AsyncClient(transport=CheckedTransport(allowed=lambda _: True, resolver=dns)) as http:
        assert (await http.post(url, content=b"3")).status_code == 204
    assert second.seen == [("/hook", f"hooks.test:{first.port}")] and len(first.seen) == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_names_and_verifies_the_host_not_the_address(tmp_path: Path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
         "-out", str(cert), "-subj", "/CN=hooks.test", "-addext", "subjectAltName=DNS:hooks.test"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    names: list[str | None] = []

    def sni(_: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
        names.append(name)

    served.sni_callback = sni
    origin = await Origin("127.0.0.1", tls=served).start()
    trusted = ssl.create_default_context(cafile=str(cert))
    transport = CheckedTransport(allowed=only_first, resolver=Dns(["127.0.0.1"]), verify=trusted)
    try:
        async with httpx.AsyncClient(transport=transport) as http:
            response = await http.post(f"https://hooks.test:{origin.port}/tls", content=b"{}")
            assert response.status_code == 204
            assert origin.seen == [("/tls", f"hooks.test:{origin.port}")] and names == ["hooks.test"]  # SNI
            with pytest.raises(httpx.ConnectError, match="certificate verify failed"):  # not for this name
                await http.post(f"https://other.test:{origin.port}/tls", content=b"{}")
    finally:
        await origin.close()


async def test_a_feed_redirect_to_a_refused_address_is_not_followed(origins):
    first, second = origins
    first.redirect = f"http://inside.test:{first.port}/secret"
    dns = Dns(["127.0.0.1"], ["127.0.0.2"])
    transport = CheckedTransport(allowed=only_first, resolver=dns)
    async with httpx.AsyncClient(transport=transport, follow_redirects=False) as http:
        with pytest.raises(FeedError, match="inside.test resolves to 127.0.0.2"):
            await fetch(http, f"http://feeds.test:{first.port}/away", {}, allow_private=False)
    assert dns.asked == ["feeds.test", "inside.test"]
    assert [path for path, _ in first.seen] == ["/away"] and second.seen == []
