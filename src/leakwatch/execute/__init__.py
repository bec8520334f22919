"""Where a scan's detection runs: one module per executor, all behind `Executor`.

- inline.InProcess: here, in this process (`--jobs 1`);
- processes.Processes: this machine's worker processes (`--jobs N`, the default: parts of large
  documents, archive records and crawled pages go to them);
- cluster.DaskCluster: a Dask cluster (`--cluster ADDRESS`): one task per file or archive
  shard, scanned by the cluster's workers, whose results come back here to be written and
  recorded (the store keeps one writer).

Crawls and backfills fetch here whatever the executor; their pages are scanned by `pages` (a
cluster's workers) or `pool` when there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO, Protocol

from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.detect.names import SourceNames
from leakwatch.detect.parallel import ScanPool
from leakwatch.models import Event
from leakwatch.pipeline import RemotePages


class Executor(Protocol):
    """Scans local inputs (files, folders, archives, stdin) into events, in input order;
    one that runs tasks elsewhere tells `progress` (done, queued, workers) as they finish."""

    @property
    def pool(self) -> ScanPool | None:
        """This machine's worker processes, if any (for crawled pages and document parts)."""
        ...

    @property
    def pages(self) -> RemotePages | None:
        """Where crawled and backfilled pages are scanned instead, if elsewhere (a cluster)."""
        ...

    def scan_local(
        self,
        arguments: Sequence[str],
        detector: Detector,
        classifier: PageClassifier,
        *,
        stdin: BinaryIO | None,
        names: SourceNames,
        known: Callable[[str, str], bool] | None,
        progress: Callable[[int, int, int], None] | None = None,
    ) -> Iterator[Event]: ...

    def close(self) -> None:
        """Stop whatever the executor started (processes, a cluster's tasks); again: nothing."""
        ...
