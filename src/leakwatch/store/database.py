"""The seam between the store's SQL, written once, and a database engine (SQLite, PostgreSQL).

Statements are written in SQLite's spelling with `?` or `:name` parameters; an engine that
spells parameters otherwise converts them. The few SQL words that differ between the
engines (two-argument min and max, reading a JSON text column, a date-shaped text) come
from the engine's `Dialect`. Engine errors become `StoreError`s inside `Database.errors`
and `Database.write`, so nothing above this seam knows which engine it talks to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

Params = Sequence[Any] | Mapping[str, Any]
Row = tuple[Any, ...]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Dialect:
    """How an engine spells what SQL does not standardise. Each field is a format string."""

    name: str
    least: str  # the smaller of two or more values (none NULL): min(...) in SQLite
    greatest: str
    json_text: str  # {column}: JSON object text; {key}: the member, read as text
    json_pairs: str  # {column}: JSON object text -> a table of (key, value) rows
    json_elements: str  # {column}: JSON array text -> a table of its elements as `value`
    # {column} starts like an ISO date: four digits, '-', a month's first digit 0 or 1.
    iso_date_start: str
    distinct: str  # the null-safe "differs from": IS NOT, or IS DISTINCT FROM
    # After a SELECT of the row a write will change: lock it (where writers run at once).
    lock_row: str = ""
    arrays: bool = False  # takes arrays as parameters: a call's rows in one statement

    def json_field(self, column: str, key: str) -> str:
        return self.json_text.format(column=column, key=key)

    def pairs(self, column: str) -> str:
        return self.json_pairs.format(column=column)

    def elements(self, column: str) -> str:
        return self.json_elements.format(column=column)

    def published_ok(self, column: str) -> str:
        """Whether a declared published date is used: it starts like an ISO date
        (YYYY-MM, month 01-12)."""
        start = self.iso_date_start.format(column=column)
        return f"({start} AND substr({column}, 6, 2) BETWEEN '01' AND '12')"


SQLITE = Dialect(
    name="sqlite",
    least="min",
    greatest="max",
    json_text="json_extract({column}, '$.{key}')",
    json_pairs="json_each({column})",
    json_elements="json_each({column})",
    iso_date_start="{column} GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]*'",
    distinct="IS NOT",  # SQLite spells IS DISTINCT FROM so only from 3.39 on
)

POSTGRES = Dialect(
    name="postgresql",
    least="least",
    greatest="greatest",
    json_text="({column}::json ->> '{key}')",
    json_pairs="json_each_text({column}::json)",
    json_elements="json_array_elements_text({column}::json)",
    iso_date_start="{column} ~ '^[0-9][0-9][0-9][0-9]-[0-1][0-9]'",
    distinct="IS DISTINCT FROM",
    # NO KEY: findings inserted meanwhile (their foreign key to it) do not wait for it.
    lock_row=" FOR NO KEY UPDATE",
    arrays=True,
)


class Database(Protocol):
    """One open connection to a store's database.

    `fetch`, `run` and `run_many` raise the engine's own errors: call them inside `write`
    (a transaction) or `errors` (anything else), which turn them into StoreErrors.
    """

    @property
    def location(self) -> str:
        """What messages name: the store file's path, or a URL without its password."""
        ...

    @property
    def dialect(self) -> Dialect: ...

    @property
    def schema_version(self) -> int: ...

    def fetch(self, sql: str, params: Params = ()) -> list[Row]: ...

    def run(self, sql: str, params: Params = ()) -> None: ...

    def run_many(self, sql: str, rows: Iterable[Params]) -> None: ...

    def write(self, doing: str, work: Callable[[], T]) -> T:
        """`work()` in one write transaction: all of it is stored, or (on any error) none.
        Inside `transaction` it is a savepoint of that one. An engine may run `work` again
        when a concurrent writer made it fail (a deadlock): `work` must be repeatable."""
        ...

    def transaction(self, doing: str) -> AbstractContextManager[None]:
        """One write transaction around several `write` calls (`Store.batch`)."""
        ...

    def snapshot(self, doing: str) -> AbstractContextManager[None]:
        """A read transaction: every read inside sees the same state of the store (inside
        another transaction, that one)."""
        ...

    def errors(self, doing: str) -> AbstractContextManager[None]:
        """Engine errors raised inside become StoreErrors saying what was being done."""
        ...

    def stream(self, sql: str, params: Params, doing: str) -> Iterator[Row]:
        """The rows of a query, a batch at a time (memory stays flat); close the iterator
        to release it early."""
        ...

    def hold_run(self, run_id: int) -> None:
        """Show other processes that this run is alive until this connection closes."""
        ...

    def run_alive(self, run_id: int, host: str | None, pid: int | None) -> bool:
        """Whether an unfinished run is still going (in another process)."""
        ...

    def close(self) -> None: ...
