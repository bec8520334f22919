"""Render what the store holds: exported findings (jsonl, csv; streamed), runs (table, json)."""

from __future__ import annotations

import csv
import enum
from collections.abc import Iterable
from typing import Any, TextIO, assert_never

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from leakwatch import __version__
from leakwatch.report import json_text
from leakwatch.report.display import short_url
from leakwatch.report.scan_output import csv_cell
from leakwatch.safe_text import visible
from leakwatch.store.values import ExportRow, RunRecord

SCHEMA_VERSION = 1

EXPORT_FIELDS = (
    "source", "site", "country", "category", "published", "type", "severity", "masked",
    "fingerprint", "confidence", "evidence", "first_seen", "last_seen",
)  # fmt: skip


class ExportFormat(enum.StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


class RunsFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


def export_dict(row: ExportRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in EXPORT_FIELDS} | {"evidence": list(row.evidence)}


def write_export(rows: Iterable[ExportRow], fmt: ExportFormat, out: TextIO) -> int:
    """Write rows as they come (constant memory); returns how many were written."""
    count = 0
    match fmt:
        case ExportFormat.JSONL:
            for row in rows:
                line = {"schema_version": SCHEMA_VERSION, "kind": "finding", **export_dict(row)}
                out.write(json_text.line(line) + "\n")  # whole lines only
                count += 1
        case ExportFormat.CSV:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(EXPORT_FIELDS)
            for row in rows:
                data = export_dict(row)
                data["evidence"] = ";".join(row.evidence)
                writer.writerow([csv_cell(data[name]) for name in EXPORT_FIELDS])
                count += 1
        case _:
            assert_never(fmt)
    return count


def run_state(run: RunRecord) -> str:
    if run.outcome is not None:
        return run.outcome
    return "running" if run.running else "unfinished"


def run_dict(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "crawl": run.crawl_id,
        "resumes": run.resumes,
        "started": run.started,
        "finished": run.finished,
        "outcome": run.outcome,
        "state": run_state(run),
        "version": run.version,
        "arguments": list(run.arguments),
        "targets": list(run.targets),
        "settings": dict(run.settings),
        "summary": dict(run.summary) if run.summary is not None else None,
        "errors": run.errors,
    }


def write_runs(runs: list[RunRecord], fmt: RunsFormat, out: TextIO, console: Console) -> None:
    match fmt:
        case RunsFormat.JSON:
            data = {
                "schema_version": SCHEMA_VERSION,
                "kind": "runs",
                "tool": {"name": "leakwatch", "version": __version__},
                "runs": [run_dict(run) for run in runs],
            }
            out.write(json_text.document(data))
            out.write("\n")
        case RunsFormat.TABLE:
            console.print(_runs_table(runs, console.width))
        case _:
            assert_never(fmt)


def _runs_table(runs: list[RunRecord], width: int) -> Table:
    """The runs, the targets shortened to what the other columns leave (never below a URL's
    host and last segment), a run that resumed another saying so in its state. Below 110
    columns the document and finding counts are left out (`runs -f json` has them) so
    that the targets keep their room."""
    wide = width >= 110
    names = ["id", "started (UTC)", "state", *(("docs", "findings") if wide else ()), "errors"]
    rows = []
    for run in runs:
        summary = run.summary or {}
        state = run_state(run) + (f", resumes {run.resumes}" if run.resumes is not None else "")
        counts = [_count(summary.get("documents")), _count(summary.get("findings"))]
        rows.append([str(run.id), _minute(run.started), state, *(counts if wide else []),
                     str(run.errors)])  # fmt: skip

    def table(with_what: bool) -> Table:
        made = Table(title=f"{len(runs)} runs", title_justify="left", box=box.SIMPLE_HEAD,
                     pad_edge=False)  # fmt: skip
        for name in names:
            numeric = name in ("id", "docs", "findings", "errors")
            made.add_column(name, no_wrap=True, justify="right" if numeric else "left")
        if with_what:
            made.add_column("what", overflow="fold", min_width=min(room, 28), max_width=room)
        return made

    room = 28
    others = table(False)
    for cells in rows:
        others.add_row(*cells)
    console = Console(width=width)
    room = max(28, width - Measurement.get(console, console.options, others).maximum - 4)
    shown = table(True)
    for run, cells in zip(runs, rows, strict=True):
        if run.targets:
            what = ", ".join(short_url(target, room) for target in run.targets)
        else:
            what = " ".join(run.arguments)
        shown.add_row(*[Text(visible(cell)) for cell in (*cells, what)])
    return shown


def _minute(when: str) -> str:
    """`2026-01-01T10:00:00+00:00` -> `2026-01-01 10:00` (times are stored in UTC)."""
    return when[:16].replace("T", " ")


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else ""
