"""The crawler against real HTTP servers on 127.0.0.1: scope, limits, robots.txt, retries,
redirects, hostile responses, encodings, address safety and proxies."""

from __future__ import annotations

import gzip
import random
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import pytest

from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.errors import FetchError
from leakwatch.fetch.guard import AddressPolicy, is_public
from leakwatch.fetch.settings import CrawlSettings
from leakwatch.fetch.targets import Target, plan
from leakwatch.models import DocumentFacts, Event, Finding, PageSettled, ScanIssue
from leakwatch.pipeline import crawl
from tests import synthetic
from tests.webserver import Handler, Reply, Site, html, serve, socks_proxy, trickle

# Bugs must fail the tests, not become a page's `internal` problem: containment is off here
# (and tested on its own).
FAST = CrawlSettings(delay=0, backoff=0.02, deadline=5, retries=2, contain_errors=False)
RRN = synthetic.rrn(random.Random(7))  # synthetic, with a valid check digit
LEAK = html(
    "유출",
    f"<table><tr><th>성명</th><th>주민등록번호</th></tr><tr><td>김민준</td><td>{RRN}</td></tr></table>",
)


@dataclass
class Crawl:
    events: list[Event] = field(default_factory=list)

    @property
    def documents(self) -> list[DocumentFacts]:
        return [e for e in self.events if isinstance(e, DocumentFacts)]

    @property
    def findings(self) -> list[Finding]:
        return [e for e in self.events if isinstance(e, Finding)]

    @property
    def issues(self) -> list[ScanIssue]:
        return [e for e in self.events if isinstance(e, ScanIssue)]

    @property
    def settled(self) -> list[PageSettled]:
        return [e for e in self.events if isinstance(e, PageSettled)]

    def sources(self) -> list[str]:
        return [d.source for d in self.documents]

    def kinds(self) -> dict[str, str]:
        return {i.source: i.kind for i in self.issues}


class Names:
    """A resolver for test host names: real sockets, invented DNS."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    async def resolve(self, host: str, port: int) -> list[str]:
        if host not in self.names:
            raise OSError(f"unknown host {host}")
        return [self.names[host]]


Run = Callable[..., Crawl]


@pytest.fixture
def run(detector: Detector, classifier: PageClassifier) -> Run:
    def go(
        *urls: str,
        settings: CrawlSettings = FAST,
        names: dict[str, str] | None = None,
        targets: Sequence[Target] | None = None,
        **changes: object,
    ) -> Crawl:
        result = Crawl()
        chosen = targets if targets is not None else plan(urls).targets
        crawl(
            chosen,
            replace(settings, **changes),  # type: ignore[arg-type]
            detector,
            classifier,
            result.events.append,
            resolver=Names(names) if names else None,
        )
        return result

    return go


@pytest.fixture
def site() -> Site:
    with serve() as server:
        yield server  # type: ignore[misc]


# -- frontier, scope, limits ----------------------------------------------------------------


def test_links_followed_once_in_canonical_form(run: Run, site: Site) -> None:
    site.page(
        "/",
        html(
            "home",
            '<a href="/a.html#top">a</a> <a href="a.html">a again</a>'
            f' <a href="http://127.0.0.1:{site.port}/b.html">b</a>'
            ' <a href="javascript:void(0)">js</a> <a href="mailto:x@y.kr">mail</a>'
            ' <a href="tel:0212345678">tel</a> <a href="data:text/html,hi">data</a>'
            ' <a href="/logo.png">logo</a> <iframe src="/frame.html"></iframe>',
        ),
    )
    site.page("/a.html", html("a", '<a href="/">home</a> <link rel="next" href="/next.html">'))
    site.page("/b.html", LEAK)
    site.page("/frame.html", html("f", "frame"))
    site.page("/next.html", html("n", "next"))
    result = run(site.url("/"))
    assert sorted(result.sources()) == sorted(
        site.url(p) for p in ("/", "/a.html", "/b.html", "/frame.html", "/next.html")
    )
    assert all(count == 1 for path, count in site.hits.items() if path != "/robots.txt")
    assert "/logo.png" not in site.hits
    assert [f.type for f in result.findings] == ["kr.rrn"]
    leak = next(d for d in result.documents if d.source.endswith("/b.html"))
    assert leak.fetch is not None
    assert (leak.fetch.depth, leak.fetch.status, leak.fetch.address) == (1, 200, "127.0.0.1")
    assert leak.category is not None
    assert leak.category.value == "exposure"


def test_base_href_resolves_links(run: Run, site: Site) -> None:
    site.page("/dir/page.html", html("p", '<base href="/other/"><a href="x.html">x</a>'))
    site.page("/other/x.html", html("x", "x"))
    result = run(site.url("/dir/page.html"))
    assert site.url("/other/x.html") in result.sources()


def test_depth_and_page_limits_stop_link_traps(run: Run, site: Site) -> None:
    @site.route("/calendar")
    def calendar(handler: Handler) -> Reply:
        page = int(handler.path.partition("page=")[2] or 0)
        return Reply(body=html("cal", f'<a href="/calendar?page={page + 1}">next</a>').encode())

    assert len(run(site.url("/calendar"), depth=2).documents) == 3  # depth 0, 1, 2
    site.hits.clear()
    limited = run(site.url("/calendar"), depth=1000, max_pages=5)
    assert len(limited.documents) == 5
    assert site.hits["/calendar"] == 1
    assert sum(site.hits.values()) == 5 + 1


def test_depth_zero_fetches_only_the_start_page(run: Run, site: Site) -> None:
    site.page("/", html("home", '<a href="/a">a</a>'))
    site.page("/a", html("a", "a"))
    assert run(site.url("/"), depth=0).sources() == [site.url("/")]


def test_other_hosts_are_out_of_scope_unless_subdomains_are_asked_for(run: Run, site: Site) -> None:
    names = {"forum.test": "127.0.0.1", "img.forum.test": "127.0.0.1", "other.test": "127.0.0.1"}
    site.page(
        "/",
        html(
            "home",
            f'<a href="{site.url("/sub", "img.forum.test")}">sub</a>'
            f' <a href="{site.url("/x", "other.test")}">other</a>',
        ),
    )
    site.page("/sub", html("sub", "sub"))
    site.page("/x", html("x", "x"))
    start = site.url("/", "forum.test")
    by_host = run(start, names=names, allow_private=True)
    assert by_host.sources() == [start]
    by_domain = run(start, names=names, allow_private=True, scope="domain")
    assert by_domain.sources() == [start, site.url("/sub", "img.forum.test")]


def test_settled_events_name_what_each_page_added(run: Run, site: Site) -> None:
    site.page("/", html("home", '<a href="/a">a</a><a href="/b">b</a>'))
    site.page("/a", html("a", '<a href="/b">b</a>'))
    site.page("/b", html("b", "b"))
    result = run(site.url("/"))
    added = {s.url: [q.url for q in s.queued] for s in result.settled}
    assert added == {
        site.url("/"): [site.url("/a"), site.url("/b")],
        site.url("/a"): [],
        site.url("/b"): [],
    }
    assert {s.outcome for s in result.settled} == {"scanned"}
    assert all(q.depth == 1 and q.target == site.url("/") for s in result.settled for q in s.queued)


def test_resuming_skips_done_pages_and_fetches_pending_ones(
    detector: Detector, classifier: PageClassifier, site: Site
) -> None:
    from leakwatch.models import QueuedUrl

    site.page("/", html("home", '<a href="/a">a</a>'))
    site.page("/a", html("a", "a"))
    site.page("/b", html("b", "b"))
    events: list[Event] = []
    start = site.url("/")
    crawl(
        plan([start]).targets, FAST, detector, classifier, events.append,
        done=[start], pending=[QueuedUrl(site.url("/b"), 1, start)],
    )  # fmt: skip
    assert [e.source for e in events if isinstance(e, DocumentFacts)] == [site.url("/b")]
    assert "/" not in site.hits


# -- robots.txt -----------------------------------------------------------------------------


def test_robots_disallow_is_obeyed_and_can_be_ignored(run: Run, site: Site) -> None:
    site.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    site.page("/", html("home", '<a href="/private/x">x</a> <a href="/public">p</a>'))
    site.page("/private/x", LEAK)
    site.page("/public", html("p", "p"))
    result = run(site.url("/"))
    assert "/private/x" not in site.hits
    assert result.kinds() == {site.url("/private/x"): "robots"}
    assert site.url("/public") in result.sources()
    assert run(site.url("/"), obey_robots=False).findings


def test_robots_groups_match_our_product_token(run: Run, site: Site) -> None:
    site.page(
        "/robots.txt",
        "User-agent: leakwatch\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
        "text/plain",
    )
    site.page("/", html("home", "home"))
    assert run(site.url("/")).kinds() == {site.url("/"): "robots"}
    assert run(site.url("/"), user_agent="OtherBot/1.0").sources() == [site.url("/")]


def test_robots_server_error_disallows_everything(run: Run, site: Site) -> None:
    site.routes["/robots.txt"] = lambda _h: Reply(
        500, b"User-agent: *\nAllow: /\n", content_type="text/plain"
    )
    site.page("/", LEAK)
    result = run(site.url("/"))
    assert "/" not in site.hits
    assert result.issues[0].kind == "robots"
    assert "500" in result.issues[0].message


def test_robots_missing_allows_everything_and_redirects_are_followed(run: Run, site: Site) -> None:
    site.page("/", html("home", "home"))
    assert run(site.url("/")).sources() == [site.url("/")]  # 404 robots.txt
    site.routes["/robots.txt"] = lambda _h: Reply(301, headers={"Location": "/real-robots.txt"})
    site.page("/real-robots.txt", "User-agent: *\nDisallow: /\n", "text/plain")
    assert run(site.url("/")).kinds() == {site.url("/"): "robots"}


def test_crawl_delay_spaces_requests(run: Run, site: Site) -> None:
    site.page("/robots.txt", "User-agent: *\nCrawl-delay: 0.5\n", "text/plain")
    site.page("/", html("home", '<a href="/a">a</a>'))
    site.page("/a", html("a", "a"))
    run(site.url("/"))
    # the wait is randomised to 0.5-1.5x the delay: at least 0.25 s apart
    assert site.times["/a"][0] - site.times["/"][0] >= 0.25


# -- retries, Retry-After, redirects --------------------------------------------------------


def flaky(site: Site, path: str, failures: int, reply: Reply, failure: Reply) -> None:
    def route(_h: Handler) -> Reply:
        return failure if site.hits[path] <= failures else reply

    site.routes[path] = route


def test_server_errors_are_retried_twice(run: Run, site: Site) -> None:
    flaky(site, "/", 2, Reply(body=LEAK.encode()), Reply(503, b"busy"))
    result = run(site.url("/"))
    assert site.hits["/"] == 3
    assert len(result.findings) == 1
    site.hits.clear()
    flaky(site, "/", 10, Reply(body=LEAK.encode()), Reply(502, b"bad gateway"))
    result = run(site.url("/"))
    assert site.hits["/"] == 3
    assert result.issues[0].kind == "http"
    assert "502" in result.issues[0].message


def test_client_errors_are_not_retried(run: Run, site: Site) -> None:
    result = run(site.url("/missing"))
    assert site.hits["/missing"] == 1
    assert result.kinds() == {site.url("/missing"): "http"}


def test_retry_after_is_honoured(run: Run, site: Site) -> None:
    flaky(site, "/", 1, Reply(body=b"ok"), Reply(429, headers={"Retry-After": "1"}))
    run(site.url("/"))
    assert site.hits["/"] == 2
    assert site.times["/"][1] - site.times["/"][0] >= 0.95


def test_retry_after_is_capped(run: Run, site: Site) -> None:
    flaky(site, "/", 1, Reply(body=b"ok"), Reply(503, headers={"Retry-After": "3600"}))
    started = time.monotonic()
    run(site.url("/"), max_retry_after=0.2)
    assert site.hits["/"] == 2
    assert time.monotonic() - started < 60


def test_connection_resets_are_retried(run: Run, site: Site) -> None:
    def reset(handler: Handler) -> None:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()

    site.routes["/"] = lambda h: reset(h) if site.hits["/"] <= 2 else Reply(body=LEAK.encode())
    result = run(site.url("/"))
    assert site.hits["/"] == 3
    assert len(result.findings) == 1
    site.routes["/always"] = reset
    always = run(site.url("/always"))
    assert site.hits["/always"] == 3
    assert always.issues[0].kind == "connection"


def test_redirects_are_followed_and_checked(run: Run, site: Site) -> None:
    site.routes["/old"] = lambda _h: Reply(301, headers={"Location": "/mid"})
    site.routes["/mid"] = lambda _h: Reply(302, headers={"Location": "/new"})
    site.page("/new", LEAK)
    result = run(site.url("/old"))
    assert result.sources() == [site.url("/new")]
    document = result.documents[0]
    assert document.fetch is not None
    assert document.fetch.url == site.url("/old")
    assert result.findings[0].source == site.url("/new")


def test_redirect_loops_and_chains_too_long_are_stopped(run: Run, site: Site) -> None:
    site.routes["/a"] = lambda _h: Reply(302, headers={"Location": "/b"})
    site.routes["/b"] = lambda _h: Reply(302, headers={"Location": "/a"})
    loop = run(site.url("/a"))
    assert loop.issues[0].kind == "redirect"
    assert "loop" in loop.issues[0].message
    for n in range(15):
        site.routes[f"/hop{n}"] = lambda _h, n=n: Reply(302, headers={"Location": f"/hop{n + 1}"})  # type: ignore[misc]
    chain = run(site.url("/hop0"))
    assert chain.issues[0].kind == "redirect"
    assert "more than 10" in chain.issues[0].message
    assert "/hop12" not in site.hits


def test_redirect_hops_are_scope_and_robots_checked(run: Run, site: Site) -> None:
    site.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    site.routes["/away"] = lambda _h: Reply(302, headers={"Location": "http://elsewhere.test/"})
    site.routes["/sneak"] = lambda _h: Reply(302, headers={"Location": "/private/data"})
    site.page("/private/data", LEAK)
    assert run(site.url("/away")).kinds() == {site.url("/away"): "offsite"}
    assert run(site.url("/sneak")).kinds() == {site.url("/private/data"): "robots"}
    assert "/private/data" not in site.hits


def test_redirect_to_a_page_already_known_is_not_fetched_twice(run: Run, site: Site) -> None:
    site.page("/", html("home", '<a href="/target">t</a> <a href="/alias">alias</a>'))
    site.page("/target", html("t", "t"))
    site.routes["/alias"] = lambda _h: Reply(301, headers={"Location": "/target"})
    result = run(site.url("/"))
    assert site.hits["/target"] == 1
    assert {s.url: s.outcome for s in result.settled}[site.url("/alias")] == "duplicate"


# -- hostile responses ----------------------------------------------------------------------


def test_gzip_bomb_is_cut_at_the_byte_cap(run: Run, site: Site) -> None:
    bomb = gzip.compress(b"<html><body>" + b"0" * 50_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    site.page("/", bomb, "text/html", **{"Content-Encoding": "gzip"})
    result = run(site.url("/"), max_bytes=1_000_000)
    assert result.documents[0].size == 1_000_000
    assert result.kinds() == {site.url("/"): "partial"}


def test_trickling_server_hits_the_deadline(run: Run, site: Site) -> None:
    site.routes["/"] = trickle
    started = time.monotonic()
    result = run(site.url("/"), deadline=1.0, retries=0)
    assert result.issues[0].kind == "timeout"
    assert time.monotonic() - started < 5  # the deadline, not the server, ended it


def test_endless_chunked_body_is_cut(run: Run, site: Site) -> None:
    def endless(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b"\xea\xb9\x80 " * 8000
        try:
            while True:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            return

    site.routes["/"] = endless
    result = run(site.url("/"), max_bytes=2_000_000)
    assert result.documents[0].size == 2_000_000
    assert result.kinds() == {site.url("/"): "partial"}


def test_only_text_content_types_are_scanned(run: Run, site: Site) -> None:
    site.page(
        "/",
        html(
            "home",
            " ".join(
                f'<a href="{p}">{p}</a>' for p in ("/pic", "/fake.html", "/d.csv", "/raw", "/j")
            ),
        ),
    )
    site.page("/pic", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png")
    site.page("/fake.html", b"\x89PNG\r\n\x1a\n\x00\x00\x00" + b"\x00" * 5000, "text/html")
    site.page("/d.csv", f"성명,주민등록번호\n김민준,{RRN}\n", "text/csv")
    site.page("/raw", f"성명,주민등록번호\n김민준,{RRN}\n".encode(), None)
    site.page("/j", f'{{"주민등록번호": "{RRN}"}}', "application/json")
    result = run(site.url("/"))
    kinds = result.kinds()
    assert kinds[site.url("/pic")] == "skipped"
    assert kinds[site.url("/fake.html")] == "skipped"
    found = {f.source for f in result.findings}
    assert found == {site.url("/d.csv"), site.url("/raw"), site.url("/j")}
    outcomes = {s.url: s.outcome for s in result.settled}
    assert outcomes[site.url("/pic")] == outcomes[site.url("/fake.html")] == "skipped"


@pytest.mark.parametrize(
    ("codec", "declared"),
    [("gbk", None), ("gb18030", None), ("big5", None), ("euc-kr", None), ("utf-8-sig", None),
     ("utf-8", None), ("gbk", "gbk")],
)  # fmt: skip
def test_pages_without_charset_are_decoded(
    run: Run, site: Site, codec: str, declared: str | None
) -> None:
    text = {
        "euc-kr": f"<p>성명: 김민준 주민등록번호: {RRN}</p>" * 20,
        "big5": f"<p>韓國 姓名 身份證號碼：{RRN} 電話 地址 台北市</p>" * 20,
    }.get(codec, f"<p>韩国 姓名 身份证号：{RRN} 电话 地址 北京市朝阳区</p>" * 20)
    body = html(
        "資料" if codec == "big5" else "자료" if codec == "euc-kr" else "资料", text
    ).encode(codec)
    kind = "text/html" + (f"; charset={declared}" if declared else "")
    site.page("/", body, kind)
    result = run(site.url("/"))
    assert result.findings
    assert {f.masked for f in result.findings} == {RRN[:8] + "******"}


def test_broken_bytes_and_a_long_line_of_digits_are_bounded(run: Run, site: Site) -> None:
    site.page(
        "/",
        b"<html><body>\xff\xfe\xc3(" + f"주민등록번호 {RRN}".encode() + b"\xe2\x82</body></html>",
    )
    site.page("/digits", b"1234567890-" * 300_000, "text/plain")  # a 3.3 MB single line
    result = run(site.url("/"))
    assert len(result.findings) == 1
    digits = run(site.url("/digits"))
    assert digits.documents[0].size == 3_300_000


def test_malformed_markup_is_scanned(run: Run, site: Site) -> None:
    site.page(
        "/",
        b"<html><body><table><tr><th>\xec\x84\xb1\xeb\xaa\x85<th>"
        + "주민등록번호".encode()
        + b"<tr><td>"
        + "김민준".encode()
        + b"<td>"
        + RRN.encode()
        + b"<div><div><span></p></table"
        + b"<div>" * 5000,
    )
    assert len(run(site.url("/")).findings) == 1


# -- address safety and proxies -------------------------------------------------------------


def test_pages_cannot_lead_to_private_addresses(run: Run, site: Site) -> None:
    names = {"forum.test": "127.0.0.1", "intranet.forum.test": "127.0.0.1"}
    site.page("/", html("home", f'<a href="{site.url("/admin", "intranet.forum.test")}">admin</a>'))
    site.page("/admin", LEAK)
    start = site.url("/", "forum.test")
    result = run(start, names=names, scope="domain")
    admin = site.url("/admin", "intranet.forum.test")
    assert result.kinds() == {admin: "refused"}
    assert "/admin" not in site.hits
    allowed = run(start, names=names, scope="domain", allow_private=True)
    assert admin in allowed.sources()


def test_redirect_to_a_private_address_is_refused(run: Run, site: Site) -> None:
    names = {"forum.test": "127.0.0.1", "cdn.forum.test": "10.0.0.1"}
    site.routes["/"] = lambda _h: Reply(302, headers={"Location": "http://cdn.forum.test/x"})
    result = run(site.url("/", "forum.test"), names=names, scope="domain")
    assert result.kinds() == {"http://cdn.forum.test/x": "refused"}


def test_a_named_private_target_is_crawled(run: Run, site: Site) -> None:
    site.page("/", LEAK)
    assert run(site.url("/")).findings  # 127.0.0.1, named on the command line


def test_socks5h_proxy_resolves_names_remotely(run: Run, site: Site) -> None:
    site.page("/", LEAK)
    with socks_proxy({"hidden.onion": "127.0.0.1"}) as proxy:
        start = f"http://hidden.onion:{site.port}/"
        result = run(start, proxy=f"socks5h://127.0.0.1:{proxy.server_address[1]}")
    assert result.findings
    assert result.documents[0].fetch is not None
    assert ("hidden.onion", site.port, True) in proxy.requests
    assert result.documents[0].fetch.address is None  # the proxy connected, not us


def test_http_proxy(run: Run, site: Site) -> None:
    site.page("/", LEAK)
    start = f"http://forum.test:{site.port}/"
    result = run(start, proxy=site.base)
    assert result.findings
    assert f"http://forum.test:{site.port}/" in site.proxied


def test_through_a_proxy_literal_private_addresses_are_still_refused() -> None:
    policy = AddressPolicy(named_hosts=frozenset({"forum.test"}))
    policy.check_literal("http://forum.test/", "forum.test")
    policy.check_literal("http://8.8.8.8/", "8.8.8.8")
    for host in ("127.0.0.1", "10.1.2.3", "localhost", "169.254.169.254", "::1"):
        with pytest.raises(FetchError) as caught:
            policy.check_literal(f"http://{host}/", host)
        assert caught.value.kind == "refused"
    AddressPolicy(allow_private=True).check_literal("http://10.1.2.3/", "10.1.2.3")


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2001:4860:4860::8888", True), ("127.0.0.1", False),
     ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.1.1", False),
     ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
     ("fe80::1%eth0", False), ("fc00::1", False), ("::ffff:127.0.0.1", False),
     ("::ffff:8.8.8.8", True), ("224.0.0.1", False), ("nonsense", False)],
)  # fmt: skip
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_user_agent_names_leakwatch(run: Run, site: Site) -> None:
    site.page("/", html("home", "home"))
    run(site.url("/"))
    assert site.agents
    assert all(a.startswith("leakwatch/") and "+https://" in a for a in site.agents)
    site.agents.clear()
    run(site.url("/"), user_agent="Custom/2.0")
    assert set(site.agents) == {"Custom/2.0"}


# -- answers nobody should send -----------------------------------------------------------


def test_broken_compressed_bodies_fail_that_page_only(run: Run, site: Site) -> None:
    site.page(
        "/", html("home", '<a href="/bad">bad</a> <a href="/tail">tail</a> <a href="/ok">ok</a>')
    )
    site.page("/bad", b"\x1f\x8b\x08\x00garbage" * 10, "text/html", **{"Content-Encoding": "gzip"})
    site.page("/tail", gzip.compress(LEAK.encode()) + b"\x00" * 64, "text/html",
              **{"Content-Encoding": "gzip"})  # fmt: skip
    site.page("/ok", LEAK)
    result = run(site.url("/"))
    assert result.kinds() == {site.url("/bad"): "protocol"}
    assert {f.source for f in result.findings} == {site.url("/tail"), site.url("/ok")}


@pytest.mark.parametrize("value", ["²", "Mon, 01 Jan 99999999999999999999 00:00:00 GMT", "-1"])
def test_unusable_retry_after_values_are_ignored(run: Run, site: Site, value: str) -> None:
    flaky(site, "/", 1, Reply(body=LEAK.encode()), Reply(503, headers={"Retry-After": value}))
    assert len(run(site.url("/")).findings) == 1


def test_links_with_unusable_host_names_are_not_followed(run: Run, site: Site) -> None:
    names = {"forum.test": "127.0.0.1"}
    bad = [
        "http://" + "a" * 64 + ".forum.test/",
        "http://x\x01y.forum.test/",
        "http://forum..test/",
    ]
    site.page("/", html("home", " ".join(f'<a href="{u}">x</a>' for u in bad)))
    result = run(site.url("/", "forum.test"), names=names, scope="domain")
    assert result.sources() == [site.url("/", "forum.test")]
    assert not result.issues


@pytest.mark.parametrize("label", ["rot13", "base64", "undefined", "utf-7", "no-such-thing"])
def test_charset_labels_that_are_not_web_encodings_are_ignored(
    run: Run, site: Site, label: str
) -> None:
    site.page("/", LEAK, f"text/html; charset={label}")
    result = run(site.url("/"))
    assert len(result.findings) == 1
    assert result.documents[0].encoding_source != "http"


def test_robots_txt_of_any_content_type_is_obeyed(run: Run, site: Site) -> None:
    site.page("/robots.txt", "User-agent: *\nDisallow: /\n", "application/octet-stream")
    site.page("/", LEAK)
    assert run(site.url("/")).kinds() == {site.url("/"): "robots"}


def test_transient_failures_are_not_final(run: Run, site: Site) -> None:
    site.routes["/robots.txt"] = lambda _h: Reply(503, b"down")
    unreachable = run(site.url("/"))
    assert [(s.outcome, s.final) for s in unreachable.settled] == [("disallowed", False)]
    site.page("/robots.txt", "User-agent: *\nDisallow: /private\n", "text/plain")
    site.routes["/"] = lambda _h: Reply(503, b"busy")
    busy = run(site.url("/"), retries=0)
    assert [(s.outcome, s.final) for s in busy.settled] == [("failed", False)]
    gone = run(site.url("/private"))
    assert [(s.outcome, s.final) for s in gone.settled] == [("disallowed", True)]
    missing = run(site.url("/missing"))
    assert [(s.outcome, s.final) for s in missing.settled] == [("failed", True)]


def test_a_site_redirecting_to_its_www_host_is_in_scope(run: Run, site: Site) -> None:
    names = {"forum.test": "127.0.0.1", "www.forum.test": "127.0.0.1"}
    site.routes["/"] = lambda h: (
        Reply(body=LEAK.encode()) if h.headers["Host"].startswith("www.")
        else Reply(301, headers={"Location": site.url("/", "www.forum.test")})
    )  # fmt: skip
    result = run(site.url("/", "forum.test"), names=names, allow_private=True)
    assert result.sources() == [site.url("/", "www.forum.test")]
    assert len(result.findings) == 1


def test_identifiers_in_urls_are_masked_everywhere(run: Run, site: Site) -> None:
    lookup = f"/view.php?jumin={RRN}"
    site.page("/", html("home", f'<a href="{lookup}">look up</a>'))
    site.routes["/view.php"] = lambda _h: Reply(body=LEAK.encode())
    result = run(site.url("/"))
    assert site.hits[lookup] == 1  # crawled...
    revealed = [  # the test detector reveals: `value` and `raw_source` are --reveal's
        replace(e, value=None) if isinstance(e, Finding)
        else replace(e, raw_source=None) if isinstance(e, DocumentFacts)
        else e
        for e in result.events
    ]  # fmt: skip
    written = repr(revealed)
    assert RRN not in written  # ...but never written as it is
    assert f"jumin={RRN[:8]}******" in written
    assert all(not s.queued for s in result.settled)  # and not kept for a resume


def test_an_unforeseen_error_fails_one_page_not_the_crawl(
    detector: Detector, classifier: PageClassifier, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leakwatch import pipeline

    site.page("/", html("home", '<a href="/boom">boom</a> <a href="/ok">ok</a>'))
    site.page("/boom", html("b", "boom 1234567"))
    site.page("/ok", LEAK)
    real = pipeline.scan_page

    def scan_page(page, detector, classifier):  # type: ignore[no-untyped-def]
        if page.info.url.endswith("/boom"):
            raise ValueError("cannot handle 1234567")
        return real(page, detector, classifier)

    monkeypatch.setattr(pipeline, "scan_page", scan_page)
    events: list[Event] = []
    settings = replace(FAST, contain_errors=True)
    crawl(plan([site.url("/")]).targets, settings, detector, classifier, events.append)
    issues = [e for e in events if isinstance(e, ScanIssue)]
    assert [(i.source, i.kind) for i in issues] == [(site.url("/boom"), "internal")]
    assert "ValueError: cannot handle *******" in issues[0].message
    assert [e.source for e in events if isinstance(e, Finding)] == [site.url("/ok")]
    with pytest.raises(ValueError, match="cannot handle"):
        crawl(plan([site.url("/")]).targets, FAST, detector, classifier, events.append)


@pytest.mark.timeout(60)
def test_a_page_built_to_make_link_extraction_quadratic_is_fast(run: Run, site: Site) -> None:
    # Too deep for the parser, so links come from the tag scan; "<a " 2 million times.
    site.page("/", "<div>" * 2100 + "<a " * 2_000_000 + '<a href="/end">end</a>')
    site.page("/end", LEAK)
    result = run(site.url("/"), max_bytes=20_000_000)
    assert site.url("/end") in result.sources()
