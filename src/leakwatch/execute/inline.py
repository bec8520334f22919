"""The in-process executor (`--jobs 1`): every document scanned here, one after another."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.detect.names import SourceNames
from leakwatch.detect.parallel import ScanPool
from leakwatch.models import Event
from leakwatch.pipeline import RemotePages, scan_local


class InProcess:
    """Scans in this process; nothing to start or stop. (Processes is this, with a pool.)"""

    pool: ScanPool | None = None
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
            arguments, detector, classifier, stdin=stdin, pool=self.pool, names=names,
            known=known,
        )  # fmt: skip

    def close(self) -> None:
        return None
