"""The throwaway PostgreSQL server the store tests will run against (tests/postgres_server.py)
starts, speaks psycopg 3 and does what the store needs of it: upserts and COPY."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.postgres_server import postgres_server


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_server(tmp_path_factory.mktemp("postgres")) as url:
        yield url


def test_the_server_takes_upserts_and_copy(postgres: str) -> None:
    with psycopg.connect(postgres, autocommit=True) as connection:
        connection.execute("CREATE TABLE records (fingerprint TEXT PRIMARY KEY, seen INTEGER)")
        for _ in range(2):  # a rescan doubles nothing
            connection.execute(
                """INSERT INTO records VALUES ('f1', 1)
                   ON CONFLICT (fingerprint) DO UPDATE SET seen = records.seen + 1"""
            )
        with connection.cursor() as cursor:
            with cursor.copy("COPY records (fingerprint, seen) FROM STDIN") as copy:
                for number in range(1000):
                    copy.write_row((f"g{number}", 0))
            cursor.execute("SELECT count(*), max(seen) FROM records")
            assert cursor.fetchone() == (1001, 2)


def test_a_second_server_is_its_own(tmp_path: Path, postgres: str) -> None:
    with postgres_server(tmp_path / "other") as other:
        assert other != postgres
        with psycopg.connect(other) as connection:
            tables = connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'records'"
            ).fetchone()
        assert tables == (0,)
