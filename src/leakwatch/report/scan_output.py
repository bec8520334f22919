"""Render a scan's events as table, json, jsonl or csv.

json and jsonl carry `schema_version`; their shape is documented in docs/scanning.md "Output". jsonl
streams: one object per line as events happen, so a pipeline sees findings at once and a huge
scan never accumulates in memory. csv holds findings only. Raw values appear only when the
scan was run with --reveal (the finding's `value`).
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO, assert_never

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from leakwatch import __version__
from leakwatch.models import Capture, DocumentFacts, FetchInfo, Finding, ScanIssue
from leakwatch.report import json_text
from leakwatch.report.display import short_url
from leakwatch.safe_text import visible

SCHEMA_VERSION = 1
# Page outcomes every target lists in the summary, even at 0: a target that is down shows
# "scanned 0, failed 1" where a quiet one shows "scanned 12".
TARGET_OUTCOMES = ("scanned", "failed", "disallowed")
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Format(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What was asked of the run, echoed in the output so a report explains itself."""

    started: str
    inputs: tuple[str, ...]
    min_confidence: float
    revealed: bool
    packs: tuple[str, ...]
    settings: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Summary:
    finished: str
    documents: int
    findings_by_type: Mapping[str, int]
    cases_by_category: Mapping[str, int]
    errors: int
    interrupted: bool
    skipped: int = 0
    pages: Mapping[str, int] = field(default_factory=dict)  # crawled URLs by outcome
    issues_by_kind: Mapping[str, int] = field(default_factory=dict)
    targets: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # by start URL
    ignored: int = 0  # findings the ignore file left out


class Writer(Protocol):
    def finding(self, finding: Finding) -> None: ...
    def document(self, document: DocumentFacts) -> None: ...
    def issue(self, issue: ScanIssue) -> None: ...
    def close(self, summary: Summary) -> None: ...


def make_writer(
    fmt: Format,
    out: TextIO,
    run: RunInfo,
    console: Console | None = None,
    *,
    summary_only: bool = False,
) -> Writer:
    match fmt:
        case Format.TABLE:
            return TableWriter(console or Console(file=out), run, summary_only=summary_only)
        case Format.JSON:
            return JsonWriter(out, run)
        case Format.JSONL:
            return JsonlWriter(out, run)
        case Format.CSV:
            return CsvWriter(out, run)
        case _:
            assert_never(fmt)


def finding_dict(finding: Finding) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source": finding.source,
        "type": finding.type,
        "label": finding.label,
        "severity": str(finding.severity),
        "masked": finding.masked,
        "fingerprint": finding.fingerprint,
        "confidence": finding.confidence,
        "evidence": list(finding.evidence),
        "line": finding.line,
        "column": finding.column,
        "context": finding.context,
    }
    if finding.value is not None:
        data["value"] = finding.value
    return data


def document_dict(document: DocumentFacts) -> dict[str, Any]:
    return {
        "source": document.source,
        "media_type": document.media_type,
        "size": document.size,
        "encoding": document.encoding,
        "encoding_source": document.encoding_source,
        "category": document.category.value if document.category else None,
        "category_evidence": list(document.category_evidence),
        "published": document.published,
        "published_source": document.published_source,
        "findings": document.findings,
        "findings_by_type": dict(document.findings_by_type),
        "sha256": document.content_sha256,
        **({"fetch": fetch_dict(document.fetch)} if document.fetch else {}),
        **({"capture": capture_dict(document.capture)} if document.capture else {}),
        **({"raw_source": document.raw_source} if document.raw_source is not None else {}),
        **({"ignored": document.ignored} if document.ignored else {}),
    }


def capture_dict(capture: Capture) -> dict[str, Any]:
    return {
        "archive": capture.archive,
        "offset": capture.offset,
        "date": capture.date,
        "digest": capture.digest,
    }


def fetch_dict(fetch: FetchInfo) -> dict[str, Any]:
    return {
        "url": fetch.url,
        "final_url": fetch.final_url,
        "site": fetch.site,
        "target": fetch.target,
        "depth": fetch.depth,
        "status": fetch.status,
        "fetched_at": fetch.fetched_at,
        "address": fetch.address,
        "country": fetch.country,
    }


def issue_dict(issue: ScanIssue) -> dict[str, Any]:
    return {"source": issue.source, "kind": issue.kind, "message": issue.message}


def run_dict(run: RunInfo) -> dict[str, Any]:
    return {
        "started": run.started,
        "inputs": list(run.inputs),
        "min_confidence": run.min_confidence,
        "revealed": run.revealed,
        "packs": list(run.packs),
        **dict(run.settings),
    }


def summary_dict(summary: Summary) -> dict[str, Any]:
    return {
        "finished": summary.finished,
        "interrupted": summary.interrupted,
        "documents": summary.documents,
        "findings": sum(summary.findings_by_type.values()),
        "findings_by_type": dict(sorted(summary.findings_by_type.items())),
        "cases_by_category": dict(sorted(summary.cases_by_category.items())),
        "errors": summary.errors,
        "skipped": summary.skipped,
        "errors_by_kind": dict(sorted(summary.issues_by_kind.items())),
        **({"pages": dict(sorted(summary.pages.items()))} if summary.pages else {}),
        **({"targets": targets_list(summary.targets)} if summary.targets else {}),
        **({"ignored": summary.ignored} if summary.ignored else {}),
    }


def targets_list(targets: Mapping[str, Mapping[str, int]]) -> list[dict[str, Any]]:
    """Each crawled target (sorted) with its URLs by outcome (scanned, failed, disallowed
    always)."""
    return [
        {
            "target": target,
            "pages": {**dict.fromkeys(TARGET_OUTCOMES, 0), **dict(sorted(pages.items()))},
        }
        for target, pages in sorted(targets.items())
    ]


def _target_counts(pages: Mapping[str, int]) -> str:
    listed = {**dict.fromkeys(TARGET_OUTCOMES, 0), **pages}
    return ", ".join(f"{k} {v}" for k, v in listed.items())


def _tool() -> dict[str, str]:
    return {"name": "leakwatch", "version": __version__}


class JsonWriter:
    """One JSON object at the end: run, summary, documents, findings, errors."""

    def __init__(self, out: TextIO, run: RunInfo) -> None:
        self.out = out
        self.run = run
        self.findings: list[dict[str, Any]] = []
        self.documents: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []

    def finding(self, finding: Finding) -> None:
        self.findings.append(finding_dict(finding))

    def document(self, document: DocumentFacts) -> None:
        self.documents.append(document_dict(document))

    def issue(self, issue: ScanIssue) -> None:
        self.errors.append(issue_dict(issue))

    def close(self, summary: Summary) -> None:
        report = {
            "schema_version": SCHEMA_VERSION,
            "tool": _tool(),
            "run": run_dict(self.run),
            "summary": summary_dict(summary),
            "documents": self.documents,
            "findings": self.findings,
            "errors": self.errors,
        }
        self.out.write(json_text.document(report) + "\n")


class JsonlWriter:
    """One JSON object per line, tagged with `kind`: run, finding, document, error, summary."""

    def __init__(self, out: TextIO, run: RunInfo) -> None:
        self.out = out
        self._line({"kind": "run", "tool": _tool(), **run_dict(run)})

    def _line(self, data: dict[str, Any]) -> None:
        # One write per line: a Ctrl-C or SIGTERM lands between writes, never inside one, so
        # an interrupted stream still ends in whole lines and its summary.
        self.out.write(json_text.line({"schema_version": SCHEMA_VERSION, **data}) + "\n")

    def finding(self, finding: Finding) -> None:
        self._line({"kind": "finding", **finding_dict(finding)})

    def document(self, document: DocumentFacts) -> None:
        self._line({"kind": "document", **document_dict(document)})

    def issue(self, issue: ScanIssue) -> None:
        # `kind` names the line; the issue's own kind travels as `error_kind`.
        self._line({"kind": "error", "source": issue.source, "error_kind": issue.kind,
                    "message": issue.message})  # fmt: skip

    def close(self, summary: Summary) -> None:
        self._line({"kind": "summary", **summary_dict(summary)})


CSV_FIELDS = (
    "source", "type", "severity", "masked", "fingerprint", "confidence", "evidence", "line",
    "column", "context",
)  # fmt: skip


class CsvWriter:
    """Findings as CSV rows; cells that a spreadsheet would run as formulas are defused."""

    def __init__(self, out: TextIO, run: RunInfo) -> None:
        self.fields = (*CSV_FIELDS, "value") if run.revealed else CSV_FIELDS
        self.writer = csv.writer(out, lineterminator="\n")
        self.writer.writerow(self.fields)

    def finding(self, finding: Finding) -> None:
        data = finding_dict(finding)
        data["evidence"] = ";".join(finding.evidence)
        self.writer.writerow([csv_cell(data.get(name, "")) for name in self.fields])

    def document(self, document: DocumentFacts) -> None:
        return None

    def issue(self, issue: ScanIssue) -> None:
        return None

    def close(self, summary: Summary) -> None:
        return None


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: control characters escaped, and `'` before text a spreadsheet
    would run as a formula (snippets and names come from hostile pages)."""
    if not isinstance(value, str):
        return value
    value = visible(value)
    return "'" + value if value.startswith(_CSV_FORMULA_START) else value


def _cells(values: list[str]) -> list[Text]:
    """Table cells shown as they are: control characters escaped, no markup read (a page's
    `[bold]` or `[/]` is text)."""
    return [Text(visible(value)) for value in values]


class TableWriter:
    """For a terminal: each document's findings under its name (one line a finding, at any
    width), then the cases, then totals; `summary_only`: a line per document instead of
    the findings (`scan --summary`)."""

    def __init__(self, console: Console, run: RunInfo, *, summary_only: bool = False) -> None:
        self.console = console
        self.run = run
        self.summary_only = summary_only
        self.findings: dict[str, list[Finding]] = {}
        self.documents: list[DocumentFacts] = []
        self.errors: list[ScanIssue] = []

    def finding(self, finding: Finding) -> None:
        if not self.summary_only:
            self.findings.setdefault(finding.source, []).append(finding)

    def document(self, document: DocumentFacts) -> None:
        if document.category is not None or document.findings or self.summary_only:
            self.documents.append(document)

    def issue(self, issue: ScanIssue) -> None:
        self.errors.append(issue)

    def close(self, summary: Summary) -> None:
        console = self.console
        if self.summary_only:
            self._documents(console)
        else:
            self._findings(console)
            self._cases(console)
        total = sum(summary.findings_by_type.values())
        by_type = ", ".join(f"{k} {v}" for k, v in sorted(summary.findings_by_type.items()))
        by_category = ", ".join(f"{k} {v}" for k, v in sorted(summary.cases_by_category.items()))
        pages = ", ".join(f"{k} {v}" for k, v in sorted(summary.pages.items()))
        fetched = "captures fetched" if "archive" in self.run.settings else "URLs crawled"
        console.print(
            (f"{sum(summary.pages.values())} {fetched} ({pages}); " if pages else "")
            + f"{summary.documents} documents scanned, {total} findings"
            + (f" ({by_type})" if by_type else "")
            + (f"; cases: {by_category}" if by_category else "; no cases")
            + (f"; {summary.ignored} findings ignored (ignore file)" if summary.ignored else "")
            + (f"; {summary.errors} inputs failed" if summary.errors else "")
            + (f"; {summary.skipped} files skipped" if summary.skipped else "")
            + "".join(
                f"; target {t}: {_target_counts(p)}" for t, p in sorted(summary.targets.items())
            )
            + ("; interrupted" if summary.interrupted else ""),
            highlight=False,
        )

    def _findings(self, console: Console) -> None:
        """A table per document, under its name, all with the same columns so they line up;
        the evidence is cut to fit on the line (all of it is in json)."""
        if not self.findings:
            return
        every = [f for found in self.findings.values() for f in found]
        widths = {
            "line": max(4, *(len(str(f.line)) for f in every)),
            "type": max(4, *(len(f.type) for f in every)),
            "severity": 8,
            "masked": max(6, *(len(f.masked) for f in every)),
            "conf": 4,
        }
        if self.run.revealed:
            widths["value"] = max(5, *(len(f.value or "") for f in every))
        room = console.width - sum(widths.values()) - 2 * len(widths)
        show_evidence = room >= 12
        console.print(Text("Findings", style="bold"))
        for n, (source, found) in enumerate(self.findings.items()):
            console.print(Text(short_url(source, console.width), style="cyan"))
            table = Table(box=None, show_header=n == 0, pad_edge=False, padding=(0, 2, 0, 0),
                          header_style="bold")  # fmt: skip
            for name, width in widths.items():
                justify: Any = "right" if name in ("line", "conf") else "left"
                table.add_column(name, width=width, no_wrap=True, justify=justify)
            if show_evidence:
                table.add_column("evidence", width=room, no_wrap=True, overflow="ellipsis",
                                 style="dim")  # fmt: skip
            for f in found:
                row = [str(f.line), f.type, str(f.severity), f.masked, f"{f.confidence:.2f}"]
                if self.run.revealed:
                    row.append(f.value or "")
                if show_evidence:
                    row.append(", ".join(f.evidence))
                table.add_row(*_cells(row))
            console.print(table)

    def _cases(self, console: Console) -> None:
        cases = [d for d in self.documents if d.category is not None]
        if not cases:
            return
        table = Table(title="Cases", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        room = max(24, console.width - 8 - 10 - 8 - 8)
        table.add_column("category", no_wrap=True, min_width=8)
        table.add_column("published", no_wrap=True, min_width=10)
        table.add_column("findings", no_wrap=True, justify="right", min_width=8)
        table.add_column("source", no_wrap=True, max_width=room)
        for d in cases:
            category = d.category.value if d.category else ""
            table.add_row(*_cells([category, (d.published or "")[:10], str(d.findings),
                                   short_url(d.source, room)]))  # fmt: skip
        console.print(table)

    def _documents(self, console: Console) -> None:
        """`--summary`: one line a document that has findings or is a case."""
        shown = [d for d in self.documents if d.findings or d.category is not None]
        if not shown:
            return
        table = Table(title="Documents", title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False)  # fmt: skip
        by_type = [", ".join(f"{t} {n}" for t, n in sorted(d.findings_by_type.items(),
                             key=lambda item: (-item[1], item[0]))) for d in shown]  # fmt: skip
        fold = min(36, max(20, console.width // 4))  # the types fold, the name keeps room
        used = 8 + 8 + min(fold, max(len(b) for b in by_type)) + 8
        room = max(24, console.width - used)
        table.add_column("category", no_wrap=True, min_width=8)
        table.add_column("findings", no_wrap=True, justify="right", min_width=8)
        table.add_column("by type", overflow="fold", max_width=fold)
        table.add_column("source", no_wrap=True, max_width=room)
        for d, types in zip(shown, by_type, strict=True):
            category = d.category.value if d.category else "-"
            table.add_row(*_cells([category, str(d.findings), types, short_url(d.source, room)]))
        console.print(table)
