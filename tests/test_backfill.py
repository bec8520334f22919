"""Backfills from web archives (`scan --archive`), against the real protocol: a real pywb,
Common Crawl's index and Range data host, and the Wayback Machine's CDX API and replay, all
on 127.0.0.1 (tests/archive_servers.py), over WARC files of a small dated site written with
warcio. The findings equal those of scanning the WARC files themselves; each payload is
fetched once; recaptures count once; first seen is the capture year; a killed backfill
resumes; an overloaded archive is waited out."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import synthetic
from tests.archive_servers import (
    Served,
    cc_index_server,
    pywb_server,
    range_server,
    wayback_cdx_server,
)
from tests.archives import Capture, IndexRow, write_warc
from tests.conftest import Result, assert_one_line_error

Cli = Callable[..., Result]
SITE = "http://bbs.example.cn/"
RRN_IN_URL = synthetic.rrn(random.Random(99))
CRAWLS = {
    "CC-MAIN-2021-10": "crawl-data/CC-MAIN-2021-10/segments/1/warc/CC-MAIN-2021-10-00000.warc.gz",
    "CC-MAIN-2022-21": "crawl-data/CC-MAIN-2022-21/segments/2/warc/CC-MAIN-2022-21-00000.warc.gz",
    "CC-MAIN-2023-23": "crawl-data/CC-MAIN-2023-23/segments/3/warc/CC-MAIN-2023-23-00000.warc.gz",
}


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def members(seed: int, rows: int) -> bytes:
    rng = random.Random(seed)
    cells = "".join(
        f"<tr><td>{synthetic.hangul_name(rng)}</td><td>{synthetic.rrn(rng)}</td>"
        f"<td>{synthetic.mobile(rng)}</td></tr>"
        for _ in range(rows)
    )
    return (
        '<html><head><meta charset="utf-8"><title>会员</title></head><body><p>韩国会员名单</p>'
        f"<table><tr><th>姓名</th><th>身份证号</th><th>手机</th></tr>{cells}</table></body></html>"
    ).encode()


def _site() -> dict[str, list[Capture]]:
    """Three yearly crawls of bbs.example.cn (and its www twin, a subdomain, a neighbour)."""
    one = Capture(f"{SITE}t/1", at("2021-03-04T05:06:07"), members(1, 3))
    two = Capture("http://www.bbs.example.cn/t/2", at("2021-03-05T00:00:00"), members(2, 2))
    return {
        "CC-MAIN-2021-10": [
            one,
            two,
            Capture(
                f"{SITE}logo.png", at("2021-03-05T00:00:01"), b"\x89PNG", content_type="image/png"
            ),
            Capture(f"{SITE}gone", at("2021-03-05T00:00:02"), b"", status=404),
        ],
        "CC-MAIN-2022-21": [
            Capture(one.url, at("2022-05-20T00:00:00"), one.body),  # an identical capture
            two.revisit(at("2022-05-21T00:00:00")),
            Capture(f"{SITE}t/3", at("2022-05-22T00:00:00"), members(3, 1)),
            Capture("http://m.bbs.example.cn/t/9", at("2022-05-23T00:00:00"), members(9, 2)),
            Capture("http://other.example.cn/x", at("2022-05-24T00:00:00"), members(8, 1)),
        ],
        "CC-MAIN-2023-23": [
            Capture(one.url, at("2023-06-01T00:00:00"), members(11, 4)),  # the page changed
            Capture(f"{SITE}t/4?jumin={RRN_IN_URL}", at("2023-06-02T00:00:00"), members(4, 1)),
        ],
    }


IN_SCOPE = {"bbs.example.cn", "www.bbs.example.cn"}
KEY = {"LEAKWATCH_KEY": "5a" * 32}  # one fingerprint key for the direct scan and the backfills


@dataclass
class Site:
    root: Path  # a data host's root: crawl-data/...
    rows: dict[str, list[IndexRow]]  # crawl id -> its index rows

    @property
    def files(self) -> list[Path]:
        return [self.root / name for name in CRAWLS.values()]

    @property
    def all_rows(self) -> list[IndexRow]:
        return [row for rows in self.rows.values() for row in rows]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("data")
    rows = {
        crawl: write_warc(root / CRAWLS[crawl], captures, filename=CRAWLS[crawl], requests=True)
        for crawl, captures in _site().items()
    }
    return Site(root, rows)


@pytest.fixture(scope="module")
def pywb(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with pywb_server(tmp_path_factory.mktemp("pywb"), "coll", site.files) as served:
        yield served


@pytest.fixture(scope="module")
def direct(site: Site, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The WARC files scanned directly: what every backfill must find."""
    out = tmp_path_factory.mktemp("direct") / "direct.json"
    done = subprocess.run(
        [sys.executable, "-m", "leakwatch", "scan", *map(str, site.files), "--no-store",
         "-f", "json", "-o", str(out)],
        capture_output=True, env={**os.environ, "NO_COLOR": "1", **KEY}, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(out.read_text())
    return report


def findings_of(report: dict[str, object], *, hosts: set[str] | None = None) -> Counter[tuple]:
    """(page URL, type, fingerprint) of every finding, of pages on `hosts` only if given."""
    documents = report["documents"]
    assert isinstance(documents, list)
    wanted = {d["source"] for d in documents if hosts is None or d["fetch"]["site"] in hosts}
    findings = report["findings"]
    assert isinstance(findings, list)
    return Counter(
        (f["source"], f["type"], f["fingerprint"]) for f in findings if f["source"] in wanted
    )


def backfill(
    cli: Cli,
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    db: Path | None = None,
    name: str = "out.json",
) -> tuple[Result, dict[str, object]]:
    out = tmp_path / name
    result = cli(
        "scan", "--delay", "0", "-f", "json", "-o", str(out),
        "--db", str(db or tmp_path / "store.db"), *args, env={**KEY, **(env or {})},
    )  # fmt: skip
    report = json.loads(out.read_text()) if out.exists() and out.stat().st_size else {}
    return result, report


def replays_of(served: Served) -> Counter[str]:
    return Counter({f"{ts} {url}": n for (ts, url), n in served.log.replays(None).items()})


# -- pywb ---------------------------------------------------------------------------------------


def test_a_pywb_backfill_finds_what_the_warc_files_hold_fetching_each_payload_once(
    cli: Cli, tmp_path: Path, pywb: Served, site: Site, direct: dict[str, object]
) -> None:
    pywb.log.clear()
    result, report = backfill(cli, tmp_path, "--archive", pywb.url("/coll/cdx"), SITE)
    assert result.code == 0, result.stderr
    assert findings_of(report) == findings_of(direct, hosts=IN_SCOPE)
    assert findings_of(report)  # the site holds identifiers: the comparison means something
    # Five payloads on the site's host and its www twin, each fetched once; the identical
    # 2022 capture, the revisit, the image, the 404, the subdomain and the neighbour never.
    replays = replays_of(pywb)
    assert sorted(replays.values()) == [1] * 5, replays
    assert not [k for k in replays if "m.bbs" in k or "other." in k or "logo" in k]
    assert report["summary"]["errors_by_kind"] == {"recapture": 2}
    # The live site was never contacted (it does not exist): no DNS, no error.
    assert "bbs.example.cn" not in result.stderr
    # Each document says where its record is and when it was captured.
    documents = {d["source"]: d for d in report["documents"]}
    first = documents[f"{SITE}t/1"]
    assert first["capture"]["date"] in ("2021-03-04T05:06:07+00:00", "2023-06-01T00:00:00+00:00")
    assert first["capture"]["archive"].startswith(pywb.url("/coll/"))
    assert first["fetch"]["target"] == SITE


def test_pages_are_scanned_by_the_workers_with_the_same_findings(
    cli: Cli, tmp_path: Path, pywb: Served, direct: dict[str, object]
) -> None:
    result, report = backfill(cli, tmp_path, "--archive", pywb.url("/coll/cdx"), "-j", "2", SITE)
    assert result.code == 0, result.stderr
    assert findings_of(report) == findings_of(direct, hosts=IN_SCOPE)


def test_pages_are_scanned_on_a_cluster_with_the_same_findings(
    cli: Cli, tmp_path: Path, pywb: Served, direct: dict[str, object]
) -> None:
    archive = pywb.url("/coll/cdx")
    result, report = backfill(cli, tmp_path, "--archive", archive, "--cluster", "local:2", SITE)
    assert result.code == 0, result.stderr
    assert findings_of(report) == findings_of(direct, hosts=IN_SCOPE)


def test_a_replayed_page_is_cut_at_max_bytes_and_said_so(
    cli: Cli, tmp_path: Path, pywb: Served
) -> None:
    result, report = backfill(
        cli, tmp_path, "--archive", pywb.url("/coll/cdx"), "--max-bytes", "400", SITE
    )
    assert result.code == 0, result.stderr
    cut = [i for i in report["errors"] if i["kind"] == "partial"]
    assert cut, report["errors"]
    assert all("400 bytes" in i["message"] for i in cut)
    assert all(d["size"] <= 400 for d in report["documents"])


def test_a_second_backfill_fetches_nothing_it_recorded_and_counts_nothing_twice(
    cli: Cli, tmp_path: Path, pywb: Served
) -> None:
    archive = pywb.url("/coll/cdx")
    result, _ = backfill(cli, tmp_path, "--archive", archive, SITE)
    assert result.code == 0, result.stderr
    before = cli("report", "--db", str(tmp_path / "store.db"), "-f", "json")
    pywb.log.clear()
    again, report = backfill(cli, tmp_path, "--archive", archive, SITE, name="again.json")
    assert again.code == 0, again.stderr
    assert replays_of(pywb) == Counter()  # every payload is in the store already
    assert pywb.log.count("/coll/cdx") >= 1
    assert report["summary"]["errors_by_kind"] == {"recapture": 7}
    after = cli("report", "--db", str(tmp_path / "store.db"), "-f", "json")
    assert json.loads(after.stdout)["totals"] == json.loads(before.stdout)["totals"]


def test_first_seen_is_each_pages_first_capture_year(
    cli: Cli, tmp_path: Path, pywb: Served
) -> None:
    result, _ = backfill(cli, tmp_path, "--archive", pywb.url("/coll/cdx"), SITE)
    assert result.code == 0, result.stderr
    report = cli("report", "--db", str(tmp_path / "store.db"), "--year-basis", "first-seen",
                 "-f", "json")  # fmt: skip
    assert report.code == 0, report.stderr
    years = {row["year"]: row["cases"] for row in json.loads(report.stdout)["years"]}
    # t/1 (2021, changed in 2023: still one case, of 2021), t/2 (2021), t/3 (2022), t/4 (2023)
    assert years == {2021: 2, 2022: 1, 2023: 1}


def test_since_until_and_max_pages_bound_what_is_fetched(
    cli: Cli, tmp_path: Path, pywb: Served
) -> None:
    pywb.log.clear()
    result, report = backfill(
        cli, tmp_path, "--archive", pywb.url("/coll/cdx"), "--since", "2022", "--until",
        "2022-12-31", SITE,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert {d["source"] for d in report["documents"]} == {f"{SITE}t/1", f"{SITE}t/3"}
    pywb.log.clear()
    limited, report = backfill(
        cli, tmp_path, "--archive", pywb.url("/coll/cdx"), "--max-pages", "2", "--scope",
        "domain", SITE, db=tmp_path / "other.db", name="limited.json",
    )  # fmt: skip
    assert limited.code == 0, limited.stderr
    assert sum(replays_of(pywb).values()) == 2
    domain, report = backfill(
        cli, tmp_path, "--archive", pywb.url("/coll/cdx"), "--scope", "domain", SITE,
        db=tmp_path / "domain.db", name="domain.json",
    )  # fmt: skip
    assert domain.code == 0, domain.stderr
    sites = {d["fetch"]["site"] for d in report["documents"]}
    assert sites == {"bbs.example.cn", "www.bbs.example.cn", "m.bbs.example.cn"}


def test_no_identifier_from_a_url_is_written_anywhere(
    cli: Cli, tmp_path: Path, pywb: Served
) -> None:
    result, _ = backfill(cli, tmp_path, "--archive", pywb.url("/coll/cdx"), SITE)
    assert result.code == 0, result.stderr
    written = [tmp_path / "out.json", tmp_path / "store.db"]
    for path in written:
        assert RRN_IN_URL.encode() not in path.read_bytes(), path
        assert RRN_IN_URL.replace("-", "").encode() not in path.read_bytes(), path
    assert RRN_IN_URL not in result.stdout + result.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    masked = [d for d in report["documents"] if "t/4" in d["source"]]
    assert len(masked) == 1
    assert "*" in masked[0]["capture"]["archive"]


# -- Common Crawl -------------------------------------------------------------------------------


def test_a_common_crawl_backfill_reads_each_record_by_range_once(
    cli: Cli, tmp_path: Path, site: Site, direct: dict[str, object]
) -> None:
    with cc_index_server(site.rows, page_size=2) as index, range_server(site.root) as data:
        env = {"LEAKWATCH_CC_INDEX": index.base, "LEAKWATCH_CC_DATA": data.base}
        result, report = backfill(cli, tmp_path, "--archive", "cc", SITE, env=env)
        assert result.code == 0, result.stderr
        assert findings_of(report) == findings_of(direct, hosts=IN_SCOPE)
        ranged = [e for e in data.log.entries if e.status == 206]
        assert len(ranged) == 5
        assert len({(e.path, e.range) for e in ranged}) == 5
        assert all(e.range for e in data.log.entries)  # never a whole file
        assert index.log.count("/collinfo.json") == 1
        # Paged (2 rows a page): every page of each crawl's index was read.
        assert any("page=1" in e.target for e in index.log.entries)
        documents = {d["source"]: d for d in report["documents"]}
        capture = documents[f"{SITE}t/3"]["capture"]
        row = next(r for r in site.rows["CC-MAIN-2022-21"] if r.url == f"{SITE}t/3")
        assert capture["archive"] == f"{data.base}/{row.filename}"
        assert capture["offset"] == row.offset
        assert capture["date"] == "2022-05-22T00:00:00+00:00"

        # --since: crawls that end before it are not asked at all.
        index.log.clear()
        later, _ = backfill(cli, tmp_path, "--archive", "cc", "--since", "2023", SITE, env=env,
                            db=tmp_path / "later.db", name="later.json")  # fmt: skip
        assert later.code == 0, later.stderr
        asked = {e.path for e in index.log.entries}
        assert asked == {"/collinfo.json", "/CC-MAIN-2023-23-index"}

        # Pages of the index left empty by the dates answer 404 "No Captures found": nothing.
        index.log.clear()
        day, report = backfill(cli, tmp_path, "--archive", "cc", "--since", "2022-05-22",
                               "--until", "2022-05-22", SITE, env=env, db=tmp_path / "day.db",
                               name="day.json")  # fmt: skip
        assert day.code == 0, day.stderr
        assert index.log.count(status=404) >= 1
        assert {d["source"] for d in report["documents"]} == {f"{SITE}t/3"}

        # cc:ID names the crawls itself (collinfo.json is not needed).
        index.log.clear()
        named, report = backfill(cli, tmp_path, "--archive", "cc:CC-MAIN-2022-21", SITE, env=env,
                                 db=tmp_path / "named.db", name="named.json")  # fmt: skip
        assert named.code == 0, named.stderr
        assert {e.path for e in index.log.entries} == {"/CC-MAIN-2022-21-index"}
        assert {d["source"] for d in report["documents"]} == {f"{SITE}t/1", f"{SITE}t/3"}


def test_an_index_that_refuses_is_one_line_and_exit_3(cli: Cli, tmp_path: Path, site: Site) -> None:
    with cc_index_server(site.rows) as index, range_server(site.root) as data:
        env = {"LEAKWATCH_CC_INDEX": index.base, "LEAKWATCH_CC_DATA": data.base}
        result, _ = backfill(cli, tmp_path, "--archive", "cc:CC-MAIN-1999-01", SITE, env=env)
    assert result.code == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, result.stderr  # the index's refusal, then the run's verdict
    assert "HTTP 404" in lines[0]
    assert "CC-MAIN-1999-01" in lines[0]
    assert lines[1].startswith("leakwatch: error: the archive's index could not be read")
    assert "Traceback" not in result.stderr


def test_a_site_the_archive_never_captured_is_a_note_not_a_failure(
    cli: Cli, tmp_path: Path, pywb: Served
) -> None:
    result, report = backfill(
        cli, tmp_path, "--archive", pywb.url("/coll/cdx"), "--since", "2021-03", "--until",
        "2023", "http://never.example.cn/",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.stderr.strip() == (
        "leakwatch: nothing found for http://never.example.cn/: the archive holds no capture "
        "of it from 2021-03 to 2023"
    )
    assert report["summary"]["documents"] == 0


# -- the Wayback Machine ------------------------------------------------------------------------


def test_a_wayback_backfill_pages_with_resume_keys_and_waits_out_a_503(
    cli: Cli, tmp_path: Path, site: Site, direct: dict[str, object]
) -> None:
    with wayback_cdx_server(site.all_rows, site.root, failures=[503], retry_after="1") as ia:
        env = {"LEAKWATCH_IA": ia.base, "LEAKWATCH_CDX_ROWS": "2"}
        started = time.monotonic()
        result, report = backfill(cli, tmp_path, "--archive", "ia", SITE, env=env)
        took = time.monotonic() - started
        assert result.code == 0, result.stderr
        assert findings_of(report) == findings_of(direct, hosts=IN_SCOPE)
        statuses = ia.log.statuses()
        assert statuses[0] == 503
        assert statuses.count(503) == 1
        assert took >= 1.0  # the Retry-After was waited out
        assert any("resumeKey=" in e.target for e in ia.log.entries)
        assert sorted(replays_of(ia).values()) == [1] * 5


def test_an_archive_that_asks_for_hours_is_left_alone(cli: Cli, tmp_path: Path, site: Site) -> None:
    with wayback_cdx_server(site.all_rows, site.root, failures=[429], retry_after="3600") as ia:
        result, _ = backfill(cli, tmp_path, "--archive", "ia", SITE, env={"LEAKWATCH_IA": ia.base})
        assert len(ia.log) == 1  # not asked again, not even after the 120 s a crawl would wait
    assert result.code == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == (
        "leakwatch: could not read 127.0.0.1: the archive asks for 3,600 s without requests: "
        "stopped asking it; --resume later goes on from here"
    )
    assert lines[1].startswith("leakwatch: error: the archive's index could not be read")


# -- resuming ---------------------------------------------------------------------------------


def test_a_killed_backfill_resumes_without_refetching_what_it_recorded(
    tmp_path: Path, pywb: Served
) -> None:
    db, home = tmp_path / "store.db", tmp_path / "home"
    env = {**os.environ, "LEAKWATCH_HOME": str(home), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "leakwatch", "scan", "--archive", pywb.url("/coll/cdx"),
               "--db", str(db), "-f", "jsonl", "-q", "--delay", "2", SITE]  # fmt: skip
    pywb.log.clear()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:  # wait until one page is out (recorded before it is written)
            if json.loads(line).get("kind") == "document":
                break
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    first = replays_of(pywb)
    assert 1 <= sum(first.values()) < 5
    with sqlite3.connect(db) as connection:
        recorded = connection.execute("SELECT count(*) FROM captures").fetchone()[0]
    assert recorded >= 1
    pywb.log.clear()
    resumed = subprocess.run(
        [sys.executable, "-m", "leakwatch", "scan", "--resume", "--db", str(db), "-f", "json",
         "-q", "--delay", "0"],
        capture_output=True, env=env, cwd=tmp_path, check=False, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    second = replays_of(pywb)
    assert sum(second.values()) == 5 - recorded  # what was recorded is not fetched again
    assert not set(second) & {k for k, n in first.items() if n} or sum(first.values()) > recorded
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM captures").fetchone()[0] == 5
        # The resumed run is a backfill on record too: a resume of it backfills, never crawls.
        (settings,) = connection.execute("SELECT settings FROM runs ORDER BY id DESC").fetchone()
    assert json.loads(settings)["archive"]["source"] == pywb.url("/coll/cdx")


# -- usage --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--archive", "cx"], "use cc, cc:CRAWL-ID"),
        (["--archive", "cc:2023-50"], "CC-MAIN-YYYY-WW"),
        (["--archive", "ia", "--archive-data", "http://127.0.0.1:1/"], "--archive-data"),
        (["--since", "2021"], "--since: only with --archive"),
        (["--archive", "ia", "README.md"], "give their URLs"),
        (["--archive", "ia", "--since", "2021-13"], "no such date"),
        (["--archive", "ia", "--since", "last year"], "not a date"),
        (["--archive", "ia", "--since", "2023", "--until", "2021"], "is after --until"),
    ],
)
def test_bad_archive_options_are_usage_errors(cli: Cli, args: list[str], fragment: str) -> None:
    target = [] if "README.md" in args else [SITE]
    assert_one_line_error(cli("scan", *args, *target), 2, fragment)
