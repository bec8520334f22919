"""The findings store on real SQLite files and a real PostgreSQL server: schema and
migrations, refusals that leave stores untouched, atomic recording, no raw values at rest,
history, resumable crawls, writers at once. A test taking `store` or `store_location` runs
against both engines."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from leakwatch.errors import StoreError
from leakwatch.models import Category, QueuedUrl, ScanIssue
from leakwatch.store import (
    FindingsStore,
    Location,
    Store,
    TrendQuery,
    default_path,
    document_key,
    is_postgres,
    migrations,
    recorder,
)
from leakwatch.store.country import registry_country, site_country, tld_country
from tests import store_data, synthetic
from tests.conftest import REPO
from tests.store_data import STARTED, finding, local, page, rrns, start
from tests.stores import ENGINES, new_database, rows


def no_ip(address: str) -> str | None:
    return None


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "leakwatch.db"


@pytest.fixture
def store(store_location: Location) -> Iterator[Store]:
    with Store.open(store_location, ip_country=no_ip) as opened:
        yield opened


@pytest.fixture
def sqlite_store(store_path: Path) -> Iterator[Store]:
    with Store.open(store_path, ip_country=no_ip) as opened:
        yield opened


def sqlite_of(store: Store) -> sqlite3.Connection:
    connection = getattr(store.database, "connection", None)
    assert isinstance(connection, sqlite3.Connection)
    return connection


def one(store: Store, sql: str) -> object:
    """The one value a query gives, read through the store's own connection."""
    with store.database.errors("testing"):
        return store.database.fetch(sql)[0][0]


def files_of(path: Path) -> dict[str, bytes]:
    """The store and its side files (-wal, -shm), byte for byte."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}


# -- opening -----------------------------------------------------------------------------------


def test_open_creates_a_private_store_in_wal_mode(store_path: Path) -> None:
    with Store.open(store_path) as store:
        assert store.schema_version == migrations.LATEST
        pragmas = {
            name: sqlite_of(store).execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
        }
        run = start(store)
        store.record(run, findings=[finding("a.txt", "800101-1234560")])
    assert pragmas == {
        "journal_mode": "wal",
        "busy_timeout": 10_000,
        "synchronous": 1,
        "foreign_keys": 1,
    }
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store_path.parent.stat().st_mode) == 0o700
    with Store.open(store_path) as again:  # reopening keeps what was there
        assert again.runs()[0].id == run


def test_wal_side_files_are_private_too(store_path: Path) -> None:
    with Store.open(store_path) as store:
        start(store)
        side = [p for p in store_path.parent.iterdir() if p != store_path]
        assert side, "WAL mode keeps -wal and -shm files while open"
        assert {stat.S_IMODE(p.stat().st_mode) for p in side} == {0o600}


def test_default_path(tmp_path: Path) -> None:
    assert default_path({"LEAKWATCH_DB": str(tmp_path / "x.db")}) == tmp_path / "x.db"
    assert default_path({"LEAKWATCH_HOME": str(tmp_path)}) == tmp_path / "leakwatch.db"


def test_not_sqlite_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 10)
    before = files_of(path)
    for opener in (Store.open, Store.read):
        with pytest.raises(StoreError, match="not a leakwatch store") as caught:
            opener(path)
        assert caught.value.unusable
        assert str(path) in str(caught.value)
        assert "\n" not in str(caught.value)
    assert files_of(path) == before


def test_corrupt_store_is_refused_and_left_untouched(store_path: Path) -> None:
    with Store.open(store_path) as store:
        start(store)
    data = bytearray(store_path.read_bytes())
    data[100:1100] = bytes(random.Random(1).randrange(256) for _ in range(1000))
    store_path.write_bytes(bytes(data))
    before = files_of(store_path)
    for opener in (Store.open, Store.read):
        with pytest.raises(StoreError) as caught:
            opener(store_path)
        assert caught.value.unusable
    assert files_of(store_path) == before


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (body TEXT)")
    connection.commit()
    connection.close()
    before = files_of(path)
    with pytest.raises(StoreError, match="not a leakwatch store") as caught:
        Store.open(path)
    assert caught.value.unusable
    assert files_of(path) == before


def test_store_from_a_newer_leakwatch_is_refused_and_left_untouched(store_path: Path) -> None:
    with Store.open(store_path) as store:
        start(store)
    connection = sqlite3.connect(store_path)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    before = files_of(store_path)
    for opener in (Store.open, Store.read):
        with pytest.raises(StoreError, match="newer leakwatch") as caught:
            opener(store_path)
        assert caught.value.unusable
        assert "99" in str(caught.value)
    assert files_of(store_path) == before


def test_read_never_creates_a_store(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "leakwatch.db"
    with pytest.raises(StoreError, match="does not exist"):
        Store.read(path)
    assert not path.parent.exists()


def test_a_location_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    # /proc refuses new files even to root, who can write anywhere else.
    with pytest.raises(StoreError, match="cannot create") as caught:
        Store.open(Path("/proc/leakwatch-test/leakwatch.db"))
    assert not caught.value.unusable
    if os.geteuid() != 0:  # permissions only bind other users
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(StoreError) as denied:
            Store.open(locked / "leakwatch.db")
        assert not denied.value.unusable


def test_full_disk_stores_nothing_of_the_call_and_the_store_stays_usable(
    sqlite_store: Store,
) -> None:
    store, db = sqlite_store, sqlite_of(sqlite_store)
    run = start(store)
    rng = random.Random(5)
    store.record(run, findings=[finding("/tmp/a.txt", v) for v in rrns(rng, 10)])
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
    big = [finding("/tmp/b.txt", v) for v in rrns(rng, 5_000)]
    with pytest.raises(StoreError, match="disk full") as caught:
        store.record(run, findings=big, document=local("/tmp/b.txt", category=Category.EXPOSURE))
    assert not caught.value.unusable
    count = db.execute("SELECT count(*) FROM findings").fetchone()[0]
    documents = db.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert (count, documents) == (10, 1)
    db.execute("PRAGMA max_page_count = 1073741823")  # space again
    store.record(run, findings=big, document=local("/tmp/b.txt", category=Category.EXPOSURE))
    assert db.execute("SELECT count(*) FROM findings").fetchone()[0] == 5_010


# -- migrations ----------------------------------------------------------------------------------


def test_a_store_made_by_schema_1_is_upgraded_without_losing_rows(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    old = sqlite3.connect(store_path, isolation_level=None)
    assert migrations.apply(old, migrations.MIGRATIONS[:1]) == 1
    old.executescript(
        """
        INSERT INTO crawls (id, started) VALUES (1, '2021-03-01T00:00:00+00:00');
        INSERT INTO runs (id, crawl_id, started, finished, outcome, version, arguments, targets,
                          settings)
            VALUES (1, 1, '2021-03-01T00:00:00+00:00', '2021-03-01T01:00:00+00:00',
                    'completed', '0.0.9', '["scan"]', '[]', '{}');
        INSERT INTO documents (id, key, site, country, country_source, first_seen, last_seen,
                               first_run, last_run, published, category, sha256,
                               findings_by_type)
            VALUES (1, 'https://bbs.example.cn/t/1', 'bbs.example.cn', 'CN', 'tld',
                    '2021-03-01T00:10:00+00:00', '2021-03-01T00:10:00+00:00', 1, 1,
                    '2020-12-30', 'trading', 'abc', '{"kr.rrn": 2}');
        INSERT INTO records (id, fingerprint, type) VALUES (1, 'f1', 'kr.rrn'), (2, 'f2', 'kr.rrn');
        INSERT INTO findings (document_id, record_id, masked, confidence, evidence, first_seen,
                              last_seen, first_run, last_run)
            VALUES (1, 1, '800101-1******', 0.9, '[]', '2021-03-01T00:10:00+00:00',
                    '2021-03-01T00:10:00+00:00', 1, 1),
                   (1, 2, '900101-2******', 0.9, '[]', '2021-03-01T00:10:00+00:00',
                    '2021-03-01T00:10:00+00:00', 1, 1);
        """
    )
    old.close()
    with Store.open(store_path) as store:
        assert store.schema_version == migrations.LATEST
        counts = store.trend_counts(TrendQuery())
        assert [(g.key, g.trading, g.records) for g in counts.groups] == [("2020", 1, 2)]
        assert store.runs()[0].version == "0.0.9"
    assert rows(store_path, "SELECT count(*) FROM findings") == [(2,)]
    assert rows(store_path, "SELECT case_category, case_seen FROM documents") == [
        ("trading", "2021-03-01T00:10:00+00:00")
    ]


def test_a_schema_3_store_remembers_the_payloads_it_read_from_archives(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    old = sqlite3.connect(store_path, isolation_level=None)
    assert migrations.apply(old, migrations.MIGRATIONS[:3]) == 3
    old.executescript(
        """
        INSERT INTO crawls (id, started) VALUES (1, '2021-03-01T00:00:00+00:00');
        INSERT INTO runs (id, crawl_id, started, outcome, version, arguments, targets, settings)
            VALUES (1, 1, '2021-03-01T00:00:00+00:00', 'completed', '0.1.0', '[]', '[]', '{}');
        INSERT INTO documents (id, key, first_seen, last_seen, first_run, last_run, capture)
            VALUES (1, 'http://bbs.example.cn/t/1', '2021-03-01T00:10:00+00:00',
                    '2021-03-01T00:10:00+00:00', 1, 1,
                    '{"archive": "a.warc.gz", "offset": 0, "date": "2021-03-01T00:10:00+00:00",
                      "digest": "sha1:AAAA"}'),
                   (2, 'http://bbs.example.cn/t/2', '2021-03-01T00:10:00+00:00',
                    '2021-03-01T00:10:00+00:00', 1, 1, NULL);
        """
    )
    old.close()
    with Store.open(store_path) as store:
        assert store.schema_version == migrations.LATEST
        assert store.captured("http://bbs.example.cn/t/1", "sha1:AAAA")
        assert not store.captured("http://bbs.example.cn/t/1", "sha1:BBBB")
        assert not store.captured("http://bbs.example.cn/t/2", "sha1:AAAA")


def test_reading_an_older_store_upgrades_it_once(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    old = sqlite3.connect(store_path, isolation_level=None)
    migrations.apply(old, migrations.MIGRATIONS[:1])
    old.close()
    with Store.read(store_path) as reader:
        assert reader.schema_version == migrations.LATEST
        assert reader.runs() == []
        with pytest.raises(StoreError):  # a reader never writes
            reader.start_run(started="x", version="x", arguments=[], targets=[], settings={})


def test_a_store_satisfies_the_recorder_protocol(store: Store) -> None:
    recorder: FindingsStore = store
    run = recorder.start_run(started="x", version="x", arguments=[], targets=[], settings={})
    assert store.runs()[0].id == run


def test_migrations_are_numbered_in_order() -> None:
    versions = [m.version for m in migrations.MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    assert versions[-1] == migrations.LATEST


# -- recording -----------------------------------------------------------------------------------


def at_rest(location: Location) -> bytes:
    """Every byte the engine keeps on disk for the store: the SQLite file and its WAL, or
    the PostgreSQL server's whole data folder (tables and write-ahead log) after a
    checkpoint."""
    if not is_postgres(location):
        return b"".join(files_of(Path(location)).values())
    (folder,) = rows(location, "SHOW data_directory")[0]
    rows(location, "CHECKPOINT")
    return b"".join(p.read_bytes() for p in Path(folder).rglob("*") if p.is_file())


def test_raw_values_and_snippets_are_never_stored(store_location: Location) -> None:
    rng = random.Random(7)
    values = rrns(rng, 20)
    revealed = [finding("https://bbs.example.cn/t/1", v, reveal=True) for v in values]
    assert all(f.value for f in revealed)
    with Store.open(store_location, ip_country=no_ip) as store:
        run = start(store)
        store.record(
            run, findings=revealed, document=page("https://bbs.example.cn/t/1", findings=revealed)
        )
        on_disk = at_rest(store_location)  # with the WAL, before SQLite's checkpoint
    on_disk += at_rest(store_location)
    for value in values:
        assert value.encode() not in on_disk
        assert value.replace("-", "").encode() not in on_disk
    assert "身份证号：".encode() not in on_disk  # the context snippet is not kept
    assert revealed[0].masked.encode() in on_disk
    assert revealed[0].fingerprint.encode() in on_disk


def test_rescanning_a_page_does_not_double_count(store: Store) -> None:
    url = "https://bbs.example.cn/t/1"
    found = [finding(url, v) for v in rrns(random.Random(1), 3)]
    for day in ("2026-01-01", "2026-02-01"):
        run = start(store)
        facts = page(url, findings=found, fetched_at=f"{day}T10:00:00+00:00")
        store.record(run, findings=found, document=facts)
        store.finish_run(run, finished=day, outcome="completed", summary={})
    assert one(store, "SELECT count(*) FROM findings") == 3
    assert one(store, "SELECT count(*) FROM documents") == 1
    seen = store.database.fetch("SELECT DISTINCT first_seen, last_seen FROM findings")
    assert seen == [("2026-01-01T10:00:00+00:00", "2026-02-01T10:00:00+00:00")]
    counts = store.trend_counts(TrendQuery())
    assert counts.total.cases == 1
    assert counts.total.records == 3


def test_a_changed_page_is_updated_and_its_history_kept(store: Store) -> None:
    url = "https://bbs.example.cn/t/9"
    rng = random.Random(2)
    first = [finding(url, v) for v in rrns(rng, 2)]
    run = start(store)
    store.record(
        run,
        findings=first,
        document=page(url, findings=first, sha256="1" * 64, fetched_at="2026-01-01T00:00:00Z"),
    )
    # The post was cleaned: no findings, no category, new content.
    store.record(
        run, document=page(url, category=None, sha256="2" * 64, fetched_at="2026-03-01T00:00:00Z")
    )
    history = store.database.fetch(
        "SELECT sha256, category, seen_from, seen_until FROM document_history"
    )
    assert history == [
        ("1" * 64, "trading", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00")
    ]
    current = store.database.fetch(
        "SELECT sha256, category, case_category, case_seen, version_seen FROM documents"
    )[0]
    assert current == (
        "2" * 64,
        None,
        "trading",
        "2026-01-01T00:00:00+00:00",
        "2026-03-01T00:00:00+00:00",
    )
    # It still counts, once, in the period it was a case.
    counts = store.trend_counts(TrendQuery())
    assert [(g.key, g.trading, g.records) for g in counts.groups] == [("2026", 1, 2)]


def test_findings_in_batches_before_their_document(store: Store) -> None:
    source = "dump.csv"
    values = rrns(random.Random(3), 30)
    run = start(store)
    for part in range(3):  # a large file: findings flushed in batches, facts at the end
        batch = [finding(source, v) for v in values[part * 10 : part * 10 + 10]]
        store.record(run, findings=batch)
    assert store.trend_counts(TrendQuery()).total.records == 0  # not a case yet
    store.record(run, document=local(source, category=Category.EXPOSURE))
    documents = store.database.fetch("SELECT key, category FROM documents")
    assert documents == [(str(Path(source).resolve()), "exposure")]
    counts = store.trend_counts(TrendQuery())
    assert (counts.total.cases, counts.total.records) == (1, 30)


def test_a_large_documents_findings_are_committed_in_batches(
    store: Store, store_location: Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder, "FLUSH_FINDINGS", 10)
    run = start(store)
    sink = recorder.Recorder(store, run)
    values = rrns(random.Random(9), 25)

    def committed() -> int:  # as another process sees the store
        return int(rows(store_location, "SELECT count(*) FROM findings")[0][0])

    for value in values:
        sink(finding("dump.csv", value))
    assert committed() == 20  # two batches of 10, each committed; 5 still held
    # No transaction stays open while the scan goes on: another scan records at once (on
    # SQLite it would wait for the write lock, then fail).
    with Store.open(store_location, ip_country=no_ip) as other:
        other.record(start(other), document=page("https://a.example.cn/1"))
    sink(local("dump.csv", category=Category.EXPOSURE))
    sink.close()
    assert committed() == 25
    assert store.trend_counts(TrendQuery()).total.records == 25


def test_document_keys() -> None:
    assert document_key("https://bbs.example.cn/t/1") == "https://bbs.example.cn/t/1"
    assert document_key("<stdin>") == "<stdin>"
    assert document_key("dump.csv") == str(Path("dump.csv").resolve())
    assert document_key("x/../dump.csv") == str(Path("dump.csv").resolve())


def test_a_failed_call_records_nothing(store: Store) -> None:
    url = "https://bbs.example.cn/t/1"
    found = [finding(url, v) for v in rrns(random.Random(4), 3)]
    with pytest.raises(StoreError):  # run 999 does not exist: a foreign key fails midway
        store.record(
            999,
            findings=found,
            document=page(url, findings=found),
            issues=[ScanIssue("x", "input", "unreadable")],
        )
    for table in ("documents", "findings", "records", "errors"):
        assert one(store, f"SELECT count(*) FROM {table}") == 0


def test_an_interrupt_just_after_begin_does_not_wedge_the_store(sqlite_store: Store) -> None:
    # A Ctrl-C or SIGTERM can land after BEGIN ran and before its block began; the run must
    # still be able to record what it found and say that it was interrupted.
    store, db = sqlite_store, sqlite_of(sqlite_store)
    run = start(store)
    url = "https://bbs.example.cn/t/2"
    found = [finding(url, v) for v in rrns(random.Random(5), 2)]
    db.execute("BEGIN IMMEDIATE")
    store.record(run, findings=found, document=page(url, findings=found))
    store.finish_run(run, finished=STARTED, outcome="interrupted", summary={})
    assert not db.in_transaction
    assert db.execute("SELECT count(*) FROM findings").fetchone()[0] == 2
    assert store.runs()[0].outcome == "interrupted"


def test_batch_is_one_transaction_and_each_call_stays_atomic(store: Store) -> None:
    run = start(store)
    rng = random.Random(8)

    def failing_batch() -> None:
        with store.batch():
            store.record(run, document=page("https://a.example.cn/1"))
            raise RuntimeError("the caller failed")

    with pytest.raises(RuntimeError):
        failing_batch()
    assert one(store, "SELECT count(*) FROM documents") == 0
    with store.batch():
        store.record(run, document=page("https://a.example.cn/1"))
        with pytest.raises(StoreError):
            store.record(999, findings=[finding("https://a.example.cn/2", rrns(rng, 1)[0])])
        store.record(run, document=page("https://a.example.cn/3"))
    keys = [k for (k,) in store.database.fetch("SELECT key FROM documents ORDER BY id")]
    assert keys == ["https://a.example.cn/1", "https://a.example.cn/3"]


def test_a_reader_sees_one_snapshot_while_another_scan_records(
    store: Store, store_location: Location
) -> None:
    run = start(store)
    store.record(run, document=page("https://a.example.cn/1"))
    with Store.read(store_location) as reader, reader.database.snapshot("testing"):
        before = reader.database.fetch("SELECT count(*) FROM documents")
        store.record(run, document=page("https://a.example.cn/2"))  # committed meanwhile
        during = reader.database.fetch("SELECT count(*) FROM documents")
    assert before == during == [(1,)]
    assert rows(store_location, "SELECT count(*) FROM documents") == [(2,)]


def test_errors_and_runs_are_recorded(store: Store) -> None:
    run = start(store, ["https://bbs.example.cn/"])
    store.record(run, issues=[ScanIssue("https://bbs.example.cn/x", "timeout", "timed out")])
    store.finish_run(
        run,
        finished="2026-11-28T10:00:00+00:00",
        outcome="interrupted",
        summary={"documents": 3, "findings": 5},
    )
    listed = store.runs()
    assert len(listed) == 1
    assert (listed[0].outcome, listed[0].errors, listed[0].summary) == (
        "interrupted",
        1,
        {"documents": 3, "findings": 5},
    )
    assert listed[0].targets == ("https://bbs.example.cn/",)
    with pytest.raises(ValueError, match="outcome"):
        store.finish_run(run, finished="x", outcome="done", summary={})


def test_export_streams_masked_findings_with_their_document(store: Store) -> None:
    url = "https://bbs.example.cn/t/1"
    found = [finding(url, v, reveal=True) for v in rrns(random.Random(6), 3)]
    run = start(store)
    store.record(run, findings=found, document=page(url, findings=found, published="2024-02-02"))
    exported = list(store.export())
    assert [row.masked for row in exported] == [f.masked for f in found]
    assert {(row.source, row.site, row.category, row.published) for row in exported} == {
        (url, "bbs.example.cn", "trading", "2024-02-02")
    }
    assert list(store.export(countries=("TW",))) == []


# -- site country ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "country"),
    [
        ("bbs.example.cn", "CN"),
        ("forum.example.com.tw", "TW"),
        ("shop.example.hk", "HK"),
        ("www.example.co.jp", "JP"),
        ("example.kr", "KR"),
        ("example.co.uk", "GB"),
        ("example.中国", "CN"),
        ("example.xn--kpry57d", "TW"),
        ("example.com", None),
        ("market.example.cc", None),  # used as a generic name, not by Cocos Islands sites
        ("example.tv", None),
        ("localhost", None),
        ("203.0.113.9", None),
    ],
)
def test_tld_country(host: str, country: str | None) -> None:
    assert tld_country(host) == country


def test_site_country_annotation_then_tld_then_ip(store: Store) -> None:
    lookups: list[str] = []

    def lookup(address: str) -> str | None:
        lookups.append(address)
        return "JP"

    def fetch(url: str, country: str | None = None, address: str | None = "198.51.100.7"):  # type: ignore[no-untyped-def]
        facts = page(url, country=country, address=address)
        assert facts.fetch is not None
        return facts.fetch

    decided = site_country(fetch("https://bbs.example.cn/", country="tw"), lookup)
    assert decided is not None
    assert (decided.country, decided.source) == ("TW", "annotation")
    decided = site_country(fetch("https://bbs.example.cn/"), lookup)
    assert decided is not None
    assert (decided.country, decided.source) == ("CN", "tld")
    assert lookups == []
    decided = site_country(fetch("https://forum.example.com/"), lookup)
    assert decided is not None
    assert (decided.country, decided.source) == ("JP", "ip")
    assert site_country(fetch("https://forum.example.com/", address=None), lookup) is None


def test_offline_ip_lookup() -> None:
    assert registry_country("1.0.16.1") == "JP"  # APNIC's long-standing test block
    for private in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "fe80::1", "junk"):
        assert registry_country(private) is None


def test_country_is_stored_with_how_it_was_decided(store_location: Location) -> None:
    with Store.open(store_location, ip_country=lambda address: "HK") as store:
        run = start(store)
        store.record(run, document=page("https://a.example.cn/1"))
        store.record(run, document=page("https://b.example.com/1", address="198.51.100.7"))
        store.record(run, document=page("https://c.example.com/1", country="TW"))
        store.record(run, document=local("notes.txt", category=Category.EXPOSURE))
    assert rows(store_location, "SELECT country, country_source FROM documents ORDER BY id") == [
        ("CN", "tld"),
        ("HK", "ip"),
        ("TW", "annotation"),
        (None, None),
    ]


# -- crawl frontier and resumption ------------------------------------------------------------

TARGET = "https://bbs.example.cn/"


def queued(*paths: str, depth: int = 1) -> list[QueuedUrl]:
    return [QueuedUrl(TARGET + p, depth, TARGET) for p in paths]


def test_resumable_finds_the_unfinished_crawl_of_the_same_targets(store: Store) -> None:
    run = start(store, [TARGET])
    store.record(run, document=page(TARGET), done=[TARGET], queued=queued("a", "b", "c"))
    store.record(run, document=page(TARGET + "a"), done=[TARGET + "a"], queued=queued("b", "d"))
    store.finish_run(run, finished="x", outcome="interrupted", summary={})
    resume = store.resumable([TARGET])
    assert resume is not None
    assert (resume.run_id, resume.targets, resume.settings) == (run, (TARGET,), {"jobs": 1})
    assert resume.done == {TARGET, TARGET + "a"}
    assert [q.url for q in resume.pending] == [TARGET + "b", TARGET + "c", TARGET + "d"]
    assert store.resumable(["https://other.example.tw/"]) is None
    assert store.resumable(None) == resume
    # The continuation shares the crawl; once it completes there is nothing to resume.
    again = start(store, [TARGET], resumes=run)
    continuing = store.resumable([TARGET])  # the continuation, until it completes
    assert continuing is not None
    assert continuing.run_id == again
    store.record(again, document=page(TARGET + "b"), done=[TARGET + "b"])
    follow = store.resumable([TARGET])
    assert follow is not None
    assert (follow.run_id, follow.crawl_id) == (again, resume.crawl_id)
    assert follow.done == {TARGET, TARGET + "a", TARGET + "b"}
    store.finish_run(again, finished="x", outcome="completed", summary={})
    assert store.resumable([TARGET]) is None


def test_a_fresh_crawl_supersedes_an_interrupted_one(store: Store) -> None:
    old = start(store, [TARGET])
    store.record(old, queued=queued("a"))
    store.finish_run(old, finished="x", outcome="interrupted", summary={})
    new = start(store, [TARGET])
    store.finish_run(new, finished="y", outcome="completed", summary={})
    assert store.resumable([TARGET]) is None


RUNNING_CRAWLER = """
import sys, time
sys.path.insert(0, {repo!r})
from leakwatch.store import Store
from tests.store_data import page, start
store = Store.open({location!r}, ip_country=lambda a: None)
target = "https://bbs.example.cn/"
run = start(store, [target])
store.record(run, document=page(target), done=[target])
print(run, flush=True)
time.sleep(60)  # still crawling, until killed
"""


def test_a_crawl_still_running_elsewhere_is_not_resumable(
    store: Store, store_location: Location
) -> None:
    script = RUNNING_CRAWLER.format(repo=str(REPO), location=str(store_location))
    crawler = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert crawler.stdout is not None
        run = int(crawler.stdout.readline())
        assert store.resumable([TARGET]) is None
        assert [(r.id, r.running) for r in store.runs()] == [(run, True)]
    finally:
        crawler.kill()
        crawler.communicate(timeout=30)
    resume = store.resumable([TARGET])
    assert resume is not None
    assert (resume.run_id, resume.done) == (run, {TARGET})
    assert not store.runs()[0].running


KILLED_CRAWLER = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from leakwatch.models import QueuedUrl
from leakwatch.store import Store
from tests.store_data import page, start
store = Store.open({location!r}, ip_country=lambda a: None)
target = "https://bbs.example.cn/"
run = start(store, [target])
store.record(run, document=page(target), done=[target],
             queued=[QueuedUrl(target + str(i), 1, target) for i in range(5)])
for i in range(3):
    url = target + str(i)
    store.record(run, document=page(url), done=[url],
                 queued=[QueuedUrl(url + "/next", 2, target)])
os.kill(os.getpid(), signal.SIGKILL)  # power cut: no finish_run, no close
"""


def test_a_crawl_killed_with_sigkill_resumes_where_it_stopped(store_location: Location) -> None:
    script = KILLED_CRAWLER.format(repo=str(REPO), location=str(store_location))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    with Store.open(store_location) as store:
        resume = store.resumable([TARGET])
        assert resume is not None
        assert store.runs()[0].outcome is None
        assert resume.done == {TARGET, TARGET + "0", TARGET + "1", TARGET + "2"}
        assert [q.url for q in resume.pending] == [
            TARGET + "3",
            TARGET + "4",
            TARGET + "0/next",
            TARGET + "1/next",
            TARGET + "2/next",
        ]
        assert {q.depth for q in resume.pending} == {1, 2}
    if not is_postgres(store_location):
        assert rows(store_location, "PRAGMA integrity_check") == [("ok",)]


# -- two writers -----------------------------------------------------------------------------------

WRITER = """
import random, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
PAGES = {pages}
from leakwatch.store import Store
from tests import synthetic
from tests.store_data import finding, page, start
worker = {worker}
go = Path({go!r})
print("ready", flush=True)
while not go.exists():  # both writers start together
    time.sleep(0.005)
with Store.open({location!r}, ip_country=lambda a: None) as store:
    run = start(store)
    for i in range(PAGES):
        # Half the pages are seen by both writers (same URL, same identifiers).
        n = i if i % 2 else 1000 * (worker + 1) + i
        url = "https://bbs.example.cn/t/" + str(n)
        local = random.Random(n)
        found = [finding(url, synthetic.rrn(local)) for _ in range(10)]
        store.record(run, findings=found, document=page(url, findings=found))
    store.finish_run(run, finished="x", outcome="completed", summary={{}})
print("ok")
"""


def test_two_processes_recording_at_once_lose_nothing(
    store_location: Location, tmp_path: Path
) -> None:
    pages = 300
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER.format(
                    repo=str(REPO), location=str(store_location), worker=w, go=str(go), pages=pages
                ),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in (0, 1)
    ]
    for writer in writers:
        assert writer.stdout is not None
        assert writer.stdout.readline() == b"ready\n"
    go.touch()  # neither has created the store: both race to make it, too
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
        assert out.decode().strip() == "ok"
    shared = {f"https://bbs.example.cn/t/{i}" for i in range(pages) if i % 2}
    own = {
        f"https://bbs.example.cn/t/{1000 * (w + 1) + i}"
        for w in (0, 1)
        for i in range(pages)
        if not i % 2
    }
    keys = {k for (k,) in rows(store_location, "SELECT key FROM documents")}
    assert keys == shared | own
    expected = 0
    for url in keys:
        n = int(url.rsplit("/", 1)[1])
        local_rng = random.Random(n)
        expected += len({synthetic.rrn(local_rng) for _ in range(10)})
    assert rows(store_location, "SELECT count(*) FROM findings") == [(expected,)]
    assert rows(store_location, "SELECT count(*), min(outcome) FROM runs") == [(2, "completed")]
    if not is_postgres(store_location):
        assert rows(store_location, "PRAGMA integrity_check") == [("ok",)]


OPENER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.store_data import start
from leakwatch.store import Store
go = Path({go!r})
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
for location in {stores!r}:  # the openers move through the stores side by side
    with Store.open(location) as store:
        start(store)
print("ok")
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_processes_creating_the_same_store_at_once_all_succeed(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # SQLite answers BUSY at once (no busy handler) to a switch to WAL that races another;
    # PostgreSQL makes the tables of one database in one transaction at a time.
    go = tmp_path / "go"
    if engine == "sqlite":
        stores: list[Location] = [tmp_path / f"store{n}.db" for n in range(8)]
    else:
        server = request.getfixturevalue("postgres_url")
        stores = [new_database(server) for _ in range(4)]
    script = OPENER.format(repo=str(REPO), go=str(go), stores=[str(s) for s in stores])
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for opener in openers:  # all started and waiting: then they go together
        assert opener.stdout is not None
        assert opener.stdout.readline() == b"ready\n"
    go.touch()
    for opener in openers:
        out, err = opener.communicate(timeout=60)
        assert opener.returncode == 0, err.decode()
        assert out.decode().strip() == "ok"
    for location in stores:
        assert rows(location, "SELECT count(*) FROM runs") == [(4,)]


def test_kisa_store_counts(store_location: Location) -> None:
    with Store.read(store_data.kisa_store(store_location)) as store:
        counts = store.trend_counts(TrendQuery())
    by_year = {g.key: (g.exposure, g.trading) for g in counts.groups}
    assert by_year == {"2020": (1_797, 2_500), "2023": (1_522, 3_892)}
    assert counts.total.cases == 9_711
    assert json.loads(json.dumps(counts.total.findings_by_type)) == {"kr.rrn": 97}
