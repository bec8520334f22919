"""What the ignore file takes out of the store's figures, worked out once per read.

A scan drops ignored findings before it records them; this applies today's ignore file to
what was recorded before, so that adding a line corrects past figures (and removing it
restores them: nothing is deleted). The aim is the figures a fresh scan with the same
ignore file would give. For the reads it gives:

- the cases the file changes: a page it names (a URL or path glob) is no case; a case
  that held an ignored identifier is judged again. If its content is still the one that
  made it a case, its last scan's verdict is taken with the ignore file applied: a trade
  offer stays one if its words alone made it one or an identifier of the kinds it rests
  on is kept, else it is judged as an exposure on the rest of its findings (the
  classifier's rule, `classify.exposes`), and is no case if they would not make one. If
  the page changed since, an exposure is judged on everything it ever held, a trade
  offer stays one (that version's reasons are not kept);
- every other case's findings per type, less the ignored ones: a pattern id removes its
  type; an ignored identifier removes one occurrence a page it was seen on at the page's
  last scan (the store keeps one row per identifier and page, so a value repeated on one
  page is over-counted until the page is scanned again, which drops all of them; a scan
  that already applied the line removed it, and it is not taken off twice);
- the records (type and fingerprint) that are not counted.

The reads get these as common table expressions (`Exclusions.cte`), named `gone`,
`adjusted`, `recategorised` and `ignored_records`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from leakwatch.detect.classify import exposes
from leakwatch.ignore import IgnoreRules
from leakwatch.models import Severity
from leakwatch.store.database import Database

# The columns of `documents` that reads use, as the ignore-aware table gives them.
_COLUMNS = ("id", "key", "site", "country", "sha256", "case_seen", "published",
            "published_source", "first_seen", "last_seen", "first_run", "category")  # fmt: skip
# Evidence items naming the identifier types a trade offer rests on.
_RESTS_ON = ("identifiers:", "samples:")

Row = tuple[str, Severity, float, bool, str]


@dataclass(frozen=True, slots=True)
class Exclusions:
    """The ignore file's effect on one read."""

    gone: tuple[int, ...] = ()  # documents that are no cases
    adjusted: tuple[tuple[int, str], ...] = ()  # (document, findings_by_type JSON)
    recategorised: tuple[tuple[int, str], ...] = ()  # (document, category it has now)
    fingerprints: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.gone or self.adjusted or self.recategorised or self.fingerprints
                    or self.types)  # fmt: skip

    def cte(self, db: Database) -> tuple[str, list[Any]]:
        """`WITH` items (without `WITH`, "" when nothing is excluded) and their params."""
        if not self:
            return "", []
        elements, pairs = db.dialect.elements("?"), db.dialect.pairs("?")
        # MATERIALIZED: each list is read from its JSON once. The reads only ever test ids
        # against them with IN (an index made on the fly) or join them to `documents` by
        # its key: a join the other way round would scan a list for every document.
        sql = f"""gone AS MATERIALIZED (SELECT CAST(value AS BIGINT) AS id FROM {elements}),
                  recategorised AS MATERIALIZED (
                      SELECT CAST(key AS BIGINT) AS id, value FROM {pairs}),
                  changed AS MATERIALIZED (
                      SELECT id, max(fbt) AS findings_by_type, max(category) AS case_category
                      FROM (SELECT CAST(key AS BIGINT) AS id, value AS fbt,
                                   CAST(NULL AS TEXT) AS category FROM {pairs}
                            UNION ALL
                            SELECT id, CAST(NULL AS TEXT), value FROM recategorised) x
                      GROUP BY id),
                  ignored_records AS MATERIALIZED (
                      SELECT r.id FROM records r
                      WHERE r.fingerprint IN (SELECT value FROM {elements})
                         OR r.type IN (SELECT value FROM {elements}))"""
        return sql, [json.dumps(self.gone), json.dumps(dict(self.recategorised)),
                     json.dumps(dict(self.adjusted)), json.dumps(self.fingerprints),
                     json.dumps(self.types)]  # fmt: skip

    def documents(self) -> str:
        """A table to read in place of `documents` (the columns reads use)."""
        if not self:
            return "documents"
        columns = ", ".join(f"d.{c}" for c in _COLUMNS)
        return f"""(SELECT {columns}, d.findings_by_type, d.case_category FROM documents d
                    WHERE d.id NOT IN (SELECT id FROM gone)
                      AND d.id NOT IN (SELECT id FROM changed)
                    UNION ALL
                    SELECT {columns}, coalesce(c.findings_by_type, d.findings_by_type),
                           coalesce(c.case_category, d.case_category)
                    FROM changed c JOIN documents d ON d.id = c.id
                    WHERE c.id NOT IN (SELECT id FROM gone))"""

    def findings(self, alias: str = "f") -> str:
        """A condition on a `findings` row: not on a document that is gone, not of an
        ignored record."""
        if not self:
            return "1 = 1"
        return f"""{alias}.document_id NOT IN (SELECT id FROM gone)
                   AND {alias}.record_id NOT IN (SELECT id FROM ignored_records)"""

    def category_of(self, alias: str = "f") -> str:
        """A `findings` row's case category as the ignore file leaves it (it only ever
        turns a trade offer into an exposure)."""
        if not self.recategorised:
            return f"{alias}.case_category"
        return f"""(CASE WHEN {alias}.document_id IN (SELECT id FROM recategorised)
                        THEN 'exposure' ELSE {alias}.case_category END)"""

    def not_gone(self, alias: str) -> str:
        """A condition on a `documents` row: not gone ("" when nothing is excluded)."""
        return f" AND {alias}.id NOT IN (SELECT id FROM gone)" if self else ""

    def categories(self) -> dict[int, str | None]:
        """The documents whose case category the ignore file changes, and to what."""
        changed: dict[int, str | None] = dict(self.recategorised)
        changed.update(dict.fromkeys(self.gone))
        return changed


NOTHING = Exclusions()


def with_cte(cte: str, sql: str) -> str:
    """`sql` (a SELECT, or a WITH ... SELECT) with the exclusions' CTEs in front."""
    if not cte:
        return sql
    stripped = sql.lstrip()
    if stripped[:4].upper() == "WITH":
        return f"WITH {cte}, {stripped[4:]}"
    return f"WITH {cte} {sql}"


def exclusions(db: Database, rules: IgnoreRules) -> Exclusions:
    """Work out the exclusions of `rules` on this store (call inside the read's snapshot)."""
    if not rules:
        return NOTHING
    present = (t for (t,) in db.fetch("SELECT DISTINCT type FROM records"))
    types = sorted(rules.matching_types(present))
    fingerprints = sorted(rules.fingerprints)
    elements = db.dialect.elements("?")
    ignored = f"""(r.fingerprint IN (SELECT value FROM {elements})
                   OR r.type IN (SELECT value FROM {elements}))"""
    lists = [json.dumps(fingerprints), json.dumps(types)]
    # The ignored identifiers each case held at its last scan (its findings per type are
    # that scan's: a scan that applied the ignore file left them out already), and the
    # cases that ever held one.
    at_last_scan: dict[int, Counter[str]] = {}
    for document, type_, count in db.fetch(
        f"""SELECT f.document_id, r.type, count(*) FROM findings f
            JOIN records r ON r.id = f.record_id
            JOIN documents d ON d.id = f.document_id
            WHERE f.case_category IS NOT NULL AND r.fingerprint IN (SELECT value FROM {elements})
              AND (f.last_run = d.last_run OR d.last_run IS NULL)
            GROUP BY 1, 2""",
        [json.dumps(fingerprints)],
    ):
        at_last_scan.setdefault(int(document), Counter())[type_] += int(count)
    affected = {
        int(d)
        for (d,) in db.fetch(
            f"""SELECT DISTINCT f.document_id FROM findings f JOIN records r
                ON r.id = f.record_id WHERE f.case_category IS NOT NULL AND {ignored}""",
            lists,
        )
    }
    gone: list[int] = []
    adjusted: dict[int, str] = {}
    latest: dict[int, str] = {}  # judged again on the findings of their last scan
    history: dict[int, str] = {}  # judged again on every finding they ever had
    recategorised: dict[int, str] = {}
    for row_id, key, by_type, case, now, evidence, version_seen, case_seen in db.fetch(
        """SELECT id, key, findings_by_type, case_category, category, category_evidence,
                  version_seen, case_seen FROM documents
           WHERE case_category IS NOT NULL ORDER BY id"""
    ):
        document = int(row_id)
        if rules.ignores_source(key):
            gone.append(document)
            continue
        counts: dict[str, int] = json.loads(by_type) if by_type else {}
        kept = {t: n for t, n in counts.items() if t not in types}
        for type_, n in at_last_scan.get(document, Counter()).items():
            if type_ in kept:
                kept[type_] = max(0, kept[type_] - n)
        kept = {t: n for t, n in kept.items() if n}
        if kept != counts:
            adjusted[document] = json.dumps(kept, sort_keys=True)
        elif document not in affected:
            continue
        if case_seen is not None and version_seen is not None and version_seen > case_seen:
            # The page changed since it became a case: that version's verdict is gone but
            # for its category; an exposure is judged again on all it ever held.
            if case == "exposure":
                history[document] = case
            continue
        # Its content is the one that made it a case: the last scan's verdict, with the
        # ignore file applied, is what a scan with the ignore file would say.
        if now == "trading":
            rests_on = _rests_on(evidence)
            if rests_on is None or any(t in kept for t in rests_on):
                continue  # an offer in words alone, or one its kept identifiers still make
        latest[document] = case
    for judged, whole in ((latest, False), (history, True)):
        if not judged:
            continue
        rest = _rest(db, list(judged), fingerprints, types, whole=whole)
        for document, case in judged.items():
            if not exposes(rest[document]):
                gone.append(document)
            elif case != "exposure":
                recategorised[document] = "exposure"
    no_case = set(gone)
    return Exclusions(
        gone=tuple(sorted(no_case)),
        adjusted=tuple((d, v) for d, v in adjusted.items() if d not in no_case),
        recategorised=tuple(recategorised.items()),
        fingerprints=tuple(fingerprints),
        types=tuple(types),
    )


def _rests_on(evidence: str | None) -> set[str] | None:
    """The identifier types a trade offer's verdict names (None: its words alone)."""
    items = [str(i) for i in json.loads(evidence)] if evidence else []
    named = [i.split(":", 1)[1] for i in items if i.startswith(_RESTS_ON)]
    if not named:
        return None
    return {t for item in named for t in item.split(",") if t}


def _rest(
    db: Database, documents: list[int], fingerprints: list[str], types: list[str], *, whole: bool
) -> dict[int, list[Row]]:
    """The findings of these documents at their last scan (`whole`: ever), but the ignored
    ones."""
    elements = db.dialect.elements("?")
    last_scan = "" if whole else "AND (f.last_run = d.last_run OR d.last_run IS NULL)"
    rest: dict[int, list[Row]] = {d: [] for d in documents}
    for document, type_, severity, confidence, evidence, fingerprint in db.fetch(
        f"""SELECT f.document_id, r.type, f.severity, f.confidence, f.evidence, r.fingerprint
            FROM findings f JOIN records r ON r.id = f.record_id
            JOIN documents d ON d.id = f.document_id
            WHERE f.document_id IN (SELECT CAST(value AS BIGINT) FROM {elements}) {last_scan}
              AND r.fingerprint NOT IN (SELECT value FROM {elements})
              AND r.type NOT IN (SELECT value FROM {elements})""",
        [json.dumps(documents), json.dumps(fingerprints), json.dumps(types)],
    ):
        level = Severity.parse(severity) if severity else Severity.INFO
        landline = "landline" in json.loads(evidence)
        rest[int(document)].append((type_, level, float(confidence), landline, fingerprint))
    return rest
