"""The ignore file: what the user has said is not a leak (`.leakwatchignore`, `--ignore FILE`).

One entry a line, as `.gitleaksignore` users know, with an optional comment after ` #`:

    3f1c…e9a0                       # a fingerprint (64 hex digits): that identifier, anywhere
    https://blog.example.com/rrn-*  # a URL glob: those pages
    ./tests/fixtures/*              # a path glob (relative to the ignore file's folder)
    kr.phone.masked                 # a pattern id (glob): every finding of that type

An entry can say what it is (`fingerprint:`, `url:`, `path:`, `pattern:`); without that
prefix its shape tells. Globs take `*` (any text, `/` included) and `?`, matched with case.

The rules are applied where findings are made (an ignored finding is not reported and does
not make its page a case) and where the store is read (so a line added today corrects the
figures of pages recorded before it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from leakwatch.errors import UsageError
from leakwatch.paths import config_dir

IGNORE_FILENAME = ".leakwatchignore"
USER_IGNORE_FILENAME = "leakwatchignore"  # in the user config folder: no need to hide it
STDIN_NAME = "<stdin>"
KINDS = ("fingerprint", "url", "path", "pattern")

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_PATTERN_ID = re.compile(r"[a-z]{2}(\.[a-z0-9_*?\[\]]+)+")
_HEX = re.compile(r"[0-9a-fA-F]+")
_SCHEME_TYPO = re.compile(r"[a-z]+(?::/(?!/)|//)", re.IGNORECASE)  # https//x, https:/x
_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_COMMENT = re.compile(r"(?:^|\s)#")


@dataclass(frozen=True, slots=True)
class IgnoreEntry:
    kind: str  # one of KINDS
    value: str  # a fingerprint, or a glob (paths absolute)
    why: str = ""


@dataclass(frozen=True, slots=True)
class IgnoreRules:
    """The entries of the ignore files in force, and where they came from."""

    entries: tuple[IgnoreEntry, ...] = ()
    files: tuple[str, ...] = ()
    # The entries by kind, worked out once: a scan asks about every finding.
    fingerprints: frozenset[str] = field(init=False, repr=False, compare=False)
    _by_kind: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_kind = {kind: tuple(e.value for e in self.entries if e.kind == kind) for kind in KINDS}
        object.__setattr__(self, "_by_kind", by_kind)
        object.__setattr__(self, "fingerprints", frozenset(by_kind["fingerprint"]))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def _globs(self, kind: str) -> tuple[str, ...]:
        return self._by_kind[kind]

    def ignores_type(self, type_id: str) -> bool:
        return any(fnmatchcase(type_id, glob) for glob in self._globs("pattern"))

    def ignores_source(self, source: str) -> bool:
        """Whether a document (a URL, a local file's path, or `<stdin>`) is ignored whole.
        A path is taken as the store keys it: absolute, links resolved."""
        if "://" in source:
            return any(fnmatchcase(source, glob) for glob in self._globs("url"))
        path = source if source == STDIN_NAME else os.path.realpath(source)
        return any(fnmatchcase(path, glob) for glob in self._globs("path"))

    def ignores(self, fingerprint: str, type_id: str) -> bool:
        """Whether a finding of this identifier (its fingerprint) and type is ignored."""
        return fingerprint in self.fingerprints or self.ignores_type(type_id)

    def matching_types(self, types: Iterable[str]) -> set[str]:
        return {t for t in types if self.ignores_type(t)}

    def describe(self) -> dict[str, object]:
        """What a report says it applied: the files and how many entries of each kind."""
        counts = {kind: sum(1 for e in self.entries if e.kind == kind) for kind in KINDS}
        return {"files": list(self.files), **{f"{k}s": n for k, n in counts.items()}}


def is_fingerprint(text: str) -> bool:
    """64 hex digits, with or without `fingerprint:`: a keyed hash, never a raw value."""
    return bool(_FINGERPRINT.fullmatch(text.strip().removeprefix("fingerprint:").lower()))


def parse_entry(
    text: str, base: Path, known_types: Collection[str] | None, where: str
) -> IgnoreEntry:
    """One entry, as written on a line or given to `leakwatch ignore` (no comment)."""
    text = text.strip().lstrip("\ufeff")  # a BOM, as Notepad writes it
    if not text:
        raise UsageError(f"{where}: an empty entry")
    kind, _, rest = text.partition(":")
    if kind in KINDS and not rest.startswith("//"):
        value = rest.strip()
        if not value:
            raise UsageError(f"{where}: '{kind}:' names nothing")
    else:
        kind, value = _kind_of(text, base, known_types, where), text
    if any(ch.isspace() for ch in value) or ("," in value and kind != "url"):
        raise UsageError(f"{where}: '{shown(value)}': one entry a line (no spaces or commas)")
    if kind == "fingerprint":
        value = value.lower()
        if not _FINGERPRINT.fullmatch(value):
            raise UsageError(f"{where}: a fingerprint is 64 hex digits, as scan output shows it")
    elif kind == "path":
        value = absolute_glob(value, base)
    return IgnoreEntry(kind, value)


def absolute_glob(glob: str, base: Path) -> str:
    """A path glob as the store keys files: absolute (from `base`), the folders before the
    first wildcard resolved (links followed), as a scanned file's path is."""
    if glob == STDIN_NAME:
        return glob
    path = os.path.normpath(base / Path(glob).expanduser())
    parts = path.split(os.sep)
    for i, part in enumerate(parts):
        if any(ch in part for ch in "*?["):
            return os.path.join(os.path.realpath(os.sep.join(parts[:i]) or os.sep), *parts[i:])
    return os.path.realpath(path)


def shown(text: str) -> str:
    """An entry as an error message may quote it: runs of 4 or more digits hidden (an entry
    typed by mistake may hold an identifier)."""
    return re.sub(r"[0-9]{4,}", lambda m: "*" * len(m.group()), text)


def _kind_of(text: str, base: Path, known_types: Collection[str] | None, where: str) -> str:
    """What an entry without a prefix is, by its shape; `known_types` None: any pattern id
    is taken (a report does not know the packs a scan used)."""
    if _FINGERPRINT.fullmatch(text.lower()):
        return "fingerprint"
    if "://" in text:
        return "url"
    if len(text) >= 32 and _HEX.fullmatch(text):
        raise UsageError(f"{where}: a fingerprint is 64 hex digits, not {len(text)}")
    if _SCHEME_TYPO.match(text):
        raise UsageError(f"{where}: '{shown(text)}' is not a URL: write scheme://host/...")
    if _PATTERN_ID.fullmatch(text):
        if known_types is None or any(fnmatchcase(t, text) for t in known_types):
            return "pattern"
        raise UsageError(
            f"{where}: '{shown(text)}' is no known pattern id (see leakwatch patterns list); "
            "write url:..., path:... or pattern:... to say what it is"
        )
    if "/" not in text and _HOST.fullmatch(text) and not (base / text).exists():
        raise UsageError(
            f"{where}: '{shown(text)}' looks like a host name; write a URL glob "
            f"(https://{shown(text)}/*) or path:{shown(text)} for a file of that name"
        )
    return "path"


def parse(
    lines: Iterable[str], base: Path, known_types: Collection[str] | None, name: str
) -> list[IgnoreEntry]:
    entries = []
    for number, line in enumerate(lines, 1):
        comment = _COMMENT.search(line)
        text = (line[: comment.start()] if comment else line).strip().lstrip("\ufeff")
        if not text:
            continue
        why = line[comment.end() :].strip() if comment else ""
        entry = parse_entry(text, base, known_types, f"{name}:{number}")
        entries.append(IgnoreEntry(entry.kind, entry.value, why))
    return entries


def discovered(environ: Mapping[str, str], cwd: Path) -> list[Path]:
    """The ignore files that apply when none is named: the working folder's, then the user's."""
    found = [cwd / IGNORE_FILENAME, config_dir(environ) / USER_IGNORE_FILENAME]
    return [p for p in found if p.is_file()]


def load(paths: Sequence[Path], known_types: Collection[str] | None) -> IgnoreRules:
    """The rules of these files; a file that cannot be read or a bad line is a UsageError."""
    entries: list[IgnoreEntry] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise UsageError(f"{path}: no such ignore file") from None
        except IsADirectoryError:
            raise UsageError(f"{path}: a folder, not an ignore file") from None
        except UnicodeDecodeError:
            raise UsageError(f"{path}: not a text ignore file (UTF-8)") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the ignore file: {exc.strerror}") from None
        entries.extend(parse(text.splitlines(), path.parent.absolute(), known_types, str(path)))
    return IgnoreRules(tuple(entries), tuple(str(p) for p in paths))


def rules_in_force(
    named: Sequence[Path] | None,
    off: bool,
    known_types: Collection[str] | None,
    environ: Mapping[str, str],
    cwd: Path,
) -> IgnoreRules:
    """`--no-ignore`: none; `--ignore FILE...`: those files only; else the discovered ones."""
    if off:
        return IgnoreRules()
    return load(named if named else discovered(environ, cwd), known_types)


def line_for(entry: IgnoreEntry, why: str | None) -> str:
    """The line `leakwatch ignore` appends: the entry, its kind said, and the reason."""
    text = f"{entry.kind}:{entry.value}"
    if why:
        text += f"  # {' '.join(why.split())}"
    return text + "\n"
