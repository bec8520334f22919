"""`leakwatch scan URL` run for real against servers on 127.0.0.1: targets files, output,
exit codes, Ctrl-C, bad options, and the README's demo."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import synthetic
from tests.conftest import REPO, Result
from tests.webserver import Handler, Reply, Site, html, serve

Cli = Callable[..., Result]
RRN = synthetic.rrn(random.Random(11))
LEAK = html("유출", f"<p>성명: 김민준 주민등록번호: {RRN}</p>")


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as server:
        server.page("/", html("home", '<a href="/leak">leak</a> <a href="/gone">gone</a>'))
        server.page("/leak", LEAK)
        yield server


def report(result: Result) -> dict[str, Any]:
    assert result.code in (0, 1), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_scan_url_reports_findings_and_page_facts(cli: Cli, site: Site) -> None:
    result = cli("scan", site.url("/"), "--delay", "0", "-f", "json")
    data = report(result)
    assert [f["masked"] for f in data["findings"]] == [RRN[:8] + "******"]
    assert RRN not in result.stdout + result.stderr
    leak = next(d for d in data["documents"] if d["source"] == site.url("/leak"))
    assert leak["category"] == "exposure"
    assert leak["fetch"]["depth"] == 1
    assert leak["fetch"]["status"] == 200
    assert leak["fetch"]["target"] == site.url("/")
    assert data["errors"] == [{"source": site.url("/gone"), "kind": "http", "message": "HTTP 404"}]
    assert data["summary"]["pages"] == {"failed": 1, "scanned": 2}
    assert data["run"]["depth"] == 2
    assert data["run"]["ignore_robots"] is False
    assert result.code == 0  # a page failed, the run completed


def test_strict_makes_a_failed_page_exit_3(cli: Cli, site: Site) -> None:
    result = cli("scan", site.url("/"), "--delay", "0", "--strict", "-q", "-f", "json")
    assert result.code == 3
    assert "1 inputs or pages could not be scanned (--strict)" in result.stderr
    assert report_of(result)["findings"]  # what was found is still written


def report_of(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_no_target_fetched_exits_3(cli: Cli) -> None:
    with serve() as server:
        port = server.port  # closed when the block ends: nothing listens there any more
    result = cli("scan", f"http://127.0.0.1:{port}/", "--delay", "0", "-f", "json", "-q")
    assert result.code == 3
    assert "no target could be fetched" in result.stderr
    assert "Traceback" not in result.stderr
    errors = report_of(result)["errors"]
    assert errors[0]["kind"] in ("connection", "robots")


def test_targets_file_with_comments_settings_and_a_bad_line(
    cli: Cli, site: Site, tmp_path: Path
) -> None:
    dump = tmp_path / "dump.csv"
    dump.write_text(f"성명,주민등록번호\n김민준,{RRN}\n", encoding="utf-8")
    targets = tmp_path / "targets.txt"
    targets.write_text(
        "# sites to watch\n"
        f"{site.url('/')}   country=cn depth=1   # the forum\n"
        "\n"
        f"{site.url('/x')} colour=red\n"
        f"{dump}\n",
        encoding="utf-8",
    )
    result = cli("scan", "-l", str(targets), "--delay", "0", "-f", "json")
    data = report(result)
    problems = [e for e in data["errors"] if e["kind"] == "target"]
    assert problems == [
        {"source": f"{targets}:4", "kind": "target",
         "message": "unknown setting 'colour' (known: country, depth, max-pages, scope, "
                    "per-host)"},
    ]  # fmt: skip
    assert f"{targets}:4" in result.stderr
    countries = {d["fetch"]["country"] for d in data["documents"] if "fetch" in d}
    assert countries == {"CN"}
    sources = {d["source"] for d in data["documents"]}
    assert {site.url("/"), site.url("/leak"), str(dump)} <= sources
    assert result.code == 0


def test_targets_from_stdin(cli: Cli, site: Site) -> None:
    result = cli("scan", "-l", "-", "--delay", "0", "-f", "json", stdin=site.url("/leak").encode())
    assert len(report(result)["findings"]) == 1


def test_missing_targets_file_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("scan", "-l", str(tmp_path / "nope.txt"))
    assert result.code == 2
    assert result.stderr.strip().startswith("leakwatch: error: --targets-file")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--max-bytes", "lots"], "--max-bytes"),
        (["--proxy", "ftp://user:secret@proxy:21"], "--proxy"),
        (["--scope", "planet"], "--scope"),
        (["--concurrency", "0"], "--concurrency"),
        (["--user-agent", "Bot\u00fc/1.0"], "--user-agent"),
        (["--delay", "inf"], "--delay"),
        (["--timeout", "nan"], "--timeout"),
    ],
)
def test_bad_crawl_options_are_one_line_errors(
    cli: Cli, site: Site, option: list[str], message: str
) -> None:
    result = cli("scan", site.url("/"), *option)
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]
    assert "secret" not in result.stderr


def test_ignore_robots_is_explicit_and_recorded(cli: Cli, site: Site) -> None:
    site.page("/robots.txt", "User-agent: *\nDisallow: /\n", "text/plain")
    obeyed = cli("scan", site.url("/leak"), "--delay", "0", "-f", "json", "-q")
    assert obeyed.code == 3  # the only target was disallowed: nothing could be fetched
    assert report_of(obeyed)["errors"][0]["kind"] == "robots"
    ignored = report(
        cli("scan", site.url("/leak"), "--delay", "0", "-f", "json", "--ignore-robots")
    )
    assert ignored["run"]["ignore_robots"] is True
    assert len(ignored["findings"]) == 1


def test_jsonl_streams_crawl_results(cli: Cli, site: Site) -> None:
    result = cli("scan", site.url("/"), "--delay", "0", "-f", "jsonl")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [line["kind"] for line in lines]
    assert kinds[0] == "run"
    assert kinds[-1] == "summary"
    assert {"finding", "document", "error"} <= set(kinds)
    errors = [line for line in lines if line["kind"] == "error"]
    assert errors == [{"schema_version": 1, "kind": "error", "source": site.url("/gone"),
                       "error_kind": "http", "message": "HTTP 404"}]  # fmt: skip


def test_ctrl_c_stops_the_crawl_and_keeps_what_was_found(tmp_path: Path) -> None:
    with serve() as server:
        links = " ".join(f'<a href="/p{n}">p{n}</a>' for n in range(200))
        server.page("/", html("home", links))

        def slow(_h: Handler) -> Reply:
            time.sleep(0.2)
            return Reply(body=LEAK.encode())

        for n in range(200):
            server.routes[f"/p{n}"] = slow
        out = tmp_path / "out.jsonl"
        env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "leakwatch", "scan", server.url("/"), "--delay", "0",
             "-f", "jsonl", "-o", str(out), "-q"],
            stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while sum(server.hits.values()) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert b"Traceback" not in stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[-1]["kind"] == "summary"
    assert lines[-1]["interrupted"] is True
    assert any(line["kind"] == "finding" for line in lines)
    assert sum(server.hits.values()) < 150  # it stopped, it did not crawl on


def test_the_readme_demo_crawls_the_example_site(tmp_path: Path) -> None:
    env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "demo.py"), "-f", "json"],
        capture_output=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    categories = sorted(d["category"] for d in data["documents"] if d["category"])
    assert categories == ["exposure", "exposure", "exposure", "trading", "trading"]
    assert [e["kind"] for e in data["errors"]] == ["robots"]
    assert b"disallowed by robots.txt" in done.stderr


def _slow_site(server: Site, pages: int) -> None:
    server.page("/", html("home", " ".join(f'<a href="/p{n}">p{n}</a>' for n in range(pages))))

    def slow(_h: Handler) -> Reply:
        time.sleep(0.05)
        return Reply(body=LEAK.encode())

    for n in range(pages):
        server.routes[f"/p{n}"] = slow


def _crawl_until(
    server: Site, args: list[str], env: dict[str, str], hits: int, stop: signal.Signals
) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-m", "leakwatch", "scan", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while sum(server.hits.values()) < hits and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(stop)
    _, stderr = proc.communicate(timeout=60)
    assert b"Traceback" not in stderr
    return proc.returncode


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_crawl_resumes_without_refetching(
    tmp_path: Path, stop: signal.Signals
) -> None:
    env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home")}
    db = tmp_path / "store.db"
    out = tmp_path / "first.jsonl"
    with serve() as server:
        _slow_site(server, 60)
        start = server.url("/")
        common = ["--delay", "0", "--db", str(db), "-q", "--concurrency", "4"]
        code = _crawl_until(server, [start, *common, "-f", "jsonl", "-o", str(out)], env, 20, stop)
        assert code == (130 if stop == signal.SIGINT else -signal.SIGKILL)
        first = dict(server.hits)
        server.hits.clear()
        resumed = subprocess.run(
            [sys.executable, "-m", "leakwatch", "scan", "--resume", *common, "-f", "json"],
            capture_output=True, env=env, timeout=120, check=False,
        )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    second = {path: n for path, n in server.hits.items() if path != "/robots.txt"}
    assert "/" not in second  # the start page was done: its links came from the store
    pages = {f"/p{n}" for n in range(60)}
    assert pages <= set(first) | set(second)  # nothing was lost
    # At most the pages in flight when it stopped are fetched again (they were not done).
    assert len(set(first) & set(second) & pages) <= 8
    report = json.loads(resumed.stdout)
    assert {d["source"] for d in report["documents"]} == {server.url(p) for p in second}
    assert report["documents"]
    assert all(d["fetch"]["target"] == start for d in report["documents"])
    if stop == signal.SIGINT:  # its report was written: what it showed was recorded done
        shown = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        done_first = {d["fetch"]["url"] for d in shown if d["kind"] == "document"}
        assert done_first
        assert not done_first & {server.url(p) for p in second}


def test_resume_with_nothing_to_resume_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("scan", "--resume", "--db", str(tmp_path / "empty.db"))
    assert result.code == 2
    assert "no interrupted crawl" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert cli("scan", "--resume", "--no-store", "x").code == 2


def test_proxy_credentials_are_not_recorded(cli: Cli, site: Site, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    proxy = f"http://agent:hunter2@127.0.0.1:{site.port}"
    result = cli("scan", "http://forum.test/leak", "--proxy", proxy, "--delay", "0",
                 "--db", str(db), "-f", "json")  # fmt: skip
    assert report(result)["run"]["proxy"] == f"http://agent:***@127.0.0.1:{site.port}"
    runs = cli("runs", "--db", str(db), "-f", "json")
    assert "hunter2" not in runs.stdout
    assert b"hunter2" not in b"".join(p.read_bytes() for p in tmp_path.glob("s.db*"))


def test_the_demo_reports_from_its_own_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "LEAKWATCH_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "120"}
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "demo.py")],
        capture_output=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode("utf-8")
    assert "cases: exposure 3, trading 2" in " ".join(out.split())
    assert "cases by year" in out
    assert not (home / "leakwatch.db").exists()  # the user's store is left alone
