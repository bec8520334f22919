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
    """The cases for a terminal `width` columns wide: the URL gets what the others leave."""
    grid = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    grid.add_column("first seen", no_wrap=True)
    grid.add_column("category", no_wrap=True)
    grid.add_column("site", overflow="fold", max_width=24)
    grid.add_column("cc", no_wrap=True)
    grid.add_column("records", overflow="fold", max_width=28)
    grid.add_column("page", no_wrap=True)
    # The other columns take about 10 + 8 + 24 + 2 + 28 cells and the gaps 10: the URL
    # gets the rest, at least 24 cells (its host and last segment, shortened in the middle).
    used = 10 + 8 + min(24, max((len(c.site or "") for c in cases), default=4)) + 2 + 10
    used += min(28, max((len(by_type(c)) for c in cases), default=7))
    room = max(24, width - used)
    for c in cases:
        grid.add_row(
            _day(c.first_seen), c.category, Text(c.site or "(local file)"),
            c.country or "", Text(by_type(c)), Text(short_url(c.source, room)),
        )  # fmt: skip
    return grid


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
