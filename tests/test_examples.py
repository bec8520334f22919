"""The files under examples/ work as their comments say."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
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


def test_the_daily_cron_script_scans_and_reports(tmp_path: Path) -> None:
    rrn = synthetic.rrn(random.Random(5))
    with serve() as site:
        site.page("/", html("유출", f"<p>성명: 김민준 주민등록번호: {rrn}</p>"))
        work = tmp_path / "leakwatch"
        work.mkdir()
        (work / "targets.txt").write_text(f"{site.url('/')} country=CN\n", encoding="utf-8")
        env = {
            **os.environ,
            "LEAKWATCH_DIR": str(work),
            "LEAKWATCH_HOME": str(tmp_path / "home"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        done = subprocess.run(
            ["sh", str(EXAMPLES / "cron" / "daily.sh")],
            capture_output=True, env=env, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    scans = list((work / "scans").glob("*.jsonl"))
    reports = list((work / "reports").glob("*.json"))
    assert len(scans) == 1
    assert len(reports) == 1
    lines = scans[0].read_text(encoding="utf-8").splitlines()
    assert any(json.loads(line)["kind"] == "finding" for line in lines)
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    assert report["totals"]["cases"] == 1
    assert rrn not in scans[0].read_text(encoding="utf-8") + reports[0].read_text(encoding="utf-8")
