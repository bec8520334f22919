"""Frozen values shared by the pipeline stages: severities, verdicts, findings, document facts,
and how a crawled page was fetched; and `now()`, the instant as they are stamped with it."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def now() -> str:
    """The current instant as runs and summaries record it: ISO 8601, UTC, whole seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Severity(enum.IntEnum):
    """How harmful a leaked identifier of a type is; ordered so `--fail-on` can compare."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, name: str) -> Severity:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            choices = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {name!r} (choose from {choices})") from None

    def __str__(self) -> str:
        return self.name.lower()


class Verdict(enum.Enum):
    """What a validator concluded about a candidate's digits.

    Three outcomes, not two: since the 2020 reform a failed check digit no longer proves a
    Korean resident registration number fake, so a plausible number with a wrong check digit is
    UNVERIFIED (reported only with context), and only impossible numbers FAIL.
    """

    PASS = "pass"  # check digit or numbering plan verified
    FORMAT = "format"  # right shape; the identifier has no public check to run
    UNVERIFIED = "unverified"  # plausible, but the check digit is wrong
    FAIL = "fail"  # impossible: never reported


class Category(enum.Enum):
    """What kind of case a document is, in KISA's sense (one page or post = one case)."""

    TRADING = "trading"  # offers Korean personal data for sale or trade
    EXPOSURE = "exposure"  # shows full identifiers, not as a trade offer


@dataclass(frozen=True, slots=True)
class Validation:
    """A validator's answer: the verdict, the canonical value and any extra evidence tags."""

    verdict: Verdict
    normalized: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """One occurrence of an identifier in a document.

    `value` is the raw identifier and is None unless the user asked for it (`--reveal`);
    everything else is safe to write anywhere.
    """

    source: str
    type: str
    pattern: str
    label: str
    severity: Severity
    masked: str
    fingerprint: str
    confidence: float
    evidence: tuple[str, ...]
    line: int
    column: int
    context: str
    value: str | None = None

    def __reduce__(self) -> tuple[Callable[..., Finding], tuple[object, ...]]:
        # Pickled as its fields, in order, the severity as its number: a frozen slotted
        # dataclass otherwise pickles through copyreg, attribute by attribute, at twice the
        # cost, and a dump's findings cross from the worker processes by the hundred
        # thousand.
        return _unpickle_finding, (
            self.source, self.type, self.pattern, self.label, int(self.severity), self.masked,
            self.fingerprint, self.confidence, self.evidence, self.line, self.column,
            self.context, self.value,
        )  # fmt: skip


_SEVERITIES = {int(s): s for s in Severity}


def _unpickle_finding(
    source: str, type: str, pattern: str, label: str, severity: int, *rest: Any
) -> Finding:
    return Finding(source, type, pattern, label, _SEVERITIES[severity], *rest)


@dataclass(frozen=True, slots=True)
class FetchInfo:
    """How a crawled document was fetched; absent for local files and stdin."""

    url: str  # the canonical URL that was requested (the crawl frontier's key)
    final_url: str  # after redirects; the document's `source`
    site: str  # host name the page belongs to (lower case, no port)
    target: str  # the start URL whose crawl found this page
    depth: int  # links followed from the start page (0 = the start page)
    status: int
    fetched_at: str  # ISO 8601, UTC
    address: str | None  # IP address connected to (None through a proxy)
    country: str | None  # the targets file's `country=` for this target, upper case


@dataclass(frozen=True, slots=True)
class Capture:
    """Where and when a web archive captured a page: the archive file, the record's offset
    in it, the capture instant (ISO 8601, UTC) and the payload digest the archive computed."""

    archive: str
    offset: int
    date: str
    digest: str | None


@dataclass(frozen=True, slots=True)
class Recaptured:
    """A page an archive captured again with the same payload: not scanned again, but it was
    still there then (the store's last sighting of it moves on)."""

    url: str  # the page's URL (masked where it holds an identifier)
    capture: Capture


@dataclass(frozen=True, slots=True)
class QueuedUrl:
    """A URL the crawler has accepted into its frontier (in scope, unseen, within limits)."""

    url: str  # canonical
    depth: int
    target: str  # the start URL whose crawl it belongs to


@dataclass(frozen=True, slots=True)
class PageSettled:
    """A URL taken from the crawl frontier is finished, with the URLs it added to the
    frontier: what a store persists (with the page's results) so a crawl can resume."""

    url: str
    outcome: str  # scanned, skipped, failed, disallowed, offsite, duplicate
    queued: tuple[QueuedUrl, ...] = ()
    final: bool = True  # False: failed for a reason that may pass; a resumed crawl retries it
    target: str = ""  # the start URL whose crawl it belongs to (masked as `url` is)


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the report needs to know about one scanned document."""

    source: str
    media_type: str
    size: int
    encoding: str | None
    encoding_source: str | None
    category: Category | None
    category_evidence: tuple[str, ...]
    published: str | None
    published_source: str | None
    findings: int
    findings_by_type: dict[str, int] = field(default_factory=dict)
    content_sha256: str | None = None
    fetch: FetchInfo | None = None  # set for crawled pages, and archived ones
    capture: Capture | None = None  # set for pages read from a web archive
    # The source as it is, when its name held an identifier and `source` is masked: only
    # with --reveal, and never stored.
    raw_source: str | None = None
    ignored: int = 0  # findings the ignore file left out (neither reported nor counted)


@dataclass(frozen=True, slots=True)
class ScanIssue:
    """An input that could not be scanned, or scanned only in part."""

    source: str
    kind: str
    message: str


# What a scan emits, one at a time: for the writer, the store's recorder, the progress line.
Event = Finding | DocumentFacts | ScanIssue | PageSettled | Recaptured
