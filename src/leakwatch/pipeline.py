"""Wire the stages: (fetch ->) read -> extract -> detect -> classify, as a stream of events.

Local inputs are a generator of events; a crawl hands its events to a callback as they
happen (it runs an event loop). Either way the pipeline never prints: the CLI renders the
events, a store records them, a test inspects them.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from leakwatch.detect.classify import PageClassifier, PageSignals, Verdict
from leakwatch.detect.engine import Detector, DocumentScan
from leakwatch.detect.names import SourceNames
from leakwatch.detect.parallel import (
    ParallelDocumentScan,
    ScanPool,
    scan_planned,
    worker_detector,
)
from leakwatch.detect.pipes import PipeWorkers
from leakwatch.errors import InputError
from leakwatch.extract import archives, dates, sources
from leakwatch.fetch.settings import ArchiveSettings, CrawlSettings, Page
from leakwatch.fetch.targets import Target
from leakwatch.ignore import IgnoreRules
from leakwatch.models import (
    DocumentFacts,
    Event,
    Finding,
    PageSettled,
    QueuedUrl,
    Recaptured,
    ScanIssue,
    Severity,
)

if TYPE_CHECKING:
    from leakwatch.fetch.backfill import Backfill
    from leakwatch.fetch.crawler import Crawler
    from leakwatch.fetch.guard import Resolver

# Issue kinds that are not failures: a policy or a content type kept the page out.
NOT_FAILURES = frozenset({"skipped", "partial", "robots", "offsite", "no-captures"})


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
    pages: Counter[str] = field(default_factory=Counter)  # crawled URLs by outcome
    queued: int = 0  # URLs the crawl has accepted beyond its start pages
    ignored: int = 0  # findings the ignore file left out
    # crawled URLs by target (its start URL, masked), then by outcome: a dead site shows
    targets: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def fetched(self) -> int:
        """Crawled URLs that answered with a page (scanned, or skipped for its type)."""
        return self.pages["scanned"] + self.pages["skipped"]

    @property
    def open_pages(self) -> int:
        """URLs the crawl has accepted and not finished yet (start pages aside)."""
        return max(0, self.queued - sum(self.pages.values()))

    def add(self, event: Event) -> None:
        if isinstance(event, Recaptured):
            self.issues["recapture"] += 1  # a note in the summary, not a failure
        elif isinstance(event, PageSettled):
            self.pages[event.outcome] += 1
            self.queued += len(event.queued)
            if event.target:
                self.targets.setdefault(event.target, Counter())[event.outcome] += 1
        elif isinstance(event, Finding):
            self.findings[event.type] += 1
            if self.worst is None or event.severity > self.worst:
                self.worst = event.severity
        elif isinstance(event, DocumentFacts):
            self.documents += 1
            self.ignored += event.ignored
            if event.category is not None:
                self.categories[event.category.value] += 1
        else:
            self.issues[event.kind] += 1
            if event.kind == "skipped":
                self.skipped += 1
            elif event.kind not in NOT_FAILURES:
                self.failed += 1


def scan_local(
    arguments: Sequence[str],
    detector: Detector,
    classifier: PageClassifier,
    *,
    stdin: BinaryIO | None = None,
    pool: ScanPool | None = None,
    names: SourceNames | None = None,
    known: Callable[[str, str], bool] | None = None,
) -> Iterator[Event]:
    """Scan files, folders and stdin ('-'); one event at a time. With a pool, large
    documents are scanned on several cores (same findings, same order). File names are
    written masked (see detect.names)."""
    names = names or SourceNames(detector)
    captured: set[tuple[str, str]] = set()  # (URL, payload digest) of archived pages scanned
    for found in sources.expand(list(arguments)):
        yield from scan_input(
            found, detector, classifier, names, stdin=stdin, pool=pool, known=known,
            captured=captured,
        )  # fmt: skip


def scan_input(
    found: sources.Input | InputError,
    detector: Detector,
    classifier: PageClassifier,
    names: SourceNames,
    *,
    stdin: BinaryIO | None = None,
    pool: ScanPool | None = None,
    known: Callable[[str, str], bool] | None = None,
    captured: set[tuple[str, str]] | None = None,
    shard: tuple[int, int] | None = None,
    name: str | None = None,
) -> Iterator[Event]:
    """Scan one input that `sources.expand` found (or the problem it met): a document, or an
    archive (only the records that begin in `shard`'s byte range, when given). `name`: its
    masked name, when made elsewhere (a cluster's client)."""
    if isinstance(found, InputError):
        yield ScanIssue(names.path(found.source), found.kind, names.mask(found.problem))
        return
    # Named as text or HTML, a file is read as such; anything else may be an archive.
    shown = name or (names.path(found.name) if found.path is not None else found.name)
    if found.path is not None and not found.known_text and archives.is_archive(found.path):
        yield from scan_archive(
            found.path, shown, detector, classifier, names,
            set() if captured is None else captured, pool, known, shard,
        )  # fmt: skip
        return
    raw = found.name
    item = found if found.path is None else replace(found, name=shown)
    reader = sources.DocumentReader(item, stdin, detector.today)
    events = scan_document(reader, detector, classifier, pool)
    if detector.reveal and item.name != raw:
        events = (_with_raw_source(event, raw) for event in events)
    yield from events


def scan_archive(
    path: Path,
    name: str,
    detector: Detector,
    classifier: PageClassifier,
    names: SourceNames,
    captured: set[tuple[str, str]],
    pool: ScanPool | None = None,
    known: Callable[[str, str], bool] | None = None,
    shard: tuple[int, int] | None = None,
) -> Iterator[Event]:
    """Scan each page an archive captured, as a crawled page is scanned (decoded with its
    HTTP headers, classified, dated); its first sighting is the capture instant. A page
    captured again with the same payload (a revisit, or the same digest) is not scanned
    again, in this run or (`known`: asked of the store) an earlier one. With a pool, pages
    are scanned by its workers, a few in flight, and their events come out in the
    archive's order."""
    waiting: deque[Future[list[Event]] | list[Event]] = deque()
    records = (
        archives.read_shard(path, name, *shard) if shard else archives.read_archive(path, name)
    )
    for record in records:
        if isinstance(record, InputError):
            issue = ScanIssue(names.mask(record.source), record.kind, names.mask(record.problem))
            waiting.append([issue])
        elif isinstance(record, Recaptured) or _seen(record, captured, known, names):
            waiting.append([Recaptured(names.url(record.url), record.capture)])
        else:
            if record.capture.digest is not None:
                captured.add((record.url, record.capture.digest))
            if pool is None:
                scanned = _scan_archived(record, detector, classifier)
                waiting.append(list(_masked_archived(scanned, names, detector.reveal)))
            else:
                waiting.append(pool.submit(_scan_archived_in_worker, record))
        while waiting and (
            not isinstance(waiting[0], Future)
            or waiting[0].done()
            or pool is None
            or len(waiting) > pool.depth
        ):
            yield from _masked_events(waiting.popleft(), names, detector.reveal)
    while waiting:
        yield from _masked_events(waiting.popleft(), names, detector.reveal)


def _seen(
    record: archives.ArchivedPage,
    captured: set[tuple[str, str]],
    known: Callable[[str, str], bool] | None,
    names: SourceNames,
) -> bool:
    """Whether this payload of this URL was scanned already (this run, or recorded: the
    store knows the page by its name, masked where the URL holds an identifier)."""
    digest = record.capture.digest
    if digest is None:
        return False
    if (record.url, digest) in captured:
        return True
    return known is not None and known(names.url(record.url), digest)


def _masked_events(
    events: Future[list[Event]] | list[Event], names: SourceNames, reveal: bool
) -> Iterator[Event]:
    """Events in the order they were queued: a worker's (masked here), or final ones."""
    if isinstance(events, Future):
        yield from _masked_archived(events.result(), names, reveal)
    else:
        yield from events


def _masked_archived(events: Iterable[Event], names: SourceNames, reveal: bool) -> Iterator[Event]:
    # An archived page's fetch target is its archive file, whose name is masked already.
    for event in events:
        yield masked_event(event, names, reveal, target_is_url=False)


def _scan_archived_in_worker(record: archives.ArchivedPage) -> list[Event]:
    detector, classifier = worker_detector()
    return list(_scan_archived(record, detector, classifier))


def _scan_archived(
    record: archives.ArchivedPage, detector: Detector, classifier: PageClassifier
) -> Iterator[Event]:
    """An archived page, scanned as a fetched one; its fetch target is the archive file."""
    info = record.fetch_info(record.capture.archive)
    page = Page(info, record.media_type, record.charset, record.body, False, record.capture)
    events, _ = scan_page(page, detector, classifier)
    yield from events
    if record.truncated:  # cut by the reader's cap, not --max-bytes: said in its own words
        yield ScanIssue(record.url, "partial", f"record body cut at {len(record.body):,} bytes")


def masked_event(
    event: Event, names: SourceNames, reveal: bool, *, target_is_url: bool = True
) -> Event:
    """A fetched (or archived) page's event with its URLs masked where they hold an
    identifier; `--reveal` keeps the raw source beside the masked one (never stored)."""
    name = names.url
    if isinstance(event, ScanIssue):
        return replace(event, source=name(event.source), message=names.mask(event.message))
    if isinstance(event, Finding):
        return replace(event, source=name(event.source))
    if isinstance(event, Recaptured):
        return replace(event, url=name(event.url))
    if isinstance(event, DocumentFacts) and event.fetch is not None:
        capture = event.capture
        if capture is not None and capture.archive.endswith(event.source):
            # A backfill's raw replay, `…/{timestamp}id_/{page URL}`: the page's URL masked.
            masked = capture.archive.removesuffix(event.source) + name(event.source)
            capture = replace(capture, archive=masked)
        fetch = replace(
            event.fetch,
            url=name(event.fetch.url),
            final_url=name(event.fetch.final_url),
            target=name(event.fetch.target) if target_is_url else event.fetch.target,
            site=names.mask(event.fetch.site),
        )
        source = name(event.source)
        raw = event.source if reveal and source != event.source else None
        return replace(event, source=source, fetch=fetch, capture=capture, raw_source=raw)
    return event


def _with_raw_source(event: Event, raw: str) -> Event:
    return replace(event, raw_source=raw) if isinstance(event, DocumentFacts) else event


def crawl(
    targets: Sequence[Target],
    settings: CrawlSettings,
    detector: Detector,
    classifier: PageClassifier,
    emit: Callable[[Event], None],
    *,
    pool: ScanPool | None = None,
    resolver: Resolver | None = None,
    done: Iterable[str] = (),
    pending: Sequence[QueuedUrl] = (),
    names: SourceNames | None = None,
    remote: RemotePages | None = None,
) -> None:
    """Crawl the targets, scanning every page as it arrives; events go to `emit`. Ctrl-C
    stops every request, then KeyboardInterrupt propagates (what was emitted stands)."""
    if pool is not None:
        pool.close()  # its processes (from files scanned before) give way to the page workers
    scanner = PageScanner(detector, classifier, emit, pool, names, remote=remote)
    # Here, not at the top: a scan of local files never loads the fetching code (httpx).
    from leakwatch.fetch.crawler import Crawler  # noqa: PLC0415

    crawler = Crawler(targets, settings, scanner, resolver=resolver, done=done, pending=pending)
    asyncio.run(_crawl(crawler, scanner))


def backfill(
    targets: Sequence[Target],
    settings: CrawlSettings,
    archive: ArchiveSettings,
    detector: Detector,
    classifier: PageClassifier,
    emit: Callable[[Event], None],
    *,
    pool: ScanPool | None = None,
    resolver: Resolver | None = None,
    names: SourceNames | None = None,
    known: Callable[[str, str], bool] | None = None,
    remote: RemotePages | None = None,
) -> None:
    """Fetch the targets' captures from a web archive and scan each page as it arrives, as
    a crawl does (fetch/backfill.py); `known` asks the store whether a payload was read."""
    if pool is not None:
        pool.close()  # its processes (from files scanned before) give way to the page workers
    scanner = PageScanner(detector, classifier, emit, pool, names, known, remote)
    from leakwatch.fetch.backfill import Backfill  # noqa: PLC0415 - as Crawler above

    runner = Backfill(targets, settings, archive, scanner, resolver=resolver)
    asyncio.run(_crawl(runner, scanner))


async def _crawl(crawler: Crawler | Backfill, scanner: PageScanner) -> None:
    try:
        await crawler.run()
    finally:
        scanner.close()


class RemotePages(Protocol):
    """Scans fetched pages elsewhere (a cluster's workers); `scan` blocks until done."""

    @property
    def parallel(self) -> int: ...

    def scan(self, page: Page) -> tuple[list[Event], tuple[str, ...] | None]: ...


class PageScanner:
    """The crawl's (and the backfill's) sink: each fetched page is read, scanned and
    classified like a file, in as many worker processes as the pool has when there is one
    (spoken to through pipes from the event loop: detect/pipes.py), on a cluster's workers
    (`remote`), else in a thread (either way the event loop goes on fetching). URLs are
    masked before anything is emitted."""

    def __init__(
        self,
        detector: Detector,
        classifier: PageClassifier,
        emit: Callable[[Event], None],
        pool: ScanPool | None = None,
        names: SourceNames | None = None,
        known: Callable[[str, str], bool] | None = None,
        remote: RemotePages | None = None,
    ) -> None:
        self.detector = detector
        self._known = known
        self.remote = remote
        self.classifier = classifier
        self.emit = emit
        self.pool = pool
        self.names = names or SourceNames(detector)
        self.workers = (
            PipeWorkers(pool.spec, pool.workers, _scan_page_in_worker) if pool is not None else None
        )

    @property
    def parallel(self) -> int:
        if self.remote is not None:
            return self.remote.parallel
        return 2 * self.pool.workers if self.pool is not None else 1

    async def page(self, page: Page) -> Sequence[str] | None:
        events: list[Event]
        links: tuple[str, ...] | None
        try:
            if self.remote is not None:
                events, links = await asyncio.to_thread(self.remote.scan, page)
            elif self.workers is None:
                raise BrokenProcessPool  # (no pool) scan in a thread, below
            else:
                events, links = await self.workers.run(page)
        except BrokenProcessPool:  # no pool, or the workers died (out of memory): go on here
            self.close()
            events, links = await asyncio.to_thread(scan_page, page, self.detector, self.classifier)
        for event in events:
            self.emit(self._masked(event))
        return links

    def problem(self, issue: ScanIssue) -> None:
        self.emit(self._masked(issue))

    def recaptured(self, event: Recaptured) -> None:
        self.emit(self._masked(event))

    def known(self, url: str, digest: str) -> bool:
        # The store keys a page by its name: masked where the URL holds an identifier.
        return self._known is not None and self._known(self.names.url(url), digest)

    def close(self) -> None:
        """Stop the worker processes (once the crawl is over, or they died)."""
        if self.workers is not None:
            self.workers.close()
            self.workers = None

    def settled(
        self, url: str, outcome: str, queued: Sequence[QueuedUrl], final: bool, target: str
    ) -> None:
        # A URL that holds an identifier is crawled but never written as it is: it is not
        # persisted in the frontier (a resumed crawl finds it again from its page).
        name = self.names.url
        kept = tuple(q for q in queued if name(q.url) == q.url and name(q.target) == q.target)
        self.emit(PageSettled(name(url), outcome, kept, final, name(target)))

    def _masked(self, event: Event) -> Event:
        return masked_event(event, self.names, self.detector.reveal)


def scan_page(
    page: Page, detector: Detector, classifier: PageClassifier
) -> tuple[list[Event], tuple[str, ...] | None]:
    """A fetched page's events and the links it holds (None: not a document, e.g. binary)."""
    info = page.info
    item = sources.Input(
        info.final_url,
        None,
        walked=True,
        content=page.body,
        declared_type=page.media_type,
        charset=page.charset,
        url=info.final_url,
    )
    reader = sources.DocumentReader(item, None, detector.today)
    events: list[Event] = []
    scanned = False
    for event in scan_document(reader, detector, classifier):
        if isinstance(event, DocumentFacts):
            scanned = True
            events.append(replace(event, fetch=info, capture=page.capture))
        else:
            events.append(event)
    if not scanned:
        return events, None
    if page.truncated:
        cut = f"body cut at {len(page.body):,} bytes (--max-bytes)"
        events.append(ScanIssue(info.final_url, "partial", cut))
    return events, reader.document.links


def _scan_page_in_worker(page: Page) -> tuple[list[Event], tuple[str, ...] | None]:
    detector, classifier = worker_detector()
    return scan_page(page, detector, classifier)


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
    kept = _Kept(detector.ignore, source)
    problem: InputError | None = None
    try:
        for piece in reader.pieces():
            signals.feed(piece.prose)
            for finding in scan.feed(piece.text):
                if kept(finding):
                    signals.finding(finding)
                    yield finding
    except InputError as exc:
        problem = exc
    if problem is not None and (problem.kind in ("binary", "skipped") or reader.document.size == 0):
        yield ScanIssue(problem.source, problem.kind, problem.problem)
        return
    for finding in scan.finish():
        if kept(finding):
            signals.finding(finding)
            yield finding
    if problem is not None:
        yield ScanIssue(problem.source, "partial", problem.problem)
    yield _facts(reader.document, signals, kept.counts(scan.counts), kept)


class _Kept:
    """The ignore file applied to one document's findings: those it names are dropped before
    they are reported, counted or weighed for the page's category; a document it names
    whole keeps none and is no case."""

    def __init__(self, ignore: IgnoreRules, source: str) -> None:
        self.ignore = ignore
        self.whole = bool(ignore) and ignore.ignores_source(source)
        self.dropped: Counter[str] = Counter()

    def __call__(self, finding: Finding) -> bool:
        if not self.ignore:
            return True
        if self.whole or self.ignore.ignores(finding.fingerprint, finding.type):
            self.dropped[finding.type] += 1
            return False
        return True

    def counts(self, counted: Counter[str]) -> Counter[str]:
        return counted - self.dropped if self.dropped else counted


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
    kept = _Kept(detector.ignore, document.source)
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
                if kept(finding):
                    counts[finding.type] += 1
                    signals.finding(finding)
                    yield finding
    except OSError as exc:  # the file changed or vanished under us
        yield ScanIssue(document.source, "partial", f"cannot read: {exc.strerror or exc}")
    yield _facts(document, signals, counts, kept)


def _facts(
    document: sources.Document, signals: PageSignals, counts: Counter[str], kept: _Kept
) -> DocumentFacts:
    verdict = signals.verdict() if not kept.whole else Verdict(None, ())
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
        ignored=sum(kept.dropped.values()),
    )
