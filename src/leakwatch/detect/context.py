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
from dataclasses import dataclass
from typing import Any

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

    The regex is the words' trie (`身份(?:证(?:号)?|證)|手机(?:号)?|…`), so Python's engine
    skips ahead to a possible first character and then follows one branch instead of trying
    every word: about 500 MB/s on Chinese prose, where a flat alternation of the same words
    manages 50. Deeper branches come first, so the longest word at a position wins.
    Case-insensitivity without the IGNORECASE flag, and word boundaries without look-arounds,
    both of which would cost the skip-ahead: each Latin word is listed as written, in lower
    case, Capitalised and UPPER case, and a Latin word glued to another letter is skipped here.
    Words are escaped literals, so the backtracking engine is safe with them.
    """

    def __init__(self, words: Iterable[str]) -> None:
        variants: set[str] = set()
        for word in words:
            folded = fold(word)
            variants.update({word, folded, folded.capitalize(), folded.title(), folded.upper()})
        variants.discard("")
        self.regex = re.compile(_trie_pattern(variants) if variants else r"(?!x)x")

    def finditer(
        self, text: str, pos: int = 0, endpos: int | None = None
    ) -> Iterator[re.Match[str]]:
        end = len(text) if endpos is None else endpos
        for match in self.regex.finditer(text, pos, end):
            if _standalone(text, match):
                yield match

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        return next(self.finditer(text, pos, endpos), None)


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching exactly `words`, shaped as their trie; longest match first."""
    trie: dict[str, dict[str, Any]] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, dict[str, Any]]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # may stop here: try the longer words first, then stop
            return f"(?:{body})?"
        return body

    top = [re.escape(char) + pattern(child) for char, child in sorted(trie.items())]
    return "|".join(top)


def _standalone(text: str, match: re.Match[str]) -> bool:
    """A Latin word must not be part of a longer word (`id` in `video`), nor a number part of
    a longer number (`0086` at the end of `130115-4010086`)."""
    word = match.group()
    start, end = match.span()
    if start > 0 and _same_class(word[0], text[start - 1]):
        return False
    return not (end < len(text) and _same_class(word[-1], text[end]))


def _same_class(a: str, b: str) -> bool:
    return (a in _LATIN and b in _LATIN) or (a in _DIGITS and b in _DIGITS)


_LATIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")


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

        `before` ends where the candidate starts and `after` begins where it ends. A label
        further left than another number belongs to that number.
        """
        # A label labels the number right after it: nothing left of the last digit, comma or
        # sentence end before the candidate counts, nor anything further than MAX_LABEL_GAP.
        last_digit = _LAST_BARRIER.search(before)
        start = last_digit.start() + 1 if last_digit else 0
        start = max(start, len(before) - MAX_LABEL_GAP - _LONGEST_LABEL)
        if self._words.regex.search(before, start) is not None:  # the common case: no label
            best: re.Match[str] | None = None
            head: re.Match[str] | None = None  # the word `best` is glued to, if any
            for match in self._words.finditer(before, start):
                head = best if best is not None and best.end() == match.start() else None
                best = match
            if best is not None and _joins(before[best.end() :]):
                if head is not None and fold(best.group()) in _GENERIC:
                    return self._label(head)  # `駕照號碼` is a licence, not any 號碼
                return self._label(best)
        if self._words.regex.search(after) is None:
            return None
        right = self._words.search(after)
        if right is None or _BARRIER.search(after, 0, right.start()):
            return None
        if _OWN_VALUE.match(after, right.end()):
            return None  # `样本 800101-1****** 价格 2U/条`: 价格 labels the 2 after it
        return self._label(right) if _joins(after[: right.start()]) else None

    def classify(self, text: str) -> Label | None:
        """The first label word inside `text` (a column header cell), if any."""
        match = self._words.search(fold(text))
        return self._label(match) if match else None


_DIGIT = re.compile("[0-9]")
# A label followed by a number of its own, or a form key (`&hp=`): it names what follows.
_OWN_VALUE = re.compile(r"[\s:：=]{0,3}[0-9]|\s*=")
# What separates a label from a number it does not name: another number, a sentence end.
_BARRIER = re.compile("[0-9。！？!?；;，,、]")
_LAST_BARRIER = re.compile("[0-9。！？!?；;，,、](?=[^0-9。！？!?；;，,、]*$)")
# Between a label and its number: `身份证号码（韩国公民）：` has 8 characters after the word.
MAX_LABEL_GAP = 12
_LONGEST_LABEL = 24
# What may stand between a label and its number besides punctuation and bracketed asides:
# a connector of a few letters (`码`, `号码为`, `번호는`, `No.`), not other words
# (`：北京市朝阳区`).
_ASIDE = re.compile(r"[(（\[【][^)）\]】]{0,20}[)）\]】]")
_PUNCTUATION = re.compile(r"[\s:：=#\-—–.,、/|·•\"'“”‘’]+")
_SAME_TOKEN = re.compile(r"[A-Za-z_]+")  # `bank` in `bank_account`, `passport` in `passportNo`
MAX_CONNECTOR = 3
# Words that only say "number": after another label they name nothing of their own
# (`驾驶证号码`, `Card number`), and between a label and its value they are connectors.
_GENERIC = frozenset({"号码", "號碼", "编号", "編號", "번호", "number", "no", "num", "nr"})
_CONNECTOR_WORDS = re.compile(r"\b(?i:number|num|no)\b|号码|號碼|번호")


def _joins(gap: str) -> bool:
    """Whether `gap` (between a label and a number) still lets the label name the number."""
    token = _SAME_TOKEN.match(gap)
    rest = gap[token.end() :] if token else gap
    if len(rest) > MAX_LABEL_GAP:
        return False
    rest = _CONNECTOR_WORDS.sub("", _ASIDE.sub("", rest))
    return len(_PUNCTUATION.sub("", rest)) <= MAX_CONNECTOR


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


@dataclass(frozen=True, slots=True)
class Header:
    """A header row: its delimiter and cell texts."""

    delimiter: str
    cells: tuple[str, ...]


@dataclass(slots=True)
class _Table:
    """A run of delimited rows, with the header found above it (or none)."""

    delimiter: str
    width: int
    header: Header | None
    top: int  # chunk offset where the table's rows begin (below its header)
    verified_to: int  # rows up to this chunk offset are known to belong to the table

    def fits(self, row: str) -> bool:
        if not self.delimiter:  # a list: one value a line
            return is_list_item(row)
        # Wider is fine: the last cell (an address, a note) may hold the delimiter itself.
        return row.count(self.delimiter) + 1 >= self.width - 1

    def cell(self, row: str, offset: int) -> str | None:
        if self.header is None:
            return None
        if not self.delimiter:
            return self.header.cells[0]
        index = row.count(self.delimiter, 0, offset)
        cells = self.header.cells
        return cells[index] or None if index < len(cells) else None


@dataclass(frozen=True, slots=True)
class TableCarry:
    """A table whose rows run on past the end of a chunk: what the next chunk needs to name
    its first rows' columns. Comparable, so a chunk scanned with a guessed carry can be
    checked (see detect/parallel.py)."""

    delimiter: str
    width: int
    header: Header


@dataclass(slots=True)
class ColumnTracker:
    """Names the column a value sits in, from the header row of its table.

    Works the same for CSV/TSV/pipe dumps and for HTML tables (extracted as tab-separated
    rows). Lazy: only a row holding a candidate is looked at; its table's header is searched
    for upwards once, then remembered while the following rows continue the table, so a
    million-row dump costs one look per row and prose costs nothing.
    """

    header_words: WordMatcher
    _table: _Table | None = None
    _carried: TableCarry | None = None  # the table the chunk's first rows continue

    def column(self, chunk: str, row_start: int, row_end: int, offset: int) -> str | None:
        """The header cell above `chunk[row_start + offset]`, when its row is in a table."""
        row = chunk[row_start:row_end]
        table = self._table
        if table is not None and table.top <= row_start and row_end <= table.verified_to:
            return table.cell(row, offset)  # another value on a row already placed
        if (
            table is not None
            and table.delimiter in row
            and row_start >= table.verified_to
            # or a table row cut by the chunk's end (a list line is whole or no list line)
            and (table.fits(row) or (bool(table.delimiter) and chunk.find("\n", row_end) < 0))
            and _continues(chunk, table, table.verified_to, row_start)
        ):
            table.verified_to = row_end
            return table.cell(row, offset)
        delimiter = _delimiter_of(row)
        if delimiter is None:
            if not is_list_item(row):
                return None
            found = _find_list(chunk, row_start, row_end, self.header_words)
        else:
            found = _find_table(chunk, row_start, row_end, delimiter, self.header_words)
        if found.header is None and found.top == 0 and self._carried is not None:
            # The rows run up to the chunk's start: they continue the table carried in, and
            # its header names them however far above it was (a 100,000-row dump).
            carried = self._carried
            if carried.delimiter == found.delimiter and (
                not carried.delimiter or abs(carried.width - found.width) <= 1
            ):
                found.header = carried.header
        self._table = found
        return found.cell(row, offset)

    def restore(self, carry: TableCarry | None) -> None:
        """Start a chunk whose first rows may continue the previous chunk's table."""
        self._table = None
        self._carried = carry
        if carry is not None:
            self._table = _Table(carry.delimiter, carry.width, carry.header, 0, 0)

    def carry(self) -> TableCarry | None:
        """After `end_chunk`: the table the next chunk's first rows may continue."""
        table = self._table
        if table is None or table.header is None:
            return None
        return TableCarry(table.delimiter, table.width, table.header)

    def end_chunk(self, chunk: str, end: int) -> None:
        """Carry a table whose rows run on past `end` (where this part stops) into the next."""
        table = self._table
        if table is None or not _continues(chunk, table, table.verified_to, end):
            stop = end
            while stop > 0 and chunk[stop - 1] == "\n":
                stop -= 1
            last_line = chunk[chunk.rfind("\n", max(0, stop - _MAX_HEADER_LINE), stop) + 1 : stop]
            delimiter = _delimiter_of(last_line)
            table = None
            if delimiter is not None:
                table = _find_table(chunk, end, end, delimiter, self.header_words)
            elif is_list_item(last_line):
                table = _find_list(chunk, end, end, self.header_words)
        if table is not None and table.header is not None:
            table.top = table.verified_to = 0
            self._table = table
        else:
            self._table = None


_MAX_LOOKBACK_LINES = 200_000
_MAX_ODD_ROWS = 2


def _delimiter_of(row: str) -> str | None:
    delimiter = max(_DELIMITERS, key=row.count)
    return delimiter if delimiter in row else None


# A line of a list: one value and nothing else (`800101-1234560`, `M12345678`, `010 1234 5678`).
_LIST_ITEM = re.compile(
    "[ \t]*(?=[^\n]*[0-9\uff10-\uff19])[0-9A-Za-z\uff10-\uff19\uff21-\uff3a]"
    "[0-9A-Za-z\uff10-\uff19\uff21-\uff3a \\-.\u2010-\u2015\uff0d]{5,30}[ \t\r]*"
)


_MAX_LIST_ITEM = 48


def is_list_item(line: str) -> bool:
    """Whether a line holds one value and nothing else (a row of a one-column list)."""
    if len(line) > _MAX_LIST_ITEM:  # most lines: prose, table rows
        return False
    return _LIST_ITEM.fullmatch(line) is not None and not any(d in line for d in _DELIMITERS)


def _find_list(chunk: str, row_start: int, row_end: int, header_words: WordMatcher) -> _Table:
    """Walk up from a list line while lines are list lines; the line above them is the
    list's header when it is a short known label (`주민등록번호`, `身份证号：`)."""
    position = row_start
    for _ in range(_MAX_LOOKBACK_LINES):
        if position <= 0:
            break
        line_end = position - 1
        line_start = chunk.rfind("\n", max(0, line_end - _MAX_HEADER_LINE), line_end) + 1
        line = chunk[line_start:line_end]
        if is_list_item(line):
            position = line_start
            continue
        cell = line.strip().rstrip(":：").strip()
        if (
            cell
            and len(cell) <= _MAX_HEADER_CELL
            and not _has_digit(cell, 0, len(cell))
            and header_words.search(fold(cell))
        ):
            return _Table("", 1, Header("", (cell,)), position, row_end)
        break
    return _Table("", 1, None, position, row_end)


def _continues(chunk: str, table: _Table, start: int, end: int) -> bool:
    """Every line between `start` and `end` is a row of `table` (no blank or foreign line)."""
    between = chunk[start:end].strip("\n")
    if not between:
        return start == end or "\n\n" not in chunk[start:end]
    return all(table.delimiter in line and table.fits(line) for line in between.split("\n"))


def _find_table(
    chunk: str, row_start: int, row_end: int, delimiter: str, header_words: WordMatcher
) -> _Table:
    """Walk up from a row while lines are delimited rows; the first header row found wins."""
    row = chunk[row_start:row_end]
    width = row.count(delimiter) + 1 if row else 0
    position = row_start
    odd = 0  # consecutive rows of another width (an address with commas in it)
    for _ in range(_MAX_LOOKBACK_LINES):
        if position <= 0:
            break
        line_end = position - 1
        lowest = max(0, line_end - _MAX_HEADER_LINE)
        newline = chunk.rfind("\n", lowest, line_end)
        if newline < 0 and lowest > 0:
            break  # a line too long to be a table row
        line_start = newline + 1
        line = chunk[line_start:line_end]
        if delimiter not in line:
            # `格式：账号----密码----实名` then `以下为样本：`: a short caption may stand between
            # a header and its rows.
            header = _header_above_caption(chunk, line_start, line, header_words, delimiter)
            if header is not None:
                return _Table(delimiter, width or len(header.cells), header, position, row_end)
            break
        header = _parse_header(line, header_words, delimiter)
        if header is not None:
            return _Table(delimiter, width or len(header.cells), header, position, row_end)
        if width and abs(line.count(delimiter) + 1 - width) > 1:
            odd += 1
            if odd > _MAX_ODD_ROWS:
                break
        else:
            odd = 0
        position = line_start
    return _Table(delimiter, width, None, position, row_end)


_MAX_CAPTION = 40


def _header_above_caption(
    chunk: str, caption_start: int, caption: str, header_words: WordMatcher, delimiter: str
) -> Header | None:
    if caption_start == 0 or len(caption) > _MAX_CAPTION or _has_digit(caption, 0, len(caption)):
        return None
    end = caption_start - 1
    start = chunk.rfind("\n", max(0, end - _MAX_HEADER_LINE), end) + 1
    return _parse_header(chunk[start:end], header_words, delimiter)


def _parse_header(line: str, header_words: WordMatcher, delimiter: str) -> Header | None:
    """A header row: delimited, short non-numeric cells, at least half of them known names."""
    if len(line) > _MAX_HEADER_LINE or delimiter not in line:
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
