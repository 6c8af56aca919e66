"""Outbound HTTP (webhook deliveries, feed fetches): connect only to an address that was checked.

`CheckedTransport`, an `httpx.AsyncBaseTransport`, resolves the request's host once, refuses the
request (`PrivateAddress`) when any of its addresses breaks the rule (by default: loopback,
link-local, private, multicast and other non-global addresses are refused), and sends it to the
first of those addresses that connects: the URL's host is replaced by the address, the `Host`
header keeps the name, and for https the name is the TLS SNI and the name the certificate is
verified for (httpx's documented `sni_hostname` request extension). httpx never resolves the name
itself, so a DNS that answers a public address to the check and 127.0.0.1 to the connection (DNS
rebinding) reaches nothing. Each request passes through it, a redirect the caller follows too.

No connection is kept alive: the pool would key it by address, and hand a connection whose
certificate was verified for one name to a request for another name on the same address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable

import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]


class PrivateAddress(ValueError):
    """A URL whose host is (or resolves to) a loopback, link-local or private address."""


def is_public(address: str) -> bool:
    """Whether an IP address may be reached from here: global unicast (IPv4-mapped ones too)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _any(address: str) -> bool:
    return True


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host`, in the system resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CheckedTransport(httpx.AsyncBaseTransport):
    """Resolve once (`resolver`), check every address (`allowed`), connect to a checked one."""

    def __init__(
        self,
        *,
        allowed: Callable[[str], bool] = is_public,
        resolver: Resolver = resolve,
        max_connections: int = 100,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.allowed = allowed
        self.resolver = resolver
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=0)
        self._transport = httpx.AsyncHTTPTransport(verify=verify, trust_env=False, limits=limits)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        addresses = await self.resolver(url.host, url.port or (443 if url.scheme == "https" else 80))
        for address in addresses:
            if not self.allowed(address):
                raise PrivateAddress(f"{url.host} resolves to {address}, not a public address")
        error = httpx.ConnectError(f"{url.host} resolves to no address", request=request)
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=address),
                headers=request.headers,  # its Host: the name
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": url.host},
            )
            try:
                return await self._transport.handle_async_request(pinned)
            except httpx.ConnectError as exc:  # nothing was sent: the next address
                error = exc
        raise error

    async def aclose(self) -> None:
        await self._transport.aclose()


def client(*, allow_private: bool, timeout: float, max_connections: int = 100) -> httpx.AsyncClient:
    """The client the workers send with: no redirects followed, no proxy from the environment;
    with `allow_private` (`LIVEBLOG_ALLOW_PRIVATE_URLS`) every address is allowed."""
    transport = CheckedTransport(
        allowed=_any if allow_private else is_public, max_connections=max_connections
    )
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
