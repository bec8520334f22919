"""The process-pool executor (`--jobs N`): this machine's worker processes scan the parts of
large documents, the records of archives and crawled pages (detect/parallel.py, pipes.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.detect.names import SourceNames
from leakwatch.detect.parallel import DetectorSpec, ScanPool
from leakwatch.models import Event
from leakwatch.pipeline import RemotePages, scan_local


class Processes:
    """`workers` processes, started on first need (small scans never pay for them)."""

    def __init__(self, spec: DetectorSpec, workers: int) -> None:
        self._pool = ScanPool(spec, workers)

    @property
    def pool(self) -> ScanPool:
        return self._pool

    pages: RemotePages | None = None

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
    ) -> Iterator[Event]:
        return scan_local(
            arguments, detector, classifier, stdin=stdin, pool=self._pool, names=names,
            known=known,
        )  # fmt: skip

    def close(self) -> None:
        self._pool.close()
