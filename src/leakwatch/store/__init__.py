"""The findings store: where every scan records what it saw, for trend reports and resumed crawls.

`Store` (sqlite.py) is the one implementation; `migrations` holds its schema, `country` how a
site's country is decided, `values` the frozen values it hands out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from leakwatch.detect.redact import data_dir
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


def default_path(environ: Mapping[str, str]) -> Path:
    """$LEAKWATCH_DB, else leakwatch.db in leakwatch's data folder ($LEAKWATCH_HOME or the
    platform's user data dir)."""
    override = environ.get(DB_ENV)
    if override:
        return Path(override).expanduser()
    return data_dir(environ) / DB_FILENAME
