"""No raw identifier at rest: file names and URLs that hold one are masked in every byte
leakwatch writes (outputs, stderr, the store with its WAL, run records, `runs`, `export`),
tagged so that two of them stay apart, and shown raw only with --reveal."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import synthetic
from tests.conftest import Result
from tests.webserver import Reply, Site, html, serve

Cli = Callable[..., Result]
_rng = random.Random(808)
NAMED = synthetic.rrn(_rng)  # the number in the file name and the URL
OTHER = synthetic.rrn(_rng)  # a second lookup, linked from the first page
INSIDE = synthetic.rrn(_rng)  # the leak inside the documents
LEAK = f"성명,주민등록번호\n김민준,{INSIDE}\n"


def _forms(rrn: str) -> list[bytes]:
    """How a raw number could be written: as is, without its hyphen, percent-encoded."""
    digits = rrn.replace("-", "")
    return [f.encode() for f in (rrn, digits, rrn.replace("-", "%2D"), digits[6:])]


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as server:
        server.page("/robots.txt", "User-agent: *\nAllow: /\n", "text/plain")
        server.routes["/view.php"] = lambda h: Reply(
            body=html(
                "조회", f'<a href="/view.php?jumin={OTHER}">다음</a> <pre>{LEAK}</pre>'
            ).encode()
        )
        yield server


def _everything_written(root: Path, results: list[Result]) -> list[tuple[str, bytes]]:
    files = [(str(p), p.read_bytes()) for p in root.rglob("*") if p.is_file()]
    streams = [(f"output {n}", (r.stdout + r.stderr).encode()) for n, r in enumerate(results)]
    return files + streams


def test_names_holding_an_identifier_are_never_written_raw(
    cli: Cli, site: Site, tmp_path: Path
) -> None:
    folder = tmp_path / "in" / f"leak-{NAMED}"
    folder.mkdir(parents=True)
    dump = folder / f"dump_{NAMED}.csv"
    dump.write_text(LEAK, encoding="utf-8")
    lookup = site.url(f"/view.php?jumin={NAMED}")
    written = tmp_path / "written"  # everything leakwatch writes goes under here
    home = written / "home"
    env = {"LEAKWATCH_HOME": str(home)}
    results = []
    for fmt in ("table", "json", "jsonl", "csv"):
        results.append(
            cli("scan", str(dump), str(tmp_path / "in"), lookup, "--delay", "0", "-f", fmt,
                "-o", str(written / f"out.{fmt}"), env=env)
        )  # fmt: skip
        assert results[-1].code == 0, results[-1].stderr
    results.append(cli("scan", str(tmp_path / "in" / f"missing-{NAMED}.csv"), env=env))
    for command in (["runs"], ["runs", "-f", "json"], ["export"], ["export", "-f", "csv"],
                    ["report", "-f", "json"]):  # fmt: skip
        results.append(cli(*command, env=env))
        assert results[-1].code == 0, results[-1].stderr
    assert site.hits[f"/view.php?jumin={OTHER}"] >= 1  # crawled, just not written
    assert (home / "leakwatch.db-wal").exists() or (home / "leakwatch.db").exists()
    for where, data in _everything_written(written, results):
        for rrn in (NAMED, OTHER):
            for form in _forms(rrn):
                assert form not in data, f"{form!r} in {where}"
    report = json.loads((written / "out.json").read_text(encoding="utf-8"))
    sources = {d["source"] for d in report["documents"]}
    masked = NAMED[:8] + "******"
    assert any(
        s.startswith(f"{dump.parent.parent}/leak-{masked}/dump_{masked}.csv#") for s in sources
    )
    assert any(f"jumin={masked}#" in s for s in sources)
    assert all("raw_source" not in d for d in report["documents"])
    runs = json.loads(results[-4].stdout)["runs"]
    assert all(masked in " ".join(run["arguments"]) for run in runs[1:])


def test_two_names_that_differ_only_in_the_hidden_number_stay_two_documents(
    cli: Cli, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    # Same birth date and sex digit: masked, both names read dump_YYMMDD-S******.csv.
    twin = NAMED[:8] + OTHER[8:]
    first, second = (folder / f"dump_{rrn}.csv" for rrn in (NAMED, twin))
    for path in (first, second):
        path.write_text(LEAK, encoding="utf-8")
    scanned = json.loads(cli("scan", str(folder), "-f", "json").stdout)
    names = [d["source"] for d in scanned["documents"]]
    assert len(set(names)) == 2
    assert len({name.split("#")[0] for name in names}) == 1  # the same once masked...
    exported = cli("export").stdout.splitlines()
    assert len({json.loads(line)["source"] for line in exported}) == 2  # ...yet two documents
    again = json.loads(cli("scan", str(first), "-f", "json").stdout)  # named, not walked
    (document,) = again["documents"]
    assert document["source"].split("#")[1] in {n.split("#")[1] for n in names}
    assert len({json.loads(line)["source"] for line in cli("export").stdout.splitlines()}) == 2


def test_reveal_shows_the_raw_name_in_output_but_not_in_the_store(cli: Cli, tmp_path: Path) -> None:
    dump = tmp_path / f"dump_{NAMED}.csv"
    dump.write_text(LEAK, encoding="utf-8")
    result = cli("scan", str(dump), "-f", "json", "--reveal")
    (document,) = json.loads(result.stdout)["documents"]
    assert document["raw_source"] == str(dump)
    assert NAMED not in document["source"]
    store = (tmp_path / "home" / "leakwatch.db").read_bytes()
    wal = tmp_path / "home" / "leakwatch.db-wal"
    for data in (store, wal.read_bytes() if wal.exists() else b""):
        assert NAMED.encode() not in data


def test_a_plain_name_is_written_as_it_is(cli: Cli, tmp_path: Path) -> None:
    dump = tmp_path / "customers-2023.csv"
    dump.write_text(LEAK, encoding="utf-8")
    (document,) = json.loads(cli("scan", str(dump), "-f", "json").stdout)["documents"]
    assert document["source"] == str(dump)
    assert "raw_source" not in document
