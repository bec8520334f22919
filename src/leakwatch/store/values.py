"""Frozen values the store hands out: crawls to resume, runs, exported findings, counts."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from leakwatch.ignore import IgnoreRules
from leakwatch.models import QueuedUrl, Severity


@dataclass(frozen=True, slots=True)
class Resume:
    """An unfinished crawl: what was done (never fetched again) and what is still queued."""

    run_id: int  # the unfinished run to continue
    crawl_id: int
    targets: tuple[str, ...]
    settings: Mapping[str, Any]
    done: frozenset[str]  # URLs finished in this crawl
    pending: tuple[QueuedUrl, ...]  # queued and not done, in queue order


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One past run as `leakwatch runs` lists it."""

    id: int
    crawl_id: int
    resumes: int | None
    started: str
    finished: str | None
    outcome: str | None  # completed | interrupted | failed; None: never finished
    running: bool  # unfinished and its process is still alive on this host
    version: str
    arguments: tuple[str, ...]
    targets: tuple[str, ...]
    settings: Mapping[str, Any]
    summary: Mapping[str, Any] | None
    errors: int


@dataclass(frozen=True, slots=True)
class ExportRow:
    """A stored finding (masked) with the document it was found on."""

    source: str
    site: str | None
    country: str | None
    category: str | None
    published: str | None
    type: str
    severity: str | None
    masked: str
    fingerprint: str
    confidence: float
    evidence: tuple[str, ...]
    first_seen: str
    last_seen: str


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Which stored findings an export gives (empty: all)."""

    types: tuple[str, ...] = ()  # globs of finding types
    least_severity: Severity | None = None
    categories: tuple[str, ...] = ()  # exposure, trading, none (on no case)
    sites: tuple[str, ...] = ()  # globs of site names

    def keeps(self, row: ExportRow) -> bool:
        if self.types and not any(fnmatchcase(row.type, t) for t in self.types):
            return False
        if self.least_severity is not None:
            severity = Severity.parse(row.severity) if row.severity else Severity.INFO
            if severity < self.least_severity:
                return False
        if self.categories and (row.category or "none") not in self.categories:
            return False
        if not self.sites:
            return True
        return row.site is not None and any(fnmatchcase(row.site, s) for s in self.sites)


class Grouping(enum.StrEnum):
    """What a trend report's rows are: time periods (year, month) or groups."""

    YEAR = "year"
    MONTH = "month"
    SITE = "site"
    COUNTRY = "country"
    TYPE = "type"
    CATEGORY = "category"

    @property
    def is_period(self) -> bool:
        return self in (Grouping.YEAR, Grouping.MONTH)


class YearBasis(enum.StrEnum):
    """Which date puts a case in a period."""

    PUBLISHED = "published"  # the page's declared date, else when first seen as a case
    FIRST_SEEN = "first-seen"  # when first seen as a case


@dataclass(frozen=True, slots=True)
class TrendQuery:
    """What to count. Bounds are ISO 8601 prefixes compared as text: `since` inclusive,
    `before` exclusive ("2020" to "2024" is 2020 through 2023)."""

    by: Grouping = Grouping.YEAR
    basis: YearBasis = YearBasis.PUBLISHED
    since: str | None = None
    before: str | None = None
    countries: tuple[str, ...] = ()  # ISO codes; empty: every document, known country or not
    ignore: IgnoreRules = field(default_factory=IgnoreRules)  # what is not counted


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One case behind the counts: a page (its earliest copy) with what it holds."""

    source: str  # its URL (masked where it holds an identifier) or file path
    site: str | None
    country: str | None
    category: str  # exposure | trading
    published: str | None  # as the page declares it
    date: str  # the date it counts under (the report's year basis)
    first_seen: str  # when it was first seen as a case
    last_seen: str
    records_by_type: Mapping[str, int]  # distinct identifiers on it, by type
    copies: int = 1  # documents folded into it (the same content at the same site)

    @property
    def records(self) -> int:
        return sum(self.records_by_type.values())


@dataclass(frozen=True, slots=True)
class GroupCounts:
    """Counts for one period or group (`key` None: documents without a site or country)."""

    key: str | None
    exposure: int = 0
    trading: int = 0
    records: int = 0
    findings_by_type: Mapping[str, int] = field(default_factory=dict)

    @property
    def cases(self) -> int:
        return self.exposure + self.trading


@dataclass(frozen=True, slots=True)
class TrendCounts:
    """The store's answer to a TrendQuery: one entry per non-empty group, and the totals
    (distinct cases and records over all groups, which need not be the sum of the groups:
    a record found on two sites counts once in the total)."""

    groups: tuple[GroupCounts, ...]
    total: GroupCounts
