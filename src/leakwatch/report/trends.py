"""Build a trend report from the store's counts: periods filled in, shares, growth and CAGR.

Pure: no I/O, no store; the counts come from `Store.trend_counts`. Periods (years, months)
run from the first to the last one holding any case or record, every period in between
listed, with zeros when nothing was found then. Growth compares cases and is a fraction
(0.26 for +26%); it is None where it is undefined: the first period, or a previous (or
baseline) period with no cases. CAGR is the compound annual growth of cases from the first
listed period to the last complete one with cases (the headline's), None when the first has
no cases or there is only one.

The period holding the day the report is made is incomplete (`partial`): it is shown, marked
"so far", but the headline speaks of the last complete period and CAGR leaves it out.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leakwatch.store.values import (
    CaseRow,
    GroupCounts,
    Grouping,
    TrendCounts,
    TrendQuery,
    YearBasis,
)

_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_COUNTRY = re.compile(r"[A-Z]{2}")
MIN_YEAR, MAX_YEAR = 1900, 9998


@dataclass(frozen=True, slots=True)
class TrendRow:
    """One period or group of a report (`key` None: documents with no known site/country)."""

    key: str | None
    cases: int
    exposure: int
    trading: int
    trading_share: float | None  # trading / cases; None without cases
    records: int
    findings_by_type: Mapping[str, int]
    growth_vs_previous: float | None = None  # periods only
    growth_vs_baseline: float | None = None  # with a baseline only
    partial: bool = False  # the current period: not over yet


@dataclass(frozen=True, slots=True)
class Baseline:
    year: int
    cases: int


@dataclass(frozen=True, slots=True)
class TrendReport:
    by: Grouping
    basis: YearBasis
    since: str | None  # as given (YYYY, YYYY-MM or YYYY-MM-DD)
    until: str | None
    countries: tuple[str, ...]
    rows: tuple[TrendRow, ...]
    total: TrendRow
    baseline: Baseline | None
    cagr: float | None
    generated: str
    types: tuple[str, ...] = field(default=())  # every finding type in the report, sorted
    store: str | None = None  # the store the counts were read from
    # The ignore files applied and their entries of each kind (None: none applied).
    ignore: Mapping[str, Any] | None = None
    cases: tuple[CaseRow, ...] | None = None  # the cases behind the counts (--cases)
    top_sites: tuple[TrendRow, ...] = ()  # the sites with the most cases (HTML reports)

    @property
    def headline(self) -> TrendRow | None:
        """The period a one-line summary speaks of: the last complete one with cases."""
        if not self.by.is_period:
            return None
        with_cases = [row for row in self.rows if row.cases and not row.partial]
        return with_cases[-1] if with_cases else None

    @property
    def current(self) -> TrendRow | None:
        """The period not over yet, when the report reaches it and it has cases."""
        if not self.rows or not self.rows[-1].partial or not self.rows[-1].cases:
            return None
        return self.rows[-1]

    @property
    def previous(self) -> TrendRow | None:
        """The period before the headline one."""
        headline = self.headline
        if headline is None:
            return None
        index = self.rows.index(headline)
        return self.rows[index - 1] if index > 0 else None


# -- option values -----------------------------------------------------------------------------


def since_bound(text: str) -> str:
    """`--since` as an inclusive ISO prefix (`2020` -> `2020`), or a date-time as stored
    times are written (UTC, to the second); ValueError if malformed."""
    moment = _parse_time(text, "--since")
    if moment is not None:
        return moment.isoformat(timespec="seconds")
    return _parse_date(text, "--since").isoformat()[: len(_normalise(text))]


def until_bound(text: str) -> str:
    """`--until` (inclusive) as an exclusive ISO prefix: `2023` -> `2024`, `2023-12` ->
    `2024-01`, `2023-05-31` -> `2023-06-01`; a date-time to the second after it."""
    moment = _parse_time(text, "--until")
    if moment is not None:
        return (moment + dt.timedelta(seconds=1)).isoformat(timespec="seconds")
    text = _normalise(text)
    day = _parse_date(text, "--until")
    if len(text) == 4:
        return f"{day.year + 1:04d}"
    if len(text) == 7:
        return f"{day.year + day.month // 12:04d}-{day.month % 12 + 1:02d}"
    return (day + dt.timedelta(days=1)).isoformat()


def new_since(text: str | None) -> tuple[int | None, str | None]:
    """`report --new --since`: a run (`run:12`, or a number that is not a year) or a
    moment (a date or date-time, as `since_bound`); (None, None): since the last run."""
    if text is None:
        return None, None
    text = _normalise(text)
    number = text.removeprefix("run:")
    if number.isdigit() and (text != number or not _DATE.fullmatch(text)):
        return int(number), None
    if text.startswith("run:"):
        raise ValueError(f"--since run:N takes a run's number (see leakwatch runs), not {text!r}")
    return None, since_bound(text)


def parse_countries(text: str) -> tuple[str, ...]:
    """`CN,TW,HK` -> ("CN", "TW", "HK"); ValueError on anything but two-letter codes."""
    codes = [part.strip().upper() for part in text.split(",") if part.strip()]
    bad = [code for code in codes if not _COUNTRY.fullmatch(code)]
    if bad or not codes:
        raise ValueError(
            f"--site-country takes two-letter country codes separated by commas "
            f"(CN,TW,HK), not {text!r}"
        )
    return tuple(dict.fromkeys(codes))


def check_baseline(year: int, by: Grouping) -> None:
    if by is not Grouping.YEAR:
        raise ValueError(f"--baseline compares years: use it with --by year, not --by {by}")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"--baseline must be a year ({MIN_YEAR}-{MAX_YEAR}), not {year}")


def baseline_query(query: TrendQuery, year: int) -> TrendQuery:
    """The same counts, for the baseline year alone (which may lie outside --since/--until)."""
    return TrendQuery(
        by=Grouping.YEAR,
        basis=query.basis,
        since=f"{year:04d}",
        before=f"{year + 1:04d}",
        countries=query.countries,
        ignore=query.ignore,
    )


def _normalise(text: str) -> str:
    return text.strip()


def _parse_time(text: str, option: str) -> dt.datetime | None:
    """A full ISO date-time (`2026-12-06T09:00`, `2026-12-06 09:00:00+09:00`) in UTC, naive
    ones taken as UTC; None for a date alone."""
    text = _normalise(text)
    if len(text) <= 10:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{option} takes a date (YYYY, YYYY-MM, YYYY-MM-DD) or an ISO date-time "
            f"(2026-12-06T09:00, with a zone or in UTC), not {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ValueError(f"{option}: year {moment.year} is out of range ({MIN_YEAR}-{MAX_YEAR})")
    return moment.astimezone(dt.UTC)


def _parse_date(text: str, option: str) -> dt.date:
    text = _normalise(text)
    match = _DATE.fullmatch(text)
    error = f"{option} takes a date as YYYY, YYYY-MM or YYYY-MM-DD, not {text!r}"
    if match is None:
        raise ValueError(error)
    year, month, day = match.group(1), match.group(2) or "01", match.group(3) or "01"
    try:
        value = dt.date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(error) from None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"{option}: year {value.year} is out of range ({MIN_YEAR}-{MAX_YEAR})")
    return value


# -- the report --------------------------------------------------------------------------------


def build(
    counts: TrendCounts,
    query: TrendQuery,
    *,
    generated: str,
    since: str | None = None,
    until: str | None = None,
    baseline_year: int | None = None,
    baseline_counts: TrendCounts | None = None,
    store: str | None = None,
    cases: Sequence[CaseRow] | None = None,
) -> TrendReport:
    """The report for `counts` (grouped as `query.by`); `baseline_counts` are the counts of
    `baseline_query(query, baseline_year)`. `generated` (ISO 8601) is also the day that
    decides which period is not over yet."""
    current = _current_key(generated, query.by)
    baseline = None
    if baseline_year is not None:
        base = baseline_counts.total.cases if baseline_counts is not None else 0
        baseline = Baseline(baseline_year, base)
    groups = list(counts.groups)
    if query.by.is_period:
        groups = _fill(groups, query.by)
    rows: list[TrendRow] = []
    previous: GroupCounts | None = None
    for group in groups:
        rows.append(
            TrendRow(
                key=group.key,
                cases=group.cases,
                exposure=group.exposure,
                trading=group.trading,
                trading_share=_share(group.trading, group.cases),
                records=group.records,
                findings_by_type=dict(group.findings_by_type),
                growth_vs_previous=(
                    growth(group.cases, previous.cases)
                    if query.by.is_period and previous is not None
                    else None
                ),
                growth_vs_baseline=(
                    growth(group.cases, baseline.cases) if baseline is not None else None
                ),
                partial=current is not None and group.key == current,
            )
        )
        previous = group
    if not query.by.is_period:  # the largest groups first
        rows.sort(key=lambda row: (-row.cases, -row.records, row.key is None, row.key or ""))
    total = counts.total
    types = sorted({t for row in rows for t in row.findings_by_type} | set(total.findings_by_type))
    return TrendReport(
        by=query.by,
        basis=query.basis,
        since=since,
        until=until,
        countries=query.countries,
        rows=tuple(rows),
        total=TrendRow(
            key=None,
            cases=total.cases,
            exposure=total.exposure,
            trading=total.trading,
            trading_share=_share(total.trading, total.cases),
            records=total.records,
            findings_by_type=dict(total.findings_by_type),
        ),
        baseline=baseline,
        cagr=cagr(_up_to_headline(rows), query.by) if query.by.is_period else None,
        generated=generated,
        types=tuple(types),
        store=store,
        ignore=query.ignore.describe() if query.ignore else None,
        cases=tuple(cases) if cases is not None else None,
    )


def _up_to_headline(rows: Sequence[TrendRow]) -> list[TrendRow]:
    """The periods from the first to the last complete one with cases (the headline's)."""
    complete = [i for i, row in enumerate(rows) if row.cases and not row.partial]
    return list(rows[: complete[-1] + 1]) if complete else []


def _current_key(generated: str, by: Grouping) -> str | None:
    """The period (YYYY or YYYY-MM) holding the day the report is made."""
    if not by.is_period or not _DATE.match(generated):
        return None
    return generated[:7] if by is Grouping.MONTH else generated[:4]


def growth(current: int, reference: int) -> float | None:
    """(current - reference) / reference; None when the reference is zero."""
    if reference == 0:
        return None
    return (current - reference) / reference


def cagr(rows: Sequence[TrendRow], by: Grouping) -> float | None:
    """Compound annual growth of cases from the first row to the last."""
    if len(rows) < 2 or rows[0].cases == 0 or rows[0].key is None or rows[-1].key is None:
        return None
    years = _ordinal(rows[-1].key, by) - _ordinal(rows[0].key, by)
    years_elapsed = years / 12 if by is Grouping.MONTH else float(years)
    if years_elapsed <= 0:
        return None
    ratio = rows[-1].cases / rows[0].cases
    return float(ratio ** (1 / years_elapsed) - 1)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _ordinal(key: str, by: Grouping) -> int:
    """A period key as a count of years (by year) or months (by month) since year 0."""
    year = int(key[:4])
    if by is Grouping.MONTH:
        return year * 12 + int(key[5:7]) - 1
    return year


def _key(ordinal: int, by: Grouping) -> str:
    if by is Grouping.MONTH:
        return f"{ordinal // 12:04d}-{ordinal % 12 + 1:02d}"
    return f"{ordinal:04d}"


def _fill(groups: list[GroupCounts], by: Grouping) -> list[GroupCounts]:
    """Every period from the first to the last, the empty ones with zeros."""
    known: dict[int, GroupCounts] = {}
    for group in groups:
        if group.key is None or not _is_period(group.key, by):
            continue  # cannot happen with valid dates; never invent a period for it
        known[_ordinal(group.key, by)] = group
    if not known:
        return []
    first, last = min(known), max(known)
    return [known.get(o) or GroupCounts(key=_key(o, by)) for o in range(first, last + 1)]


def _is_period(key: str, by: Grouping) -> bool:
    if by is Grouping.MONTH:
        return bool(re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", key))
    return bool(re.fullmatch(r"\d{4}", key))
