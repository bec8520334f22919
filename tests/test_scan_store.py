"""`leakwatch scan` recording into the store, run for real: rescans, changed pages,
concurrent runs, countries, nothing raw at rest, bad --db."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import synthetic
from tests.conftest import Result
from tests.webserver import Site, html, serve

Cli = Callable[..., Result]
RNG = random.Random(23)
RRNS = [synthetic.rrn(RNG) for _ in range(4)]


def leak(*numbers: str) -> str:
    rows = "".join(f"<tr><td>김민준</td><td>{n}</td></tr>" for n in numbers)
    return html("유출", f"<table><tr><th>성명</th><th>주민등록번호</th></tr>{rows}</table>")


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as server:
        server.page("/", html("home", '<a href="/a">a</a> <a href="/b">b</a>'))
        server.page("/a", leak(RRNS[0], RRNS[1]))
        server.page("/b", leak(RRNS[2]))
        yield server


def yearly(cli: Cli, db: Path) -> dict[str, Any]:
    result = cli("report", "--db", str(db), "-f", "json", "--year-basis", "first-seen")
    assert result.code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_rescanning_counts_nothing_twice_and_a_changed_page_is_updated(
    cli: Cli, site: Site, tmp_path: Path
) -> None:
    db = tmp_path / "store.db"
    for _ in range(2):
        assert cli("scan", site.url("/"), "--delay", "0", "--db", str(db), "-q").code == 0
    totals = yearly(cli, db)["totals"]
    assert (totals["cases"], totals["records"]) == (2, 3)
    site.page("/b", leak(RRNS[2], RRNS[3]))  # the page changed: one more record
    assert cli("scan", site.url("/"), "--delay", "0", "--db", str(db), "-q").code == 0
    totals = yearly(cli, db)["totals"]
    assert (totals["cases"], totals["records"]) == (2, 4)
    runs = json.loads(cli("runs", "--db", str(db), "-f", "json").stdout)
    assert [r["outcome"] for r in runs["runs"]] == ["completed"] * 3


def test_two_scans_at_once_lose_nothing(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home")}
    folder = tmp_path / "dumps"
    folder.mkdir()
    for n in range(30):
        (folder / f"d{n}.csv").write_text(
            f"성명,주민등록번호\n김민준,{synthetic.rrn(RNG)}\n", encoding="utf-8"
        )
    commands = [
        ["scan", site.url("/"), "--delay", "0"],
        ["scan", str(folder)],
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "leakwatch", *c, "--db", str(db), "-q", "-f", "json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        for c in commands
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    connection.close()
    result = subprocess.run(
        [sys.executable, "-m", "leakwatch", "report", "--db", str(db), "-f", "json",
         "--year-basis", "first-seen"],
        capture_output=True, env=env, check=True,
    )  # fmt: skip
    totals = json.loads(result.stdout)["totals"]
    assert (totals["cases"], totals["records"]) == (2 + 30, 3 + 30)


def test_site_country_from_the_targets_file(cli: Cli, site: Site, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    targets = tmp_path / "targets.txt"
    targets.write_text(f"{site.url('/')} country=TW\n", encoding="utf-8")
    assert cli("scan", "-l", str(targets), "--delay", "0", "--db", str(db), "-q").code == 0
    by_country = json.loads(cli("report", "--db", str(db), "--by", "country", "-f", "json").stdout)
    assert json.dumps(by_country).count('"TW"') >= 1
    only_cn = yearly_filtered(cli, db, "CN")
    assert only_cn["totals"]["cases"] == 0
    assert yearly_filtered(cli, db, "TW")["totals"]["cases"] == 2


def yearly_filtered(cli: Cli, db: Path, country: str) -> dict[str, Any]:
    result = cli("report", "--db", str(db), "-f", "json", "--site-country", country)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_nothing_raw_is_stored_even_with_reveal(cli: Cli, site: Site, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    result = cli("scan", site.url("/"), "--delay", "0", "--db", str(db), "-f", "json", "--reveal")
    assert RRNS[0] in result.stdout  # asked for on stdout...
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))
    for number in RRNS:
        assert number.encode() not in stored  # ...never at rest
        assert number.replace("-", "").encode() not in stored
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    exported = cli("export", "--db", str(db), "-f", "jsonl")
    assert exported.code == 0
    assert RRNS[0][:8] + "******" in exported.stdout
    assert RRNS[0] not in exported.stdout


def test_no_store_writes_no_store(cli: Cli, tmp_path: Path) -> None:
    dump = tmp_path / "d.csv"
    dump.write_text(f"성명,주민등록번호\n김민준,{RRNS[0]}\n", encoding="utf-8")
    assert cli("scan", str(dump), "--no-store", "-q").code == 0
    assert not list((tmp_path / "home").glob("*.db"))
    assert cli("scan", str(dump), "-q").code == 0
    assert (tmp_path / "home" / "leakwatch.db").exists()  # the default store


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"this is not a database, just text\n" * 10, "not a leakwatch store"),
     (b"SQLite format 3\x00" + b"\xff" * 2000, "")],
)  # fmt: skip
def test_a_bad_store_is_refused_and_left_untouched(
    cli: Cli, tmp_path: Path, content: bytes, fragment: str
) -> None:
    dump = tmp_path / "d.csv"
    dump.write_text(f"성명,주민등록번호\n김민준,{RRNS[0]}\n", encoding="utf-8")
    db = tmp_path / "bad.db"
    db.write_bytes(content)
    result = cli("scan", str(dump), "--db", str(db), "-f", "json")
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("leakwatch: error: store ")
    assert fragment in lines[0]
    assert db.read_bytes() == content
    assert result.stdout == ""  # refused before anything was scanned


def test_an_unwritable_store_location_is_exit_3(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be\n", encoding="utf-8")
    dump = tmp_path / "d.csv"
    dump.write_text("x\n", encoding="utf-8")
    result = cli("scan", str(dump), "--db", str(blocker / "s.db"))
    assert result.code == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "not-a-folder" in lines[0]
    assert "Traceback" not in result.stderr
