"""Keep raw identifiers from leaving the process: masking and keyed fingerprints.

A plain hash of a national ID is reversible by enumeration (an RRN has about 10^9 plausible
values), so fingerprints are HMAC-SHA256 under a secret key: the same identifier gets the same
fingerprint across runs and machines that share the key, and nobody without the key can test
guesses against a report.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from leakwatch.errors import KeyfileError
from leakwatch.paths import data_dir

KEY_ENV = "LEAKWATCH_KEY"
KEY_FILENAME = "fingerprint.key"
MASK = "*"
_KEY_BYTES = 32
_HEX = re.compile(r"[0-9a-fA-F]+")


def key_path(environ: Mapping[str, str]) -> Path:
    """Where the fingerprint key file is (whether or not $LEAKWATCH_KEY is used instead)."""
    return data_dir(environ) / KEY_FILENAME


def load_key(environ: Mapping[str, str]) -> bytes:
    """The fingerprint key: $LEAKWATCH_KEY, else the key file, created (mode 0600) on first use.

    Both hold the key the same way, as 64 hex digits (32 bytes), so a team that shares it
    through the variable and through the file gets the same fingerprints.
    """
    supplied = environ.get(KEY_ENV)
    if supplied is not None:
        return parse_key(supplied, f"${KEY_ENV}")
    path = key_path(environ)
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create_key(path)
    except FileExistsError:  # another leakwatch made it a moment ago: use theirs
        pass
    except OSError as exc:
        raise KeyfileError(f"{path}: cannot create the fingerprint key: {exc.strerror}") from None
    return _read_key(path)


def _create_key(path: Path) -> None:
    """Write a new key beside `path`, then link it into place: the key appears whole or not
    at all, so two scans starting at once (two cron jobs) never read a half-written key,
    and the one that loses the race uses the winner's."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:  # mkstemp makes it mode 0600
            handle.write(secrets.token_hex(_KEY_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, path)  # fails with FileExistsError if another process was first
    finally:
        os.unlink(temp)


def _read_key(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise KeyfileError(f"{path}: cannot read the fingerprint key: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise KeyfileError(f"{path}: not a leakwatch key (not text)") from None
    return parse_key(text, str(path))


def parse_key(text: str, where: str) -> bytes:
    """A key as written in the key file or $LEAKWATCH_KEY: 64 hex digits (32 bytes), spaces
    around them ignored. The message never quotes the value: it is a secret."""
    digits = text.strip()
    if not _HEX.fullmatch(digits):
        problem = "empty" if not digits else "not hex"
    elif len(digits) != 2 * _KEY_BYTES:
        problem = f"{len(digits)} hex digits"
    else:
        return bytes.fromhex(digits)
    raise KeyfileError(
        f"{where}: not a leakwatch key ({problem}; expected {2 * _KEY_BYTES} hex digits, "
        f"{_KEY_BYTES} bytes, e.g. from: python3 -c 'import secrets; print(secrets.token_hex())')"
    )


class Fingerprinter:
    """Keyed fingerprints of (type, canonical value)."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise KeyfileError("the fingerprint key is empty")
        self._key = key

    def __repr__(self) -> str:  # never show the key
        return "Fingerprinter(<key>)"

    def fingerprint(self, type_id: str, normalized: str) -> str:
        message = f"{type_id}\x00{normalized}".encode()
        return hmac.digest(self._key, message, hashlib.sha256).hex()


def mask(text: str, keep: tuple[int, int]) -> str:
    """Hide the letters and digits of `text` but the first/last `keep` ones; keep separators.

    `mask("800101-1234560", (7, 0))` is `800101-1******`. Mask characters already in the text
    (a seller's sample, `800101-1******`) count as positions, so a sample stays as published.
    """
    lead, trail = keep
    out = list(text)
    places = [i for i, ch in enumerate(out) if ch.isalnum() or ch in _MASK_CHARS]
    if lead + trail >= len(places) and not any(out[i] in _MASK_CHARS for i in places):
        lead = trail = 0  # too short to show that much
    shown = set(places[:lead]) | set(places[len(places) - trail :] if trail else ())
    for i in places:
        if i not in shown or out[i] in _MASK_CHARS:  # a seller's x or ● is shown as * too
            out[i] = MASK
    return "".join(out)


# What sellers hide digits with in samples (`800101-1******`, `010-●●●●-5678`).
MASK_CHARS = "*xX×●○∗#＊"
_MASK_CHARS = frozenset(MASK_CHARS)


# In a context snippet every digit of a digit cluster is hidden: other identifiers on the same
# line (a phone beside an RRN) must not slip out through the snippet.
_SNIPPET_CLUSTER = re.compile(
    "[0-9\uff10-\uff19](?:[ \\t.\\-()/\uff0d\u3000]{0,3}[0-9A-Za-z\uff10-\uff19\uff21-\uff3a])*+"
)


def mask_snippet(text: str, own_span: tuple[int, int], own_masked: str,
                 names: Iterable[str] = ()) -> str:  # fmt: skip
    """A context snippet with the finding shown masked and every other digit run hidden.

    `names` are the Hangul personal names found on the row; they keep only their first
    syllable (the surname).
    """
    start, end = own_span
    pieces = [_hide_digits(text[:start]), own_masked, _hide_digits(text[end:])]
    snippet = "".join(pieces)
    for name in names:
        if len(name) > 1:
            snippet = snippet.replace(name, name[0] + MASK * (len(name) - 1))
    return snippet


def _hide_digits(text: str) -> str:
    return _SNIPPET_CLUSTER.sub(lambda m: _ALNUM.sub(MASK, m.group()), text)


_ALNUM = re.compile("[0-9A-Za-z\uff10-\uff19\uff21-\uff3a]")
