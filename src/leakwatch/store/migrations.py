"""The store's schema as numbered migrations, applied in one transaction.

PRAGMA user_version holds the number of the last one applied.

Never edit a migration that has shipped: add the next one. A store whose user_version is
higher than the last migration here was written by a newer leakwatch and is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

# PRAGMA application_id of a leakwatch store ("LKWT"), so another program's SQLite file is
# recognised as such instead of being migrated into ours.
APPLICATION_ID = 0x4C4B5754

# A declared published date is used when it starts like an ISO date (YYYY-MM, month 01-12).
PUBLISHED_OK = (
    "({column} GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]*'"
    " AND substr({column}, 6, 2) BETWEEN '01' AND '12')"
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    summary: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "runs, crawls, documents, findings, errors, crawl frontier",
        (
            f"PRAGMA application_id = {APPLICATION_ID}",
            """CREATE TABLE crawls (
                id INTEGER PRIMARY KEY,
                started TEXT NOT NULL
            )""",
            """CREATE TABLE runs (
                id INTEGER PRIMARY KEY,
                crawl_id INTEGER NOT NULL REFERENCES crawls (id),
                resumes INTEGER REFERENCES runs (id),
                started TEXT NOT NULL,
                finished TEXT,
                outcome TEXT CHECK (outcome IN ('completed', 'interrupted', 'failed')),
                version TEXT NOT NULL,
                arguments TEXT NOT NULL,  -- JSON list
                targets TEXT NOT NULL,    -- JSON list
                settings TEXT NOT NULL,   -- JSON object
                summary TEXT,             -- JSON object, set when the run finishes
                host TEXT,
                pid INTEGER
            )""",
            "CREATE INDEX runs_crawl ON runs (crawl_id, id)",
            """CREATE TABLE documents (
                id INTEGER PRIMARY KEY,
                key TEXT NOT NULL UNIQUE,  -- canonical URL, absolute path, or <stdin>
                site TEXT,
                country TEXT,
                country_source TEXT CHECK (country_source IN ('annotation', 'tld', 'ip')),
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                first_run INTEGER REFERENCES runs (id),
                last_run INTEGER REFERENCES runs (id),
                published TEXT,
                published_source TEXT,
                category TEXT CHECK (category IN ('exposure', 'trading')),
                category_evidence TEXT,  -- JSON list
                media_type TEXT,
                size INTEGER,
                encoding TEXT,
                sha256 TEXT,
                findings INTEGER,  -- occurrences at the last scan
                findings_by_type TEXT  -- JSON object, occurrences at the last scan
            )""",
            # A record is one identifier, known by its keyed fingerprint; a finding is a
            # record seen on a document.
            """CREATE TABLE records (
                id INTEGER PRIMARY KEY,
                fingerprint TEXT NOT NULL,
                type TEXT NOT NULL,
                UNIQUE (fingerprint, type)
            )""",
            """CREATE TABLE findings (
                id INTEGER PRIMARY KEY,
                document_id INTEGER NOT NULL REFERENCES documents (id),
                record_id INTEGER NOT NULL REFERENCES records (id),
                masked TEXT NOT NULL,
                severity TEXT,
                confidence REAL NOT NULL,
                evidence TEXT NOT NULL,  -- JSON list
                line INTEGER,
                col INTEGER,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                first_run INTEGER REFERENCES runs (id),
                last_run INTEGER REFERENCES runs (id),
                UNIQUE (document_id, record_id)
            )""",
            """CREATE TABLE errors (
                id INTEGER PRIMARY KEY,
                run_id INTEGER NOT NULL REFERENCES runs (id),
                time TEXT NOT NULL,
                source TEXT NOT NULL,
                kind TEXT NOT NULL,
                message TEXT NOT NULL
            )""",
            "CREATE INDEX errors_run ON errors (run_id)",
            """CREATE TABLE frontier (
                id INTEGER PRIMARY KEY,  -- queue order
                crawl_id INTEGER NOT NULL REFERENCES crawls (id),
                url TEXT NOT NULL,
                depth INTEGER,
                target TEXT,
                state TEXT NOT NULL CHECK (state IN ('queued', 'done')),
                UNIQUE (crawl_id, url)
            )""",
            "CREATE INDEX frontier_state ON frontier (crawl_id, state, id)",
        ),
    ),
    Migration(
        2,
        "document history; a document stays a case once it was one; report indexes",
        (
            # The category a document counts under: trading if any version traded, else
            # exposure if any exposed. A post taken down or cleaned later still was a case
            # in the year it was one, so the current `category` alone would rewrite history.
            """ALTER TABLE documents ADD COLUMN case_category TEXT
                CHECK (case_category IN ('exposure', 'trading'))""",
            "ALTER TABLE documents ADD COLUMN case_seen TEXT",  # when it first was a case
            "ALTER TABLE documents ADD COLUMN version_seen TEXT",  # when this content appeared
            """UPDATE documents SET case_category = category,
                case_seen = CASE WHEN category IS NOT NULL THEN first_seen END,
                version_seen = first_seen""",
            """CREATE TABLE document_history (
                id INTEGER PRIMARY KEY,
                document_id INTEGER NOT NULL REFERENCES documents (id),
                sha256 TEXT,
                category TEXT,
                category_evidence TEXT,
                published TEXT,
                published_source TEXT,
                media_type TEXT,
                size INTEGER,
                encoding TEXT,
                findings INTEGER,
                findings_by_type TEXT,
                seen_from TEXT,  -- when this version first appeared
                seen_until TEXT,  -- when it was last seen
                replaced TEXT NOT NULL,  -- when a different version was found
                replaced_by_run INTEGER REFERENCES runs (id)
            )""",
            "CREATE INDEX document_history_document ON document_history (document_id, id)",
            """CREATE INDEX documents_case ON documents (case_category)
                WHERE case_category IS NOT NULL""",
            # Copies of their document's case category, country, site and (valid) published
            # date on each finding, so that counting distinct records is one pass over one
            # index instead of a million joins. Kept equal to the document's by Store.record.
            "ALTER TABLE findings ADD COLUMN case_category TEXT",
            "ALTER TABLE findings ADD COLUMN country TEXT",
            "ALTER TABLE findings ADD COLUMN site TEXT",
            "ALTER TABLE findings ADD COLUMN published TEXT",
            f"""UPDATE findings SET (case_category, country, site, published) = (
                    SELECT d.case_category, d.country, d.site,
                           CASE WHEN {PUBLISHED_OK.format(column="d.published")}
                                THEN d.published END
                    FROM documents d WHERE d.id = findings.document_id)""",
            """CREATE INDEX findings_records
                ON findings (record_id, first_seen, published, country, case_category, site)
                WHERE case_category IS NOT NULL""",
        ),
    ),
    Migration(
        3,
        "find a case's copies (same content) fast: one case is one page",
        (
            """CREATE INDEX documents_content ON documents (sha256, site)
                WHERE case_category IS NOT NULL""",
            # The earliest web-archive capture a document was read from (JSON: archive,
            # offset, date, digest); NULL for crawled pages and files.
            "ALTER TABLE documents ADD COLUMN capture TEXT",
        ),
    ),
    Migration(
        4,
        "remember every payload read of an archived page, so none is fetched twice",
        (
            # A page's payload digests (WARC-Payload-Digest) read from archives: a backfill
            # (or its --resume) asks this before it fetches a capture.
            """CREATE TABLE captures (
                document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
                digest TEXT NOT NULL,
                PRIMARY KEY (document_id, digest)
            ) WITHOUT ROWID""",
            """INSERT OR IGNORE INTO captures (document_id, digest)
                SELECT id, json_extract(capture, '$.digest') FROM documents
                WHERE json_extract(capture, '$.digest') IS NOT NULL""",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version


def schema_version(connection: sqlite3.Connection) -> int:
    row = connection.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def apply(connection: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the migrations the store lacks, all in one write transaction; returns the version.

    The version is read again inside the transaction: another process may have migrated the
    store between our open and our lock. The connection must be in autocommit mode
    (isolation_level=None), so that BEGIN here is the only transaction.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(connection)
        for migration in migrations:
            if migration.version <= current:
                continue
            for statement in migration.statements:
                connection.execute(statement)
            # PRAGMA takes no parameters; the version is our own integer.
            connection.execute(f"PRAGMA user_version = {int(migration.version)}")
            current = migration.version
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return current
