"""Record a scan's event stream in the store, one document (or crawled URL) a transaction.

A document's findings arrive before its facts; they are held and written with them, so a
document is in the store whole or not at all. A large file's findings are flushed in
batches on the way (findings are upserted, so a rescan after a crash counts nothing twice).
For a crawled URL the transaction also holds its frontier change (`PageSettled`: done, and
the URLs it added), so an interrupted crawl resumes exactly where its store says it was.
The crawler emits a page's events and its `PageSettled` together, never interleaved with
another page's.
"""

from __future__ import annotations

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


class Recorder:
    """An event sink that writes to a store; `close` writes what is still held."""

    def __init__(self, store: FindingsStore, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self._findings: list[Finding] = []
        self._issues: list[ScanIssue] = []
        self._document: DocumentFacts | None = None  # a crawled page waiting for PageSettled

    def __call__(self, event: Event) -> None:
        if isinstance(event, Finding):
            self._findings.append(event)
            if len(self._findings) >= FLUSH_FINDINGS:
                self.store.record(self.run_id, findings=self._findings)
                self._findings = []
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

    def _write(
        self,
        *,
        document: DocumentFacts | None = None,
        done: tuple[str, ...] = (),
        queued: tuple[QueuedUrl, ...] = (),
    ) -> None:
        self.store.record(
            self.run_id,
            findings=self._findings,
            document=document,
            issues=self._issues,
            done=done,
            queued=queued,
        )
        self._findings, self._issues, self._document = [], [], None

    def close(self) -> None:
        """Write whatever is held (a scan stopped mid-document keeps its findings)."""
        if self._findings or self._issues or self._document is not None:
            self._write(document=self._document)
