"""Scan a large document on every core: its chunks go to worker processes, speculatively.

A chunk depends on the one before it in one way only: the table its first rows may continue
(`TableCarry`). Each chunk is therefore sent off with the carry the last finished chunk left,
which is almost always right (prose has no table; a CSV dump has one header throughout), and
results are accepted strictly in order. When a chunk turns out to have been scanned with the
wrong carry, it is scanned again here with the right one. The findings, their order and the
line numbers are exactly those of a scan in one process.

Small documents never leave this process: the first chunk of every document is scanned here.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import signal
from collections import Counter, deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from leakwatch.detect.context import TableCarry
from leakwatch.detect.engine import ChunkCutter, ChunkJob, ChunkScanner, Detector
from leakwatch.detect.packs import load_packs
from leakwatch.detect.redact import Fingerprinter
from leakwatch.models import Finding

ChunkResult = tuple[list[Finding], TableCarry | None]


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """What a worker process needs to build the same detector as the parent."""

    extra_packs: tuple[str, ...]
    key: bytes
    min_confidence: float
    reveal: bool
    today: dt.date

    def build(self) -> Detector:
        packs = load_packs([Path(p) for p in self.extra_packs])
        return Detector(
            packs,
            Fingerprinter(self.key),
            min_confidence=self.min_confidence,
            reveal=self.reveal,
            today=self.today,
        )


# The one scanner of a worker process, made by its initializer (the executor's idiom).
_worker_scanner: ChunkScanner | None = None


def _start_worker(spec: DetectorSpec) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    global _worker_scanner  # noqa: PLW0603 - per-process state of a pool worker
    _worker_scanner = ChunkScanner(spec.build())


def _scan_in_worker(job: ChunkJob, carry: TableCarry | None) -> ChunkResult:
    assert _worker_scanner is not None, "worker started without its initializer"
    return _worker_scanner.scan(job, carry)


class ScanPool:
    """Worker processes for chunk scans; use as a context manager."""

    def __init__(self, spec: DetectorSpec, workers: int) -> None:
        self.spec = spec
        self.workers = workers
        self.depth = 2 * workers  # chunks in flight: enough to keep every worker busy
        self._executor: ProcessPoolExecutor | None = None

    def submit(self, job: ChunkJob, carry: TableCarry | None) -> Future[ChunkResult]:
        if self._executor is None:  # started on first use: small scans never pay for it
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                # spawn, not fork: the CLI may run a progress thread, and forking a threaded
                # process can deadlock.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.spec,),
            )
        return self._executor.submit(_scan_in_worker, job, carry)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
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


@dataclass(slots=True)
class _InFlight:
    job: ChunkJob
    carry: TableCarry | None  # the carry it was sent with
    future: Future[ChunkResult]


class ParallelDocumentScan:
    """The DocumentScan interface (feed, finish, counts), with chunks scanned by a pool."""

    def __init__(self, detector: Detector, source: str, pool: ScanPool) -> None:
        self.cutter = ChunkCutter(source)
        self.local = ChunkScanner(detector)
        self.pool = pool
        self.table: TableCarry | None = None  # left by the last accepted chunk
        self.counts: Counter[str] = Counter()
        self.rescans = 0  # chunks whose guessed carry was wrong (for tests and curiosity)
        self._in_flight: deque[_InFlight] = deque()
        self._started = False

    def feed(self, piece: str) -> list[Finding]:
        """Add text; returns findings of the chunks finished so far, in document order."""
        found: list[Finding] = []
        for job in self.cutter.feed(piece):
            found += self._dispatch(job)
            while len(self._in_flight) > self.pool.depth:
                found += self._accept()
        while self._in_flight and self._in_flight[0].future.done():
            found += self._accept()
        return found

    def finish(self) -> list[Finding]:
        found: list[Finding] = []
        for job in self.cutter.finish():
            found += self._dispatch(job)
        while self._in_flight:
            found += self._accept()
        return found

    def _dispatch(self, job: ChunkJob) -> list[Finding]:
        if not self._started:  # the first chunk here: its carry guides the guesses after it
            self._started = True
            return self._local(job)
        future = self.pool.submit(job, self.table)
        self._in_flight.append(_InFlight(job, self.table, future))
        return []

    def _accept(self) -> list[Finding]:
        flight = self._in_flight.popleft()
        findings, carry = flight.future.result()
        if flight.carry != self.table:  # scanned on a wrong guess: scan it again, right
            self.rescans += 1
            return self._local(flight.job)
        self.table = carry
        self.counts.update(f.type for f in findings)
        return findings

    def _local(self, job: ChunkJob) -> list[Finding]:
        findings, self.table = self.local.scan(job, self.table)
        self.counts.update(f.type for f in findings)
        return findings


def default_workers(requested: int | None, cpus: int | None) -> int:
    """Workers for `--jobs`: the number asked for, else one per CPU; 1 means no pool."""
    if requested is not None:
        return max(1, requested)
    return max(1, cpus or 1)
