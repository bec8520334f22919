"""Scanning on several cores gives exactly the findings of a scan in one process."""

from __future__ import annotations

import dataclasses
import json
import pickle
import random
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leakwatch.detect import engine
from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.detect.packs import Pack
from leakwatch.detect.parallel import (
    RANGE_FINDINGS,
    DetectorSpec,
    ParallelDocumentScan,
    ScanPool,
    pool_pays,
    range_bytes,
    scan_planned,
)
from leakwatch.detect.redact import Fingerprinter
from leakwatch.extract import sources
from leakwatch.models import Finding, Severity
from tests import synthetic
from tests.conftest import TODAY, Result

KEY = b"parallel-test-key"


def mixed_document(rng: random.Random) -> str:
    """Prose, then a CSV table longer than a chunk (its header far above most rows), then a
    second table with another header, then prose: carries change twice."""
    prose = (
        "这是一段普通的说明文字，没有号码，只是为了占位置。\n" * 99
        + "联系电话 010-2345-6789，韩国客户。\n"
    ) * 300
    first = "성명,주민등록번호,휴대폰\n" + "".join(
        f"{synthetic.hangul_name(rng)},{synthetic.rrn_post2020(rng)},"
        f"{synthetic.mobile(rng, 'hyphen')}\n"
        for _ in range(35_000)
    )
    second = "이름|여권번호\n" + "".join(
        f"{synthetic.hangul_name(rng)}|{synthetic.passport(rng)}\n" for _ in range(15_000)
    )
    return prose + first + second + prose


def pieces(text: str, size: int = 300_000) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def scanned(cli: Callable[..., Result], path: Path, jobs: str) -> list[dict[str, object]]:
    """The findings and document records `leakwatch scan --jobs N` prints for `path`."""
    result = cli("scan", str(path), "-f", "jsonl", "-q", "--jobs", jobs)
    assert result.code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return [r for r in records if r["kind"] in {"finding", "document"}]


def key(f: Finding) -> tuple[object, ...]:
    return (f.type, f.line, f.column, f.fingerprint, f.confidence, f.evidence, f.context)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("value", [None, "950615-2123454"])
def test_a_finding_crosses_a_process_boundary_unchanged(value: str | None) -> None:
    # Every field given a value of its own (a field added to Finding and left out of its
    # __reduce__ fails here).
    samples: dict[str, object] = {
        "source": "dump.csv", "type": "kr.rrn", "pattern": "kr.rrn.split", "label": "RRN",
        "severity": Severity.HIGH, "masked": "950615-2******", "fingerprint": "ab" * 32,
        "confidence": 0.95, "evidence": ("checksum", "column:주민등록번호"), "line": 7,
        "column": 12, "context": "김민준,950615-2******", "value": value,
    }  # fmt: skip
    assert set(samples) == {f.name for f in dataclasses.fields(Finding)}
    finding = Finding(**samples)  # type: ignore[arg-type]
    copy = pickle.loads(pickle.dumps(finding, pickle.HIGHEST_PROTOCOL))
    assert {name: getattr(copy, name) for name in samples} == samples
    assert copy.severity is Severity.HIGH


def test_parallel_scan_equals_sequential(packs: tuple[Pack, ...]) -> None:
    text = mixed_document(random.Random(1))
    assert len(text) > 2 * engine.CHUNK_CHARS
    detector = Detector(packs, Fingerprinter(KEY), today=TODAY)
    sequential = detector.open("doc")
    expected = [f for p in pieces(text) for f in sequential.feed(p)] + sequential.finish()
    spec = DetectorSpec((), KEY, detector.min_confidence, False, TODAY)
    with ScanPool(spec, workers=2) as pool:
        parallel = ParallelDocumentScan(detector, "doc", pool)
        got = [f for p in pieces(text) for f in parallel.feed(p)] + parallel.finish()
    assert [key(f) for f in got] == [key(f) for f in expected]
    assert parallel.counts == sequential.counts
    assert parallel.rescans >= 1  # a table began mid-document: a guessed carry was wrong
    assert sum(1 for f in got if any(e.startswith("column:") for e in f.evidence)) == 85_000


def test_cli_jobs_do_not_change_the_output(cli: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    rng = random.Random(2)
    lines = [
        f"身份证号：{synthetic.rrn(rng)} 手机：{synthetic.mobile(rng)} "
        f"订单号 {synthetic.order_number(rng)}"
        for _ in range(25_000)
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    outputs = [scanned(cli, path, jobs) for jobs in ("1", "2")]
    assert outputs[0] == outputs[1]
    assert len(path.read_text(encoding="utf-8")) > engine.CHUNK_CHARS
    assert len(outputs[0]) > 40_000


def test_large_plain_files_are_read_by_the_workers_and_give_the_same_output(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    rng = random.Random(4)
    prose = "这是一段普通的说明文字，没有号码，只是为了占位置，写得长一点。\n" * 40_000
    table = "성명,주민등록번호,휴대폰\n" + "".join(
        f"{synthetic.hangul_name(rng)},{synthetic.rrn(rng)},{synthetic.mobile(rng, 'hyphen')}\n"
        for _ in range(30_000)
    )
    offer = "出售韩国实名数据，身份证+手机号，一手新鲜，私聊\n"
    path = tmp_path / "dump.txt"
    path.write_text(prose + table + prose + offer + prose, encoding="utf-8")
    (item,) = sources.expand([str(path)])
    assert isinstance(item, sources.Input)
    plan = sources.DocumentReader(item, None, TODAY).plan()
    assert plan is not None
    assert len(list(plan.ranges())) >= 3
    outputs = [scanned(cli, path, jobs) for jobs in ("1", "2")]
    assert outputs[0] == outputs[1]
    document = outputs[0][-1]
    assert document["category"] == "trading"
    assert document["findings_by_type"] == {"kr.phone": 30_000, "kr.rrn": 30_000}


def test_a_giant_line_in_a_planned_file_is_cut_without_losing_anything(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    rng = random.Random(6)
    prose = "这是一段普通的说明文字，没有号码，只是为了占位置，写得长一点。\n" * 60_000
    giant = "".join(f"韩国身份证：{synthetic.rrn(rng)}；" + "说明" * 60 for _ in range(30_000))
    path = tmp_path / "giant.txt"
    path.write_text(prose + giant + "\n" + prose, encoding="utf-8")
    (item,) = sources.expand([str(path)])
    assert isinstance(item, sources.Input)
    plan = sources.DocumentReader(item, None, TODAY).plan()
    assert plan is not None
    assert any(part.emit_to is not None for part in plan.ranges())  # the line really was cut
    outputs = [scanned(cli, path, jobs) for jobs in ("1", "2")]
    assert outputs[0] == outputs[1]
    assert outputs[0][-1]["findings_by_type"] == {"kr.rrn": 30_000}


BIG_HEADER = "姓名,身份证号,手机号,座机,护照号,驾照号,地址\n"


def header_led_dump(rng: random.Random, rows: int) -> str:
    """A dump whose only context is its header row: every row below it is a person."""
    lines = [BIG_HEADER]
    for i in range(rows):
        # Now and then an address with the delimiter in it (a row wider than the header).
        address = "서울, 강남구, 역삼동" if i % 4999 == 7 else "서울특별시 강남구 역삼동"
        lines.append(
            f"{synthetic.hangul_name(rng)},{synthetic.rrn(rng)},{synthetic.mobile(rng)},"
            f"{synthetic.landline(rng)},{synthetic.passport(rng)},"
            f"{synthetic.driver_license(rng)},{address}\n"
        )
    return "".join(lines)


@pytest.mark.timeout(300)
def test_a_big_dumps_header_names_every_row_however_far_down(
    packs: tuple[Pack, ...], tmp_path: Path
) -> None:
    # The header is the only thing saying that the 9-character codes are passports and the
    # 12-digit numbers licences: it must reach row 100,000, in every chunk and every range.
    rows = 100_000
    path = tmp_path / "members.csv"
    path.write_text(header_led_dump(random.Random(9), rows), encoding="utf-8")
    expected = {"kr.rrn": rows, "kr.phone": 2 * rows, "kr.passport": rows,
                "kr.driver_license": rows}  # fmt: skip
    detector = Detector(packs, Fingerprinter(KEY), today=TODAY)
    one = detector.open(str(path))
    with path.open(encoding="utf-8") as text:
        for piece in iter(lambda: text.read(1 << 20), ""):
            one.feed(piece)
    one.finish()
    assert dict(one.counts) == expected  # --jobs 1
    (item,) = sources.expand([str(path)])
    assert isinstance(item, sources.Input)
    plan = sources.DocumentReader(item, None, TODAY).plan()
    assert plan is not None
    assert len(list(plan.ranges())) >= 3
    counts: Counter[str] = Counter()
    spec = DetectorSpec((), KEY, detector.min_confidence, False, TODAY)
    with ScanPool(spec, workers=2, eager=True) as pool:
        for outcome in scan_planned(detector, PageClassifier(packs), str(path), plan, pool):
            counts.update(f.type for f in outcome.findings)
        assert pool.started
    assert dict(counts) == expected  # --jobs 2: the second worker's ranges too
    # A range this dense holds thousands of findings: the ones after the first were cut
    # smaller, to about RANGE_FINDINGS each.
    assert plan.range_bytes < sources.RANGE_BYTES


def test_the_pool_starts_only_for_a_file_that_repays_it(
    packs: tuple[Pack, ...], tmp_path: Path
) -> None:
    rng = random.Random(12)
    prose = tmp_path / "notes.txt"  # 3 MB of prose: scanned here in a fraction of a second
    prose.write_text(
        "这是一段普通的说明文字，没有号码，只是为了占位置。\n" * 40_000, encoding="utf-8"
    )
    dump = tmp_path / "dump.csv"  # 3 MB of records: 5 s of work here, the pool pays
    dump.write_text("성명,주민등록번호,휴대폰\n" + "".join(
        f"{synthetic.hangul_name(rng)},{synthetic.rrn(rng)},{synthetic.mobile(rng)}\n"
        for _ in range(65_000)
    ), encoding="utf-8")  # fmt: skip
    detector = Detector(packs, Fingerprinter(KEY), today=TODAY)
    spec = DetectorSpec((), KEY, detector.min_confidence, False, TODAY)
    started = {}
    counts = {}
    for path in (prose, dump):
        (item,) = sources.expand([str(path)])
        assert isinstance(item, sources.Input)
        plan = sources.DocumentReader(item, None, TODAY).plan()
        assert plan is not None
        with ScanPool(spec, workers=2) as pool:
            outcomes = scan_planned(detector, PageClassifier(packs), str(path), plan, pool)
            found = [finding for outcome in outcomes for finding in outcome.findings]
            started[path.name] = pool.started
        counts[path.name] = len(found)
    assert started == {"notes.txt": False, "dump.csv": True}
    assert counts == {"notes.txt": 0, "dump.csv": 130_000}
    assert not pool_pays(0.01, 1 << 19, 3 << 20)  # 10 ms for 512 KiB, 3 MB: 60 ms here
    assert pool_pays(0.3, 1 << 19, 3 << 20)  # a dump's pace: 1.5 s more here


def test_ranges_are_sized_by_findings_not_bytes() -> None:
    size = sources.RANGE_BYTES
    assert range_bytes(0, size // 4) == size  # prose: large ranges after a small first
    assert range_bytes(10, size // 4) == size
    assert range_bytes(RANGE_FINDINGS, size) == size
    assert range_bytes(4 * RANGE_FINDINGS, size) == size // 4
    assert range_bytes(10**9, size) == sources.MIN_RANGE_BYTES
