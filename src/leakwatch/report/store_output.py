"""Render what the store holds: exported findings (jsonl, csv; streamed), runs (table, json)."""

from __future__ import annotations

import csv
import enum
from collections.abc import Iterable
from typing import Any, TextIO, assert_never

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from leakwatch import __version__
from leakwatch.report import json_text
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
            table = Table(title=f"{len(runs)} runs", title_justify="left", box=box.SIMPLE_HEAD)
            for name in ("id", "started (UTC)", "state", "crawl", "docs", "findings", "errors"):
                table.add_column(name, no_wrap=True)
            table.add_column("what", overflow="fold", min_width=16)
            for run in runs:
                summary = run.summary or {}
                resumed = f" (resumes {run.resumes})" if run.resumes is not None else ""
                what = " ".join(run.targets or run.arguments)
                cells = [
                    str(run.id), _minute(run.started), run_state(run), f"{run.crawl_id}{resumed}",
                    _count(summary.get("documents")), _count(summary.get("findings")),
                    str(run.errors), what,
                ]  # fmt: skip
                table.add_row(*[Text(visible(cell)) for cell in cells])
            console.print(table)
        case _:
            assert_never(fmt)


def _minute(when: str) -> str:
    """`2026-01-01T10:00:00+00:00` -> `2026-01-01 10:00` (times are stored in UTC)."""
    return when[:16].replace("T", " ")


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else ""
