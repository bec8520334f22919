"""The store on PostgreSQL: a team's shared database, its schema, and transactions over it.

`--db postgresql://user@host/dbname` (psycopg 3: `pip install 'leakwatch[postgres]'`). The
database must exist; leakwatch makes its tables in the connection's current schema (the
first of its search_path), under the same migrations as a SQLite store, and keeps the
version in `leakwatch_schema`. A schema holding other tables and no `leakwatch_schema` is
refused, as another application's SQLite file is.

Many scans may write at once (READ COMMITTED, each `record` one transaction, retried whole
when PostgreSQL picks it to break a deadlock or a serialization failure); a report reads
one REPEATABLE READ snapshot. A running scan holds an advisory lock on its run id, so any
host can tell a crawl that is still running from one that was killed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from leakwatch.errors import StoreError
from leakwatch.safe_text import hide_password, without_secret
from leakwatch.store import migrations
from leakwatch.store.database import POSTGRES, Dialect, Params, Row

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT_S = 10
# Advisory lock keys: (this, 0) while migrating; a run's own key (_RUN_LOCK) while it is alive.
LOCK_SPACE = migrations.APPLICATION_ID
# A run's lock: its id and its store's schema (advisory locks are per database, and a
# database may hold a store in each of several schemas, each with its own run 1).
_RUN_LOCK = (
    "((SELECT oid FROM pg_namespace WHERE nspname = current_schema())::bigint"
    " & 2147483647) << 32 | %s::bigint"
)
WRITE_ATTEMPTS = 5
_STREAM_ROWS = 1000
# SQLSTATEs of a transaction PostgreSQL rolled back to let another go on: run it again.
_RETRY = frozenset({"40001", "40P01"})
_INSTALL = "PostgreSQL support is not installed: pip install 'leakwatch[postgres]'"

_T = TypeVar("_T")


class PostgresDatabase:
    """A connection to a PostgreSQL store (the `Database` of `leakwatch.store.database`)."""

    dialect: Dialect = POSTGRES

    def __init__(self, url: str, connection: psycopg.Connection[Any], version: int) -> None:
        self.url = url
        self.connection = connection
        self._version = version
        self._in_transaction = False
        self._converted: dict[str, str] = {}

    @property
    def location(self) -> str:
        return hide_password(self.url)

    @property
    def schema_version(self) -> int:
        return self._version

    @classmethod
    def open(cls, url: str) -> PostgresDatabase:
        """Connect for recording, making the tables or bringing them up to date."""
        connection = _connect(url)
        try:
            version = _migrate(connection, hide_password(url))
        except BaseException:
            connection.close()
            raise
        return cls(url, connection, version)

    @classmethod
    def read(cls, url: str) -> PostgresDatabase:
        """Connect for reading only; a store of an older schema is upgraded once first."""
        psycopg = _psycopg()
        connection = _connect(url)
        shown = hide_password(url)
        try:
            with _errors(shown, "opening", psycopg):
                version = _check(connection, shown)
                if version == 0:
                    raise StoreError(
                        shown, "holds no leakwatch store (no scan has recorded into it)",
                        unusable=True,
                    )  # fmt: skip
                if version < migrations.LATEST:
                    version = _migrate(connection, shown)
                connection.execute("SET default_transaction_read_only = on")
        except BaseException:
            connection.close()
            raise
        return cls(url, connection, version)

    def close(self) -> None:
        with suppress(Exception):  # a connection the server dropped closes all the same
            self.connection.close()

    # -- statements (psycopg errors pass through: see `errors` and `write`) -----------------

    def fetch(self, sql: str, params: Params = ()) -> list[Row]:
        return self.connection.execute(self._sql(sql), _params(params)).fetchall()

    def run(self, sql: str, params: Params = ()) -> None:
        self.connection.execute(self._sql(sql), _params(params))

    def run_many(self, sql: str, rows: Iterable[Params]) -> None:
        batch = [_params(row) for row in rows]
        if batch:
            with self.connection.cursor() as cursor:
                cursor.executemany(self._sql(sql), batch)

    def stream(self, sql: str, params: Params, doing: str) -> Iterator[Row]:
        """A server-side cursor in a read transaction of its own."""
        with (
            self.errors(doing),
            self.connection.transaction(),
            self.connection.cursor(name="leakwatch_stream") as cursor,
        ):
            cursor.execute(self._sql(sql), _params(params))
            while True:
                batch = cursor.fetchmany(_STREAM_ROWS)
                if not batch:
                    return
                yield from batch

    def _sql(self, sql: str) -> str:
        converted = self._converted.get(sql)
        if converted is None:
            converted = self._converted[sql] = to_pyformat(sql)
        return converted

    # -- transactions -----------------------------------------------------------------------

    def errors(self, doing: str) -> AbstractContextManager[None]:
        return _errors(self.location, doing, _psycopg())

    def write(self, doing: str, work: Callable[[], _T]) -> _T:
        # In a pipeline: statements whose answer is not read go out without waiting for the
        # server, so a page's dozen statements cost a few round trips, not a dozen.
        if self._in_transaction:  # a savepoint of the batch's transaction
            with self.errors(doing), self.connection.pipeline(), self.connection.transaction():
                return work()
        psycopg = _psycopg()
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with (
                    _errors(self.location, doing, psycopg, retry=attempt < WRITE_ATTEMPTS),
                    self.connection.pipeline(),
                    self.connection.transaction(),
                ):
                    return work()
            except _Again:
                time.sleep(0.05 * attempt)  # let the other transaction finish first
        raise AssertionError("unreachable: the last attempt raises")

    @contextmanager
    def transaction(self, doing: str) -> Iterator[None]:
        with self.errors(doing), self.connection.pipeline(), self.connection.transaction():
            self._in_transaction = True
            try:
                yield
            finally:
                self._in_transaction = False

    @contextmanager
    def snapshot(self, doing: str) -> Iterator[None]:
        with self.errors(doing):
            if self._in_transaction or self.connection.info.transaction_status != 0:
                yield  # already inside one (a batch): it is the snapshot
                return
            self.connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield
            finally:
                with suppress(Exception):
                    self.connection.execute("COMMIT")

    # -- runs ---------------------------------------------------------------------------------

    def hold_run(self, run_id: int) -> None:
        """A session lock on the run, released when this connection ends (a killed scan's
        connection ends with it). Taken inside the transaction that makes the run: no other
        process sees the run unlocked."""
        got = self.connection.execute(
            f"SELECT pg_try_advisory_lock({_RUN_LOCK})", (run_id,)
        ).fetchone()
        if got is None or not got[0]:
            raise StoreError(self.location, f"run {run_id} is locked by another connection")

    def run_alive(self, run_id: int, host: str | None, pid: int | None) -> bool:
        got = self.connection.execute(
            f"SELECT pg_try_advisory_lock({_RUN_LOCK})", (run_id,)
        ).fetchone()
        if got is not None and got[0]:
            self.connection.execute(f"SELECT pg_advisory_unlock({_RUN_LOCK})", (run_id,))
            return False
        return True


class _Again(Exception):
    """The transaction was rolled back to let a concurrent one go on: run it again."""


def to_pyformat(sql: str) -> str:
    """A statement with SQLite's parameters (`?`, `:name`) in psycopg's (`%s`, `%(name)s`),
    with `%` doubled; quoted text and `::` casts are left as they are."""
    out: list[str] = []
    for piece in re.split(r"('(?:[^']|'')*')", sql):
        escaped = piece.replace("%", "%%")
        if not piece.startswith("'"):
            escaped = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", escaped)
            escaped = escaped.replace("?", "%s")
        out.append(escaped)
    return "".join(out)


def _params(params: Params) -> Params:
    return dict(params) if isinstance(params, Mapping) else tuple(params)


def _psycopg() -> Any:
    try:
        import psycopg  # noqa: PLC0415 - an optional extra, only for postgresql:// stores
    except ImportError:
        raise StoreError("postgresql", _INSTALL, unusable=True) from None
    # psycopg logs its own notes when a connection breaks mid-pipeline; the StoreError that
    # follows is the one line the user gets (without a handler, Python would print them).
    quiet = logging.getLogger("psycopg")
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
    return psycopg


def _connect(url: str) -> psycopg.Connection[Any]:
    pg = _psycopg()
    shown = hide_password(url)
    try:
        pg.conninfo.conninfo_to_dict(url)
        urlsplit(url).port  # noqa: B018 - raises ValueError for a port that is not a number
    except (pg.ProgrammingError, ValueError):
        # Not libpq's words: they quote the URL, password and all.
        raise StoreError(
            "postgresql://…",
            "not a usable PostgreSQL URL (postgresql://user@host[:port]/dbname; "
            "percent-encode special characters)",
            unusable=True,
        ) from None
    try:
        connection: psycopg.Connection[Any] = pg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="leakwatch",
            # A host that died with its connection half open loses its run's lock (and the
            # server its session) in about a minute, not hours.
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
    except pg.Error as exc:
        message = without_secret(_first_line(exc), url)
        # A database or role that is not there: the user must name another (as a missing
        # store file); anything else (no server, refused, timed out) may pass.
        missing = "does not exist" in message
        raise StoreError(shown, f"cannot connect: {message}", unusable=missing) from None
    connection.prepare_threshold = 2  # the recording statements run thousands of times
    return connection


@contextmanager
def _errors(shown: str, doing: str, psycopg: Any, *, retry: bool = False) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        state = getattr(exc, "sqlstate", None) or ""
        if retry and state in _RETRY:
            raise _Again from None
        raise _store_error(shown, exc, state, doing) from None


def _store_error(shown: str, exc: Exception, state: str, doing: str) -> StoreError:
    """PostgreSQL's error as one line that says what to do about it."""
    message = _first_line(exc)
    if state == "53100":
        return StoreError(shown, f"disk full on the server while {doing}; nothing of it was stored")
    if state.startswith("08") or not state:
        return StoreError(shown, f"connection lost while {doing}: {message}")
    if state in ("42501", "25006"):
        return StoreError(shown, f"cannot write while {doing} (no permission?): {message}")
    if state in _RETRY:
        return StoreError(shown, f"too many concurrent writers while {doing}: {message}")
    return StoreError(shown, f"{doing}: {message}")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check(connection: psycopg.Connection[Any], shown: str) -> int:
    """The store's schema version (0: none yet), refusing a schema that is not ours or is
    newer than this leakwatch."""
    # From the catalog tables, not to_regclass: they are read in this statement's snapshot,
    # so tables another process made a moment ago are seen.
    tables = {
        name
        for (name,) in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
    }
    if "leakwatch_schema" not in tables:
        if tables:
            raise StoreError(
                shown,
                "not a leakwatch store (its schema holds other tables): name another database "
                "or set its search_path to an empty schema",
                unusable=True,
            )
        return 0
    row = connection.execute("SELECT application, version FROM leakwatch_schema").fetchone()
    if row is None or row[0] != "leakwatch":
        raise StoreError(shown, "not a leakwatch store (unknown schema)", unusable=True)
    version = int(row[1])
    if version > migrations.LATEST:
        raise StoreError(
            shown,
            f"written by a newer leakwatch (store schema {version}; this version reads up to "
            f"{migrations.LATEST}): upgrade leakwatch or use another --db",
            unusable=True,
        )
    return version


def _migrate(connection: psycopg.Connection[Any], shown: str) -> int:
    """Apply the missing migrations in one transaction, one process at a time."""
    psycopg = _psycopg()
    with _errors(shown, "opening", psycopg):
        version = _check(connection, shown)
        if version == migrations.LATEST:
            return version
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_SPACE,))
            version = _check(connection, shown)  # another process may have done it meanwhile
            if version == migrations.LATEST:
                return version
            if version == 0:
                connection.execute(
                    """CREATE TABLE leakwatch_schema (
                        application text NOT NULL, version integer NOT NULL)"""
                )
                connection.execute("INSERT INTO leakwatch_schema VALUES ('leakwatch', 0)")
            for migration in migrations.MIGRATIONS:
                if migration.version <= version:
                    continue
                for statement in migration.postgres:
                    connection.execute(statement)
                version = migration.version
            connection.execute("UPDATE leakwatch_schema SET version = %s", (version,))
            _resync_identities(connection)
    return version


def _resync_identities(connection: psycopg.Connection[Any]) -> None:
    """Identities continue after the highest id there is: rows a migration (or an import)
    wrote with their ids would otherwise collide with the next ones made. A sequence only
    ever moves forward (another writer may be using it)."""
    identities = connection.execute(
        """SELECT table_name, column_name,
                  pg_get_serial_sequence(quote_ident(table_name), column_name)
           FROM information_schema.columns
           WHERE table_schema = current_schema() AND is_identity = 'YES'"""
    ).fetchall()
    for table, column, sequence in identities:
        highest = connection.execute(f"SELECT max({column}) FROM {table}").fetchone()
        last = connection.execute(f"SELECT last_value, is_called FROM {sequence}").fetchone()
        if highest is None or highest[0] is None or last is None:
            continue
        next_value = last[0] + 1 if last[1] else last[0]
        if highest[0] >= next_value:
            connection.execute("SELECT setval(%s, %s)", (sequence, highest[0]))
