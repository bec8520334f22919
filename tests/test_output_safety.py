"""`-o` never destroys anything: special files are written, not replaced; the store, the key
and the inputs are refused; a write that fails is one line, exit 3, no temporary file left,
and the run is recorded as failed; a reader that goes away ends the run quietly; SIGTERM and
a second Ctrl-C still leave the results written (or say that they are not)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import select
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Result, assert_one_line_error

Cli = Callable[..., Result]
DUMP = "성명,주민등록번호,휴대폰\n김민준,800101-1234560,010-2345-6789\n"


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    path = tmp_path / "dump.csv"
    path.write_text(DUMP, encoding="utf-8")
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    env.pop("LEAKWATCH_KEY", None)
    env.pop("LEAKWATCH_DB", None)
    return env


def _runs(cli: Cli) -> list[dict[str, object]]:
    result = cli("runs", "-f", "json")
    assert result.code == 0, result.stderr
    runs: list[dict[str, object]] = json.loads(result.stdout)["runs"]
    return runs


def _temporary_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*.tmp")]


# -- special files are written, never replaced ------------------------------------------------


def _device(tmp_path: Path, name: str, minor: int) -> Path:
    """A character device of our own (memory devices: 3 is null, 7 is full) where the kernel
    lets us make one, else a link to the machine's: either way a path that is not a regular
    file (and a regression replaces ours, not the machine's)."""
    device = tmp_path / name
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except PermissionError:
        device.symlink_to(f"/dev/{name}")
    return device


def _null_device(tmp_path: Path) -> Path:
    return _device(tmp_path, "null", 3)


def test_a_character_device_is_written_not_replaced(cli: Cli, dump: Path, tmp_path: Path) -> None:
    device = _null_device(tmp_path)
    result = cli("scan", str(dump), "-f", "json", "-o", str(device))
    assert result.code == 0, result.stderr
    assert stat.S_ISCHR(device.stat().st_mode)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert _temporary_files(tmp_path) == []


def test_a_link_to_a_device_stays_a_link(cli: Cli, dump: Path, tmp_path: Path) -> None:
    link = tmp_path / "quiet"
    link.symlink_to("/dev/null")
    result = cli("scan", str(dump), "-o", str(link))
    assert result.code == 0, result.stderr
    assert link.is_symlink()
    assert os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_link_to_standard_output_writes_to_standard_output(
    cli: Cli, dump: Path, tmp_path: Path
) -> None:
    # /dev/stdout is such a link; one of our own is tested, so a regression cannot replace
    # the machine's.
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    result = cli("scan", str(dump), "-f", "jsonl", "-o", str(link))
    assert result.code == 0, result.stderr
    assert link.is_symlink()
    kinds = [json.loads(line)["kind"] for line in result.stdout.splitlines()]
    assert kinds[0] == "run"
    assert kinds[-1] == "summary"


def test_writing_to_a_link_to_a_file_descriptor_appends_where_it_points(
    tmp_path: Path, dump: Path
) -> None:
    # `leakwatch ... -o /dev/stdout >> log`: what stdout appends to is not truncated.
    log = tmp_path / "log.txt"
    log.write_text("earlier line\n", encoding="utf-8")
    link = tmp_path / "out"
    link.symlink_to("/proc/self/fd/1")
    with log.open("a", encoding="utf-8") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "leakwatch", "scan", str(dump), "-f", "jsonl", "-o", str(link)],
            stdout=handle,
            stderr=subprocess.PIPE,
            env=_env(tmp_path),
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "earlier line"
    assert json.loads(lines[-1])["kind"] == "summary"


def test_a_fifo_is_written_to_its_reader(cli: Cli, dump: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = cli("scan", str(dump), "-f", "jsonl", "-o", str(fifo))
    reader.join(30)
    assert result.code == 0, result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    lines = [json.loads(line) for line in received[0].decode().splitlines()]
    assert lines[-1]["kind"] == "summary"
    assert lines[-1]["findings"] == 2


def test_a_link_to_a_regular_file_replaces_the_file_and_keeps_the_link(
    cli: Cli, dump: Path, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    real = reports / "today.json"
    real.write_text("yesterday's report", encoding="utf-8")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    result = cli("scan", str(dump), "-f", "json", "-o", str(link))
    assert result.code == 0, result.stderr
    assert link.is_symlink()
    assert json.loads(real.read_text(encoding="utf-8"))["summary"]["findings"] == 2
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert _temporary_files(tmp_path) == []


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        ("folder", "is a folder"),
        ("socket", "is a socket"),
    ],
)
def test_what_cannot_take_a_report_is_one_line_and_exit_3(
    cli: Cli, dump: Path, tmp_path: Path, make: str, fragment: str
) -> None:
    target = tmp_path / "target"
    if make == "folder":
        target.mkdir()
    else:
        import socket

        server = socket.socket(socket.AF_UNIX)
        server.bind(str(target))
        server.close()
    assert_one_line_error(cli("scan", str(dump), "-o", str(target)), 3, str(target), fragment)
    assert target.exists()


# -- what the run reads or keeps is never overwritten ----------------------------------------


def test_the_store_is_refused_as_output(cli: Cli, dump: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    assert cli("scan", str(dump), "--db", str(store), "-q").code == 0
    before = store.read_bytes()
    result = cli("scan", str(dump), "--db", str(store), "-o", str(store))
    assert_one_line_error(result, 2, f"-o {store}: is the findings store ({store})")
    assert store.read_bytes() == before
    for command in ("report", "export", "runs"):
        refused = cli(command, "--db", str(store), "-o", str(store))
        assert_one_line_error(refused, 2, "the findings store")
    assert store.read_bytes() == before
    assert len(_runs_of(cli, store)) == 1  # the refused scan did not even start a run


def _runs_of(cli: Cli, store: Path) -> list[dict[str, object]]:
    runs: list[dict[str, object]] = json.loads(
        cli("runs", "--db", str(store), "-f", "json").stdout
    )["runs"]
    return runs


def test_the_default_store_its_journal_and_the_key_are_refused(
    cli: Cli, dump: Path, tmp_path: Path
) -> None:
    assert cli("scan", str(dump), "-q").code == 0
    home = tmp_path / "home"
    key = home / "fingerprint.key"
    key_before = key.read_bytes()
    for target, what in (
        (home / "leakwatch.db", "the findings store"),
        (home / "leakwatch.db-wal", "journal"),
        (key, "the fingerprint key"),
        (tmp_path / "alias.key", "the fingerprint key"),  # another name for the same file
    ):
        if target.name == "alias.key":
            target.symlink_to(key)
        assert_one_line_error(cli("scan", str(dump), "-o", str(target)), 2, what)
    assert key.read_bytes() == key_before
    assert_one_line_error(cli("report", "-o", str(key)), 2, "the fingerprint key")


def test_an_input_is_refused_as_output(cli: Cli, dump: Path, tmp_path: Path) -> None:
    result = cli("scan", str(dump), "-o", str(dump))
    assert_one_line_error(result, 2, f"-o {dump}", f"an input ({dump})")
    assert dump.read_text(encoding="utf-8") == DUMP
    targets = tmp_path / "targets.txt"
    targets.write_text(f"{dump}\n", encoding="utf-8")
    listed = cli("scan", "-l", str(targets), "-o", str(targets))
    assert_one_line_error(listed, 2, "a targets file")
    assert targets.read_text(encoding="utf-8") == f"{dump}\n"


# -- write failures ---------------------------------------------------------------------------


def test_a_full_device_is_exit_3_one_line_and_a_failed_run(
    cli: Cli, dump: Path, tmp_path: Path
) -> None:
    full = _device(tmp_path, "full", 7)
    result = cli("scan", str(dump), "-o", str(full))
    assert_one_line_error(result, 3, f"{full}: cannot write: No space left on device")
    (run,) = _runs(cli)
    assert run["state"] == "failed"


def test_standard_output_on_a_full_device_is_exit_3(tmp_path: Path, dump: Path) -> None:
    with _device(tmp_path, "full", 7).open("w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "leakwatch", "scan", str(dump)],
            stdout=full,
            stderr=subprocess.PIPE,
            env=_env(tmp_path),
            timeout=120,
            check=False,
        )
    stderr = done.stderr.decode()
    assert done.returncode == 3, stderr
    assert stderr == "leakwatch: error: stdout: cannot write: No space left on device\n"


def test_closed_standard_output_is_exit_3(tmp_path: Path, dump: Path) -> None:
    done = subprocess.run(
        f"{sys.executable} -m leakwatch scan {dump} >&-",
        shell=True,
        stderr=subprocess.PIPE,
        env=_env(tmp_path),
        timeout=120,
        check=False,
    )
    assert done.returncode == 3
    assert done.stderr.decode() == "leakwatch: error: stdout: cannot write: it is closed\n"


def _file_size_limit(limit: int) -> Callable[[], None]:
    def limit_writes() -> None:
        # A file may not grow past `limit` bytes: the next write fails with EFBIG, as it
        # would with ENOSPC on a full disk (SIGXFSZ ignored, so it is an error, not a kill).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_writes


def test_a_write_that_fails_midway_leaves_no_temporary_file_and_the_old_report(
    tmp_path: Path,
) -> None:
    big = tmp_path / "big.csv"
    big.write_text(DUMP + "김민준,800101-1234560,010-2345-6789\n" * 2000, encoding="utf-8")
    out = tmp_path / "out" / "report.jsonl"
    out.parent.mkdir()
    out.write_text("yesterday's report\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "leakwatch", "scan", str(big), "--no-store", "-f", "jsonl",
         "-o", str(out)],
        capture_output=True,
        env=_env(tmp_path),
        timeout=120,
        check=False,
        preexec_fn=_file_size_limit(200_000),
    )  # fmt: skip
    stderr = done.stderr.decode()
    assert done.returncode == 3, stderr
    assert stderr == f"leakwatch: error: {out}: cannot write: {os.strerror(errno.EFBIG)}\n"
    assert out.read_text(encoding="utf-8") == "yesterday's report\n"
    assert _temporary_files(tmp_path) == []


def test_a_reader_that_goes_away_ends_the_run_quietly(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_text(DUMP + "김민준,800101-1234560,010-2345-6789\n" * 20_000, encoding="utf-8")
    env = _env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "leakwatch", "scan", str(big), "-f", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # `| head -1`
    stderr = process.stderr.read()
    process.stderr.close()
    process.wait(timeout=120)
    assert json.loads(first)["kind"] == "run"
    assert process.returncode == 141  # as a program stopped by SIGPIPE
    assert stderr == b""
    runs = subprocess.run(
        [sys.executable, "-m", "leakwatch", "runs", "-f", "json"],
        capture_output=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    (run,) = json.loads(runs.stdout)["runs"]
    assert run["state"] == "interrupted"


def test_report_to_a_reader_that_goes_away_is_quiet(cli: Cli, dump: Path, tmp_path: Path) -> None:
    assert cli("scan", str(dump), "-q").code == 0
    env = _env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "leakwatch", "export", "-f", "csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    process.stdout.close()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode in (0, 141)
    assert stderr == b""


# -- stopping ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _streaming_scan(tmp_path: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """A scan of stdin that is being fed and never ends on its own."""
    process = subprocess.Popen(
        [sys.executable, "-m", "leakwatch", "scan", "-", "--jobs", "1", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(tmp_path),
    )
    assert process.stdin is not None
    process.stdin.write((DUMP * 30_000).encode())
    process.stdin.flush()
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _wait_for_findings(store_home: Path) -> None:
    """Until the scan has recorded findings (read from the store, as another process may
    while a scan records: a log of some size is no sign, as the schema and the run record
    alone fill 110 kB of it, and a SIGTERM before the scan began rightly leaves the results
    unwritten)."""
    store = store_home / "leakwatch.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if store.exists():
            try:
                connection = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True, timeout=1)
                try:
                    (count,) = connection.execute("SELECT count(*) FROM findings").fetchone()
                finally:
                    connection.close()
            except sqlite3.Error:
                count = 0  # not made yet
            if count:
                return
        time.sleep(0.05)


def test_sigterm_stops_like_ctrl_c_and_writes_the_results(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out" / "partial.jsonl"
    out.parent.mkdir()
    with _streaming_scan(tmp_path, "-f", "jsonl", "-o", str(out)) as process:
        _wait_for_findings(tmp_path / "home")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"interrupted; results so far were written" in stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[-1]["kind"] == "summary"
    assert lines[-1]["interrupted"] is True
    assert any(line["kind"] == "finding" for line in lines)
    assert _temporary_files(tmp_path) == []
    (run,) = _runs(cli)
    assert run["state"] == "interrupted"


def _blocked_writer(fifo: Path) -> int:
    """Open the FIFO's reading end without reading: the scan's output blocks once its pipe
    buffer is full, so it is caught in the middle of writing its results."""
    return os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)


def _drain(descriptor: int) -> bytes:
    os.set_blocking(descriptor, True)
    data = bytearray()
    while chunk := os.read(descriptor, 1 << 16):
        data += chunk
    os.close(descriptor)
    return bytes(data)


def _interrupt_while_writing(tmp_path: Path, presses: int) -> tuple[int, bytes, bytes]:
    fifo = tmp_path / "results"
    os.mkfifo(fifo)
    reader = _blocked_writer(fifo)
    with _streaming_scan(tmp_path, "-f", "json", "-o", str(fifo)) as process:
        _wait_for_findings(tmp_path / "home")
        process.send_signal(signal.SIGINT)  # stop scanning: the JSON is written now
        # Once output reaches the FIFO the run is writing its results; it soon fills the
        # pipe and waits for us to read. (A fixed sleep failed on a loaded machine: the run
        # was still recording when the next Ctrl-C came.)
        readable, _, _ = select.select([reader], [], [], 60)
        assert readable, "the scan wrote nothing after Ctrl-C"
        time.sleep(0.5)
        assert process.poll() is None
        for _ in range(presses - 1):
            process.send_signal(signal.SIGINT)
            time.sleep(0.5)
        data = _drain(reader)
        _, stderr = process.communicate(timeout=60)
    return process.returncode, data, stderr


def test_a_second_ctrl_c_while_writing_still_writes_the_results(tmp_path: Path) -> None:
    code, data, stderr = _interrupt_while_writing(tmp_path, presses=2)
    assert code == 130
    assert b"still writing the results found so far" in stderr
    assert b"results so far were written" in stderr
    report = json.loads(data)
    assert report["summary"]["interrupted"] is True
    assert report["summary"]["findings"] > 0


def test_a_third_ctrl_c_abandons_the_results_and_says_so(tmp_path: Path) -> None:
    code, data, stderr = _interrupt_while_writing(tmp_path, presses=3)
    assert code == 130
    assert b"the results were not written" in stderr
    assert b"results so far were written" not in stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(data)


def test_sigterm_to_the_whole_process_group_still_writes_the_results(
    cli: Cli, tmp_path: Path
) -> None:
    # systemd and `kill -- -PGID` signal the pool's workers too: they leave the stopping to
    # the parent, which writes what was found.
    big = tmp_path / "big.csv"
    big.write_text(DUMP + "김민준,800101-1234560,010-2345-6789\n" * 400_000, encoding="utf-8")
    out = tmp_path / "out" / "partial.jsonl"
    out.parent.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "leakwatch", "scan", str(big), "--jobs", "2", "-f", "jsonl",
         "-o", str(out)],
        stderr=subprocess.PIPE,
        env=_env(tmp_path),
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_findings(tmp_path / "home")
        os.killpg(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[-1]["kind"] == "summary"
    assert lines[-1]["interrupted"] is True
    (run,) = _runs(cli)
    assert run["state"] == "interrupted"
