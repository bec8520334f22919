"""Both store engines for the store tests: a fresh SQLite file or a fresh database on the
session's throwaway PostgreSQL server (tests/postgres_server.py), and reads that go around
leakwatch, straight to the engine."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import psycopg

from leakwatch.store import Location, is_postgres
from leakwatch.store.postgres import to_pyformat

ENGINES = ("sqlite", "postgresql")
_numbers = itertools.count(1)


def new_database(server: str) -> str:
    """A new, empty database on the server; its URL."""
    name = f"store_{next(_numbers)}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


def rows(location: Location, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """A query run on its own connection (`?` parameters), not through the store."""
    if is_postgres(location):
        with psycopg.connect(str(location), autocommit=True) as connection:
            cursor = connection.execute(to_pyformat(sql), params)
            return cursor.fetchall() if cursor.description is not None else []
    import sqlite3

    connection = sqlite3.connect(Path(location), isolation_level=None)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()
