"""Render the cases behind a report (`report --cases`) or the new ones (`report --new`).

One row a case: its URL or path (masked where it held an identifier, shortened in the middle
on a terminal), site, country, category, published date, distinct records by type, and when
it was first and last seen. The same escaping rules as trend reports (trend_output) apply:
URLs and site names come from crawled pages.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from leakwatch import __version__
from leakwatch.report import json_text
from leakwatch.report.display import short_url
from leakwatch.report.markup import escape, html_page, md
from leakwatch.report.scan_output import csv_cell
from leakwatch.store.values import CaseRow

SCHEMA_VERSION = 1
CSV_COLUMNS = ("first_seen", "last_seen", "category", "site", "country", "published", "records",
               "records_by_type", "copies", "source")  # fmt: skip


@dataclass(frozen=True, slots=True)
class CaseList:
    """The new cases since a run or date (`report --new`)."""

    cases: tuple[CaseRow, ...]
    since: str  # what "new" is measured from, in words: "run 12 (2026-12-06 19:41 UTC)"
    generated: str
    store: str | None = None
    ignore: Mapping[str, Any] | None = None


def case_dict(case: CaseRow) -> dict[str, Any]:
    return {
        "source": case.source,
        "site": case.site,
        "country": case.country,
        "category": case.category,
        "published": case.published,
        "date": case.date,
        "first_seen": case.first_seen,
        "last_seen": case.last_seen,
        "records": case.records,
        "records_by_type": dict(case.records_by_type),
        "copies": case.copies,
    }


def by_type(case: CaseRow) -> str:
    """`kr.rrn 3, kr.phone 1`: the types with the most records first."""
    ordered = sorted(case.records_by_type.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{type_} {n:,}" for type_, n in ordered) or "none (words alone)"


def _day(time: str) -> str:
    return time[:10]


def new_summary(listed: CaseList) -> str:
    n = len(listed.cases)
    if not n:
        return f"No new cases since {listed.since}."
    trading = sum(1 for c in listed.cases if c.category == "trading")
    return (
        f"{n:,} new {'case' if n == 1 else 'cases'} since {listed.since}: {n - trading:,} "
        f"exposure, {trading:,} trading."
    )


def render(listed: CaseList, fmt: str, out: TextIO, console: Console) -> None:
    """The new cases in a report format (table, json, csv, markdown, html)."""
    match str(fmt):
        case "table":
            render_table(listed, console)
        case "json":
            render_json(listed, out)
        case "csv":
            render_csv(listed.cases, out)
        case "markdown":
            out.write(render_markdown(listed))
        case _:
            out.write(html_page("leakwatch: new cases", [
                f'<p class="summary">{escape(new_summary(listed))}</p>\n',
                html_table(listed.cases),
            ], listed.generated))  # fmt: skip


# -- one format each ---------------------------------------------------------------------------


def render_json(listed: CaseList, out: TextIO) -> None:
    out.write(json_text.document({
        "schema_version": SCHEMA_VERSION,
        "kind": "new_cases",
        "tool": {"name": "leakwatch", "version": __version__},
        "generated": listed.generated,
        "store": listed.store,
        "since": listed.since,
        "filters": {"ignore": listed.ignore},
        "cases": [case_dict(c) for c in listed.cases],
    }) + "\n")  # fmt: skip


def render_csv(cases: Sequence[CaseRow], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in cases:
        types = " ".join(f"{t}={n}" for t, n in sorted(c.records_by_type.items()))
        writer.writerow([csv_cell(v) for v in (
            c.first_seen, c.last_seen, c.category, c.site or "", c.country or "",
            c.published or "", c.records, types, c.copies, c.source,
        )])  # fmt: skip


def table(cases: Sequence[CaseRow], width: int, title: str) -> Table:
    """The cases for a terminal `width` columns wide: a line a type of record (names whole:
    kr.phone and kr.phone.masked stay apart), the page's URL or path shortened in the
    middle to what the other columns leave."""
    # Below 110 columns the site and country make way for the page (whose URL names its
    # host; -f json or csv has both).
    wide = width >= 110
    names = ("first seen", "category", "site", "cc", "records") if wide else (
        "first seen", "category", "records")  # fmt: skip
    rows = [[_day(c.first_seen), c.category,
             *((c.site or "(local file)", c.country or "") if wide else ()),
             "\n".join(f"{t} {n:,}" for t, n in _by_count(c)) or "none (words alone)"]
            for c in cases]  # fmt: skip

    def grid(with_page: bool, room: int = 0) -> Table:
        made = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for name in names:
            made.add_column(name, no_wrap=True, max_width=28 if name == "site" else None,
                            overflow="ellipsis")  # fmt: skip
        if with_page:
            made.add_column("page", no_wrap=True, min_width=room, max_width=room)
        return made

    others = grid(False)
    for row in rows:
        others.add_row(*(Text(cell) for cell in row))
    console = Console(width=width)
    room = max(24, width - Measurement.get(console, console.options, others).maximum - 4)
    shown = grid(True, room)
    for row, c in zip(rows, cases, strict=True):
        shown.add_row(*(Text(cell) for cell in row), Text(short_url(c.source, room)))
    return shown


def _by_count(case: CaseRow) -> list[tuple[str, int]]:
    return sorted(case.records_by_type.items(), key=lambda item: (-item[1], item[0]))


def render_table(listed: CaseList, console: Console) -> None:
    if listed.cases:
        console.print(table(listed.cases, console.width, "New cases"))
    console.print(Text(new_summary(listed)))


def markdown(cases: Sequence[CaseRow]) -> list[str]:
    """The cases as a Markdown table, page text made inert."""
    lines = ["| first seen | category | site | country | published | records | page |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in cases:
        cells = [_day(c.first_seen), c.category, c.site or "(local file)", c.country or "",
                 c.published or "", by_type(c), c.source]  # fmt: skip
        lines.append("| " + " | ".join(md(cell) for cell in cells) + " |")
    return lines


def render_markdown(listed: CaseList) -> str:
    lines = [f"# {md('leakwatch: new cases')}", "", md(new_summary(listed)), ""]
    if listed.cases:
        lines += [*markdown(listed.cases), ""]
    lines.append(f"Store: {md(listed.store or '-')}. Generated {md(listed.generated)} "
                 f"by leakwatch {md(__version__)}.")  # fmt: skip
    return "\n".join(lines) + "\n"


def html_table(
    cases: Sequence[CaseRow], *, limit: int | None = None, total: int | None = None
) -> str:
    """The cases as an HTML table, the first `limit` of them (of `total` in all)."""
    e = escape
    shown = cases[:limit] if limit is not None else cases
    parts = ['<div class="wide"><table class="cases">\n<thead><tr>',
             "<th>first seen</th><th>category</th><th>site</th><th>country</th>",
             "<th>published</th><th>records</th><th>page</th></tr></thead>\n<tbody>\n"]  # fmt: skip
    for c in shown:
        parts.append(
            f"<tr><td>{e(_day(c.first_seen))}</td><td>{e(c.category)}</td>"
            f"<td>{e(c.site or '(local file)')}</td><td>{e(c.country or '')}</td>"
            f"<td>{e(c.published or '')}</td><td>{e(by_type(c))}</td>"
            f'<td class="url">{e(short_url(c.source, 80))}</td></tr>\n'
        )
    parts.append("</tbody>\n</table></div>\n")
    total = len(cases) if total is None else total
    if limit is not None and total > limit:
        parts.append(f"<p class=\"filters\">The newest {limit:,} of {total:,} cases; "
                     "<code>leakwatch report --cases -f csv</code> lists all.</p>\n")  # fmt: skip
    return "".join(parts)
