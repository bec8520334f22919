"""`leakwatch report|export|runs`: read the findings store; options in, output out.

Read commands never create or write a store. Without --db (or LEAKWATCH_DB) a store that
does not exist yet is an empty one (valid, empty output, exit 0); a --db that does not exist
is a mistake (exit 2). A file that is not a usable store: exit 2, the file untouched.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, TextIO

import typer

from leakwatch.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_USAGE,
    DbOption,
    IgnoreOption,
    NoIgnoreOption,
    command,
    fail,
    ignore_rules,
    leakwatch_files,
    output_console,
    stderr_console,
)
from leakwatch.errors import OutputError, StoreError, UsageError
from leakwatch.models import Severity, now
from leakwatch.output_file import OutputClosed, open_output, refuse_overwriting
from leakwatch.report import case_output, trends
from leakwatch.report.case_output import CaseList
from leakwatch.report.store_output import ExportFormat, RunsFormat, write_export, write_runs
from leakwatch.report.trend_output import HTML_CASES, ReportFormat, render
from leakwatch.store import (
    CaseRow,
    ExportFilter,
    GroupCounts,
    Grouping,
    Store,
    TrendCounts,
    TrendQuery,
    YearBasis,
    location_of,
    shown,
)

OutputOption = Annotated[
    str, typer.Option("--output", "-o", metavar="FILE", help="Write here ('-' = stdout).")
]
NoColorOption = Annotated[bool, typer.Option("--no-color", help="Print no colours.")]
# Accepted as `scan` accepts it, so a cron job can pass -q to every command: these commands
# write nothing but their output and errors anyway.
QuietOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Print errors only on stderr, no notes."),
]
SiteCountryOption = Annotated[
    str | None,
    typer.Option(
        "--site-country", metavar="CC,CC", help="Only sites of these countries, e.g. CN,TW,HK."
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        metavar="DATE",
        help="From this date on: YYYY, YYYY-MM, YYYY-MM-DD or an ISO date-time "
        "(with --new, also a run: run:12).",
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option(metavar="DATE", help="Up to and including this date (YYYY, YYYY-MM, ...)."),
]

# Help panels the reading commands share.
_OUTPUT_AND_STORE = {"fmt": "Output", "output": "Output", "no_color": "Output",
                     "quiet": "Output", "db": "Store"}  # fmt: skip

_EMPTY = TrendCounts(groups=(), total=GroupCounts(key=None))
TOP_SITES = 10  # sites listed in an HTML report


@command(
    panels={
        **_OUTPUT_AND_STORE,
        "by": "What to count",
        "since": "What to count",
        "until": "What to count",
        "baseline": "What to count",
        "year_basis": "What to count",
        "site_country": "What to count",
        "ignore": "What to count",
        "no_ignore": "What to count",
        "cases": "Cases",
        "new": "Cases",
    }
)
def report(
    db: DbOption = None,
    by: Annotated[
        Grouping, typer.Option("--by", help="One row per period or group of this kind.")
    ] = Grouping.YEAR,
    since: SinceOption = None,
    until: UntilOption = None,
    baseline: Annotated[
        int | None,
        typer.Option(metavar="YEAR", help="Also give growth against this year (--by year)."),
    ] = None,
    year_basis: Annotated[
        YearBasis,
        typer.Option(
            "--year-basis", help="A case's date: the page's published date, or first seen."
        ),
    ] = YearBasis.PUBLISHED,
    site_country: SiteCountryOption = None,
    cases: Annotated[
        bool,
        typer.Option(
            "--cases", help="Also list the cases behind the counts, newest first (CSV: only them)."
        ),
    ] = False,
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="List only the cases first seen since the last run began, or since --since "
            "(a run, run:12, or a date or date-time); prints nothing when there are none.",
        ),
    ] = False,
    ignore: IgnoreOption = None,
    no_ignore: NoIgnoreOption = False,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="The output format.")
    ] = ReportFormat.TABLE,
    output: OutputOption = "-",
    no_color: NoColorOption = False,
    quiet: QuietOption = False,
) -> None:
    """Cases (pages or posts that expose or trade Korean personal data), their trading share,
    distinct records and growth, per year, month, site, country, type or category."""
    if new:
        unused = [name for name, given in (
            ("--until", until is not None), ("--baseline", baseline is not None),
            ("--cases", cases), ("--by", by is not Grouping.YEAR),
            ("--year-basis", year_basis is not YearBasis.PUBLISHED),
        ) if given]  # fmt: skip
        if unused:
            fail(f"--new lists the cases first seen since a run or moment: {', '.join(unused)} "
                 "do not apply to it", EXIT_USAGE, no_color)  # fmt: skip
        _new_cases(db, since, site_country, ignore, no_ignore, fmt, output, no_color, quiet)
        return
    try:
        countries = trends.parse_countries(site_country) if site_country is not None else ()
        lower = trends.since_bound(since) if since else None
        upper = trends.until_bound(until) if until else None
        if lower and upper and lower >= upper:
            raise ValueError(f"--since {since} is after --until {until}")
        if baseline is not None:
            trends.check_baseline(baseline, by)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE, no_color)
    rules = ignore_rules(ignore, no_ignore, None, no_color)
    query = TrendQuery(
        by=by, basis=year_basis, since=lower, before=upper, countries=countries, ignore=rules
    )
    counts, baseline_counts = _EMPTY, None
    sites: trends.TrendReport | None = None
    listed: list[CaseRow] | None = [] if cases or fmt is ReportFormat.HTML else None
    store_path = shown(location_of(db, os.environ))
    with _reading(db, no_color) as store:
        if store is not None:
            with store.snapshot():  # the baseline's counts and the period's from one state
                counts = store.trend_counts(query)
                if baseline is not None:
                    baseline_counts = store.trend_counts(trends.baseline_query(query, baseline))
                if listed is not None:  # HTML shows the newest; --cases asks for all
                    listed = store.cases(query, limit=None if cases else HTML_CASES)
                if fmt is ReportFormat.HTML and by is not Grouping.SITE:
                    by_site = replace(query, by=Grouping.SITE)
                    sites = trends.build(store.trend_counts(by_site), by_site, generated=now())
    built = trends.build(
        counts,
        query,
        generated=now(),
        since=since,
        until=until,
        baseline_year=baseline,
        baseline_counts=baseline_counts,
        store=store_path,
        cases=listed,
    )
    if sites is not None:
        built = replace(built, top_sites=sites.rows[:TOP_SITES])
    with _writing(output, no_color, db, rules.files) as out:
        console = output_console(out, output, no_color) if fmt is ReportFormat.TABLE else None
        render(built, fmt, out, console)


def _new_cases(
    db: str | None,
    since: str | None,
    site_country: str | None,
    ignore: list[Path] | None,
    no_ignore: bool,
    fmt: ReportFormat,
    output: str,
    no_color: bool,
    quiet: bool,
) -> None:
    """`report --new`: the cases first seen since a run began or a moment. Empty, it
    prints nothing (JSON: an empty list), so that a cron job mails only news."""
    try:
        countries = trends.parse_countries(site_country) if site_country is not None else ()
        run_id, moment = trends.new_since(since)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE, no_color)
    rules = ignore_rules(ignore, no_ignore, None, no_color)
    query = TrendQuery(countries=countries, ignore=rules)
    found: list[CaseRow] = []
    said = moment or "the first scan"
    with _reading(db, no_color) as store:
        if store is not None:
            with store.snapshot():
                run = store.run_started(run_id) if moment is None else None
                if run_id is not None and run is None:
                    fail(f"--since run:{run_id}: no such run (see leakwatch runs)", EXIT_USAGE,
                         no_color)  # fmt: skip
                if run is not None:
                    run_id, moment = run
                    said = f"run {run_id} began ({moment.replace('T', ' ')[:16]} UTC)"
                found = store.cases(query, seen_since=moment or "", run=run_id)
    listed = CaseList(tuple(found), said, now(), shown(location_of(db, os.environ)),
                      rules.describe() if rules else None)  # fmt: skip
    with _writing(output, no_color, db, rules.files) as out:
        if not found and fmt is not ReportFormat.JSON:
            if not quiet:
                stderr_console(no_color).print(case_output.new_summary(listed), markup=False)
            return
        case_output.render(listed, fmt, out, output_console(out, output, no_color))


class ExportCategory(enum.StrEnum):
    EXPOSURE = "exposure"
    TRADING = "trading"
    NONE = "none"


@command(
    panels={
        **_OUTPUT_AND_STORE,
        "ignore": "Which findings",
        "no_ignore": "Which findings",
        "site_country": "Which findings",
        "since": "Which findings",
        "until": "Which findings",
        "types": "Which findings",
        "severity": "Which findings",
        "category": "Which findings",
        "sites": "Which findings",
    }
)
def export(
    db: DbOption = None,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="The output format.")
    ] = ExportFormat.JSONL,
    output: OutputOption = "-",
    site_country: SiteCountryOption = None,
    since: Annotated[
        str | None, typer.Option(metavar="DATE", help="Findings first seen from this date on.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(metavar="DATE", help="Findings first seen up to this date.")
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            metavar="ID",
            help="Only findings of this type (a glob: kr.phone*; repeatable).",
        ),
    ] = None,
    severity: Annotated[
        str | None,
        typer.Option(
            metavar="SEVERITY",
            help="Only findings at least this severe (info|low|medium|high|critical).",
        ),
    ] = None,
    category: Annotated[
        list[ExportCategory] | None,
        typer.Option(help="Only findings on cases of this category, or on no case (repeatable)."),
    ] = None,
    sites: Annotated[
        list[str] | None,
        typer.Option(
            "--site", metavar="SITE", help="Only findings on this site (a glob; repeatable)."
        ),
    ] = None,
    ignore: IgnoreOption = None,
    no_ignore: NoIgnoreOption = False,
    no_color: NoColorOption = False,
    quiet: QuietOption = False,
) -> None:
    """Stream every stored finding (masked) with its document, for piping."""
    try:
        countries = trends.parse_countries(site_country) if site_country is not None else ()
        lower = trends.since_bound(since) if since else None
        upper = trends.until_bound(until) if until else None
        least = Severity.parse(severity) if severity is not None else None
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE, no_color)
    wanted = ExportFilter(
        types=tuple(types or ()),
        least_severity=least,
        categories=tuple(c.value for c in category or ()),
        sites=tuple(sites or ()),
    )
    rules = ignore_rules(ignore, no_ignore, None, no_color)
    with _reading(db, no_color) as store, _writing(output, no_color, db, rules.files) as out:
        if store is None:
            write_export((), fmt, out)
            return
        # closing(): the cursor is released before the store, even if the reader went away.
        exported = store.export(
            countries=countries, since=lower, before=upper, ignore=rules, only=wanted
        )
        with closing(exported) as rows:
            write_export(rows, fmt, out)


@command()
def runs(
    db: DbOption = None,
    fmt: Annotated[RunsFormat, typer.Option("--format", "-f", help="The output format.")] = (
        RunsFormat.TABLE
    ),
    limit: Annotated[
        int, typer.Option(min=0, metavar="N", help="List the most recent N runs (0: all).")
    ] = 20,
    output: OutputOption = "-",
    no_color: NoColorOption = False,
    quiet: QuietOption = False,
) -> None:
    """List past runs, most recent first, and how each ended."""
    with _reading(db, no_color) as store:
        listed = store.runs(limit or None) if store is not None else []
    with _writing(output, no_color, db) as out:
        write_runs(listed, fmt, out, output_console(out, output, no_color))


@contextmanager
def _reading(db: str | None, no_color: bool) -> Iterator[Store | None]:
    """The store to read, or None when the default one does not exist yet."""
    location = location_of(db, os.environ)
    if db is None and isinstance(location, Path) and not location.exists():
        yield None
        return
    try:
        with Store.read(location) as store:
            yield store
    except StoreError as exc:
        fail(str(exc), EXIT_USAGE if exc.unusable else EXIT_INCOMPLETE, no_color)


@contextmanager
def _writing(
    target: str, no_color: bool, db: str | None, ignore_files: Sequence[str] = ()
) -> Iterator[TextIO]:
    """The output; never the store or the key (refused, exit 2, before anything is read)."""
    try:
        refuse_overwriting(target, leakwatch_files(db, ignore_files))
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE, no_color)
    try:
        with open_output(target) as out:
            yield out
    except OutputClosed:
        raise  # the reader went away: main ends quietly
    except OutputError as exc:
        fail(str(exc), EXIT_INCOMPLETE, no_color)
