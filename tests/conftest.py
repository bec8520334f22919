"""Shared fixtures: the real packs, a detector with a fixed key and date, and a CLI runner."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.detect.packs import Pack, load_packs
from leakwatch.detect.redact import Fingerprinter
from leakwatch.models import Finding
from leakwatch.store import Location
from tests.postgres_server import postgres_server
from tests.stores import ENGINES, new_database

TODAY = dt.date(2026, 11, 28)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One throwaway PostgreSQL server for the session (started on first use)."""
    with postgres_server(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture(params=ENGINES)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """Where a store test's store is: a new SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "data" / "leakwatch.db"
    return new_database(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def packs() -> tuple[Pack, ...]:
    return load_packs()


@pytest.fixture(scope="session")
def detector(packs: tuple[Pack, ...]) -> Detector:
    return Detector(packs, Fingerprinter(b"test-key"), today=TODAY, reveal=True)


@pytest.fixture(scope="session")
def classifier(packs: tuple[Pack, ...]) -> PageClassifier:
    return PageClassifier(packs)


@pytest.fixture(scope="session")
def find(detector: Detector) -> Callable[[str], list[Finding]]:
    """Findings (with raw values) in a text, at the default threshold."""

    def run(text: str) -> list[Finding]:
        return detector.scan_text("test", text)

    return run


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., Result]:
    """Run the real `leakwatch` command in a fresh home; returns exit code and output."""
    home = tmp_path / "home"

    def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> Result:  # fmt: skip
        environment = {**os.environ, "LEAKWATCH_HOME": str(home), "NO_COLOR": "1"}
        environment.pop("LEAKWATCH_KEY", None)
        environment.update(env or {})
        done = subprocess.run(
            [sys.executable, "-m", "leakwatch", *args],
            input=stdin,
            capture_output=True,
            env=environment,
            cwd=cwd or tmp_path,
            timeout=300,
            check=False,
        )
        return Result(
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )

    return run


def types_of(findings: Sequence[Finding]) -> list[str]:
    return [f.type for f in findings]


def assert_one_line_error(result: Result, code: int, *fragments: str) -> None:
    """The command failed with `code` and said why in one `leakwatch: error:` line."""
    assert result.code == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("leakwatch: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def without_root_powers() -> list[str]:
    """A command prefix under which file permissions bind: as root, drop the capabilities
    that read and write anything (util-linux's setpriv); as anyone else, nothing to do."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux's setpriv to drop root's powers")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
