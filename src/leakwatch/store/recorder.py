"""Record a scan's event stream in the store, one document (or crawled URL) a transaction.

A document's findings arrive before its facts; they are held and written with them, so a
document is in the store whole or not at all. A large file's findings are written on the
way, FLUSH_FINDINGS to a statement, in a transaction committed every COMMIT_FINDINGS (or
COMMIT_SECONDS: another writer waits no longer) and with the document's facts; findings are
upserted, so a rescan after a crash counts nothing twice. Committing seldom is what makes
a dump fast to record: a commit writes out every index page its batch touched, and random
fingerprints touch random pages, so commits of 5,000 findings rewrote the whole records
index again and again.
For a crawled URL the transaction also holds its frontier change (`PageSettled`: done, and
the URLs it added), so an interrupted crawl resumes exactly where its store says it was.
The crawler emits a page's events and its `PageSettled` together, never interleaved with
another page's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack, suppress

from leakwatch.errors import StoreError
from leakwatch.models import (
    DocumentFacts,
    Event,
    Finding,
    PageSettled,
    QueuedUrl,
    Recaptured,
    ScanIssue,
)
from leakwatch.store import FindingsStore

FLUSH_FINDINGS = 5000
COMMIT_FINDINGS = 50_000
COMMIT_SECONDS = 2.0


class Recorder:
    """An event sink that writes to a store; `close` writes what is still held."""

    def __init__(self, store: FindingsStore, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self._findings: list[Finding] = []
        self._issues: list[ScanIssue] = []
        self._document: DocumentFacts | None = None  # a crawled page waiting for PageSettled
        self._batch: ExitStack | None = None  # a large document's open transaction
        self._uncommitted = 0  # findings written in it
        self._opened = 0.0  # when it began (time.monotonic)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Finding):
            self._findings.append(event)
            if len(self._findings) >= FLUSH_FINDINGS:
                self._flush()
        elif isinstance(event, DocumentFacts):
            if event.fetch is not None and event.capture is None:  # crawled: await PageSettled
                self._document = event
            else:  # a file, stdin, or a page read from an archive
                self._write(document=event)
        elif isinstance(event, ScanIssue):
            self._issues.append(event)  # written with the next document or frontier change
        elif isinstance(event, Recaptured):
            self.store.recaptured(event.url, event.capture)
        else:
            self._settled(event)

    def _settled(self, event: PageSettled) -> None:
        done = (event.url,) if event.final else ()  # not final: stays queued for --resume
        self._write(document=self._document, done=done, queued=event.queued)

    def _flush(self) -> None:
        """Write the findings held so far in the document's transaction (opened now if
        this is its first batch); commit it every COMMIT_FINDINGS."""
        if self._batch is None:
            batch = ExitStack()
            batch.enter_context(self.store.batch())
            self._batch = batch
            self._opened = time.monotonic()
        self._guarded(lambda: self.store.record(self.run_id, findings=self._findings))
        self._uncommitted += len(self._findings)
        self._findings = []
        if self._uncommitted >= COMMIT_FINDINGS or time.monotonic() - self._opened > COMMIT_SECONDS:
            self._commit()

    def _write(
        self,
        *,
        document: DocumentFacts | None = None,
        done: tuple[str, ...] = (),
        queued: tuple[QueuedUrl, ...] = (),
    ) -> None:
        def record() -> None:
            self.store.record(
                self.run_id,
                findings=self._findings,
                document=document,
                issues=self._issues,
                done=done,
                queued=queued,
            )

        self._guarded(record)
        self._findings, self._issues, self._document = [], [], None
        self._commit()

    def _guarded(self, write: Callable[[], None]) -> None:
        """Run a write; if it fails inside a document's transaction, what the earlier
        batches wrote is still committed (the failed one left nothing)."""
        try:
            write()
        except BaseException:
            with suppress(StoreError):
                self._commit()
            raise

    def _commit(self) -> None:
        batch, self._batch, self._uncommitted = self._batch, None, 0
        if batch is not None:
            batch.close()

    def close(self) -> None:
        """Write whatever is held (a scan stopped mid-document keeps its findings)."""
        if self._findings or self._issues or self._document is not None:
            self._write(document=self._document)
        self._commit()
