"""SQL dumps: the column an `INSERT` value sits in, from the statement's column list or the
table's `CREATE TABLE`; and the column of a row of PostgreSQL's `COPY … FROM stdin`.

`INSERT INTO members (name, jumin, hp) VALUES ('김민준', '8001011234560', '01023456789'), …`
is a table whose header is the column list; mysqldump's default `INSERT INTO t VALUES (…)`
names its columns only in the `CREATE TABLE t (…)` above it. A value's column is found by
walking back to the start of its tuple and counting the commas outside quotes.

The statement heads and table definitions of a document are learnt chunk by chunk, in
order, and handed to the next chunk in a `SqlCarry` (extended INSERT lines run to megabytes,
so a head is often chunks away from its values).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

# `INSERT INTO t (a, b) VALUES`, `INSERT IGNORE INTO "s"."t" VALUES`, `REPLACE INTO t`.
_INSERT = re.compile(
    r"(?:insert(?:\s+ignore)?|replace)\s+into\s+((?:[`\"\[]?\w+[`\"\]]?\.)?[`\"\[]?\w+[`\"\]]?)"
    r"\s*(\([^()]{0,4000}\))?\s*values\s*",
    re.IGNORECASE,
)
_CREATE = re.compile(
    r"create\s+table(?:\s+if\s+not\s+exists)?\s+"
    r"((?:[`\"\[]?\w+[`\"\]]?\.)?[`\"\[]?\w+[`\"\]]?)\s*\(",
    re.IGNORECASE,
)
# PostgreSQL's dump: `COPY t (a, b) FROM stdin;`, then one tab-separated row a line, then `\.`.
_COPY = re.compile(
    r"^COPY\s+((?:[\"]?\w+[\"]?\.)?[\"]?\w+[\"]?)\s*(\([^()]{0,4000}\))\s*FROM\s+stdin;[^\n]*\n",
    re.IGNORECASE | re.MULTILINE,
)
_COPY_END = "\n\\.\n"
_COLUMN_LINE = re.compile(r"\s*[`\"\[]?(\w+)[`\"\]]?\s+\w")
_NOT_COLUMNS = frozenset(
    {"primary", "key", "unique", "index", "constraint", "foreign", "check", "fulltext"}
)
_MAX_TABLE = 20_000  # characters of a CREATE TABLE body looked at
_MAX_TUPLE = 4_000  # how far back a value's tuple may start


def _name(quoted: str) -> str:
    """A table name without its schema and quotes, in lower case."""
    return quoted.rsplit(".", 1)[-1].strip('`"[]').lower()


@dataclass(frozen=True, slots=True)
class SqlCarry:
    """What a chunk hands the next: the tables defined so far, and the columns of the
    INSERT statement its last line is in."""

    tables: tuple[tuple[str, tuple[str, ...]], ...]
    columns: tuple[str, ...] | None
    copy: bool = False  # the statement is a COPY: tab-separated rows


@dataclass(slots=True)
class SqlColumns:
    """Names the column of values inside INSERT statements, chunk by chunk."""

    _tables: dict[str, tuple[str, ...]]
    _heads: list[int]  # chunk offsets where INSERT values (or COPY rows) start
    _head_columns: list[tuple[str, ...] | None]
    _copies: set[int]  # the heads that are COPY statements: tab-separated rows follow
    _copy_ends: dict[int, int]  # a COPY head -> where its data ends (the backslash-dot line)
    _carried_end: int  # where a carried-in COPY's data ends in this chunk (-1: not looked)
    _carried: tuple[str, ...] | None
    _carried_copy: bool
    _tuples: dict[int, list[int]]  # a head -> where its VALUES tuples open (read once)

    def __init__(self) -> None:
        self._tuples = {}
        self._tables = {}
        self._heads = []
        self._head_columns = []
        self._copies = set()
        self._copy_ends = {}
        self._carried_end = -1
        self._carried = None
        self._carried_copy = False

    def start(self, chunk: str, carry: SqlCarry | None) -> None:
        """Learn the statement heads and table definitions of a new chunk."""
        self._tables = dict(carry.tables) if carry else {}
        self._carried = carry.columns if carry else None
        self._carried_copy = carry.copy if carry else False
        self._heads, self._head_columns, self._copies = [], [], set()
        self._copy_ends = {}
        self._tuples = {}
        self._carried_end = -1  # where a carried COPY's data ends in this chunk (-1: unknown)
        if not any(word in chunk for word in ("INTO", "into", "TABLE", "table", "COPY", "copy")):
            return  # the common case, prose or CSV: nothing to learn
        for match in _CREATE.finditer(chunk):
            defined = _table_columns(chunk, match.end())
            if defined:
                self._tables[_name(match.group(1))] = defined
        for match in _INSERT.finditer(chunk):
            listed = match.group(2)
            table = _name(match.group(1))
            columns = _column_list(listed) if listed else self._tables.get(table)
            self._heads.append(match.end())
            self._head_columns.append(columns)
        if "COPY" in chunk or "copy" in chunk:
            for match in _COPY.finditer(chunk):
                index = bisect.bisect_left(self._heads, match.end())
                self._heads.insert(index, match.end())
                self._head_columns.insert(index, _column_list(match.group(2)))
                self._copies.add(match.end())
                ends = chunk.find(_COPY_END, match.end())
                self._copy_ends[match.end()] = len(chunk) if ends < 0 else ends

    def carry(self, chunk: str, end: int) -> SqlCarry | None:
        """The state the chunk after `end` starts from."""
        index = bisect.bisect_right(self._heads, end) - 1
        head = self._heads[index] if index >= 0 else 0
        columns = self._head_columns[index] if index >= 0 else self._carried
        copy = head in self._copies if index >= 0 else self._carried_copy
        if columns is not None and _statement_ended(chunk, head, end, copy):
            columns = None
        if not self._tables and columns is None:
            return None
        return SqlCarry(tuple(sorted(self._tables.items())), columns, copy and columns is not None)

    @property
    def active(self) -> bool:
        return bool(self._heads) or self._carried is not None

    def column(self, chunk: str, position: int) -> str | None:
        """The column name of the value at `chunk[position]`, when it is inside an INSERT."""
        index = bisect.bisect_right(self._heads, position) - 1
        head = self._heads[index] if index >= 0 else 0
        columns = self._head_columns[index] if index >= 0 else self._carried
        if not columns:
            return None
        if head in self._copies if index >= 0 else self._carried_copy:
            if index >= 0:
                data_end = self._copy_ends[head]
            else:  # carried in: found once per chunk, not once per value
                if self._carried_end < 0:
                    ends = chunk.find(_COPY_END)
                    self._carried_end = len(chunk) if ends < 0 else ends
                data_end = self._carried_end
            if position > data_end:
                return None  # after the data's end
            line_start = chunk.rfind("\n", head, position) + 1 or head
            tabs = chunk.count("\t", line_start, position)
            return columns[tabs] if tabs < len(columns) else None
        if index >= 0:  # the statement starts in this chunk: its tuples are read forward
            starts = self._tuples.get(head)
            if starts is None:
                stop = self._heads[index + 1] if index + 1 < len(self._heads) else len(chunk)
                starts = self._tuples[head] = _tuple_starts(chunk, head, stop)
            at = bisect.bisect_right(starts, position) - 1
            opening = starts[at] if at >= 0 and position - starts[at] <= _MAX_TUPLE else None
        else:  # carried in (it may begin inside a string): walked back from the value
            opening = _tuple_start(chunk, max(head, position - _MAX_TUPLE), position)
        if opening is None:
            return None
        cell = _commas_before(chunk, opening + 1, position)
        if cell is None or cell >= len(columns):
            return None
        return columns[cell]


def _table_columns(chunk: str, body: int) -> tuple[str, ...]:
    """Column names of a CREATE TABLE body starting at `body` (one definition a line, or
    comma-separated on one line)."""
    depth, end = 1, body
    limit = min(len(chunk), body + _MAX_TABLE)
    while end < limit and depth:
        char = chunk[end]
        depth += (char == "(") - (char == ")")
        end += 1
    text = chunk[body : end - 1]
    parts, depth, start = [], 0, 0
    quote = ""
    for i, char in enumerate(text):
        if quote:  # `COMMENT 'memo, free text'`: no column starts inside a string
            quote = "" if char == quote else quote
            continue
        if char in "'\"":
            quote = char
            continue
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    columns = []
    for part in parts:
        match = _COLUMN_LINE.match(part)
        if match and match.group(1).lower() not in _NOT_COLUMNS:
            columns.append(match.group(1))
    return tuple(columns)


# A quoted string (SQL doubles a quote inside one; MySQL also escapes with a backslash), or a
# parenthesis.
_TOKENS = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|[()]", re.DOTALL)


def _tuple_starts(chunk: str, start: int, stop: int) -> list[int]:
    """Where each VALUES tuple of a statement opens, read forward from its head: a `(` at
    depth 0 outside any string, so that `'a),(b'` in a value opens none."""
    starts: list[int] = []
    depth = 0
    for token in _TOKENS.finditer(chunk, start, stop):
        text = token.group()
        if text == "(":
            if depth == 0:
                starts.append(token.start())
            depth += 1
        elif text == ")":
            depth = max(0, depth - 1)
    return starts


def _tuple_start(chunk: str, low: int, position: int) -> int | None:
    """The `(` opening the VALUES tuple that `position` is in: one preceded by `VALUES` or by
    the `),` closing the tuple before it."""
    at = position
    while True:
        at = chunk.rfind("(", low, at)
        if at < 0:
            return None
        before = chunk[max(0, at - 8) : at].rstrip()
        if before.endswith(",") and before[:-1].rstrip().endswith(")"):
            return at
        if before.lower().endswith("values"):
            return at


def _commas_before(chunk: str, start: int, end: int) -> int | None:
    """Commas outside quoted strings in `chunk[start:end]`; None if `end` is not at the
    start of a value (then the tuple was misread)."""
    commas = depth = 0
    quote = ""
    i = start
    while i < end:
        char = chunk[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            if not depth:
                return None
            depth -= 1
        elif char == "," and not depth:
            commas += 1
        i += 1
    return commas


def _column_list(listed: str) -> tuple[str, ...]:
    """`(a, `b`, "c")` as its names."""
    return tuple(c.strip().strip('`"[]') for c in listed[1:-1].split(","))


def _statement_ended(chunk: str, head: int, end: int, copy: bool = False) -> bool:
    """Whether the INSERT whose values start at `head` ends (`);`) before `end`, or the COPY
    data there ends (a line holding only a backslash and a dot)."""
    if copy:
        return chunk.find(_COPY_END, max(0, head - 1), end + 2) >= 0
    return re.search(r"\)\s*;\s*$", chunk[max(head, end - 200) : end]) is not None or (
        chunk.find(";\n", head, end) >= 0
    )
