"""Keep-alive connections per host: a request takes an idle connection to its origin or
opens one, and its response, once closed, gives the connection back.

httpcore's own pool looks at every connection it holds (polling each idle socket) on every
request and every response, and when full closes another host's idle connection to open
one: crawling many hosts at once, it either reopens connections all the time or pays on
each request for all those it keeps. Here finding a connection is a dictionary look-up.
How many requests run at once is the crawler's business (--concurrency, --per-host); how
many idle connections are kept is bounded on its own (the least recently used is closed).
"""

from __future__ import annotations

import ssl
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Protocol

import httpcore

KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept (httpx's default)

_Key = tuple[bytes, bytes, int]  # scheme, host, port


class Pool(Protocol):
    """What the fetcher sends requests through (this pool, or httpx's proxy pools)."""

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response: ...

    async def aclose(self) -> None: ...


class HostPool:
    """HTTP/1.1 connections per origin, made through `backend` (the address guard)."""

    def __init__(
        self,
        backend: httpcore.AsyncNetworkBackend,
        ssl_context: ssl.SSLContext,
        *,
        max_idle: int,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
    ) -> None:
        self.backend = backend
        self.ssl_context = ssl_context
        self.max_idle = max_idle
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[_Key, list[httpcore.AsyncHTTPConnection]] = {}
        self._lru: OrderedDict[httpcore.AsyncHTTPConnection, _Key] = OrderedDict()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        origin = request.url.origin
        key = (origin.scheme, origin.host, origin.port)
        connection = await self._take(key)
        if connection is None:
            connection = httpcore.AsyncHTTPConnection(
                origin,
                ssl_context=self.ssl_context,
                keepalive_expiry=self.keepalive_expiry,
                network_backend=self.backend,
            )
        # On failure or cancellation httpcore closes the connection itself: it is dropped.
        response = await connection.handle_async_request(request)
        return httpcore.Response(
            response.status,
            headers=response.headers,
            content=_Returning(response, self, connection, key),
            extensions=response.extensions,
        )

    async def _take(self, key: _Key) -> httpcore.AsyncHTTPConnection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to expire
            del self._lru[connection]
            if connection.is_idle() and not connection.has_expired():
                return connection
            await connection.aclose()  # expired, or closed by the server meanwhile
        return None

    async def _give_back(self, connection: httpcore.AsyncHTTPConnection, key: _Key) -> None:
        if not connection.is_idle() or connection.is_closed():
            return  # the answer was not read to its end: httpcore closed it
        self._idle.setdefault(key, []).append(connection)
        self._lru[connection] = key
        while len(self._lru) > self.max_idle:
            oldest, where = self._lru.popitem(last=False)
            self._idle[where].remove(oldest)
            await oldest.aclose()

    async def aclose(self) -> None:
        idle, self._lru = list(self._lru), OrderedDict()
        self._idle.clear()
        for connection in idle:
            await connection.aclose()


class _Returning:
    """A response body that gives its connection back to the pool once closed."""

    def __init__(
        self,
        response: httpcore.Response,
        pool: HostPool,
        connection: httpcore.AsyncHTTPConnection,
        key: _Key,
    ) -> None:
        self.response = response
        self.pool = pool
        self.connection = connection
        self.key = key

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.response.aiter_stream():
            yield chunk

    async def aclose(self) -> None:
        try:
            await self.response.aclose()
        finally:
            await self.pool._give_back(self.connection, self.key)
