"""The `leakwatch` command, run for real: formats, exit codes, errors, privacy by default."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from leakwatch.cli.scan import _ClosedAfter, _Progress
from leakwatch.models import PageSettled
from leakwatch.pipeline import Tally
from leakwatch.report.scan_output import Summary
from leakwatch.store import Store
from tests.conftest import REPO, Result, assert_one_line_error

Cli = Callable[..., Result]
EXAMPLES = REPO / "examples" / "site"
RAW = ["800101-1234560", "010-2345-6789", "M70412358"]
DUMP = "성명,주민등록번호,휴대폰,여권번호\n김민준,800101-1234560,010-2345-6789,M70412358\n"


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    path = tmp_path / "dump.csv"
    path.write_text(DUMP, encoding="utf-8")
    return path


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.code == 0
    assert result.stdout.startswith("leakwatch ")


@pytest.mark.parametrize("command", [(), ("patterns",)])
def test_no_command_prints_the_help_on_stderr_and_exits_2(
    cli: Cli, command: tuple[str, ...]
) -> None:
    result = cli(*command)
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Usage: leakwatch")
    assert "Commands" in result.stderr
    assert cli(*command, "--help").code == 0


@pytest.mark.parametrize(
    ("arguments", "option"),
    [(("report", "--by", "weekday"), "'--by'"), (("scan", "-f", "xml", "x.txt"), "'--format'")],
)
def test_a_bad_choice_says_what_is_allowed_in_plain_words(
    cli: Cli, arguments: tuple[str, ...], option: str
) -> None:
    result = cli(*arguments)
    assert_one_line_error(result, 2, option, "is not one of")
    assert "Value error" not in result.stderr


def test_table_output_is_masked(cli: Cli, dump: Path) -> None:
    result = cli("scan", str(dump))
    assert result.code == 0, result.stderr
    assert "800101-1******" in result.stdout
    assert "010-****-6789" in result.stdout
    assert "1 documents scanned, 3 findings" in result.stdout.replace("\n", " ")
    for raw in RAW:
        assert raw not in result.stdout + result.stderr


def test_json_report_shape(cli: Cli, dump: Path) -> None:
    result = cli("scan", str(dump), "-f", "json")
    assert result.code == 0
    report = json.loads(result.stdout)
    assert report["schema_version"] == 1
    assert report["run"]["revealed"] is False
    (document,) = report["documents"]
    assert document["category"] == "exposure"
    assert len(document["sha256"]) == 64
    types = sorted(f["type"] for f in report["findings"])
    assert types == ["kr.passport", "kr.phone", "kr.rrn"]
    for finding in report["findings"]:
        assert {"source", "type", "masked", "fingerprint", "confidence", "evidence"} <= set(finding)
        assert "value" not in finding
        assert 0 <= finding["confidence"] <= 1
    assert report["errors"] == []
    assert report["summary"]["findings_by_type"]["kr.rrn"] == 1


def test_jsonl_streams_tagged_lines(cli: Cli, dump: Path) -> None:
    result = cli("scan", str(dump), "-f", "jsonl")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["kind"] for line in lines] == [
        "run", "finding", "finding", "finding", "document", "summary"
    ]  # fmt: skip
    assert all(line["schema_version"] == 1 for line in lines)


def test_csv_is_findings_only_and_defuses_formulas(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "evil.txt"
    path.write_text("=HYPERLINK(x) 주민등록번호 800101-1234560\n", encoding="utf-8")
    result = cli("scan", str(path), "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1
    assert rows[0]["type"] == "kr.rrn"
    assert rows[0]["context"].startswith("'=HYPERLINK")
    assert "value" not in rows[0]


def test_reveal_adds_raw_values(cli: Cli, dump: Path) -> None:
    result = cli("scan", str(dump), "-f", "jsonl", "--reveal")
    values = {json.loads(line).get("value") for line in result.stdout.splitlines()}
    assert set(RAW) <= values
    run = json.loads(result.stdout.splitlines()[0])
    assert run["revealed"] is True


def test_nothing_raw_is_written_anywhere_by_default(cli: Cli, dump: Path, tmp_path: Path) -> None:
    outputs = []
    for fmt in ("table", "json", "jsonl", "csv"):
        out = tmp_path / f"out.{fmt}"
        result = cli("scan", str(dump), str(EXAMPLES), "-f", fmt, "-o", str(out))
        assert result.code == 0, result.stderr
        outputs += [out.read_text(encoding="utf-8"), result.stdout, result.stderr]
    home_files = [p.read_bytes() for p in (tmp_path / "home").rglob("*") if p.is_file()]
    for raw in RAW:
        assert all(raw not in text for text in outputs)
        assert all(raw.encode() not in data for data in home_files)


def test_output_file_is_written_even_without_findings(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "clean.txt"
    empty.write_text("nothing to see here\n", encoding="utf-8")
    out = tmp_path / "report.json"
    result = cli("scan", str(empty), "-f", "json", "-o", str(out))
    assert result.code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["findings"] == []
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")] == []


def test_unwritable_output_is_exit_3_and_one_line(cli: Cli, dump: Path, tmp_path: Path) -> None:
    result = cli("scan", str(dump), "-o", str(tmp_path / "no" / "such" / "dir" / "r.json"))
    assert_one_line_error(result, 3, "cannot write")


def test_stdin(cli: Cli) -> None:
    result = cli("scan", "-", "-f", "jsonl", stdin=DUMP.encode())
    findings = [json.loads(x) for x in result.stdout.splitlines() if '"finding"' in x]
    assert {f["source"] for f in findings} == {"<stdin>"}
    assert len(findings) == 3


def test_a_missing_file_does_not_stop_the_scan(cli: Cli, dump: Path, tmp_path: Path) -> None:
    result = cli("scan", str(tmp_path / "nope.csv"), str(dump), "-f", "json")
    assert result.code == 0
    assert "skipped" in result.stderr
    assert "nope.csv: no such file or folder" in result.stderr
    report = json.loads(result.stdout)
    assert len(report["findings"]) == 3
    assert report["errors"][0]["kind"] == "missing"
    strict = cli("scan", str(tmp_path / "nope.csv"), str(dump), "--strict", "-q", "-f", "json")
    assert strict.code == 3


def test_nothing_readable_is_exit_3(cli: Cli, tmp_path: Path) -> None:
    result = cli("scan", str(tmp_path / "nope.csv"))
    assert result.code == 3
    assert "no input could be scanned" in result.stderr
    assert "Traceback" not in result.stderr


def test_binary_and_corrupt_files_are_skipped_with_a_message(
    cli: Cli, dump: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"  # not tmp_path itself: leakwatch's home (key, store) is there
    folder.mkdir()
    (folder / dump.name).write_bytes(dump.read_bytes())
    (folder / "image.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(300))
    (folder / "broken.csv.gz").write_bytes(gzip.compress(DUMP.encode())[:30])
    result = cli("scan", str(folder), "-f", "json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    kinds = {Path(e["source"]).name: e["kind"] for e in report["errors"]}
    assert kinds["image.html"] == "skipped"  # met in a folder: not text, not a failure
    assert kinds["broken.csv.gz"] in {"unreadable", "partial"}
    assert report["summary"]["skipped"] == 1
    assert report["summary"]["errors"] == 1
    assert "skipped" in result.stderr
    assert "image.html: binary file" in result.stderr
    assert any("dump.csv" in f["source"] for f in report["findings"])
    named = cli("scan", str(folder / "image.html"), str(dump), "-f", "json", "--strict")
    assert named.code == 3  # named on the command line, a binary file is a failed input
    assert json.loads(named.stdout)["errors"][0]["kind"] == "binary"


def test_fail_on_gates_the_exit_code(cli: Cli, dump: Path) -> None:
    assert cli("scan", str(dump), "-q", "--fail-on", "high").code == 1
    assert cli("scan", str(dump), "-q", "--fail-on", "critical").code == 1
    phones = dump.with_name("phones.txt")
    phones.write_text("연락처 010-2345-6789\n", encoding="utf-8")
    assert cli("scan", str(phones), "-q", "--fail-on", "high").code == 0
    assert cli("scan", str(phones), "-q").code == 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("scan",), "nothing to scan"),
        (("scan", "x", "--fail-on", "severe"), "unknown severity 'severe'"),
        (("scan", "x", "--min-confidence", "2"), "--min-confidence"),
        (("scan", "x", "-f", "xml"), "--format"),
        (("scan", "x", "--bogus"), "No such option: --bogus"),
        (("frobnicate",), "No such command"),
    ],
)
def test_usage_errors_are_one_line_exit_2(cli: Cli, args: tuple[str, ...], fragment: str) -> None:
    assert_one_line_error(cli(*args), 2, fragment)


def test_damaged_key_file_is_exit_2(cli: Cli, dump: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "fingerprint.key").write_text("garbage")
    assert_one_line_error(cli("scan", str(dump)), 2, "not a leakwatch key")
    bad_variable = cli("scan", str(dump), env={"LEAKWATCH_KEY": "team"})
    assert_one_line_error(bad_variable, 2, "$LEAKWATCH_KEY: not a leakwatch key (not hex")


def test_fingerprints_are_shared_through_the_key(cli: Cli, dump: Path, tmp_path: Path) -> None:
    def fingerprints(home: str, key: str | None) -> set[str]:
        env = {"LEAKWATCH_HOME": str(tmp_path / home)}
        if key:
            env["LEAKWATCH_KEY"] = key
        out = cli("scan", str(dump), "-f", "jsonl", env=env).stdout
        return {json.loads(x)["fingerprint"] for x in out.splitlines() if '"finding"' in x}

    team = "0123456789abcdef" * 4
    assert fingerprints("a", team) == fingerprints("b", team)
    assert fingerprints("a", None) != fingerprints("b", None)  # two machines, two random keys
    assert fingerprints("a", None) == fingerprints("a", None)  # one machine, one key


def test_the_bundled_examples_scan_as_the_readme_says(cli: Cli) -> None:
    result = cli("scan", str(EXAMPLES), "-f", "json")
    report = json.loads(result.stdout)
    categories = {Path(d["source"]).name: d["category"] for d in report["documents"]}
    assert categories["thread-1001.html"] == "trading"
    assert categories["thread-1002.html"] == "exposure"
    assert categories["thread-1003.html"] is None  # Korean cuisine
    assert categories["thread-1004.html"] is None  # Beijing numbers
    assert categories["forum.html"] is None  # lists a sale post, is not one
    assert categories["customers-2023.csv"] == "exposure"


def test_ctrl_c_stops_cleanly_and_keeps_what_was_found(tmp_path: Path) -> None:
    out = tmp_path / "partial.jsonl"
    env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        [sys.executable, "-m", "leakwatch", "scan", "-", "-f", "jsonl", "-o", str(out), "-q"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None
    process.stdin.write((DUMP * 60_000).encode())  # > one chunk: findings are made now
    process.stdin.flush()
    deadline = time.monotonic() + 60
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=max(1, deadline - time.monotonic()))
    assert process.returncode == 130, stderr
    assert b"interrupted" in stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[-1]["kind"] == "summary"
    assert lines[-1]["interrupted"] is True
    assert sum(1 for line in lines if line["kind"] == "finding") > 0


def test_a_bug_is_one_masked_line_and_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    from leakwatch.cli import EXIT_INCOMPLETE, _internal_error

    code = _internal_error(ValueError("cannot handle 800101-1234560 here"))
    err = capsys.readouterr().err
    assert code == EXIT_INCOMPLETE
    assert err.count("\n") == 1
    assert "internal error: ValueError" in err
    assert "1234560" not in err
    assert "******-*******" in err


def test_a_reader_closing_the_pipe_early_is_not_an_error(tmp_path: Path) -> None:
    env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        f"{sys.executable} -m leakwatch scan {EXAMPLES} -f jsonl | head -n 1",
        shell=True, capture_output=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0
    assert done.stdout.count(b"\n") == 1
    assert b"Traceback" not in done.stderr
    assert b"BrokenPipe" not in done.stderr


def test_help_lists_scan_first_and_options_in_panels_without_type_names(
    cli: Callable[..., Result],
) -> None:
    top = cli("--help")
    assert top.code == 0
    commands = [line.split()[0] for line in top.stdout.split("Commands:")[1].splitlines() if line]
    assert commands[:4] == ["scan", "report", "export", "runs"]
    for command in ("scan", "report", "export", "runs", "ignore", "forget", "config"):
        shown = cli(command, "--help", env={"COLUMNS": "80"})
        assert shown.code == 0, shown.stderr
        for leak in ("<list[", "<int range>", "<float range>", "x>=", "<=x", "<str>"):
            assert leak not in shown.stdout, (command, leak)
    scan = cli("scan", "--help").stdout
    for panel in ("Input:", "Output:", "Detection:", "Crawl:", "Archive:", "Store:"):
        assert f"\n{panel}\n" in scan, panel
    assert scan.index("Crawl:") < scan.index("--depth N") < scan.index("Archive:")


def test_tables_stay_readable_at_80_columns(cli: Callable[..., Result], tmp_path: Path) -> None:
    site = REPO / "examples" / "site"
    shown = cli("scan", str(site), "--no-store", env={"COLUMNS": "80"})
    assert shown.code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    # One line a finding, its type whole (kr.phone vs kr.phone.masked) and its severity.
    rows = [line for line in lines if re.match(r"\s+\d+  kr\.", line)]
    assert len(rows) == 120
    assert any(re.search(r"kr\.phone\.masked\s+info\s", row) for row in rows)
    assert any(re.search(r"kr\.rrn\s+critical\s", row) for row in rows)
    assert "thread-1002.html" in shown.stdout  # each document's name heads its findings

    summary = cli("scan", str(site), "--no-store", "--summary", env={"COLUMNS": "80"})
    assert summary.code == 0, summary.stderr
    assert not any(re.match(r"\s+\d+  kr\.", line) for line in summary.stdout.splitlines())
    assert "kr.phone 12," in summary.stdout
    assert_one_line_error(cli("scan", str(site), "--no-store", "--summary", "-f", "json"), 2,
                          "--summary shortens the table format")  # fmt: skip


def test_runs_keeps_the_host_of_each_target_at_80_columns(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    long = "https://bbs.example.cn/" + "forum/" * 12 + "thread-1.html"
    store = tmp_path / "s.db"
    with Store.open(store) as opened:
        run = opened.start_run(started="2026-12-06T10:00:00+00:00", version="t",
                               arguments=["scan", long], targets=[long], settings={})  # fmt: skip
        opened.finish_run(run, finished="2026-12-06T10:01:00+00:00", outcome="completed",
                          summary={"documents": 1})  # fmt: skip
    shown = cli("runs", "--db", str(store), env={"COLUMNS": "80"})
    assert shown.code == 0, shown.stderr
    assert re.search(r"https://bbs\.example\.cn/…[a-z/-]*1\.html", shown.stdout), shown.stdout
    assert all(len(line) <= 80 for line in shown.stdout.splitlines())


def test_the_live_status_is_taken_off_before_the_results_are_printed() -> None:
    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, width=80)
    progress = _Progress(console, enabled=True)
    order: list[str] = []

    class Results:
        def finding(self, finding: object) -> None: ...
        def document(self, document: object) -> None: ...
        def issue(self, issue: object) -> None: ...
        def close(self, summary: object) -> None:
            order.append("live" if progress._status is not None else "cleared")

    with progress:
        url = "https://bbs.example.cn/" + "very-long-path/" * 10 + "thread-1.html"
        progress.update(PageSettled(url, "scanned", (), True, url), Tally())
        assert progress._status is not None
        writer = _ClosedAfter(Results(), progress.stop)  # type: ignore[arg-type]
        writer.close(Summary("", 0, {}, {}, 0, False))
    assert order == ["cleared"]
    # The status line fits one line of the terminal: the URL shortened.
    line = progress._line("crawling: 9 pages done, 5 queued, 0 errors, 4 findings", url)
    assert len(line.plain) <= 80
    assert "— https://bbs.example" in line.plain
