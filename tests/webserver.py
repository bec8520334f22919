"""A real HTTP server on 127.0.0.1 for crawler tests, with routes that misbehave on purpose.

Each route is a function of the request that returns a `Reply` (status, headers, body) or
writes to the socket itself (trickling, resets, endless bodies). The server counts hits and
TCP connections and records request headers, so tests can assert what the crawler did, not
just what it said. A site can listen on any loopback address (127.0.0.2, ...), so a test
can crawl several hosts.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"


Route = Callable[["Handler"], Reply | None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Site

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        path = self.path
        if path.startswith("http://"):  # asked as a proxy
            self.server.proxied.append(path)
            path = urlsplit(path).path + (
                f"?{urlsplit(path).query}" if urlsplit(path).query else ""
            )
        self.server.record(path, self)
        route = self.server.routes.get(path) or self.server.routes.get(path.split("?", 1)[0])
        if route is None:
            reply: Reply | None = Reply(404, b"not found", content_type="text/plain")
        else:
            reply = route(self)
        if reply is None:  # the route wrote (or broke) the response itself
            self.close_connection = True
            return
        self.send(reply)

    def send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


class Site(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: str = "127.0.0.1") -> None:
        super().__init__((address, 0), Handler)
        self.address = address
        self.connections = 0  # TCP connections accepted
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}
        self.agents: list[str] = []
        self.proxied: list[str] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def base(self) -> str:
        return f"http://{self.address}:{self.port}"

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.address}:{self.port}{path}"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self.connections += 1
        super().process_request(request, client_address)

    def record(self, path: str, handler: Handler) -> None:
        with self._lock:
            self.hits[path] += 1
            self.times.setdefault(path, []).append(time.monotonic())
            self.agents.append(handler.headers.get("User-Agent", ""))

    def page(
        self, path: str, body: str | bytes, content_type: str | None = None, **headers: str
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        kind = content_type or "text/html; charset=utf-8"
        self.routes[path] = lambda _h: Reply(200, data, dict(headers), kind)

    def route(self, path: str) -> Callable[[Route], Route]:
        def register(function: Route) -> Route:
            self.routes[path] = function
            return function

        return register


Server = TypeVar("Server", bound=socketserver.BaseServer)


@contextmanager
def running(server: Server) -> Iterator[Server]:
    """Serve in a thread for the block, then shut down and close."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def serve(address: str = "127.0.0.1") -> AbstractContextManager[Site]:
    return running(Site(address))


def trickle(handler: Handler) -> None:
    """A route that answers at once, then sends its body a byte every 0.1 s (10 s in all)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    try:
        for _ in range(100):
            handler.wfile.write(b"1")
            handler.wfile.flush()
            time.sleep(0.1)
    except OSError:
        return


def html(title: str, body: str) -> str:
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"


# -- a minimal SOCKS5 proxy (RFC 1928, no authentication, CONNECT only) --------------------


class _Socks(socketserver.StreamRequestHandler):
    server: SocksProxy

    def handle(self) -> None:
        _version, count = self.rfile.read(2)
        self.rfile.read(count)
        self.wfile.write(b"\x05\x00")  # no authentication
        _, _command, _, kind = self.rfile.read(4)
        if kind == 3:  # a domain name: resolved here (socks5h)
            host = self.rfile.read(self.rfile.read(1)[0]).decode("ascii")
        elif kind == 1:
            host = socket.inet_ntoa(self.rfile.read(4))
        else:
            return
        (port,) = struct.unpack("!H", self.rfile.read(2))
        self.server.requests.append((host, port, kind == 3))
        target = self.server.names.get(host, host)
        upstream = socket.create_connection((target, port), timeout=5)
        self.wfile.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
        self.wfile.flush()
        _relay(self.connection, upstream)


def _relay(a: socket.socket, b: socket.socket) -> None:
    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join(5)
    b.close()


class SocksProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__(("127.0.0.1", 0), _Socks)
        self.names = names  # host names this proxy resolves (as Tor would)
        self.requests: list[tuple[str, int, bool]] = []


def socks_proxy(names: dict[str, str]) -> AbstractContextManager[SocksProxy]:
    return running(SocksProxy(names))
