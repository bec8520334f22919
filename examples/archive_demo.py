"""The README's backfill demo: the bundled example site as a web archive captured over five
years, backfilled through a CDX server, then the yearly report with growth.

    python examples/archive_demo.py    # what `make demo-archive` runs

The site's pages (examples/site, all synthetic) are written into one WARC file per yearly
"crawl", 2020 to 2024, as a crawler would have captured them: some pages appear in a later
year, some are captured again unchanged (they count once, in their first year), reposts of
a sale post appear under new URLs. When pywb is installed (it is in the dev extra that
`make test` installs; GPL-3.0, so never a runtime dependency of leakwatch) it serves the
archive on 127.0.0.1 and leakwatch backfills through its CDX index (`scan --archive
http://127.0.0.1:PORT/demo/cdx`), exactly as it would from Common Crawl or the Wayback
Machine; without pywb it reads the WARC files directly (`scan crawl-2020.warc.gz ...`). Then
`leakwatch report --year-basis first-seen --baseline 2020` counts each page in the year it
was first captured. The demo records into a store of its own in a temporary folder.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

SITE = Path(__file__).resolve().parent / "site"
HOST = "http://bbs.example.cn"
# (capture date, page under examples/site, URL path it was captured at; a repost: None = the
# page itself). A page captured again unchanged is one case, of its first year.
TIMELINE = [
    ("2020-05-11", "index.html", "/"),
    ("2020-05-11", "forum.html", "/forum.html"),
    ("2020-05-12", "thread-1005.html", "/thread-1005.html"),
    ("2021-04-02", "forum.html", "/forum.html"),
    ("2021-04-02", "thread-1005.html", "/thread-1005.html"),
    ("2021-04-03", "files/members.json", "/files/members.json"),
    ("2021-04-04", "thread-1005.html", "/thread-2101.html"),
    ("2022-03-20", "thread-1003.html", "/thread-1003.html"),
    ("2022-03-21", "thread-1004.html", "/thread-1004.html"),
    ("2022-03-22", "thread-1001.html", "/thread-2201.html"),
    ("2022-03-23", "news.html", "/news.html"),
    ("2023-07-05", "thread-1001.html", "/thread-1001.html"),
    ("2023-07-06", "thread-1002.html", "/thread-1002.html"),
    ("2023-07-07", "files/customers-2023.csv", "/files/customers-2023.csv"),
    ("2023-07-08", "thread-1005.html", "/thread-2301.html"),
    ("2024-02-14", "thread-1001.html", "/thread-1001.html"),
    ("2024-02-15", "thread-1002.html", "/thread-2401.html"),
    ("2024-02-16", "thread-1001.html", "/thread-2402.html"),
    ("2024-02-17", "files/members.json", "/files/members-2024.json"),
]
# HTML as many servers send it, without a charset: the pages' own <meta> says GBK or Big5.
TYPES = {".html": "text/html", ".json": "application/json",
         ".csv": "text/csv; charset=utf-8"}  # fmt: skip


def page(path: str, url_path: str, date: str) -> bytes:
    """The page as captured. A sale post reposted under another URL carries the board's
    repost line (another page, another case); a file copied under another name is the same
    content (one case, of its first copy's year)."""
    body = (SITE / path).read_bytes()
    if path.endswith(".html") and url_path not in (f"/{path}", "/"):
        return body.replace(b"</body>", f"<p>转帖 {date}</p></body>".encode(), 1)
    return body


def write_archives(folder: Path) -> list[Path]:
    """One WARC file per year of TIMELINE, each record its own gzip member."""
    files: dict[str, Path] = {}
    for date, path, url_path in TIMELINE:
        year = date[:4]
        warc = files.setdefault(year, folder / f"crawl-{year}.warc.gz")
        body = page(path, url_path, date)
        headers = StatusAndHeaders(
            "200 OK",
            [("Content-Type", TYPES[Path(path).suffix]), ("Content-Length", str(len(body)))],
            protocol="HTTP/1.1",
        )
        with warc.open("ab") as stream:
            writer = WARCWriter(stream, gzip=True)
            record = writer.create_warc_record(
                HOST + url_path,
                "response",
                payload=BytesIO(body),
                http_headers=headers,
                warc_headers_dict={"WARC-Date": f"{date}T08:00:00Z"},
            )
            writer.write_record(record)
            record.raw_stream.close()
    return list(files.values())


def leakwatch() -> list[str]:
    script = Path(sys.executable).parent / "leakwatch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "leakwatch"]


@contextmanager
def pywb(folder: Path, files: list[Path]) -> Iterator[str]:
    """pywb serving `files` as collection `demo` on a free loopback port: its CDX URL."""
    for command in (["init", "demo"], ["add", "demo", *map(str, files)]):
        subprocess.run([sys.executable, "-m", "pywb.manager.manager", *command], cwd=folder,
                       check=True, capture_output=True)  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (folder / "pywb.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "pywb.apps.cli", "-b", "127.0.0.1", "-p", str(port)],
        cwd=folder, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pywb did not start (see {folder / 'pywb.log'})")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/demo/cdx"
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _summary(found: Path) -> str:
    """The scan's totals, from the summary line of its JSON Lines output."""
    for line in found.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("kind") == "summary":
            again = record.get("errors_by_kind", {}).get("recapture", 0)
            return (
                f"demo: {record['documents']} pages scanned, {record['findings']} findings, "
                f"{again} unchanged recaptures counted once\n"
            )
    return ""


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="leakwatch-archive-demo-") as temporary:
        folder = Path(temporary)
        files = write_archives(folder)
        store = ["--db", str(folder / "demo.db")]
        years = f"{TIMELINE[0][0][:4]}-{TIMELINE[-1][0][:4]}"
        report = [*leakwatch(), "report", *store, "--year-basis", "first-seen", "--baseline",
                  "2020"]  # fmt: skip
        found = folder / "findings.jsonl"
        output = [*store, "-f", "jsonl", "-o", str(found), "-q"]
        try:
            if importlib.util.find_spec("pywb") is None:
                print(f"demo: pywb is not installed; reading the {len(files)} yearly WARC files "
                      f"of {HOST} ({years}) directly", file=sys.stderr, flush=True)  # fmt: skip
                code = subprocess.call([*leakwatch(), "scan", *map(str, files), *output])
            else:
                with pywb(folder, files) as cdx:
                    say = f"pywb serves {len(files)} yearly crawls of {HOST} ({years}) at {cdx}"
                    print(f"demo: {say}; backfilling from its index", file=sys.stderr, flush=True)
                    code = subprocess.call([*leakwatch(), "scan", "--archive", cdx, "--delay",
                                            "0", f"{HOST}/", *output])  # fmt: skip
            if code not in (0, 1):
                return code
            print(_summary(found), file=sys.stderr)
            return subprocess.call(report)
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    raise SystemExit(main())
