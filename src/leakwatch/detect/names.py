"""Names of sources (file paths, URLs) as leakwatch writes them, never holding an identifier.

A lookup page's address can hold the very number it looks up (`view.php?jumin=...`) and a
dump is often named after its first record (`dump_800101-1234560.csv`). Every name leakwatch
writes (a finding's or document's `source`, an error, a progress line, a run record, the
store) has its identifiers masked as findings are, whatever their confidence: a name has no
context to weigh. A masked name is followed by `#` and 12 hex digits of the keyed fingerprint
of the raw name, so two names that differ only in a hidden number stay two documents, and the
same file or URL gets the same name in every run (with the same key).

Names are also made printable as text: the bytes of a file name that are not UTF-8 (Python
holds them as surrogates) are written as `\\xNN` escapes, as they cannot be encoded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from urllib.parse import unquote

from leakwatch.detect.engine import Detector

TAG_DIGITS = 12
_DIGIT = re.compile(r"[0-9０-９]")
_FEWEST_DIGITS = 8  # a passport number's; the other identifiers have more
_CACHE = 10_000


class SourceNames:
    """Masks and tags source names with a detector's packs and key (see the module)."""

    def __init__(self, detector: Detector) -> None:
        # Every candidate, at any confidence: a name has no context to weigh.
        self._detector = Detector(
            [compiled.pack for compiled in detector.packs],
            detector.fingerprinter,
            min_confidence=0.0,
            today=detector.today,
        )
        # Names already made: a crawled page's every finding names its URL again.
        self._made: dict[tuple[str, str], str] = {}

    def mask(self, text: str, *, url: bool = False) -> str:
        """`text` with every identifier in it masked (a URL is read percent-decoded, and comes
        back so when it held one); undecodable bytes escaped."""
        if url:
            return self._made_once("url text", text, lambda _, t: self._masked(t, url=True))
        return self._made_once("text", text, lambda _, t: self._masked(t, url=False))

    def url(self, url: str) -> str:
        """A URL's name: masked, and tagged when it held an identifier."""
        return self._made_once("url", url, self._url)

    def path(self, path: str) -> str:
        """A local file's name as given (relative or not), masked and tagged when it held an
        identifier; the tag is of its absolute path, so `a.csv` and `/data/a.csv` agree."""
        return self._made_once("path", path, self._path)

    def _made_once(self, kind: str, raw: str, make: Callable[[str, str], str]) -> str:
        name = self._made.get((kind, raw))
        if name is None:
            text = printable_name(raw)
            # Every identifier has at least as many digits.
            name = text if len(_DIGIT.findall(text)) < _FEWEST_DIGITS else make(raw, text)
            if len(self._made) >= _CACHE:
                self._made.clear()
            self._made[(kind, raw)] = name
        return name

    def _url(self, raw: str, text: str) -> str:
        masked = self._masked(text, url=True)
        return masked if masked == text else f"{masked}#{self.tag(raw)}"

    def _path(self, raw: str, text: str) -> str:
        masked = self._masked(text, url=False)
        return masked if masked == text else f"{masked}#{self.tag(os.path.abspath(raw))}"

    def _masked(self, text: str, *, url: bool) -> str:
        readable = unquote(text) if url else text
        findings = self._detector.scan_text(text, readable)
        if not findings:
            return text
        chars = list(readable)
        for finding in findings:  # a mask is as long as what it hides
            start = finding.column - 1
            chars[start : start + len(finding.masked)] = finding.masked
        return "".join(chars)

    def tag(self, raw: str) -> str:
        """The keyed fingerprint of a raw name, shortened: it finds the name again for whoever
        holds the key and the candidates, and tells nothing to anyone else."""
        return self._detector.fingerprinter.fingerprint("source", raw)[:TAG_DIGITS]


def printable_name(name: str) -> str:
    """A file name with its undecodable bytes (surrogates, as os.fsdecode makes them) written
    as `\\xNN`: such a name cannot be encoded in any output as it is."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = name.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that stands for no byte: shown as \udXXX
            return name.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")
    return name
