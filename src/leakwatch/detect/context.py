"""Context around a candidate: the label next to it, its column header, names and script.

Leaked Korean data is mostly tabular or labelled (`身份证号：…`, a CSV with a header row, an
HTML table), so the nearest label and the column header say what a number is. Everything here
runs only around candidates, never over whole pages, except the header search, which is one
C-level regex pass.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

NEGATIVE = "!negative"  # owner of a word that labels something that is not an identifier
_DELIMITERS = ("\t", "|", "----", ",", ";")
_MAX_HEADER_LINE = 2000
_MAX_HEADER_CELL = 40
# Korean surnames (the common ~90 of about 280, covering nearly all the population).
_SURNAMES = (
    "김이박최정강조윤장임한오서신권황안송류유전홍고문양손배백허남심노하곽성차주우구민나진지엄채원"
    "천방공현함변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어은편용예경봉사부가복태목형피"
    "두감음빈동온호범좌팽승간상갈단견당화창옹"
)
# A full name is three syllables (surname + two) far more often than not; two-syllable
# tokens (지방, 주소, 정보) are mostly words, so they count only as a whole table cell.
_NAME = re.compile(
    rf"(?<![가-힣])[{_SURNAMES}][가-힣]{{2}}(?![가-힣])"
    rf"|(?:^|(?<=[\t,|;]))[{_SURNAMES}][가-힣](?=$|[\t,|;])",
    re.MULTILINE,
)
# Place names and administrative units end like this (서울시, 강남구, 명동): not names.
_NOT_NAME_ENDINGS = frozenset("시도구군동읍면리로길")


def fold(text: str) -> str:
    """The form context words are compared in: NFKC (full-width, compatibility), lower case."""
    return unicodedata.normalize("NFKC", text).lower()


class WordMatcher:
    """Finds any of a set of literal words, fast, in raw or folded text.

    The regex is a plain alternation of literals, longest first: that is what lets Python's
    engine skip ahead to the next possible first character (about 800 MB/s on Chinese text).
    Case-insensitivity without the IGNORECASE flag, and word boundaries without look-arounds,
    both of which would drop it below 5 MB/s: each Latin word is listed as written, in lower
    case, Capitalised and UPPER case, and a Latin word glued to another letter is skipped here.
    Words are escaped literals, so the backtracking engine is safe with them.
    """

    def __init__(self, words: Iterable[str]) -> None:
        variants: set[str] = set()
        for word in words:
            folded = fold(word)
            variants.update({word, folded, folded.capitalize(), folded.upper()})
        ordered = sorted((w for w in variants if w), key=len, reverse=True)
        self.regex = re.compile("|".join(map(re.escape, ordered)) if ordered else r"(?!x)x")

    def finditer(
        self, text: str, pos: int = 0, endpos: int | None = None
    ) -> Iterator[re.Match[str]]:
        end = len(text) if endpos is None else endpos
        for match in self.regex.finditer(text, pos, end):
            if _standalone(text, match):
                yield match

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        return next(self.finditer(text, pos, endpos), None)


def _standalone(text: str, match: re.Match[str]) -> bool:
    """A Latin word must not be part of a longer word (`id` in `video`)."""
    word = match.group()
    start, end = match.span()
    if start > 0 and word[0] in _LATIN and text[start - 1] in _LATIN:
        return False
    return not (end < len(text) and word[-1] in _LATIN and text[end] in _LATIN)


_LATIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True, slots=True)
class Label:
    """A context word found next to a candidate and who it speaks for."""

    word: str
    owners: frozenset[str]


class LabelVocabulary:
    """Every label word of a pack, mapped to the pattern ids (or NEGATIVE) it names."""

    def __init__(self, owners: Mapping[str, frozenset[str]]) -> None:
        self._owners = {fold(word): who for word, who in owners.items()}
        self._words = WordMatcher(self._owners)

    def _label(self, match: re.Match[str]) -> Label:
        word = match.group()
        return Label(word, self._owners[fold(word)])

    def nearest(self, before: str, after: str) -> Label | None:
        """The label closest to the candidate with no digit between them.

        `before` ends where the candidate starts and `after` begins where it ends; both are
        folded already. A label further left than another number belongs to that number.
        """
        last_digit = _LAST_DIGIT.search(before)
        start = last_digit.start() + 1 if last_digit else 0
        best: re.Match[str] | None = None
        for best in self._words.finditer(before, start):  # noqa: B007 - the last one is wanted
            pass
        if best is not None:
            return self._label(best)
        match = self._words.search(after)
        if match is None or _DIGIT.search(after, 0, match.start()):
            return None
        return self._label(match)

    def classify(self, text: str) -> Label | None:
        """The first label word inside `text` (a column header cell), if any."""
        match = self._words.search(fold(text))
        return self._label(match) if match else None


_DIGIT = re.compile("[0-9]")
_LAST_DIGIT = re.compile("[0-9](?=[^0-9]*$)")


def _has_digit(text: str, start: int, end: int) -> bool:
    return _DIGIT.search(text, start, end) is not None


def hangul_names(row: str, vocabulary: LabelVocabulary) -> list[str]:
    """Hangul tokens on a row that look like personal names (surname + 1-3 syllables).

    Words of the vocabulary (`주소`, `이름`, `한국` ...) are not names.
    """
    return [
        m.group()
        for m in _NAME.finditer(row)
        if m.group()[-1] not in _NOT_NAME_ENDINGS and vocabulary.classify(m.group()) is None
    ]


@dataclass(slots=True)
class Header:
    """A header row: its delimiter and cell texts."""

    delimiter: str
    cells: tuple[str, ...]


@dataclass(slots=True)
class ColumnTracker:
    """Remembers the latest header row of a document, to name the column a value sits in.

    Works the same for CSV/TSV/pipe dumps and for HTML tables (extracted as tab-separated
    rows). The header search runs once over each stretch of text, in order.
    """

    header_words: WordMatcher
    header: Header | None = None
    _searched_to: int = field(default=0)

    def new_chunk(self) -> None:
        self._searched_to = 0

    def advance(self, text: str, upto: int) -> None:
        """Look for header rows in `text[searched_to:upto]`; the last one found wins."""
        pos = self._searched_to
        while pos < upto:
            match = self.header_words.search(text, pos, upto)
            if match is None:
                break
            start = text.rfind("\n", max(0, match.start() - _MAX_HEADER_LINE), match.start()) + 1
            end = text.find("\n", match.end(), match.end() + _MAX_HEADER_LINE)
            end = len(text) if end < 0 else end
            header = _parse_header(text[start:end], self.header_words)
            if header is not None:
                self.header = header
            pos = end + 1
        self._searched_to = max(self._searched_to, upto)

    def column(self, row: str, offset: int) -> str | None:
        """The header cell above position `offset` of `row`, when the row fits the header."""
        header = self.header
        if header is None or header.delimiter not in row:
            return None
        cells = row.count(header.delimiter) + 1
        if abs(cells - len(header.cells)) > 1:
            return None
        index = row.count(header.delimiter, 0, offset)
        if index >= len(header.cells):
            return None
        return header.cells[index] or None


def _parse_header(line: str, header_words: WordMatcher) -> Header | None:
    """A header row: delimited, short non-numeric cells, at least half of them known names."""
    if len(line) > _MAX_HEADER_LINE:
        return None
    delimiter = max(_DELIMITERS, key=line.count)
    if line.count(delimiter) == 0:
        return None
    cells = tuple(cell.strip().strip('"').strip() for cell in line.split(delimiter))
    filled = [c for c in cells if c]
    if len(filled) < 2 or any(
        len(c) > _MAX_HEADER_CELL or _has_digit(c, 0, len(c)) for c in filled
    ):
        return None
    known = sum(1 for c in filled if header_words.search(fold(c)))
    if known * 2 < len(filled):
        return None
    return Header(delimiter, cells)


def script_share(text: str, home: str, other: str = "\u4e00-\u9fff") -> float:
    """Share of `home`-script characters among home + `other` (Han) characters; 1.0 if none."""
    home_count = len(re.findall(f"[{home}]", text))
    other_count = len(re.findall(f"[{other}]", text))
    total = home_count + other_count
    return 1.0 if total == 0 else home_count / total
