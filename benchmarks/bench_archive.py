"""Archive scan throughput and peak memory: leakwatch next to a baseline that only reads the
records with the same reader (warcio), same invocation.

    python benchmarks/bench_archive.py                # 100 MB WARC.gz of ~30 KB pages, seed 1
    python benchmarks/bench_archive.py --mb 1000      # the memory target (under 300 MB)
    python benchmarks/bench_archive.py --backfill --mb 20   # CDX backfill pages/s from pywb

The archive is generated once (seeded, cached in benchmarks/.data/): HTML pages of Chinese
prose, about 30 KB each, a few of them holding Korean identifiers, captured over 2020-2025,
every record its own gzip member as Common Crawl writes them. The baseline
(`--run-baseline FILE`) iterates every record and reads its HTTP payload: what any archive
tool must do before it looks at a byte, so leakwatch/baseline is the price of the scan
itself. leakwatch runs as users run it: `leakwatch scan FILE -f jsonl -o OUT -q --no-store`.
Wall time includes interpreter start-up; memory is the process tree's peak resident set.

`--backfill` serves the archive with a real pywb on 127.0.0.1 (the dev extra's; behind the
tests' counting proxy) and backfills its 40 sites through the CDX index (`leakwatch scan
--archive URL/cdx -l sites --delay 0 --no-store`), next to a baseline client (httpx, one
request at a time) that asks the index for the same sites and fetches every capture's raw
replay without scanning it: leakwatch/baseline is the price of scanning, recording the
output and being polite (one request to the archive at a time, as leakwatch makes them).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import corpus  # noqa: E402
from bench_detect import measure  # noqa: E402

MB = corpus.MB
PAGE_CHARS = 10_000  # about 30 KB of UTF-8 Chinese
TARGET_RSS_MB = 300.0


def generate(seed: int, mb: int) -> Path:
    """A seeded WARC.gz of about `mb` MB (cached)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = HERE / ".data" / f"archive-seed{seed}-{mb}mb.warc.gz"
    if path.exists():
        return path
    path.parent.mkdir(exist_ok=True)
    rng = random.Random(seed)
    partial = path.with_suffix(".part")
    with partial.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        number = 0
        while out.tell() < mb * MB:
            number += 1
            # A forum post: about 60 paragraphs of prose lines (look-alike numbers in some),
            # and in one post of ten a line with a Korean identifier.
            lines: list[str] = []
            while sum(map(len, lines)) < PAGE_CHARS:
                lines.append(corpus.make_line(rng)[0].strip())
            if number % 10 == 0:
                lines.insert(rng.randrange(len(lines)), corpus.korean(rng)[1])
            body = "".join(f"<p>{line}</p>\n" for line in lines)
            html = (f'<html><head><meta charset="utf-8"><title>帖子 {number}</title></head>'
                    f"<body>{body}</body></html>").encode()  # fmt: skip
            year = 2020 + number % 6
            date = f"{year}-{1 + number % 12:02d}-{1 + number % 28:02d}T10:00:00Z"
            http = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            record = writer.create_warc_record(
                f"http://bbs{number % 40}.example.cn/thread-{number}.html", "response",
                payload=io.BytesIO(html), http_headers=http, warc_headers_dict={"WARC-Date": date},
            )  # fmt: skip
            writer.write_record(record)
    partial.rename(path)
    return path


def run_baseline(path: str) -> int:
    """Read every record's payload with warcio; print the record and byte counts."""
    from warcio.archiveiterator import ArchiveIterator

    records = payload = 0
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type == "response":
                payload += len(record.content_stream().read())
                records += 1
    print(json.dumps({"records": records, "payload": payload}))
    return 0


SITES = 40  # the generated archive's pages are spread over bbs0..bbs39.example.cn


def run_fetch_baseline(cdx: str) -> int:
    """List each site's captures and fetch every raw replay, scanning nothing; print counts."""
    import httpx

    replay = cdx.removesuffix("/cdx") + "/"
    pages = payload = 0
    with httpx.Client(timeout=60) as client:
        for number in range(SITES):
            listing = client.get(cdx, params={"url": f"bbs{number}.example.cn",
                                              "matchType": "host", "output": "json"})  # fmt: skip
            for line in listing.text.splitlines():
                row = json.loads(line)
                payload += len(client.get(f"{replay}{row['timestamp']}id_/{row['url']}").content)
                pages += 1
    print(json.dumps({"pages": pages, "payload": payload}))
    return 0


def backfill(archive: Path, env: dict[str, str]) -> int:
    """Backfill pages/s from a local pywb: leakwatch next to the fetch-only baseline."""
    from tests.archive_servers import pywb_server

    leakwatch = [sys.executable, "-m", "leakwatch"]
    with (
        tempfile.TemporaryDirectory() as scratch,
        pywb_server(Path(scratch), "bench", [archive], timeout=600) as served,
    ):
        cdx = served.url("/bench/cdx")
        sites = Path(scratch) / "sites.txt"
        sites.write_text("".join(f"http://bbs{n}.example.cn/\n" for n in range(SITES)))
        out = Path(scratch) / "out"
        base_s, base_rss = measure([sys.executable, __file__, "--run-fetch-baseline", cdx],
                                   out, env)  # fmt: skip
        counted = json.loads(out.read_text())
        found = Path(scratch) / "found.jsonl"
        lw_s, lw_rss = measure([*leakwatch, "scan", "--archive", cdx, "-l", str(sites),
                                "--delay", "0", "--no-store", "-q", "-f", "jsonl", "-o",
                                str(found)], out, env)  # fmt: skip
        records = [json.loads(line) for line in found.open()]
        replays = sum(served.log.replays().values())
    pages = counted["pages"]
    documents = sum(1 for r in records if r.get("kind") == "document")
    findings = sum(1 for r in records if r.get("kind") == "finding")
    print(f"backfill: {archive.name} served by pywb, {SITES} sites, {pages:,} captures")
    for name, seconds, rss in (("baseline (list + fetch only)", base_s, base_rss),
                               ("leakwatch scan --archive", lw_s, lw_rss)):  # fmt: skip
        print(f"  {name:30} {seconds:7.2f} s  {pages / seconds:8.1f} pages/s  "
              f"peak {rss / MB:6.1f} MB")  # fmt: skip
    print(f"  leakwatch/baseline time: {lw_s / base_s:.2f}x; documents {documents:,}, "
          f"findings {findings:,}; replays fetched by both: {replays:,} "
          f"(each capture once per client: {replays == 2 * pages})")  # fmt: skip
    return 0


def compare_readers(path: Path) -> None:
    """Read every response payload with warcio and, when it is installed, FastWARC: the
    measurement behind the choice of reader (docs/scanning.md "Web archive files")."""
    from warcio.archiveiterator import ArchiveIterator as WarcioIterator

    started = time.perf_counter()
    with path.open("rb") as stream:
        warcio_bytes = sum(
            len(record.content_stream().read())
            for record in WarcioIterator(stream)
            if record.rec_type == "response"
        )
    warcio_s = time.perf_counter() - started
    print(f"  readers: warcio {warcio_s:.2f} s ({warcio_bytes / MB:.1f} MB of payload)", end="")
    try:
        from fastwarc.warc import ArchiveIterator, WarcRecordType  # type: ignore[import-not-found]
    except ImportError:
        print("; FastWARC not installed (pip install fastwarc to compare)")
        return
    started = time.perf_counter()
    with path.open("rb") as stream:
        records = ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=True)
        fast_bytes = sum(len(record.reader.read()) for record in records)
    fast_s = time.perf_counter() - started
    print(f"; FastWARC {fast_s:.2f} s ({fast_bytes / MB:.1f} MB): {warcio_s / fast_s:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mb", type=int, default=100, help="archive size in MB (default 100)")
    parser.add_argument("--run-baseline", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--run-fetch-baseline", metavar="CDX", help=argparse.SUPPRESS)
    parser.add_argument(
        "--backfill", action="store_true", help="measure a CDX backfill from a local pywb instead"
    )
    parser.add_argument("--json", metavar="FILE", help="also write results as JSON")
    parser.add_argument(
        "--readers", action="store_true", help="also time warcio against FastWARC (if installed)"
    )
    args = parser.parse_args()
    if args.run_baseline:
        return run_baseline(args.run_baseline)
    if args.run_fetch_baseline:
        return run_fetch_baseline(args.run_fetch_baseline)
    archive = generate(args.seed, args.mb)
    size = archive.stat().st_size
    env = {**os.environ, "LEAKWATCH_HOME": tempfile.mkdtemp(prefix="bench-archive-")}
    if args.backfill:
        return backfill(archive, env)
    leakwatch = [sys.executable, "-m", "leakwatch"]
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "out"
        base_s, base_rss = measure([sys.executable, __file__, "--run-baseline", str(archive)],
                                   out, env)  # fmt: skip
        counted = json.loads(out.read_text())
        lw_s, lw_rss = measure([*leakwatch, "scan", str(archive), "--no-store", "-q",
                                "-f", "jsonl", "-o", str(Path(scratch) / "found.jsonl")],
                               out, env)  # fmt: skip
        found = [json.loads(line) for line in (Path(scratch) / "found.jsonl").open()]
    documents = sum(1 for r in found if r.get("kind") == "document")
    findings = sum(1 for r in found if r.get("kind") == "finding")
    records = counted["records"]
    rows = [
        ("baseline (warcio, read only)", base_s, base_rss),
        ("leakwatch scan", lw_s, lw_rss),
    ]
    print(f"archive: {archive.name}, {size / MB:.1f} MB, {records:,} response records "
          f"({counted['payload'] / MB:.1f} MB of payload)")  # fmt: skip
    for name, seconds, rss in rows:
        print(f"  {name:30} {seconds:7.2f} s  {records / seconds:8.0f} records/s  "
              f"{size / MB / seconds:6.1f} MB/s  peak {rss / MB:6.1f} MB")  # fmt: skip
    print(f"  leakwatch/baseline time: {lw_s / base_s:.2f}x; documents {documents:,}, "
          f"findings {findings:,}; peak memory target < {TARGET_RSS_MB:.0f} MB: "
          f"{'met' if lw_rss / MB < TARGET_RSS_MB else 'NOT met'}")  # fmt: skip
    if args.readers:
        compare_readers(archive)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "archive_mb": size / MB, "records": records, "documents": documents,
            "findings": findings, "baseline_s": base_s, "leakwatch_s": lw_s,
            "ratio": lw_s / base_s, "leakwatch_peak_mb": lw_rss / MB,
            "baseline_peak_mb": base_rss / MB,
        }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
