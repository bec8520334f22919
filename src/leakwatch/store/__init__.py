"""The findings store: where every scan records what it saw, for trend reports and resumed crawls.

`Store` (sqlite.py) is the one implementation; `migrations` holds its schema, `country` how a
site's country is decided, `values` the frozen values it hands out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from leakwatch.models import Capture, DocumentFacts, Finding, QueuedUrl, ScanIssue
from leakwatch.paths import data_dir
from leakwatch.store.sqlite import Store, document_key
from leakwatch.store.values import (
    ExportRow,
    GroupCounts,
    Grouping,
    Resume,
    RunRecord,
    TrendCounts,
    TrendQuery,
    YearBasis,
)

DB_ENV = "LEAKWATCH_DB"
DB_FILENAME = "leakwatch.db"

__all__ = [
    "DB_ENV",
    "DB_FILENAME",
    "ExportRow",
    "FindingsStore",
    "GroupCounts",
    "Grouping",
    "Resume",
    "RunRecord",
    "Store",
    "TrendCounts",
    "TrendQuery",
    "YearBasis",
    "default_path",
    "document_key",
]


class FindingsStore(Protocol):
    """What a scan records into: `Store` is the implementation; a scan run with --no-store
    (or a test) can pass anything else with these methods."""

    def start_run(
        self,
        *,
        started: str,
        version: str,
        arguments: Sequence[str],
        targets: Sequence[str],
        settings: Mapping[str, Any],
        resumes: int | None = None,
    ) -> int: ...

    def record(
        self,
        run_id: int,
        *,
        findings: Sequence[Finding] = (),
        document: DocumentFacts | None = None,
        issues: Sequence[ScanIssue] = (),
        done: Sequence[str] = (),
        queued: Sequence[QueuedUrl] = (),
        seen: str | None = None,
    ) -> None: ...

    def captured(self, url: str, digest: str) -> bool: ...

    def recaptured(self, url: str, capture: Capture) -> None: ...

    def finish_run(
        self, run_id: int, *, finished: str, outcome: str, summary: Mapping[str, Any]
    ) -> None: ...

    def resumable(self, targets: Sequence[str] | None) -> Resume | None: ...

    def close(self) -> None: ...


def default_path(environ: Mapping[str, str]) -> Path:
    """$LEAKWATCH_DB, else leakwatch.db in leakwatch's data folder ($LEAKWATCH_HOME or the
    platform's user data dir)."""
    override = environ.get(DB_ENV)
    if override:
        return Path(override).expanduser()
    return data_dir(environ) / DB_FILENAME
