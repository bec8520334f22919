"""The findings store over any `Database`: record a scan, resume a crawl, read it back.

The store holds masked values and keyed fingerprints only, never a raw identifier. Every
`record` call is one transaction, so a killed scan leaves each page either wholly recorded
(document, findings, frontier) or not at all; several scans may record at once.
`Store.open` and `Store.read` take a SQLite file's path or a `postgresql://` URL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from leakwatch.errors import StoreError
from leakwatch.ignore import IgnoreRules
from leakwatch.models import Capture, DocumentFacts, Finding, QueuedUrl, ScanIssue
from leakwatch.store import queries, statements
from leakwatch.store.country import IpCountry, registry_country, site_country
from leakwatch.store.database import Database
from leakwatch.store.forget import Forgotten, forget_pages
from leakwatch.store.ignored import Exclusions, exclusions
from leakwatch.store.postgres import PostgresDatabase
from leakwatch.store.sqlite import SqliteDatabase
from leakwatch.store.statements import Statements
from leakwatch.store.values import (
    CaseRow,
    ExportFilter,
    ExportRow,
    Resume,
    RunRecord,
    TrendCounts,
    TrendQuery,
)

OUTCOMES = frozenset({"completed", "interrupted", "failed"})
STDIN_NAME = "<stdin>"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_ID_CACHE_LIMIT = 200_000  # document ids remembered per store (about 20 MB at most)

Clock = Callable[[], str]
Location = Path | str  # a SQLite file, or a postgresql:// URL


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


def is_postgres(location: Location) -> bool:
    return isinstance(location, str) and location.lower().startswith(POSTGRES_SCHEMES)


def _refuse_other_schemes(location: Location) -> None:
    if isinstance(location, str) and "://" in location:
        scheme = location.split("://", 1)[0]
        raise StoreError(
            f"{scheme}://…",
            "not a store location: --db takes a file path or a postgresql:// URL",
            unusable=True,
        )


class Store:
    """A leakwatch store. Make one with `Store.open` (read and write, created if missing) or
    `Store.read` (an existing store, never written); close it, or use it as a context
    manager. Not thread-safe: one Store per thread or process."""

    def __init__(
        self,
        database: Database,
        *,
        ip_country: IpCountry = registry_country,
        clock: Clock = utc_now,
    ) -> None:
        self.database = database
        self._sql = Statements.of(database.dialect)
        self._ip_country = ip_country
        self._clock = clock
        self._document_ids: dict[str, int] = {}  # source text -> document id (committed)
        self._batch_ids: dict[str, int] = {}  # made inside the open batch (not committed yet)
        self._in_batch = False
        self._crawl_of_run: dict[int, int] = {}
        self._excluded: dict[IgnoreRules, Exclusions] | None = None  # inside snapshot()

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        location: Location,
        *,
        ip_country: IpCountry = registry_country,
        clock: Clock = utc_now,
    ) -> Store:
        """Open the store at `location` for recording, creating it if missing and bringing
        an older schema up to date. A SQLite file is made with mode 0600 (and its folders);
        a PostgreSQL database must exist (its tables are made)."""
        database: Database
        if is_postgres(location):
            database = PostgresDatabase.open(str(location))
        else:
            _refuse_other_schemes(location)
            database = SqliteDatabase.open(Path(location))
        return cls(database, ip_country=ip_country, clock=clock)

    @classmethod
    def read(cls, location: Location) -> Store:
        """Open an existing store for reading only: nothing is created or written (an older
        store is upgraded once first, as `Store.open` would)."""
        if is_postgres(location):
            return cls(PostgresDatabase.read(str(location)))
        _refuse_other_schemes(location)
        return cls(SqliteDatabase.read(Path(location)))

    @property
    def location(self) -> str:
        """The store's file, or its URL without a password: what messages name."""
        return self.database.location

    @property
    def schema_version(self) -> int:
        return self.database.schema_version

    def close(self) -> None:
        self.database.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        db = self.database

        def start() -> tuple[int, int]:
            if resumes is None:
                crawl = db.fetch("INSERT INTO crawls (started) VALUES (?) RETURNING id",
                                 (started,))[0][0]  # fmt: skip
            else:
                rows = db.fetch("SELECT crawl_id FROM runs WHERE id = ?", (resumes,))
                if not rows:
                    raise StoreError(self.location, f"run {resumes} to resume is not in this store")
                crawl = rows[0][0]
            values = (crawl, resumes, started, version, _json(list(arguments)),
                      _json(list(targets)), _json(dict(settings)), socket.gethostname(),
                      os.getpid())  # fmt: skip
            run_id = int(db.fetch(statements.ADD_RUN, values)[0][0])
            db.hold_run(run_id)  # before it commits: never seen unfinished and unlocked
            return run_id, int(crawl)

        run_id, crawl = db.write("starting a run", start)
        self._crawl_of_run[run_id] = crawl
        return run_id

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
        params = {"when": utc_time(capture.date), "key": document_key(url, crawled=True),
                  "capture": _json(_capture_dict(capture))}  # fmt: skip

        def update() -> None:
            self.database.run(self._sql.recapture_document, params)
            self.database.run(self._sql.recapture_findings, params)

        self.database.write("recording a recapture", update)

    def finish_run(
        self, run_id: int, *, finished: str, outcome: str, summary: Mapping[str, Any]
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
        values = (finished, outcome, _json(dict(summary)), run_id)
        self.database.write("finishing a run", lambda: self.database.run(statements.FINISH_RUN,
                                                                         values))  # fmt: skip

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
        db = self.database
        staged: dict[str, int] = {}

        def write() -> None:
            staged.clear()  # a transaction run again starts afresh
            # The document first: its findings then carry its case category, country, site.
            if document is not None:
                self._record_document(run_id, document, when, staged)
            if findings:
                self._record_findings(run_id, findings, when, staged)
            if issues:
                db.run_many(
                    statements.ADD_ERROR,
                    [(run_id, when, i.source, i.kind, i.message) for i in issues],
                )
            if queued or done:
                crawl = self._crawl(run_id)
                db.run_many(statements.QUEUE_URL,
                            [(crawl, q.url, q.depth, q.target) for q in queued])  # fmt: skip
                db.run_many(statements.URL_DONE, [(crawl, url) for url in done])

        db.write("recording", write)
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
        with self.database.transaction("recording a batch"):
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
            rows = self.database.fetch("SELECT crawl_id FROM runs WHERE id = ?", (run_id,))
            if not rows:
                raise StoreError(self.location, f"run {run_id} is not in this store")
            crawl = self._crawl_of_run[run_id] = int(rows[0][0])
        return crawl

    def _document_id(
        self, source: str, run_id: int, when: str, staged: dict[str, int], crawled: bool = False
    ) -> int:
        """The id of a finding's document, made on first sight (its facts may come later)."""
        known = self._document_ids.get(source) or self._batch_ids.get(source) or staged.get(source)
        if known is not None:
            return known
        key = document_key(source, crawled=crawled)
        db = self.database
        rows = (
            db.fetch(statements.DOCUMENT_ID, (key,))
            or db.fetch(statements.ADD_DOCUMENT, (key, when, when, when, run_id, run_id))
            # made by another writer between our two statements: it is committed now
            or db.fetch(statements.DOCUMENT_ID, (key,))
        )
        staged[source] = int(rows[0][0])
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
            rows.append((  # in the order of statements.FINDING_PARAMETERS
                document_id, f.fingerprint, f.type, f.masked, f.severity.name.lower(),
                f.confidence, evidence, f.line, f.column, when, run_id,
            ))  # fmt: skip
        # Sorted: concurrent writers then take the records' locks in one order (PostgreSQL
        # would otherwise deadlock two scans of dumps sharing identifiers).
        records = sorted({(f.fingerprint, f.type) for f in findings})
        if not self.database.dialect.arrays:
            self.database.run_many(statements.ADD_RECORD, records)
            self.database.run_many(self._sql.upsert_finding, rows)
            return
        self.database.run(statements.ADD_RECORDS, {
            "fingerprints": [r[0] for r in records], "types": [r[1] for r in records],
        })  # fmt: skip
        columns = {name: [row[_FINDING_INDEX[key]] for row in rows] for name, key in _ARRAYS}
        self.database.run(self._sql.upsert_findings, {**columns, "when": when, "run": run_id})

    def _record_document(
        self, run_id: int, facts: DocumentFacts, when: str, staged: dict[str, int]
    ) -> None:
        db = self.database
        crawled = facts.fetch is not None
        document_id = self._document_id(facts.source, run_id, when, staged, crawled)
        current = db.fetch(self._sql.current_sha256, (document_id,))[0][0]
        decided = site_country(facts.fetch, self._ip_country) if facts.fetch else None
        category = facts.category.value if facts.category else None
        changed = bool(current and facts.content_sha256 and current != facts.content_sha256)
        if changed:  # keep the version being replaced
            db.run(statements.KEEP_HISTORY, (when, run_id, document_id))
        db.run(
            self._sql.update_document,
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
            db.run(statements.ADD_CAPTURE, (document_id, facts.capture.digest))
        # Findings recorded before these facts (a large file's batches, an earlier scan)
        # take the document's case category, country and published date.
        db.run(self._sql.sync_findings, {"document": document_id})

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
            if outcome == "completed" or self._alive(run_id, host, pid):
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

    def _alive(self, run_id: int, host: str | None, pid: int | None) -> bool:
        with self.database.errors("reading runs"):
            return self.database.run_alive(run_id, host, pid)

    # -- reading ----------------------------------------------------------------------------

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        """Past runs, most recent first."""
        rows = self._read(
            f"""SELECT r.id, r.crawl_id, r.resumes, r.started, r.finished, r.outcome, r.version,
                      r.arguments, r.targets, r.settings, r.summary, r.host, r.pid,
                      (SELECT count(*) FROM errors e WHERE e.run_id = r.id)
               FROM runs r ORDER BY r.id DESC {"" if limit is None else "LIMIT ?"}""",
            () if limit is None else (limit,),
        )
        return [
            RunRecord(
                id=row[0],
                crawl_id=row[1],
                resumes=row[2],
                started=row[3],
                finished=row[4],
                outcome=row[5],
                running=row[5] is None and self._alive(row[0], row[11], row[12]),
                version=row[6],
                arguments=tuple(json.loads(row[7])),
                targets=tuple(json.loads(row[8])),
                settings=json.loads(row[9]),
                summary=json.loads(row[10]) if row[10] else None,
                errors=int(row[13]),
            )
            for row in rows
        ]

    def export(
        self,
        *,
        countries: Sequence[str] = (),
        since: str | None = None,
        before: str | None = None,
        ignore: IgnoreRules | None = None,
        only: ExportFilter | None = None,
    ) -> Generator[ExportRow, None, None]:
        """Every stored finding with its document, in recording order, one at a time (a
        cursor, so memory stays flat however large the store), but those `ignore` names.
        Bounds apply to when each finding was first seen."""
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
        # The categories the ignore file changes (a page that is no case any more: none).
        changed: dict[int, str | None] = {}
        if ignore:
            with self.database.snapshot("reading findings"):
                changed = exclusions(self.database, ignore).categories()
        sql = f"""SELECT d.key, d.site, d.country, d.case_category, d.published, r.type,
                         f.severity, f.masked, r.fingerprint, f.confidence, f.evidence,
                         f.first_seen, f.last_seen, d.id
                  FROM findings f JOIN documents d ON d.id = f.document_id
                  JOIN records r ON r.id = f.record_id
                  {"WHERE " + " AND ".join(where) if where else ""}
                  ORDER BY f.id"""
        rows = self.database.stream(sql, params, "reading findings")
        try:
            for row in rows:
                if ignore and (ignore.ignores_source(row[0]) or ignore.ignores(row[8], row[5])):
                    continue
                category = changed.get(row[13], row[3]) if changed else row[3]
                exported = ExportRow(
                    source=row[0], site=row[1], country=row[2], category=category,
                    published=row[4], type=row[5], severity=row[6], masked=row[7],
                    fingerprint=row[8], confidence=row[9],
                    evidence=tuple(json.loads(row[10])), first_seen=row[11],
                    last_seen=row[12],
                )  # fmt: skip
                if only is None or only.keeps(exported):
                    yield exported
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()

    def forget(
        self,
        *,
        runs: Sequence[int] = (),
        source: Callable[[str], bool] | None = None,
        dry_run: bool = False,
    ) -> Forgotten:
        """Remove the pages `source` matches (by URL or path) and those `runs` first
        recorded, in one transaction (`leakwatch.store.forget`)."""
        self._document_ids.clear()  # ids of removed documents must not be reused
        return forget_pages(self.database, runs=runs, source=source, dry_run=dry_run)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one state of the store (`report --baseline`: both its counts),
        and share what the ignore file changes in it, worked out once."""
        with self.database.snapshot("reading"):
            self._excluded = {}
            try:
                yield
            finally:
                self._excluded = None

    def _exclusions(self, rules: IgnoreRules) -> Exclusions | None:
        """What `rules` change in this store, kept for the snapshot's other reads (outside
        one: None, each read works it out)."""
        if self._excluded is None:
            return None
        if rules not in self._excluded:
            self._excluded[rules] = exclusions(self.database, rules)
        return self._excluded[rules]

    def trend_counts(self, query: TrendQuery) -> TrendCounts:
        """Cases (by category), distinct records and findings per type for each period or
        group, and the totals (what each means: `leakwatch.store.queries`). Every count
        comes from one snapshot, even while other scans record."""
        with self.database.snapshot("counting"):
            return queries.trend_counts(self.database, query, self._exclusions(query.ignore))

    def cases(
        self,
        query: TrendQuery,
        *,
        seen_since: str | None = None,
        run: int | None = None,
        limit: int | None = None,
    ) -> list[CaseRow]:
        """The cases behind `query`'s counts, newest first, the first `limit` of them
        (`leakwatch.store.queries.case_rows`)."""
        with self.database.snapshot("listing cases"):
            return queries.case_rows(
                self.database, query, seen_since=seen_since, run=run, limit=limit,
                excluded=self._exclusions(query.ignore),
            )  # fmt: skip

    def run_started(self, run_id: int | None = None) -> tuple[int, str] | None:
        """A run's id and start (the latest run's when `run_id` is None); None: no such run."""
        sql = "SELECT id, started FROM runs "
        sql += "ORDER BY id DESC LIMIT 1" if run_id is None else "WHERE id = ?"
        rows = self._read(sql, () if run_id is None else (run_id,))
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def _read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        with self.database.errors("reading"):
            return self.database.fetch(sql, params)


_FINDING_INDEX = {name: i for i, name in enumerate(statements.FINDING_PARAMETERS)}
# The array parameters of Statements.upsert_findings, from the per-row parameters.
_ARRAYS = (
    ("documents", "document"), ("fingerprints", "fingerprint"), ("types", "type"),
    ("masks", "masked"), ("severities", "severity"), ("confidences", "confidence"),
    ("evidences", "evidence"), ("lines", "line"), ("cols", "col"),
)  # fmt: skip


def _capture_dict(capture: Capture) -> dict[str, Any]:
    return {"archive": capture.archive, "offset": capture.offset,
            "date": utc_time(capture.date), "digest": capture.digest}  # fmt: skip


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=isinstance(value, dict))
