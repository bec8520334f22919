"""The Dask executor (`--cluster tcp://scheduler:8786`, or `--cluster local[:N]` for a
LocalCluster of N worker processes on this machine): the same code path either way.

The client sends each worker what it needs to build this run's detector (the pattern packs
as text, the fingerprint key, the settings) through a worker plugin: in memory, never written
to the workers' disks, and given again to a worker that joins or restarts. It refuses workers
whose leakwatch version differs. Then one task per input file, or per shard of a large
archive (byte ranges at record boundaries, extract/archives.py), is scanned on the workers;
each returns its documents' events (values masked, fingerprints, evidence, document facts;
raw values only with --reveal) to the client, which writes and records them in input order,
so output and store are those of a one-machine run. A worker that dies has its tasks rerun by
Dask elsewhere; a task run twice returns the same events, recorded once. A page captured
again with the same payload in another shard (or recorded by an earlier run) is turned into
a recapture here, as one process would have.

Workers read the inputs at the paths the client names: they must see the same files (a shared
or copied folder). This module needs the `cluster` extra (dask, distributed); it is imported
only for a --cluster run.
"""

from __future__ import annotations

import logging
import math
import signal
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from distributed import Client, LocalCluster, WorkerPlugin

from leakwatch import __version__
from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.detect.names import SourceNames
from leakwatch.detect.packs import Pack, pack_from_text
from leakwatch.detect.parallel import DetectorSpec, ScanPool
from leakwatch.errors import InputError, UsageError
from leakwatch.extract import archives, sources
from leakwatch.fetch.settings import Page
from leakwatch.models import DocumentFacts, Event, Finding, Recaptured, ScanIssue
from leakwatch.pipeline import scan_input, scan_page
from leakwatch.safe_text import error_line

ENV_CLUSTER = "LEAKWATCH_CLUSTER"
SHARD_BYTES = 64 << 20  # an archive larger than this is cut into shards of about this size
ENV_SHARD_BYTES = "LEAKWATCH_SHARD_BYTES"  # another shard size (tests, tuning)
TASKS_PER_WORKER = 3  # tasks in flight per worker: enough to keep each busy
CONNECT_SECONDS = 10
CLOSE_SECONDS = 10
PAGE_SECONDS = 600  # a fetched page's scan on a worker, at most (a hung worker must not hold)
WORKER_SECONDS = 60  # for the first worker of a cluster to join

# This run's detector in each worker process, by run id (set by the plugin, read by tasks).
_DETECTORS: dict[str, tuple[Detector, PageClassifier, SourceNames]] = {}


class DaskCluster:
    """A connection to a Dask cluster (or a LocalCluster started for the run)."""

    pool: ScanPool | None = None  # no processes of its own here: pages go to the workers too

    @property
    def pages(self) -> DaskCluster:
        return self

    @property
    def parallel(self) -> int:
        """Pages worth having in flight: two per worker."""
        return 2 * self.workers

    def scan(self, page: Page) -> tuple[list[Event], tuple[str, ...] | None]:
        """A crawled or backfilled page, scanned on a worker (called from a thread)."""
        future = self.client.submit(_scan_page_task, self.run_id, page, pure=False)
        self._pages.add(future)
        try:
            result: tuple[list[Event], tuple[str, ...] | None] = future.result(PAGE_SECONDS)
        except Exception as exc:  # a worker that hangs, a lost cluster: this page's problem
            return [_internal(page.info.final_url, exc)], None
        finally:
            self._pages.discard(future)
        return result

    def __init__(
        self,
        address: str,
        spec: DetectorSpec,
        packs: Sequence[Pack],
        shard_bytes: int = SHARD_BYTES,
    ) -> None:
        self.address = address
        self.shard_bytes = shard_bytes
        self._local: Any = None
        self._pending: deque[list[Event] | _Task] = deque()
        self._pages: set[Any] = set()  # pages being scanned for a crawl (from its threads)
        self._closed = False
        logging.getLogger("distributed").setLevel(logging.CRITICAL)  # its notes are not ours
        try:
            if address == "local" or address.startswith("local:"):
                count = _local_workers(address)
                # Its processes inherit an ignored SIGINT: Ctrl-C in the terminal is the
                # client's to handle (it cancels the tasks), not a traceback from each worker.
                with _sigint_ignored(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # port notes and the like: not the user's
                    self._local = LocalCluster(
                        n_workers=count, threads_per_worker=1, processes=True,
                        dashboard_address=":0", silence_logs=logging.CRITICAL,
                    )  # fmt: skip
                self.client = Client(self._local, set_as_default=False)
            else:
                self.client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            self._close_local()
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageError(f"--cluster {address}: cannot reach the scheduler: {reason}") from None
        try:
            self._prepare(spec, packs)
        except BaseException:
            self.close()
            raise

    def _prepare(self, spec: DetectorSpec, packs: Sequence[Pack]) -> None:
        try:
            self.client.wait_for_workers(1, timeout=WORKER_SECONDS)
        except TimeoutError:
            raise UsageError(
                f"--cluster {self.address}: no worker joined within {WORKER_SECONDS} s"
            ) from None
        # A worker without leakwatch cannot even unpickle _version: its error comes back as
        # the answer instead of ending the run with a traceback.
        versions = self.client.run(_version, on_error="return")
        wrong = {worker: v for worker, v in versions.items() if v != __version__}
        if wrong:
            worker, version = sorted(wrong.items(), key=lambda item: str(item[0]))[0]
            runs = (
                f"runs leakwatch {version}"
                if isinstance(version, str)
                else f"cannot run leakwatch ({error_line(version)})"
            )
            raise UsageError(
                f"--cluster {self.address}: worker {worker} {runs}, this is leakwatch "
                f"{__version__}: install the same version on every worker"
            )
        self.run_id = uuid.uuid4().hex
        texts = tuple((pack.path, Path(pack.path).read_text(encoding="utf-8")) for pack in packs)
        plugin = _Detectors(self.run_id, spec, texts, __version__)
        self.client.register_plugin(plugin, name=self._plugin)
        self.workers = len(versions)

    @property
    def _plugin(self) -> str:
        return f"leakwatch-{self.run_id}"

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
        """Each file and archive shard scanned on the cluster; stdin and the problems met
        while walking folders are handled here. Events come in input order."""
        captured: set[tuple[str, str]] = set()
        pending = self._pending
        depth = [max(1, TASKS_PER_WORKER * self.workers)]  # follows the workers' count
        counts = [0, 0]  # tasks submitted, tasks done

        def done(item: list[Event] | _Task) -> Iterator[Event]:
            events = _result(item)
            if isinstance(item, _Task):
                counts[1] += 1
                workers = len(self.client.scheduler_info().get("workers", {}))
                depth[0] = max(1, TASKS_PER_WORKER * workers)  # workers that joined, or left
                if progress is not None:
                    progress(counts[1], counts[0] - counts[1], workers)
            return _unique(events, captured, known)

        for found in sources.expand(list(arguments)):
            if isinstance(found, InputError) or found.path is None:  # a problem, or stdin
                pending.append(list(scan_input(found, detector, classifier, names, stdin=stdin)))
            else:
                name = names.path(found.name)
                whole = replace(found, path=found.path.absolute())
                for shard in _shards(found, self.shard_bytes):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # "sending a large graph": not the user's
                        task = self.client.submit(
                            _scan_task, self.run_id, whole, shard, name, pure=False
                        )
                    pending.append(_Task(task, name))
                    counts[0] += 1
            while len(pending) > depth[0] or (pending and isinstance(pending[0], list)):
                yield from done(pending.popleft())
        while pending:
            yield from done(pending.popleft())

    def close(self) -> None:
        """Cancel what is still queued (Ctrl-C), forget this run's plugin, disconnect."""
        client = None if self._closed else getattr(self, "client", None)
        self._closed = True
        if client is not None:
            futures = [t.future for t in self._pending if isinstance(t, _Task)] + list(self._pages)
            try:
                if futures:
                    client.cancel(futures)
                if hasattr(self, "run_id"):  # a worker that hangs must not hold the run
                    client.sync(_unregister, client, self._plugin, callback_timeout=CLOSE_SECONDS)
            except Exception:  # a cluster gone away has nothing to clean up
                pass
            client.close(timeout=CLOSE_SECONDS)
        self._pending.clear()
        self._close_local()

    def _close_local(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _local_workers(address: str) -> int:
    _, _, count = address.partition(":")
    if not count:
        from leakwatch.detect.parallel import available_cpus  # noqa: PLC0415

        return available_cpus()
    if not (count.isascii() and count.isdigit()) or not 1 <= int(count) <= 256:
        raise ValueError(f"local:{count}: the number of workers is 1 to 256")
    return int(count)


def _shards(found: sources.Input, shard_bytes: int) -> list[tuple[int, int] | None]:
    """A file is one task; a large archive gzipped record by record is several."""
    assert found.path is not None
    try:
        size = found.path.stat().st_size
    except OSError:
        return [None]  # the worker says why it cannot be read
    if size <= shard_bytes or found.known_text or not archives.is_archive(found.path):
        return [None]
    ranges = archives.shards(found.path, size, math.ceil(size / shard_bytes))
    return [None] if len(ranges) == 1 else list(ranges)


@dataclass(frozen=True, slots=True)
class _Task:
    future: Any  # a distributed Future
    name: str  # its input's masked name


def _result(item: list[Event] | _Task) -> list[Event]:
    """A task's events; a task the cluster could not run (its workers kept dying) is its
    input's problem, and the run goes on."""
    if isinstance(item, list):
        return item
    try:
        return list(item.future.result())
    except Exception as exc:  # KilledWorker, a lost cluster: this input's problem, not the run's
        return [_internal(item.name, exc)]


def _unique(
    events: Iterable[Event],
    captured: set[tuple[str, str]],
    known: Callable[[str, str], bool] | None,
) -> Iterator[Event]:
    """Events with each archived payload kept once: a page another shard (or an earlier
    run) already read with the same digest becomes a recapture, its findings dropped."""
    held: list[Event] = []
    dropped: str | None = None  # the source of a duplicate whose events are being dropped
    for event in events:
        if isinstance(event, ScanIssue) and event.source == dropped:
            continue  # its "partial" note, after its facts
        dropped = None
        if isinstance(event, Finding):
            held.append(event)
            continue
        if isinstance(event, DocumentFacts) and event.capture is not None:
            digest = event.capture.digest
            if digest is not None:
                key = (event.source, digest)
                if key in captured or (known is not None and known(*key)):
                    held.clear()
                    dropped = event.source
                    yield Recaptured(event.source, event.capture)
                    continue
                captured.add(key)
        yield from held
        held.clear()
        yield event
    yield from held


async def _unregister(client: Any, name: str) -> None:
    await client.unregister_worker_plugin(name)


def _version() -> str:
    return __version__


def _scan_page_task(run: str, page: Page) -> tuple[list[Event], tuple[str, ...] | None]:
    """One fetched page, scanned on a worker; its URLs are masked by the client. What goes
    wrong is the page's problem (masked), never a traceback in the worker's log."""
    try:
        detector, classifier, _ = _detector(run)
        return scan_page(page, detector, classifier)
    except Exception as exc:  # one page must not end the run
        return [_internal(page.info.final_url, exc)], None


def _scan_task(
    run: str, found: sources.Input, shard: tuple[int, int] | None, name: str
) -> list[Event]:
    """One file or archive shard, scanned on a worker with the run's detector; `name` is
    the input's masked name, made on the client (a relative path means nothing there)."""
    try:
        detector, classifier, names = _detector(run)
        return list(scan_input(found, detector, classifier, names, shard=shard, name=name))
    except Exception as exc:  # one input must not end the run
        return [_internal(name, exc)]


def _detector(run: str) -> tuple[Detector, PageClassifier, SourceNames]:
    found = _DETECTORS.get(run)
    if found is None:
        raise RuntimeError(f"this worker runs leakwatch {__version__}, not the client's")
    return found


def _internal(source: str, exc: BaseException) -> ScanIssue:
    """A task's failure as a problem of its input, its digits masked (it may quote a page)."""
    detail = error_line(exc)[:200] if str(exc).strip() else ""
    return ScanIssue(source, "internal", f"{type(exc).__name__} on a cluster worker: {detail}")


class _Detectors(WorkerPlugin):
    """The worker plugin that builds the run's detector in each worker (Dask calls `setup`
    on every worker, present and future)."""

    def __init__(
        self, run: str, spec: DetectorSpec, packs: tuple[tuple[str, str], ...], version: str
    ) -> None:
        self.run = run
        self.spec = spec
        self.packs = packs
        self.version = version

    def setup(self, worker: Any) -> None:
        if self.version != __version__:  # a worker that joined after the client's check
            return  # no detector: its tasks say why, and fail alone
        packs = tuple(pack_from_text(name, text) for name, text in self.packs)
        detector, classifier = self.spec.build(packs)
        _DETECTORS[self.run] = (detector, classifier, SourceNames(detector))

    def teardown(self, worker: Any) -> None:
        _DETECTORS.pop(self.run, None)
