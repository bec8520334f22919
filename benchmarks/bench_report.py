"""Trend report speed over a large store, next to a naive baseline in the same invocation; and
how fast the store records.

    python benchmarks/bench_report.py               # 1,000,000 findings on 100,000 documents
    python benchmarks/bench_report.py --repeat 5    # best of 5 runs of each
    python benchmarks/bench_report.py --documents 10000 --findings 100000   # a quick look
    python benchmarks/bench_report.py --postgres local  # the same on a PostgreSQL store too
    python benchmarks/bench_report.py --record-only     # only how fast the store records

With `--postgres URL` (a server where the user may create databases) or `--postgres local`
(a throwaway server made with initdb/pg_ctl for the run), the same store is also seeded into
a new PostgreSQL database, and its reports and recording rates are measured beside SQLite's,
its answers checked against SQLite's.

The store is seeded once (through Store.record, in batches, into the real schema), kept in
benchmarks/.data/ and reused while its parameters and generator version match. Then
`leakwatch report -f json` runs as users run it (a subprocess, interpreter start-up
included), and so does the baseline (`--run-baseline DB`): SELECT every finding joined with
its document and aggregate in Python, what a first version would do. Both must give the same
cases and records per year; the run says whether they do. No identifier is generated: the
store holds fingerprints (random hex) and masked forms only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_detect

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / ".data"
GENERATOR_VERSION = 1
TARGET_SECONDS = 2.0
TYPES = (
    ("kr.rrn", 40),
    ("kr.phone", 30),
    ("kr.passport", 8),
    ("kr.card", 8),
    ("kr.bank_account", 6),
    ("kr.driver_license", 4),
    ("kr.rrn.masked", 4),
)
TLDS = (("cn", 50), ("tw", 15), ("hk", 10), ("com", 25))


# -- the store ------------------------------------------------------------------------------------


def seed_store(path: Path | str, documents: int, findings: int, seed: int) -> float:
    """Write the store; returns findings recorded per second (batched, one commit per 1,000
    documents)."""
    sys.path.insert(0, str(ROOT / "src"))
    from leakwatch.models import Category, DocumentFacts, FetchInfo, Finding, Severity
    from leakwatch.store import Store

    rng = random.Random(seed)
    types = [t for t, w in TYPES for _ in range(w)]
    tlds = [t for t, w in TLDS for _ in range(w)]
    hosts = [f"site{i}.example.{rng.choice(tlds)}" for i in range(2_000)]
    pool = max(1, findings * 6 // 10)  # 60% distinct records: identifiers recur across pages
    per_document = findings / documents
    recorded = 0
    started = time.perf_counter()
    with Store.open(path, ip_country=lambda address: None) as store:
        run = store.start_run(
            started="2026-11-28T00:00:00+00:00",
            version="bench",
            arguments=["bench"],
            targets=[],
            settings={},
        )
        for first in range(0, documents, 1_000):
            with store.batch():
                for n in range(first, min(first + 1_000, documents)):
                    host = rng.choice(hosts)
                    url = f"https://{host}/thread/{n}"
                    year = rng.randint(2019, 2025)
                    published = (
                        f"{year}-{rng.randint(1, 12):02d}-15" if rng.random() < 0.6 else None
                    )
                    seen = f"{min(2026, year + rng.randint(0, 1))}-{rng.randint(1, 12):02d}-01"
                    want = findings - recorded if n == documents - 1 else int(per_document)
                    want += 1 if rng.random() < per_document % 1 else 0
                    batch = []
                    for _ in range(max(0, min(want, findings - recorded))):
                        k = rng.randrange(pool)
                        type_ = types[k % len(types)]
                        batch.append(
                            Finding(
                                source=url,
                                type=type_,
                                pattern=type_,
                                label=type_,
                                severity=Severity.HIGH,
                                masked=f"{k % 999_999:06d}-*******",
                                fingerprint=hashlib.sha256(f"{seed}:{k}".encode()).hexdigest(),
                                confidence=0.9,
                                evidence=("checksum", "context:身份证号"),
                                line=1,
                                column=1,
                                context="",
                            )
                        )
                    recorded += len(batch)
                    by_type = Counter(f.type for f in batch)
                    roll = rng.random()
                    category = (
                        Category.TRADING
                        if roll < 0.4
                        else Category.EXPOSURE
                        if roll < 0.8
                        else None
                    )
                    facts = DocumentFacts(
                        source=url,
                        media_type="text/html",
                        size=20_000,
                        encoding="utf-8",
                        encoding_source="meta",
                        category=category,
                        category_evidence=(),
                        published=published,
                        published_source="meta" if published else None,
                        findings=len(batch),
                        findings_by_type=dict(by_type),
                        content_sha256=hashlib.sha256(url.encode()).hexdigest(),
                        fetch=FetchInfo(
                            url=url,
                            final_url=url,
                            site=host,
                            target=f"https://{host}/",
                            depth=1,
                            status=200,
                            fetched_at=f"{seen}T00:00:00+00:00",
                            address=None,
                            country="US" if host.endswith(".com") else None,
                        ),
                    )
                    store.record(run, findings=batch, document=facts)
        store.finish_run(
            run,
            finished="2026-11-28T01:00:00+00:00",
            outcome="completed",
            summary={"documents": documents, "findings": recorded},
        )
    return recorded / (time.perf_counter() - started)


def record_rates(seed: int, postgres: str | None = None) -> dict[str, float]:
    """Findings per second through Store.record without batching: crawl-style (each page,
    10 findings, its own transaction) and dump-style (one file's findings in calls of 5,000),
    into new SQLite files or (`postgres`: a server's URL) new PostgreSQL databases."""
    sys.path.insert(0, str(ROOT / "src"))
    from leakwatch.models import Category, DocumentFacts, Finding, QueuedUrl, Severity
    from leakwatch.store import Store
    from leakwatch.store.recorder import Recorder

    def found(source: str, start: int, count: int) -> list[Finding]:
        return [
            Finding(
                source=source,
                type="kr.rrn",
                pattern="kr.rrn",
                label="rrn",
                severity=Severity.CRITICAL,
                masked="******-*******",
                fingerprint=hashlib.sha256(f"{seed}:{k}".encode()).hexdigest(),
                confidence=0.9,
                evidence=("checksum",),
                line=k,
                column=1,
                context="",
            )
            for k in range(start, start + count)
        ]

    def facts(source: str, count: int) -> DocumentFacts:
        return DocumentFacts(
            source,
            "text/plain",
            1,
            "utf-8",
            "utf-8",
            Category.EXPOSURE,
            (),
            None,
            None,
            count,
            {"kr.rrn": count},
            "0" * 64,
        )

    rates = {}
    with tempfile.TemporaryDirectory() as folder:

        def new_store(name: str) -> Path | str:
            return new_database(postgres, name) if postgres else Path(folder) / f"{name}.db"

        with Store.open(new_store("pages"), ip_country=lambda a: None) as store:
            run = store.start_run(
                started="x", version="bench", arguments=[], targets=[], settings={}
            )
            urls = [f"https://bbs.example.cn/t/{i}" for i in range(3_000)]
            pages = [(url, found(url, i * 10, 10)) for i, url in enumerate(urls)]
            started = time.perf_counter()
            for url, batch in pages:
                store.record(
                    run,
                    findings=batch,
                    document=facts(url, 10),
                    done=[url],
                    queued=[QueuedUrl(url + "/next", 2, "https://bbs.example.cn/")],
                )
            rates["crawl pages (10 findings, 1 transaction each)"] = 30_000 / (
                time.perf_counter() - started
            )
        with Store.open(new_store("dump"), ip_country=lambda a: None) as store:
            run = store.start_run(
                started="x", version="bench", arguments=[], targets=[], settings={}
            )
            dump = found("dump.csv", 0, 300_000)
            started = time.perf_counter()
            sink = Recorder(store, run)  # as a scan records them
            for finding in dump:
                sink(finding)
            sink(facts("dump.csv", 300_000))
            sink.close()
            rates["a dump (300,000 findings, through the scan's Recorder)"] = 300_000 / (
                time.perf_counter() - started
            )
        if postgres is None:
            rates["floor: the same rows, bare SQLite INSERTs"] = sqlite_floor(
                Path(folder) / "floor.db", dump
            )
    return rates


def sqlite_floor(path: Path, findings: list[Any]) -> float:
    """Findings per second for the least SQLite can do with a dump's findings through
    Python's sqlite3: their records and rows inserted by plain INSERTs (no upsert, no
    lookups, no foreign keys, no copies of the document's facts), 50,000 to a transaction,
    into tables with the store's keys (records unique on fingerprint and type). The yardstick
    for `Store.record`: what is left above it is the store's own work."""
    import sqlite3

    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA cache_size = -16384")
    connection.execute("""CREATE TABLE records (id INTEGER PRIMARY KEY, fingerprint TEXT
                          NOT NULL, type TEXT NOT NULL, UNIQUE (fingerprint, type))""")
    connection.execute("""CREATE TABLE findings (id INTEGER PRIMARY KEY, document_id INTEGER,
                          record_id INTEGER, masked TEXT, severity TEXT, confidence REAL,
                          evidence TEXT, line INTEGER, col INTEGER, first_seen TEXT,
                          last_seen TEXT, UNIQUE (document_id, record_id))""")
    started = time.perf_counter()
    for i in range(0, len(findings), 50_000):
        part = findings[i : i + 50_000]
        connection.execute("BEGIN")
        first = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM records").fetchone()[0]
        connection.executemany(
            "INSERT INTO records (fingerprint, type) VALUES (?, ?)",
            [(f.fingerprint, f.type) for f in part],
        )
        connection.executemany(
            "INSERT INTO findings (document_id, record_id, masked, severity, confidence,"
            " evidence, line, col, first_seen, last_seen) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(first + k, f.masked, "critical", f.confidence, '["checksum"]', f.line, f.column,
              "x", "x") for k, f in enumerate(part)],
        )  # fmt: skip
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return len(findings) / elapsed


# -- PostgreSQL -----------------------------------------------------------------------------------


def new_database(server: str, name: str) -> str:
    """A new, empty database `bench_NAME` on the server (dropped first if there); its URL."""
    import psycopg

    name = f"bench_{name}".replace("-", "_")
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name}")
        connection.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def postgres_server(where: str | None) -> Iterator[str | None]:
    """None, the URL given, or a throwaway local server's for the length of the run."""
    if where != "local":
        yield where
        return
    sys.path.insert(0, str(ROOT))
    from tests.postgres_server import postgres_server as throwaway

    with tempfile.TemporaryDirectory(prefix="bench-pg-") as folder, throwaway(Path(folder)) as url:
        yield url


# -- the baseline ---------------------------------------------------------------------------------


def run_baseline(path: str) -> int:
    """Every document and every finding (with its document and record) fetched with SELECT *
    and aggregated in Python; prints {year: [exposure, trading, records]} as JSON."""
    import sqlite3

    def valid(date: object) -> bool:
        return (
            isinstance(date, str)
            and len(date) >= 7
            and date[:4].isdigit()
            and date[4] == "-"
            and "01" <= date[5:7] <= "12"
        )

    years: dict[str, list[int]] = {}
    first: dict[tuple[str, str], str] = {}
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = connection.execute("SELECT * FROM documents")
        columns = [c[0] for c in cursor.description]
        for values in cursor.fetchall():
            document = dict(zip(columns, values, strict=True))
            if document["case_category"] is None:
                continue
            published = document["published"]
            date = published if valid(published) else document["case_seen"]
            entry = years.setdefault(date[:4], [0, 0, 0])
            entry[0 if document["case_category"] == "exposure" else 1] += 1
        cursor = connection.execute(
            """SELECT * FROM findings f JOIN documents d ON d.id = f.document_id
               JOIN records r ON r.id = f.record_id"""
        )
        columns = [c[0] for c in cursor.description]
        for values in cursor.fetchall():
            # Duplicate column names: the document's come after the finding's and win,
            # except first_seen, read by position from the finding.
            row = dict(zip(columns, values, strict=True))
            if row["case_category"] is None:
                continue
            seen = values[columns.index("first_seen")]
            date = row["published"] if valid(row["published"]) else seen
            key = (row["fingerprint"], row["type"])
            if key not in first or date < first[key]:
                first[key] = date
    finally:
        connection.close()
    for date in first.values():
        years.setdefault(date[:4], [0, 0, 0])[2] += 1
    print(json.dumps({year: years[year] for year in sorted(years)}))
    return 0


# -- running ------------------------------------------------------------------------------------


def leakwatch_command() -> list[str]:
    beside = Path(sys.executable).with_name("leakwatch")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "leakwatch"]


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-2000:]}")
    return seconds, done.stdout.decode()


def best(command: list[str], repeat: int) -> tuple[float, str]:
    runs = [timed(command) for _ in range(repeat)]
    return min(r[0] for r in runs), runs[-1][1]


def machine() -> str:
    import sqlite3

    return f"{bench_detect.machine()}, SQLite {sqlite3.sqlite_version}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--findings", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; best is kept")
    parser.add_argument("--no-record", action="store_true", help="skip the recording rates")
    parser.add_argument("--record-only", action="store_true", help="only the recording rates")
    parser.add_argument(
        "--postgres",
        metavar="URL|local",
        help="also measure a PostgreSQL store: a server's URL, or local (a throwaway one)",
    )
    parser.add_argument("--run-baseline", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_baseline:
        return run_baseline(args.run_baseline)
    with postgres_server(args.postgres) as postgres:
        return measure(args, postgres)


def measure(args: argparse.Namespace, postgres: str | None) -> int:
    print(machine())
    print(bench_detect.source_state())
    if args.record_only:
        print_record_rates(args.seed, postgres)
        return 0
    DATA.mkdir(exist_ok=True)
    name = f"report-store-seed{args.seed}-{args.documents}d-{args.findings}f"
    path, sidecar = DATA / f"{name}.db", DATA / f"{name}.json"
    wanted = {
        "generator": GENERATOR_VERSION,
        "documents": args.documents,
        "findings": args.findings,
        "seed": args.seed,
    }
    schema = _schema_version()
    if (
        not path.exists()
        or not sidecar.exists()
        or json.loads(sidecar.read_text()) != {**wanted, "schema": schema}
    ):
        for stale in DATA.glob(f"{name}.db*"):
            stale.unlink()
        print(f"seeding {args.findings:,} findings on {args.documents:,} documents ...", flush=True)
        rate = seed_store(path, args.documents, args.findings, args.seed)
        sidecar.write_text(json.dumps({**wanted, "schema": schema}))
        print(
            "seeded through Store.record in batches of 1,000 documents, generation included: "
            f"{rate:,.0f} findings/s"
        )
    size = sum(p.stat().st_size for p in DATA.glob(f"{name}.db*"))
    print(f"store: {path} ({size / 1e6:,.0f} MB)")

    leakwatch = leakwatch_command()
    startup, _ = best([*leakwatch, "--version"], args.repeat)
    print(f"start-up (leakwatch --version): {startup:.2f} s")
    rows = []
    report_time, report_json = best(
        [*leakwatch, "report", "--db", str(path), "-f", "json"], args.repeat
    )
    rows.append(("leakwatch report -f json", report_time))
    for extra in (
        ["--site-country", "CN,TW,HK", "--baseline", "2020"],
        ["--by", "month"],
        ["--by", "site"],
        ["--by", "type"],
    ):
        seconds, _ = best(
            [*leakwatch, "report", "--db", str(path), "-f", "json", *extra], args.repeat
        )
        rows.append((f"leakwatch report -f json {' '.join(extra)}", seconds))
    base_time, base_json = best(
        [sys.executable, __file__, "--run-baseline", str(path)], max(1, min(args.repeat, 2))
    )
    rows.append(("baseline: SELECT * and aggregate in Python", base_time))
    postgres_json = None
    if postgres:
        database = new_database(postgres, name)
        print(f"seeding the same into PostgreSQL ({database.rsplit('/', 1)[1]}) ...", flush=True)
        rate = seed_store(database, args.documents, args.findings, args.seed)
        print(f"seeded into PostgreSQL the same way: {rate:,.0f} findings/s")
        seconds, postgres_json = best(
            [*leakwatch, "report", "--db", database, "-f", "json"], args.repeat
        )
        rows.append(("PostgreSQL: leakwatch report -f json", seconds))
        for extra in (["--by", "month"], ["--by", "site"]):
            seconds, _ = best(
                [*leakwatch, "report", "--db", database, "-f", "json", *extra], args.repeat
            )
            rows.append((f"PostgreSQL: leakwatch report -f json {' '.join(extra)}", seconds))
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'command'.ljust(width)}  seconds  vs baseline")
    for label, seconds in rows:
        print(f"{label.ljust(width)}  {seconds:7.2f}  {base_time / seconds:10.1f}x")
    verdict = "met" if report_time < TARGET_SECONDS else "NOT met"
    print(f"\ntarget: report under {TARGET_SECONDS:.0f} s on this store: {verdict}")
    ours = {
        str(y["year"]): [y["exposure"], y["trading"], y["records"]]
        for y in json.loads(report_json)["years"]
        if y["cases"] or y["records"]
    }
    theirs = json.loads(base_json)
    print(
        "leakwatch and the baseline agree on cases and records per year:",
        "yes" if ours == theirs else f"NO\n  leakwatch {ours}\n  baseline  {theirs}",
    )
    if postgres_json is not None:
        same = _comparable(postgres_json) == _comparable(report_json)
        print("the PostgreSQL store's report equals the SQLite store's:", "yes" if same else "NO")
    if not args.no_record:
        print_record_rates(args.seed, postgres)
    return 0


def print_record_rates(seed: int, postgres: str | None) -> None:
    engines = [("SQLite", None), *([("PostgreSQL", postgres)] if postgres else [])]
    for engine, server in engines:
        print(f"\nrecording into {engine}:")
        rates = record_rates(seed, server)
        floor = rates.get("floor: the same rows, bare SQLite INSERTs")
        for label, rate in rates.items():
            ratio = (
                f"  ({rate / floor:.2f}x the floor)"
                if floor and not label.startswith("floor")
                else ""
            )
            print(f"  {label}: {rate:,.0f} findings/s{ratio}")


def _comparable(report_json: str) -> dict[str, object]:
    report = json.loads(report_json)
    report.pop("generated", None)
    report.pop("store", None)
    return dict(report)


def _schema_version() -> str:
    """The schema's version and a digest of its SQL: a store made by other SQL is remade."""
    sys.path.insert(0, str(ROOT / "src"))
    from leakwatch.store import migrations

    digest = hashlib.sha256(repr(migrations.MIGRATIONS).encode()).hexdigest()[:12]
    return f"{migrations.LATEST}-{digest}"


if __name__ == "__main__":
    sys.exit(main())
