"""Scan large documents on every core: their parts go to worker processes, speculatively.

A part of a document depends on the part before it in one way only: the table its first rows
may continue and the SQL statement they are in (`Carry`). Each part is therefore sent off
with the carry the last accepted part left, which is almost always right (prose has no
table; a CSV dump has one header throughout), and results are accepted strictly in order.
A part scanned with a wrong carry is scanned again here with the right one. Findings, their
order and their line numbers are exactly those of a scan in one process.

Two kinds of part:
- a large plain UTF-8 file is cut into line-aligned byte ranges (one pass here: hash, line
  counts, cut points) and each worker reads, decodes, scans and classifies its own range, so
  no text crosses a pipe;
- anything else large (stdin, gzip, other encodings, giant lines) is cut into text chunks
  here and the chunks are sent.

The first part of every document is scanned here, so small documents never leave.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

from leakwatch import collector
from leakwatch.detect.classify import PageClassifier, TextSignals
from leakwatch.detect.engine import (
    CONTEXT_CHARS,
    PAGE_SAMPLE_CHARS,
    Carry,
    ChunkCutter,
    ChunkJob,
    ChunkScanner,
    Detector,
)
from leakwatch.detect.packs import Pack, load_packs
from leakwatch.detect.redact import Fingerprinter
from leakwatch.extract.sources import (
    MIN_RANGE_BYTES,
    RANGE_BYTES,
    ByteRange,
    FilePlan,
    RangeSource,
    column_at,
)
from leakwatch.ignore import IgnoreRules
from leakwatch.models import Finding

ChunkResult = tuple[list[Finding], Carry | None]
# ... and what the range said, and the column its successor starts at (with whether that
# column counts from a line start inside the range, or continues the range's own start).
# A worker's findings come pickled: a range of a dense dump holds 15,000 of them, and up to
# 2 x workers ranges wait in the parent to be accepted in order, at 260 bytes a finding
# pickled and 700 unpickled. They are unpickled as each range is accepted.
RangeResult = tuple[list[Finding] | bytes, Carry | None, TextSignals, tuple[int, bool] | None]
# A file this large always repays starting the pool (even prose scans for seconds); a smaller
# one starts it only when its first range says the rest would take POOL_PAYS_SECONDS here.
POOL_ALWAYS_BYTES = 64 << 20
POOL_PAYS_SECONDS = 1.5
# Findings a range of a dense file is cut to hold (see `range_bytes`).
RANGE_FINDINGS = 4000
# Prose read ahead of a range, so trade-offer windows reach across range ends (UTF-8 bytes).
CONTEXT_BYTES = 3 * 1024


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """What a worker process needs to build the same detector as the parent."""

    extra_packs: tuple[str, ...]
    key: bytes
    min_confidence: float
    reveal: bool
    today: dt.date
    ignore: IgnoreRules | None = None  # the ignore file's rules (None: none)

    def build(self, packs: tuple[Pack, ...] | None = None) -> tuple[Detector, PageClassifier]:
        """The detector and classifier, with `packs` when given (a cluster's workers get
        them as text), else the built-in packs and `extra_packs` read from disk."""
        packs = packs if packs is not None else load_packs([Path(p) for p in self.extra_packs])
        detector = Detector(
            packs,
            Fingerprinter(self.key),
            min_confidence=self.min_confidence,
            reveal=self.reveal,
            today=self.today,
            ignore=self.ignore,
        )
        return detector, PageClassifier(packs)


@dataclass(frozen=True, slots=True)
class RangeJob:
    """One byte range of a planned file, for a worker to read and scan."""

    source: str
    file: RangeSource
    part: ByteRange
    classify: bool  # False once the page is known to be a trade offer: nothing left to learn
    foreign: frozenset[str]  # page facts decided from the first range (ChunkJob.foreign)


def scan_range(
    scanner: ChunkScanner, classifier: PageClassifier, job: RangeJob, carry: Carry | None
) -> RangeResult:
    """Read, decode, scan and classify one range."""
    part = job.file.read(job.part, CONTEXT_CHARS)
    line = job.part.line - part.lines_ahead
    chunk = ChunkJob(job.source, part.text, line, part.emit_from, part.emit_to, 0, job.foreign)
    findings, after = scanner.scan(chunk, carry)  # columns on the first line lack their base
    signals = classifier.open()
    if job.classify:
        signals.feed(job.file.read_before(job.part, CONTEXT_BYTES))
        signals.feed(part.text)
    tail = None if part.next_start is None else column_at(part.text, part.next_start)
    return findings, after, signals.text_signals(), tail


# The one detector of a worker process, made by its initializer (the executor's idiom).
_worker: tuple[Detector, ChunkScanner, PageClassifier] | None = None


def start_worker(spec: DetectorSpec) -> None:
    # Ctrl-C and SIGTERM (systemd sends it to the whole group) are the parent's to handle: it
    # stops the run, writes the results and shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    global _worker  # noqa: PLW0603 - per-process state of a pool worker
    detector, classifier = spec.build()
    _worker = (detector, ChunkScanner(detector), classifier)
    collector.settle()
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A parent killed outright (kill -9, power loss of a container) cannot shut its pool
    down; a worker blocked on its queue would then live on as an orphan. Leave with it."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def worker_detector() -> tuple[Detector, PageClassifier]:
    """The detector and classifier of this worker process, for jobs that scan whole
    documents (a crawled page): call only from a function the pool runs."""
    assert _worker is not None, "worker started without its initializer"
    return _worker[0], _worker[2]


def _nothing() -> None:
    return None


def _scan_chunk_in_worker(job: ChunkJob, carry: Carry | None) -> ChunkResult:
    assert _worker is not None, "worker started without its initializer"
    return _worker[1].scan(job, carry)


def _scan_range_in_worker(job: RangeJob, carry: Carry | None) -> RangeResult:
    assert _worker is not None, "worker started without its initializer"
    findings, after, signals, tail = scan_range(_worker[1], _worker[2], job, carry)
    return pickle.dumps(findings, pickle.HIGHEST_PROTOCOL), after, signals, tail


class ScanPool:
    """Worker processes for parts of documents; use as a context manager."""

    def __init__(self, spec: DetectorSpec, workers: int, *, eager: bool = False) -> None:
        self.spec = spec
        self.workers = workers
        # Used for every large file (`--jobs N` asks for N workers), not only where the
        # pool pays (see `pool_pays`).
        self.eager = eager
        self.depth = 2 * workers  # parts in flight: enough to keep every worker busy
        self._executor: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        """Whether the workers were started (they are on first need)."""
        return self._executor is not None

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        return self._start().submit(function, *args)

    def warm(self) -> None:
        """Start the workers now (they take a moment), e.g. while a large file is planned."""
        if self._executor is None:
            executor = self._start()
            for _ in range(self.workers):
                executor.submit(_nothing)

    def _start(self) -> ProcessPoolExecutor:
        if self._executor is None:  # started on first need: small scans never pay for it
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                # spawn, not fork: the CLI may run a progress thread, and forking a threaded
                # process can deadlock.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=start_worker,
                initargs=(self.spec,),
            )
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            for attempt in range(50):
                try:
                    self._executor.shutdown(wait=True, cancel_futures=True)
                    break
                except RuntimeError:
                    # A Ctrl-C or SIGTERM that landed while the executor was starting its
                    # manager thread (Thread.start waits for it, interruptibly): the thread
                    # runs but has not said so yet, and join() refuses it. A moment later
                    # it has; shut down again (shutdown may be called more than once).
                    if attempt == 49:
                        raise
                    time.sleep(0.02)
            self._executor = None

    def __enter__(self) -> ScanPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


Job = TypeVar("Job")
Result = TypeVar("Result", bound=tuple[Any, ...])  # (findings, carry, ...)


class _InOrder(Generic[Job, Result]):
    """Parts scanned in the pool on a guessed carry, accepted strictly in order."""

    def __init__(
        self,
        pool: ScanPool | None,  # None: every part here
        remote: Callable[[Job, Carry | None], Result],
        local: Callable[[Job, Carry | None], Result],
        *,
        table: Carry | None = None,
        started: bool = False,
    ) -> None:
        self.pool = pool
        self.remote: Callable[[Job, Carry | None], Result] = remote
        self.local: Callable[[Job, Carry | None], Result] = local
        self.table = table  # left by the last accepted part
        self.rescans = 0  # parts whose guessed carry was wrong
        self._in_flight: deque[tuple[Job, Carry | None, Future[Result]]] = deque()
        self._started = started

    def add(self, job: Job) -> list[tuple[Job, Result]]:
        """Start a part; returns the parts now done, with their results, in order."""
        if self.pool is None or not self._started:
            # No pool, or the first part: here (its carry guides the guesses after it).
            self._started = True
            return [(job, self._here(job))]
        self._in_flight.append((job, self.table, self.pool.submit(self.remote, job, self.table)))
        ready = []
        while len(self._in_flight) > self.pool.depth:
            ready.append(self._accept())
        while self._in_flight and self._in_flight[0][2].done():
            ready.append(self._accept())
        return ready

    def drain(self) -> list[tuple[Job, Result]]:
        return [self._accept() for _ in range(len(self._in_flight))]

    def _accept(self) -> tuple[Job, Result]:
        job, guess, future = self._in_flight.popleft()
        result: Result = future.result()
        if guess != self.table:  # scanned on a wrong guess: scan it again, right
            self.rescans += 1
            return job, self._here(job)
        self.table = result[1]
        return job, result

    def _here(self, job: Job) -> Result:
        result = self.local(job, self.table)
        self.table = result[1]
        return result


class ParallelDocumentScan:
    """The DocumentScan interface (feed, finish, counts), with text chunks scanned by a pool."""

    def __init__(self, detector: Detector, source: str, pool: ScanPool) -> None:
        self.cutter = ChunkCutter(source, detector.foreign_packs)
        self.counts: Counter[str] = Counter()
        scanner = ChunkScanner(detector)
        self._parts: _InOrder[ChunkJob, ChunkResult] = _InOrder(
            pool, _scan_chunk_in_worker, scanner.scan
        )

    @property
    def rescans(self) -> int:
        return self._parts.rescans

    def feed(self, piece: str) -> list[Finding]:
        """Add text; returns findings of the chunks finished so far, in document order."""
        results = [r for job in self.cutter.feed(piece) for r in self._parts.add(job)]
        return self._findings(results)

    def finish(self) -> list[Finding]:
        results = [r for job in self.cutter.finish() for r in self._parts.add(job)]
        return self._findings(results + self._parts.drain())

    def _findings(self, results: list[tuple[ChunkJob, ChunkResult]]) -> list[Finding]:
        found = [finding for _, (findings, _) in results for finding in findings]
        self.counts.update(f.type for f in found)
        return found


@dataclass(frozen=True, slots=True)
class RangeOutcome:
    """One accepted range: its findings, and what its text said (the first range gives its
    text itself, read here, for the page's date and its thorough classification)."""

    findings: list[Finding]
    signals: TextSignals | None
    text: str | None


def scan_planned(
    detector: Detector,
    classifier: PageClassifier,
    source: str,
    plan: FilePlan,
    pool: ScanPool,
    decided: Callable[[], bool] = lambda: False,
) -> Iterator[RangeOutcome]:
    """Scan a planned file range by range as the plan reads it: the first range here, the
    others in the pool if it pays (`pool_pays`), else here too.

    `decided` says whether the caller already knows the page is a trade offer (ranges sent
    after that skip classifying).
    """
    certain = pool.eager or plan.size >= POOL_ALWAYS_BYTES
    if certain:
        pool.warm()  # the workers start while the first range is read and scanned here
    scanner = ChunkScanner(detector)
    ranges = plan.ranges()
    head = next(ranges, None)
    if head is None:
        return
    started = time.perf_counter()
    text = plan.source.read(head, CONTEXT_CHARS)
    foreign = detector.foreign_packs(text.text[:PAGE_SAMPLE_CHARS])
    chunk = ChunkJob(source, text.text, head.line, text.emit_from, text.emit_to, 0, foreign)
    findings, carry = scanner.scan(chunk, None)
    scanned = head.end - head.start
    plan.range_bytes = range_bytes(len(findings), scanned)
    spent = time.perf_counter() - started  # scanning here, so far
    yield RangeOutcome(findings, None, text.text)
    tail = None if text.next_start is None else column_at(text.text, text.next_start)
    base = _next_base(tail, 0)

    def here(job: RangeJob, carry: Carry | None) -> RangeResult:
        nonlocal spent
        began = time.perf_counter()
        try:
            return scan_range(scanner, classifier, job, carry)
        finally:
            spent += time.perf_counter() - began

    parts: _InOrder[RangeJob, RangeResult] = _InOrder(  # here until the pool pays
        None, _scan_range_in_worker, here, table=carry, started=True
    )

    def accepted(done: list[tuple[RangeJob, RangeResult]]) -> Iterator[RangeOutcome]:
        nonlocal base
        for job, (packed, _, signals, tail) in done:
            found: list[Finding] = pickle.loads(packed) if isinstance(packed, bytes) else packed
            # Each range sizes the ones after it: a dense body after a sparse start (a
            # schema, a preamble) gets small ranges too.
            plan.range_bytes = range_bytes(len(found), job.part.end - job.part.start)
            shifted = found
            if base:  # the range began inside a line: its first line's columns start later
                shifted = [
                    replace(f, column=f.column + base) if f.line == job.part.line else f
                    for f in found
                ]
            base = _next_base(tail, base)
            yield RangeOutcome(shifted, signals, None)

    for part in ranges:
        if parts.pool is None and (certain or pool.started or pool_pays(spent, scanned, plan.size)):
            parts.pool = pool  # from here on (a slow rest is found out range by range)
        job = RangeJob(source, plan.source, part, not decided(), foreign)
        yield from accepted(parts.add(job))
        scanned += part.end - part.start
    yield from accepted(parts.drain())


def pool_pays(seconds: float, scanned: int, size: int) -> bool:
    """Whether the rest of a file is worth the pool, its first `scanned` bytes having taken
    `seconds` here: when the rest would take POOL_PAYS_SECONDS or more in this process.
    Starting the workers costs about half a second of both cores; below that, a file (a
    few MB of prose) is done sooner here."""
    return (size - scanned) * seconds >= POOL_PAYS_SECONDS * max(1, scanned)


def range_bytes(findings: int, size: int) -> int:
    """The size of a file's ranges after its first, of `size` bytes, held `findings`: about
    RANGE_FINDINGS findings each, from MIN_RANGE_BYTES to RANGE_BYTES. Memory then stays
    flat however dense a dump is (a worker's candidates and a range's results waiting in the
    parent grow with its findings, not its bytes), and prose gets the large ranges that
    cost least to hand out."""
    if not findings:
        return RANGE_BYTES
    return max(MIN_RANGE_BYTES, min(RANGE_BYTES, size * RANGE_FINDINGS // findings))


def _next_base(tail: tuple[int, bool] | None, base: int) -> int:
    """The column the next range starts at, from the previous range's tail and base."""
    if tail is None:
        return 0
    characters, from_line_start = tail
    return characters if from_line_start else base + characters


def available_cpus() -> int:
    """The CPUs this process may run on (a container's or taskset's share, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers(requested: int | None, cpus: int) -> int:
    """Workers for `--jobs`: the number asked for, at most one per CPU (more only contend:
    a process per CPU already keeps every CPU busy), else one per CPU; 1 means no pool."""
    if requested is not None:
        return max(1, min(requested, cpus))
    return cpus
