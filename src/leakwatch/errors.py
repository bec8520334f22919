"""The errors leakwatch's core raises; only the CLI turns them into messages and exit codes.

LeakwatchError             root; `str()` is a one-line message naming what and where
├── UsageError             a bad option value or combination         -> exit 2
├── PackError              a pattern pack that cannot be used        -> exit 2
├── KeyfileError           the fingerprint key cannot be read/made   -> exit 2
├── StoreError             the findings store cannot be opened/written -> exit 2 (unusable
│                          file: corrupt, not SQLite, newer schema) or 3 (I/O: read-only, full)
├── InputError             one input (file, stdin) cannot be read    -> reported, scan goes on
├── FetchError             one URL cannot be fetched                 -> reported, crawl goes on
└── OutputError            results cannot be written                 -> exit 3
"""

from __future__ import annotations

from pathlib import Path


class LeakwatchError(Exception):
    """Root of every error leakwatch raises on purpose."""


class UsageError(LeakwatchError):
    """An option value or combination that cannot work."""


class PackError(LeakwatchError):
    """A pattern pack is malformed; names the file, the pattern and the problem."""

    def __init__(self, path: Path | str, problem: str, pattern_id: str | None = None) -> None:
        self.path = str(path)
        self.pattern_id = pattern_id
        self.problem = problem
        where = f"{self.path}: pattern {pattern_id}" if pattern_id else self.path
        super().__init__(f"{where}: {problem}")


class KeyfileError(LeakwatchError):
    """The secret key for fingerprints could not be read or created."""


class InputError(LeakwatchError):
    """One input could not be scanned (missing, unreadable, binary); the others still are."""

    def __init__(self, source: str, problem: str, kind: str = "input") -> None:
        self.source = source
        self.problem = problem
        self.kind = kind
        super().__init__(f"{source}: {problem}")


class OutputError(LeakwatchError):
    """The results could not be written where the user asked."""


class StoreError(LeakwatchError):
    """The findings store cannot be used. `unusable` is True when the file itself is the
    problem (not SQLite, corrupt, written by a newer leakwatch): the user must pick another
    --db (exit 2); False for I/O trouble (read-only location, disk full: exit 3)."""

    def __init__(self, path: Path | str, problem: str, *, unusable: bool = False) -> None:
        self.path = str(path)
        self.problem = problem
        self.unusable = unusable
        super().__init__(f"store {self.path}: {problem}")


class FetchError(LeakwatchError):
    """One URL could not be fetched; `kind` names why (timeout, connection, http, ...).
    `answered`: the server had begun its answer (status line and headers) when it failed,
    as a server trickling its body has."""

    def __init__(self, url: str, problem: str, kind: str, *, answered: bool = False) -> None:
        self.url = url
        self.problem = problem
        self.kind = kind
        self.answered = answered
        super().__init__(f"{url}: {problem}")
