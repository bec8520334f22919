"""`leakwatch scan`: options in, pipeline called, events rendered, exit code decided.

Exit codes: 0 the run completed (findings alone do not change it); 1 findings at or above
--fail-on; 2 usage, configuration or pattern-pack error; 3 the scan could not complete (no
input could be read, output could not be written, or --strict with any input failed);
130 interrupted. Errors outrank findings. Every error is one line on stderr.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.status import Status
from rich.table import Table
from rich.text import Text

from leakwatch import __version__
from leakwatch.cli.common import (
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    DbOption,
    PatternsOption,
    app,
    fail,
    leakwatch_files,
    now,
    output_console,
    packs_or_fail,
    parse_size,
    stderr_console,
)
from leakwatch.cli.interrupts import Finishing, terminate_as_interrupt
from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import DEFAULT_MIN_CONFIDENCE, Detector
from leakwatch.detect.names import SourceNames
from leakwatch.detect.packs import Pack
from leakwatch.detect.parallel import DetectorSpec, ScanPool, available_cpus, default_workers
from leakwatch.detect.redact import Fingerprinter, load_key
from leakwatch.errors import InputError, KeyfileError, OutputError, StoreError, UsageError
from leakwatch.fetch import cdx, targets
from leakwatch.fetch.backfill import ArchiveSettings
from leakwatch.fetch.crawler import PROXY_SCHEMES, CrawlSettings
from leakwatch.fetch.urls import Scope, redact_url
from leakwatch.models import DocumentFacts, Finding, PageSettled, ScanIssue, Severity
from leakwatch.output_file import STDOUT, OutputClosed, open_output, refuse_overwriting
from leakwatch.pipeline import NOT_FAILURES, Event, Tally, backfill, crawl, scan_local
from leakwatch.report.scan_output import (
    TARGET_OUTCOMES,
    Format,
    RunInfo,
    Summary,
    Writer,
    make_writer,
    summary_dict,
)
from leakwatch.safe_text import visible
from leakwatch.store import Resume, Store, default_path
from leakwatch.store.recorder import Recorder

_DEFAULTS = CrawlSettings()
MAX_SECONDS = 86_400


@app.command()
def scan(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="URLs to crawl, files, folders (scanned recursively) and '-' for stdin.",
            show_default=False,
        ),
    ] = None,
    targets_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--targets-file",
            "-l",
            metavar="FILE",
            help="Targets, one per line ('-' = stdin): a URL or path, then optional "
            "country=CC depth=N max-pages=N scope=host|domain per-host=N; '#' comments "
            "(repeatable).",
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.TABLE,
    output: Annotated[
        str,
        typer.Option("--output", "-o", metavar="FILE", help="Write results here ('-' = stdout)."),
    ] = "-",
    patterns: PatternsOption = None,
    min_confidence: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Report findings at least this sure (0 lists every candidate)."
        ),
    ] = DEFAULT_MIN_CONFIDENCE,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Also output raw identifier values (handle with care).")
    ] = False,
    fail_on: Annotated[
        str | None,
        typer.Option(
            metavar="SEVERITY",
            help="Exit 1 if a finding is at least this severe (info|low|medium|high|critical).",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 3 if any input or page could not be scanned.")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Processes scanning large files and pages (default and most: one per CPU; "
            "1: this one only).",
        ),
    ] = None,
    depth: Annotated[
        int, typer.Option(min=0, help="Links followed from each start page (it is depth 0).")
    ] = _DEFAULTS.depth,
    max_pages: Annotated[
        int, typer.Option(min=1, help="Pages fetched per target site at most.")
    ] = _DEFAULTS.max_pages,
    scope: Annotated[
        Scope, typer.Option(help="Crawl the target's host only, or its subdomains too.")
    ] = _DEFAULTS.scope,
    concurrency: Annotated[
        int, typer.Option(min=1, max=1000, help="Requests in flight over all sites.")
    ] = _DEFAULTS.concurrency,
    per_host: Annotated[
        int,
        typer.Option(
            min=1,
            max=1000,
            help="Requests in flight to one host (connections): more lets a slow page "
            "not hold the others; keep 1 on other people's servers.",
        ),
    ] = _DEFAULTS.per_host,
    delay: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds between requests to one site (randomised 0.5-1.5x, adapted to "
            "its latency; 0 for your own servers).",
        ),
    ] = _DEFAULTS.delay,
    ignore_robots: Annotated[
        bool, typer.Option("--ignore-robots", help="Do not obey robots.txt (recorded in output).")
    ] = False,
    user_agent: Annotated[
        str, typer.Option(metavar="TEXT", help="User-Agent header.")
    ] = _DEFAULTS.user_agent,
    allow_private: Annotated[
        bool,
        typer.Option(
            "--allow-private",
            help="Let pages lead to private, loopback and link-local addresses "
            "(targets you name are always allowed).",
        ),
    ] = False,
    proxy: Annotated[
        str | None,
        typer.Option(metavar="URL", help="HTTP or SOCKS proxy (socks5h://127.0.0.1:9050 for Tor)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, metavar="SECONDS", help="Deadline for each whole request.")
    ] = _DEFAULTS.deadline,
    max_bytes: Annotated[
        str, typer.Option(metavar="SIZE", help="Bytes kept per response after decompression.")
    ] = "10MB",
    archive: Annotated[
        str | None,
        typer.Option(
            metavar="SOURCE",
            help="Backfill the targets from a web archive instead of the live sites: cc "
            "(Common Crawl), cc:CC-MAIN-2023-50,..., ia (the Wayback Machine) or the URL of a "
            "pywb CDX endpoint (http://host:8080/COLL/cdx).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="With --archive: captures from this date on (2021, 2021-03 or 2021-03-04).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="With --archive: captures up to this date, included."),
    ] = None,
    archive_data: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="With --archive: fetch records by HTTP Range from the WARC files served "
            "under this URL (Common Crawl's data host by default for cc).",
        ),
    ] = None,
    db: DbOption = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not record this scan in the store.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the interrupted crawl of these targets (of the last one, if none "
            "are given) without refetching what it finished.",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr, errors only.")
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour in output.")] = False,
) -> None:
    """Scan web sites (crawled politely), local files, folders or stdin for Korean
    identifiers and classify each page or document."""
    if not paths and not targets_file and not resume:
        fail(
            "nothing to scan: give URLs, files, folders or '-' (see leakwatch scan --help)",
            EXIT_USAGE,
        )
    threshold = None
    if fail_on is not None:
        try:
            threshold = Severity.parse(fail_on)
        except ValueError as exc:
            fail(f"--fail-on: {exc}", EXIT_USAGE, no_color)
    plan = _plan(paths or [], targets_file or [], no_color)
    from_archive = _archive_settings(archive, since, until, archive_data, no_color)
    if from_archive is not None and not plan.targets and not plan.problems and not resume:
        fail("--archive backfills web targets: give their URLs (or -l FILE)", EXIT_USAGE, no_color)
    settings = _crawl_settings(
        depth=depth, max_pages=max_pages, scope=scope, concurrency=concurrency,
        per_host=per_host, delay=delay,
        obey_robots=not ignore_robots, user_agent=user_agent, allow_private=allow_private,
        proxy=proxy, deadline=timeout, max_bytes=max_bytes, no_color=no_color,
    )  # fmt: skip
    packs = packs_or_fail(patterns, tested=True)
    try:
        key = load_key(os.environ)
    except KeyfileError as exc:
        fail(str(exc), EXIT_USAGE, no_color)
    detector = Detector(packs, Fingerprinter(key), min_confidence=min_confidence, reveal=reveal)
    cpus = available_cpus()
    workers = default_workers(jobs, cpus)
    if jobs is not None and jobs > cpus and not quiet:
        stderr_console(no_color).print(
            f"leakwatch: --jobs {jobs} is more than the {cpus} CPUs this process may use; "
            f"using {workers}",
            markup=False,
        )
    spec = DetectorSpec(
        extra_packs=tuple(str(p) for p in patterns or ()),
        key=key,
        min_confidence=min_confidence,
        reveal=reveal,
        today=detector.today,
    )
    names = SourceNames(detector)
    run = RunInfo(
        started=now(),
        inputs=tuple(
            _argument(a, names)
            for a in (*(paths or ()), *(f"--targets-file={f}" for f in targets_file or ()))
        ),
        min_confidence=min_confidence,
        revealed=reveal,
        packs=tuple(p.id for p in packs),
        settings={
            "jobs": workers,
            **(_settings_record(settings) if plan.targets or resume else {}),
            **({"archive": _archive_record(from_archive)} if from_archive else {}),
        },
    )
    job = _Job(
        plan=plan, settings=settings, detector=detector, packs=packs, spec=spec,
        workers=workers, run=run, output=output, fmt=fmt, db=db, no_store=no_store,
        resume=resume, quiet=quiet, strict=strict, threshold=threshold, names=names,
        no_color=no_color, archive=from_archive,
    )  # fmt: skip
    try:
        refuse_overwriting(output, _read_or_kept(db, plan, targets_file or [], patterns or []))
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE, no_color)
    messages = stderr_console(no_color)
    tally, interrupted, code, problem = _run(job, messages)
    if interrupted:
        messages.print("leakwatch: interrupted; results so far were written", markup=False)
    elif not quiet and messages.is_terminal and job.plan.targets:
        messages.print(crawl_summary(tally, archive=job.archive is not None))
    if problem:
        fail(problem, code, no_color)
    raise typer.Exit(code)


@dataclass(frozen=True, slots=True)
class _Job:
    """A scan as the options asked for it."""

    plan: targets.Plan
    settings: CrawlSettings
    detector: Detector
    packs: tuple[Pack, ...]
    spec: DetectorSpec
    workers: int
    run: RunInfo
    output: str
    fmt: Format
    db: Path | None
    no_store: bool
    resume: bool
    quiet: bool
    strict: bool
    threshold: Severity | None
    names: SourceNames
    no_color: bool
    archive: ArchiveSettings | None = None


def _run(job: _Job, messages: Console) -> tuple[Tally, bool, int, str | None]:
    """Scan, write the output, record the run and how it ended; returns the tally, whether
    it was interrupted, the exit code and the one-line problem behind it (if any). Errors
    that end the run early are recorded (failed or interrupted) and become exits here."""
    tally = Tally()
    finishing = Finishing()
    no_color = job.no_color
    try:
        with (
            terminate_as_interrupt(),
            _recording(
                job.db, job.no_store, job.resume, job.plan, job.run, job.names, no_color
            ) as (
                plan,
                record,
            ),
        ):
            try:
                with (
                    _output(job.output, job.fmt, job.run, no_color) as writer,
                    _Progress(
                        messages, enabled=not job.quiet, archive=job.archive is not None
                    ) as progress,
                    ScanPool(job.spec, job.workers) if job.workers > 1 else nullcontext() as pool,
                ):
                    render = _Renderer(writer, progress, tally, quiet=job.quiet, also=record.sink)
                    classifier = PageClassifier(job.packs)
                    work = Work(
                        plan, job.settings, job.detector, classifier, pool, job.names,
                        record.resume, record.store.captured if record.store else None,
                        _resumed_archive(job.archive, record.resume, no_color),
                    )  # fmt: skip
                    interrupted = _execute(work, render)
                    finishing.start()  # from here on, one Ctrl-C does not lose the results
                    summary = _summary(tally, interrupted)
                    writer.close(summary)
            except BaseException as exc:  # the run ends here: say how, then let it go on up
                outcome = _outcome_of(exc)
                record.abandon(_summary(tally, outcome == "interrupted"), outcome)
                raise
            resumed = record.resume is not None
            code, problem = _verdict(
                tally, plan, interrupted, job.strict, job.threshold, resumed, work.archive
            )
            record.finish(summary, _OUTCOMES.get(code, "completed"))
    except OutputClosed:
        raise  # the reader of stdout went away: nobody to tell (main ends quietly)
    except OutputError as exc:
        fail(str(exc), EXIT_INCOMPLETE, no_color)
    except StoreError as exc:
        fail(str(exc), EXIT_USAGE if exc.unusable else EXIT_INCOMPLETE, no_color)
    except KeyboardInterrupt:
        kept = "" if job.output == STDOUT else f"; {job.output} is as it was"
        messages.print(f"leakwatch: interrupted; the results were not written{kept}", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        finishing.stop()
    return tally, interrupted, code, problem


_OUTCOMES = {EXIT_INTERRUPTED: "interrupted", EXIT_INCOMPLETE: "failed"}


def _outcome_of(exc: BaseException) -> str:
    """How a run that ended with `exc` is recorded: stopped (Ctrl-C, SIGTERM, a reader that
    went away) or failed (output or store not writable, a bug)."""
    return "interrupted" if isinstance(exc, KeyboardInterrupt | OutputClosed) else "failed"


def _read_or_kept(
    db: Path | None, plan: targets.Plan, targets_files: list[Path], patterns: list[Path]
) -> dict[str, Path | str]:
    """The files this run reads or keeps, which -o must never replace: what each is, by path."""
    kept = leakwatch_files(db)
    for name in plan.paths:
        if name != "-":
            kept[f"an input ({name})"] = name
    for listed in targets_files:
        if str(listed) != "-":
            kept[f"a targets file ({listed})"] = listed
    for pack in patterns:
        kept[f"a pattern pack ({pack})"] = pack
    return kept


def _verdict(
    tally: Tally,
    plan: targets.Plan,
    interrupted: bool,
    strict: bool,
    threshold: Severity | None,
    resumed: bool,
    archive: ArchiveSettings | None = None,
) -> tuple[int, str | None]:
    """The exit code, and the one-line error that explains it (errors outrank findings).
    A resumed crawl may have nothing left to fetch: that is the end of it, not a failure;
    nor is an archive that holds no capture of the targets (its index could be read)."""
    if interrupted:
        return EXIT_INTERRUPTED, None
    if archive is not None:
        if plan.targets and not tally.fetched and tally.issues["archive-index"]:
            return EXIT_INCOMPLETE, f"the archive's index could not be read ({archive.source.text})"
    elif plan.targets and not tally.fetched and not resumed:
        return EXIT_INCOMPLETE, f"no target could be fetched ({len(plan.targets)} tried)"
    if tally.documents == 0 and tally.failed:
        return EXIT_INCOMPLETE, "no input could be scanned"
    if strict and tally.failed:
        what = "inputs or pages" if plan.targets else "inputs"
        return EXIT_INCOMPLETE, f"{tally.failed} {what} could not be scanned (--strict)"
    if threshold is not None and tally.worst is not None and tally.worst >= threshold:
        return EXIT_FINDINGS, None
    return EXIT_OK, None


@dataclass(frozen=True, slots=True)
class Work:
    """What one scan runs with."""

    plan: targets.Plan
    settings: CrawlSettings
    detector: Detector
    classifier: PageClassifier
    pool: ScanPool | None
    names: SourceNames
    resume: Resume | None = None
    # Whether the store already holds a page captured with this payload (URL, digest).
    known: Callable[[str, str], bool] | None = None
    archive: ArchiveSettings | None = None  # --archive: the targets come from there


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
    db: Path | None,
    no_store: bool,
    resume: bool,
    plan: targets.Plan,
    run: RunInfo,
    names: SourceNames,
    no_color: bool,
) -> Iterator[tuple[targets.Plan, _Record]]:
    """Open the store (unless --no-store), find the crawl to resume, start the run record.
    What the run record keeps of the command line, its targets and inputs is masked."""
    if no_store:
        if resume:
            fail("--resume needs the store: drop --no-store", EXIT_USAGE, no_color)
        yield plan, _Record()
        return
    with Store.open(db or default_path(os.environ)) as store:
        previous = None
        if resume:
            lines = [_target_line(t, names) for t in plan.targets]
            previous = store.resumable(lines or None)
            if previous is None:
                which = "these targets" if lines else "any targets"
                fail(
                    f"--resume: no interrupted crawl of {which} in {store.path}",
                    EXIT_USAGE,
                    no_color,
                )
            if not lines:
                plan = _resumed_plan(plan, previous.targets)
        settings = {**run.settings, "inputs": [names.mask(p) for p in plan.paths]}
        if previous is not None and "archive" in previous.settings:
            # A resumed backfill stays one: a resume of this run must find its archive too.
            settings.setdefault("archive", previous.settings["archive"])
        run_id = store.start_run(
            started=run.started,
            version=__version__,
            arguments=[_argument(a, names) for a in sys.argv[1:]],
            targets=[_target_line(t, names) for t in plan.targets],
            settings=settings,
            resumes=previous.run_id if previous else None,
        )
        record = _Record(store, run_id, Recorder(store, run_id), previous)
        yield plan, record


def _argument(argument: str, names: SourceNames) -> str:
    """A command-line argument as a run records it: identifiers masked, a proxy's password
    hidden."""
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


def _execute(work: Work, render: _Renderer) -> bool:
    """Scan what the plan holds: bad targets reported, local inputs, then the crawl.
    True if Ctrl-C stopped it (what was found so far has been rendered and recorded)."""
    plan, detector, classifier, pool = work.plan, work.detector, work.classifier, work.pool
    names = work.names
    try:
        for problem in plan.problems:
            render(ScanIssue(names.mask(problem.source), problem.kind, names.mask(problem.problem)))
        if plan.paths:
            stdin = sys.stdin.buffer if sys.stdin is not None else None  # None: started closed
            events = scan_local(
                plan.paths, detector, classifier, stdin=stdin, pool=pool, names=names,
                known=work.known,
            )  # fmt: skip
            for event in events:
                render(event)
        if plan.targets:
            resumed = work.resume
            if work.archive is not None:
                backfill(
                    plan.targets, work.settings, work.archive, detector, classifier, render,
                    pool=pool, names=names, known=work.known,
                )  # fmt: skip
                return False
            render.tally.queued += len(plan.targets) + len(resumed.pending if resumed else ())
            crawl(
                plan.targets, work.settings, detector, classifier, render, pool=pool,
                done=resumed.done if resumed else (), pending=resumed.pending if resumed else (),
                names=names,
            )  # fmt: skip
    except KeyboardInterrupt:
        return True
    return False


def _plan(paths: list[str], targets_files: list[Path], no_color: bool) -> targets.Plan:
    """The run's targets; a targets file that cannot be read is a usage error (exit 2)."""
    files: list[tuple[str, str]] = []
    for path in targets_files:
        name = str(path)
        try:
            text = sys.stdin.read() if name == "-" else path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            problem = getattr(exc, "strerror", None) or str(exc)
            fail(f"--targets-file {name}: cannot read: {problem}", EXIT_USAGE, no_color)
        files.append((name, text))
    if "-" in paths and any(name == "-" for name, _ in files):
        fail("stdin ('-') cannot be both a targets file and an input", EXIT_USAGE, no_color)
    return targets.plan(paths, files)


def _crawl_settings(
    *, max_bytes: str, no_color: bool, proxy: str | None, **options: Any
) -> CrawlSettings:
    try:
        size = parse_size(max_bytes)
    except ValueError as exc:
        fail(f"--max-bytes: {exc}", EXIT_USAGE, no_color)
    if proxy is not None and not proxy.lower().startswith(PROXY_SCHEMES):
        schemes = ", ".join(s.removesuffix("://") for s in PROXY_SCHEMES)
        fail(f"--proxy {redact_url(proxy)!r}: use a {schemes} URL", EXIT_USAGE, no_color)
    agent = options["user_agent"]
    if not agent.isascii() or not agent.isprintable() or not agent.strip():
        fail(
            "--user-agent: printable ASCII only (it goes into an HTTP header)", EXIT_USAGE, no_color
        )
    for name, option in (("delay", "--delay"), ("deadline", "--timeout")):
        if not math.isfinite(options[name]) or options[name] > MAX_SECONDS:
            fail(f"{option}: at most {MAX_SECONDS:,} seconds", EXIT_USAGE, no_color)
    # LEAKWATCH_DEBUG: a page that breaks leakwatch shows its traceback, not one line.
    contain = not os.environ.get("LEAKWATCH_DEBUG")
    return CrawlSettings(max_bytes=size, proxy=proxy, contain_errors=contain, **options)


def _archive_settings(
    archive: str | None, since: str | None, until: str | None, data: str | None, no_color: bool
) -> ArchiveSettings | None:
    """--archive and its companions read; a bad value or combination is a usage error."""
    if archive is None:
        given = [n for n, v in (("--since", since), ("--until", until), ("--archive-data", data))
                 if v is not None]  # fmt: skip
        if given:
            fail(f"{' and '.join(given)}: only with --archive", EXIT_USAGE, no_color)
        return None
    try:
        source = cdx.archive_source(archive, data, os.environ)
        window = cdx.Window(
            cdx.cdx_timestamp(since, "--since") if since else None,
            cdx.cdx_timestamp(until, "--until") if until else None,
        )
        rows = os.environ.get(cdx.ENV_PAGE_ROWS, "")
        page_rows = int(rows) if rows.isascii() and rows.isdigit() and int(rows) > 0 else None
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE, no_color)
    if window.since and window.until and window.since.ljust(14, "0") > window.until.ljust(14, "9"):
        fail(f"--since {since} is after --until {until}", EXIT_USAGE, no_color)
    return ArchiveSettings(source, window, page_rows or cdx.WAYBACK_ROWS)


def _archive_record(archive: ArchiveSettings) -> dict[str, Any]:
    """--archive as the run records it (and a --resume without it reads it back)."""
    return {
        "source": archive.source.text,
        "since": archive.window.since,
        "until": archive.window.until,
        "data": archive.source.data,
    }


def _resumed_archive(
    archive: ArchiveSettings | None, resume: Resume | None, no_color: bool
) -> ArchiveSettings | None:
    """The archive a run backfills from: --archive, or (--resume without it) the resumed
    run's."""
    if archive is not None or resume is None or "archive" not in resume.settings:
        return archive
    kept = resume.settings["archive"]
    return _archive_settings(kept["source"], kept["since"], kept["until"], kept["data"], no_color)


def _settings_record(settings: CrawlSettings) -> dict[str, Any]:
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


class _Renderer:
    """Hands each event to the store's recorder, the writer and the progress line as it
    comes (the recorder holds a page's events until its transaction is complete)."""

    def __init__(
        self,
        writer: Writer,
        progress: _Progress,
        tally: Tally,
        *,
        quiet: bool,
        also: Callable[[Event], None] | None = None,
    ) -> None:
        self.writer = writer
        self.progress = progress
        self.tally = tally
        self.quiet = quiet
        self.also = also

    def __call__(self, event: Event) -> None:
        if self.also is not None:
            self.also(event)
        self.tally.add(event)
        self.progress.update(event, self.tally)
        if isinstance(event, Finding):
            self.writer.finding(event)
        elif isinstance(event, DocumentFacts):
            self.writer.document(event)
        elif isinstance(event, ScanIssue):
            self.writer.issue(event)
            if not self.quiet or event.kind not in NOT_FAILURES:
                self.progress.message(_issue_line(event))


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
    )


_VERBS = {"partial": "scanned in part", "robots": "not fetched", "offsite": "not followed",
          "skipped": "skipped", "missing": "skipped", "unreadable": "skipped",
          "binary": "skipped", "target": "skipped", "archive": "could not read",
          "archive-record": "could not read", "archive-index": "could not read",
          "no-captures": "nothing found for"}  # fmt: skip


def _issue_line(issue: ScanIssue) -> str:
    verb = _VERBS.get(issue.kind, "could not fetch")
    return visible(f"leakwatch: {verb} {issue.source}: {issue.message}")


@contextmanager
def _output(target: str, fmt: Format, run: RunInfo, no_color: bool) -> Iterator[Writer]:
    with open_output(target) as out:
        console = output_console(out, target, no_color) if fmt is Format.TABLE else None
        yield make_writer(fmt, out, run, console)


class _Progress:
    """A one-line live status on stderr while scanning (interactive terminals only)."""

    def __init__(self, console: Console, *, enabled: bool, archive: bool = False) -> None:
        self.console = console
        self.archive = archive  # a backfill: captures fetched from an archive, nothing queued
        self.live = enabled and console.is_terminal
        self._status: Status | None = None
        self._started = time.monotonic()

    def __enter__(self) -> _Progress:
        if self.live:
            self._status = self.console.status("scanning…")
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def update(self, event: object, tally: Tally) -> None:
        if self._status is None:
            return
        findings = sum(tally.findings.values())
        if isinstance(event, PageSettled):
            done = sum(tally.pages.values())
            rate = done / max(time.monotonic() - self._started, 1e-6)
            if self.archive:
                doing = f"backfilling: {done} fetched, {tally.issues['recapture']} recaptured"
            else:
                doing = f"crawling: {done} pages done, {tally.open_pages} queued"
            self._status.update(
                Text(
                    f"{doing}, {tally.failed} errors, {findings} findings, {rate:.1f} pages/s"
                    f" — {visible(event.url)}"
                )
            )
        elif isinstance(event, DocumentFacts) and event.fetch is None:
            self._status.update(
                Text(f"{tally.documents} documents, {findings} findings — {visible(event.source)}")
            )

    def message(self, line: str) -> None:
        with suppress(OSError):  # stderr gone (its reader left): the notes are lost, not the run
            self.console.print(line, markup=False, soft_wrap=True)


def crawl_summary(tally: Tally, *, archive: bool = False) -> Group:
    """The end-of-run screen: each target's pages, pages by outcome, problems by kind,
    findings, cases. A backfill's pages are captures (nothing is disallowed there), and its
    unchanged recaptures are counted with them, not as problems."""
    parts: list[Table] = []
    outcomes = tuple(o for o in TARGET_OUTCOMES if not archive or o != "disallowed")
    if tally.targets:
        sites = Table(title="targets", title_justify="left", box=None)
        sites.add_column("target", justify="left", overflow="fold")
        for outcome in outcomes:
            sites.add_column(outcome, justify="right")
        sites.add_column("other", justify="right")
        for target, pages in sorted(tally.targets.items()):
            other = sum(n for name, n in pages.items() if name not in outcomes)
            sites.add_row(target, *(f"{pages[o]:,}" for o in outcomes), f"{other:,}")
        parts.append(sites)
    pages, problems = Counter(tally.pages), Counter(tally.issues)
    if archive:
        pages["recaptured, unchanged"] = problems.pop("recapture", 0)
        pages = +pages
    for title, counts in (
        ("captures" if archive else "pages", pages),
        ("problems", problems),
        ("findings", tally.findings),
        ("cases", tally.categories),
    ):
        table = Table(title=title, title_justify="left", show_header=False, box=None)
        table.add_column(justify="left")
        table.add_column(justify="right")
        for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(name, f"{count:,}")
        if not counts:
            table.add_row("none", "")
        parts.append(table)
    return Group(*parts)
