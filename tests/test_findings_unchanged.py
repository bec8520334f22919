"""The detector's findings on every labelled corpus (tests/fixtures/: ours and the blind
holdouts), pinned: speed work on the detector must not change what it finds.

Each finding is known by file, type, position, confidence (3 decimals) and its fingerprint
(test key), at the default threshold; tests/fixtures/findings.pinned keeps, per file, how
many there are and a digest of them all (60,000 findings in 5 MB would be too much to
keep). A change that means to alter findings (a pattern, a weight) updates the file on
purpose, and the diff shows which files moved:

    LEAKWATCH_PIN_FINDINGS=1 pytest tests/test_findings_unchanged.py
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.detect.packs import load_packs
from leakwatch.detect.redact import Fingerprinter
from leakwatch.models import Finding
from leakwatch.pipeline import scan_local

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PINNED = FIXTURES / "findings.pinned"
CORPORA = ("accuracy", "holdout-1", "holdout-2", "holdout-3", "holdout-4")
TODAY = dt.date(2026, 11, 28)  # the corpora's dates are relative to it (tests/synthetic.py)


def current_findings() -> list[str]:
    packs = load_packs()
    detector = Detector(packs, Fingerprinter(b"test-key"), today=TODAY)
    lines = []
    for corpus in CORPORA:
        root = FIXTURES / corpus
        documents = json.loads((root / "labels.json").read_text(encoding="utf-8"))["documents"]
        paths = [str(root / str(doc["file"])) for doc in documents]
        for event in scan_local(paths, detector, PageClassifier(packs)):
            if isinstance(event, Finding):
                where = Path(event.source).resolve().relative_to(FIXTURES).as_posix()
                lines.append(
                    f"{where}\t{event.type}\t{event.line}:{event.column}\t"
                    f"{event.confidence:.3f}\t{event.fingerprint}"
                )
    return sorted(lines)


def digests(lines: list[str]) -> list[str]:
    """Per file: its name, how many findings, and a digest of them all."""
    by_file: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        by_file[line.split("\t", 1)[0]].append(line)
    return [
        f"{name}\t{len(found)}\t{hashlib.sha256(chr(10).join(found).encode()).hexdigest()[:16]}"
        for name, found in sorted(by_file.items())
    ]


def test_the_findings_on_every_corpus_are_as_pinned() -> None:
    lines = current_findings()
    assert len(lines) > 1000  # the corpora hold thousands: a broken scan cannot pass
    found = digests(lines)
    if os.environ.get("LEAKWATCH_PIN_FINDINGS") == "1":
        PINNED.write_text("\n".join(found) + "\n", encoding="utf-8")
        pytest.skip(f"pinned {len(lines)} findings of {len(found)} files in {PINNED.name}")
    pinned = PINNED.read_text(encoding="utf-8").splitlines()
    gone = sorted(set(pinned) - set(found))
    new = sorted(set(found) - set(pinned))
    changes = "\n".join([*(f"- {line}" for line in gone[:10]), *(f"+ {line}" for line in new[:10])])
    assert found == pinned, f"findings changed in {len(gone)} files (pinned -, now +):\n{changes}"
