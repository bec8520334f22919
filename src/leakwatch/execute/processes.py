"""The process-pool executor (`--jobs N`): this machine's worker processes scan the parts of
large documents, the records of archives and crawled pages (detect/parallel.py, pipes.py)."""

from __future__ import annotations

from leakwatch.detect.parallel import DetectorSpec, ScanPool
from leakwatch.execute.inline import InProcess


class Processes(InProcess):
    """The in-process executor with `workers` processes beside it, started on first need
    (small scans never pay for them)."""

    def __init__(self, spec: DetectorSpec, workers: int, *, eager: bool = False) -> None:
        self.pool: ScanPool | None = ScanPool(spec, workers, eager=eager)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
