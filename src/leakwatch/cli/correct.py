"""`leakwatch ignore|forget`: correct what the store counts; options in, one line out.

`ignore` appends a line to an ignore file (reports apply it to what is stored already);
`forget` removes pages from the store for good.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote

import typer

from leakwatch.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_USAGE,
    DbOption,
    PatternsOption,
    command,
    fail,
    leakwatch_files,
    packs_or_fail,
)
from leakwatch.detect.engine import Detector
from leakwatch.detect.redact import Fingerprinter
from leakwatch.errors import StoreError, UsageError
from leakwatch.ignore import (
    IGNORE_FILENAME,
    IgnoreEntry,
    absolute_glob,
    is_fingerprint,
    line_for,
    load,
    parse_entry,
    shown,
)
from leakwatch.store import Store, location_of


@command()
def ignore(
    entries: Annotated[
        list[str],
        typer.Argument(
            metavar="ENTRY",
            help="Fingerprints (64 hex digits, as scan output shows them), URL globs "
            "(https://site/path/*), path globs or pattern ids (kr.phone.masked).",
            show_default=False,
        ),
    ],
    why: Annotated[
        str | None,
        typer.Option(
            "--why", metavar="TEXT", help="Why they are no leaks: written beside each entry."
        ),
    ] = None,
    to: Annotated[
        Path,
        typer.Option(
            "--ignore",
            metavar="FILE",
            help="The ignore file to add to, made if missing (default: the first of "
            "leakwatch.toml's [ignore] files, else ./.leakwatchignore).",
        ),
    ] = Path(IGNORE_FILENAME),
    patterns: PatternsOption = None,
) -> None:
    """Add entries to the ignore file: their findings are no longer reported or counted, in
    scans and in reports of what is stored already."""
    packs = packs_or_fail(patterns)
    known = {pattern.id for pack in packs for pattern in pack.patterns}
    # A raw identifier typed here would be written to a file: refuse it, whatever its form
    # (percent-encoded in a URL too; a fingerprint is a keyed hash, whatever its digits).
    detector = Detector(packs, Fingerprinter(b"\0" * 32), min_confidence=0.0)
    for text in (*[e for e in entries if not is_fingerprint(e)], why or ""):
        if detector.scan_text("<argument>", text) or detector.scan_text("<argument>",
                                                                        unquote(text)):  # fmt: skip
            fail(
                "that looks like an identifier itself, which leakwatch never writes to a file: "
                "ignore it by its fingerprint (shown in scan output)",
                EXIT_USAGE,
            )
    base = Path.cwd()
    try:
        parsed = [parse_entry(e, base, known, f"argument '{shown(e)}'") for e in entries]
        present = _present(to, known)
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE)
    added = [e for e in parsed if (e.kind, e.value) not in present]
    try:
        needs_newline = to.is_file() and to.stat().st_size > 0 and not _ends_a_line(to)
        with to.open("a", encoding="utf-8") as out:
            if needs_newline and added:
                out.write("\n")  # the last line had none: keep it a line of its own
            for entry in added:
                out.write(line_for(entry, why))
    except OSError as exc:
        fail(f"{to}: cannot write the ignore file: {exc.strerror}", EXIT_INCOMPLETE)
    typer.echo(_said(added, parsed, to))


def _present(path: Path, known: set[str]) -> set[tuple[str, str]]:
    """The entries the file holds already. Refused (UsageError): a file leakwatch keeps
    (the store, the key, the config), a folder, or a file that is not an ignore file."""
    kept = leakwatch_files(None, with_ignore_files=False)
    protected = {Path(p).resolve() for p in kept.values()}
    if path.resolve() in protected:
        raise UsageError(f"--ignore {path}: that is not an ignore file but one leakwatch keeps")
    if not path.exists():
        return set()
    try:
        rules = load([path], known)
    except UsageError as exc:
        raise UsageError(f"--ignore {path}: not an ignore file, nothing added ({exc})") from None
    return {(e.kind, e.value) for e in rules.entries}


def _ends_a_line(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


def _said(added: list[IgnoreEntry], parsed: list[IgnoreEntry], to: Path) -> str:
    again = len(parsed) - len(added)
    text = f"added {len(added)} {'entry' if len(added) == 1 else 'entries'} to {to}"
    if again:
        text += f" ({again} there already)"
    return text + "; reports leave them out from now on"


@command()
def forget(
    run: Annotated[
        list[int] | None,
        typer.Option(
            "--run", metavar="ID", help="Forget the pages this run first recorded (repeatable)."
        ),
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            metavar="GLOB",
            help="Forget the pages whose URL or path matches (https://site/*, ./folder/*, <stdin>; "
            "repeatable).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be removed; remove nothing.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Remove pages from the store for good (a test, a wrong folder): their findings, and
    the identifiers no other page holds. Reports afterwards are as if they were never
    scanned; the runs stay listed."""
    if not run and not source:
        fail("say what to forget: --run ID or --source GLOB (see leakwatch forget --help)",
             EXIT_USAGE)  # fmt: skip
    globs = [_absolute(s) for s in source or ()]

    def matches(key: str) -> bool:
        return any(fnmatchcase(key, glob) for glob in globs)

    location = location_of(db, os.environ)
    if isinstance(location, Path) and not location.exists():
        fail(f"{location}: no store there (nothing was recorded yet)", EXIT_USAGE)
    try:
        with Store.open(location) as store:
            gone = store.forget(runs=run or (), source=matches if globs else None,
                                dry_run=dry_run)  # fmt: skip
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE)
    except StoreError as exc:
        fail(str(exc), EXIT_USAGE if exc.unusable else EXIT_INCOMPLETE)
    verb = "would forget" if dry_run else "forgot"
    text = (
        f"{verb} {_count(gone.documents, 'page')} ({_count(gone.cases, 'case')}), "
        f"{_count(gone.findings, 'finding')} and {_count(gone.records, 'record')} "
        "no other page holds"
    )
    if gone.kept:
        text += (
            f"; kept {_count(gone.kept, 'page')} the run only saw again (an earlier run "
            "recorded them first: --source removes them)"
        )
    typer.echo(text)


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _absolute(glob: str) -> str:
    """A path glob as the store keys files (absolute, links resolved); URL globs and
    <stdin> as given."""
    if "://" in glob:
        return glob
    return absolute_glob(glob, Path.cwd())
