"""Web archive files as inputs (extract/archives.py): real WARC/WET files written with
warcio, scanned through the CLI: each captured page is a document of its URL, dated by its
capture, recaptures count once, broken archives fail with one line and the rest is scanned."""

from __future__ import annotations

import gzip
import io
import json
import random
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests import synthetic
from tests.conftest import Result

Cli = Callable[..., Result]


@dataclass(frozen=True)
class Shot:
    """One record to write: a response (or a WET conversion, or a revisit) of `url`."""

    url: str
    date: str  # WARC-Date
    body: bytes = b""
    kind: str = "response"
    status: str = "200 OK"
    content_type: str = "text/html; charset=utf-8"


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


def write_warc(path: Path, shots: Sequence[Shot], *, compress: bool = True) -> Path:
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=compress)
        for shot in shots:
            headers = {"WARC-Date": shot.date}
            if shot.kind == "conversion":
                record = writer.create_warc_record(
                    shot.url, "conversion", payload=io.BytesIO(shot.body),
                    warc_headers_dict={**headers, "Content-Type": "text/plain"},
                )  # fmt: skip
            elif shot.kind == "revisit":
                record = writer.create_revisit_record(
                    shot.url, digest="sha1:AAAA", refers_to_uri=shot.url,
                    refers_to_date="2021-03-04T05:06:07Z",
                )  # fmt: skip
                record.rec_headers.replace_header("WARC-Date", shot.date)
            else:
                http = StatusAndHeaders(
                    shot.status, [("Content-Type", shot.content_type)], protocol="HTTP/1.1"
                )
                record = writer.create_warc_record(
                    shot.url, "response", payload=io.BytesIO(shot.body), http_headers=http,
                    warc_headers_dict=headers,
                )  # fmt: skip
            writer.write_record(record)
            record.raw_stream.close()  # warcio's spooled buffer: closed here, not by the GC
    return path


def scan_json(cli: Cli, *args: str) -> tuple[Result, dict[str, object]]:
    result = cli("scan", "-f", "json", *args)
    return result, (json.loads(result.stdout) if result.stdout.strip() else {})


def test_each_captured_page_is_a_document_of_its_url_with_its_capture(
    cli: Cli, tmp_path: Path
) -> None:
    rng = random.Random(1)
    page = member_page(rng, 3)
    archive = write_warc(tmp_path / "crawl.warc.gz", [
        Shot("http://bbs.example.cn/t/1", "2021-03-04T05:06:07Z", page),
        Shot("http://bbs.example.cn/t/1", "2022-03-04T05:06:07Z", page),  # same payload
        Shot("http://bbs.example.cn/t/2", "2022-06-01T00:00:00Z", member_page(rng, 2)),
        Shot("http://bbs.example.cn/logo.png", "2022-06-01T00:00:01Z", b"\x89PNG",
             content_type="image/png"),
        Shot("http://bbs.example.cn/gone", "2022-06-01T00:00:02Z", b"", status="404 Not Found"),
    ])  # fmt: skip
    result, report = scan_json(cli, str(archive), "--no-store")
    assert result.code == 0, result.stderr
    documents = report["documents"]
    assert isinstance(documents, list)
    assert [d["source"] for d in documents] == [
        "http://bbs.example.cn/t/1",
        "http://bbs.example.cn/t/2",
    ]
    first = documents[0]
    assert first["findings_by_type"] == {"kr.rrn": 3}
    assert first["category"] == "exposure"
    assert first["capture"]["archive"] == str(archive)
    assert first["capture"]["offset"] == 0
    assert first["capture"]["date"] == "2021-03-04T05:06:07+00:00"
    assert first["capture"]["digest"].startswith("sha1:")
    assert first["fetch"]["site"] == "bbs.example.cn"
    assert documents[1]["capture"]["offset"] > 0
    assert report["summary"]["errors_by_kind"] == {"recapture": 1}
    assert "captured again" not in result.stderr  # counted, not told one by one


def test_first_seen_is_the_capture_date_and_a_recapture_is_no_second_case(
    cli: Cli, tmp_path: Path
) -> None:
    rng = random.Random(2)
    page = member_page(rng, 2)
    archive = write_warc(tmp_path / "a.warc.gz", [
        Shot("http://bbs.example.cn/t/1", "2021-03-04T05:06:07Z", page),
        Shot("http://bbs.example.cn/t/1", "2022-03-04T05:06:07Z", page),
        Shot("http://bbs.example.cn/t/2", "2022-06-01T00:00:00Z", member_page(rng, 2)),
        Shot("http://bbs.example.cn/t/3", "2023-01-09T00:00:00Z", member_page(rng, 1)),
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
            "SELECT first_seen, last_seen, capture FROM documents WHERE key = ?",
            ("http://bbs.example.cn/t/1",),
        ).fetchone()
    assert (first_seen[:10], last_seen[:10]) == ("2021-03-04", "2022-03-04")
    assert json.loads(capture) == {
        "archive": str(archive), "offset": 0, "date": "2021-03-04T05:06:07+00:00",
        "digest": json.loads(capture)["digest"],
    }  # fmt: skip
    assert json.loads(capture)["digest"].startswith("sha1:")
    # Scanning the same archive again counts nothing twice.
    again, _ = scan_json(cli, str(archive), "--db", str(db), "-o", str(tmp_path / "again.json"))
    assert again.code == 0, again.stderr
    report = cli("report", "--db", str(db), "--year-basis", "first-seen", "-f", "json")
    assert json.loads(report.stdout)["totals"]["cases"] == 3


def test_archives_met_in_a_folder_are_sniffed_by_content(cli: Cli, tmp_path: Path) -> None:
    rng = random.Random(3)
    folder = tmp_path / "crawls"
    folder.mkdir()
    first = Shot("http://a.example.cn/1", "2021-03-01T00:00:00Z", member_page(rng, 1))
    write_warc(folder / "CC-MAIN-2021-10-00001.warc.gz", [first])
    # A WET file of extracted text, not named as one, and an uncompressed WARC.
    write_warc(folder / "text.bin", [Shot(
        "http://b.example.tw/2", "2022-04-01T00:00:00Z",
        f"韩国会员 身份证号：{synthetic.rrn(rng)}".encode(), kind="conversion")])  # fmt: skip
    write_warc(folder / "plain.warc",
               [Shot("http://c.example.hk/3", "2023-05-01T00:00:00Z", member_page(rng, 1))],
               compress=False)  # fmt: skip
    result, report = scan_json(cli, str(folder), "--no-store")
    assert result.code == 0, result.stderr
    sources = sorted(d["source"] for d in report["documents"])
    assert sources == ["http://a.example.cn/1", "http://b.example.tw/2", "http://c.example.hk/3"]
    assert report["summary"]["findings"] == 3


def test_a_revisit_record_is_not_scanned_again(cli: Cli, tmp_path: Path) -> None:
    rng = random.Random(4)
    archive = write_warc(tmp_path / "r.warc.gz", [
        Shot("http://bbs.example.cn/t/1", "2021-03-04T05:06:07Z", member_page(rng, 2)),
        Shot("http://bbs.example.cn/t/1", "2022-03-04T05:06:07Z", kind="revisit"),
    ])  # fmt: skip
    result, report = scan_json(cli, str(archive), "--no-store")
    assert result.code == 0, result.stderr
    assert len(report["documents"]) == 1
    assert report["summary"]["errors_by_kind"] == {"recapture": 1}


def test_a_broken_archive_fails_with_one_line_and_the_rest_is_scanned(
    cli: Cli, tmp_path: Path
) -> None:
    rng = random.Random(5)
    ok = Shot("http://ok.example.cn/1", "2021-01-01T00:00:00Z", member_page(rng, 1))
    good = write_warc(tmp_path / "good.warc.gz", [ok])
    whole = write_warc(tmp_path / "whole.warc.gz", [
        Shot("http://bbs.example.cn/t/1", "2021-03-04T05:06:07Z", member_page(rng, 2)),
        Shot("http://bbs.example.cn/t/2", "2021-03-05T05:06:07Z", member_page(rng, 2)),
    ])  # fmt: skip
    data = whole.read_bytes()
    second = data.index(b"\x1f\x8b", 10)  # the second record's gzip member
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(data[: second + 40])  # the second member cut short
    result, report = scan_json(cli, str(broken), str(good), "--no-store")
    assert result.code == 0, result.stderr
    assert [d["source"] for d in report["documents"]] == [
        "http://bbs.example.cn/t/1", "http://ok.example.cn/1",
    ]  # fmt: skip
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(broken) in lines[0]
    assert "broken archive" in lines[0]
    assert "Traceback" not in result.stderr
    # --strict: a failed input fails the run (exit 3), what was read is still written.
    strict, report = scan_json(cli, str(broken), "--no-store", "--strict")
    assert strict.code == 3, strict.stderr
    assert "broken archive" in strict.stderr
    assert [d["source"] for d in report["documents"]] == ["http://bbs.example.cn/t/1"]


def test_a_record_whose_target_is_not_a_url_fails_alone(cli: Cli, tmp_path: Path) -> None:
    rng = random.Random(6)
    archive = write_warc(tmp_path / "odd.warc.gz", [
        Shot("not a url", "2021-03-04T05:06:07Z", member_page(rng, 1)),
        Shot("http://bbs.example.cn/t/2", "2021-03-05T05:06:07Z", member_page(rng, 1)),
    ])  # fmt: skip
    result, report = scan_json(cli, str(archive), "--no-store")
    assert result.code == 0, result.stderr
    assert [d["source"] for d in report["documents"]] == ["http://bbs.example.cn/t/2"]
    assert "not a URL" in result.stderr
    assert report["summary"]["errors_by_kind"] == {"archive-record": 1}


def test_a_whole_file_gzipped_as_one_member_is_still_read(cli: Cli, tmp_path: Path) -> None:
    # Not how Common Crawl writes them, but `gzip crawl.warc` makes such files.
    rng = random.Random(7)
    plain = write_warc(tmp_path / "p.warc", [
        Shot("http://bbs.example.cn/t/1", "2021-03-04T05:06:07Z", member_page(rng, 1)),
        Shot("http://bbs.example.cn/t/2", "2021-03-05T05:06:07Z", member_page(rng, 1)),
    ], compress=False)  # fmt: skip
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(plain.read_bytes()))
    result, report = scan_json(cli, str(whole), "--no-store")
    assert "Traceback" not in result.stderr
    assert result.code == 0, result.stderr
    assert len(report["documents"]) == 2


def test_jobs_spread_records_over_workers_and_change_nothing(cli: Cli, tmp_path: Path) -> None:
    rng = random.Random(8)
    shots = [
        Shot(f"http://bbs{n % 3}.example.cn/t/{n}", f"202{n % 4}-0{1 + n % 9}-01T00:00:00Z",
             member_page(rng, 1 + n % 3))
        for n in range(40)
    ]  # fmt: skip
    archive = write_warc(tmp_path / "many.warc.gz", shots)
    outputs = []
    for jobs in ("1", "2"):
        result = cli("scan", str(archive), "--no-store", "-f", "jsonl", "--jobs", jobs)
        assert result.code == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        outputs.append([r for r in records if r["kind"] in ("finding", "document")])
    assert outputs[0] == outputs[1]
    assert sum(1 for r in outputs[0] if r["kind"] == "document") == 40
