"""Command line: options in, pipeline called, events rendered, errors mapped to exit codes.

Exit codes: 0 the run completed (findings alone do not change it); 1 findings at or above
--fail-on; 2 usage, configuration or pattern-pack error; 3 the scan could not complete (no
input could be read, output could not be written, or --strict with any input failed);
130 interrupted. Errors outrank findings. Every error is one line on stderr.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.status import Status
from rich.table import Table

from leakwatch import __version__
from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import DEFAULT_MIN_CONFIDENCE, Detector
from leakwatch.detect.packs import Pack, load_packs
from leakwatch.detect.parallel import DetectorSpec, ScanPool, default_workers
from leakwatch.detect.redact import Fingerprinter, load_key
from leakwatch.detect.selftest import run_examples
from leakwatch.errors import KeyfileError, LeakwatchError, OutputError, PackError, UsageError
from leakwatch.models import DocumentFacts, Finding, ScanIssue, Severity
from leakwatch.output_file import open_output
from leakwatch.pipeline import Event, Tally, scan_local
from leakwatch.report.scan_output import Format, RunInfo, Summary, Writer, make_writer

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

app = typer.Typer(
    name="leakwatch",
    help="Find South Korean personal data exposed or traded on web pages and files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
patterns_app = typer.Typer(help="List and test the pattern packs.", no_args_is_help=True)
app.add_typer(patterns_app, name="patterns")

PatternsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--patterns",
        metavar="DIR",
        help="Extra pattern packs: a folder of .toml files or one file (repeatable).",
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"leakwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """leakwatch: monitor foreign sites for South Korean personal data."""


def _stderr(no_color: bool = False) -> Console:
    return Console(stderr=True, no_color=no_color or None, highlight=False)


def _fail(message: str, code: int, no_color: bool = False) -> NoReturn:
    _stderr(no_color).print(f"leakwatch: error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _packs(extra: Sequence[Path] | None) -> tuple[Pack, ...]:
    try:
        return load_packs(list(extra or ()))
    except PackError as exc:
        _fail(f"pattern pack {exc}", EXIT_USAGE)


@app.command()
def scan(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files, folders (scanned recursively) and '-' for stdin.", show_default=False
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
        bool, typer.Option("--strict", help="Exit 3 if any input could not be scanned.")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Processes scanning large files (default: one per CPU; 1: this one only).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour in output.")] = False,
) -> None:
    """Scan local files, folders or stdin for Korean identifiers and classify each document."""
    if not paths:
        _fail("nothing to scan: give files, folders or '-' (see leakwatch scan --help)", EXIT_USAGE)
    threshold = None
    if fail_on is not None:
        try:
            threshold = Severity.parse(fail_on)
        except ValueError as exc:
            _fail(f"--fail-on: {exc}", EXIT_USAGE, no_color)
    packs = _packs(patterns)
    try:
        key = load_key(os.environ)
    except KeyfileError as exc:
        _fail(str(exc), EXIT_USAGE, no_color)
    detector = Detector(packs, Fingerprinter(key), min_confidence=min_confidence, reveal=reveal)
    workers = default_workers(jobs, os.cpu_count())
    spec = DetectorSpec(
        extra_packs=tuple(str(p) for p in patterns or ()),
        key=key,
        min_confidence=min_confidence,
        reveal=reveal,
        today=detector.today,
    )
    run = RunInfo(
        started=_now(),
        inputs=tuple(paths),
        min_confidence=min_confidence,
        revealed=reveal,
        packs=tuple(p.id for p in packs),
        settings={"jobs": workers},
    )
    tally = Tally()
    messages = _stderr(no_color)
    try:
        with (
            _output(output, fmt, run, no_color) as writer,
            _Progress(messages, enabled=not quiet) as progress,
            ScanPool(spec, workers) if workers > 1 else nullcontext() as pool,
        ):
            events = scan_local(
                paths, detector, PageClassifier(packs), stdin=sys.stdin.buffer, pool=pool
            )
            interrupted = _render(events, writer, progress, tally)
            writer.close(_summary(tally, interrupted))
    except OutputError as exc:
        _fail(str(exc), EXIT_INCOMPLETE, no_color)
    if interrupted:
        messages.print("leakwatch: interrupted; results so far were written", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    if tally.documents == 0 and tally.failed:
        _fail("no input could be scanned", EXIT_INCOMPLETE, no_color)
    if strict and tally.failed:
        _fail(f"{tally.failed} inputs could not be scanned (--strict)", EXIT_INCOMPLETE, no_color)
    if threshold is not None and tally.worst is not None and tally.worst >= threshold:
        raise typer.Exit(EXIT_FINDINGS)


def _render(events: Iterable[Event], writer: Writer, progress: _Progress, tally: Tally) -> bool:
    """Hand each event to the writer as it comes; True if Ctrl-C stopped the scan."""
    try:
        for event in events:
            tally.add(event)
            progress.update(event, tally)
            if isinstance(event, Finding):
                writer.finding(event)
            elif isinstance(event, DocumentFacts):
                writer.document(event)
            else:
                writer.issue(event)
                progress.message(_issue_line(event))
    except KeyboardInterrupt:
        return True
    return False


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _summary(tally: Tally, interrupted: bool) -> Summary:
    return Summary(
        finished=_now(),
        documents=tally.documents,
        findings_by_type=dict(tally.findings),
        cases_by_category=dict(tally.categories),
        errors=tally.failed,
        skipped=tally.skipped,
        interrupted=interrupted,
    )


def _issue_line(issue: ScanIssue) -> str:
    verb = "scanned in part" if issue.kind == "partial" else "skipped"
    return f"leakwatch: {verb} {issue.source}: {issue.message}"


@contextmanager
def _output(target: str, fmt: Format, run: RunInfo, no_color: bool) -> Iterator[Writer]:
    with open_output(target) as out:
        console = None
        if fmt is Format.TABLE:
            to_file = out is not sys.stdout
            console = Console(
                file=out,
                no_color=no_color or None,
                highlight=False,
                force_terminal=False if to_file else None,
                width=160 if to_file else None,
            )
        yield make_writer(fmt, out, run, console)


class _Progress:
    """A one-line live status on stderr while scanning (interactive terminals only)."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self.console = console
        self.live = enabled and console.is_terminal
        self._status: Status | None = None

    def __enter__(self) -> _Progress:
        if self.live:
            self._status = self.console.status("scanning…")
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def update(self, event: object, tally: Tally) -> None:
        if self._status is not None and isinstance(event, DocumentFacts):
            findings = sum(tally.findings.values())
            self._status.update(
                f"{tally.documents} documents, {findings} findings — {event.source}"
            )

    def message(self, line: str) -> None:
        self.console.print(line, markup=False, soft_wrap=True)


@patterns_app.command("list")
def patterns_list(
    patterns: PatternsOption = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", metavar="table|json", help="Output format.")
    ] = "table",
) -> None:
    """List every pattern of the loaded packs."""
    packs = _packs(patterns)
    rows = [
        {
            "id": p.id,
            "country": pack.country,
            "severity": str(p.severity),
            "validator": p.validator_name,
            "requires_context": p.requires_context,
            "label": p.label,
            "pack": pack.path,
        }
        for pack in packs
        for p in pack.patterns
    ]
    if fmt == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if fmt != "table":
        _fail(f"--format must be table or json, not {fmt!r}", EXIT_USAGE)
    table = Table(title=f"{len(rows)} patterns", title_justify="left")
    for name in ("id", "country", "severity", "validator", "context", "label"):
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]), str(row["country"]), str(row["severity"]), str(row["validator"]),
            "required" if row["requires_context"] else "", str(row["label"]),
        )  # fmt: skip
    Console(highlight=False).print(table)


@patterns_app.command("test")
def patterns_test(
    patterns: PatternsOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every pattern.")] = False,
) -> None:
    """Run every pattern's examples; exit 1 if any example is missed or wrongly matched."""
    packs = _packs(patterns)
    results = run_examples(packs)
    out = Console(highlight=False)
    failures = 0
    for result in results:
        if result.failures:
            failures += len(result.failures)
            out.print(f"FAIL {result.pattern_id}", markup=False)
            for failure in result.failures:
                out.print(f"  {failure}", markup=False)
        elif verbose:
            out.print(f"ok   {result.pattern_id} ({result.checked} examples)", markup=False)
    checked = sum(r.checked for r in results)
    out.print(f"{len(results)} patterns, {checked} examples, {failures} failures", markup=False)
    if failures:
        raise typer.Exit(EXIT_FINDINGS)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point: run the app; usage errors become one line and exit 2, never a traceback."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = command.main(args=args, prog_name="leakwatch", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        code = EXIT_OK
    except UsageError as exc:
        _print_error(str(exc))
        code = EXIT_USAGE
    except LeakwatchError as exc:
        _print_error(str(exc))
        code = EXIT_INCOMPLETE
    except Exception as exc:
        # typer's (vendored) click reports bad options with exceptions that carry their own
        # message and exit code; print them as one line instead of a usage box.
        if not hasattr(exc, "format_message"):
            code = _internal_error(exc)
            sys.exit(code)
        context = getattr(exc, "ctx", None)
        hint = f" (see {context.command_path} --help)" if context is not None else ""
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            print(context.get_help())
            code = EXIT_OK
        else:
            _print_error(f"{exc.format_message()}{hint}")
            code = getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _print_error(message: str) -> None:
    print(f"leakwatch: error: {message}", file=sys.stderr)


def _internal_error(exc: BaseException) -> int:
    """A bug, not a user mistake: one line (the traceback with LEAKWATCH_DEBUG=1), exit 3."""
    if os.environ.get("LEAKWATCH_DEBUG"):  # opted in: may show raw input
        traceback.print_exception(exc)
    # The message may quote input: its digit runs are hidden like everything else printed.
    detail = re.sub(r"[0-9]{4,}", lambda m: "*" * len(m.group()), str(exc))
    _print_error(
        f"internal error: {type(exc).__name__}: {detail} "
        "(a bug in leakwatch; run again with LEAKWATCH_DEBUG=1 for details and report it)"
    )
    return EXIT_INCOMPLETE


def _silence_stdout() -> None:
    """After the reader of our stdout went away, stop Python complaining at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
