"""Hostile names and files: names that are not UTF-8, FIFOs, sockets and devices in a folder,
unreadable subfolders, control characters from pages, names and servers, and a NUL byte
slipped into a text file."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Result, without_root_powers
from tests.webserver import Reply, html, serve

Cli = Callable[..., Result]
DUMP = "성명,주민등록번호,휴대폰\n김민준,800101-1234560,010-2345-6789\n"
ESC = "\x1b]0;pwned\x07\x1b[2J"  # retitle the terminal, clear the screen


def _raw_escapes(text: str) -> list[str]:
    return [c for c in ("\x1b", "\x07", "\r") if c in text]


def test_a_name_that_is_not_utf8_is_scanned_and_shown_escaped(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "z-last.csv").write_text(DUMP, encoding="utf-8")
    bad = os.fsencode(folder) + b"/caf\xe9-\xff.csv"
    with open(bad, "wb") as handle:
        handle.write(DUMP.encode("utf-8"))
    for fmt in ("table", "csv"):
        result = cli("scan", str(folder), "-f", fmt, env={"COLUMNS": "300"})
        assert result.code == 0, result.stderr
        assert "internal error" not in result.stderr
        assert "caf\\xe9-\\xff.csv" in result.stdout
        assert "z-last.csv" in result.stdout  # the scan went on to the end
    report = json.loads(cli("scan", str(folder), "-f", "json").stdout)
    names = sorted(Path(d["source"]).name for d in report["documents"])
    assert names == ["caf\\xe9-\\xff.csv", "z-last.csv"]
    assert report["summary"]["documents"] == 2
    assert report["summary"]["findings"] == 4
    exported = [json.loads(line)["source"] for line in cli("export").stdout.splitlines()]
    assert any(name.endswith("/caf\\xe9-\\xff.csv") for name in exported)


@contextlib.contextmanager
def _special_files(folder: Path) -> Iterator[None]:
    os.mkfifo(folder / "a-fifo.csv")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(folder / "b-socket.csv"))
    (folder / "c-device.csv").symlink_to("/dev/zero")  # a link to a device is a device
    (folder / "d-broken.csv").symlink_to(folder / "nowhere")
    (folder / "e-dump.csv").write_text(DUMP, encoding="utf-8")
    try:
        yield
    finally:
        listening.close()


@pytest.mark.timeout(120)
def test_fifos_sockets_and_devices_in_a_folder_are_skipped_never_opened(
    cli: Cli, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    with _special_files(folder):
        result = cli("scan", str(folder), "-f", "json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    notes = {Path(e["source"]).name: (e["kind"], e["message"]) for e in report["errors"]}
    assert notes == {
        "a-fifo.csv": ("skipped", "a FIFO, not opened"),
        "b-socket.csv": ("skipped", "a socket, not opened"),
        "c-device.csv": ("skipped", "a character device, not opened"),
        "d-broken.csv": ("skipped", "a broken link, not opened"),
    }
    assert report["summary"]["errors"] == 0  # notes, not failures
    assert report["summary"]["documents"] == 1
    for name in ("a-fifo.csv", "b-socket.csv", "c-device.csv"):
        assert f"skipped {folder / name}" in result.stderr
    quiet = cli("scan", str(folder), "-q", "--strict")
    assert quiet.code == 0
    assert quiet.stderr == ""


def test_a_fifo_named_on_the_command_line_is_read_as_a_stream(tmp_path: Path) -> None:
    env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m leakwatch scan -f json <(printf '%s' \"$DUMP\")"],
        capture_output=True,
        env={**env, "DUMP": DUMP},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["findings"] == 2


def test_an_unreadable_subfolder_is_one_line_and_the_walk_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "a-locked").mkdir(parents=True)
    (folder / "a-locked" / "x.csv").write_text(DUMP, encoding="utf-8")
    (folder / "b-open").mkdir()
    (folder / "b-open" / "y.csv").write_text(DUMP, encoding="utf-8")
    (folder / "a-locked").chmod(0)
    env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    env.pop("LEAKWATCH_KEY", None)
    try:
        done = subprocess.run(
            [*without_root_powers(), sys.executable, "-m", "leakwatch", "scan", str(folder),
             "-f", "json"],
            capture_output=True, env=env, timeout=120, check=False,
        )  # fmt: skip
    finally:
        (folder / "a-locked").chmod(0o755)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["documents"] == 1
    (note,) = report["errors"]
    assert note["source"] == str(folder / "a-locked")
    assert note["kind"] == "skipped"
    assert note["message"] == "cannot read folder: Permission denied"
    assert done.stderr.decode().splitlines() == [
        f"leakwatch: skipped {folder / 'a-locked'}: cannot read folder: Permission denied"
    ]


def test_control_characters_never_reach_the_terminal(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    page = folder / "[bold]page[red]x.txt"  # markup in a name is text, not styling (nor a crash)
    page.write_text(f"{ESC} 주민등록번호 800101-1234560\n", encoding="utf-8")
    named = folder / f"evil{ESC}.bin"
    named.write_bytes(b"\x00\x01\x02\x03" * 4096)  # binary: a note that names it
    outputs = {}
    for fmt in ("table", "csv"):
        result = cli("scan", str(folder), str(named), "-f", fmt, env={"COLUMNS": "300"})
        assert result.code == 0, result.stderr
        outputs[fmt], outputs[f"{fmt} stderr"] = result.stdout, result.stderr
    outputs["runs"] = cli("runs", env={"COLUMNS": "300"}).stdout
    outputs["export"] = cli("export", "-f", "csv").stdout
    for where, text in outputs.items():
        assert _raw_escapes(text) == [], where
    assert "[bold]page[red]x.txt" in outputs["table"]
    assert "\\x1b]*;pwned\\x07\\x1b[**" in outputs["csv"]  # the page's context, escaped
    assert "evil\\x1b]0;pwned\\x07" in outputs["table stderr"]  # the note naming the file
    assert "evil\\x1b]0;pwned\\x07" in outputs["runs"]  # its name on the command line
    result = cli("scan", str(page), "-f", "json")
    assert json.loads(result.stdout)["findings"][0]["context"].startswith("\x1b]*;pwned")


def test_a_server_header_with_control_characters_is_shown_escaped(cli: Cli) -> None:
    with serve() as site:
        site.page("/", html("home", '<a href="/file">file</a>'))
        site.routes["/file"] = lambda _h: Reply(200, b"data", content_type=f"x-app/{ESC}")
        result = cli("scan", site.url("/"), "--delay", "0")
    assert result.code == 0, result.stderr
    assert _raw_escapes(result.stderr) == []
    assert "content type x-app/\\x1b]0 is not scanned" in result.stderr  # (a ";" ends it)


def test_a_nul_byte_early_in_a_text_file_does_not_make_it_binary(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "evasive.csv").write_bytes(b"\x00" + DUMP.encode("utf-8") * 50)
    (folder / "real.bin").write_bytes(bytes(range(256)) * 64)  # binary all through
    (folder / "archive.dat").write_bytes(b"PK\x03\x04" + DUMP.encode("utf-8") * 50)  # a zip
    result = cli("scan", str(folder), "-f", "json")
    report = json.loads(result.stdout)
    scanned = {Path(d["source"]).name for d in report["documents"]}
    assert scanned == {"evasive.csv"}
    assert report["summary"]["findings"] == 100
    skipped = {Path(e["source"]).name for e in report["errors"] if e["kind"] == "skipped"}
    assert skipped == {"real.bin", "archive.dat"}
    assert stat.S_ISREG((folder / "evasive.csv").stat().st_mode)
