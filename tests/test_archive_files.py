"""Web archive files as inputs (extract/archives.py): real WARC/WET files written with
warcio (tests/archives.py), scanned through the CLI: each captured page is a document of its
URL, dated by its capture, recaptures count once, broken archives fail with one line and the
rest is scanned, `--jobs` changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

from leakwatch.errors import InputError
from leakwatch.extract import archives
from tests import synthetic
from tests.archives import (
    Capture,
    Conversion,
    gzip_member,
    record_blocks,
    write_bad_target_uri,
    write_single_member,
    write_truncated_member,
    write_warc,
    write_wet,
    write_wrong_content_length,
)
from tests.conftest import Result

Cli = Callable[..., Result]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def member_page(rng: random.Random, rows: int, published: str | None = None) -> bytes:
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    cells = "".join(
        f"<tr><td>{synthetic.hangul_name(rng)}</td><td>{synthetic.rrn(rng)}</td></tr>"
        for _ in range(rows)
    )
    return (
        f'<html><head><meta charset="utf-8">{meta}<title>会员</title></head><body>'
        f"<p>韩国会员名单</p><table><tr><th>姓名</th><th>身份证号</th></tr>{cells}</table>"
        "</body></html>"
    ).encode()


def scan_json(cli: Cli, *args: str) -> tuple[Result, dict[str, object]]:
    result = cli("scan", "-f", "json", *args)
    return result, (json.loads(result.stdout) if result.stdout.strip() else {})


def sources_of(report: dict[str, object]) -> list[str]:
    documents = report["documents"]
    assert isinstance(documents, list)
    return [d["source"] for d in documents]


def test_each_captured_page_is_a_document_of_its_url_with_its_capture(
    cli: Cli, tmp_path: Path
) -> None:
    rng = random.Random(1)
    first = Capture("http://bbs.example.cn/t/1", at("2021-03-04T05:06:07"), member_page(rng, 3))
    archive = tmp_path / "crawl.warc.gz"
    rows = write_warc(archive, [
        first,
        Capture(first.url, at("2022-03-04T05:06:07"), first.body),  # the same payload again
        Capture("http://bbs.example.cn/t/2", at("2022-06-01T00:00:00"), member_page(rng, 2)),
        Capture("http://bbs.example.cn/logo.png", at("2022-06-01T00:00:01"), b"\x89PNG",
                content_type="image/png"),
        Capture("http://bbs.example.cn/gone", at("2022-06-01T00:00:02"), b"", status=404),
    ], requests=True)  # fmt: skip
    result, report = scan_json(cli, str(archive), "--no-store")
    assert result.code == 0, result.stderr
    assert sources_of(report) == ["http://bbs.example.cn/t/1", "http://bbs.example.cn/t/2"]
    documents = report["documents"]
    assert isinstance(documents, list)
    one = documents[0]
    assert one["findings_by_type"] == {"kr.rrn": 3}
    assert one["category"] == "exposure"
    assert one["capture"] == {
        "archive": str(archive),
        "offset": rows[0].offset,
        "date": "2021-03-04T05:06:07+00:00",
        "digest": first.payload_digest,
    }
    assert one["fetch"]["site"] == "bbs.example.cn"
    assert documents[1]["capture"]["offset"] == rows[2].offset
    assert report["summary"]["errors_by_kind"] == {"recapture": 1}
    assert result.stderr == ""  # a recapture is counted, not told


def test_first_seen_is_the_capture_date_and_a_recapture_is_no_second_case(
    cli: Cli, tmp_path: Path
) -> None:
    rng = random.Random(2)
    page = Capture("http://bbs.example.cn/t/1", at("2021-03-04T05:06:07"), member_page(rng, 2))
    archive = tmp_path / "a.warc.gz"
    write_warc(archive, [
        page,
        page.revisit(at("2022-03-04T05:06:07")),
        Capture("http://bbs.example.cn/t/2", at("2022-06-01T00:00:00"), member_page(rng, 2)),
        Capture("http://bbs.example.cn/t/3", at("2023-01-09T00:00:00"), member_page(rng, 1)),
    ])  # fmt: skip
    db = tmp_path / "s.db"
    result, _ = scan_json(cli, str(archive), "--db", str(db), "-o", str(tmp_path / "out.json"))
    assert result.code == 0, result.stderr
    report = cli("report", "--db", str(db), "--year-basis", "first-seen", "-f", "json")
    years = {row["year"]: row["cases"] for row in json.loads(report.stdout)["years"]}
    assert years == {2021: 1, 2022: 1, 2023: 1}
    # The store knows the capture, and that the page was still there in 2022.
    with sqlite3.connect(db) as connection:
        first_seen, last_seen, capture = connection.execute(
            "SELECT first_seen, last_seen, capture FROM documents WHERE key = ?", (page.url,)
        ).fetchone()
    assert (first_seen[:10], last_seen[:10]) == ("2021-03-04", "2022-03-04")
    assert json.loads(capture) == {
        "archive": str(archive), "offset": json.loads(capture)["offset"],
        "date": "2021-03-04T05:06:07+00:00", "digest": page.payload_digest,
    }  # fmt: skip
    # Scanning the same archive again counts nothing twice.
    again, _ = scan_json(cli, str(archive), "--db", str(db), "-o", str(tmp_path / "again.json"))
    assert again.code == 0, again.stderr
    report = cli("report", "--db", str(db), "--year-basis", "first-seen", "-f", "json")
    assert json.loads(report.stdout)["totals"]["cases"] == 3


def test_archives_met_in_a_folder_are_sniffed_by_content(cli: Cli, tmp_path: Path) -> None:
    rng = random.Random(3)
    folder = tmp_path / "crawls"
    first = Capture("http://a.example.cn/1", at("2021-03-01T00:00:00"), member_page(rng, 1))
    write_warc(folder / "CC-MAIN-2021-10-00001.warc.gz", [first])
    # A WET file of extracted text, not named as one, and an uncompressed WARC.
    text = f"韩国会员 身份证号：{synthetic.rrn(rng)}"
    write_wet(folder / "text.bin", [Conversion("http://b.example.tw/2", at("2022-04-01"), text)])
    third = Capture("http://c.example.hk/3", at("2023-05-01T00:00:00"), member_page(rng, 1))
    write_warc(folder / "plain.warc", [third], gzip=False)
    result, report = scan_json(cli, str(folder), "--no-store")
    assert result.code == 0, result.stderr
    assert sorted(sources_of(report)) == [
        "http://a.example.cn/1", "http://b.example.tw/2", "http://c.example.hk/3",
    ]  # fmt: skip
    assert report["summary"]["findings"] == 3


def test_a_broken_archive_fails_with_one_line_and_the_rest_is_scanned(
    cli: Cli, tmp_path: Path
) -> None:
    rng = random.Random(5)
    ok = Capture("http://ok.example.cn/1", at("2021-01-01T00:00:00"), member_page(rng, 1))
    good = tmp_path / "good.warc.gz"
    write_warc(good, [ok])
    broken = tmp_path / "broken.warc.gz"
    write_truncated_member(broken, [
        Capture("http://bbs.example.cn/t/1", at("2021-03-04T05:06:07"), member_page(rng, 2)),
        Capture("http://bbs.example.cn/t/2", at("2021-03-05T05:06:07"), member_page(rng, 2)),
    ], index=1)  # fmt: skip
    result, report = scan_json(cli, str(broken), str(good), "--no-store")
    assert result.code == 0, result.stderr
    assert sources_of(report) == ["http://bbs.example.cn/t/1", "http://ok.example.cn/1"]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(broken) in lines[0]
    assert "broken archive" in lines[0]
    # --strict: a failed input fails the run (exit 3), what was read is still written.
    strict, report = scan_json(cli, str(broken), "--no-store", "--strict")
    assert strict.code == 3, strict.stderr
    assert "broken archive" in strict.stderr
    assert sources_of(report) == ["http://bbs.example.cn/t/1"]


def test_a_record_with_a_wrong_length_fails_alone(cli: Cli, tmp_path: Path) -> None:
    rng = random.Random(9)
    captures = [
        Capture(f"http://bbs.example.cn/t/{n}", at(f"2021-03-0{n}T00:00:00"), member_page(rng, 1))
        for n in (1, 2, 3)
    ]
    archive = tmp_path / "short.warc.gz"
    write_wrong_content_length(archive, captures, index=1, delta=-10)
    result, report = scan_json(cli, str(archive), "--no-store")
    assert result.code == 0, result.stderr
    assert "http://bbs.example.cn/t/3" in sources_of(report)
    assert "length is wrong" in result.stderr
    assert "Traceback" not in result.stderr
    assert "<td>" not in result.stderr  # warcio's own note quotes the archive: never shown


def test_a_record_whose_target_is_not_a_url_fails_alone(cli: Cli, tmp_path: Path) -> None:
    rng = random.Random(6)
    archive = tmp_path / "odd.warc.gz"
    write_bad_target_uri(archive, [
        Capture("http://bbs.example.cn/t/1", at("2021-03-04T05:06:07"), member_page(rng, 1)),
        Capture("http://bbs.example.cn/t/2", at("2021-03-05T05:06:07"), member_page(rng, 1)),
    ], index=0)  # fmt: skip
    result, report = scan_json(cli, str(archive), "--no-store")
    assert result.code == 0, result.stderr
    assert sources_of(report) == ["http://bbs.example.cn/t/2"]
    assert "not a URL" in result.stderr
    assert report["summary"]["errors_by_kind"] == {"archive-record": 1}


def test_a_whole_file_gzipped_as_one_member_is_still_read(cli: Cli, tmp_path: Path) -> None:
    # Not how Common Crawl writes them, but `gzip crawl.warc` makes such files.
    rng = random.Random(7)
    whole = tmp_path / "whole.warc.gz"
    write_single_member(whole, [
        Capture("http://bbs.example.cn/t/1", at("2021-03-04T05:06:07"), member_page(rng, 1)),
        Capture("http://bbs.example.cn/t/2", at("2021-03-05T05:06:07"), member_page(rng, 1)),
    ])  # fmt: skip
    result, report = scan_json(cli, str(whole), "--no-store")
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert sources_of(report) == ["http://bbs.example.cn/t/1", "http://bbs.example.cn/t/2"]


def test_jobs_spread_records_over_workers_and_change_nothing(cli: Cli, tmp_path: Path) -> None:
    rng = random.Random(8)
    captures = [
        Capture(f"http://bbs{n % 3}.example.cn/t/{n}", at(f"202{n % 4}-0{1 + n % 9}-01"),
                member_page(rng, 1 + n % 3))
        for n in range(40)
    ]  # fmt: skip
    archive = tmp_path / "many.warc.gz"
    write_warc(archive, captures)
    outputs = []
    for jobs in ("1", "2"):
        result = cli("scan", str(archive), "--no-store", "-f", "jsonl", "--jobs", jobs)
        assert result.code == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        outputs.append([r for r in records if r["kind"] in ("finding", "document")])
    assert outputs[0] == outputs[1]
    assert sum(1 for r in outputs[0] if r["kind"] == "document") == 40


def test_a_payload_the_store_holds_is_not_scanned_again_and_older_captures_move_it_back(
    cli: Cli, tmp_path: Path
) -> None:
    # A backfill is run crawl by crawl: the 2023 crawl first, then the 2021 one, which holds
    # the same page unchanged. The page is scanned once, and counted in 2021.
    rng = random.Random(10)
    page = member_page(rng, 2)
    url = "http://bbs.example.cn/t/1"
    newer, older = tmp_path / "CC-MAIN-2023.warc.gz", tmp_path / "CC-MAIN-2021.warc.gz"
    write_warc(newer, [Capture(url, at("2023-02-01T00:00:00"), page)])
    write_warc(older, [Capture(url, at("2021-02-01T00:00:00"), page)])
    db = tmp_path / "s.db"
    first, report = scan_json(cli, str(newer), "--db", str(db))
    assert first.code == 0, first.stderr
    assert report["summary"]["findings"] == 2
    second, report = scan_json(cli, str(older), "--db", str(db))
    assert second.code == 0, second.stderr
    assert report["summary"]["findings"] == 0  # not scanned again
    assert report["summary"]["errors_by_kind"] == {"recapture": 1}
    result = cli("report", "--db", str(db), "--year-basis", "first-seen", "-f", "json")
    years = {row["year"]: row["cases"] for row in json.loads(result.stdout)["years"]}
    assert years == {2021: 1}
    with sqlite3.connect(db) as connection:
        first_seen, last_seen, capture = connection.execute(
            "SELECT first_seen, last_seen, capture FROM documents WHERE key = ?", (url,)
        ).fetchone()
    assert (first_seen[:10], last_seen[:10]) == ("2021-02-01", "2023-02-01")
    assert json.loads(capture)["archive"] == str(older)


def test_a_record_without_a_date_or_with_an_odd_status_fails_alone(
    cli: Cli, tmp_path: Path
) -> None:
    # Found in review: a missing WARC-Date crashed the run when recording; a status like
    # `2OO` ended the whole archive.
    rng = random.Random(11)
    pages = [
        Capture(f"http://bbs.example.cn/t/{n}", at(f"2021-03-0{n}T00:00:00"), member_page(rng, 1))
        for n in (1, 2, 3)
    ]
    archive = tmp_path / "odd.warc"
    write_warc(archive, pages, gzip=False)
    data = archive.read_bytes()
    data = data.replace(b"WARC-Date: 2021-03-01T00:00:00Z\r\n", b"WARC-Date: yesterday\r\n", 1)
    data = data.replace(b"HTTP/1.1 200 OK", b"HTTP/1.1 2OO OK", 2)  # the first two responses
    archive.write_bytes(data)
    result, report = scan_json(cli, str(archive), "--db", str(tmp_path / "s.db"))
    assert result.code == 0, result.stderr
    assert "internal error" not in result.stderr
    assert sources_of(report) == ["http://bbs.example.cn/t/3"]
    assert "without a valid WARC-Date" in result.stderr


# -- shards (a cluster's tasks read an archive in byte ranges) ------------------------------


def shard_pages(path: Path, count: int) -> list[object]:
    size = path.stat().st_size
    return [
        found
        for start, end in archives.shards(path, size, count)
        for found in archives.read_shard(path, "a", start, end)
    ]


def many_pages(count: int, seed: int = 7) -> list[Capture]:
    rng = random.Random(seed)
    return [
        Capture(f"http://bbs.example.cn/t/{n}", at("2021-01-01T00:00:00") + dt.timedelta(days=n),
                member_page(rng, 1 + n % 3))
        for n in range(count)
    ]  # fmt: skip


def test_shards_read_each_record_once_wherever_they_are_cut(tmp_path: Path) -> None:
    archive = tmp_path / "a.warc.gz"
    write_warc(archive, many_pages(40), requests=True)
    whole = list(archives.read_archive(archive, "a"))
    assert len(whole) == 40
    for count in (1, 2, 3, 5, 8, 13, 40, 200):
        assert shard_pages(archive, count) == whole, count


def test_a_broken_member_is_said_in_its_shard_and_the_others_are_read(tmp_path: Path) -> None:
    archive = tmp_path / "a.warc.gz"
    write_truncated_member(archive, many_pages(40), index=10)
    got = shard_pages(archive, 4)
    broken = [g for g in got if isinstance(g, InputError)]
    assert [b.kind for b in broken] == ["archive-record"]  # that record fails alone
    assert "broken or cut short" in broken[0].problem
    pages = [g for g in got if isinstance(g, archives.ArchivedPage)]
    # One pass stops at the damage; a shard finds the next record and goes on.
    assert len(pages) == 39
    assert len({p.url for p in pages}) == 39


def test_archives_not_gzipped_record_by_record_are_one_shard(tmp_path: Path) -> None:
    single = tmp_path / "single.warc.gz"
    write_single_member(single, many_pages(30))
    plain = tmp_path / "plain.warc"
    write_warc(plain, many_pages(30), gzip=False)
    for path in (single, plain):
        assert archives.shards(path, path.stat().st_size, 5) == [(0, path.stat().st_size)]


def test_a_gzipped_record_inside_a_payload_does_not_start_a_shard(tmp_path: Path) -> None:
    inner = gzip_member(record_blocks([Capture("http://inner.example/evil",
                                               at("2021-01-01T00:00:00"), b"<p>x</p>")],
                                      warcinfo=False)[0])  # fmt: skip
    pages = many_pages(30)
    pages[12] = Capture(pages[12].url, pages[12].timestamp, b"<html>" + inner * 3 + b"</html>",
                        content_type="text/html; charset=latin-1")  # fmt: skip
    archive = tmp_path / "a.warc.gz"
    write_warc(archive, pages)
    whole = list(archives.read_archive(archive, "a"))
    for count in (3, 7, 11, 29):
        got = shard_pages(archive, count)
        assert got == whole, count
        assert not any(getattr(g, "url", "").startswith("http://inner.") for g in got)
