"""The wheel carries the pattern packs, and an installed leakwatch finds them there."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.timeout(600)
def test_wheel_ships_the_packs_and_finds_them(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(tmp_path / "dist")],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("leakwatch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "leakwatch/patterns/kr.toml" in names
        archive.extractall(tmp_path / "site")
    # Import leakwatch from the unpacked wheel alone (the checkout's src/ is not on the path).
    probe = (
        "import leakwatch.detect.packs as p, pathlib;"
        "d = p.builtin_pack_dir(); packs = p.load_packs();"
        "print(d); print(sorted(x.id for pack in packs for x in pack.patterns)[0])"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": ""},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    folder, first = ran.stdout.split()
    assert Path(folder) == tmp_path / "site" / "leakwatch" / "patterns"
    assert first == "kr.arn"
