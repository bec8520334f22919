"""Reading CDX indexes (fetch/cdx.py): --archive values, dates, and answers as the
archives give them, odd ones included. The protocols end to end are in test_backfill.py."""

from __future__ import annotations

import asyncio
import json

import pytest

from leakwatch.errors import FetchError, UsageError
from leakwatch.fetch.cdx import (
    CC_DATA,
    CC_INDEX_DELAY,
    WAYBACK_DELAY,
    Collection,
    Protocol,
    Query,
    Window,
    archive_source,
    captures,
    cdx_timestamp,
)
from leakwatch.fetch.http import Response


def answer(body: bytes, status: int = 200) -> Response:
    return Response("http://index.test/", status, "application/json", None, None, None, body,
                    False, None)  # fmt: skip


def rows_of(protocol: Protocol, *bodies: bytes, window: Window | None = None) -> list[str]:
    """The rows `captures` yields when the index answers `bodies` in turn."""
    answers = iter(bodies)
    asked: list[str] = []

    async def get(url: str) -> Response:
        asked.append(url)
        return answer(next(answers))

    collection = Collection("x", "http://index.test/cdx", protocol, None, "r/", 0.0)

    async def collect() -> list[str]:
        query = Query(collection, "bbs.example.cn", "host", window or Window())
        return [f"{row.timestamp} {row.url}" async for row in captures(query, get, 2)]

    return asyncio.run(collect())


def line(**fields: str) -> bytes:
    return json.dumps({"url": "http://bbs.example.cn/", "status": "200", "mime": "text/html",
                       **fields}).encode()  # fmt: skip


def test_short_timestamps_are_padded_and_impossible_ones_dropped() -> None:
    body = b"\n".join([line(timestamp="2021"), line(timestamp="202103"),
                       line(timestamp="20211301000000"), line(timestamp="20210230"),
                       line(timestamp="x"), line(timestamp="20210304050607")])  # fmt: skip
    assert rows_of(Protocol.PYWB, body) == [
        "20210101000000 http://bbs.example.cn/",
        "20210301000000 http://bbs.example.cn/",
        "20210304050607 http://bbs.example.cn/",
    ]


def test_a_window_is_applied_to_an_index_that_ignores_it() -> None:
    body = b"\n".join(line(timestamp=t) for t in ("20201231235959", "20210101", "20221231235959"))
    got = rows_of(Protocol.PYWB, body, window=Window("2021", "2022"))
    assert got == ["20210101000000 http://bbs.example.cn/", "20221231235959 http://bbs.example.cn/"]


def test_pages_are_followed_and_absurd_page_counts_refused() -> None:
    pages = rows_of(Protocol.PYWB, b'{"pages": 2, "pageSize": 5, "blocks": 7}',
                    line(timestamp="2021"), line(timestamp="2022"))  # fmt: skip
    assert [p.split()[0][:4] for p in pages] == ["2021", "2022"]
    for claim in (b'{"pages": 999999999}', b'{"pages": -1}', b"9" * 5000):
        with pytest.raises(FetchError, match="pages"):
            rows_of(Protocol.PYWB, claim)


def test_wayback_paging_ends_on_a_repeated_resume_key() -> None:
    header = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]
    row = ["cn,example,bbs)/", "20210304050607", "http://bbs.example.cn/", "text/html", "200",
           "AAAA", "10"]  # fmt: skip
    page = json.dumps([header, row, [], ["key1"]]).encode()
    with pytest.raises(FetchError, match="repeated a resumeKey"):
        rows_of(Protocol.WAYBACK, page, page, page)


@pytest.mark.parametrize(
    "body",
    [b"[[[1], 2]]", b"[" * 100_000, b'{"url": ' + b"1" * 5000 + b"}", b"not json"],
    ids=["list-in-header", "deep", "huge-number", "text"],
)
def test_malformed_answers_are_the_index_s_error_not_a_crash(body: bytes) -> None:
    def outcome(protocol: Protocol) -> str:
        try:
            return f"{len(rows_of(protocol, body))} rows"
        except FetchError as exc:  # anything else (a crash) fails the test
            return exc.kind

    for protocol in Protocol:
        assert outcome(protocol) in {"0 rows", "archive-index"}


def test_sources_and_their_bases() -> None:
    env = {"LEAKWATCH_CC_DATA": "http://127.0.0.1:9/data"}
    (ia,) = archive_source("ia", None, env).collections()  # CC's data host is not the IA's
    assert ia.api == "https://web.archive.org/cdx/search/cdx"
    assert (ia.replay, ia.delay) == ("https://web.archive.org/web/", WAYBACK_DELAY)
    moved = archive_source("ia", None, {"LEAKWATCH_IA": "http://127.0.0.1:8/"}).collections()
    assert moved[0].delay == 0.0  # a mirror of one's own: --delay alone
    cc = archive_source("cc:CC-MAIN-2024-10,CC-MAIN-2023-50", None, {})
    assert [(c.name, c.data, c.delay) for c in cc.collections()] == [
        ("CC-MAIN-2023-50", CC_DATA + "/", CC_INDEX_DELAY),
        ("CC-MAIN-2024-10", CC_DATA + "/", CC_INDEX_DELAY),
    ]
    pywb = archive_source("http://127.0.0.1:8080/coll/cdx", None, env)
    assert pywb.collections()[0].replay == "http://127.0.0.1:8080/coll/"
    assert pywb.collections()[0].data is None
    assert pywb.hosts == frozenset({"127.0.0.1"})
    with pytest.raises(UsageError):
        archive_source("ia", "http://127.0.0.1:9/", {})


@pytest.mark.parametrize(
    ("text", "digits"),
    [("2021", "2021"), ("2021-03", "202103"), ("2021-03-04", "20210304"),
     ("2021-03-04T05:06:07Z", "20210304050607"), ("20210304", "20210304")],
)  # fmt: skip
def test_dates(text: str, digits: str) -> None:
    assert cdx_timestamp(text, "--since") == digits
