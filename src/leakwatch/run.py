"""One scan from start to end: its sources (files, a crawl, an archive) through the pipeline
into its sinks (the output writer, the store), and how it ended.

The CLI parses options into a `Request`, opens the output and the progress display, and calls
`scan`; a test or a cluster client can drive the same code. Nothing here prints or exits: a
problem that stops the run is a typed error (UsageError, OutputError, StoreError,
KeyboardInterrupt), and a run that ends is a `Verdict` (an `Ending` and the one-line problem
behind it). Whatever way it ends, the store's run record says how.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Protocol

from leakwatch import __version__
from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.detect.names import SourceNames
from leakwatch.detect.packs import Pack
from leakwatch.detect.parallel import DetectorSpec
from leakwatch.errors import InputError, StoreError, UsageError
from leakwatch.execute import Executor
from leakwatch.execute.inline import InProcess
from leakwatch.execute.processes import Processes
from leakwatch.fetch import cdx, targets
from leakwatch.fetch.settings import ArchiveSettings, CrawlSettings
from leakwatch.fetch.urls import redact_url
from leakwatch.models import DocumentFacts, Event, Finding, ScanIssue, Severity, now
from leakwatch.output_file import OutputClosed
from leakwatch.pipeline import Tally, backfill, crawl
from leakwatch.report.scan_output import RunInfo, Summary, Writer, summary_dict
from leakwatch.store import Resume, Store, location_of
from leakwatch.store.recorder import Recorder


class Ending(enum.Enum):
    """How a scan ended (the CLI's exit codes: 0, 1, 3, 130)."""

    COMPLETED = "completed"  # findings alone do not change it
    FINDINGS = "findings"  # a finding at or above the --fail-on threshold
    INCOMPLETE = "incomplete"  # nothing could be scanned, or --strict and something failed
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A finished scan: its totals, how it ended, and the one-line problem behind it."""

    tally: Tally
    ending: Ending
    problem: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.ending is Ending.INTERRUPTED


@dataclass(frozen=True, slots=True)
class Request:
    """A scan as its options asked for it."""

    plan: targets.Plan
    settings: CrawlSettings
    detector: Detector
    packs: tuple[Pack, ...]
    spec: DetectorSpec
    workers: int
    run: RunInfo
    jobs_given: bool = False  # `--jobs N`: every large file on N workers, not only where they pay
    db: str | None = None  # a store file's path or a postgresql:// URL; None: the default
    no_store: bool = False
    resume: bool = False
    strict: bool = False
    threshold: Severity | None = None
    names: SourceNames | None = None
    archive: ArchiveSettings | None = None
    arguments: tuple[str, ...] = ()  # the command line, as the run record keeps it (masked)
    stdin: BinaryIO | None = None  # what '-' reads
    cluster: str | None = None  # a Dask scheduler's address, or local[:N]


class Observer(Protocol):
    """What watches a scan as it goes (the CLI's progress line and notes)."""

    def update(self, event: Event, tally: Tally) -> None: ...

    def issue(self, issue: ScanIssue) -> None: ...

    def tasks(self, done: int, queued: int, workers: int) -> None:
        """A cluster's progress: its tasks done and still queued, its workers now."""
        ...


def scan(
    request: Request,
    output: Callable[[], AbstractContextManager[Writer]],
    observer: AbstractContextManager[Observer],
    finishing: Callable[[], None] = lambda: None,
) -> Verdict:
    """Run the scan: open the store and start the run record, open the output, scan, write
    the output's end and record how the run ended. `finishing` is called once the scanning
    is over and the results are being written (the CLI stops a single Ctrl-C there). Errors
    that end the run early are recorded (failed or interrupted) and raised."""
    tally = Tally()
    names = request.names or SourceNames(request.detector)
    executor = _executor(request)  # before the run record: a cluster out of reach is a usage error
    with (
        closing(executor),  # on every way out; on the normal one, it is closed before this
        _recording(
            request.db, request.no_store, request.resume, request.plan, request.run, names,
            request.arguments,
        ) as (plan, record),
    ):  # fmt: skip
        try:
            # The executor closes inside the output's block, as the output's last step before
            # it is committed: a Ctrl-C while processes or a cluster stop leaves it unwritten.
            with output() as writer, observer as watching, closing(executor):
                dispatch = _Dispatch(writer, watching, tally, also=record.sink)
                work = Work(
                    plan, request.settings, request.detector, PageClassifier(request.packs),
                    executor, names, record.resume,
                    record.store.captured if record.store else None,
                    _resumed_archive(request.archive, record.resume), request.stdin,
                )  # fmt: skip
                interrupted = _execute(work, dispatch)
                finishing()  # from here on, the results are being written
                summary = _summary(tally, interrupted)
                writer.close(summary)
        except BaseException as exc:  # the run ends here: say how, then let it go on up
            outcome = _outcome_of(exc)
            record.abandon(_summary(tally, outcome == "interrupted"), outcome)
            raise
        resumed = record.resume is not None
        ending, problem = _verdict(
            tally, plan, interrupted, request.strict, request.threshold, resumed, work.archive
        )
        record.finish(summary, _RECORDED[ending])
    return Verdict(tally, ending, problem)


def _executor(request: Request) -> Executor:
    """Where detection runs: a Dask cluster (--cluster), this machine's worker processes
    (--jobs N), or this process."""
    if request.cluster:
        try:
            from leakwatch.execute.cluster import (  # noqa: PLC0415 - the optional extra
                ENV_SHARD_BYTES,
                SHARD_BYTES,
                DaskCluster,
            )
        except ImportError:
            raise UsageError(
                "--cluster needs Dask: pip install 'leakwatch[cluster]' (on every worker too)"
            ) from None
        shard = os.environ.get(ENV_SHARD_BYTES, "")
        size = int(shard) if shard.isascii() and shard.isdigit() and int(shard) > 0 else None
        return DaskCluster(request.cluster, request.spec, request.packs, size or SHARD_BYTES)
    if request.workers > 1:
        return Processes(request.spec, request.workers, eager=request.jobs_given)
    return InProcess()


_RECORDED = {Ending.COMPLETED: "completed", Ending.FINDINGS: "completed",
             Ending.INCOMPLETE: "failed", Ending.INTERRUPTED: "interrupted"}  # fmt: skip


def _outcome_of(exc: BaseException) -> str:
    """How a run that ended with `exc` is recorded: stopped (Ctrl-C, SIGTERM, a reader that
    went away) or failed (output or store not writable, a bug)."""
    return "interrupted" if isinstance(exc, KeyboardInterrupt | OutputClosed) else "failed"


def archive_settings(
    archive: str | None, since: str | None, until: str | None, data: str | None
) -> ArchiveSettings | None:
    """--archive and its companions read; UsageError for a bad value or combination."""
    if archive is None:
        given = [n for n, v in (("--since", since), ("--until", until), ("--archive-data", data))
                 if v is not None]  # fmt: skip
        if given:
            raise UsageError(f"{' and '.join(given)}: only with --archive")
        return None
    source = cdx.archive_source(archive, data, os.environ)
    window = cdx.Window(
        cdx.cdx_timestamp(since, "--since") if since else None,
        cdx.cdx_timestamp(until, "--until") if until else None,
    )
    rows = os.environ.get(cdx.ENV_PAGE_ROWS, "")
    page_rows = int(rows) if rows.isascii() and rows.isdigit() and int(rows) > 0 else None
    if window.since and window.until and window.since.ljust(14, "0") > window.until.ljust(14, "9"):
        raise UsageError(f"--since {since} is after --until {until}")
    return ArchiveSettings(source, window, page_rows or cdx.WAYBACK_ROWS)


def archive_record(archive: ArchiveSettings) -> dict[str, Any]:
    """--archive as the run records it (and a --resume without it reads it back)."""
    return {
        "source": archive.source.text,
        "since": archive.window.since,
        "until": archive.window.until,
        "data": archive.source.data,
    }


def _resumed_archive(
    archive: ArchiveSettings | None, resume: Resume | None
) -> ArchiveSettings | None:
    """The archive a run backfills from: --archive, or (--resume without it) the resumed
    run's."""
    if archive is not None or resume is None or "archive" not in resume.settings:
        return archive
    kept = resume.settings["archive"]
    return archive_settings(kept["source"], kept["since"], kept["until"], kept["data"])


def settings_record(settings: CrawlSettings) -> dict[str, Any]:
    """The crawl settings as the output records them (proxy credentials hidden)."""
    return {
        "depth": settings.depth,
        "max_pages": settings.max_pages,
        "scope": str(settings.scope),
        "concurrency": settings.concurrency,
        "per_host": settings.per_host,
        "delay": settings.delay,
        "ignore_robots": not settings.obey_robots,
        "user_agent": settings.user_agent,
        "allow_private": settings.allow_private,
        "proxy": redact_url(settings.proxy) if settings.proxy else None,
        "timeout": settings.deadline,
        "max_bytes": settings.max_bytes,
    }


def _verdict(
    tally: Tally,
    plan: targets.Plan,
    interrupted: bool,
    strict: bool,
    threshold: Severity | None,
    resumed: bool,
    archive: ArchiveSettings | None = None,
) -> tuple[Ending, str | None]:
    """How the run ended, and the one-line error that explains it (errors outrank findings).
    A resumed crawl may have nothing left to fetch: that is the end of it, not a failure;
    nor is an archive that holds no capture of the targets (its index could be read)."""
    if interrupted:
        return Ending.INTERRUPTED, None
    if archive is not None:
        if plan.targets and not tally.fetched and tally.issues["archive-index"]:
            return (
                Ending.INCOMPLETE,
                f"the archive's index could not be read ({archive.source.text})",
            )
    elif plan.targets and not tally.fetched and not resumed:
        return Ending.INCOMPLETE, f"no target could be fetched ({len(plan.targets)} tried)"
    if tally.documents == 0 and tally.failed:
        return Ending.INCOMPLETE, "no input could be scanned"
    if strict and tally.failed:
        what = "inputs or pages" if plan.targets else "inputs"
        return Ending.INCOMPLETE, f"{tally.failed} {what} could not be scanned (--strict)"
    if threshold is not None and tally.worst is not None and tally.worst >= threshold:
        return Ending.FINDINGS, None
    return Ending.COMPLETED, None


@dataclass(frozen=True, slots=True)
class Work:
    """What one scan runs with."""

    plan: targets.Plan
    settings: CrawlSettings
    detector: Detector
    classifier: PageClassifier
    executor: Executor
    names: SourceNames
    resume: Resume | None = None
    # Whether the store already holds a page captured with this payload (URL, digest).
    known: Callable[[str, str], bool] | None = None
    archive: ArchiveSettings | None = None  # --archive: the targets come from there
    stdin: BinaryIO | None = None


@dataclass(slots=True)
class _Record:
    """The store side of a run: where its events go, how it ends, what it resumes."""

    store: Store | None = None
    run_id: int | None = None
    recorder: Recorder | None = None
    resume: Resume | None = None

    @property
    def sink(self) -> Recorder | None:
        return self.recorder

    def finish(self, summary: Summary, outcome: str) -> None:
        """Write what is still held and the run's end (completed, interrupted, failed)."""
        if self.store is None or self.run_id is None or self.recorder is None:
            return
        self.recorder.close()
        self.store.finish_run(
            self.run_id, finished=summary.finished, outcome=outcome, summary=summary_dict(summary)
        )

    def abandon(self, summary: Summary, outcome: str) -> None:
        """`finish` for a run that is ending on an error, which may be the store's own: then
        the run stays unfinished, and the error that stopped it is the one reported."""
        with suppress(StoreError):
            self.finish(summary, outcome)


@contextmanager
def _recording(
    db: str | None,
    no_store: bool,
    resume: bool,
    plan: targets.Plan,
    run: RunInfo,
    names: SourceNames,
    arguments: Sequence[str],
) -> Iterator[tuple[targets.Plan, _Record]]:
    """Open the store (unless --no-store), find the crawl to resume, start the run record.
    What the run record keeps of the command line, its targets and inputs is masked."""
    if no_store:
        if resume:
            raise UsageError("--resume needs the store: drop --no-store")
        yield plan, _Record()
        return
    with Store.open(location_of(db, os.environ)) as store:
        previous = None
        if resume:
            lines = [_target_line(t, names) for t in plan.targets]
            previous = store.resumable(lines or None)
            if previous is None:
                which = "these targets" if lines else "any targets"
                raise UsageError(f"--resume: no interrupted crawl of {which} in {store.location}")
            if not lines:
                plan = _resumed_plan(plan, previous.targets)
        settings = {**run.settings, "inputs": [names.mask(p) for p in plan.paths]}
        if previous is not None and "archive" in previous.settings:
            # A resumed backfill stays one: a resume of this run must find its archive too.
            settings.setdefault("archive", previous.settings["archive"])
        run_id = store.start_run(
            started=run.started,
            version=__version__,
            arguments=[argument_record(a, names) for a in arguments],
            targets=[_target_line(t, names) for t in plan.targets],
            settings=settings,
            resumes=previous.run_id if previous else None,
        )
        record = _Record(store, run_id, Recorder(store, run_id), previous)
        yield plan, record


def argument_record(argument: str, names: SourceNames) -> str:
    """A command-line argument as a run records it: identifiers masked, a proxy's password
    hidden."""
    if argument.startswith("-") and "=" in argument:  # --db=postgresql://ana:secret@...
        option, value = argument.split("=", 1)
        return f"{option}={argument_record(value, names)}"
    if "://" in argument:
        return names.mask(redact_url(argument), url=True)
    return names.mask(argument)


def _target_line(target: targets.Target, names: SourceNames) -> str:
    """A target as a run records it (and --resume matches it): its URL named as in output."""
    return replace(target, url=names.url(target.url)).line()


def _resumed_plan(plan: targets.Plan, lines: Sequence[str]) -> targets.Plan:
    """The targets of the crawl to resume, read from its run record. A target whose URL held
    an identifier was recorded masked: it can only be resumed by naming it again."""
    usable = [line for line in lines if "#" not in line.split(None, 1)[0]]
    masked = [
        InputError(
            "resumed run", f"a target that held an identifier ({line.split()[0]}) is resumed "
            "only when named on the command line", "target"
        )
        for line in lines
        if line not in usable
    ]  # fmt: skip
    again = targets.plan([*plan.paths], [("resumed run", "\n".join(usable))])
    return targets.Plan(plan.paths, again.targets, plan.problems + again.problems + tuple(masked))


def _execute(work: Work, render: _Dispatch) -> bool:
    """Scan what the plan holds: bad targets reported, local inputs, then the crawl.
    True if Ctrl-C stopped it (what was found so far has been rendered and recorded)."""
    plan, detector, classifier = work.plan, work.detector, work.classifier
    pool = work.executor.pool
    names = work.names
    try:
        for problem in plan.problems:
            render(ScanIssue(names.mask(problem.source), problem.kind, names.mask(problem.problem)))
        if plan.paths:
            events = work.executor.scan_local(
                plan.paths, detector, classifier, stdin=work.stdin, names=names,
                known=work.known, progress=render.observer.tasks,
            )  # fmt: skip
            for event in events:
                render(event)
        if plan.targets:
            resumed = work.resume
            if work.archive is not None:
                backfill(
                    plan.targets, work.settings, work.archive, detector, classifier, render,
                    pool=pool, names=names, known=work.known, remote=work.executor.pages,
                )  # fmt: skip
                return False
            render.tally.queued += len(plan.targets) + len(resumed.pending if resumed else ())
            crawl(
                plan.targets, work.settings, detector, classifier, render, pool=pool,
                done=resumed.done if resumed else (), pending=resumed.pending if resumed else (),
                names=names, remote=work.executor.pages,
            )  # fmt: skip
    except KeyboardInterrupt:
        return True
    return False


class _Dispatch:
    """Hands each event to the store's recorder, the tally, the observer and the writer as
    it comes (the recorder holds a page's events until its transaction is complete)."""

    def __init__(
        self,
        writer: Writer,
        observer: Observer,
        tally: Tally,
        also: Callable[[Event], None] | None = None,
    ) -> None:
        self.writer = writer
        self.observer = observer
        self.tally = tally
        self.also = also

    def __call__(self, event: Event) -> None:
        if self.also is not None:
            self.also(event)
        self.tally.add(event)
        self.observer.update(event, self.tally)
        if isinstance(event, Finding):
            self.writer.finding(event)
        elif isinstance(event, DocumentFacts):
            self.writer.document(event)
        elif isinstance(event, ScanIssue):
            self.writer.issue(event)
            self.observer.issue(event)


def _summary(tally: Tally, interrupted: bool) -> Summary:
    return Summary(
        finished=now(),
        documents=tally.documents,
        findings_by_type=dict(tally.findings),
        cases_by_category=dict(tally.categories),
        errors=tally.failed,
        skipped=tally.skipped,
        interrupted=interrupted,
        pages=dict(tally.pages),
        issues_by_kind=dict(tally.issues),
        targets={target: dict(pages) for target, pages in tally.targets.items()},
        ignored=tally.ignored,
    )
