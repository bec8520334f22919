"""Render a trend report: terminal table with bars, JSON, CSV, Markdown, or one HTML file.

The HTML file is self-contained, with an inline SVG chart.

Site names and other keys come from crawled pages: HTML and Markdown escape them, CSV defuses
cells a spreadsheet would run as formulas. JSON (`schema_version` 1) is described in
docs/store-and-reports.md: fractions (shares, growth, CAGR) are rounded to 3 decimals there and in
CSV; the other formats show percentages to one decimal.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Sequence
from typing import Any, TextIO, assert_never

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from leakwatch import __version__
from leakwatch.report import case_output, charts, json_text
from leakwatch.report.case_output import case_dict
from leakwatch.report.markup import escape as _e
from leakwatch.report.markup import html_page, md
from leakwatch.report.scan_output import csv_cell
from leakwatch.report.trends import TrendReport, TrendRow
from leakwatch.store.values import Grouping

SCHEMA_VERSION = 1
DECIMALS = 3
BAR_WIDTH = 50
CHART_GROUPS = 40  # groups (sites...) drawn in a chart: the largest ones
HTML_CASES = 200  # cases listed in an HTML report (the newest; CSV lists them all)
_BLOCKS = " ▏▎▍▌▋▊▉█"
_NONE_LABEL = {Grouping.SITE: "(no site: local files)", Grouping.COUNTRY: "(unknown)"}


class ReportFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"
    HTML = "html"


def render(
    report: TrendReport, fmt: ReportFormat, out: TextIO, console: Console | None = None
) -> None:
    match fmt:
        case ReportFormat.TABLE:
            render_table(report, console or Console(file=out, highlight=False))
        case ReportFormat.JSON:
            out.write(json_text.document(report_dict(report)))
            out.write("\n")
        case ReportFormat.CSV:
            render_csv(report, out)
        case ReportFormat.MARKDOWN:
            out.write(render_markdown(report))
        case ReportFormat.HTML:
            out.write(render_html(report))
        case _:
            assert_never(fmt)


# -- shared wording ------------------------------------------------------------------------------


def list_name(by: Grouping) -> str:
    """The JSON list a report's rows are in: `years`, `months`, else `groups`."""
    return {Grouping.YEAR: "years", Grouping.MONTH: "months"}.get(by, "groups")


def percent(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.1f}%" if signed else f"{value * 100:.1f}%"


def label(report: TrendReport, row: TrendRow) -> str:
    if row.key is None:
        return _NONE_LABEL.get(report.by, "(none)")
    return f"{row.key} (so far)" if row.partial else row.key


def summary(report: TrendReport) -> str:
    """One sentence in KISA's manner: "5,414 cases in 2023, 71.9% of them trading, +26.0% on
    2020 (+3.1% on 2022)"."""
    where = f" on {', '.join(report.countries)} sites" if report.countries else ""
    headline = report.headline
    if report.by.is_period and headline is not None:
        text = f"{_cases(headline.cases)}{where} in {headline.key}"
        text += f", {percent(headline.trading_share)} of them trading"
        if report.baseline is not None and headline.growth_vs_baseline is not None:
            text += (
                f", {percent(headline.growth_vs_baseline, signed=True)} on {report.baseline.year}"
            )
        previous = report.previous
        baseline_key = str(report.baseline.year) if report.baseline is not None else None
        if (
            previous is not None
            and headline.growth_vs_previous is not None
            and previous.key != baseline_key  # said already
        ):
            text += f" ({percent(headline.growth_vs_previous, signed=True)} on {previous.key})"
        current = report.current
        if current is not None:
            text += f"; {current.key} so far: {_cases(current.cases)}"
        return text + f"; {report.total.records:,} distinct records in all."
    current = report.current
    if report.by.is_period and current is not None:  # cases only in the period not over yet
        return (
            f"{_cases(current.cases)}{where} in {current.key} so far (the {report.by} is not "
            "over), "
            f"{percent(current.trading_share)} of them trading; "
            f"{report.total.records:,} distinct records in all."
        )
    total = report.total
    if total.cases == 0 and total.records == 0:
        if report.ignore is not None:
            return f"No cases{where} once the ignore file is applied (--no-ignore shows all)."
        if _bounded(report) or report.countries:
            return f"No cases{where} in the store for this period."
        return (
            "No cases in the store yet: scan pages or files first "
            "(`leakwatch scan PATH|URL...` records what it finds), then run `leakwatch report`."
        )
    return (
        f"{_cases(total.cases)}{where} ({total.exposure:,} exposure, {total.trading:,} trading, "
        f"{percent(total.trading_share)} trading), {total.records:,} distinct records."
    )


def _cases(n: int) -> str:
    return f"{n:,} case" if n == 1 else f"{n:,} cases"


def filters_line(report: TrendReport) -> str:
    parts = [f"by {report.by}", f"year basis: {report.basis}"]
    if report.store is not None:
        parts.append(f"store: {report.store}")
    if report.since or report.until:
        parts.append(f"from {report.since or 'the start'} to {report.until or 'now'}")
    if report.countries:
        parts.append(f"site countries: {', '.join(report.countries)}")
    if report.ignore is not None:
        parts.append(f"ignoring what {', '.join(report.ignore['files'])} lists")
    if report.baseline is not None:
        parts.append(f"baseline {report.baseline.year}: {report.baseline.cases:,} cases")
    if report.cagr is not None:
        parts.append(f"CAGR {percent(report.cagr, signed=True)}")
    return "; ".join(parts)


def _bounded(report: TrendReport) -> bool:
    return bool(report.since or report.until)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DECIMALS)


# -- json ------------------------------------------------------------------------------------------


def row_dict(report: TrendReport, row: TrendRow) -> dict[str, Any]:
    key: Any = row.key
    if report.by is Grouping.YEAR and row.key is not None:
        key = int(row.key)
    data: dict[str, Any] = {
        str(report.by): key,
        "cases": row.cases,
        "exposure": row.exposure,
        "trading": row.trading,
        "trading_share": _round(row.trading_share),
        "records": row.records,
        "findings_by_type": dict(row.findings_by_type),
    }
    if report.by.is_period:
        data["growth_vs_previous"] = _round(row.growth_vs_previous)
        data["partial"] = row.partial
    if report.baseline is not None:
        data["growth_vs_baseline"] = _round(row.growth_vs_baseline)
    return data


def report_dict(report: TrendReport) -> dict[str, Any]:
    total = report.total
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "trend_report",
        "tool": {"name": "leakwatch", "version": __version__},
        "generated": report.generated,
        "store": report.store,
        "by": str(report.by),
        "year_basis": str(report.basis),
        "filters": {
            "since": report.since,
            "until": report.until,
            "site_country": list(report.countries),
            "ignore": report.ignore,
        },
        "baseline": (
            {"year": report.baseline.year, "cases": report.baseline.cases}
            if report.baseline is not None
            else None
        ),
        "cagr": _round(report.cagr),
        "headline": (None if report.headline is None else row_dict(report, report.headline)),
        "totals": {
            "cases": total.cases,
            "exposure": total.exposure,
            "trading": total.trading,
            "trading_share": _round(total.trading_share),
            "records": total.records,
            "findings_by_type": dict(total.findings_by_type),
        },
        list_name(report.by): [row_dict(report, row) for row in report.rows],
        **({"cases": [case_dict(c) for c in report.cases]} if report.cases is not None else {}),
    }


# -- csv -------------------------------------------------------------------------------------------


def csv_header(report: TrendReport) -> list[str]:
    header = [str(report.by), "cases", "exposure", "trading", "trading_share", "records"]
    if report.by.is_period:
        header += ["growth_vs_previous", "partial"]
    if report.baseline is not None:
        header.append("growth_vs_baseline")
    return header + [f"findings:{t}" for t in report.types]


def render_csv(report: TrendReport, out: TextIO) -> None:
    """One row per period or group (no totals row: a pipeline sums what it needs); with
    --cases, one row per case instead (one CSV holds one table)."""
    if report.cases is not None:
        case_output.render_csv(report.cases, out)
        return
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(cell) for cell in csv_header(report)])
    for row in report.rows:
        data = row_dict(report, row)
        cells: list[Any] = [data[str(report.by)], row.cases, row.exposure, row.trading]
        cells += [_blank(data["trading_share"]), row.records]
        if report.by.is_period:
            cells += [_blank(data["growth_vs_previous"]), "true" if row.partial else "false"]
        if report.baseline is not None:
            cells.append(_blank(data["growth_vs_baseline"]))
        cells += [row.findings_by_type.get(t, 0) for t in report.types]
        writer.writerow([csv_cell(cell) for cell in cells])


def _blank(value: Any) -> Any:
    return "" if value is None else value


# -- shared table rows -----------------------------------------------------------------------------


def _columns(report: TrendReport, *, short: bool = False) -> list[str]:
    share = "share" if short else "trading share"
    names = [str(report.by), "cases", "exposure", "trading", share, "records"]
    if report.by.is_period:
        names.append("vs prev." if short else "vs previous")
    if report.baseline is not None:
        names.append(f"vs {report.baseline.year}")
    return names


def _cells(report: TrendReport, row: TrendRow) -> list[str]:
    cells = [
        label(report, row), f"{row.cases:,}", f"{row.exposure:,}", f"{row.trading:,}",
        percent(row.trading_share), f"{row.records:,}",
    ]  # fmt: skip
    if report.by.is_period:
        cells.append(percent(row.growth_vs_previous, signed=True))
    if report.baseline is not None:
        cells.append(percent(row.growth_vs_baseline, signed=True))
    return cells


def _types_table(report: TrendReport) -> bool:
    """Findings by type get their own table, except in a report by type (it is the report)."""
    return bool(report.types and report.rows) and report.by is not Grouping.TYPE


def bar(value: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A horizontal bar in eighths of a character cell."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    return "█" * (eighths // 8) + (_BLOCKS[eighths % 8] if eighths % 8 else "")


def _title(report: TrendReport) -> str:
    return f"leakwatch: cases by {report.by}"


# -- table -----------------------------------------------------------------------------------------


def render_table(report: TrendReport, console: Console) -> None:
    """The numbers, a bar chart of cases per period (or group), findings by type, a summary."""
    table = Table(title=_title(report), title_justify="left", caption=filters_line(report),
                  caption_justify="left", box=box.SIMPLE_HEAD)  # fmt: skip
    for i, name in enumerate(_columns(report, short=True)):
        if i == 0:  # site names may be long: they fold, the numbers never do
            table.add_column(name, overflow="fold", min_width=7)
        else:
            table.add_column(name, justify="right", no_wrap=True)
    for row in report.rows:
        # Text, not markup: a site name like "[red]x" must print as it is.
        cells = _cells(report, row)
        cells[0] = cells[0].replace(" (so far)", "\n(so far)")  # two lines, never three
        table.add_row(*[Text(cell) for cell in cells])
    if report.rows:
        total = report.total
        totals = ["total", f"{total.cases:,}", f"{total.exposure:,}", f"{total.trading:,}",
                  percent(total.trading_share), f"{total.records:,}"]  # fmt: skip
        totals += [""] * (len(_columns(report)) - len(totals))
        table.add_section()
        table.add_row(*[Text(cell, style="bold") for cell in totals])
    console.print(table)
    if report.rows:
        console.print(_chart(report, console.width))
    if _types_table(report):
        console.print(_types_for_terminal(report, console.width))
    if report.cases:
        console.print(case_output.table(report.cases, console.width, "Cases, newest first"))
    console.print(Text(summary(report)))


def _types_for_terminal(report: TrendReport, width: int) -> Table:
    """Findings by type: a row a type (its name whole: kr.phone and kr.phone.masked stay
    apart), a column a period or group while they fit the terminal, else the total only."""
    table = Table(title="Findings by type", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)  # fmt: skip
    table.add_column("type", no_wrap=True)
    names = [label(report, row) for row in report.rows]
    widths = [max(len(name), len(f"{max(row.findings_by_type.values(), default=0):,}"))
              for name, row in zip(names, report.rows, strict=True)]  # fmt: skip
    room = width - max(len(t) for t in report.types) - len("total") - 6
    by_group = sum(w + 2 for w in widths) <= room
    if by_group:
        for name in names:
            table.add_column(name, justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    for type_ in report.types:
        counts = [f"{row.findings_by_type.get(type_, 0):,}" for row in report.rows]
        total = f"{report.total.findings_by_type.get(type_, 0):,}"
        table.add_row(Text(type_), *(counts if by_group else []), total)
    if not by_group:
        table.caption = f"by {report.by}: -f csv"
        table.caption_justify = "left"
    return table


def _chart(report: TrendReport, width: int) -> Table:
    """Cases per period as bars, sized to the terminal (labels and counts always fit)."""
    rows = report.rows if report.by.is_period else report.rows[:CHART_GROUPS]
    names = [label(report, row)[:40] for row in rows]
    counts = [f"{row.cases:,}" for row in rows]
    room = width - max(map(len, names)) - max(map(len, counts)) - 8
    bar_width = max(4, min(BAR_WIDTH, room))
    largest = max(row.cases for row in rows)
    chart = Table(title=f"Cases per {report.by}", title_justify="left", box=None,
                  show_header=False, padding=(0, 1))  # fmt: skip
    chart.add_column(no_wrap=True)
    chart.add_column(no_wrap=True, overflow="crop")
    chart.add_column(justify="right", no_wrap=True)
    for name, count, row in zip(names, counts, rows, strict=True):
        chart.add_row(Text(name), Text(bar(row.cases, largest, bar_width), style="cyan"), count)
    return chart


# -- markdown --------------------------------------------------------------------------------------


def render_markdown(report: TrendReport) -> str:
    columns = [*_columns(report), "cases (chart)"]
    lines = [f"# {md(_title(report))}", "", md(summary(report)), "", md(filters_line(report)), ""]
    if report.rows:
        lines.append("| " + " | ".join(md(c) for c in columns) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(columns) - 2) + ["---"]) + "|")
        largest = max(row.cases for row in report.rows)
        for row in report.rows:
            cells = [*[md(c) for c in _cells(report, row)], bar(row.cases, largest, 20)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        if _types_table(report):
            lines.append("## Findings by type")
            lines.append("")
            lines.append("| " + " | ".join(md(c) for c in [str(report.by), *report.types]) + " |")
            lines.append("|" + "|".join(["---"] + ["---:"] * len(report.types)) + "|")
            for row in report.rows:
                counts = [f"{row.findings_by_type.get(t, 0):,}" for t in report.types]
                lines.append("| " + " | ".join([md(label(report, row)), *counts]) + " |")
            lines.append("")
    else:
        lines += ["_Nothing to report._", ""]
    if report.cases:
        lines += ["## Cases, newest first", "", *case_output.markdown(report.cases), ""]
    lines.append(f"Generated {md(report.generated)} by leakwatch {md(__version__)}.")
    return "\n".join(lines) + "\n"


# -- html ------------------------------------------------------------------------------------------


def render_html(report: TrendReport) -> str:
    """One file: inline CSS and SVG, no script, nothing fetched (a CSP forbids it)."""
    parts = []
    parts.append(f'<p class="summary">{_e(summary(report))}</p>\n')
    parts.append(f'<p class="filters">{_e(filters_line(report))}</p>\n')
    if report.rows:
        parts.append(svg_chart(report))
        parts.append(_html_table(report))
        if report.top_sites:
            parts.append(_html_sites(report))
        if report.total.findings_by_type:
            parts.append("<h2>Findings by type</h2>\n")
            parts.append(svg_types(report))
        if _types_table(report):
            parts.append(_html_types(report))
    else:
        parts.append("<p><em>Nothing to report.</em></p>\n")
    if report.cases:
        parts.append("<h2>Cases, newest first</h2>\n")
        parts.append(
            case_output.html_table(report.cases, limit=HTML_CASES, total=report.total.cases)
        )
    return html_page(_title(report), parts, report.generated)


def _html_table(report: TrendReport) -> str:
    rows = ['<div class="wide"><table>\n<thead><tr>']
    rows += [f"<th>{_e(name)}</th>" for name in _columns(report)]
    rows.append("</tr></thead>\n<tbody>\n")
    for row in report.rows:
        cells = _cells(report, row)
        rows.append("<tr><td>" + _e(cells[0]) + "</td>")
        rows += [f'<td class="n">{_e(c)}</td>' for c in cells[1:]]
        rows.append("</tr>\n")
    total = report.total
    cells = [f"{total.cases:,}", f"{total.exposure:,}", f"{total.trading:,}",
             percent(total.trading_share), f"{total.records:,}"]  # fmt: skip
    cells += [""] * (len(_columns(report)) - 1 - len(cells))
    rows.append('<tr class="total"><td>total</td>')
    rows += [f'<td class="n">{_e(c)}</td>' for c in cells]
    rows.append("</tr>\n</tbody>\n</table></div>\n")
    return "".join(rows)


def _html_sites(report: TrendReport) -> str:
    n = len(report.top_sites)
    which = "The site" if n == 1 else f"The {n} sites"
    parts = [f"<h2>Top sites</h2>\n<p class=\"filters\">{which} with the most cases in this "
             "report.</p>\n<div class=\"wide\"><table>\n<thead><tr>"
             "<th>site</th><th>cases</th><th>exposure</th><th>trading</th><th>trading share</th>"
             "<th>records</th></tr></thead>\n<tbody>\n"]  # fmt: skip
    for row in report.top_sites:
        name = row.key or _NONE_LABEL[Grouping.SITE]
        cells = [f"{row.cases:,}", f"{row.exposure:,}", f"{row.trading:,}",
                 percent(row.trading_share), f"{row.records:,}"]  # fmt: skip
        parts.append(f"<tr><td>{_e(name)}</td>" + "".join(f'<td class="n">{c}</td>' for c in cells)
                     + "</tr>\n")  # fmt: skip
    parts.append("</tbody>\n</table></div>\n")
    return "".join(parts)


def _html_types(report: TrendReport) -> str:
    parts = ['<div class="wide"><table>\n<thead><tr>']
    parts += [f"<th>{_e(name)}</th>" for name in [str(report.by), *report.types]]
    parts.append("</tr></thead>\n<tbody>\n")
    for row in report.rows:
        parts.append(f"<tr><td>{_e(label(report, row))}</td>")
        parts += [f'<td class="n">{row.findings_by_type.get(t, 0):,}</td>' for t in report.types]
        parts.append("</tr>\n")
    parts.append("</tbody>\n</table></div>\n")
    return "".join(parts)


_CASE_LEGEND = (("exposure", "exposure"), ("trading", "trading"))


def svg_chart(report: TrendReport) -> str:
    """Cases per period as columns, per group (site, country...) as bars: exposure and
    trading stacked, the period not over yet faded."""
    rows: Sequence[TrendRow] = report.rows if report.by.is_period else report.rows[:CHART_GROUPS]
    bars = [
        charts.Bar(
            label(report, row), (("exposure", row.exposure), ("trading", row.trading)),
            faded=row.partial,
            tip=f"{label(report, row)}: {row.cases:,} cases ({row.exposure:,} exposure, "
            f"{row.trading:,} trading)",
        )
        for row in rows
    ]  # fmt: skip
    legend: tuple[tuple[str, str], ...] = _CASE_LEGEND
    if any(row.partial for row in rows):
        legend = (*legend, ("exposure faded", f"{report.by} not over yet (faded)"))
    if report.by.is_period:
        return charts.columns(_title(report), bars, legend)
    return charts.bars(_title(report), bars, legend)


def svg_types(report: TrendReport) -> str:
    """Findings per type over the whole report, largest first."""
    counts = sorted(report.total.findings_by_type.items(), key=lambda item: (-item[1], item[0]))
    bars = [charts.Bar(t, (("type", n),), tip=f"{t}: {n:,} findings") for t, n in counts]
    return charts.bars("Findings by type", bars, (("type", "findings"),))
