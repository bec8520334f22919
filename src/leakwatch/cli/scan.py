"""`leakwatch scan`: options in, pipeline called, events rendered, exit code decided.

Exit codes: 0 the run completed (findings alone do not change it); 1 findings at or above
--fail-on; 2 usage, configuration or pattern-pack error; 3 the scan could not complete (no
input could be read, output could not be written, or --strict with any input failed);
130 interrupted. Errors outrank findings. Every error is one line on stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Annotated

import typer
from rich.console import Console
from rich.status import Status

from leakwatch.cli.common import (
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PatternsOption,
    app,
    fail,
    now,
    packs_or_fail,
    stderr_console,
)
from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import DEFAULT_MIN_CONFIDENCE, Detector
from leakwatch.detect.parallel import DetectorSpec, ScanPool, default_workers
from leakwatch.detect.redact import Fingerprinter, load_key
from leakwatch.errors import KeyfileError, OutputError
from leakwatch.models import DocumentFacts, Finding, ScanIssue, Severity
from leakwatch.output_file import open_output
from leakwatch.pipeline import Event, Tally, scan_local
from leakwatch.report.scan_output import Format, RunInfo, Summary, Writer, make_writer


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
        fail("nothing to scan: give files, folders or '-' (see leakwatch scan --help)", EXIT_USAGE)
    threshold = None
    if fail_on is not None:
        try:
            threshold = Severity.parse(fail_on)
        except ValueError as exc:
            fail(f"--fail-on: {exc}", EXIT_USAGE, no_color)
    packs = packs_or_fail(patterns)
    try:
        key = load_key(os.environ)
    except KeyfileError as exc:
        fail(str(exc), EXIT_USAGE, no_color)
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
        started=now(),
        inputs=tuple(paths),
        min_confidence=min_confidence,
        revealed=reveal,
        packs=tuple(p.id for p in packs),
        settings={"jobs": workers},
    )
    tally = Tally()
    messages = stderr_console(no_color)
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
        fail(str(exc), EXIT_INCOMPLETE, no_color)
    if interrupted:
        messages.print("leakwatch: interrupted; results so far were written", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    if tally.documents == 0 and tally.failed:
        fail("no input could be scanned", EXIT_INCOMPLETE, no_color)
    if strict and tally.failed:
        fail(f"{tally.failed} inputs could not be scanned (--strict)", EXIT_INCOMPLETE, no_color)
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


def _summary(tally: Tally, interrupted: bool) -> Summary:
    return Summary(
        finished=now(),
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
