"""One HTTP request, made safe to point at hostile servers: a total deadline, a byte cap
after decompression, content types decided before the body is read.

httpcore times out only on inactivity, so a server that trickles a byte a second would hold
a request forever: the whole exchange runs under one deadline, and a timeout says whether
the server had begun to answer (a trickle) or not. Bodies are read raw and decompressed here
with a bounded output, so a gzip bomb costs at most the cap. Redirects and retries are the
crawler's (each hop needs scope and robots checks); a request here is one round trip.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import httpcore

from leakwatch.errors import FetchError
from leakwatch.fetch.guard import AddressPolicy, AddressRefused, refused
from leakwatch.fetch.pool import Pool
from leakwatch.fetch.urls import host_of
from leakwatch.safe_text import error_line

# What is scanned; anything else is skipped unread. A missing type is decided by content.
SCANNED_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "text/plain", "text/csv", "text/tab-separated-values",
     "application/json", "text/json", "application/ld+json", "application/x-ndjson",
     "application/jsonl", "text/markdown"}
)  # fmt: skip
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_READ_CHUNK = 64 * 1024
# A small unread body (a redirect's, an error page's) is read and dropped: closing a response
# unread closes its connection, and the next request to the host would open another.
_DRAIN_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    """What one request returned. `body` is decompressed and at most the cap long."""

    url: str
    status: int
    media_type: str | None  # lower case, no parameters; None when the server sent none
    charset: str | None  # the Content-Type charset parameter, as sent
    location: str | None  # for redirects
    retry_after: float | None  # seconds, from Retry-After (seconds or an HTTP date)
    body: bytes
    truncated: bool  # the body went on past the cap
    address: str | None  # the IP address connected to

    @property
    def scannable(self) -> bool:
        return self.media_type is None or self.media_type in SCANNED_TYPES

    @property
    def is_redirect(self) -> bool:
        return self.status in REDIRECT_STATUSES and self.location is not None


class Fetcher:
    """Makes single GET requests through a shared connection pool.

    It speaks to an httpcore pool directly (pool.py): of httpx's client it would use
    nothing (no cookies, which a monitor must not keep; no redirects, auth or decoding,
    which are done here), and its layers cost more CPU per page than the request itself."""

    def __init__(
        self,
        pool: Pool,
        policy: AddressPolicy,
        *,
        headers: Mapping[str, str],
        deadline: float,
        connect_timeout: float,
        max_bytes: int,
        proxied: bool = False,
    ) -> None:
        self.pool = pool
        self.policy = policy
        self.headers = [(k.encode("ascii"), v.encode("ascii")) for k, v in headers.items()]
        self.deadline = deadline
        # Per-operation limits are never shorter than the deadline, which bounds the whole
        # exchange; only opening a connection (a dead address) has a shorter one of its own.
        self.timeouts = {"connect": connect_timeout, "read": deadline, "write": deadline,
                         "pool": deadline}  # fmt: skip
        self.max_bytes = max_bytes
        self.proxied = proxied

    async def get(
        self,
        url: str,
        *,
        max_bytes: int | None = None,
        any_type: bool = False,
        headers: Sequence[tuple[str, str]] = (),
        error_body: bool = False,
    ) -> Response:
        """GET `url`; raises FetchError (timeout, connection, refused, protocol). The body of
        a 2xx answer is read when its type is scanned, or whatever it is with `any_type`
        (robots.txt comes as text/plain, but also as octet-stream and the like). `headers`
        are sent besides the fetcher's own (a Range). With `error_body`, a 4xx or 5xx
        answer's body is read too (an index says why it refused there)."""
        cap = self.max_bytes if max_bytes is None else max_bytes
        if self.proxied:
            self.policy.check_literal(url, host_of(url))
        progress = _Progress()
        try:
            async with asyncio.timeout(self.deadline):
                return await self._exchange(url, cap, any_type, progress, headers, error_body)
        except TimeoutError:
            message = f"no complete response within {self.deadline:g} s"
            if progress.answered:
                message += " (the server was still sending)"
            raise FetchError(url, message, "timeout", answered=progress.answered) from None
        except AddressRefused as exc:
            raise refused(url, exc.host, exc.addresses) from None
        except httpcore.TimeoutException as exc:
            message = f"timed out ({type(exc).__name__})"
            raise FetchError(url, message, "timeout", answered=progress.answered) from None
        except (httpcore.ConnectError, httpcore.ProxyError) as exc:
            raise FetchError(url, f"cannot connect: {_reason(exc)}", "connection") from None
        except (httpcore.ReadError, httpcore.WriteError, httpcore.RemoteProtocolError) as exc:
            raise FetchError(url, f"connection broken: {_reason(exc)}", "connection") from None
        except (httpcore.ProtocolError, httpcore.NetworkError, httpcore.UnsupportedProtocol) as exc:
            raise FetchError(url, f"{type(exc).__name__}: {_reason(exc)}", "protocol") from None
        except zlib.error as exc:  # a body that says gzip and is not
            raise FetchError(url, f"broken compressed body: {_reason(exc)}", "protocol") from None
        except UnicodeError as exc:  # a host name no resolver accepts (an empty label, ...)
            raise FetchError(url, f"unusable host name: {_reason(exc)}", "protocol") from None

    async def _exchange(
        self,
        url: str,
        cap: int,
        any_type: bool,
        progress: _Progress,
        extra: Sequence[tuple[str, str]],
        error_body: bool,
    ) -> Response:
        parts = urlsplit(url)  # canonical: scheme and host lower case, IDNA, no user info
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = httpcore.Request(
            b"GET",
            httpcore.URL(
                scheme=parts.scheme.encode("ascii"),
                host=(parts.hostname or "").encode("ascii"),
                port=parts.port,
                target=target.encode("ascii"),
            ),
            headers=[
                (b"Host", parts.netloc.encode("ascii")),
                *self.headers,
                *((k.encode("ascii"), v.encode("ascii")) for k, v in extra),
            ],
            extensions={"timeout": self.timeouts},
        )
        response = await self.pool.handle_async_request(request)
        progress.answered = True
        try:
            headers = _headers(response.headers)
            media_type, charset = _content_type(headers.get("content-type"))
            result = Response(
                url=url,
                status=response.status,
                media_type=media_type,
                charset=charset,
                location=headers.get("location"),
                retry_after=_retry_after(headers.get("retry-after")),
                body=b"",
                truncated=False,
                address=None if self.proxied else _peer(response),
            )
            wanted = any_type or result.scannable
            if (200 <= response.status < 300 and wanted) or (error_body and response.status >= 400):
                body, truncated = await _read_body(response, headers, cap, url)
                result = replace(result, body=body, truncated=truncated)
            elif not 200 <= response.status < 300:  # a 2xx of another type is not read
                await _drain(response, headers)
            return result
        finally:
            await response.aclose()


class _Progress:
    """How far one exchange got, for the error that ends it."""

    __slots__ = ("answered",)

    def __init__(self) -> None:
        self.answered = False  # the status line and headers have arrived


def _headers(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names (lower case) to their first value, decoded as HTTP/1.1 allows."""
    headers: dict[str, str] = {}
    for name, value in raw:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


async def _drain(response: httpcore.Response, headers: Mapping[str, str]) -> None:
    """Read and drop a small declared body, so the connection can carry the next request."""
    length = headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) <= _DRAIN_BYTES:
        try:
            async for _ in response.aiter_stream():
                pass
        except (httpcore.NetworkError, httpcore.ProtocolError):
            pass  # the answer stands; the connection is closed, as it would have been


async def _read_body(
    response: httpcore.Response, headers: Mapping[str, str], cap: int, url: str
) -> tuple[bytes, bool]:
    """The decompressed body up to `cap` bytes, and whether there was more."""
    decoder = _decoder(headers.get("content-encoding", ""), url)
    parts: list[bytes] = []
    size = 0
    async for raw in response.aiter_stream():
        for piece in decoder.feed(raw, cap - size + 1):
            parts.append(piece)
            size += len(piece)
        if size > cap:
            return b"".join(parts)[:cap], True
    parts.append(decoder.flush(cap - size + 1))
    body = b"".join(parts)
    return (body[:cap], True) if len(body) > cap else (body, False)


class _Identity:
    def feed(self, data: bytes, limit: int) -> list[bytes]:
        return [data]

    def flush(self, limit: int) -> bytes:
        return b""


class _Inflate:
    """gzip or deflate, decompressed with a bounded output: a bomb stops at the cap.
    Concatenated gzip members are read on; bytes after the last one are ignored, as
    browsers ignore them."""

    def __init__(self, wbits: int) -> None:
        self.wbits = wbits
        self.engine = zlib.decompressobj(wbits)
        self.tried_raw = wbits != zlib.MAX_WBITS
        self.ended = False

    def feed(self, data: bytes, limit: int) -> list[bytes]:
        out: list[bytes] = []
        while data and limit > 0 and not self.ended:
            try:
                piece = self.engine.decompress(data, limit)
            except zlib.error:
                if self.tried_raw:  # servers send raw deflate as "deflate"
                    raise
                self.tried_raw = True
                self.engine = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            out.append(piece)
            limit -= len(piece)
            data = self.engine.unconsumed_tail
            if self.engine.eof:
                data = self.engine.unused_data
                if data.startswith(b"\x1f\x8b") and self.wbits & 16:  # another gzip member
                    self.engine = zlib.decompressobj(self.wbits)
                else:
                    self.ended = True
        return out

    def flush(self, limit: int) -> bytes:
        return b"" if self.ended else self.engine.flush()[:limit]


def _decoder(encoding: str, url: str) -> _Identity | _Inflate:
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return _Identity()
    if codings in (["gzip"], ["x-gzip"]):
        return _Inflate(zlib.MAX_WBITS | 16)
    if codings == ["deflate"]:
        return _Inflate(zlib.MAX_WBITS)
    # We only ever ask for gzip and deflate (Accept-Encoding), so anything else is the
    # server's mistake; reading it would mean scanning compressed bytes.
    raise FetchError(url, f"unsupported content encoding {encoding!r}", "protocol")


def _content_type(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    media, *params = value.split(";")
    charset = None
    for param in params:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'") or None
    return (media.strip().lower() or None), charset


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit also takes "²" and the like
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _peer(response: httpcore.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    address = stream.get_extra_info("server_addr")
    return str(address[0]) if address else None


def _reason(exc: BaseException) -> str:
    """The first line of an error, its digit runs hidden: protocol errors quote the server's
    bytes, which may hold an identifier."""
    return error_line(exc)
