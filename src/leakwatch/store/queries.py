"""The SQL behind trend reports: cases, records and findings per type, per period or group.

A few single-pass GROUP BY queries.

What is counted (docs/store-and-reports.md "What is counted"):
- a case is a page that was ever `exposure` or `trading` (its strongest category). Copies of
  one page count once: documents with the same content (sha256) at the same site (a URL
  with tracking parameters, a mirror path), or a local copy of a crawled page (no site of
  its own), are one case, at the earliest date of any of them, with the strongest category
  of any. The same dump posted on two sites is two cases, as KISA counts pages;
- its date is its declared published date (published basis) else when it was first seen as
  a case; with the first-seen basis, always the latter;
- findings per type are the occurrences the detector counted on the period's cases;
- a record is a distinct (type, fingerprint) found on a case, counted once, at its earliest
  date: the published date of a page it is on when the page declares one (published basis),
  else when it was first seen there.
Bounds (`since`, `before`) apply to those dates.
"""

from __future__ import annotations

import json
from typing import Any

from leakwatch.store.database import Database
from leakwatch.store.ignored import Exclusions, exclusions, with_cte
from leakwatch.store.values import (
    CaseRow,
    GroupCounts,
    Grouping,
    TrendCounts,
    TrendQuery,
    YearBasis,
)


def trend_counts(
    db: Database, query: TrendQuery, excluded: Exclusions | None = None
) -> TrendCounts:
    """Counts for every non-empty period or group, and the totals."""
    return _Counter(db, query, excluded).run()


def case_rows(
    db: Database,
    query: TrendQuery,
    *,
    seen_since: str | None = None,
    run: int | None = None,
    limit: int | None = None,
    excluded: Exclusions | None = None,
) -> list[CaseRow]:
    """The cases the counts of `query` are made of, newest first. `seen_since`: only those
    first seen as a case from then on (`report --new`); with `run` too, or first recorded by
    that run or a later one (a backfill records pages first seen years ago)."""
    return _Counter(db, query, excluded).case_rows(seen_since, run, limit)


class _Counter:
    def __init__(self, db: Database, query: TrendQuery, excluded: Exclusions | None) -> None:
        self.db = db
        self.query = query
        # What the ignore file changes: given when the caller worked it out already (one
        # report's counts, baseline, sites and cases share it).
        self.excluded = excluded if excluded is not None else exclusions(db, query.ignore)
        self.pairs = db.dialect.pairs("d.findings_by_type")
        valid = db.dialect.published_ok("d.published")
        if query.basis is YearBasis.PUBLISHED:
            self.case_date = f"(CASE WHEN {valid} THEN d.published ELSE d.case_seen END)"
            # findings.published holds only valid dates (NULL otherwise)
            self.record_date = "coalesce(f.published, f.first_seen)"
        else:
            self.case_date = "d.case_seen"
            self.record_date = "f.first_seen"

    def run(self) -> TrendCounts:
        by = self.query.by
        exposure: dict[str | None, int] = {}
        trading: dict[str | None, int] = {}
        findings: dict[str | None, dict[str, int]] = {}
        cases, params = self._cases()
        # A document's findings_by_type is a JSON object: json_each gives one row per type.
        key = "j.key" if by is Grouping.TYPE else self._case_key()
        cases_from = f"d, {self.pairs} j" if by is Grouping.TYPE else "d"
        for group, category, count in self.db.fetch(
            f"""{cases} SELECT {key}, d.case_category, count(*) FROM {cases_from}
                GROUP BY 1, 2""",
            params,
        ):
            (trading if category == "trading" else exposure)[group] = int(count)
        for group, type_, count in self.db.fetch(
            f"""{cases} SELECT {key}, j.key, sum(CAST(j.value AS INTEGER))
                FROM d, {self.pairs} j GROUP BY 1, 2""",
            params,
        ):
            findings.setdefault(group, {})[type_] = int(count)
        records = self._records(grouped=True)
        keys = set(exposure) | set(trading) | set(records) | set(findings)
        groups = tuple(
            GroupCounts(
                key=k,
                exposure=exposure.get(k, 0),
                trading=trading.get(k, 0),
                records=records.get(k, 0),
                findings_by_type=dict(sorted(findings.get(k, {}).items())),
            )
            for k in sorted(keys, key=lambda k: (k is None, k or ""))
        )
        return TrendCounts(groups=groups, total=self._total(groups))

    def case_rows(
        self, seen_since: str | None, run: int | None, limit: int | None
    ) -> list[CaseRow]:
        cases, params = self._cases(detail=True)
        where = ""
        if seen_since is not None and run is not None:
            # Recorded first by the run or a later one; or recorded before as no case, and
            # a case since the run began (times are to the second: a page first seen in
            # the second the run began, by the run before, is not new).
            where = """WHERE d.first_run >= ?
                       OR (d.case_seen > d.first_seen AND d.case_seen >= ?)"""
            params = [*params, run, seen_since]
        elif seen_since is not None:
            where = "WHERE d.case_seen >= ?"
            params = [*params, seen_since]
        found = self.db.fetch(
            f"""{cases} SELECT d.id, d.key, d.site, d.country, d.case_category, d.published,
                       d.case_date, d.case_seen, d.last_seen, d.copies
                FROM d {where} ORDER BY d.case_seen DESC, d.key
                {"" if limit is None else "LIMIT ?"}""",
            params if limit is None else [*params, limit],
        )
        ids = [int(row[0]) for row in found]
        by_type: dict[int, dict[str, int]] = {i: {} for i in ids}
        if ids:
            cte, cte_params = self.excluded.cte(self.db)
            sql = f"""SELECT f.document_id, r.type, count(*) FROM findings f
                      JOIN records r ON r.id = f.record_id
                      WHERE f.document_id IN (SELECT CAST(value AS BIGINT)
                                              FROM {self.db.dialect.elements("?")})
                        AND {self.excluded.findings()}
                      GROUP BY 1, 2 ORDER BY 1, 2"""
            for document, type_, count in self.db.fetch(
                with_cte(cte, sql), [*cte_params, json.dumps(ids)]
            ):
                by_type[int(document)][type_] = int(count)
        return [
            CaseRow(
                source=key, site=site, country=country, category=category,
                published=published, date=date, first_seen=seen, last_seen=last,
                records_by_type=by_type[int(document)], copies=int(copies),
            )
            for document, key, site, country, category, published, date, seen, last, copies
            in found
        ]  # fmt: skip

    def _case_key(self) -> str:
        match self.query.by:
            case Grouping.YEAR:
                return "substr(d.case_date, 1, 4)"
            case Grouping.MONTH:
                return "substr(d.case_date, 1, 7)"
            case Grouping.SITE:
                return "d.site"
            case Grouping.COUNTRY:
                return "d.country"
            case Grouping.CATEGORY | Grouping.TYPE:
                return "d.case_category"

    def _cases(self, *, detail: bool = False) -> tuple[str, list[Any]]:
        """A `WITH` clause defining `d`: one row per case (one per page, copies folded into
        their earliest document), with its `case_date`, in the query's scope; `detail`:
        also what a list of cases shows (its page, dates, first run, copies), which the
        counts do without (it costs them half their time again)."""
        where = ["d.case_category IS NOT NULL"]
        cte, params = self.excluded.cte(self.db)
        documents = self.excluded.documents()
        if self.query.countries:
            where.append(f"d.country IN ({_marks(self.query.countries)})")
            params.extend(self.query.countries)
        bounds: list[str] = []
        self._bounds("case_date", bounds, params)
        # A page's identity: its content at its site. A document with no site (a local file)
        # takes the site of a crawled document with the same content, if there is one.
        # Its site and country are then that page's, whichever copy is the earliest.
        twin = f"""(SELECT o.{{column}} FROM documents o
                      WHERE o.sha256 = d.sha256 AND o.site IS NOT NULL
                      AND o.case_category IS NOT NULL{self.excluded.not_gone("o")}
                      ORDER BY o.id LIMIT 1)"""
        home = f"coalesce(d.site, {twin.format(column='site')})"
        country = (
            f"CASE WHEN d.site IS NULL THEN {twin.format(column='country')} ELSE d.country END"
        )
        copy_columns = page_windows = page_columns = ""
        if detail:
            copy_columns = (
                "d.key, d.published, d.case_seen, d.last_seen, d.first_run, d.first_seen,"
            )
            page_windows = """count(*) OVER (PARTITION BY page) AS copies,
                           min(case_seen) OVER (PARTITION BY page) AS page_seen,
                           max(last_seen) OVER (PARTITION BY page) AS page_last_seen,
                           min(first_run) OVER (PARTITION BY page) AS page_first_run,
                           min(first_seen) OVER (PARTITION BY page) AS page_first_seen,"""
            page_columns = """key, published, page_seen AS case_seen,
                           page_last_seen AS last_seen, page_first_run AS first_run,
                           page_first_seen AS first_seen, copies,"""
        sql = f"""WITH {cte + "," if cte else ""} copies AS (
                    SELECT d.id, {home} AS site, {country} AS country, d.findings_by_type,
                           d.case_category, {copy_columns}
                           {self.case_date} AS case_date,
                           CASE WHEN d.sha256 IS NULL THEN 'document:' || d.id
                                ELSE coalesce({home}, '') || '|' || d.sha256 END AS page
                    FROM {documents} d WHERE {" AND ".join(where)}),
                  ranked AS (
                    SELECT c.*, row_number() OVER (PARTITION BY page
                                                   ORDER BY case_date, id) AS copy,
                           {page_windows}
                           max(case_category) OVER (PARTITION BY page) AS strongest
                    FROM copies c),
                  d AS (
                    SELECT id, site, country, findings_by_type, case_date,
                           {page_columns}
                           strongest AS case_category
                    FROM ranked WHERE copy = 1 {"AND " + " AND ".join(bounds) if bounds else ""})
              """
        return sql, params

    def _bounds(self, date: str, where: list[str], params: list[Any]) -> None:
        for bound, op in ((self.query.since, ">="), (self.query.before, "<")):
            if not bound:
                continue
            compared = date
            if "T" in bound:  # a date-time: a date alone (a published day) is its midnight
                compared = (f"(CASE WHEN length({date}) <= 10 THEN {date} || "
                            f"substr('0000-01-01T00:00:00+00:00', length({date}) + 1) "
                            f"ELSE {date} END)")  # fmt: skip
            where.append(f"{compared} {op} ?")
            params.append(bound)

    def _records(self, *, grouped: bool) -> dict[str | None, int]:
        """Distinct records, each at its earliest date (within its group, for groups)."""
        by = self.query.by if grouped else None
        where = ["f.case_category IS NOT NULL"]  # the partial index findings_records
        cte, params = self.excluded.cte(self.db)
        where.append(self.excluded.findings())
        if self.query.countries:
            where.append(f"f.country IN ({_marks(self.query.countries)})")
            params.extend(self.query.countries)
        group = None
        match by:
            case Grouping.SITE:
                group = "f.site"
            case Grouping.COUNTRY:
                group = "f.country"
            case Grouping.CATEGORY:  # as the ignore file leaves it
                group = self.excluded.category_of("f")
            case _:
                pass
        bounds: list[str] = []
        first = f"min({self.record_date})"
        self._bounds(first, bounds, params)
        having = f"HAVING {' AND '.join(bounds)}" if bounds else ""
        # Grouping by record first reads the index in its order: no sort for periods.
        per_record = f"""SELECT {group or "NULL"} AS grp, f.record_id AS record,
                                {first} AS earliest
                         FROM findings f WHERE {" AND ".join(where)}
                         GROUP BY f.record_id{", " + group if group else ""} {having}"""
        if by is Grouping.TYPE:  # a record's type is in the records table
            sql = f"""SELECT r.type, count(*) FROM ({per_record}) x
                      JOIN records r ON r.id = x.record GROUP BY 1"""
        else:
            outer = {
                Grouping.YEAR: "substr(earliest, 1, 4)",
                Grouping.MONTH: "substr(earliest, 1, 7)",
            }
            key = outer.get(by, "grp") if by is not None else "NULL"
            sql = f"SELECT {key}, count(*) FROM ({per_record}) x GROUP BY 1"
        return {group: int(count) for group, count in self.db.fetch(with_cte(cte, sql), params)}

    def _total(self, groups: tuple[GroupCounts, ...]) -> GroupCounts:
        by = self.query.by
        findings: dict[str, int] = {}
        exposure = trading = 0
        if by is Grouping.TYPE:  # a case with two types is in two groups: count it once
            cases, params = self._cases()
            for category, count in self.db.fetch(
                f"{cases} SELECT d.case_category, count(*) FROM d GROUP BY 1", params
            ):
                if category == "trading":
                    trading = int(count)
                else:
                    exposure = int(count)
        else:  # each case is in exactly one period or group
            exposure = sum(g.exposure for g in groups)
            trading = sum(g.trading for g in groups)
        for g in groups:
            for type_, count in g.findings_by_type.items():
                findings[type_] = findings.get(type_, 0) + count
        if by in (Grouping.YEAR, Grouping.MONTH, Grouping.TYPE):
            records = sum(g.records for g in groups)  # each record is in one group
        else:  # a record found on two sites (or countries, categories) counts once
            records = sum(self._records(grouped=False).values())
        return GroupCounts(
            key=None,
            exposure=exposure,
            trading=trading,
            records=records,
            findings_by_type=dict(sorted(findings.items())),
        )


def _marks(values: tuple[str, ...]) -> str:
    return ", ".join("?" * len(values))
