"""`leakwatch scan`: options parsed into a run request, the run layer called (run.py), its
progress and end rendered, its ending mapped to an exit code.

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
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.status import Status
from rich.table import Table
from rich.text import Text

from leakwatch import run
from leakwatch.cli.common import (
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    DbOption,
    IgnoreOption,
    NoIgnoreOption,
    PatternsOption,
    command,
    fail,
    ignore_rules,
    leakwatch_files,
    output_console,
    packs_or_fail,
    parse_size,
    stderr_console,
)
from leakwatch.cli.interrupts import Finishing, terminate_as_interrupt
from leakwatch.config import Config
from leakwatch.detect.engine import DEFAULT_MIN_CONFIDENCE, Detector
from leakwatch.detect.names import SourceNames
from leakwatch.detect.parallel import DetectorSpec, available_cpus, default_workers
from leakwatch.detect.redact import Fingerprinter, load_key
from leakwatch.errors import KeyfileError, OutputError, StoreError, UsageError
from leakwatch.fetch import targets
from leakwatch.fetch.settings import PROXY_SCHEMES, ArchiveSettings, CrawlSettings
from leakwatch.fetch.urls import Scope, redact_url
from leakwatch.models import DocumentFacts, PageSettled, ScanIssue, Severity, now
from leakwatch.output_file import STDOUT, OutputClosed, open_output, refuse_overwriting
from leakwatch.pipeline import NOT_FAILURES, Tally
from leakwatch.report.display import short_url
from leakwatch.report.scan_output import (
    TARGET_OUTCOMES,
    Format,
    RunInfo,
    Summary,
    Writer,
    make_writer,
)
from leakwatch.safe_text import visible

_DEFAULTS = CrawlSettings()
MAX_SECONDS = 86_400


@command(
    panels={
        "targets_file": "Input",
        "fmt": "Output",
        "output": "Output",
        "reveal": "Output",
        "fail_on": "Output",
        "strict": "Output",
        "quiet": "Output",
        "no_color": "Output",
        "patterns": "Detection",
        "min_confidence": "Detection",
        "jobs": "Processing",
        "cluster": "Processing",
        "depth": "Crawl",
        "max_pages": "Crawl",
        "scope": "Crawl",
        "concurrency": "Crawl",
        "per_host": "Crawl",
        "delay": "Crawl",
        "ignore_robots": "Crawl",
        "user_agent": "Crawl",
        "allow_private": "Crawl",
        "proxy": "Crawl",
        "timeout": "Crawl",
        "max_bytes": "Crawl",
        "resume": "Crawl",
        "archive": "Archive",
        "since": "Archive",
        "until": "Archive",
        "archive_data": "Archive",
        "db": "Store",
        "no_store": "Store",
        "ignore": "Detection",
        "no_ignore": "Detection",
    }
)
def scan(
    ctx: typer.Context,
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TARGET",
            help="URLs to crawl, files, folders (scanned recursively), '-' for stdin, and "
            "@NAME for a target list of leakwatch.toml.",
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
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="The output format.")
    ] = Format.TABLE,
    output: Annotated[
        str,
        typer.Option("--output", "-o", metavar="FILE", help="Write results here ('-' = stdout)."),
    ] = "-",
    patterns: PatternsOption = None,
    min_confidence: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            metavar="0-1",
            help="Report findings at least this sure, from 0 to 1 (0 lists every candidate).",
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
            metavar="N",
            help="Processes scanning large files and pages (default and most: one per CPU, "
            "started for a file only where they pay; given, used for every large file; "
            "1: this one only).",
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            envvar="LEAKWATCH_CLUSTER",
            help="Scan the files, archive shards and fetched pages on a Dask cluster: its "
            "scheduler (tcp://host:8786), or local[:N] for N worker processes here "
            "(pip install 'leakwatch[cluster]').",
            show_envvar=True,
        ),
    ] = None,
    depth: Annotated[
        int,
        typer.Option(
            min=0, metavar="N", help="Links followed from each start page (it is depth 0)."
        ),
    ] = _DEFAULTS.depth,
    max_pages: Annotated[
        int, typer.Option(min=1, metavar="N", help="Pages fetched per target site at most.")
    ] = _DEFAULTS.max_pages,
    scope: Annotated[
        Scope, typer.Option(help="Crawl the target's host only, or its subdomains too.")
    ] = _DEFAULTS.scope,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1, max=1000, metavar="N", help="Requests in flight over all sites (1 to 1000)."
        ),
    ] = _DEFAULTS.concurrency,
    per_host: Annotated[
        int,
        typer.Option(
            min=1,
            max=1000,
            metavar="N",
            help="Requests in flight to one host (connections): more lets a slow page "
            "not hold the others; keep 1 on other people's servers.",
        ),
    ] = _DEFAULTS.per_host,
    delay: Annotated[
        float,
        typer.Option(
            min=0.0,
            metavar="SECONDS",
            help="Seconds between requests to one site (randomised 0.5-1.5x, adapted to "
            "its latency; 0 for your own servers).",
        ),
    ] = _DEFAULTS.delay,
    ignore_robots: Annotated[
        bool, typer.Option("--ignore-robots", help="Do not obey robots.txt (recorded in output).")
    ] = False,
    user_agent: Annotated[
        str, typer.Option(metavar="TEXT", help="The User-Agent header sent with every request.")
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
        float, typer.Option(min=0.1, metavar="SECONDS", help="The deadline for each whole request.")
    ] = _DEFAULTS.deadline,
    max_bytes: Annotated[
        str,
        typer.Option(
            metavar="SIZE",
            help="Bytes kept of each response, after decompression (10MB, 500kB, 2MiB).",
        ),
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
        bool,
        typer.Option(
            "--no-store", help="Do not record this scan in the store (for experiments and tests)."
        ),
    ] = False,
    ignore: IgnoreOption = None,
    no_ignore: NoIgnoreOption = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the interrupted crawl of these targets (of the last one, if none "
            "are given) without refetching what it finished.",
        ),
    ] = False,
    summary: Annotated[
        bool,
        typer.Option(
            "--summary",
            help="Table format: one line a document (its category and findings by type) "
            "instead of one a finding.",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr, errors only.")
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="Print no colours.")] = False,
) -> None:
    """Scan web sites (crawled politely), local files, folders or stdin for Korean
    identifiers and classify each page or document."""
    if not paths and not targets_file and not resume:
        fail(
            "nothing to scan: give URLs, files, folders or '-' (see leakwatch scan --help)",
            EXIT_USAGE,
        )
    if summary and fmt is not Format.TABLE:
        fail(f"--summary shortens the table format; -f {fmt} has its summary already",
             EXIT_USAGE, no_color)  # fmt: skip
    threshold = None
    if fail_on is not None:
        try:
            threshold = Severity.parse(fail_on)
        except ValueError as exc:
            fail(f"--fail-on: {exc}", EXIT_USAGE, no_color)
    named, listed = _target_lists(paths or [], ctx.obj, no_color)
    plan = _plan(named, targets_file or [], no_color, listed)
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
    ignored = ignore_rules(ignore, no_ignore, packs, no_color)
    detector = Detector(
        packs, Fingerprinter(key), min_confidence=min_confidence, reveal=reveal, ignore=ignored
    )
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
        ignore=ignored,
    )
    names = SourceNames(detector)
    info = RunInfo(
        started=now(),
        inputs=tuple(
            run.argument_record(a, names)
            for a in (*(paths or ()), *(f"--targets-file={f}" for f in targets_file or ()))
        ),
        min_confidence=min_confidence,
        revealed=reveal,
        packs=tuple(p.id for p in packs),
        settings={
            "jobs": workers,
            **({"cluster": redact_url(cluster)} if cluster else {}),
            **(run.settings_record(settings) if plan.targets or resume else {}),
            **({"archive": run.archive_record(from_archive)} if from_archive else {}),
            **({"ignore": ignored.describe()} if ignored else {}),
        },
    )
    request = run.Request(
        plan=plan, settings=settings, detector=detector, packs=packs, spec=spec,
        workers=workers, run=info, jobs_given=jobs is not None, db=db, no_store=no_store,
        resume=resume, strict=strict,
        threshold=threshold, names=names, archive=from_archive, arguments=tuple(sys.argv[1:]),
        stdin=sys.stdin.buffer if sys.stdin is not None else None,  # None: started closed
        cluster=cluster or None,
    )  # fmt: skip
    try:
        kept = _read_or_kept(db, plan, targets_file or [], patterns or [], ignored.files)
        refuse_overwriting(output, kept)
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE, no_color)
    messages = stderr_console(no_color)
    verdict = _run(request, output, fmt, quiet, messages, no_color, summary)
    if verdict.interrupted:
        messages.print("leakwatch: interrupted; results so far were written", markup=False)
    elif not quiet and messages.is_terminal and plan.targets:
        messages.print(crawl_summary(verdict.tally, archive=from_archive is not None))
    code = _EXIT_CODES[verdict.ending]
    if verdict.problem:
        fail(verdict.problem, code, no_color)
    raise typer.Exit(code)


_EXIT_CODES = {
    run.Ending.COMPLETED: EXIT_OK,
    run.Ending.FINDINGS: EXIT_FINDINGS,
    run.Ending.INCOMPLETE: EXIT_INCOMPLETE,
    run.Ending.INTERRUPTED: EXIT_INTERRUPTED,
}


def _run(
    request: run.Request,
    output: str,
    fmt: Format,
    quiet: bool,
    messages: Console,
    no_color: bool,
    summary_only: bool = False,
) -> run.Verdict:
    """The scan, through the run layer; the errors that stop it become one line and an exit."""
    finishing = Finishing()
    # Lines streamed to the same terminal (json, jsonl, csv on stdout) would run into the
    # live status line: they are the progress there.
    streaming = output == STDOUT and fmt is not Format.TABLE and _stdout_is_terminal()
    progress = _Progress(messages, enabled=not quiet and not streaming,
                         archive=request.archive is not None, quiet=quiet)  # fmt: skip
    try:
        with terminate_as_interrupt():
            return run.scan(
                request,
                lambda: _output(output, fmt, request.run, no_color, summary_only, progress.stop),
                progress,
                finishing.start,  # from here on, one Ctrl-C does not lose the results
            )
    except OutputClosed:
        raise  # the reader of stdout went away: nobody to tell (main ends quietly)
    except OutputError as exc:
        fail(str(exc), EXIT_INCOMPLETE, no_color)
    except StoreError as exc:
        fail(str(exc), EXIT_USAGE if exc.unusable else EXIT_INCOMPLETE, no_color)
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE, no_color)
    except KeyboardInterrupt:
        kept = "" if output == STDOUT else f"; {output} is as it was"
        messages.print(f"leakwatch: interrupted; the results were not written{kept}", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        finishing.stop()


def _read_or_kept(
    db: str | None,
    plan: targets.Plan,
    targets_files: list[Path],
    patterns: list[Path],
    ignore_files: Sequence[str] = (),
) -> dict[str, Path | str]:
    """The files this run reads or keeps, which -o must never replace: what each is, by path."""
    kept = leakwatch_files(db, ignore_files)
    for name in plan.paths:
        if name != "-":
            kept[f"an input ({name})"] = name
    for listed in targets_files:
        if str(listed) != "-":
            kept[f"a targets file ({listed})"] = listed
    for pack in patterns:
        kept[f"a pattern pack ({pack})"] = pack
    return kept


def _target_lists(
    paths: list[str], loaded: object, no_color: bool
) -> tuple[list[str], list[tuple[str, str]]]:
    """`@NAME` arguments taken out of `paths`, as the target lists leakwatch.toml names."""
    config = loaded if isinstance(loaded, Config) else Config()
    kept: list[str] = []
    lists: list[tuple[str, str]] = []
    for path in paths:
        if not path.startswith("@"):
            kept.append(path)
            continue
        name = path[1:]
        lines = config.targets.get(name)
        if lines is None:
            known = ", ".join(f"@{n}" for n in config.targets) or "none"
            where = config.path or "no leakwatch.toml"
            fail(f"{path}: no such target list in {where} (lists: {known}; "
                 f"a file whose name starts with @ is ./{path})", EXIT_USAGE, no_color)  # fmt: skip
        lists.append((f"{config.name} [targets] {name}", "\n".join(lines)))
    return kept, lists


def _plan(
    paths: list[str],
    targets_files: list[Path],
    no_color: bool,
    lists: list[tuple[str, str]] | None = None,
) -> targets.Plan:
    """The run's targets; a targets file that cannot be read is a usage error (exit 2)."""
    files: list[tuple[str, str]] = list(lists or ())
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
    try:
        return run.archive_settings(archive, since, until, data)
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE, no_color)


_VERBS = {"partial": "scanned in part", "robots": "not fetched", "offsite": "not followed",
          "skipped": "skipped", "missing": "skipped", "unreadable": "skipped",
          "binary": "skipped", "target": "skipped", "archive": "could not read",
          "archive-record": "could not read", "archive-index": "could not read",
          "no-captures": "nothing found for"}  # fmt: skip


def _issue_line(issue: ScanIssue) -> str:
    verb = _VERBS.get(issue.kind, "could not fetch")
    return visible(f"leakwatch: {verb} {issue.source}: {issue.message}")


@contextmanager
def _output(
    target: str,
    fmt: Format,
    run: RunInfo,
    no_color: bool,
    summary_only: bool = False,
    before_close: Callable[[], None] = lambda: None,
) -> Iterator[Writer]:
    with open_output(target) as out:
        console = output_console(out, target, no_color) if fmt is Format.TABLE else None
        yield _ClosedAfter(make_writer(fmt, out, run, console, summary_only=summary_only),
                           before_close)  # fmt: skip


class _ClosedAfter:
    """A writer whose closing (the table, the summary) waits for `first()`: the live
    status line is taken off the terminal before the results are printed."""

    def __init__(self, writer: Writer, first: Callable[[], None]) -> None:
        self.writer = writer
        self.first = first
        self.finding = writer.finding
        self.document = writer.document
        self.issue = writer.issue

    def close(self, summary: Summary) -> None:
        self.first()
        self.writer.close(summary)


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except (OSError, ValueError):
        return False


class _Progress:
    """A one-line live status on stderr while scanning (interactive terminals only)."""

    def __init__(
        self, console: Console, *, enabled: bool, archive: bool = False, quiet: bool = False
    ) -> None:
        self.console = console
        self.quiet = quiet
        self.archive = archive  # a backfill: captures fetched from an archive, nothing queued
        self._tasks = ""  # a cluster's progress, once it has some
        self.live = enabled and console.is_terminal
        self._status: Status | None = None
        self._started = time.monotonic()

    def __enter__(self) -> _Progress:
        if self.live:
            self._status = self.console.status("scanning…")
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Take the status line off the terminal (before anything else is printed there)."""
        status, self._status = self._status, None
        if status is not None:
            with suppress(OSError):
                status.__exit__(None, None, None)

    def _line(self, text: str, source: str) -> Text:
        """`text — source`, the source shortened to fit one terminal line."""
        room = self.console.width - len(text) - 6
        if room < 16:  # no room for a name worth reading: the counts alone, on one line
            return Text(text)
        return Text(f"{text} — {short_url(source, room)}")

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
                self._line(
                    f"{doing}, {tally.failed} errors, {findings} findings, {rate:.1f} pages/s",
                    event.url,
                )
            )
        elif isinstance(event, DocumentFacts) and (
            event.fetch is None or (event.capture is not None and not self.archive)
        ):  # a file, stdin, or a page read from an archive file (a backfill's are above)
            self._status.update(
                self._line(
                    f"{self._tasks}{tally.documents} documents, {findings} findings", event.source
                )
            )

    def tasks(self, done: int, queued: int, workers: int) -> None:
        """A cluster's tasks, shown before the documents' count."""
        self._tasks = f"cluster: {done} tasks done, {queued} queued, {workers} workers; "

    def issue(self, issue: ScanIssue) -> None:
        """A problem's line (with -q, only failures)."""
        if not self.quiet or issue.kind not in NOT_FAILURES:
            self.message(_issue_line(issue))

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
