"""What the ignore file takes out of the store's figures, worked out once per read.

A scan drops ignored findings before it records them; this applies today's ignore file to
what was recorded before, so that adding a line corrects past figures (and removing it
restores them: nothing is deleted). For the reads it gives:

- the documents that are no cases any more: a page the file names (a URL or path glob);
  a trade offer all of whose identifiers are ignored, unless its words alone made it one
  (a sale post needs no identifiers to be one); an exposure whose other findings would
  not have made it one (the classifier's rule, `classify.exposes`);
- every other case's findings per type, less the ignored ones: a pattern id removes its
  type; an ignored identifier removes one occurrence a page it was recorded on (the store
  keeps one row per identifier and page, so a value repeated on one page is over-counted
  until the page is scanned again, which drops all of them);
- the records (type and fingerprint) that are not counted.
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
_COLUMNS = ("id", "key", "site", "country", "sha256", "case_category", "case_seen", "published",
            "published_source", "first_seen", "last_seen", "first_run", "category")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Exclusions:
    """The ignore file's effect on one read, as JSON parameters of its SQL."""

    gone: tuple[int, ...] = ()  # documents that are no cases
    adjusted: tuple[tuple[int, str], ...] = ()  # (document, findings_by_type JSON)
    fingerprints: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    def documents(self, db: Database) -> tuple[str, list[Any]]:
        """A table to read in place of `documents` (the columns reads use), and its params."""
        columns = ", ".join(f"d.{c}" for c in _COLUMNS)
        if not (self.gone or self.adjusted):
            return f"(SELECT {columns}, d.findings_by_type FROM documents d)", []
        dialect = db.dialect
        sql = f"""(SELECT {columns}, coalesce(a.value, d.findings_by_type) AS findings_by_type
                   FROM documents d LEFT JOIN (SELECT CAST(key AS BIGINT) AS id, value
                                               FROM {dialect.pairs("?")}) a ON a.id = d.id
                   WHERE d.id NOT IN (SELECT CAST(value AS BIGINT)
                                      FROM {dialect.elements("?")}))"""
        return sql, [json.dumps(dict(self.adjusted)), json.dumps(self.gone)]

    def findings(self, db: Database, alias: str = "f") -> tuple[str, list[Any]]:
        """A condition on a `findings` row: not on a document that is gone, not of an
        ignored record (`TRUE` when nothing is ignored)."""
        if not (self.gone or self.fingerprints or self.types):
            return "1 = 1", []
        elements = db.dialect.elements("?")
        sql = f"""{alias}.document_id NOT IN (SELECT CAST(value AS BIGINT) FROM {elements})
                  AND {alias}.record_id NOT IN (
                      SELECT r.id FROM records r
                      WHERE r.fingerprint IN (SELECT value FROM {elements})
                         OR r.type IN (SELECT value FROM {elements}))"""
        return sql, [json.dumps(self.gone), json.dumps(self.fingerprints), json.dumps(self.types)]


NOTHING = Exclusions()


def exclusions(db: Database, rules: IgnoreRules) -> Exclusions:
    """Work out the exclusions of `rules` on this store (call inside the read's snapshot)."""
    if not rules:
        return NOTHING
    present = (t for (t,) in db.fetch("SELECT DISTINCT type FROM records"))
    types = sorted(rules.matching_types(present))
    fingerprints = sorted(rules.fingerprints)
    ignored_rows: dict[int, Counter[str]] = {}
    if fingerprints:
        for document, type_, count in db.fetch(
            f"""SELECT f.document_id, r.type, count(*) FROM findings f
                JOIN records r ON r.id = f.record_id
                WHERE f.case_category IS NOT NULL
                  AND r.fingerprint IN (SELECT value FROM {db.dialect.elements("?")})
                GROUP BY 1, 2""",
            [json.dumps(fingerprints)],
        ):
            ignored_rows.setdefault(int(document), Counter())[type_] += int(count)
    gone: list[int] = []
    adjusted: list[tuple[int, str]] = []
    judge_again: list[int] = []
    for document, key, by_type, category, evidence in db.fetch(
        """SELECT id, key, findings_by_type, case_category, category_evidence FROM documents
           WHERE case_category IS NOT NULL ORDER BY id"""
    ):
        if rules.ignores_source(key):
            gone.append(int(document))
            continue
        counts: dict[str, int] = json.loads(by_type) if by_type else {}
        kept = {t: n for t, n in counts.items() if t not in types}
        for type_, n in ignored_rows.get(int(document), Counter()).items():
            if type_ in kept:
                kept[type_] = max(0, kept[type_] - n)
        kept = {t: n for t, n in kept.items() if n}
        if kept == counts:
            continue
        if not kept and not _offer_in_words(category, evidence):
            gone.append(int(document))
        else:
            adjusted.append((int(document), json.dumps(kept, sort_keys=True)))
            if category == "exposure":
                judge_again.append(int(document))
    if judge_again:  # exposures that kept some findings: do the rest still make them one?
        gone.extend(_no_longer_exposures(db, judge_again, fingerprints, types))
        adjusted = [a for a in adjusted if a[0] not in gone]
    return Exclusions(tuple(gone), tuple(adjusted), tuple(fingerprints), tuple(types))


def _no_longer_exposures(
    db: Database, documents: list[int], fingerprints: list[str], types: list[str]
) -> list[int]:
    elements = db.dialect.elements("?")
    rest: dict[int, list[tuple[str, Severity, float, bool, str]]] = {d: [] for d in documents}
    for document, type_, severity, confidence, evidence, fingerprint in db.fetch(
        f"""SELECT f.document_id, r.type, f.severity, f.confidence, f.evidence, r.fingerprint
            FROM findings f JOIN records r ON r.id = f.record_id
            WHERE f.document_id IN (SELECT CAST(value AS BIGINT) FROM {elements})
              AND r.fingerprint NOT IN (SELECT value FROM {elements})
              AND r.type NOT IN (SELECT value FROM {elements})""",
        [json.dumps(documents), json.dumps(fingerprints), json.dumps(types)],
    ):
        level = Severity.parse(severity) if severity else Severity.INFO
        landline = "landline" in json.loads(evidence)
        rest[int(document)].append((type_, level, float(confidence), landline, fingerprint))
    return [d for d, found in rest.items() if not exposes(found)]


def _offer_in_words(category: str | None, evidence: str | None) -> bool:
    """A trade offer made by its words alone (`sell data, contact ...`): it stays a case
    with every identifier on it ignored. Other cases rest on their identifiers."""
    if category != "trading" or not evidence:
        return False
    items = json.loads(evidence)
    return not any(str(i).startswith(("identifiers:", "samples:")) for i in items)
