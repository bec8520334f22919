"""The archive test servers speak their protocols, and the broken-archive writers break as meant."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from tests import synthetic
from tests.archive_servers import (
    Served,
    cc_fields,
    cc_index_server,
    pywb_server,
    range_server,
    wayback_cdx_server,
)
from tests.archives import (
    Capture,
    Conversion,
    IndexRow,
    gzip_members,
    read_back,
    surt_key,
    write_bad_target_uri,
    write_single_member,
    write_truncated_member,
    write_warc,
    write_wet,
    write_wrong_content_length,
)

T0 = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CRAWL_A = "crawl-data/CC-MAIN-2021-10/segments/1614178347293.1/warc/CC-MAIN-2021-10-00000.warc.gz"
CRAWL_B = "crawl-data/CC-MAIN-2023-06/segments/1674764494826.8/warc/CC-MAIN-2023-06-00000.warc.gz"


def page(seed: int, title: str) -> str:
    rng = random.Random(seed)
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<p>{synthetic.hangul_name(rng)} {synthetic.rrn(rng)} {synthetic.mobile(rng)}</p>"
        "</body></html>"
    )


def _captures() -> tuple[list[Capture], list[Capture]]:
    first = Capture("http://example.com/board/1", T0, page(1, "board 1").encode())
    older = [
        first,
        Capture(
            "http://www.example.com/board/2?b=2&a=1",
            T0 + DAY,
            page(2, "게시판").encode("euc-kr"),
            content_type="text/html; charset=EUC-KR",
        ),
        Capture("http://shop.example.com/Item?ID=7", T0 + 2 * DAY, page(3, "shop").encode(), 404),
        Capture(
            "http://example.com/data.json",
            T0 + 3 * DAY,
            b'{"name": "synthetic"}',
            content_type="application/json",
            headers=(("X-Synthetic", "yes"),),
        ),
        first.revisit(T0 + 400 * DAY),
    ]
    newer = [
        Capture("http://example.com/board/1", T0 + 800 * DAY, page(4, "board 1 v2").encode()),
        Capture("http://example.org/", T0 + 801 * DAY, page(5, "elsewhere").encode()),
        Capture("http://example.com/board/3", T0 + 802 * DAY, page(6, "board 3").encode()),
    ]
    return older, newer


@dataclass
class Archive:
    root: Path  # a data host's root: crawl-data/...
    older: list[Capture]
    newer: list[Capture]
    rows_a: list[IndexRow]
    rows_b: list[IndexRow]

    @property
    def rows(self) -> list[IndexRow]:
        return self.rows_a + self.rows_b

    @property
    def files(self) -> list[Path]:
        return [self.root / CRAWL_A, self.root / CRAWL_B]

    def capture(self, row: IndexRow) -> Capture:
        for capture in self.older + self.newer:
            stamp = capture.timestamp.strftime("%Y%m%d%H%M%S")
            if capture.url == row.url and stamp == row.timestamp:
                return capture
        raise LookupError(row)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    root = tmp_path_factory.mktemp("data")
    older, newer = _captures()
    rows_a = write_warc(root / CRAWL_A, older, filename=CRAWL_A, requests=True)
    rows_b = write_warc(root / CRAWL_B, newer, filename=CRAWL_B)
    return Archive(root, older, newer, rows_a, rows_b)


@pytest.fixture(scope="module")
def pywb(archive: Archive, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with pywb_server(tmp_path_factory.mktemp("pywb"), "coll", archive.files) as served:
        yield served


def ndjson(response: httpx.Response) -> list[dict[str, str]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def cdx_key(fields: dict[str, Any]) -> tuple[str, ...]:
    keys = ("urlkey", "timestamp", "url", "mime", "status", "digest", "length", "offset")
    return (*(str(fields.get(k, "-")) for k in keys), Path(fields["filename"]).name)


# -- the written archives themselves ---------------------------------------------------------


def test_write_warc_indexes_what_warcio_reads_back(archive: Archive) -> None:
    assert [r.record_type for r in archive.rows_a] == ["response"] * 4 + ["revisit"]
    revisit = archive.rows_a[4]
    assert revisit.digest == archive.rows_a[0].digest == archive.older[0].payload_digest
    assert revisit.mime == "warc/revisit"
    assert revisit.status is None
    assert archive.rows_a[1].charset == "EUC-KR"
    assert archive.rows_a[2].status == 404
    assert archive.rows_a[3].mime == "application/json"
    assert archive.rows_a[0].timestamp == "20210304050607"
    assert archive.rows_a[1].urlkey == "com,example)/board/2?a=1&b=2"
    data = (archive.root / CRAWL_A).read_bytes()
    members = gzip_members(data)
    # warcinfo, then a request and a response (or revisit) per capture: one member each
    assert len(members) == 1 + 2 * len(archive.older)
    assert {(r.offset, r.length) for r in archive.rows_a} <= set(members)
    for row in archive.rows:
        assert row.digest.startswith("sha1:")
        assert len(row.cdx_digest) == 32


def test_capture_timestamps_must_be_utc() -> None:
    with pytest.raises(ValueError, match="UTC"):
        Capture("http://example.com/", dt.datetime(2021, 1, 1))
    kst = dt.timezone(dt.timedelta(hours=9))
    with pytest.raises(ValueError, match="UTC"):
        Capture("http://example.com/", dt.datetime(2021, 1, 1, tzinfo=kst))


def test_wet_conversions_refer_to_their_responses(archive: Archive, tmp_path: Path) -> None:
    text = page(9, "text only").replace("<", " ").replace(">", " ")
    source = archive.rows_b[0]
    rows = write_wet(
        tmp_path / "x.warc.wet.gz",
        [
            Conversion(source.url, T0 + 800 * DAY, text, source.record_id, "kor"),
            Conversion("http://example.org/", T0 + 801 * DAY, "plain text"),
        ],
    )
    assert [r.record_type for r in rows] == ["conversion", "conversion"]
    assert {r.mime for r in rows} == {"text/plain"}
    with (tmp_path / "x.warc.wet.gz").open("rb") as stream:
        records = [
            (r.rec_type, r.rec_headers, r.content_stream().read()) for r in ArchiveIterator(stream)
        ]
    assert [kind for kind, _, _ in records] == ["warcinfo", "conversion", "conversion"]
    _, headers, body = records[1]
    assert headers.get_header("WARC-Refers-To") == source.record_id
    assert headers.get_header("Content-Type") == "text/plain"
    assert headers.get_header("WARC-Identified-Content-Language") == "kor"
    assert headers.get_header("WARC-Date") == "2023-05-13T05:06:07Z"
    assert body.decode("utf-8") == text


# -- pywb -------------------------------------------------------------------------------


def test_pywb_cdx_lists_the_written_captures(pywb: Served, archive: Archive) -> None:
    response = httpx.get(
        pywb.url("/coll/cdx"),
        params={"url": "example.com", "matchType": "domain", "output": "json"},
    )
    assert response.status_code == 200
    served = ndjson(response)
    expected = [r for r in archive.rows if "example.com" in urlsplit(r.url).netloc]
    # urlkeys (our SURT), timestamps, digests, offsets and lengths are pywb's own
    assert sorted(cdx_key(f) for f in served) == sorted(cdx_key(cc_fields(r)) for r in expected)
    assert pywb.log.count("/coll/cdx") >= 1


def test_pywb_id_replay_returns_the_original_payload(pywb: Served, archive: Archive) -> None:
    for row in archive.rows:
        capture = archive.capture(row)
        response = httpx.get(pywb.url(f"/coll/{row.timestamp}id_/{row.url}"))
        assert response.status_code == capture.status, row
        assert response.content == capture.body, row
        assert response.headers["content-type"] == capture.content_type
        for name, value in capture.headers:
            assert response.headers[name] == value


def test_pywb_fetches_are_counted_per_record(pywb: Served, archive: Archive) -> None:
    row = archive.rows_b[2]
    before = pywb.log.replays()[(row.timestamp, row.url)]
    for _ in range(3):
        assert httpx.get(pywb.url(f"/coll/{row.timestamp}id_/{row.url}")).status_code == 200
    assert pywb.log.replays()[(row.timestamp, row.url)] == before + 3
    other = archive.rows_b[1]
    assert pywb.log.replays()[(other.timestamp, other.url)] <= 1


def test_pywb_proxy_can_answer_503_first(pywb: Served, archive: Archive) -> None:
    pywb.fail(503)
    url = pywb.url(f"/coll/{archive.rows_a[0].timestamp}id_/{archive.rows_a[0].url}")
    first, second = httpx.get(url), httpx.get(url)
    assert (first.status_code, first.headers["retry-after"]) == (503, "1")
    assert second.status_code == 200


QUERIES = [
    {"url": "example.com", "matchType": "domain"},
    {"url": "*.example.com"},
    {"url": "example.com/board/", "matchType": "prefix"},
    {"url": "example.com/board/*"},
    {"url": "example.com", "matchType": "host"},
    {"url": "http://example.com/board/1"},
    {"url": "shop.example.com/item?id=7"},
    {"url": "example.com", "matchType": "domain", "from": "2022", "to": "202305"},
    {"url": "example.com", "matchType": "domain", "from": "20210305"},
    {"url": "example.com", "matchType": "domain", "filter": "status:200"},
    {"url": "example.com", "matchType": "domain", "filter": "=status:200"},
    {"url": "example.com", "matchType": "domain", "filter": "!=status:200"},
    {"url": "example.com", "matchType": "domain", "filter": "~mime:text/.*"},
    {"url": "example.com", "matchType": "domain", "filter": "=mime:text/html"},
    {"url": "example.com", "matchType": "domain", "filter": "mimetype:json"},
    {"url": "example.org", "matchType": "domain"},
    {"url": "example.net", "matchType": "domain"},
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()))
def test_cc_index_answers_as_pywb_does(
    query: dict[str, str], pywb: Served, archive: Archive
) -> None:
    with cc_index_server({"CC-MAIN-2021-10": archive.rows}, page_size=100) as index:
        ours = httpx.get(index.url("/CC-MAIN-2021-10-index"), params={**query, "output": "json"})
    theirs = httpx.get(pywb.url("/coll/cdx"), params={**query, "output": "json"})
    assert theirs.status_code == 200
    assert ours.status_code == (200 if theirs.text.strip() else 404)
    ours_rows = ndjson(ours) if ours.status_code == 200 else []
    assert Counter(cdx_key(f) for f in ours_rows) == Counter(cdx_key(f) for f in ndjson(theirs))


# -- Common Crawl's index and data host ---------------------------------------------------


def test_collinfo_lists_crawls_newest_first(archive: Archive) -> None:
    crawls = {"CC-MAIN-2021-10": archive.rows_a, "CC-MAIN-2023-06": archive.rows_b}
    with cc_index_server(crawls) as index:
        listing = httpx.get(index.url("/collinfo.json")).json()
        assert [c["id"] for c in listing] == ["CC-MAIN-2023-06", "CC-MAIN-2021-10"]
        assert listing[1]["cdx-api"] == index.url("/CC-MAIN-2021-10-index")
        assert listing[1]["from"] == "2021-03-04T00:00:00"
        assert listing[1]["to"] == "2022-04-08T23:59:59"
        response = httpx.get(
            listing[0]["cdx-api"], params={"url": "example.org/", "output": "json"}
        )
        assert [f["url"] for f in ndjson(response)] == ["http://example.org/"]
        assert (
            httpx.get(index.url("/CC-MAIN-1999-01-index"), params={"url": "x"}).status_code == 404
        )
        assert index.log.paths() == Counter(
            {"/collinfo.json": 1, "/CC-MAIN-2023-06-index": 1, "/CC-MAIN-1999-01-index": 1}
        )


def test_cc_index_pages_return_every_row_once(archive: Archive) -> None:
    query = {"url": "example.com", "matchType": "domain", "output": "json"}
    with cc_index_server({"CC-MAIN-2021-10": archive.rows}, page_size=2) as index:
        api = index.url("/CC-MAIN-2021-10-index")
        info = httpx.get(api, params={**query, "showNumPages": "true"}).json()
        assert info == {"pages": 4, "pageSize": 2, "blocks": 7}
        paged = []
        for number in range(info["pages"]):
            response = httpx.get(api, params={**query, "page": str(number)})
            assert response.status_code == 200
            assert len(ndjson(response)) <= 2
            paged += ndjson(response)
        whole = ndjson(httpx.get(api, params=query))
        assert len(whole) == 7
        assert paged == whole
        assert len({(f["urlkey"], f["timestamp"]) for f in paged}) == 7
        beyond = httpx.get(api, params={**query, "page": "4"})
        assert beyond.status_code == 400
        assert beyond.json() == {"message": "Page 4 invalid: First Page is 0, Last Page is 3"}
        assert index.log.count("/CC-MAIN-2021-10-index") == 1 + 4 + 1 + 1


def test_cc_index_pages_count_before_filters(archive: Archive) -> None:
    query = {"url": "example.com", "matchType": "domain", "output": "json", "filter": "=status:404"}
    with cc_index_server({"CC-MAIN-2021-10": archive.rows}, page_size=2) as index:
        api = index.url("/CC-MAIN-2021-10-index")
        assert httpx.get(api, params={**query, "showNumPages": "true"}).json()["pages"] == 4
        answers = [httpx.get(api, params={**query, "page": str(n)}) for n in range(4)]
        assert [a.status_code for a in answers].count(200) == 1
        found = [f for a in answers if a.status_code == 200 for f in ndjson(a)]
        assert [f["url"] for f in found] == ["http://shop.example.com/Item?ID=7"]
        empty = next(a for a in answers if a.status_code == 404)
        assert empty.json()["message"].startswith("No Captures found for: ")


def test_cc_index_fields_and_outputs(archive: Archive) -> None:
    with cc_index_server({"CC-MAIN-2021-10": archive.rows_a}) as index:
        api = index.url("/CC-MAIN-2021-10-index")
        full = ndjson(
            httpx.get(api, params={"url": "www.example.com/board/2?a=1&b=2", "output": "json"})
        )
        assert full == [cc_fields(archive.rows_a[1])]
        assert full[0]["encoding"] == "EUC-KR"
        assert full[0]["mime-detected"] == "text/html"
        assert set(full[0]) >= {"offset", "length", "filename", "digest", "status"}
        picked = httpx.get(api, params={"url": "example.com/data.json", "fl": "url,status"})
        assert picked.text == "http://example.com/data.json 200\n"
        cdxj = httpx.get(api, params={"url": "example.com/data.json"}).text
        urlkey, stamp, rest = cdxj.split(" ", 2)
        assert (urlkey, stamp) == ("com,example)/data.json", "20210307050607")
        assert json.loads(rest)["filename"] == CRAWL_A
        assert httpx.get(api, params={"url": "example.com/nothing"}).status_code == 404
        assert httpx.get(api).status_code == 400


def test_cc_rows_locate_single_gzip_members_on_the_range_server(archive: Archive) -> None:
    with (
        cc_index_server({"CC-MAIN-2021-10": archive.rows}) as index,
        range_server(archive.root) as data,
    ):
        response = httpx.get(
            index.url("/CC-MAIN-2021-10-index"),
            params={"url": "*.example.com", "output": "json", "filter": "!mime:warc/revisit"},
        )
        rows = ndjson(response)
        assert len(rows) == 6
        for row in rows:
            offset, length = int(row["offset"]), int(row["length"])
            headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
            answer = httpx.get(data.url("/" + row["filename"]), headers=headers)
            assert answer.status_code == 206
            assert answer.headers["content-range"].startswith(f"bytes {offset}-")
            assert len(answer.content) == length
            member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            member.decompress(answer.content)
            assert member.eof
            assert member.unused_data == b""  # exactly one gzip member
            (record,) = list(ArchiveIterator(io.BytesIO(answer.content)))
            assert record.rec_headers.get_header("WARC-Target-URI") == row["url"]
            digest = record.rec_headers.get_header("WARC-Payload-Digest")
            assert digest == "sha1:" + row["digest"]
        assert data.log.count() == 6
        assert data.log.count("/" + CRAWL_A) == 4
        assert all(r is not None and r.startswith("bytes=") for r in data.log.ranges("/" + CRAWL_A))


def test_range_server_speaks_ranges(archive: Archive) -> None:
    whole = (archive.root / CRAWL_B).read_bytes()
    size = len(whole)
    path = "/" + CRAWL_B
    with range_server(archive.root, failures=(503,)) as data:
        url = data.url(path)
        unavailable = httpx.get(url)
        assert (unavailable.status_code, unavailable.headers["retry-after"]) == (503, "1")
        full = httpx.get(url)
        assert (full.status_code, full.content) == (200, whole)
        assert full.headers["accept-ranges"] == "bytes"
        tail = httpx.get(url, headers={"Range": "bytes=-10"})
        assert (tail.status_code, tail.content) == (206, whole[-10:])
        assert tail.headers["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"
        rest = httpx.get(url, headers={"Range": f"bytes={size - 5}-"})
        assert rest.content == whole[-5:]
        past = httpx.get(url, headers={"Range": f"bytes=10-{size + 100}"})
        assert (past.status_code, past.content) == (206, whole[10:])
        outside = httpx.get(url, headers={"Range": f"bytes={size}-{size + 10}"})
        assert (outside.status_code, outside.headers["content-range"]) == (416, f"bytes */{size}")
        head = httpx.head(url)
        assert (head.status_code, head.headers["content-length"]) == (200, str(size))
        assert httpx.get(data.url("/crawl-data/missing.warc.gz")).status_code == 404
        assert httpx.get(data.url("/../" + archive.root.name + path)).status_code == 404
        assert data.log.ranges(path) == [
            None,
            None,
            "bytes=-10",
            f"bytes={size - 5}-",
            f"bytes=10-{size + 100}",
            f"bytes={size}-{size + 10}",
            None,
        ]
        assert data.log.count(path, status=206) == 3
        data.fail(429, retry_after="7")
        throttled = httpx.get(url)
        assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "7")
        assert httpx.get(url).status_code == 200


# -- the Wayback Machine ------------------------------------------------------------------


def wayback_rows(served: Served, **params: str) -> list[list[str]]:
    response = httpx.get(served.url("/cdx/search/cdx"), params={**params, "output": "json"})
    assert response.status_code == 200
    table: list[list[str]] = response.json()
    return table


def test_wayback_cdx_answers_arrays_with_a_header_row(archive: Archive) -> None:
    with wayback_cdx_server(archive.rows, archive.root) as wayback:
        table = wayback_rows(wayback, url="example.com/board/1")
        assert table[0] == [
            "urlkey",
            "timestamp",
            "original",
            "mimetype",
            "statuscode",
            "digest",
            "length",
        ]
        assert [row[1] for row in table[1:]] == [
            "20210304050607",
            "20220408050607",
            "20230513050607",
        ]
        assert table[2][3:5] == ["warc/revisit", "-"]
        assert table[1][5] == archive.rows_a[0].cdx_digest
        collapsed = wayback_rows(wayback, url="example.com/board/1", collapse="digest")
        assert [row[1] for row in collapsed[1:]] == ["20210304050607", "20230513050607"]
        query = {"url": "example.com", "matchType": "domain", "from": "2021", "to": "2022"}
        narrowed = wayback_rows(
            wayback, **query, fl="original,statuscode", filter="statuscode:[45].."
        )
        assert narrowed == [
            ["original", "statuscode"],
            ["http://shop.example.com/Item?ID=7", "404"],
        ]
        assert wayback_rows(wayback, url="example.net/") == []
        text = httpx.get(wayback.url("/cdx/search/cdx"), params={"url": "example.org/"}).text
        assert text.split() == wayback_fields_of(archive.rows_b[1])


def wayback_fields_of(row: IndexRow) -> list[str]:
    status = str(row.status) if row.status is not None else "-"
    return [row.urlkey, row.timestamp, row.url, row.mime, status, row.cdx_digest, str(row.length)]


def test_wayback_resume_key_pages_every_row_once(archive: Archive) -> None:
    with wayback_cdx_server(archive.rows, archive.root) as wayback:
        whole = wayback_rows(wayback, url="*.example.com")[1:]
        assert len(whole) == 7
        seen: list[list[str]] = []
        params = {"url": "*.example.com", "limit": "3", "showResumeKey": "true"}
        for _ in range(10):
            table = wayback_rows(wayback, **params)
            if table[-2:-1] == [[]]:
                seen += table[1:-2]
                params["resumeKey"] = table[-1][0]
                assert params["resumeKey"].endswith("%21")
            else:
                seen += table[1:]
                break
        assert seen == whole
        assert wayback.log.count("/cdx/search/cdx") == 1 + 3


def test_wayback_answers_503_and_429_with_retry_after_first(archive: Archive) -> None:
    with wayback_cdx_server(archive.rows, archive.root, failures=(503, 503, 429)) as wayback:
        url = wayback.url("/cdx/search/cdx")
        answers = [httpx.get(url, params={"url": "example.org/"}) for _ in range(4)]
        assert [a.status_code for a in answers] == [503, 503, 429, 200]
        assert [a.headers.get("retry-after") for a in answers[:3]] == ["1", "1", "1"]
        assert wayback.log.statuses() == [503, 503, 429, 200]
        wayback.fail(503, retry_after=None)
        bare = httpx.get(url, params={"url": "example.org/"})
        assert bare.status_code == 503
        assert "retry-after" not in bare.headers
        assert httpx.get(url, params={"url": "example.org/"}).status_code == 200


def test_wayback_id_replay_returns_the_original_bytes(archive: Archive) -> None:
    with wayback_cdx_server(archive.rows, archive.root) as wayback:
        for row in archive.rows:
            capture = archive.capture(row)
            response = httpx.get(wayback.url(f"/web/{row.timestamp}id_/{row.url}"))
            assert response.status_code == capture.status
            assert response.content == capture.body
            assert response.headers["content-type"] == capture.content_type
            assert "memento-datetime" in response.headers
        data_json = wayback.url("/web/20210307050607id_/http://example.com/data.json")
        assert httpx.get(data_json).headers["x-synthetic"] == "yes"
        near = httpx.get(wayback.url("/web/2023id_/http://example.com/board/1"))
        assert near.status_code == 302
        assert near.headers["location"] == wayback.url(  # 2023-05-13 is nearer than 2022-04-08
            "/web/20230513050607id_/http://example.com/board/1"
        )
        assert httpx.get(wayback.url("/web/2021id_/http://example.net/")).status_code == 404
        not_raw = wayback.url("/web/20210304050607/http://example.com/board/1")
        assert httpx.get(not_raw).status_code == 404  # only id_ (raw) replay is served
        replays = wayback.log.replays()
        assert replays[("20210304050607", "http://example.com/board/1")] == 1
        assert replays[("20210307050607", "http://example.com/data.json")] == 2
        assert wayback.log.replays(status=302) == Counter(
            {("2023", "http://example.com/board/1"): 1}
        )


def test_wayback_replay_of_a_url_with_a_query(archive: Archive) -> None:
    row = archive.rows_a[1]
    with wayback_cdx_server(archive.rows, archive.root) as wayback:
        response = httpx.get(wayback.url(f"/web/{row.timestamp}id_/{row.url}"))
        assert response.content == archive.older[1].body
        assert wayback.log.replays()[(row.timestamp, row.url)] == 1


# -- broken archives -------------------------------------------------------------------------


def small(count: int) -> list[Capture]:
    return [
        Capture(f"http://example.com/{n}", T0 + n * DAY, page(n, f"page {n}").encode())
        for n in range(count)
    ]


def responses(back: Any) -> list[tuple[str | None, bytes]]:
    return [(uri, body) for kind, uri, body in back.records if kind == "response"]


def test_truncated_member_loses_records_and_range_reads_get_no_record(tmp_path: Path) -> None:
    captures = small(4)
    path = tmp_path / "cut.warc.gz"
    rows = write_truncated_member(path, captures, index=1)
    back = read_back(path)
    # warcio never yields the cut record; it stops, with or without ArchiveLoadFailed
    assert responses(back) == [(captures[0].url, captures[0].body)]
    assert back.error is None or isinstance(back.error, ArchiveLoadFailed)
    data = path.read_bytes()
    cut = rows[1]
    alone = read_back(data[cut.offset : cut.offset + cut.length])
    assert (captures[1].url, captures[1].body) not in responses(alone)
    # the members after the cut are whole: an index gets past the damage
    for row, capture in zip(rows[2:], captures[2:], strict=True):
        member = read_back(data[row.offset : row.offset + row.length])
        assert responses(member) == [(capture.url, capture.body)]


def test_short_content_length_cuts_the_body_and_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    captures = small(3)
    path = tmp_path / "short.warc.gz"
    write_wrong_content_length(path, captures, index=1, delta=-10)
    back = read_back(path)
    assert back.error is None
    assert back.err_count == 1
    assert responses(back)[1] == (captures[1].url, captures[1].body[:-10])
    assert responses(back)[2] == (captures[2].url, captures[2].body)
    assert "perhaps Content-Length is invalid" in capsys.readouterr().err
    strict = read_back(path, check_digests="raise")
    assert isinstance(strict.error, ArchiveLoadFailed)
    assert "digest failed" in str(strict.error)


def test_long_content_length_in_plain_warc_breaks_the_next_record(tmp_path: Path) -> None:
    captures = small(3)
    path = tmp_path / "long.warc"
    write_wrong_content_length(path, captures, index=1, delta=10, gzip=False)
    back = read_back(path)
    assert isinstance(back.error, ArchiveLoadFailed)
    assert "Invalid WARC record" in str(back.error)
    assert [uri for uri, _ in responses(back)] == [captures[0].url, captures[1].url]
    assert responses(back)[1][1] != captures[1].body


def test_single_gzip_member_fails_after_the_first_record(tmp_path: Path) -> None:
    captures = small(3)
    path = tmp_path / "one-member.warc.gz"
    write_single_member(path, captures)
    assert len(gzip_members(path.read_bytes())) == 1
    back = read_back(path)
    assert isinstance(back.error, ArchiveLoadFailed)
    assert "non-chunked gzip" in str(back.error)
    assert [kind for kind, _, _ in back.records] == ["warcinfo"]


@pytest.mark.parametrize(
    ("uri", "read_as"),
    [("not a url", "not%20a%20url"), ("example", "example"), ("<javascript:void(0)>", None)],
)
def test_bad_target_uri_is_read_without_complaint(
    tmp_path: Path, uri: str, read_as: str | None
) -> None:
    captures = small(2)
    path = tmp_path / "bad-uri.warc.gz"
    write_bad_target_uri(path, captures, index=0, uri=uri)
    back = read_back(path)
    assert back.error is None
    (first_uri, body), second = responses(back)
    assert first_uri == (read_as or "javascript:void(0)")  # warcio strips <...> too
    # not http(s): warcio does not parse the HTTP headers; the "payload" is the whole message
    assert body.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/html")
    assert body.endswith(b"\r\n\r\n" + captures[0].body)
    assert not urlsplit(first_uri).netloc
    assert second == (captures[1].url, captures[1].body)


def test_surt_keys() -> None:
    assert surt_key("https://WWW.Example.COM:443/A/b?z=1&a=2#frag") == "com,example)/a/b?a=2&z=1"
    assert surt_key("http://example.com:8080/") == "com,example:8080)/"
    assert surt_key("example.com") == "com,example)/"
    assert surt_key("http://127.0.0.1/x") == "127.0.0.1)/x"
