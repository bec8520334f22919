"""The files under examples/ work as their comments say."""

from __future__ import annotations

import fcntl
import json
import os
import random
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

from leakwatch.fetch.targets import plan
from tests import synthetic
from tests.conftest import REPO
from tests.webserver import html, serve

EXAMPLES = REPO / "examples"


def test_the_example_targets_file_parses_cleanly() -> None:
    text = (EXAMPLES / "targets.txt").read_text(encoding="utf-8")
    result = plan([], [("targets.txt", text)])
    assert not result.problems
    assert {t.country for t in result.targets} == {"CN", "TW", "HK"}


def _daily(work: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LEAKWATCH_DIR": str(work),
        "LEAKWATCH_HOME": str(tmp_path / "home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        ["sh", str(EXAMPLES / "cron" / "daily.sh")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_the_daily_cron_script_mails_new_cases_and_nothing_else(tmp_path: Path) -> None:
    rrn = synthetic.rrn(random.Random(5))
    with serve() as site:
        site.page("/", html("유출", f"<p>성명: 김민준 주민등록번호: {rrn}</p>"))
        work = tmp_path / "leakwatch"
        work.mkdir()
        (work / "targets.txt").write_text(f"{site.url('/')} country=CN\n", encoding="utf-8")
        done = _daily(work, tmp_path)
        again = _daily(work, tmp_path)  # the next day: the same page, nothing new
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # The first day: the new case, as a Markdown table (what cron mails), and in a file.
    assert "1 new case since run 1 began" in done.stdout
    assert f"| {site.url('/')} |" in done.stdout
    assert (work / "reports" / f"{date.today():%Y-%m-%d}-new.md").read_text() == done.stdout
    assert again.returncode == 0, again.stderr
    assert again.stdout + again.stderr == ""  # cron mails nothing on a quiet day
    scans = list((work / "scans").glob("*.jsonl"))
    reports = list((work / "reports").glob("*.json"))
    assert len(scans) == 1
    assert len(reports) == 1
    lines = scans[0].read_text(encoding="utf-8").splitlines()
    assert any(json.loads(line)["kind"] == "finding" for line in lines)
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    assert report["totals"]["cases"] == 1
    assert rrn not in scans[0].read_text(encoding="utf-8") + reports[0].read_text(encoding="utf-8")
    assert rrn not in done.stdout


def test_the_daily_cron_script_says_when_a_site_is_down(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    with serve() as site:
        site.page("/", html("home", "<p>nothing here</p>"))
        work = tmp_path / "leakwatch"
        work.mkdir()
        (work / "targets.txt").write_text(f"{site.url('/')}\n{dead}\n", encoding="utf-8")
        done = _daily(work, tmp_path)
    assert done.returncode == 3
    lines = (done.stdout + done.stderr).splitlines()
    assert any(dead in line and "connection" in line.lower() for line in lines), lines
    scan = work / "scans" / f"{date.today():%Y-%m-%d}.jsonl"
    assert done.stdout.splitlines()[-1].endswith(f"findings so far are in {scan})")
    assert len(list((work / "reports").glob("*.json"))) == 1  # the report is still written


def test_the_daily_cron_script_says_when_it_skips_a_day(tmp_path: Path) -> None:
    work = tmp_path / "leakwatch"
    work.mkdir()
    (work / "targets.txt").write_text("", encoding="utf-8")
    with (work / "daily.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # yesterday's run, still going
        done = _daily(work, tmp_path)
    assert done.returncode == 75
    assert done.stdout.startswith(f"leakwatch daily {date.today():%Y-%m-%d}: skipped: ")
    assert list((work / "scans").glob("*")) == []


def test_the_archive_demo_backfills_five_years_through_pywb(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "archive_demo.py")],
        capture_output=True,
        text=True,
        env={**os.environ, "LEAKWATCH_HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "120"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "backfilling from its index" in done.stderr  # pywb is in the dev extra: it is used
    assert "16 pages scanned" in done.stderr
    assert "3 unchanged recaptures counted once" in done.stderr
    rows: dict[str, str] = {}  # the first table's rows: cases by year
    for line in done.stdout.splitlines():
        cells = line.split()
        if cells and cells[0] in {"2020", "2021", "2022", "2023", "2024", "total"}:
            rows.setdefault(cells[0], cells[1])
    # Each page in the year it was first captured (thread-1005: published 2022, captured 2020).
    assert rows == {"2020": "1", "2021": "2", "2022": "1", "2023": "4", "2024": "2", "total": "10"}
    # The demo's store is its own, in a temporary folder: nothing in the user's data folder
    # but the fingerprint key.
    assert [p.name for p in tmp_path.iterdir()] == ["fingerprint.key"]
