"""A monitor that is down says so, and a slow page never holds its site (issue 8, sections
5 and 6): dead targets fail visibly, every target is listed in the summary, several
connections per host, the deadline as the only limit a slow answer meets, trickles not
retried, one kept-alive connection per host. Real servers on loopback addresses."""

from __future__ import annotations

import asyncio
import importlib.abc
import io
import json
import random
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import replace
from importlib.machinery import ModuleSpec
from itertools import pairwise
from types import ModuleType
from typing import Any

import pytest
from rich.console import Console

from leakwatch.cli.scan import crawl_summary
from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.fetch.targets import Target, plan
from leakwatch.fetch.throttle import Throttle
from leakwatch.models import PageSettled, ScanIssue
from leakwatch.pipeline import Tally, crawl
from tests import synthetic
from tests.conftest import Result
from tests.test_crawl import FAST, LEAK, Crawl, Names
from tests.webserver import Handler, Reply, Route, Site, html, serve, trickle

Cli = Callable[..., Result]
Run = Callable[..., Crawl]
RRN = synthetic.rrn(random.Random(23))


@pytest.fixture
def run(detector: Detector, classifier: PageClassifier) -> Run:
    """Crawl with FAST settings changed by keywords; `names` or `resolver` for host names."""

    def go(
        *urls: str,
        names: dict[str, str] | None = None,
        resolver: Names | None = None,
        targets: Sequence[Target] | None = None,
        **changes: Any,
    ) -> Crawl:
        result = Crawl()
        crawl(
            targets if targets is not None else plan(urls).targets,
            replace(FAST, **changes),
            detector,
            classifier,
            result.events.append,
            resolver=resolver or (Names(names) if names else None),
        )
        return result

    return go


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as server:
        yield server


class Counting(Names):
    """A resolver that counts connection attempts (each one resolves its host)."""

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__(names)
        self.asked = 0

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked += 1
        return await super().resolve(host, port)


@contextmanager
def dead_port() -> Iterator[int]:
    """A loopback port nothing listens on (connections are refused)."""
    with serve() as server:
        port = server.port
    yield port


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A loopback port that never completes a connection: its accept queue is full, so the
    kernel drops every new SYN and the client's connect times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    try:
        yield port
    finally:
        for s in (*fillers, listener):
            s.close()


def issue_kinds(result: Crawl) -> list[str]:
    return [i.kind for i in result.issues]


def outcomes(result: Crawl) -> list[tuple[str, bool]]:
    return [(s.outcome, s.final) for s in result.settled]


# -- 5. a target that is down is a failure ----------------------------------------------------


def test_a_target_refusing_connections_fails_with_connection(run: Run) -> None:
    with dead_port() as port:
        result = run(f"http://127.0.0.1:{port}/")
    assert issue_kinds(result) == ["connection"]  # not "robots": the site is down
    assert "robots.txt" in result.issues[0].message
    assert outcomes(result) == [("failed", False)]  # a resumed crawl tries it again


def test_a_host_name_that_does_not_resolve_fails_with_connection(run: Run, site: Site) -> None:
    result = run(site.url("/", "nowhere.test"), names={"forum.test": "127.0.0.1"})
    assert issue_kinds(result) == ["connection"]
    assert "cannot resolve" in result.issues[0].message
    assert outcomes(result) == [("failed", False)]


def test_a_connect_timeout_is_retried_then_fails_the_target_with_timeout(run: Run) -> None:
    resolver = Counting({"dead.test": "127.0.0.1"})
    with unanswered_port() as port:
        result = run(f"http://dead.test:{port}/", resolver=resolver, deadline=1.0)
    assert issue_kinds(result) == ["timeout"]
    assert resolver.asked == 3  # a connect timeout may pass: robots.txt was tried 3 times
    assert outcomes(result) == [("failed", False)]


def test_a_robots_txt_that_times_out_fails_the_page_unfetched(run: Run, site: Site) -> None:
    def silent(_h: Handler) -> Reply:
        time.sleep(2.0)
        return Reply(404, b"late")

    site.routes["/robots.txt"] = silent
    site.page("/", LEAK)
    result = run(site.url("/"), deadline=0.5, retries=0)
    assert "/" not in site.hits  # RFC 9309: no rules, no fetching...
    assert issue_kinds(result) == ["timeout"]  # ...but the site did not answer: a failure
    assert outcomes(result) == [("failed", False)]


def test_robots_txt_answering_5xx_still_disallows_without_failing(run: Run, site: Site) -> None:
    site.routes["/robots.txt"] = lambda _h: Reply(503, b"down")
    site.page("/", LEAK)
    result = run(site.url("/"))
    assert "/" not in site.hits
    assert issue_kinds(result) == ["robots"]
    assert outcomes(result) == [("disallowed", False)]


# -- 6. a slow page never holds its site ------------------------------------------------------


def test_a_slow_page_does_not_hold_its_site_with_two_connections(run: Run, site: Site) -> None:
    others = [f"/a{n}" for n in range(6)]
    site.page("/", html("home", " ".join(f'<a href="{p}">x</a>' for p in ["/slow", *others])))
    for path in others:
        site.page(path, html(path, path))
    served_meanwhile = threading.Event()

    def slow(_h: Handler) -> Reply:
        # Answers once every other page has been asked for (or after 10 s, if they wait).
        served_meanwhile.wait(10)
        return Reply(body=LEAK.encode())

    site.routes["/slow"] = slow
    original = site.record

    def record(path: str, handler: Handler) -> None:
        original(path, handler)
        if all(site.hits[p] for p in others):
            served_meanwhile.set()

    site.record = record  # type: ignore[method-assign]
    result = run(site.url("/"), per_host=2)
    assert site.times["/a5"][0] < site.times["/slow"][0] + 10  # asked while /slow was slow
    assert served_meanwhile.is_set()
    assert site.url("/slow") in result.sources()  # and the slow page was still scanned
    assert not result.issues


def _timed(spans: dict[str, tuple[float, float]], seconds: float) -> Route:
    """A route that takes `seconds` to answer and notes when each request began and ended."""

    def route(handler: Handler) -> Reply:
        began = time.monotonic()
        time.sleep(seconds)
        spans[handler.path] = (began, time.monotonic())
        return Reply(body=html("p", "p").encode())

    return route


def test_one_connection_per_host_by_default(run: Run, site: Site) -> None:
    spans: dict[str, tuple[float, float]] = {}
    timed = _timed(spans, 0.05)
    pages = [f"/p{n}" for n in range(5)]
    site.page("/", html("home", " ".join(f'<a href="{p}">x</a>' for p in pages)))
    for path in pages:
        site.routes[path] = timed
    run(site.url("/"))
    ordered = sorted(spans.values())
    assert all(ended <= began for (_, ended), (began, _) in pairwise(ordered))


def test_several_connections_start_requests_the_delay_apart(run: Run, site: Site) -> None:
    spans: dict[str, tuple[float, float]] = {}
    slow = _timed(spans, 0.6)
    pages = [f"/p{n}" for n in range(6)]
    site.page("/", html("home", " ".join(f'<a href="{p}">x</a>' for p in pages)))
    for path in pages:
        site.routes[path] = slow
    run(site.url("/"), per_host=3, delay=0.3)
    starts = sorted(began for began, _ in spans.values())
    assert len(starts) == 6
    # randomised to 0.5-1.5x the delay, so 0.15 s apart at least (seen from the server,
    # which one request may reach a little late: 0.1 s)
    assert all(later - earlier >= 0.1 for earlier, later in pairwise(starts))
    ordered = sorted(spans.values())
    overlapping = sum(began < ended for (_, ended), (began, _) in pairwise(ordered))
    assert overlapping >= 3  # several in flight at once, never more than asked:
    in_flight = max(sum(b <= t < e for b, e in spans.values()) for t in starts)
    assert in_flight <= 3


@pytest.mark.slow
def test_a_page_silent_longer_than_ten_seconds_answers_within_the_deadline(
    run: Run, site: Site
) -> None:
    def late(_h: Handler) -> Reply:
        time.sleep(10.5)
        return Reply(body=LEAK.encode())

    site.routes["/"] = late
    result = run(site.url("/"), deadline=20.0)
    assert site.hits["/"] == 1  # no per-operation timeout shorter than the deadline
    assert result.sources() == [site.url("/")]
    assert not result.issues


def test_a_trickling_page_is_not_retried(run: Run, site: Site) -> None:
    site.routes["/"] = trickle
    result = run(site.url("/"), deadline=1.0)
    assert site.hits["/"] == 1  # a trickle is not transient: the deadline was its budget
    assert issue_kinds(result) == ["timeout"]
    assert "still sending" in result.issues[0].message
    assert outcomes(result) == [("failed", False)]  # a resumed crawl may try it again


def test_a_server_silent_past_the_deadline_is_retried(run: Run, site: Site) -> None:
    def silent(_h: Handler) -> Reply:
        time.sleep(1.0)
        return Reply(body=b"late")

    site.routes["/"] = silent
    result = run(site.url("/"), deadline=0.3)
    assert site.hits["/"] == 3  # no answer had begun: it may pass, as a connect timeout may
    assert issue_kinds(result) == ["timeout"]


@contextmanager
def hosts(count: int) -> Iterator[list[Site]]:
    """Servers on 127.0.0.2, 127.0.0.3, ...: one host each."""
    with ExitStack() as stack:
        yield [stack.enter_context(serve(f"127.0.0.{n + 2}")) for n in range(count)]


@pytest.mark.parametrize("per_host", [1, 2])
def test_each_host_keeps_its_connections_while_many_are_crawled(run: Run, per_host: int) -> None:
    with hosts(10) as sites:
        for server in sites:
            pages = [f"/p{n}" for n in range(8)]
            server.page("/", html("home", " ".join(f'<a href="{p}">x</a>' for p in pages)))
            for path in pages:
                server.page(path, html(path, path))
            # a redirect (to a page already known) and robots.txt's 404 have small bodies
            server.routes["/p3"] = lambda _h: Reply(301, b"moved", {"Location": "/p4"})
        result = run(*(s.url("/") for s in sites), concurrency=3, per_host=per_host)
        assert len(result.documents) == 10 * 8  # "/" and 7 pages on each host
        connections = [s.connections for s in sites]
    assert all(1 <= n <= per_host for n in connections), connections  # never reopened


class _Lookups(importlib.abc.MetaPathFinder):
    """Counts the imports that reach the finders (modules not loaded yet, or missing)."""

    def __init__(self) -> None:
        self.names: Counter[str] = Counter()

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        self.names[name] += 1
        return None


def test_a_crawl_does_not_retry_a_failing_import_on_every_request(run: Run, site: Site) -> None:
    pages = [f"/p{n}" for n in range(20)]
    site.page("/", html("home", " ".join(f'<a href="{p}">x</a>' for p in pages)))
    for path in pages:
        site.page(path, html(path, path))
    run(site.url("/"))  # everything a crawl imports is imported now
    lookups = _Lookups()
    sys.meta_path.insert(0, lookups)
    try:
        run(site.url("/"))
    finally:
        sys.meta_path.remove(lookups)
    assert not [name for name, n in lookups.names.items() if n > 2], lookups.names


# -- the throttle with several connections, the per-host setting -------------------------------


def test_throttle_with_several_connections_spaces_starts_and_aims_at_latency_per_slot() -> None:
    one = Throttle(1.0, random.Random(1))
    one.start(0.0)
    assert one.wait(0.0) == 0.0  # one connection: the next waits for this one to finish
    one.record(4.0, 4.0, ok=True)
    assert one.delay == 2.5  # halfway from 1 towards the latency, 4
    four = Throttle(1.0, random.Random(1), slots=4)
    four.start(0.0)
    assert 0.5 <= four.wait(0.0) <= 1.5  # the next request starts a delay after this one
    four.record(4.0, 4.0, ok=True)
    assert four.delay == 1.0  # four in flight taking 4 s each: one a second is the aim
    four.record(5.0, 0.1, ok=False)
    assert four.delay == 2.0  # errors double it, however many connections


def test_per_host_in_the_targets_file() -> None:
    text = "https://a.cn/ per-host=4\nhttps://b.cn/ per-host=0\nhttps://c.cn/\n"
    result = plan([], [("t.txt", text)])
    assert [(t.url, t.per_host) for t in result.targets] == [
        ("https://a.cn/", 4),
        ("https://c.cn/", None),
    ]
    assert [(p.source, p.problem) for p in result.problems] == [
        ("t.txt:2", "per-host must be at least 1")
    ]
    assert result.targets[0].line() == "https://a.cn/ per-host=4"  # as a run records it


def test_a_target_setting_of_per_host_applies_to_its_host(run: Run, site: Site) -> None:
    started: list[float] = []
    ended: list[float] = []

    def slow(_h: Handler) -> Reply:
        started.append(time.monotonic())
        time.sleep(0.3)
        ended.append(time.monotonic())
        return Reply(body=html("p", "p").encode())

    pages = [f"/p{n}" for n in range(4)]
    site.page("/", html("home", " ".join(f'<a href="{p}">x</a>' for p in pages)))
    for path in pages:
        site.routes[path] = slow
    targets = plan([], [("t.txt", f"{site.url('/')} per-host=4\n")]).targets
    run(targets=targets)  # the run's own --per-host is 1
    assert len(started) == 4
    assert max(started) < min(ended)  # all four were in flight at once


# -- the summary lists every target ----------------------------------------------------------


def test_the_summary_screen_lists_every_target() -> None:
    tally = Tally()
    for event in (
        PageSettled("http://a.cn/", "scanned", target="http://a.cn/"),
        PageSettled("http://a.cn/x", "failed", target="http://a.cn/"),
        PageSettled("http://b.cn/", "failed", final=False, target="http://b.cn/"),
        ScanIssue("http://b.cn/", "connection", "robots.txt unreachable: cannot connect"),
        PageSettled("http://c.cn/", "disallowed", final=False, target="http://c.cn/"),
    ):
        tally.add(event)
    out = io.StringIO()
    Console(file=out, width=100, no_color=True).print(crawl_summary(tally))
    cells = [line.split() for line in out.getvalue().splitlines()]
    row = {c[0]: c[1:] for c in cells if c and c[0].startswith("http")}
    assert row == {
        "http://a.cn/": ["1", "1", "0", "0"],  # scanned, failed, disallowed, other
        "http://b.cn/": ["0", "1", "0", "0"],
        "http://c.cn/": ["0", "0", "1", "0"],
    }


# -- the CLI: a dead target among live ones, the summary's targets, --per-host -------------------


def json_of(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_a_dead_target_is_a_failure_printed_with_quiet_and_failing_strict(
    cli: Cli, site: Site
) -> None:
    site.page("/", html("home", '<a href="/leak">leak</a>'))
    site.page("/leak", LEAK)
    with dead_port() as port:
        dead = f"http://127.0.0.1:{port}/"
        args = ["scan", site.url("/"), dead, "--delay", "0", "-q", "-f", "json"]
        result = cli(*args)
        strict = cli(*args, "--strict")
    assert result.code == 0  # the run completed: the live site was scanned
    assert f"could not fetch {dead}" in result.stderr  # even with -q: it is a failure
    data = json_of(result)
    assert data["summary"]["errors"] == 1
    assert [(e["source"], e["kind"]) for e in data["errors"]] == [(dead, "connection")]
    assert data["summary"]["targets"] == sorted(
        [
            {"target": site.url("/"), "pages": {"scanned": 2, "failed": 0, "disallowed": 0}},
            {"target": dead, "pages": {"scanned": 0, "failed": 1, "disallowed": 0}},
        ],
        key=lambda t: t["target"],
    )  # sorted by URL
    assert strict.code == 3
    assert "could not be scanned (--strict)" in strict.stderr


def test_every_target_is_listed_in_json_jsonl_and_the_table(cli: Cli, site: Site) -> None:
    site.page("/", html("home", '<a href="/leak">leak</a> <a href="/gone">gone</a>'))
    site.page("/leak", LEAK)
    with serve("127.0.0.2") as down:
        down.routes["/robots.txt"] = lambda _h: Reply(503, b"busy")  # RFC 9309: disallow all
        lookup = f"{down.url('/view.php')}?jumin={RRN}"
        args = ["scan", site.url("/"), lookup, "--delay", "0", "-q"]
        as_json = cli(*args, "-f", "json")
        as_jsonl = cli(*args, "-f", "jsonl")
        as_table = cli(*args, "-f", "table", env={"COLUMNS": "400"})
    masked = f"{down.url('/view.php')}?jumin={RRN[:8]}******"  # identifiers masked here too
    expected = [
        {"target": site.url("/"), "pages": {"scanned": 2, "failed": 1, "disallowed": 0}},
        {"target": masked, "pages": {"scanned": 0, "failed": 0, "disallowed": 1}},
    ]
    assert as_json.code == 0, as_json.stderr
    tag = json_of(as_json)["summary"]["targets"][1]["target"].split("#")[1]
    expected[1]["target"] = f"{masked}#{tag}"  # a masked name is tagged (detect.names)
    assert re.fullmatch("[0-9a-f]{12}", tag)
    assert json_of(as_json)["summary"]["targets"] == expected
    summary = json.loads(as_jsonl.stdout.splitlines()[-1])
    assert summary["kind"] == "summary"
    assert summary["targets"] == expected
    last = " ".join(as_table.stdout.split("\n\n")[-1].split())
    assert f"target {site.url('/')}: scanned 2, failed 1, disallowed 0" in last
    assert f"target {masked}#{tag}: scanned 0, failed 0, disallowed 1" in last
    assert RRN not in json.dumps(summary) + last


def test_per_host_is_an_option_and_is_recorded(cli: Cli, site: Site) -> None:
    site.page("/", html("home", "home"))
    result = cli("scan", site.url("/"), "--delay", "0", "--per-host", "3", "-f", "json")
    assert json_of(result)["run"]["per_host"] == 3
    assert json_of(cli("scan", site.url("/"), "--delay", "0", "-f", "json"))["run"]["per_host"] == 1
    refused = cli("scan", site.url("/"), "--per-host", "0")
    assert refused.code == 2
    assert "--per-host" in refused.stderr


def test_no_cookies_are_kept_between_requests(run: Run, site: Site) -> None:
    sent: list[str | None] = []
    site.routes["/"] = lambda _h: Reply(
        body=html("home", '<a href="/a">a</a>').encode(),
        headers={"Set-Cookie": "session=s3cr3t; Path=/"},
    )

    def page(handler: Handler) -> Reply:
        sent.append(handler.headers.get("Cookie"))
        return Reply(body=html("a", "a").encode())

    site.routes["/a"] = page
    result = run(site.url("/"))
    assert site.url("/a") in result.sources()
    assert sent == [None]  # README: the crawler keeps no cookies


def test_the_pool_keeps_idle_connections_up_to_its_bound_least_recently_used_first() -> None:
    import ssl

    import httpcore

    from leakwatch.fetch.guard import AddressPolicy, GuardedBackend, SystemResolver
    from leakwatch.fetch.pool import HostPool

    async def get(pool: HostPool, url: str) -> int:
        request = httpcore.Request("GET", url, headers=[("Host", url.split("/")[2])])
        response = await pool.handle_async_request(request)
        try:
            async for _ in response.aiter_stream():
                pass
        finally:
            await response.aclose()
        return response.status

    async def go(sites: list[Site]) -> None:
        backend = GuardedBackend(AddressPolicy(allow_private=True), SystemResolver())
        pool = HostPool(backend, ssl.create_default_context(), max_idle=2)
        try:
            for server in (*sites, sites[1], sites[2], sites[0], sites[0]):
                assert await get(pool, server.url("/")) == 200
        finally:
            await pool.aclose()

    with hosts(3) as sites:
        for server in sites:
            server.page("/", "ok", "text/plain")
        asyncio.run(go(sites))
        connections = [s.connections for s in sites]
    # a, b, c asked in turn: a's connection, the least recently used, made way for c's;
    # b and c were asked again on theirs, then a on a new one, and again on that one.
    assert connections == [2, 1, 1]
