"""Address safety: a page on the internet must not make leakwatch fetch the user's intranet.

The check sits where connections are made (an httpcore network backend), on the address
actually connected to: host names are resolved here, every address that is not globally
routable (private, loopback, link-local, carrier-grade NAT, reserved, multicast; IPv4-mapped
IPv6 looked through) is dropped, and the connection goes to a checked address, so a DNS
answer cannot change between the check and the connect (DNS rebinding). Hosts the user
named as targets, and every host with --allow-private, are exempt.

Through a proxy the proxy resolves names (socks5h:// for Tor), so only literal addresses
and `localhost` can be checked: `check_literal` does that before each request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import certifi
import httpcore
import httpx

from leakwatch.errors import FetchError
from leakwatch.fetch.pool import HostPool, Pool
from leakwatch.fetch.urls import is_ip

_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class Resolver(Protocol):
    """Host name -> IP addresses (the seam tests use to point a name at 127.0.0.1)."""

    async def resolve(self, host: str, port: int) -> list[str]: ...


class SystemResolver:
    """The operating system's resolver, without blocking the event loop."""

    async def resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: str) -> bool:
    """Whether an IP address is globally routable (the only kind a page may send us to)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which hosts may resolve to non-public addresses."""

    allow_private: bool = False
    named_hosts: frozenset[str] = frozenset()  # targets the user named explicitly

    def exempt(self, host: str) -> bool:
        return self.allow_private or host.lower() in self.named_hosts

    def check_literal(self, url: str, host: str) -> None:
        """Refuse a literal private address or a local name (all a proxy setup can check)."""
        if self.exempt(host):
            return
        if host.lower() in _LOCAL_NAMES or (is_ip(host) and not is_public(host)):
            raise refused(url, host)


def refused(url: str, host: str, addresses: Iterable[str] = ()) -> FetchError:
    listed = ", ".join(addresses)
    where = f"{host} ({listed})" if listed and listed != host else host
    return FetchError(
        url,
        f"refused: {where} is not a public address (name the target or pass --allow-private)",
        "refused",
    )


class AddressRefused(Exception):
    """Raised inside the connection pool; the fetcher turns it into FetchError 'refused'.
    Not an httpcore error on purpose: it passes through the pool unmapped, so it stays told
    apart from a failed connection."""

    def __init__(self, host: str, addresses: list[str]) -> None:
        self.host = host
        self.addresses = addresses
        super().__init__(f"{host} resolves only to non-public addresses")


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, then connects to the checked address."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if is_ip(host):
            addresses = [host]
        else:
            try:
                async with asyncio.timeout(timeout):
                    addresses = await self.resolver.resolve(host, port)
            except (OSError, TimeoutError, UnicodeError) as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        usable = addresses if self.policy.exempt(host) else [a for a in addresses if is_public(a)]
        if not usable:
            raise AddressRefused(host, addresses)
        failure: Exception | None = None
        for address in usable:  # as a browser does: the next address when one fails
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not crawled")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def make_pool(
    policy: AddressPolicy,
    resolver: Resolver | None = None,
    *,
    proxy: str | None = None,
    max_idle: int = 100,
) -> Pool:
    """The pool requests go through, its connections address-checked (see the module
    docstring), keeping up to `max_idle` idle connections; through a proxy, httpx's own
    proxy pool (HTTP or SOCKS)."""
    if proxy is not None:
        limits = httpx.Limits(max_connections=max_idle, max_keepalive_connections=None)
        transport = httpx.AsyncHTTPTransport(proxy=proxy, limits=limits, trust_env=False)
        # httpx builds the proxy pool (credentials, SOCKS) from the URL; we only need the pool.
        if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("this httpx keeps its connection pool elsewhere: cannot use it")
        return transport._pool
    return HostPool(
        GuardedBackend(policy, resolver or SystemResolver()),
        ssl.create_default_context(cafile=certifi.where()),
        max_idle=max_idle,
    )
