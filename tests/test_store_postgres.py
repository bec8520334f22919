"""What only a PostgreSQL store has to prove, on a real throwaway server: its schema
marker and migrations, the databases it refuses and leaves as they were, clear one-line
errors (no server, no psycopg, a password never shown), and `report`, `export` and `runs`
answering as SQLite does for the same scans, recorded by concurrent scans.

Every other store test runs against both engines (the `store` and `store_location`
fixtures of tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leakwatch.errors import StoreError
from leakwatch.safe_text import hide_password
from leakwatch.store import Store, TrendQuery, migrations
from leakwatch.store.postgres import to_pyformat
from tests.conftest import REPO, Result, assert_one_line_error
from tests.store_data import page, start
from tests.stores import new_database, rows

Cli = Callable[..., Result]


@pytest.fixture
def database(postgres_url: str) -> str:
    return new_database(postgres_url)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_parameters_are_converted_outside_quotes_and_casts() -> None:
    sql = "SELECT '?:x%', a::json ->> 'k', ? , :name, 5 % 2 FROM t WHERE b = :other"
    assert to_pyformat(sql) == (
        "SELECT '?:x%%', a::json ->> 'k', %s , %(name)s, 5 %% 2 FROM t WHERE b = %(other)s"
    )


def test_a_url_is_shown_without_its_password() -> None:
    assert hide_password("postgresql://ana:s3cret@db.example:5433/lw") == (
        "postgresql://ana:***@db.example:5433/lw"
    )
    assert hide_password("postgresql://ana@db/lw") == "postgresql://ana@db/lw"
    assert hide_password("postgresql://ana:s3cret@[::1]:5432/lw") == (
        "postgresql://ana:***@[::1]:5432/lw"
    )
    assert hide_password("postgresql://db/lw?user=ana&password=s3cret&sslmode=require") == (
        "postgresql://db/lw?user=ana&password=***&sslmode=require"
    )
    assert "s3cret" not in hide_password("postgresql://ana:s3cret@db:port/lw")


def test_a_new_database_gets_the_latest_schema_and_its_marker(database: str) -> None:
    with Store.open(database) as store:
        assert store.schema_version == migrations.LATEST
        assert store.location == database
    assert rows(database, "SELECT application, version FROM leakwatch_schema") == [
        ("leakwatch", migrations.LATEST)
    ]
    tables = {t for (t,) in rows(database, "SELECT tablename FROM pg_tables WHERE schemaname = ?",
                                 ("public",))}  # fmt: skip
    assert {"runs", "documents", "records", "findings", "frontier", "captures"} <= tables


def test_a_schema_1_store_is_upgraded_without_losing_rows(database: str) -> None:
    rows(database, "CREATE TABLE leakwatch_schema (application text NOT NULL, version integer)")
    rows(database, "INSERT INTO leakwatch_schema VALUES ('leakwatch', 1)")
    for statement in migrations.MIGRATIONS[0].postgres:
        rows(database, statement)
    for statement in (
        "INSERT INTO crawls (id, started) VALUES (1, '2021-03-01T00:00:00+00:00')",
        """INSERT INTO runs (id, crawl_id, started, finished, outcome, version, arguments,
               targets, settings)
           VALUES (1, 1, '2021-03-01T00:00:00+00:00', '2021-03-01T01:00:00+00:00',
                   'completed', '0.0.9', '["scan"]', '[]', '{}')""",
        """INSERT INTO documents (id, key, site, country, country_source, first_seen, last_seen,
               first_run, last_run, published, category, sha256, findings_by_type)
           VALUES (1, 'https://bbs.example.cn/t/1', 'bbs.example.cn', 'CN', 'tld',
                   '2021-03-01T00:10:00+00:00', '2021-03-01T00:10:00+00:00', 1, 1,
                   '2020-12-30', 'trading', 'abc', '{"kr.rrn": 2}')""",
        """INSERT INTO records (id, fingerprint, type)
           VALUES (1, 'f1', 'kr.rrn'), (2, 'f2', 'kr.rrn')""",
        """INSERT INTO findings (document_id, record_id, masked, confidence, evidence,
               first_seen, last_seen, first_run, last_run)
           VALUES (1, 1, '800101-1******', 0.9, '[]', '2021-03-01T00:10:00+00:00',
                   '2021-03-01T00:10:00+00:00', 1, 1),
                  (1, 2, '900101-2******', 0.9, '[]', '2021-03-01T00:10:00+00:00',
                   '2021-03-01T00:10:00+00:00', 1, 1)""",
    ):
        rows(database, statement)
    with Store.read(database) as store:  # a reader upgrades an older store once
        assert store.schema_version == migrations.LATEST
        counts = store.trend_counts(TrendQuery())
        assert [(g.key, g.trading, g.records) for g in counts.groups] == [("2020", 1, 2)]
        assert store.runs()[0].version == "0.0.9"
    assert rows(database, "SELECT case_category, case_seen FROM documents") == [
        ("trading", "2021-03-01T00:10:00+00:00")
    ]
    with Store.open(database) as store:  # identities go on after the ids that were there
        run = start(store)
        assert run == 2


def test_a_store_from_a_newer_leakwatch_is_refused_and_left_untouched(database: str) -> None:
    Store.open(database).close()
    rows(database, "UPDATE leakwatch_schema SET version = 99")
    before = rows(database, "SELECT count(*) FROM runs")
    for opening in (Store.open, Store.read):
        with pytest.raises(StoreError, match="newer leakwatch") as refused:
            opening(database)
        assert refused.value.unusable
    assert rows(database, "SELECT version FROM leakwatch_schema") == [(99,)]
    assert rows(database, "SELECT count(*) FROM runs") == before


def test_another_applications_database_is_refused_and_left_untouched(database: str) -> None:
    rows(database, "CREATE TABLE customers (id integer, name text)")
    with pytest.raises(StoreError, match="not a leakwatch store") as refused:
        Store.open(database)
    assert refused.value.unusable
    tables = rows(database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert tables == [("customers",)]


def test_a_reader_never_writes(database: str) -> None:
    with pytest.raises(StoreError, match="no leakwatch store") as empty:
        Store.read(database)
    assert empty.value.unusable
    assert rows(database, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    Store.open(database).close()
    with Store.read(database) as reader:
        with pytest.raises(StoreError, match="read-only"):
            reader.start_run(started="x", version="x", arguments=[], targets=[], settings={})
        with pytest.raises(StoreError):
            reader.record(1, document=page("https://bbs.example.cn/t/1"))
    assert rows(database, "SELECT count(*) FROM runs") == [(0,)]


def test_no_server_is_one_line_without_the_password(cli: Cli, tmp_path: Path) -> None:
    dump = tmp_path / "d.csv"
    dump.write_text("x\n", encoding="utf-8")
    url = f"postgresql://ana:s3cret@127.0.0.1:{closed_port()}/leakwatch"
    for command in (["scan", str(dump)], ["report"], ["export"], ["runs"]):
        result = cli(*command, "--db", url)
        assert_one_line_error(result, 3, "cannot connect", "postgresql://ana:***@127.0.0.1:")
        assert "s3cret" not in result.stderr + result.stdout
    via_env = cli("report", env={"LEAKWATCH_DB": url})
    assert_one_line_error(via_env, 3, "cannot connect")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ana:s3cret@127.0.0.1:port/x",
        "postgresql://ana:s3cret@[::1/db",  # libpq quotes the whole URL in its complaint
        "postgresql://ana:p%zzs3cret@127.0.0.1/db",  # ... and the bad token
    ],
)
def test_a_malformed_url_is_a_usage_error_without_the_password(cli: Cli, url: str) -> None:
    result = cli("report", "--db", url)
    assert_one_line_error(result, 2, "not a usable PostgreSQL URL")
    assert "s3cret" not in result.stderr


def test_a_database_that_does_not_exist_is_a_usage_error(cli: Cli, postgres_url: str) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    assert_one_line_error(cli("report", "--db", missing), 2, "does not exist")


def test_another_scheme_is_not_taken_for_a_file(cli: Cli, tmp_path: Path) -> None:
    for scheme in ("mysql://ana@db/lw", "HTTP://db/lw"):
        result = cli("report", "--db", scheme, cwd=tmp_path)
        assert_one_line_error(result, 2, "--db takes a file path or a postgresql:// URL")
    assert {p.name for p in tmp_path.iterdir()} <= {"home"}  # no file made of a URL
    upper = cli("report", "--db", "POSTGRESQL://ana@127.0.0.1:1/lw", cwd=tmp_path)
    assert_one_line_error(upper, 2, "not a usable PostgreSQL URL")  # libpq wants lowercase
    assert {p.name for p in tmp_path.iterdir()} <= {"home"}


def test_a_password_is_never_recorded_or_shown(cli: Cli, tmp_path: Path, database: str) -> None:
    # The test server trusts loopback: any password is accepted, and must go nowhere.
    host = database.split("@", 1)[1]
    in_user = f"postgresql://leakwatch:s3cret@{host}"
    in_query = f"postgresql://{host}?user=leakwatch&password=s3cret"
    dump = tmp_path / "d.csv"
    dump.write_text("x\n", encoding="utf-8")
    for command in (["scan", str(dump), "--db", in_user], ["scan", str(dump), f"--db={in_query}"]):
        result = cli(*command, "-f", "json")
        assert result.code == 0, result.stderr
        assert "s3cret" not in result.stdout + result.stderr
    listed = cli("runs", "--db", in_user, "-f", "json")
    report = cli("report", "--db", in_query, "-f", "json")
    assert listed.code == report.code == 0
    assert "s3cret" not in listed.stdout + report.stdout
    assert "***" in report.stdout  # the report names its store, password hidden
    stored = rows(database, "SELECT arguments, settings FROM runs")
    assert len(stored) == 2
    assert "s3cret" not in json.dumps(stored)


def test_stores_in_two_schemas_of_one_database_keep_their_runs_apart(database: str) -> None:
    rows(database, "CREATE SCHEMA a")
    rows(database, "CREATE SCHEMA b")
    in_a, in_b = (f"{database}?options=-csearch_path%3D{name}" for name in ("a", "b"))
    with Store.open(in_a) as first, Store.open(in_b) as second:
        assert start(first, ["https://bbs.example.cn/"]) == 1
        assert start(second, ["https://bbs.example.cn/"]) == 1  # not held up by a's run 1
        with Store.read(in_b) as reader:
            assert reader.runs()[0].running
    with Store.open(in_a) as first_again, Store.read(in_b) as reader:
        start(first_again, ["https://forum.example.tw/"])  # a's run 2 is alive meanwhile
        assert not reader.runs()[0].running  # b's run 1 ended with its connection
        assert reader.resumable(["https://bbs.example.cn/"]) is not None


def test_without_psycopg_the_error_says_what_to_install(tmp_path: Path, database: str) -> None:
    # The extra cannot be uninstalled here: hide the module from the one process instead.
    script = (
        "import sys; sys.modules['psycopg'] = None; sys.argv = ['leakwatch', 'report', "
        f"'--db', {database!r}]; from leakwatch.cli import main; main()"
    )
    env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert_one_line_error(
        Result(done.returncode, done.stdout, done.stderr), 2, "pip install 'leakwatch[postgres]'"
    )


# -- the same answers as SQLite ------------------------------------------------------------------


def yearly_archives(folder: Path) -> list[Path]:
    """The example site as five yearly crawls (WARC files), as `make demo-archive` makes."""
    spec = importlib.util.spec_from_file_location(
        "archive_demo", REPO / "examples" / "archive_demo.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    files: list[Path] = module.write_archives(folder)
    return files


def answers(cli: Cli, db: str) -> dict[str, Any]:
    """What report, export and runs say about a store, less what differs by nature (when the
    report was made, which store, when and where each run ran)."""
    said: dict[str, Any] = {}
    for name, options in {
        "yearly": [],
        "first-seen": ["--year-basis", "first-seen"],
        "by-site": ["--by", "site"],
        "by-country": ["--by", "country"],
        "by-type": ["--by", "type"],
        "by-month": ["--by", "month", "--since", "2021-01-01", "--until", "2023-12-31"],
        "baseline": ["--baseline", "2020"],
    }.items():
        result = cli("report", "--db", db, "-f", "json", *options)
        assert result.code == 0, result.stderr
        report = json.loads(result.stdout)
        report.pop("generated", None)
        report.pop("store", None)
        said[name] = report
    exported = cli("export", "--db", db, "-f", "jsonl")
    assert exported.code == 0, exported.stderr
    said["export"] = sorted(exported.stdout.splitlines())
    listed = cli("runs", "--db", db, "-f", "json")
    assert listed.code == 0, listed.stderr
    # Not each run's document count: a scan skips the captures an earlier one recorded,
    # which scans at once cannot.
    said["runs"] = sorted(
        (run["state"], json.dumps(run["targets"]), run["errors"])
        for run in json.loads(listed.stdout)["runs"]
    )
    return said


def test_report_export_and_runs_answer_as_sqlite_does(
    cli: Cli, tmp_path: Path, database: str
) -> None:
    (tmp_path / "warcs").mkdir()
    warcs = yearly_archives(tmp_path / "warcs")
    assert len(warcs) == 5
    scans = [[str(w) for w in warcs[:2]], [str(w) for w in warcs[2:4]], [str(warcs[4]), "-j", "2"]]
    sqlite = str(tmp_path / "same.db")
    for scan in scans:  # one after the other
        result = cli("scan", *scan, "--db", sqlite, "-q")
        assert result.code in (0, 1), result.stderr
    env = {**os.environ, "LEAKWATCH_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    writers = [  # all at once, into one PostgreSQL store
        subprocess.Popen(
            [sys.executable, "-m", "leakwatch", "scan", *scan, "--db", database, "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        for scan in scans
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode in (0, 1), err.decode()
    on_sqlite, on_postgres = answers(cli, sqlite), answers(cli, database)
    assert on_sqlite["yearly"]["totals"]["cases"] > 5  # the comparison compares something
    assert len(on_sqlite["export"]) > 10
    for name in on_sqlite:
        assert on_postgres[name] == on_sqlite[name], name


LOST = """
import sys
sys.path.insert(0, {repo!r})
import psycopg
from leakwatch.errors import StoreError
from leakwatch.store import Store
from tests.store_data import page, start
with Store.open({database!r}) as store:
    run = start(store)
    backend = store.database.connection.info.backend_pid
    with psycopg.connect({database!r}, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    try:
        store.record(run, document=page("https://bbs.example.cn/t/1"))
    except StoreError as exc:
        print("StoreError:", exc)
"""


def test_a_connection_lost_mid_run_is_one_store_error(database: str) -> None:
    # In a process of its own: pytest's log capture would hide what psycopg prints.
    script = LOST.format(repo=str(REPO), database=database)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("StoreError: store postgresql://"), done.stdout
    assert done.stderr == ""  # psycopg's own notes about the broken pipeline are not printed
    assert rows(database, "SELECT count(*) FROM documents") == [(0,)]
