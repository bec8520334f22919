"""The findings store on SQLite: open or refuse the file, record, resume crawls, read.

One file that several cron jobs may write at once, holding masked values and keyed
fingerprints only, never a raw identifier.

Every write is one `BEGIN IMMEDIATE` transaction, so a killed scan leaves each page either
wholly recorded (document, findings, frontier) or not at all. The file is checked before
SQLite may write to it: a file that is not a leakwatch store, or that a newer leakwatch
wrote, is refused and left byte for byte as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import stat
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Self, TypeVar

from leakwatch.errors import StoreError
from leakwatch.models import Capture, DocumentFacts, Finding, QueuedUrl, ScanIssue
from leakwatch.store import migrations, queries
from leakwatch.store.country import IpCountry, registry_country, site_country
from leakwatch.store.values import ExportRow, Resume, RunRecord, TrendCounts, TrendQuery

BUSY_TIMEOUT_S = 10.0
SQLITE_MAGIC = b"SQLite format 3\x00"
OUTCOMES = frozenset({"completed", "interrupted", "failed"})
STDIN_NAME = "<stdin>"
_HEADER_BYTES = 100
_ID_CACHE_LIMIT = 200_000  # document ids remembered per store (about 20 MB at most)
_VALID_PUBLISHED = migrations.PUBLISHED_OK.format(column="d.published")

Clock = Callable[[], str]
_T = TypeVar("_T")


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def utc_time(text: str) -> str:
    """An ISO 8601 time as UTC to the second (naive times are taken as UTC), so that stored
    times sort and compare as text."""
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def document_key(source: str, *, crawled: bool = False) -> str:
    """A document's identity: the (canonical) URL of a crawled page, a local file's resolved
    absolute path, `<stdin>` as such. A finding knows only its source text, so a source with
    a scheme (`https://`) is taken as a URL there too."""
    if crawled or source == STDIN_NAME or "://" in source:
        return source
    return str(Path(source).resolve())


class Store:
    """A leakwatch store. Make one with `Store.open` (read and write, created if missing) or
    `Store.read` (an existing store, never written); close it, or use it as a context
    manager. Not thread-safe: one Store per thread or process."""

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        *,
        ip_country: IpCountry = registry_country,
        clock: Clock = utc_now,
    ) -> None:
        self.path = path
        self._db = connection
        self._ip_country = ip_country
        self._clock = clock
        self._document_ids: dict[str, int] = {}  # source text -> document id (committed)
        self._batch_ids: dict[str, int] = {}  # made inside the open batch (not committed yet)
        self._in_batch = False
        self._crawl_of_run: dict[int, int] = {}

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, *, ip_country: IpCountry = registry_country, clock: Clock = utc_now
    ) -> Store:
        """Open the store at `path` for recording, creating it (and its folders; mode 0600)
        if missing and bringing an older schema up to date."""
        path = Path(path).expanduser()
        _check_header(path)
        # Never removed again on failure: another process may have opened it meanwhile, and
        # an empty file is an empty store, made whole by the next open.
        _create(path)
        connection = _connect(path, "rw")
        try:
            deadline = time.monotonic() + BUSY_TIMEOUT_S
            _while_busy(lambda: _check_schema(connection, path), deadline)
            # SQLite answers BUSY at once, without its busy handler, when another process is
            # creating or switching the same new store: try again until the busy timeout.
            mode = _while_busy(
                lambda: connection.execute("PRAGMA journal_mode = WAL").fetchone()[0], deadline
            )
            if str(mode).lower() != "wal":
                raise StoreError(path, f"cannot switch to WAL journaling (got {mode})")
            connection.execute("PRAGMA synchronous = NORMAL")
            migrations.apply(connection)
        except sqlite3.Error as exc:
            connection.close()
            raise _store_error(path, exc, "opening") from None
        except BaseException:
            connection.close()
            raise
        return cls(path, connection, ip_country=ip_country, clock=clock)

    @classmethod
    def read(cls, path: Path) -> Store:
        """Open an existing store for reading only: nothing is created, written or migrated
        (an older store is upgraded only when it must be, by `Store.open`). A store that
        cannot be opened for writing (a read-only folder, a full disk) is read as it is."""
        path = Path(path).expanduser()
        _check_header(path)
        if not path.exists():
            # The user must name another store: the file is the problem, as for a bad file.
            raise StoreError(path, "does not exist (no scan has recorded into it)", unusable=True)
        # rw first, not ro: a ro connection leaves -wal/-shm behind. Where SQLite cannot make
        # them (a read-only folder, a full disk), ro reads through the ones that are there,
        # and immutable (no side files at all) through a store that was closed cleanly.
        attempts = ("rw", "ro", "ro&immutable=1")
        for number, mode in enumerate(attempts, 1):
            try:
                connection, version = _open_for_reading(path, mode)
                break
            except sqlite3.Error as exc:
                name = getattr(exc, "sqlite_errorname", "") or ""
                if number == len(attempts) or not name.startswith(_CANNOT_WRITE):
                    raise _store_error(path, exc, "opening") from None
        if version < migrations.LATEST:
            connection.close()
            with cls.open(path):  # an older store: upgrade it once, then read
                pass
            return cls.read(path)
        return cls(path, connection)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return migrations.schema_version(self._db)

    # -- recording ------------------------------------------------------------------------

    def start_run(
        self,
        *,
        started: str,
        version: str,
        arguments: Sequence[str],
        targets: Sequence[str],
        settings: Mapping[str, Any],
        resumes: int | None = None,
    ) -> int:
        """Record a run's start; returns its id. `resumes` continues that run's crawl."""
        with self._write("starting a run"):
            if resumes is None:
                crawl = self._db.execute(
                    "INSERT INTO crawls (started) VALUES (?) RETURNING id", (started,)
                ).fetchone()[0]
            else:
                row = self._db.execute(
                    "SELECT crawl_id FROM runs WHERE id = ?", (resumes,)
                ).fetchone()
                if row is None:
                    raise StoreError(self.path, f"run {resumes} to resume is not in this store")
                crawl = row[0]
            values = (crawl, resumes, started, version, _json(list(arguments)),
                      _json(list(targets)), _json(dict(settings)), socket.gethostname(),
                      os.getpid())  # fmt: skip
            run_id = self._db.execute(
                """INSERT INTO runs (crawl_id, resumes, started, version, arguments, targets,
                       settings, host, pid)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                values,
            ).fetchone()[0]
        self._crawl_of_run[int(run_id)] = int(crawl)
        return int(run_id)

    def captured(self, url: str, digest: str) -> bool:
        """Whether a page read from an archive with this payload digest is recorded (any of
        its versions: a page captured with one payload in 2021 and another in 2022)."""
        rows = self._read(
            """SELECT 1 FROM captures c JOIN documents d ON d.id = c.document_id
               WHERE d.key = ? AND c.digest = ? LIMIT 1""",
            (document_key(url, crawled=True), digest),
        )
        return bool(rows)

    def recaptured(self, url: str, capture: Capture) -> None:
        """A page an archive captured again, unchanged: it was there at the capture's date.
        An earlier capture (a backfill of older crawls) moves its first sighting (and its
        case's date) back, and becomes the capture the store keeps."""
        when, key = utc_time(capture.date), document_key(url, crawled=True)
        with self._write("recording a recapture"):
            self._db.execute(
                """UPDATE documents SET
                       first_seen = min(first_seen, :when),
                       last_seen = max(last_seen, :when),
                       case_seen = CASE WHEN case_seen IS NULL THEN NULL
                                        ELSE min(case_seen, :when) END,
                       capture = CASE WHEN capture IS NULL
                                           OR :when < json_extract(capture, '$.date')
                                      THEN :capture ELSE capture END
                   WHERE key = :key""",
                {"when": when, "key": key,
                 "capture": _json(_capture_dict(capture))},
            )  # fmt: skip
            # Its identifiers were there then too: their records date from then.
            self._db.execute(
                """UPDATE findings SET first_seen = min(first_seen, ?),
                                       last_seen = max(last_seen, ?)
                   WHERE document_id = (SELECT id FROM documents WHERE key = ?)""",
                (when, when, key),
            )

    def finish_run(
        self, run_id: int, *, finished: str, outcome: str, summary: Mapping[str, Any]
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
        with self._write("finishing a run"):
            self._db.execute(
                "UPDATE runs SET finished = ?, outcome = ?, summary = ? WHERE id = ?",
                (finished, outcome, _json(dict(summary)), run_id),
            )

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
    ) -> None:
        """Record part of a run in ONE transaction: findings (of one or more documents whose
        facts may come in a later call), a document's facts, unreadable inputs, and crawl
        frontier changes (`done` marked finished, `queued` added), all or nothing.

        `seen` is when these were observed (default: the page's fetch time when `document`
        is a crawled page, else now). Raw values (`Finding.value`) and context snippets are
        never stored.
        """
        if not (findings or document or issues or done or queued):
            return
        when = self._when(seen, document)
        staged: dict[str, int] = {}
        with self._write("recording"):
            # The document first: its findings then carry its case category, country, site.
            if document is not None:
                self._record_document(run_id, document, when, staged)
            if findings:
                self._record_findings(run_id, findings, when, staged)
            if issues:
                self._db.executemany(
                    """INSERT INTO errors (run_id, time, source, kind, message)
                       VALUES (?, ?, ?, ?, ?)""",
                    [(run_id, when, i.source, i.kind, i.message) for i in issues],
                )
            if queued or done:
                crawl = self._crawl(run_id)
                # Queued before done: a URL both queued and finished in one call ends done.
                self._db.executemany(
                    """INSERT INTO frontier (crawl_id, url, depth, target, state)
                       VALUES (?, ?, ?, ?, 'queued') ON CONFLICT (crawl_id, url) DO NOTHING""",
                    [(crawl, q.url, q.depth, q.target) for q in queued],
                )
                self._db.executemany(
                    """INSERT INTO frontier (crawl_id, url, state) VALUES (?, ?, 'done')
                       ON CONFLICT (crawl_id, url) DO UPDATE SET state = 'done'""",
                    [(crawl, url) for url in done],
                )
        # Only now: ids of rows a rolled-back transaction made must not be remembered.
        if self._in_batch:
            self._batch_ids.update(staged)
        else:
            self._remember(staged)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Make the `record` calls inside one transaction: one commit for many small
        documents (a folder of small files, a seeded store) instead of one each. Each call
        stays all or nothing (a savepoint); the batch commits when the block ends, and keeps
        nothing if the block raises."""
        if self._in_batch:
            raise RuntimeError("Store.batch() does not nest")
        with self._write("recording a batch"):
            self._in_batch = True
            try:
                yield
            finally:
                self._in_batch = False
                made, self._batch_ids = self._batch_ids, {}
        self._remember(made)

    def _remember(self, ids: dict[str, int]) -> None:
        if len(self._document_ids) + len(ids) > _ID_CACHE_LIMIT:
            self._document_ids.clear()
        self._document_ids.update(ids)

    def _when(self, seen: str | None, document: DocumentFacts | None) -> str:
        if seen is not None:
            return utc_time(seen)
        if document is not None and document.fetch is not None:
            try:
                return utc_time(document.fetch.fetched_at)
            except ValueError:
                pass  # a fetch time we cannot read: now is the next best observation time
        return utc_time(self._clock())

    def _crawl(self, run_id: int) -> int:
        crawl = self._crawl_of_run.get(run_id)
        if crawl is None:
            row = self._db.execute("SELECT crawl_id FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise StoreError(self.path, f"run {run_id} is not in this store")
            crawl = self._crawl_of_run[run_id] = int(row[0])
        return crawl

    def _document_id(
        self, source: str, run_id: int, when: str, staged: dict[str, int], crawled: bool = False
    ) -> int:
        """The id of a finding's document, made on first sight (its facts may come later)."""
        known = self._document_ids.get(source) or self._batch_ids.get(source) or staged.get(source)
        if known is not None:
            return known
        key = document_key(source, crawled=crawled)
        row = self._db.execute("SELECT id FROM documents WHERE key = ?", (key,)).fetchone()
        if row is None:
            row = self._db.execute(
                """INSERT INTO documents (key, first_seen, last_seen, version_seen, first_run,
                       last_run) VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
                (key, when, when, when, run_id, run_id),
            ).fetchone()
        staged[source] = int(row[0])
        return staged[source]

    def _record_findings(
        self, run_id: int, findings: Sequence[Finding], when: str, staged: dict[str, int]
    ) -> None:
        rows = []
        ids: dict[str, int] = {}
        # Evidence repeats from row to row (the same label, the same column): encode it once.
        encoded: dict[tuple[str, ...], str] = {}
        for f in findings:
            document_id = ids.get(f.source)
            if document_id is None:
                document_id = ids[f.source] = self._document_id(f.source, run_id, when, staged)
            evidence = encoded.get(f.evidence)
            if evidence is None:
                evidence = encoded[f.evidence] = _json(list(f.evidence))
            # Deliberately not f.value (the raw identifier under --reveal) nor f.context.
            rows.append((
                document_id, f.fingerprint, f.type, f.masked, f.severity.name.lower(),
                f.confidence, evidence, f.line, f.column, when, when, run_id, run_id,
                document_id,
            ))  # fmt: skip
        self._db.executemany(_ADD_RECORD, {(f.fingerprint, f.type) for f in findings})
        self._db.executemany(_UPSERT_FINDING, rows)

    def _record_document(
        self, run_id: int, facts: DocumentFacts, when: str, staged: dict[str, int]
    ) -> None:
        crawled = facts.fetch is not None
        document_id = self._document_id(facts.source, run_id, when, staged, crawled)
        current = self._db.execute(
            "SELECT sha256 FROM documents WHERE id = ?", (document_id,)
        ).fetchone()
        decided = site_country(facts.fetch, self._ip_country) if facts.fetch else None
        category = facts.category.value if facts.category else None
        changed = bool(current[0] and facts.content_sha256 and current[0] != facts.content_sha256)
        if changed:  # keep the version being replaced
            self._db.execute(_KEEP_HISTORY, (when, run_id, document_id))
        self._db.execute(
            _UPDATE_DOCUMENT,
            {
                "id": document_id,
                "site": facts.fetch.site if facts.fetch else None,
                "country": decided.country if decided else None,
                "country_source": decided.source if decided else None,
                "when": when,
                "run": run_id,
                "published": facts.published,
                "published_source": facts.published_source,
                "category": category,
                "category_evidence": _json(list(facts.category_evidence)),
                "media_type": facts.media_type,
                "size": facts.size,
                "encoding": facts.encoding,
                "sha256": facts.content_sha256,
                "findings": facts.findings,
                "findings_by_type": _json(dict(facts.findings_by_type)),
                "changed": changed,
                "capture": _json(_capture_dict(facts.capture)) if facts.capture else None,
                "capture_date": utc_time(facts.capture.date) if facts.capture else None,
            },
        )
        if facts.capture is not None and facts.capture.digest is not None:
            self._db.execute(
                "INSERT INTO captures (document_id, digest) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (document_id, facts.capture.digest),
            )
        # Findings recorded before these facts (a large file's batches, an earlier scan)
        # take the document's case category, country and published date.
        self._db.execute(_SYNC_FINDINGS, (document_id, document_id))

    @contextmanager
    def _write(self, doing: str) -> Iterator[None]:
        """One write transaction; SQLite's errors become StoreErrors, and nothing of a failed
        transaction stays (a full disk leaves the store as it was before the call). Inside a
        batch, a savepoint of the batch's transaction."""
        if self._in_batch:
            with self._savepoint(doing):
                yield
            return
        try:
            if self._db.in_transaction:
                # A Ctrl-C or SIGTERM that landed just after an earlier BEGIN, before its
                # block began: that transaction holds nothing of ours yet.
                self._db.execute("ROLLBACK")
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, doing) from None
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                # SQLite may have rolled back by itself already (after SQLITE_FULL, say).
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _store_error(self.path, exc, doing) from None
            raise

    @contextmanager
    def _savepoint(self, doing: str) -> Iterator[None]:
        try:
            self._db.execute("SAVEPOINT record")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, doing) from None
        try:
            yield
            self._db.execute("RELEASE record")
        except BaseException as exc:
            if self._db.in_transaction:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK TO record")
                    self._db.execute("RELEASE record")
            if isinstance(exc, sqlite3.Error):
                raise _store_error(self.path, exc, doing) from None
            raise

    # -- crawl resumption ------------------------------------------------------------------

    def resumable(self, targets: Sequence[str] | None) -> Resume | None:
        """The latest crawl of these targets (any, if None) if its latest run did not
        complete (interrupted, failed, or killed) and is not still running; else None.

        Only the latest crawl of a target set is considered: a crawl started afresh after an
        interrupted one supersedes it.
        """
        wanted = None if targets is None else frozenset(targets)
        latest_runs = self._read(
            """SELECT id, crawl_id, outcome, targets, settings, host, pid FROM runs
               WHERE id IN (SELECT max(id) FROM runs GROUP BY crawl_id) ORDER BY id DESC"""
        )
        for run_id, crawl, outcome, targets_json, settings, host, pid in latest_runs:
            run_targets = tuple(json.loads(targets_json))
            if wanted is not None and frozenset(run_targets) != wanted:
                continue
            if outcome == "completed" or _alive(host, pid):
                return None
            done = frozenset(
                url
                for (url,) in self._read(
                    "SELECT url FROM frontier WHERE crawl_id = ? AND state = 'done'", (crawl,)
                )
            )
            pending = tuple(
                QueuedUrl(url, depth if depth is not None else 0, target or "")
                for url, depth, target in self._read(
                    """SELECT url, depth, target FROM frontier
                       WHERE crawl_id = ? AND state = 'queued' ORDER BY id""",
                    (crawl,),
                )
            )
            return Resume(
                run_id=run_id,
                crawl_id=crawl,
                targets=run_targets,
                settings=json.loads(settings),
                done=done,
                pending=pending,
            )
        return None

    # -- reading ----------------------------------------------------------------------------

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        """Past runs, most recent first."""
        rows = self._read(
            """SELECT r.id, r.crawl_id, r.resumes, r.started, r.finished, r.outcome, r.version,
                      r.arguments, r.targets, r.settings, r.summary, r.host, r.pid,
                      (SELECT count(*) FROM errors e WHERE e.run_id = r.id)
               FROM runs r ORDER BY r.id DESC LIMIT ?""",
            (-1 if limit is None else limit,),
        )
        return [
            RunRecord(
                id=row[0],
                crawl_id=row[1],
                resumes=row[2],
                started=row[3],
                finished=row[4],
                outcome=row[5],
                running=row[5] is None and _alive(row[11], row[12]),
                version=row[6],
                arguments=tuple(json.loads(row[7])),
                targets=tuple(json.loads(row[8])),
                settings=json.loads(row[9]),
                summary=json.loads(row[10]) if row[10] else None,
                errors=row[13],
            )
            for row in rows
        ]

    def export(
        self, *, countries: Sequence[str] = (), since: str | None = None, before: str | None = None
    ) -> Generator[ExportRow, None, None]:
        """Every stored finding with its document, in recording order, one at a time (a
        cursor, so memory stays flat however large the store). Bounds apply to when each
        finding was first seen."""
        where: list[str] = []
        params: list[Any] = []
        if countries:
            where.append(f"d.country IN ({', '.join('?' * len(countries))})")
            params.extend(countries)
        if since:
            where.append("f.first_seen >= ?")
            params.append(since)
        if before:
            where.append("f.first_seen < ?")
            params.append(before)
        sql = f"""SELECT d.key, d.site, d.country, d.case_category, d.published, r.type,
                         f.severity, f.masked, r.fingerprint, f.confidence, f.evidence,
                         f.first_seen, f.last_seen
                  FROM findings f JOIN documents d ON d.id = f.document_id
                  JOIN records r ON r.id = f.record_id
                  {"WHERE " + " AND ".join(where) if where else ""}
                  ORDER BY f.id"""
        try:
            cursor = self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, "reading findings") from None
        try:
            while True:
                try:
                    batch = cursor.fetchmany(1000)
                except sqlite3.Error as exc:
                    raise _store_error(self.path, exc, "reading findings") from None
                if not batch:
                    return
                for row in batch:
                    yield ExportRow(
                        source=row[0], site=row[1], country=row[2], category=row[3],
                        published=row[4], type=row[5], severity=row[6], masked=row[7],
                        fingerprint=row[8], confidence=row[9],
                        evidence=tuple(json.loads(row[10])), first_seen=row[11],
                        last_seen=row[12],
                    )  # fmt: skip
        finally:
            with suppress(sqlite3.Error):  # the store may be closed already
                cursor.close()

    def trend_counts(self, query: TrendQuery) -> TrendCounts:
        """Cases (by category), distinct records and findings per type for each period or
        group, and the totals (what each means: `leakwatch.store.queries`)."""
        try:
            # One read transaction: every count from the same snapshot, even while another
            # process records.
            opened = not self._db.in_transaction
            if opened:
                self._db.execute("BEGIN")
            try:
                return queries.trend_counts(self._db, query)
            finally:
                if opened:
                    self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, "counting") from None

    def _read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, "reading") from None


# -- SQL -------------------------------------------------------------------------------------

_ADD_RECORD = "INSERT INTO records (fingerprint, type) VALUES (?, ?) ON CONFLICT DO NOTHING"

# One row per (document, record): a rescan moves last_seen and refreshes the masked form and
# evidence; first_seen only moves back (a backfill of older captures), never forward. Within
# one run the first occurrence is kept. SET expressions read the row as it was. The copies of
# the document's case category, country and valid published date come from the document row
# itself, so they are right even if another process changed it a moment ago.
_UPSERT_FINDING = f"""
INSERT INTO findings (document_id, record_id, masked, severity, confidence, evidence, line, col,
                      first_seen, last_seen, first_run, last_run, case_category, country, site,
                      published)
SELECT ?1, (SELECT r.id FROM records r WHERE r.fingerprint = ?2 AND r.type = ?3),
       ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, d.case_category, d.country, d.site,
       CASE WHEN {_VALID_PUBLISHED} THEN d.published END
FROM documents d WHERE d.id = ?14
ON CONFLICT (document_id, record_id) DO UPDATE SET
    masked = CASE WHEN last_run = excluded.last_run THEN masked ELSE excluded.masked END,
    severity = excluded.severity,
    confidence = CASE WHEN last_run = excluded.last_run THEN confidence
                      ELSE excluded.confidence END,
    evidence = CASE WHEN last_run = excluded.last_run THEN evidence ELSE excluded.evidence END,
    line = CASE WHEN last_run = excluded.last_run THEN line ELSE excluded.line END,
    col = CASE WHEN last_run = excluded.last_run THEN col ELSE excluded.col END,
    first_seen = min(first_seen, excluded.first_seen),
    last_seen = max(last_seen, excluded.last_seen),
    last_run = excluded.last_run,
    case_category = excluded.case_category,
    country = excluded.country,
    site = excluded.site,
    published = excluded.published
"""

_SYNC_FINDINGS = f"""
UPDATE findings SET (case_category, country, site, published) = (
    SELECT d.case_category, d.country, d.site,
           CASE WHEN {_VALID_PUBLISHED} THEN d.published END
    FROM documents d WHERE d.id = findings.document_id)
WHERE document_id = ? AND (case_category, country, site, published) IS NOT (
    SELECT d.case_category, d.country, d.site,
           CASE WHEN {_VALID_PUBLISHED} THEN d.published END
    FROM documents d WHERE d.id = ?)
"""

_KEEP_HISTORY = """
INSERT INTO document_history (document_id, sha256, category, category_evidence, published,
    published_source, media_type, size, encoding, findings, findings_by_type, seen_from,
    seen_until, replaced, replaced_by_run)
SELECT id, sha256, category, category_evidence, published, published_source, media_type, size,
    encoding, findings, findings_by_type, version_seen, last_seen, ?, ?
FROM documents WHERE id = ?
"""

# The current version's facts replace the previous ones, except that a declared published date
# is kept when the new version declares none, and the case category only ever strengthens
# (none -> exposure -> trading): once a case, the document stays one.
_UPDATE_DOCUMENT = """
UPDATE documents SET
    site = coalesce(:site, site),
    country = coalesce(:country, country),
    country_source = CASE WHEN :country IS NULL THEN country_source ELSE :country_source END,
    first_seen = min(first_seen, :when),
    last_seen = max(last_seen, :when),
    last_run = :run,
    version_seen = CASE WHEN :changed THEN :when
                        ELSE min(coalesce(version_seen, :when), :when) END,
    published = coalesce(:published, published),
    published_source = CASE WHEN :published IS NULL THEN published_source
                            ELSE :published_source END,
    category = :category,
    category_evidence = :category_evidence,
    media_type = :media_type,
    size = :size,
    encoding = :encoding,
    sha256 = coalesce(:sha256, sha256),
    findings = :findings,
    findings_by_type = :findings_by_type,
    capture = CASE WHEN :capture IS NOT NULL AND (capture IS NULL
                        OR :capture_date < json_extract(capture, '$.date')) THEN :capture
                   ELSE capture END,
    case_category = CASE WHEN case_category = 'trading' OR :category = 'trading' THEN 'trading'
                         WHEN case_category = 'exposure' OR :category = 'exposure'
                              THEN 'exposure' END,
    case_seen = CASE WHEN :category IS NULL THEN case_seen
                     WHEN :changed THEN min(coalesce(case_seen, :when), :when)
                     ELSE min(coalesce(case_seen, :when), coalesce(version_seen, :when), :when)
                     END
WHERE id = :id
"""

# -- helpers ---------------------------------------------------------------------------------


def _capture_dict(capture: Capture) -> dict[str, Any]:
    return {"archive": capture.archive, "offset": capture.offset,
            "date": utc_time(capture.date), "digest": capture.digest}  # fmt: skip


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=isinstance(value, dict))


def _alive(host: str | None, pid: int | None) -> bool:
    """Whether a run's process is still running here. A run of this very process id is not
    (we have no unfinished run of our own when asking: the id was reused), nor one on another
    host (a store is never shared across hosts)."""
    if pid is None or host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return False
    return True


def _create(path: Path) -> None:
    """Create an empty store file with mode 0600 (and its folders) if there is none. An
    empty file that is there (`touch s.db`) becomes a store too: it gets the same mode, as
    its -wal and -shm files will (SQLite gives them the store's)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise StoreError(path, f"cannot read: {exc.strerror or exc}") from None
    if info is not None:
        if info.st_size == 0 and stat.S_IMODE(info.st_mode) != 0o600:
            with suppress(PermissionError):  # another user's file: theirs to set
                path.chmod(0o600)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another leakwatch made it a moment ago
        return
    except OSError as exc:
        raise StoreError(path, f"cannot create the store: {exc.strerror or exc}") from None
    os.close(fd)


# What SQLite answers when it cannot make or write a file beside the store.
_CANNOT_WRITE = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_PERM")


def _open_for_reading(path: Path, mode: str) -> tuple[sqlite3.Connection, int]:
    """A connection that cannot write, and the store's schema version; raises sqlite3.Error
    (a StoreError for a file that is not a usable store)."""
    connection = _sqlite_connect(path, mode)
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        version = _while_busy(lambda: _check_schema(connection, path), deadline)
        connection.execute("PRAGMA query_only = ON")
    except BaseException:
        connection.close()
        raise
    return connection, version


def _check_header(path: Path) -> None:
    """Refuse, before SQLite opens it, a file that is not ours or is newer than we know.

    The SQLite header holds user_version (bytes 60-63) and application_id (68-71).
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(path, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise StoreError(path, "is a folder, not a store file", unusable=True)
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(path, "is not a regular file", unusable=True)
    if info.st_size == 0:
        return  # an empty file is an empty database: it becomes a new store
    try:
        with path.open("rb") as stream:
            header = stream.read(_HEADER_BYTES)
    except OSError as exc:
        raise StoreError(path, f"cannot read: {exc.strerror or exc}") from None
    if len(header) < _HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        raise StoreError(path, "not a leakwatch store (not an SQLite database)", unusable=True)
    version = int.from_bytes(header[60:64], "big")
    application = int.from_bytes(header[68:72], "big")
    if application not in (0, migrations.APPLICATION_ID):
        raise StoreError(
            path, "not a leakwatch store (another application's SQLite database)", unusable=True
        )
    _check_version(path, version)


def _check_version(path: Path, version: int) -> None:
    if version > migrations.LATEST:
        raise StoreError(
            path,
            f"written by a newer leakwatch (store schema {version}; this version reads up to "
            f"{migrations.LATEST}): upgrade leakwatch or use another --db",
            unusable=True,
        )


def _check_schema(connection: sqlite3.Connection, path: Path) -> int:
    """Read the schema without writing: a damaged file fails here, before any write. One
    read transaction, so that a migration committed by another process meanwhile is seen
    whole or not at all."""
    connection.execute("BEGIN")
    try:
        version = migrations.schema_version(connection)
        application = connection.execute("PRAGMA application_id").fetchone()[0]
        tables = {
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
    finally:
        if connection.in_transaction:  # an I/O error may have ended it already
            connection.execute("COMMIT")
    _check_version(path, version)
    if version == 0 and tables:
        raise StoreError(
            path, "not a leakwatch store (an SQLite database with other tables)", unusable=True
        )
    if version > 0 and (application != migrations.APPLICATION_ID or "findings" not in tables):
        raise StoreError(path, "not a leakwatch store (unknown schema)", unusable=True)
    return version


def _while_busy(action: Callable[[], _T], deadline: float) -> _T:
    """`action()`, tried again while SQLite answers BUSY, until `deadline` (monotonic)."""
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            busy = str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_BUSY")
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    try:
        return _sqlite_connect(path, mode)
    except sqlite3.Error as exc:
        raise _store_error(path, exc, "opening") from None


def _sqlite_connect(path: Path, mode: str) -> sqlite3.Connection:
    """A connection in autocommit mode with the busy timeout set; raises sqlite3.Error."""
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    connection = sqlite3.connect(
        uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, cached_statements=64
    )
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        connection.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        connection.close()
        raise
    return connection


def _store_error(path: Path, exc: sqlite3.Error, doing: str) -> StoreError:
    """SQLite's error as one line that says what to do about it."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_NOTADB" or name.startswith("SQLITE_CORRUPT"):
        return StoreError(path, f"not a usable leakwatch store (damaged: {exc})", unusable=True)
    if name == "SQLITE_FULL":
        return StoreError(path, f"disk full while {doing}; nothing of it was stored")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreError(
            path, f"busy: another leakwatch kept the store locked for {BUSY_TIMEOUT_S:.0f} s"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        return StoreError(path, f"cannot write while {doing} (read-only location?): {exc}")
    if name.startswith("SQLITE_IOERR"):
        return StoreError(path, f"input/output error while {doing}: {exc}")
    return StoreError(path, f"{doing}: {exc}")
