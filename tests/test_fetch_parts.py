"""The crawler's parts on their own: canonical URLs, scope, targets files, throttle,
Retry-After, bounded decompression, the end-of-run summary."""

from __future__ import annotations

import email.utils
import io
import random
import time
import zlib

import pytest
from rich.console import Console

from leakwatch.cli.common import parse_size
from leakwatch.cli.scan import crawl_summary
from leakwatch.fetch import http
from leakwatch.fetch.targets import plan
from leakwatch.fetch.throttle import MAX_DELAY, Throttle
from leakwatch.fetch.urls import Scope, canonical, in_scope, redact_url
from leakwatch.models import PageSettled, ScanIssue
from leakwatch.pipeline import Tally


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("HTTP://Example.CN:80/a/../b/./c?x=1#frag", None, "http://example.cn/b/c?x=1"),
        ("https://example.cn:443", None, "https://example.cn/"),
        ("https://example.cn:8443/", None, "https://example.cn:8443/"),
        ("page.html", "http://a.cn/dir/index.html", "http://a.cn/dir/page.html"),
        ("../up.html", "http://a.cn/dir/sub/", "http://a.cn/dir/up.html"),
        ("//cdn.a.cn/x", "https://a.cn/", "https://cdn.a.cn/x"),
        ("  /spaced \n", "http://a.cn/", "http://a.cn/spaced"),
        ("/论坛?q=韩国", "http://a.cn/", "http://a.cn/%E8%AE%BA%E5%9D%9B?q=%E9%9F%A9%E5%9B%BD"),
        ("http://user:pw@a.cn/x", None, "http://a.cn/x"),
        ("http://例子.中国/", None, "http://xn--fsqu00a.xn--fiqs8s/"),
        ("http://[::1]:8080/x", None, "http://[::1]:8080/x"),
        ("javascript:alert(1)", None, None),
        ("mailto:x@y.kr", None, None),
        ("tel:+82212345678", None, None),
        ("data:text/html,hi", None, None),
        ("ftp://a.cn/file", None, None),
        ("http://a.cn:99999/", None, None),
        ("http:///nohost", None, None),
        ("http://a.cn/" + "x" * 3000, None, None),
    ],
)
def test_canonical_urls(url: str, base: str | None, expected: str | None) -> None:
    assert canonical(url, base) == expected


def test_scope() -> None:
    assert in_scope("http://bbs.a.cn/x", "bbs.a.cn", Scope.HOST)
    assert not in_scope("http://img.bbs.a.cn/x", "bbs.a.cn", Scope.HOST)
    assert in_scope("http://img.bbs.a.cn/x", "bbs.a.cn", Scope.DOMAIN)
    assert in_scope("https://a.cn/x", "www.a.cn", Scope.DOMAIN)  # www. looked through
    assert in_scope("https://m.a.cn/x", "www.a.cn", Scope.DOMAIN)
    assert not in_scope("https://evila.cn/x", "a.cn", Scope.DOMAIN)
    assert not in_scope("http://1.2.3.40/", "1.2.3.4", Scope.DOMAIN)
    assert in_scope("https://www.a.cn/", "a.cn", Scope.HOST)  # one site, with or without www.
    assert in_scope("https://a.cn/", "www.a.cn", Scope.HOST)
    assert not in_scope("https://m.a.cn/", "www.a.cn", Scope.HOST)


def test_targets_plan_splits_urls_paths_and_problems() -> None:
    text = (
        "# watched sites\n"
        "https://bbs.a.cn/forum#top country=cn\n"
        "https://b.tw/ country=TWN\n"
        "https://c.hk/ depth=x\n"
        "https://d.cn/ scope=domain max-pages=50 depth=3  # comment\n"
        "https://f.cn/ max-pages=0\n"
        "dumps/ country=cn\n"
        "dumps/\n"
        "https://bbs.a.cn/forum\n"
    )
    result = plan(["https://e.jp/", "local.csv", "-"], [("t.txt", text)])
    assert result.paths == ("local.csv", "-", "dumps/")
    assert [t.url for t in result.targets] == [
        "https://e.jp/",
        "https://bbs.a.cn/forum",
        "https://d.cn/",
    ]
    forum, limited = result.targets[1], result.targets[2]
    assert forum.country == "CN"
    assert (limited.scope, limited.max_pages, limited.depth) == (Scope.DOMAIN, 50, 3)
    assert [(p.source, p.kind) for p in result.problems] == [
        ("t.txt:3", "target"), ("t.txt:4", "target"), ("t.txt:6", "target"),
        ("t.txt:7", "target"),
    ]  # fmt: skip
    assert "two-letter" in result.problems[0].problem
    assert "at least 1" in result.problems[2].problem
    assert "whole number" in result.problems[1].problem


def test_throttle_adapts_but_errors_never_shorten_it() -> None:
    throttle = Throttle(1.0, random.Random(1))
    throttle.record(0.0, 3.0, ok=True)  # a slow answer
    assert throttle.delay == 2.0
    throttle.record(10.0, 0.1, ok=True)  # fast again: back towards the base, never below
    assert 1.0 <= throttle.delay < 2.0
    before = throttle.delay
    throttle.record(20.0, 0.01, ok=False)  # an error, however fast
    assert throttle.delay == min(MAX_DELAY, 2 * before)
    for n in range(20):
        throttle.record(30.0 + n, 0.01, ok=False)
    assert throttle.delay == MAX_DELAY
    assert 0.5 * MAX_DELAY <= throttle.wait(50.0 - 1) + 1 <= 1.5 * MAX_DELAY + 1


def test_throttle_answers_that_say_nothing_of_health_leave_the_delay() -> None:
    throttle = Throttle(1.0, random.Random(1))
    throttle.record(0.0, 4.0, ok=True)
    slow = throttle.delay
    throttle.record(1.0, 0.01, ok=None)  # a quick 404: no reason to speed up
    assert throttle.delay == slow


def test_crawl_delay_learnt_late_still_spaces_the_next_request() -> None:
    throttle = Throttle(0.1, random.Random(1))
    throttle.record(100.0, 0.0, ok=True)  # robots.txt fetched: next request scheduled soon
    throttle.raise_base(10.0)  # ...then robots.txt said Crawl-delay: 10
    assert throttle.wait(100.0) >= 5.0


def test_throttle_zero_delay_waits_only_when_held() -> None:
    throttle = Throttle(0.0, random.Random(1))
    throttle.record(0.0, 5.0, ok=False)
    assert throttle.wait(0.0) == 0.0
    throttle.hold(0.0, 2.5)  # Retry-After
    assert throttle.wait(1.0) == 1.5
    throttle.raise_base(3.0)  # Crawl-delay
    throttle.record(10.0, 0.0, ok=True)
    assert 1.5 <= throttle.wait(10.0) <= 4.5


def test_retry_after_forms() -> None:
    assert http._retry_after("120") == 120.0
    assert http._retry_after(None) is None
    assert http._retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    parsed = http._retry_after(later)
    assert parsed is not None
    assert 25 <= parsed <= 31
    assert http._retry_after(email.utils.formatdate(time.time() - 30, usegmt=True)) == 0.0


def test_content_type_parameters() -> None:
    assert http._content_type('text/HTML; Charset="GBK"') == ("text/html", "GBK")
    assert http._content_type("application/json") == ("application/json", None)
    assert http._content_type(None) == (None, None)


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS | 16, zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_inflate_is_bounded(wbits: int) -> None:
    engine = zlib.compressobj(9, zlib.DEFLATED, wbits)
    bomb = engine.compress(b"0" * 20_000_000) + engine.flush()
    decoder = http._Inflate(zlib.MAX_WBITS | 16 if wbits > 16 else zlib.MAX_WBITS)
    out = decoder.feed(bomb, 1_000_001)
    assert sum(len(piece) for piece in out) == 1_000_001


def test_concatenated_gzip_members() -> None:
    body = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    one = body.compress(b"first ") + body.flush()
    second = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    two = second.compress(b"second") + second.flush()
    decoder = http._Inflate(zlib.MAX_WBITS | 16)
    assert b"".join(decoder.feed(one + two, 1000)) == b"first second"


def test_unknown_content_encoding_is_refused() -> None:
    with pytest.raises(Exception, match="unsupported content encoding"):
        http._decoder("br", "http://a.cn/")


@pytest.mark.parametrize(
    ("text", "size"),
    [("10MB", 10_000_000), ("500k", 500_000), ("2MiB", 2 * 1024 * 1024), ("1000", 1000),
     ("1.5 GB", 1_500_000_000)],
)  # fmt: skip
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "10 parsecs", "0", "-5MB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|less than"):
        parse_size(text)


def test_proxy_passwords_are_hidden() -> None:
    assert redact_url("socks5h://user:secret@127.0.0.1:9050") == "socks5h://user:***@127.0.0.1:9050"
    assert redact_url("http://proxy:3128") == "http://proxy:3128"


def test_end_of_run_summary_shows_every_count() -> None:
    tally = Tally()
    for event in (
        PageSettled("http://a.cn/", "scanned"),
        PageSettled("http://a.cn/x", "failed"),
        ScanIssue("http://a.cn/x", "http", "HTTP 404"),
    ):
        tally.add(event)
    tally.findings["kr.rrn"] += 3
    tally.categories["exposure"] += 1
    out = io.StringIO()
    Console(file=out, width=80, no_color=True).print(crawl_summary(tally))
    text = out.getvalue()
    for expected in ("pages", "scanned", "failed", "problems", "http", "kr.rrn", "exposure"):
        assert expected in text
