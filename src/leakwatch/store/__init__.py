"""The findings store: where every scan records what it saw, for trend reports and resumed crawls.

`Store` (store.py) records and reads through a `Database` (database.py): a SQLite file
(sqlite.py, the default) or a PostgreSQL database (postgres.py) that a team shares. The SQL
is written once: `statements` records, `queries` counts; `migrations` holds the schema in
both engines' words, `country` how a site's country is decided, `values` the frozen values
the store hands out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from leakwatch.models import Capture, DocumentFacts, Finding, QueuedUrl, ScanIssue
from leakwatch.paths import data_dir
from leakwatch.safe_text import hide_password
from leakwatch.store.store import Location, Store, document_key, is_postgres
from leakwatch.store.values import (
    CaseRow,
    ExportFilter,
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
    "CaseRow",
    "ExportFilter",
    "ExportRow",
    "FindingsStore",
    "GroupCounts",
    "Grouping",
    "Location",
    "Resume",
    "RunRecord",
    "Store",
    "TrendCounts",
    "TrendQuery",
    "YearBasis",
    "default_path",
    "document_key",
    "is_postgres",
    "location_of",
    "shown",
]


class FindingsStore(Protocol):
    """What a scan records into: `Store` is the implementation (on SQLite or PostgreSQL); a
    test can pass anything else with these methods."""

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


def default_path(environ: Mapping[str, str]) -> Location:
    """$LEAKWATCH_DB (a path or a postgresql:// URL), else leakwatch.db in leakwatch's data
    folder ($LEAKWATCH_HOME or the platform's user data dir)."""
    override = environ.get(DB_ENV)
    if override:
        return location_of(override, environ)
    return data_dir(environ) / DB_FILENAME


def shown(location: Location) -> str:
    """How messages and reports name a store: its path, or its URL without a password."""
    return hide_password(location) if isinstance(location, str) else str(location)


def location_of(db: str | Path | None, environ: Mapping[str, str]) -> Location:
    """The store a command uses: --db (a path or a postgresql:// URL), else the default."""
    if not db:
        return default_path(environ)
    if "://" in str(db):  # postgresql://, or another scheme that Store refuses by name
        return str(db)
    return Path(db).expanduser()
