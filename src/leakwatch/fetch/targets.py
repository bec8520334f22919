"""What to scan: command-line arguments and targets files, split into web targets and paths.

A targets file holds one target per line: a URL (or a file or folder path), then optional
`key=value` settings; `#` starts a comment. Settings: `country=CN` (ISO 3166 alpha-2, kept
for the report), `depth=N`, `max-pages=N`, `scope=host|domain`, `per-host=N` (override the
command line for that target). A bad line is reported with its file and line number and skipped; the
other targets are still scanned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from leakwatch.errors import InputError
from leakwatch.fetch.urls import Scope, canonical, host_of, is_web_url

_COUNTRY = re.compile(r"[A-Za-z]{2}")
# A comment starts at a `#` that begins the line or follows a space (a URL's #fragment does not).
_COMMENT = re.compile(r"(?:^|\s)#")
SETTINGS = ("country", "depth", "max-pages", "scope", "per-host")


@dataclass(frozen=True, slots=True)
class Target:
    """A site to crawl from one start URL."""

    url: str  # canonical start URL
    host: str
    country: str | None = None
    depth: int | None = None  # None: the run's --depth
    max_pages: int | None = None
    scope: Scope | None = None
    per_host: int | None = None  # connections to each of its hosts; None: the run's --per-host

    def line(self) -> str:
        """The target as a targets-file line: how a run records it (and `--resume` reads it)."""
        settings = {"country": self.country, "depth": self.depth, "max-pages": self.max_pages,
                    "scope": self.scope, "per-host": self.per_host}  # fmt: skip
        return " ".join([self.url, *(f"{k}={v}" for k, v in settings.items() if v is not None)])


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a run was asked to scan, in the order given."""

    paths: tuple[str, ...]  # files, folders and '-' for the local pipeline
    targets: tuple[Target, ...]
    problems: tuple[InputError, ...]  # bad entries, reported and skipped


def plan(arguments: Iterable[str], targets_files: Iterable[tuple[str, str]] = ()) -> Plan:
    """Split arguments and the lines of targets files (`(name, text)` pairs) into paths
    and web targets; a URL named twice is crawled once."""
    paths: list[str] = []
    targets: dict[str, Target] = {}
    problems: list[InputError] = []
    entries: list[tuple[str, str, str]] = [(a, a, "") for a in arguments]
    for name, text in targets_files:
        entries.extend(_file_entries(name, text))
    for where, entry, settings in entries:
        if not is_web_url(entry):
            if settings:
                problems.append(InputError(where, "settings apply to URLs only", "target"))
            else:
                paths.append(entry)
            continue
        try:
            target = _target(entry, settings)
        except ValueError as exc:
            problems.append(InputError(where, str(exc), "target"))
            continue
        targets.setdefault(target.url, target)
    return Plan(tuple(paths), tuple(targets.values()), tuple(problems))


def _file_entries(name: str, text: str) -> Iterator[tuple[str, str, str]]:
    for number, line in enumerate(text.splitlines(), 1):
        content = _COMMENT.split(line, maxsplit=1)[0].strip()
        if not content:
            continue
        entry, *settings = content.split(None, 1)
        yield f"{name}:{number}", entry, settings[0] if settings else ""


def _target(entry: str, settings: str) -> Target:
    url = canonical(entry)
    if url is None:
        raise ValueError(f"not a URL leakwatch can fetch: {entry!r}")
    values: dict[str, str] = {}
    for item in settings.split():
        key, sep, value = item.partition("=")
        key = key.lower().replace("_", "-")
        if not sep or not value:
            raise ValueError(f"setting {item!r} is not key=value")
        if key not in SETTINGS:
            raise ValueError(f"unknown setting {key!r} (known: {', '.join(SETTINGS)})")
        values[key] = value
    country = values.get("country")
    if country is not None and not _COUNTRY.fullmatch(country):
        raise ValueError(f"country={country!r} is not a two-letter ISO 3166 code")
    scope = values.get("scope")
    if scope is not None and scope not in tuple(Scope):
        raise ValueError(f"scope={scope!r} is not host or domain")
    return Target(
        url=url,
        host=host_of(url),
        country=country.upper() if country else None,
        depth=_count(values, "depth"),
        max_pages=_count(values, "max-pages"),
        scope=Scope(scope) if scope else None,
        per_host=_count(values, "per-host"),
    )


def _count(values: dict[str, str], key: str) -> int | None:
    text = values.get(key)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{key}={text!r} is not a whole number")
    if key in ("max-pages", "per-host") and int(text) < 1:
        raise ValueError(f"{key} must be at least 1")
    return int(text)
