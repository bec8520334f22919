"""The SQL that records a scan, written once for both engines (`Statements.of(dialect)`).

Parameters are spelled as SQLite spells them (`?`, `:name`); a parameter whose type the
statement alone does not settle is CAST, as PostgreSQL wants to know it. Columns in an
upsert's SET are qualified with their table (PostgreSQL would find them ambiguous).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from leakwatch.store.database import Dialect

# A finding's parameters, in the order of the positional `Statements.upsert_finding`.
FINDING_PARAMETERS = ("document", "fingerprint", "type", "masked", "severity", "confidence",
                      "evidence", "line", "col", "when", "run")  # fmt: skip

ADD_RECORD = "INSERT INTO records (fingerprint, type) VALUES (?, ?) ON CONFLICT DO NOTHING"

# The same for a whole call's records, in an engine that takes arrays as parameters.
ADD_RECORDS = """INSERT INTO records (fingerprint, type)
                 SELECT fingerprint, type
                 FROM unnest(CAST(:fingerprints AS TEXT[]), CAST(:types AS TEXT[]))
                      AS r (fingerprint, type)
                 ORDER BY fingerprint, type
                 ON CONFLICT DO NOTHING"""

ADD_CAPTURE = "INSERT INTO captures (document_id, digest) VALUES (?, ?) ON CONFLICT DO NOTHING"

ADD_ERROR = "INSERT INTO errors (run_id, time, source, kind, message) VALUES (?, ?, ?, ?, ?)"

# Queued before done: a URL both queued and finished in one call ends done.
QUEUE_URL = """INSERT INTO frontier (crawl_id, url, depth, target, state)
               VALUES (?, ?, ?, ?, 'queued') ON CONFLICT (crawl_id, url) DO NOTHING"""

URL_DONE = """INSERT INTO frontier (crawl_id, url, state) VALUES (?, ?, 'done')
              ON CONFLICT (crawl_id, url) DO UPDATE SET state = 'done'"""

DOCUMENT_ID = "SELECT id FROM documents WHERE key = ?"

# A document made on first sight; another writer may make it at the same moment (then this
# returns nothing and the id is read again).
ADD_DOCUMENT = """INSERT INTO documents (key, first_seen, last_seen, version_seen, first_run,
                      last_run) VALUES (?, ?, ?, ?, ?, ?)
                  ON CONFLICT (key) DO NOTHING RETURNING id"""

ADD_RUN = """INSERT INTO runs (crawl_id, resumes, started, version, arguments, targets,
                 settings, host, pid)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"""

FINISH_RUN = "UPDATE runs SET finished = ?, outcome = ?, summary = ? WHERE id = ?"

KEEP_HISTORY = """
INSERT INTO document_history (document_id, sha256, category, category_evidence, published,
    published_source, media_type, size, encoding, findings, findings_by_type, seen_from,
    seen_until, replaced, replaced_by_run)
SELECT id, sha256, category, category_evidence, published, published_source, media_type, size,
    encoding, findings, findings_by_type, version_seen, last_seen, ?, ?
FROM documents WHERE id = ?
"""


@dataclass(frozen=True, slots=True)
class Statements:
    """The statements whose words depend on the engine."""

    upsert_finding: str  # one finding, positional (FINDING_PARAMETERS), SQLite's spelling
    upsert_findings: str  # all of a call's findings in one statement ("" without arrays)
    sync_findings: str
    update_document: str
    current_sha256: str  # the document's content hash, its row locked where that exists
    recapture_document: str
    recapture_findings: str

    @classmethod
    def of(cls, dialect: Dialect) -> Statements:
        least, greatest = dialect.least, dialect.greatest
        published = f"CASE WHEN {dialect.published_ok('d.published')} THEN d.published END"
        capture_date = dialect.json_field("documents.capture", "date")
        # One row per (document, record): a rescan moves last_seen and refreshes the masked
        # form and evidence; first_seen only moves back (a backfill of older captures),
        # never forward. Within one run the first occurrence is kept. SET expressions read
        # the row as it was. The copies of the document's case category, country and valid
        # published date come from the document row itself, so they are right even if
        # another process changed it a moment ago.
        same_run = "findings.last_run = excluded.last_run"
        on_conflict = f"""
ON CONFLICT (document_id, record_id) DO UPDATE SET
    masked = CASE WHEN {same_run} THEN findings.masked ELSE excluded.masked END,
    severity = CASE WHEN {same_run} THEN findings.severity ELSE excluded.severity END,
    confidence = CASE WHEN {same_run} THEN findings.confidence ELSE excluded.confidence END,
    evidence = CASE WHEN {same_run} THEN findings.evidence ELSE excluded.evidence END,
    line = CASE WHEN {same_run} THEN findings.line ELSE excluded.line END,
    col = CASE WHEN {same_run} THEN findings.col ELSE excluded.col END,
    first_seen = {least}(findings.first_seen, excluded.first_seen),
    last_seen = {greatest}(findings.last_seen, excluded.last_seen),
    last_run = excluded.last_run,
    case_category = excluded.case_category,
    country = excluded.country,
    site = excluded.site,
    published = excluded.published
"""
        columns = """INSERT INTO findings (document_id, record_id, masked, severity, confidence,
    evidence, line, col, first_seen, last_seen, first_run, last_run, case_category, country,
    site, published)"""
        upsert_finding = f"""
{columns}
SELECT :document, (SELECT r.id FROM records r WHERE r.fingerprint = :fingerprint
                   AND r.type = :type),
       :masked, :severity, :confidence, :evidence, :line, :col, :when, :when, :run, :run,
       d.case_category, d.country, d.site, {published}
FROM documents d WHERE d.id = :document
{on_conflict}"""
        # The same for a whole call's findings at once, in an engine that takes arrays as
        # parameters: one statement, the first occurrence of each (document, record) kept
        # (PostgreSQL may not update one row twice in one statement).
        upsert_findings = ""
        if dialect.arrays:
            upsert_findings = f"""
{columns}
SELECT document, record, masked, severity, confidence, evidence, line, col,
       :when, :when, :run, :run, case_category, country, site, published
FROM (
SELECT DISTINCT ON (f.document, r.id)
       f.seq, f.document, r.id AS record, f.masked, f.severity, f.confidence, f.evidence,
       f.line, f.col, d.case_category, d.country, d.site, {published} AS published
FROM unnest(CAST(:documents AS BIGINT[]), CAST(:fingerprints AS TEXT[]),
            CAST(:types AS TEXT[]), CAST(:masks AS TEXT[]), CAST(:severities AS TEXT[]),
            CAST(:confidences AS DOUBLE PRECISION[]), CAST(:evidences AS TEXT[]),
            CAST(:lines AS BIGINT[]), CAST(:cols AS BIGINT[]))
     WITH ORDINALITY AS f (document, fingerprint, type, masked, severity, confidence,
                           evidence, line, col, seq)
-- Each row's record and document by their unique indexes: LIMIT 1 keeps the planner from
-- folding these into a join that reads the whole tables (it cannot know how few rows the
-- arrays hold, least of all in the generic plan of a prepared statement).
CROSS JOIN LATERAL (SELECT id FROM records
                    WHERE fingerprint = f.fingerprint AND type = f.type LIMIT 1) r
CROSS JOIN LATERAL (SELECT * FROM documents WHERE id = f.document LIMIT 1) d
ORDER BY f.document, r.id, f.seq
) AS first_occurrences
ORDER BY seq  -- recorded (and exported) in the order they were found
{on_conflict}"""
        sync_findings = f"""
UPDATE findings SET case_category = d.case_category, country = d.country, site = d.site,
                    published = {published}
FROM documents d
WHERE d.id = :document AND findings.document_id = :document
  AND (findings.case_category, findings.country, findings.site, findings.published)
      {dialect.distinct} (d.case_category, d.country, d.site, {published})
"""
        # The current version's facts replace the previous ones, except that a declared
        # published date is kept when the new version declares none, and the case category
        # only ever strengthens (none -> exposure -> trading): once a case, the document
        # stays one.
        update_document = f"""
UPDATE documents SET
    site = coalesce(CAST(:site AS TEXT), site),
    country = coalesce(CAST(:country AS TEXT), country),
    country_source = CASE WHEN CAST(:country AS TEXT) IS NULL THEN country_source
                          ELSE CAST(:country_source AS TEXT) END,
    first_seen = {least}(first_seen, :when),
    last_seen = {greatest}(last_seen, :when),
    last_run = :run,
    version_seen = CASE WHEN :changed THEN :when
                        ELSE {least}(coalesce(version_seen, :when), :when) END,
    published = coalesce(CAST(:published AS TEXT), published),
    published_source = CASE WHEN CAST(:published AS TEXT) IS NULL THEN published_source
                            ELSE CAST(:published_source AS TEXT) END,
    category = CAST(:category AS TEXT),
    category_evidence = :category_evidence,
    media_type = :media_type,
    size = :size,
    encoding = :encoding,
    sha256 = coalesce(CAST(:sha256 AS TEXT), sha256),
    findings = :findings,
    findings_by_type = :findings_by_type,
    capture = CASE WHEN CAST(:capture AS TEXT) IS NOT NULL AND (capture IS NULL
                        OR CAST(:capture_date AS TEXT) < {capture_date})
                   THEN CAST(:capture AS TEXT) ELSE capture END,
    case_category = CASE WHEN case_category = 'trading' OR :category = 'trading'
                              THEN 'trading'
                         WHEN case_category = 'exposure' OR :category = 'exposure'
                              THEN 'exposure' END,
    case_seen = CASE WHEN CAST(:category AS TEXT) IS NULL THEN case_seen
                     WHEN :changed THEN {least}(coalesce(case_seen, :when), :when)
                     ELSE {least}(coalesce(case_seen, :when), coalesce(version_seen, :when),
                                  :when)
                     END
WHERE id = :id
"""
        recapture_document = f"""
UPDATE documents SET
    first_seen = {least}(first_seen, :when),
    last_seen = {greatest}(last_seen, :when),
    case_seen = CASE WHEN case_seen IS NULL THEN NULL ELSE {least}(case_seen, :when) END,
    capture = CASE WHEN capture IS NULL OR :when < {capture_date}
                   THEN :capture ELSE capture END
WHERE key = :key
"""
        # Its identifiers were there then too: their records date from then.
        recapture_findings = f"""
UPDATE findings SET first_seen = {least}(first_seen, :when),
                    last_seen = {greatest}(last_seen, :when)
WHERE document_id = (SELECT id FROM documents WHERE key = :key)
"""
        return cls(
            # Numbered (?1, ?2: SQLite's spelling only): a row of a tuple binds faster than
            # one of a dict, +15% findings/s. Engines with arrays use upsert_findings.
            upsert_finding=re.sub(
                r":([a-z]+)",
                lambda name: f"?{FINDING_PARAMETERS.index(name.group(1)) + 1}",
                upsert_finding,
            ),
            upsert_findings=upsert_findings,
            sync_findings=sync_findings,
            update_document=update_document,
            current_sha256=f"SELECT sha256 FROM documents WHERE id = ?{dialect.lock_row}",
            recapture_document=recapture_document,
            recapture_findings=recapture_findings,
        )
