"""The store on SQLite: one file, opened or refused, and the transactions over it.

One file that several cron jobs may write at once. Every write is one `BEGIN IMMEDIATE`
transaction (SQLite has one writer at a time: the others wait up to the busy timeout). The
file is checked before SQLite may write to it: a file that is not a leakwatch store, or that
a newer leakwatch wrote, is refused and left byte for byte as it was.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from leakwatch.errors import StoreError
from leakwatch.store import migrations
from leakwatch.store.database import SQLITE, Dialect, Params, Row

BUSY_TIMEOUT_S = 10.0
CACHE_KIB = 16 * 1024
CHECKPOINT_PAGES = 10_000
SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_BYTES = 100
_STREAM_ROWS = 1000

_T = TypeVar("_T")


class SqliteDatabase:
    """A store file's connection (the `Database` of `leakwatch.store.database`). Make one
    with `open` (read and write, created if missing) or `read` (never written)."""

    dialect: Dialect = SQLITE

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.connection = connection
        self._in_transaction = False

    @property
    def location(self) -> str:
        return str(self.path)

    @classmethod
    def open(cls, path: Path) -> SqliteDatabase:
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
            # A large file's findings: a 16 MB page cache (2 MB by default) keeps the
            # indexes being filled in memory, and checkpoints (each one an fsync) come every
            # 40 MB of log instead of every 4 MB. Together +25% findings/s recorded. (32 MB
            # gained nothing on a 20 MB dump scan, and cost 18 MB of memory.)
            connection.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            connection.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
            migrations.apply(connection)
        except sqlite3.Error as exc:
            connection.close()
            raise _store_error(path, exc, "opening") from None
        except BaseException:
            connection.close()
            raise
        return cls(path, connection)

    @classmethod
    def read(cls, path: Path) -> SqliteDatabase:
        """Open an existing store for reading only: nothing is created, written or migrated
        (an older store is upgraded only when it must be, by `open`). A store that cannot be
        opened for writing (a read-only folder, a full disk) is read as it is."""
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
            cls.open(path).close()  # an older store: upgrade it once, then read
            return cls.read(path)
        return cls(path, connection)

    @property
    def schema_version(self) -> int:
        return migrations.schema_version(self.connection)

    def close(self) -> None:
        self.connection.close()

    # -- statements (sqlite3 errors pass through: see `errors` and `write`) -----------------

    def fetch(self, sql: str, params: Params = ()) -> list[Row]:
        return self.connection.execute(sql, params).fetchall()

    def run(self, sql: str, params: Params = ()) -> None:
        self.connection.execute(sql, params)

    def run_many(self, sql: str, rows: Iterable[Params]) -> None:
        self.connection.executemany(sql, rows)

    def stream(self, sql: str, params: Params, doing: str) -> Iterator[Row]:
        with self.errors(doing):
            cursor = self.connection.execute(sql, params)
        try:
            while True:
                with self.errors(doing):
                    batch = cursor.fetchmany(_STREAM_ROWS)
                if not batch:
                    return
                yield from batch
        finally:
            with suppress(sqlite3.Error):  # the store may be closed already
                cursor.close()

    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, doing) from None

    def write(self, doing: str, work: Callable[[], _T]) -> _T:
        """One transaction (nothing of a failed one stays: a full disk leaves the store as
        it was before the call); inside `transaction`, a savepoint of that one."""
        if self._in_transaction:
            with self._savepoint(doing):
                return work()
        with self.transaction(doing):
            return work()

    @contextmanager
    def transaction(self, doing: str) -> Iterator[None]:
        db = self.connection
        try:
            if db.in_transaction:
                # A Ctrl-C or SIGTERM that landed just after an earlier BEGIN, before its
                # block began: that transaction holds nothing of ours yet.
                db.execute("ROLLBACK")
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, doing) from None
        self._in_transaction = True
        try:
            yield
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                # SQLite may have rolled back by itself already (after SQLITE_FULL, say).
                with suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _store_error(self.path, exc, doing) from None
            raise
        finally:
            self._in_transaction = False

    @contextmanager
    def _savepoint(self, doing: str) -> Iterator[None]:
        db = self.connection
        try:
            db.execute("SAVEPOINT record")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, doing) from None
        try:
            yield
            db.execute("RELEASE record")
        except BaseException as exc:
            if db.in_transaction:
                with suppress(sqlite3.Error):
                    db.execute("ROLLBACK TO record")
                    db.execute("RELEASE record")
            if isinstance(exc, sqlite3.Error):
                raise _store_error(self.path, exc, doing) from None
            raise

    @contextmanager
    def snapshot(self, doing: str) -> Iterator[None]:
        db = self.connection
        with self.errors(doing):
            opened = not db.in_transaction
            if opened:
                db.execute("BEGIN")
            try:
                yield
            finally:
                if opened and db.in_transaction:
                    db.execute("COMMIT")

    # -- runs ---------------------------------------------------------------------------------

    def hold_run(self, run_id: int) -> None:
        """Nothing to hold: a run's host and process id tell whether it is alive."""

    def run_alive(self, run_id: int, host: str | None, pid: int | None) -> bool:
        return _alive(host, pid)


# -- helpers ---------------------------------------------------------------------------------


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
