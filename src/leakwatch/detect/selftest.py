"""Run every pattern's own examples through the full detector (`leakwatch patterns test`).

An example in `examples.match` must yield a finding of the pattern's type at the default
threshold; one in `examples.no_match` must not. Packs are data an analyst edits, so this is
their unit test, run by the test suite as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from leakwatch.detect.engine import DEFAULT_MIN_CONFIDENCE, Detector
from leakwatch.detect.packs import Pack
from leakwatch.detect.redact import Fingerprinter
from leakwatch.errors import PackError


@dataclass(frozen=True, slots=True)
class ExampleResult:
    pattern_id: str
    checked: int
    failures: tuple[str, ...]


def run_examples(packs: Sequence[Pack], today: dt.date | None = None) -> list[ExampleResult]:
    """Check every example of every pattern; one result per pattern."""
    detector = Detector(
        packs,
        Fingerprinter(b"leakwatch patterns test"),
        min_confidence=DEFAULT_MIN_CONFIDENCE,
        today=today,
    )
    results = []
    for pack in packs:
        for pattern in pack.patterns:
            failures = []
            for number, text in enumerate(pattern.examples.match):
                found = [f for f in detector.scan_text("example", text) if f.type == pattern.type]
                if not found:
                    failures.append(f"examples.match[{number}] {text!r}: not found")
            for number, text in enumerate(pattern.examples.no_match):
                found = [f for f in detector.scan_text("example", text) if f.type == pattern.type]
                if found:
                    evidence = " ".join(found[0].evidence)
                    failures.append(
                        f"examples.no_match[{number}] {text!r}: found "
                        f"(confidence {found[0].confidence}, {evidence})"
                    )
            checked = len(pattern.examples.match) + len(pattern.examples.no_match)
            results.append(ExampleResult(pattern.id, checked, tuple(failures)))
    return results


def check_examples(packs: Sequence[Pack], today: dt.date | None = None) -> None:
    """Raise PackError for the first pattern whose examples fail, naming how many do (the
    examples themselves are not quoted: `leakwatch patterns test` shows them)."""
    owner = {pattern.id: pack for pack in packs for pattern in pack.patterns}
    failed = [result for result in run_examples(packs, today) if result.failures]
    if not failed:
        return
    first = failed[0]
    count = sum(len(result.failures) for result in failed)
    what = first.failures[0].split(" ", 1)[0]  # examples.match[2]
    others = f"; {count - 1} more example(s) fail" if count > 1 else ""
    raise PackError(
        owner[first.pattern_id].path,
        f"{what} fails its own test{others}; `leakwatch patterns test` shows them",
        first.pattern_id,
    )
