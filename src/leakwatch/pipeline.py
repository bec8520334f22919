"""Wire the stages for local inputs: read -> extract -> detect -> classify, as a stream of events.

The pipeline yields events as they happen (a finding, a finished document, an input that
could not be read) and never prints: the CLI renders them, a test inspects them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from leakwatch.detect.classify import PageClassifier, PageSignals
from leakwatch.detect.engine import Detector, DocumentScan
from leakwatch.detect.parallel import ParallelDocumentScan, ScanPool, scan_planned
from leakwatch.errors import InputError
from leakwatch.extract import dates, sources
from leakwatch.models import DocumentFacts, Finding, ScanIssue, Severity

Event = Finding | DocumentFacts | ScanIssue


@dataclass(slots=True)
class Tally:
    """Running totals of a scan, for the summary and the exit code."""

    documents: int = 0
    failed: int = 0
    skipped: int = 0  # files met in a folder that are not text (not a failure)
    worst: Severity | None = None  # the most severe finding's severity
    findings: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    issues: Counter[str] = field(default_factory=Counter)

    def add(self, event: Event) -> None:
        if isinstance(event, Finding):
            self.findings[event.type] += 1
            if self.worst is None or event.severity > self.worst:
                self.worst = event.severity
        elif isinstance(event, DocumentFacts):
            self.documents += 1
            if event.category is not None:
                self.categories[event.category.value] += 1
        else:
            self.issues[event.kind] += 1
            if event.kind == "skipped":
                self.skipped += 1
            elif event.kind != "partial":
                self.failed += 1


def scan_local(
    arguments: Sequence[str],
    detector: Detector,
    classifier: PageClassifier,
    *,
    stdin: BinaryIO | None = None,
    pool: ScanPool | None = None,
) -> Iterator[Event]:
    """Scan files, folders and stdin ('-'); one event at a time. With a pool, large
    documents are scanned on several cores (same findings, same order)."""
    for item in sources.expand(list(arguments)):
        if isinstance(item, InputError):
            yield ScanIssue(item.source, item.kind, item.problem)
            continue
        reader = sources.DocumentReader(item, stdin, detector.today)
        yield from scan_document(reader, detector, classifier, pool)


def scan_document(
    reader: sources.DocumentReader,
    detector: Detector,
    classifier: PageClassifier,
    pool: ScanPool | None = None,
) -> Iterator[Event]:
    """Scan one document; a read error mid-way still reports what was found before it."""
    plan = reader.plan() if pool is not None else None
    if pool is not None and plan is not None:
        yield from _scan_planned(reader, plan, detector, classifier, pool)
        return
    source = reader.document.source
    scan: DocumentScan | ParallelDocumentScan = (
        ParallelDocumentScan(detector, source, pool) if pool else detector.open(source)
    )
    signals = classifier.open()
    problem: InputError | None = None
    try:
        for piece in reader.pieces():
            signals.feed(piece.prose)
            for finding in scan.feed(piece.text):
                signals.finding(finding)
                yield finding
    except InputError as exc:
        problem = exc
    if problem is not None and (problem.kind in ("binary", "skipped") or reader.document.size == 0):
        yield ScanIssue(problem.source, problem.kind, problem.problem)
        return
    for finding in scan.finish():
        signals.finding(finding)
        yield finding
    if problem is not None:
        yield ScanIssue(problem.source, "partial", problem.problem)
    yield _facts(reader.document, signals, scan.counts)


def _scan_planned(
    reader: sources.DocumentReader,
    plan: sources.FilePlan,
    detector: Detector,
    classifier: PageClassifier,
    pool: ScanPool,
) -> Iterator[Event]:
    """A large plain file: its byte ranges are read and scanned by the pool's workers."""
    document = reader.document
    signals = classifier.open()
    counts: Counter[str] = Counter()
    try:
        outcomes = scan_planned(
            detector, classifier, document.source, plan, pool, lambda: signals.decided
        )
        for outcome in outcomes:
            if outcome.text is not None:  # the first range, read here
                document.published = dates.from_text(outcome.text, detector.today)
                signals.feed(outcome.text)
            elif outcome.signals is not None:
                signals.absorb(outcome.signals)
            for finding in outcome.findings:
                counts[finding.type] += 1
                signals.finding(finding)
                yield finding
    except OSError as exc:  # the file changed or vanished under us
        yield ScanIssue(document.source, "partial", f"cannot read: {exc.strerror or exc}")
    yield _facts(document, signals, counts)


def _facts(document: sources.Document, signals: PageSignals, counts: Counter[str]) -> DocumentFacts:
    verdict = signals.verdict()
    return DocumentFacts(
        source=document.source,
        media_type=document.media_type,
        size=document.size,
        encoding=document.encoding.codec if document.encoding else None,
        encoding_source=document.encoding.source if document.encoding else None,
        category=verdict.category,
        category_evidence=verdict.evidence,
        published=document.published.value if document.published else None,
        published_source=document.published.source if document.published else None,
        findings=sum(counts.values()),
        findings_by_type=dict(sorted(counts.items())),
        content_sha256=document.sha256,
    )
