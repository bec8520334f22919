"""Limits that keep a run sane: --jobs at most one per CPU; report, export and runs only read
(a read-only folder, a full disk); an empty file given as --db gets the store's mode."""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, without_root_powers

Cli = Callable[..., Result]
DUMP = "성명,주민등록번호,휴대폰\n김민준,800101-1234560,010-2345-6789\n"


def test_jobs_beyond_the_cpus_are_capped_with_a_note(cli: Cli, tmp_path: Path) -> None:
    dump = tmp_path / "dump.csv"
    filler = "nothing to see on this line of a large file\n" * 30_000  # over 1 MiB: the pool
    dump.write_text(DUMP + filler, encoding="utf-8")
    cpus = len(os.sched_getaffinity(0))
    result = cli("scan", str(dump), "--jobs", "100000", "-f", "json", "--no-store")
    assert result.code == 0, result.stderr
    assert result.stderr == (
        f"leakwatch: --jobs 100000 is more than the {cpus} CPUs this process may use; "
        f"using {cpus}\n"
    )
    report = json.loads(result.stdout)
    assert report["run"]["jobs"] == cpus
    assert report["summary"]["findings"] == 2
    quiet = cli("scan", str(dump), "--jobs", "100000", "-q", "--no-store")
    assert quiet.stderr == ""


def _leakwatch(
    tmp_path: Path,
    *args: str,
    prefix: tuple[str, ...] = (),
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    env.pop("LEAKWATCH_DB", None)
    return subprocess.run(
        [*prefix, sys.executable, "-m", "leakwatch", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False, preexec_fn=preexec,
    )  # fmt: skip


@pytest.fixture
def recorded(cli: Cli, tmp_path: Path) -> Path:
    """A store with one scan in it, in a folder of its own, closed cleanly (no side files)."""
    dump = tmp_path / "dump.csv"
    dump.write_text(DUMP, encoding="utf-8")
    store = tmp_path / "stores" / "s.db"
    assert cli("scan", str(dump), "--db", str(store), "-q").code == 0
    assert sorted(p.name for p in store.parent.iterdir()) == ["s.db"]
    return store


READERS = (("report", "-f", "json"), ("export",), ("runs", "-f", "json"))


def test_read_commands_work_on_a_store_in_a_read_only_folder(
    recorded: Path, tmp_path: Path
) -> None:
    folder = recorded.parent
    before = recorded.read_bytes()
    folder.chmod(0o555)
    try:
        for command in READERS:
            done = _leakwatch(tmp_path, *command, "--db", str(recorded),
                              prefix=tuple(without_root_powers()))  # fmt: skip
            assert done.returncode == 0, (command, done.stderr)
            assert done.stderr == ""
            assert (
                "800101-1******" in done.stdout
                or "completed" in done.stdout
                or (json.loads(done.stdout)["totals"]["cases"] == 1)
            )
    finally:
        folder.chmod(0o755)
    assert recorded.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["s.db"]


def _no_file_may_grow() -> None:
    # A full disk, as a file sees it: any write that grows a file fails (EFBIG; SIGXFSZ
    # ignored so that it is an error, not a kill).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def test_read_commands_work_on_a_full_disk(recorded: Path, tmp_path: Path) -> None:
    for command in READERS:
        done = _leakwatch(tmp_path, *command, "--db", str(recorded), preexec=_no_file_may_grow)
        assert done.returncode == 0, (command, done.stderr)
        assert done.stderr == ""
    report = _leakwatch(tmp_path, "report", "-f", "json", "--db", str(recorded),
                        preexec=_no_file_may_grow)  # fmt: skip
    assert json.loads(report.stdout)["totals"]["cases"] == 1


def test_an_empty_file_given_as_the_store_gets_the_stores_mode(cli: Cli, tmp_path: Path) -> None:
    dump = tmp_path / "dump.csv"
    dump.write_text(DUMP, encoding="utf-8")
    store = tmp_path / "s.db"
    store.touch(mode=0o644)
    store.chmod(0o644)
    assert cli("scan", str(dump), "--db", str(store), "-q").code == 0
    for path in (store, *store.parent.glob("s.db-*")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    shared = tmp_path / "shared.db"  # a store someone made readable on purpose stays so
    assert cli("scan", str(dump), "--db", str(shared), "-q").code == 0
    shared.chmod(0o640)
    assert cli("scan", str(dump), "--db", str(shared), "-q").code == 0
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640
