"""Scans on a real Dask cluster (`scan --cluster`): a LocalCluster started by leakwatch, and a
`dask scheduler` with two `dask worker` processes on loopback, one of them killed mid-run.
Whatever the cluster does, the output and the store are those of a one-machine scan."""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from leakwatch import run
from leakwatch.detect.engine import Detector
from leakwatch.detect.packs import load_packs
from leakwatch.detect.parallel import DetectorSpec
from leakwatch.detect.redact import Fingerprinter
from leakwatch.fetch import targets
from leakwatch.fetch.settings import CrawlSettings
from leakwatch.models import now
from leakwatch.report.scan_output import Format, RunInfo, make_writer
from leakwatch.store import Location
from tests import synthetic
from tests.archives import Capture, write_warc
from tests.conftest import REPO, Result, assert_one_line_error

Cli = Callable[..., Result]
KEY = {"LEAKWATCH_KEY": "3c" * 32}
SHARDS = {"LEAKWATCH_SHARD_BYTES": "8000"}  # the test archive (~60 KB) in about eight shards
BIN = Path(sys.executable).parent


def page(rng: random.Random, number: int) -> bytes:
    rows = "".join(
        f"<tr><td>{synthetic.hangul_name(rng)}</td><td>{synthetic.rrn(rng)}</td>"
        f"<td>{synthetic.mobile(rng)}</td></tr>"
        for _ in range(1 + number % 3)
    )
    filler = "".join(f"<p>{'这是一个普通的帖子内容。' * 8} {number}-{i}</p>" for i in range(20))
    return (
        f'<html><head><meta charset="utf-8"><title>帖子 {number}</title></head><body>{filler}'
        f"<table><tr><th>姓名</th><th>身份证号</th><th>手机</th></tr>{rows}</table></body></html>"
    ).encode()


@dataclass
class Inputs:
    folder: Path
    archive: Path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    """A folder: a CSV dump, and a WARC.gz of 60 pages over 2020-2024 in which one page is
    captured again unchanged far from its first capture (in another shard)."""
    folder = tmp_path_factory.mktemp("inputs")
    rng = random.Random(5)
    lines = ["name,rrn,phone"] + [
        f"{synthetic.hangul_name(rng)},{synthetic.rrn(rng)},{synthetic.mobile(rng)}"
        for _ in range(40)
    ]
    (folder / "dump.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    start = dt.datetime(2020, 1, 5, tzinfo=dt.UTC)
    captures = [
        Capture(f"http://bbs.example.cn/t/{n}", start + dt.timedelta(days=30 * n), page(rng, n))
        for n in range(60)
    ]
    again = Capture(captures[3].url, start + dt.timedelta(days=2000), captures[3].body)
    archive = folder / "crawl.warc.gz"
    write_warc(archive, [*captures, again])
    return Inputs(folder, archive)


def scan(
    cli: Cli,
    tmp_path: Path,
    name: str,
    *args: str,
    env: dict[str, str] | None = None,
    db: Location | None = None,
) -> dict[str, Any]:
    out = tmp_path / f"{name}.json"
    db = db or tmp_path / f"{name}.db"
    result = cli("scan", *args, "-f", "json", "-o", str(out), "--db", str(db),
                 "-q", env={**KEY, **SHARDS, **(env or {})})  # fmt: skip
    assert result.code == 0, result.stderr
    return json.loads(out.read_text())


def same_scan(one: dict[str, Any], other: dict[str, Any]) -> None:
    """Documents, findings and problems equal, in the same order (the run's own facts aside)."""
    for part in ("documents", "findings", "errors"):
        assert one[part] == other[part], part
    summary = ("documents", "findings", "findings_by_type", "cases_by_category", "errors_by_kind")
    assert {k: one["summary"][k] for k in summary} == {k: other["summary"][k] for k in summary}


def yearly(cli: Cli, db: Location) -> object:
    report = cli("report", "--db", str(db), "--year-basis", "first-seen", "-f", "json", env=KEY)
    assert report.code == 0, report.stderr
    document = json.loads(report.stdout)
    return document["years"], document["totals"]


def test_a_local_cluster_scans_as_one_machine_does(
    cli: Cli, tmp_path: Path, inputs: Inputs, store_location: Location
) -> None:
    # The cluster's client records into a SQLite file, then into a PostgreSQL database.
    alone = scan(cli, tmp_path, "alone", str(inputs.folder), "--jobs", "1")
    clustered = scan(
        cli, tmp_path, "cluster", str(inputs.folder), "--cluster", "local:2", db=store_location
    )
    same_scan(alone, clustered)
    assert alone["summary"]["errors_by_kind"] == {"recapture": 1}  # the far recapture, once
    assert yearly(cli, tmp_path / "alone.db") == yearly(cli, store_location)
    assert clustered["run"]["cluster"] == "local:2"


@dataclass
class DaskProcesses:
    address: str
    workers: list[subprocess.Popen[bytes]]


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[DaskProcesses]:
    """`dask scheduler` and two `dask worker` processes (no nanny: a killed worker stays
    dead) on 127.0.0.1."""
    with dask_processes(tmp_path, workers=2) as processes:
        yield processes


@contextmanager
def dask_processes(
    tmp_path: Path, *, workers: int, worker_options: Sequence[str] = ()
) -> Iterator[DaskProcesses]:
    info = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(info)], **quiet,  # type: ignore[arg-type]
    )  # fmt: skip
    started: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline, "the dask scheduler did not start"
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        for _ in range(workers):
            started.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--host", "127.0.0.1", *worker_options],
                **quiet,  # type: ignore[arg-type]
            ))  # fmt: skip
        yield DaskProcesses(address, started)
    finally:
        for process in [*started, scheduler]:
            process.kill()
            process.wait(30)


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(
    cli: Cli, tmp_path: Path, inputs: Inputs, dask_cluster: DaskProcesses
) -> None:
    alone = scan(cli, tmp_path, "alone", str(inputs.folder), "--jobs", "1")
    db = tmp_path / "cluster.db"
    env = {**os.environ, **KEY, **SHARDS, "LEAKWATCH_HOME": str(tmp_path / "home"),
           "NO_COLOR": "1"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "leakwatch", "scan", str(inputs.folder), "--cluster",
         dask_cluster.address, "-f", "jsonl", "--db", str(db), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    killed = False
    for line in process.stdout:
        lines.append(line.decode())
        if not killed and json.loads(line).get("kind") == "document":
            dask_cluster.workers[0].send_signal(signal.SIGKILL)  # its tasks go to the other
            killed = True
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert killed
    assert dask_cluster.workers[0].wait(30) == -signal.SIGKILL
    records = [json.loads(line) for line in lines]
    documents = [r for r in records if r["kind"] == "document"]
    findings = [r for r in records if r["kind"] == "finding"]
    strip = lambda r: {k: v for k, v in r.items() if k not in ("kind", "schema_version")}  # noqa: E731
    assert [strip(d) for d in documents] == alone["documents"]
    assert [strip(f) for f in findings] == alone["findings"]
    assert yearly(cli, db) == yearly(cli, tmp_path / "alone.db")


@pytest.mark.parametrize(
    ("preload", "says"),
    [
        ("import leakwatch\nleakwatch.__version__ = '0.0.1'\n", "runs leakwatch 0.0.1"),
        ("import sys\nsys.modules['leakwatch'] = None\n", "cannot run leakwatch"),
    ],
    ids=["another-version", "no-leakwatch"],
)
def test_a_worker_with_another_or_no_leakwatch_is_refused(
    cli: Cli, tmp_path: Path, preload: str, says: str
) -> None:
    # A worker's start-up script (dask's --preload) makes it another install of leakwatch.
    script = tmp_path / "other_install.py"
    script.write_text(preload, encoding="utf-8")
    (tmp_path / "a.txt").write_text("nothing here\n")
    with dask_processes(tmp_path, workers=1, worker_options=["--preload", str(script)]) as dask:
        result = cli("scan", str(tmp_path / "a.txt"), "--cluster", dask.address, "--db",
                     str(tmp_path / "s.db"))  # fmt: skip
    assert_one_line_error(result, 2, says, "install the same version on every worker")
    assert not (tmp_path / "s.db").exists()  # refused before anything was recorded


def test_a_scheduler_out_of_reach_is_one_line_and_exit_2(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("nothing here\n")
    started = time.monotonic()
    result = cli("scan", str(tmp_path / "a.txt"), "--cluster", "tcp://127.0.0.1:9",
                 "--db", str(tmp_path / "s.db"))  # fmt: skip
    assert_one_line_error(result, 2, "--cluster tcp://127.0.0.1:9: cannot reach the scheduler")
    assert time.monotonic() - started < 60
    assert not (tmp_path / "s.db").exists()  # refused before the run began: nothing recorded


def test_a_bad_local_worker_count_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("nothing here\n")
    result = cli("scan", str(tmp_path / "a.txt"), "--cluster", "local:0", "--no-store")
    assert_one_line_error(result, 2, "local:0", "1 to 256")


def test_a_crawl_scans_its_pages_on_the_cluster(cli: Cli, tmp_path: Path) -> None:
    handler = functools.partial(_Quiet, directory=str(REPO / "examples" / "site"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        alone = scan(cli, tmp_path, "alone", url, "--delay", "0", "--jobs", "1")
        clustered = scan(cli, tmp_path, "cluster", url, "--delay", "0", "--cluster", "local:2")
    finally:
        server.shutdown()
        server.server_close()

    def found(report: dict[str, Any]) -> Counter[tuple[str, ...]]:
        return Counter((f["source"], f["type"], f["fingerprint"]) for f in report["findings"])

    def cases(report: dict[str, Any]) -> set[tuple[str, str | None]]:
        return {(d["source"], d["category"]) for d in report["documents"]}

    assert found(clustered) == found(alone)
    assert found(alone)  # the example site holds identifiers: the comparison means something
    assert cases(clustered) == cases(alone)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


class Watcher:
    """An Observer that keeps what the run layer tells it."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.progress: list[tuple[int, int, int]] = []

    def update(self, event: object, tally: object) -> None:
        self.events.append(event)

    def issue(self, issue: object) -> None:
        return None

    def tasks(self, done: int, queued: int, workers: int) -> None:
        self.progress.append((done, queued, workers))


def test_the_run_layer_drives_a_cluster_and_reports_its_tasks(
    tmp_path: Path, inputs: Inputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAKWATCH_SHARD_BYTES", SHARDS["LEAKWATCH_SHARD_BYTES"])
    packs = load_packs()
    key = bytes.fromhex(KEY["LEAKWATCH_KEY"])
    detector = Detector(packs, Fingerprinter(key))
    spec = DetectorSpec((), key, detector.min_confidence, False, detector.today)
    info = RunInfo(now(), (str(inputs.folder),), detector.min_confidence, False,
                   tuple(p.id for p in packs), {})  # fmt: skip
    out = io.StringIO()
    watcher = Watcher()
    request = run.Request(
        plan=targets.plan([str(inputs.folder)]), settings=CrawlSettings(), detector=detector,
        packs=packs, spec=spec, workers=1, run=info, no_store=True, cluster="local:2",
    )  # fmt: skip
    verdict = run.scan(
        request, lambda: nullcontext(make_writer(Format.JSONL, out, info)), nullcontext(watcher)
    )
    assert verdict.ending is run.Ending.COMPLETED
    assert verdict.tally.documents == 61 + 1 - 1  # 60 pages, the dump; the recapture is none
    dones = [done for done, _, _ in watcher.progress]
    assert dones == list(range(1, len(dones) + 1))  # one report per task, in order
    assert len(dones) >= 6  # the archive went out in shards (and the dump as one task)
    assert watcher.progress[-1][1] == 0  # nothing queued at the end
    assert all(workers == 2 for _, _, workers in watcher.progress)
    assert (
        sum(1 for line in out.getvalue().splitlines() if json.loads(line)["kind"] == "document")
        == 61
    )
