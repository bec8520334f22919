"""The detector: find identifiers in text, validate them, weigh their context, emit findings.

How a chunk of text is scanned, and why it is fast and safe:

1. A fixed, possessive (hence linear) regex finds digit clusters: the only places an
   identifier can be. On Chinese prose this runs at several hundred MB/s.
2. Each cluster, widened by a few characters, becomes a window; the windows are normalised
   (full-width forms, dashes) and joined into one UTF-8 buffer.
3. Every pack pattern runs over that buffer with RE2, which is linear-time whatever regex an
   analyst writes, so a hostile page cannot hang the scanner.
4. Candidates are checked (digit boundaries, validator) and scored from their evidence:
   validator outcome, nearest label, column header, other identifiers and names on the row,
   Korea markers, look-alike rules. Overlaps are resolved, and survivors become findings.

Documents are fed in pieces of any size; they are cut into chunks at line ends (or, inside
a giant line, with an overlap) so memory stays flat and no match is lost on a boundary.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from leakwatch.detect.context import (
    NEGATIVE,
    ColumnTracker,
    LabelVocabulary,
    TableCarry,
    WordMatcher,
    fold,
    hangul_names,
    is_list_item,
    script_share,
)
from leakwatch.detect.packs import SCRIPTS, Pack, Pattern, compile_re2
from leakwatch.detect.redact import MASK_CHARS, Fingerprinter, mask, mask_snippet
from leakwatch.detect.sql import SqlCarry, SqlColumns
from leakwatch.extract.sources import context_before
from leakwatch.ignore import IgnoreRules
from leakwatch.models import Finding, Validation, Verdict

DEFAULT_MIN_CONFIDENCE = 0.5
CHUNK_CHARS = 1 << 18
# A match may start this many characters before its cluster's first digit (`+82 `, `서울 `,
# the passport letter) and end this many after its last (mask characters).
WINDOW_BEFORE = 12
WINDOW_AFTER = 8
# How far context is looked for, and the longest row considered one row.
LABEL_BEFORE = 40
LABEL_AFTER = 16
MAX_ROW = 800
# Text kept on either side of a chunk's own part: more than any rule looks (a row reaches
# MAX_ROW // 2, a record block BLOCK), so findings never depend on where a document is cut.
CONTEXT_CHARS = 1024
PAGE_SAMPLE_CHARS = 20_000  # a document's beginning, for facts about the whole page
BLOCK = 300  # a record block (one field per line) reaches this far each way...
BLOCK_LINES = 3  # ...and this many lines
SNIPPET_BEFORE = 30
SNIPPET_AFTER = 20

# Full-width ASCII, dash variants and odd spaces map one character to one character, so
# positions in normalised text are positions in the original.
# Only what patterns read is normalised: full-width digits, letters, `+-.*()`, dashes, spaces;
# not the full-width comma or colon every Chinese label carries.
_NORMALISE = {
    c: c - 0xFEE0
    for c in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B),
              0xFF0B, 0xFF0D, 0xFF0E, 0xFF0A, 0xFF08, 0xFF09)
}  # fmt: skip
_NORMALISE.update(dict.fromkeys((*range(0x2010, 0x2016), 0x2212, 0xFE63), ord("-")))
_NORMALISE.update(dict.fromkeys((0x3000, 0x00A0, *range(0x2002, 0x200C)), ord(" ")))
_NEEDS_NORMALISING = re.compile("[" + "".join(map(chr, sorted(_NORMALISE))) + "]")
_TABLE_DELIMITERS = ("\t", ",", "|", ";", "----")
# Possessive: a cluster never backtracks. At least six digits/letters/mask characters;
# full-width digits and letters count (they are normalised window by window, never the
# whole text, so full-width punctuation elsewhere is left alone).
_CLUSTER = re.compile(
    "[0-9\uff10-\uff19]"
    "(?:[ \\-.()\u2010-\u2015\u2212\ufe63\uff0d\uff0e\uff08\uff09\u3000]{0,3}"
    "[0-9A-Za-z*#\u00d7\u25cf\u25cb\u2217\uff0a\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]){5,}+"
)
_SUPPORT_CONTEXT = frozenset({"context", "column"})
_LABELLED = ("context:", "column:")
_SUPPORT_UNVERIFIED = frozenset({"context", "column", "row", "list"})
_NOT_A_TIMESTAMP = (*_LABELLED, "list")  # evidence that a bare 13-digit number is an ID
# A list (one value a line) of at least this many lines, nearly all of them identifiers that
# validate, is a list of identifiers: each of its lines is supported by the others.
LIST_MIN_LINES = 8
LIST_SHARE = 0.8
_LIST_SLACK = 8  # spaces and a carriage return around a list line's value
_STRENGTH = {Verdict.PASS: 2, Verdict.UNVERIFIED: 1, Verdict.FORMAT: 1, Verdict.FAIL: 0}
# Column names that mark a header row besides the packs' own context words.
_HEADER_WORDS = (
    "姓名", "名字", "性别", "年龄", "出生日期", "生日", "邮箱", "密码", "账户名", "用户名", "序号",
    "编号", "地址", "住址", "實名", "实名", "이름", "성명", "성별", "나이", "주소", "이메일",
    "비밀번호", "아이디", "번호", "생일", "직업", "상호", "상호명", "대표자", "대표", "업체명",
    "회사명", "고객센터", "店名", "公司名称", "酒店名称", "name", "gender", "sex", "age", "email",
    "e-mail", "password", "username", "id", "dob", "address",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _CompiledPack:
    """A pack with its vocabularies compiled once."""

    pack: Pack
    personal: dict[str, WordMatcher]  # per pattern id: labels saying "this person's own"
    business: dict[str, WordMatcher]  # per pattern id: words saying "a business's row"
    labels: LabelVocabulary
    markers: WordMatcher  # Korea markers, and the trading traps that contain them
    traps: frozenset[str]
    against: dict[str, WordMatcher]
    home_script: str | None
    # Per look-alike (by id: it lives as long as its pack): its unless_labelled words, folded.
    unless_labelled: dict[int, frozenset[str]]

    def marker(self, text: str) -> str | None:
        """The first Korea marker in `text` that is not part of a trap (韩国料理 is food)."""
        for match in self.markers.finditer(text):
            if fold(match.group()) not in self.traps:
                return match.group()
        return None


@dataclass(slots=True)
class _Candidate:
    pattern: Pattern
    compiled: _CompiledPack
    start: int
    end: int
    text: str
    validation: Validation
    row_start: int = 0
    row_end: int = 0
    evidence: list[str] = field(default_factory=list)
    confidence: float = 0.0
    names: list[str] = field(default_factory=list)  # Korean personal names on the row
    labelled: bool = False  # a label or column names it as its own type


class Detector:
    """Compiled pattern packs plus the scan settings; opens one DocumentScan per document."""

    def __init__(
        self,
        packs: Sequence[Pack],
        fingerprinter: Fingerprinter,
        *,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        reveal: bool = False,
        today: dt.date | None = None,
        ignore: IgnoreRules | None = None,
    ) -> None:
        self.packs = tuple(_compile(pack) for pack in packs)
        patterns = [(p, c, _bounded_regex(p)) for c in self.packs for p in c.pack.patterns]
        self.free_patterns = tuple(x for x in patterns if not x[0].requires_context)
        self.context_patterns = tuple(x for x in patterns if x[0].requires_context)
        self.context_words = WordMatcher(
            word
            for compiled in self.packs
            for pattern in compiled.pack.patterns
            if pattern.requires_context
            for word in (*pattern.context, *pattern.personal)
        )
        # Below its cap, a type that needs context cannot be reported without it, so windows
        # with no label nearby and no table delimiter on their line are not searched for it.
        self.skip_context_free_windows = all(
            min_confidence > c.pack.scoring["cap"] for c in self.packs
        )
        self.fingerprinter = fingerprinter
        self.min_confidence = min_confidence
        self.reveal = reveal
        self.today = today or dt.date.today()
        # Applied by the pipeline to the findings of each document (`scan_document`).
        self.ignore = ignore or IgnoreRules()
        header_vocabulary: list[str] = list(_HEADER_WORDS)
        for compiled in self.packs:
            for pattern in compiled.pack.patterns:
                header_vocabulary.extend(pattern.context)
                header_vocabulary.extend(pattern.personal)
                header_vocabulary.extend(pattern.negative)
            header_vocabulary.extend(compiled.pack.negative)
        self.header_words = WordMatcher(header_vocabulary)

    def open(self, source: str) -> DocumentScan:
        return DocumentScan(self, source)

    def foreign_packs(self, sample: str) -> frozenset[str]:
        """The packs whose home script a page is not mostly written in, judged from its
        first PAGE_SAMPLE_CHARS characters: fewer than HOME_SHARE home-script letters among
        home-script and Han letters (a Chinese page, for the Korean pack)."""
        return frozenset(
            c.pack.id
            for c in self.packs
            if c.home_script is not None and script_share(sample, c.home_script) < HOME_SHARE
        )

    def scan_text(self, source: str, text: str) -> list[Finding]:
        """All findings in a complete text (tests, examples, small inputs)."""
        scan = self.open(source)
        return [*scan.feed(text), *scan.finish()]


def _compile(pack: Pack) -> _CompiledPack:
    owners: dict[str, set[str]] = {}
    for pattern in pack.patterns:
        for word in (*pattern.context, *pattern.personal):
            owners.setdefault(fold(word), set()).add(pattern.id)
        for word in pattern.negative:
            owners.setdefault(fold(word), set()).add(NEGATIVE + ":" + pattern.id)
    for word in pack.negative:
        owners.setdefault(fold(word), set()).add(NEGATIVE)
    against = {
        p.id: WordMatcher(word for look in p.lookalikes for word in look.against)
        for p in pack.patterns
        if p.lookalikes
    }
    traps = pack.trading.traps if pack.trading else ()
    return _CompiledPack(
        pack=pack,
        personal={p.id: WordMatcher(p.personal) for p in pack.patterns if p.personal},
        business={p.id: WordMatcher(p.business) for p in pack.patterns if p.business},
        labels=LabelVocabulary({w: frozenset(o) for w, o in owners.items()}),
        markers=WordMatcher((*pack.markers, *traps)),
        traps=frozenset(fold(t) for t in traps),
        against=against,
        home_script=SCRIPTS[pack.script] if pack.script else None,
        unless_labelled={
            id(look): frozenset(fold(w) for w in look.unless_labelled)
            for p in pack.patterns
            for look in p.lookalikes
        },
    )


@dataclass(frozen=True, slots=True)
class Carry:
    """What one chunk of a document hands the next: the table its last rows belong to and
    the SQL statement they are in. Comparable, so a chunk scanned on a guessed carry can be
    checked (see detect/parallel.py)."""

    table: TableCarry | None
    sql: SqlCarry | None


@dataclass(frozen=True, slots=True)
class ChunkJob:
    """A stretch of one document to scan, cut at a line end (in a giant line, overlapping its
    neighbour: only findings starting in [emit_from, emit_to) belong to this job)."""

    source: str
    text: str
    line: int  # line number of text[0]
    emit_from: int
    emit_to: int
    column: int = 0  # characters of text[0]'s line before it (a giant line's later parts)
    # Packs whose home script this page is not written in (decided once per document, from
    # its beginning: see Detector.foreign_packs).
    foreign: frozenset[str] = frozenset()


class ChunkCutter:
    """Cuts a document fed in pieces of any size into chunk jobs, so memory stays flat.

    Each job's text is its own part plus CONTEXT_CHARS of the text on either side, which is
    looked at but not reported from: every rule that looks past a line (a label on the line
    above, a record's name two lines up) then sees the same text wherever the cuts fall, and
    a document gives the same findings however it is cut (see detect/parallel.py).
    """

    def __init__(
        self, source: str, page: Callable[[str], frozenset[str]] = lambda sample: frozenset()
    ) -> None:
        self.source = source
        self._page = page  # decides the document-wide facts from its first characters
        self._foreign: frozenset[str] | None = None
        self._buffer = ""
        self._pending: list[str] = []  # pieces not yet joined to the buffer (joined once)
        self._size = 0
        self._prefix = ""  # context ahead of the buffer, when the buffer starts a line
        self._line = 1  # line number of the buffer's first character
        self._column = 0  # characters of that line before the buffer's first character
        self._skip = 0  # findings before this offset of the buffer belong to the last job

    def feed(self, piece: str) -> list[ChunkJob]:
        self._pending.append(piece)
        self._size += len(piece)
        jobs = []
        if self._size >= CHUNK_CHARS:
            self._buffer = "".join([self._buffer, *self._pending])
            self._pending.clear()
            while len(self._buffer) >= CHUNK_CHARS:
                jobs.append(self._next())
            self._size = len(self._buffer)
        return jobs

    def finish(self) -> list[ChunkJob]:
        buffer = "".join([self._buffer, *self._pending])
        self._buffer, self._pending, self._size = "", [], 0
        if not buffer:
            return []
        return [self._job(buffer, len(buffer), "")]

    def _page_facts(self, buffer: str) -> frozenset[str]:
        if self._foreign is None:  # the buffer still starts at the document's start
            self._foreign = self._page(buffer[:PAGE_SAMPLE_CHARS])
        return self._foreign

    def _job(self, body: str, emit_to: int, suffix: str) -> ChunkJob:
        prefix = self._prefix
        return ChunkJob(
            self.source,
            prefix + body + suffix,
            self._line - prefix.count("\n"),
            len(prefix) + self._skip,
            len(prefix) + emit_to,
            0 if prefix else self._column,  # a prefix ends a line: columns count from there
            self._page_facts(prefix + body),
        )

    def _next(self) -> ChunkJob:
        buffer = self._buffer
        cut = buffer.rfind("\n", 0, CHUNK_CHARS - CONTEXT_CHARS)
        if cut > CHUNK_CHARS // 2:  # cut after a line end: rows stay whole
            own = buffer[: cut + 1]
            job = self._job(own, len(own), buffer[cut + 1 : cut + 1 + CONTEXT_CHARS])
            self._prefix = context_before(self._prefix + own, CONTEXT_CHARS)
            self._line += own.count("\n")
            self._buffer = buffer[cut + 1 :]
            self._skip = self._column = 0
            return job
        # A giant line: this job ends early, the next one starts a context before that end.
        emit_to = CHUNK_CHARS - CONTEXT_CHARS
        restart = emit_to - CONTEXT_CHARS
        job = self._job(buffer[:CHUNK_CHARS], emit_to, "")
        self._prefix = ""
        self._line += buffer.count("\n", 0, restart)
        newline = buffer.rfind("\n", 0, restart)
        self._column = restart - newline - 1 if newline >= 0 else self._column + restart
        self._buffer = buffer[restart:]
        self._skip = emit_to - restart
        return job


class DocumentScan:
    """Scans one document fed in pieces, chunk after chunk, in this process."""

    def __init__(self, detector: Detector, source: str) -> None:
        self.cutter = ChunkCutter(source, detector.foreign_packs)
        self.scanner = ChunkScanner(detector)
        self.table: Carry | None = None
        self.counts: Counter[str] = Counter()

    def feed(self, piece: str) -> list[Finding]:
        """Add text; returns the findings of every chunk completed by it."""
        return self._run(self.cutter.feed(piece))

    def finish(self) -> list[Finding]:
        """Scan what is left; the document is complete."""
        return self._run(self.cutter.finish())

    def _run(self, jobs: list[ChunkJob]) -> list[Finding]:
        found: list[Finding] = []
        for job in jobs:
            findings, self.table = self.scanner.scan(job, self.table)
            found.extend(findings)
        self.counts.update(f.type for f in found)
        return found


class ChunkScanner:
    """Finds the identifiers in chunks. The only state one chunk hands the next is the table
    its last rows belong to and the SQL statement they are in (`Carry`), so chunks can be
    scanned in other processes."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.columns = ColumnTracker(detector.header_words)
        self.sql = SqlColumns()
        self._column_kinds: dict[tuple[str, str], str | None] = {}
        self.source = ""
        self._foreign: frozenset[str] = frozenset()

    def scan(self, job: ChunkJob, carry: Carry | None) -> tuple[list[Finding], Carry | None]:
        """The chunk's findings, and the table still open at its end."""
        self.source = job.source
        self._foreign = job.foreign
        self.columns.restore(carry.table if carry else None)
        chunk = job.text
        self.sql.start(chunk, carry.sql if carry else None)
        candidates = self._candidates(chunk)
        findings = []
        if candidates:
            winners = _resolve_overlaps(
                self._score(chunk, candidates), self.detector.min_confidence
            )
            line = job.line
            counted_to = 0
            newline = -1  # the last line end before `counted_to`, if the chunk has one
            for cand in winners:
                if not job.emit_from <= cand.start < job.emit_to:
                    continue
                if cand.confidence < self.detector.min_confidence:
                    continue
                last = chunk.rfind("\n", counted_to, cand.start)
                if last >= 0:
                    line += chunk.count("\n", counted_to, cand.start)
                    newline = last
                counted_to = cand.start
                # 1-based character offset in the real line, however long the line is.
                column = cand.start - newline if newline >= 0 else job.column + cand.start + 1
                findings.append(self._finding(chunk, cand, line, column))
        self.columns.end_chunk(chunk, job.emit_to)  # the carry is taken where the part ends
        table, sql = self.columns.carry(), self.sql.carry(chunk, job.emit_to)
        return findings, (None if table is None and sql is None else Carry(table, sql))

    def _candidates(self, chunk: str) -> list[_Candidate]:
        windows = _windows(chunk)
        if not windows:
            return []
        detector = self.detector
        texts = [chunk[a:b] for a, b in windows]
        if _NEEDS_NORMALISING.search("\n".join(texts)):
            needs = _NEEDS_NORMALISING.search
            texts = [t.translate(_NORMALISE) if needs(t) else t for t in texts]
        found: list[_Candidate] = []
        self._match(chunk, windows, texts, detector.free_patterns, found)
        if detector.context_patterns:
            if detector.skip_context_free_windows:
                chosen = [
                    i for i, (a, b) in enumerate(windows) if self._may_have_context(chunk, a, b)
                ]
                windows = [windows[i] for i in chosen]
                texts = [texts[i] for i in chosen]
            self._match(chunk, windows, texts, detector.context_patterns, found)
        found.sort(key=lambda c: (c.start, -c.end))
        return found

    def _may_have_context(self, chunk: str, start: int, end: int) -> bool:
        """A label word near the window, or a delimiter on its line (a table row)."""
        lo = max(0, start - LABEL_BEFORE - WINDOW_BEFORE)
        if self.detector.context_words.regex.search(chunk, lo, end + LABEL_AFTER):
            return True
        row_start, row_end = _row_bounds(chunk, start, end)
        row = chunk[row_start:row_end]
        return any(delimiter in row for delimiter in _TABLE_DELIMITERS) or is_list_item(row)

    def _match(
        self,
        chunk: str,
        windows: list[tuple[int, int]],
        texts: list[str],
        patterns: Sequence[tuple[Pattern, _CompiledPack, Any]],
        found: list[_Candidate],
    ) -> None:
        """Run `patterns` over the windows joined into one UTF-8 buffer; collect candidates."""
        if not windows or not patterns:
            return
        encoded = [t.encode("utf-8") for t in texts]
        offsets = []
        pos = 0
        for data in encoded:
            offsets.append(pos)
            pos += len(data) + 1
        buffer = b"\n".join(encoded)
        today = self.detector.today
        for pattern, compiled, scanner in patterns:
            # Bytes are not characters in a non-ASCII window; a pattern's matches come in
            # order, so each is converted from the one before it: linear even in a window
            # that spans a whole giant line.
            last_index, last_byte, last_char = -1, 0, 0
            for b_start, b_end in _spans(scanner, buffer):
                index = bisect.bisect_right(offsets, b_start) - 1
                data = encoded[index]
                rel_start = b_start - offsets[index]
                rel_end = b_end - offsets[index]
                if rel_end > len(data) or rel_end == rel_start:
                    continue  # crossed into the next window
                text = texts[index]
                if len(data) != len(text):
                    if index != last_index or rel_start < last_byte:
                        last_index, last_byte, last_char = index, 0, 0
                    last_char += len(data[last_byte:rel_start].decode("utf-8", "ignore"))
                    last_byte = rel_start
                    rel_end = last_char + len(data[rel_start:rel_end].decode("utf-8", "ignore"))
                    rel_start = last_char
                start = windows[index][0] + rel_start
                end = windows[index][0] + rel_end
                if not _bounded(chunk, start, end, pattern.boundary):
                    continue
                value = text[rel_start:rel_end]
                validation = pattern.validator(value, today)
                if validation.verdict is Verdict.FAIL:
                    continue
                if pattern.length and not (
                    pattern.length[0] <= len(validation.normalized) <= pattern.length[1]
                ):
                    continue
                found.append(_Candidate(pattern, compiled, start, end, value, validation))

    def _score(self, chunk: str, candidates: list[_Candidate]) -> list[_Candidate]:
        """Attach evidence and confidence; drop candidates that cannot reach the threshold."""
        rows: dict[int, list[_Candidate]] = {}
        for cand in candidates:
            cand.row_start, cand.row_end = _row_bounds(chunk, cand.start, cand.end)
            rows.setdefault(cand.row_start, []).append(cand)
        starts = [cand.start for cand in candidates]  # sorted
        listed = _list_members(chunk, candidates)
        scored = []
        for row_candidates in rows.values():
            first = row_candidates[0]
            row = chunk[first.row_start : first.row_end]
            names: list[str] | None = None
            markers: dict[int, str | None] = {}  # per pack (by id): the row's Korea marker
            labelled = []
            for cand in row_candidates:
                evidence = list(cand.validation.evidence)
                evidence += self._label_evidence(chunk, cand)
                evidence += self._column_evidence(chunk, cand)
                if listed and id(cand) in listed:
                    evidence.append("list")
                if self._hopeless(cand, evidence, _SUPPORT_CONTEXT):
                    continue  # most look-alikes stop here, before any further work
                cand.evidence = evidence
                cand.labelled = any(e.startswith(_LABELLED) for e in evidence)
                labelled.append(cand)
            for cand in labelled:
                evidence = cand.evidence
                mates = row_candidates
                if _cut(chunk, cand.row_start, cand.row_end):
                    # A piece of a long line (an SQL extended INSERT): its row is its
                    # neighbourhood, whatever row the neighbours were grouped in.
                    low = bisect.bisect_left(starts, cand.row_start)
                    high = bisect.bisect_left(starts, cand.row_end)
                    mates = [c for c in candidates[low:high] if c.end <= cand.row_end]
                evidence += _row_evidence(cand, mates)
                if self._hopeless(cand, evidence, _SUPPORT_UNVERIFIED):
                    continue
                if names is None:
                    names = hangul_names(row, first.compiled.labels) if _HANGUL.search(row) else []
                cand.names = names
                if names:
                    evidence.append("name")
                compiled = cand.compiled
                if id(compiled) not in markers:
                    markers[id(compiled)] = compiled.marker(row)
                marker = markers[id(compiled)]
                if marker:
                    evidence.append("marker:" + marker)
                evidence += self._lookalike_evidence(chunk, row, cand, evidence)
                if "landline" in evidence:
                    evidence += _landline_evidence(chunk, row, cand, evidence)
                if "bare" in evidence and any(e.startswith(_NOT_A_TIMESTAMP) for e in evidence):
                    evidence.remove(
                        "bare"
                    )  # labelled as this type: no timestamp, whatever its form
                cand.evidence = _dedupe(evidence)
                cand.confidence = _confidence(cand)
                scored.append(cand)
        return scored

    def _hopeless(self, cand: _Candidate, evidence: list[str], support: frozenset[str]) -> bool:
        """Cannot be reported: context it needs is missing, and the cap is below the threshold.

        With `_SUPPORT_CONTEXT` this asks about types that need a label or column (and
        landlines); with `_SUPPORT_UNVERIFIED`, about numbers whose check digit failed.
        """
        if self.detector.min_confidence <= cand.compiled.pack.scoring["cap"]:
            return False
        kinds = {e.split(":", 1)[0] for e in evidence}
        if support & kinds:
            return False
        if support is _SUPPORT_CONTEXT:
            return cand.pattern.requires_context or "landline" in kinds
        return cand.validation.verdict is Verdict.UNVERIFIED

    def _label_evidence(self, chunk: str, cand: _Candidate) -> list[str]:
        labels = cand.compiled.labels
        # Raw text: the word matcher knows each word's case variants, and NFKC (for
        # full-width Latin labels, which are vanishingly rare) is not worth its cost here.
        before = chunk[max(cand.row_start, cand.start - LABEL_BEFORE) : cand.start]
        after = chunk[cand.end : min(cand.row_end, cand.end + LABEL_AFTER)]
        label = labels.nearest(before, after)
        if label is None and not before.strip() and cand.row_start > 0:
            # A value opening its line may be named by a label line above (`身份证号：`, then
            # the number), but not by a label that closed another value's line
            # (`M21959441（护照）`): that one is taken.
            above = chunk[_line_start(chunk, cand.row_start - 1, LABEL_BEFORE) : cand.row_start]
            if not _CLUSTER.search(above):
                label = labels.nearest(above + before, "")
        if label is None and (before[-1:] in _LIST_SEPARATORS or before.endswith(", ")):
            # One label over an enumeration: `護照號碼：M…、M…、M…` names each value in it.
            listed = _ENUMERATION.search(before)
            if listed is not None and listed.start() == 0:  # a long one: look further back
                before = chunk[max(cand.row_start, cand.start - MAX_ROW // 2) : cand.start]
                listed = _ENUMERATION.search(before)
            if listed and all(_same_shape(t, cand.text) for t in _TOKEN.findall(listed.group())):
                label = labels.nearest(before[: listed.start()], "")
        if label is None and before.rstrip(_KEY_QUOTES)[-1:] in _KEY_SIGNS:
            # A query, JSON or log key right before the value: `jumin1=`, `"ordTel": "`.
            key = _KEY.search(before)
            if key is not None:
                label = labels.classify(_CAMEL.sub(" ", key.group(1)))
        return [] if label is None else [_label_kind(label.word, label.owners, cand.pattern.id)]

    def _column_evidence(self, chunk: str, cand: _Candidate) -> list[str]:
        header = None
        if self.sql.active:  # a value of an INSERT: its column name is its header
            header = self.sql.column(chunk, cand.start)
        if header is None:
            offset = cand.start - cand.row_start
            header = self.columns.column(chunk, cand.row_start, cand.row_end, offset)
        if header is None:
            return []
        key = (header, cand.pattern.id)
        if key not in self._column_kinds:  # a column's rows all ask the same question
            label = cand.compiled.labels.classify(header)
            kind = None if label is None else _label_kind(header, label.owners, cand.pattern.id)
            self._column_kinds[key] = kind
        kind = self._column_kinds[key]
        if kind is None:
            return []
        return ["column:" + header] if kind.startswith("context:") else [kind]

    def _lookalike_evidence(
        self,
        chunk: str,
        row: str,
        cand: _Candidate,
        evidence: list[str],
    ) -> list[str]:
        """The look-alike rule: e.g. a national-form 010 number on a Chinese page.

        Beijing context makes it foreign outright. Otherwise it stands only with home
        evidence on its row: home-script text, a marker, a name, or an identifier of another
        type (two Beijing numbers on one row must not vouch for each other).
        """
        pattern = cand.pattern
        if not pattern.lookalikes:
            return []
        looks = [lk for lk in pattern.lookalikes if lk.matcher.search(cand.text.encode())]
        if not looks:
            return []
        # The number's own digits are not its context (`010-4596-0086` is no `0086`).
        rest_of_row = row[: cand.start - cand.row_start] + " " + row[cand.end - cand.row_start :]
        against = cand.compiled.against[pattern.id].search(rest_of_row)
        if against:
            return ["foreign:" + against.group()]
        labels = {fold(e.split(":", 1)[1]) for e in evidence if e.startswith("context:")}
        if labels:
            unless = cand.compiled.unless_labelled
            looks = [lk for lk in looks if not labels & unless[id(lk)]]
        home = cand.compiled.home_script
        if home is None or not looks:
            return []
        # A column headed 韩国手机 / 한국 휴대폰 / Korean mobile says whose numbers it holds,
        # whatever names the rows carry (Chinese residents of Korea have Korean numbers).
        for item in evidence:
            if item.startswith("column:") and cand.compiled.marker(item[len("column:") :]):
                return []
        # Row evidence never comes from the same type: two Beijing numbers on one row must not
        # vouch for each other.
        vouched = any(e.startswith(("marker", "name", "row:")) for e in evidence)
        if vouched or re.search(f"[{home}]", rest_of_row):
            return []
        lookalike = ["lookalike:" + looks[0].country]
        # A row that says in Chinese whose number it is (`王经理（房屋中介） 010-…`) is a
        # Chinese entry on any page; its neighbours do not vouch for it. A label is not that.
        words = [e.split(":", 1)[1] for e in evidence if ":" in e]
        if len(_HAN.findall(_without(rest_of_row, words))) >= 2:
            return lookalike
        # A record written one field per line: its name sits on a neighbouring line.
        if re.search(f"[{home}]", _record_block(chunk, cand.row_start, cand.row_end)):
            return []
        return lookalike if cand.compiled.pack.id in self._foreign else []

    def _finding(self, chunk: str, cand: _Candidate, line: int, column: int) -> Finding:
        pattern = cand.pattern
        detector = self.detector
        # A number written over two fields is shown as the one number it is.
        shown = cand.validation.normalized if pattern.reports else cand.text
        masked = mask(shown, pattern.mask)
        row_start = cand.row_start
        snippet_from = max(row_start, cand.start - SNIPPET_BEFORE)
        snippet_to = min(cand.row_end, cand.end + SNIPPET_AFTER)
        snippet_text = chunk[snippet_from:snippet_to].replace("\t", " ")
        names = cand.names  # the row's names: every name the snippet can show
        snippet = mask_snippet(
            snippet_text, (cand.start - snippet_from, cand.end - snippet_from), masked, names
        )
        return Finding(
            source=self.source,
            type=pattern.type,
            pattern=pattern.id,
            label=pattern.label,
            severity=pattern.severity,
            masked=masked,
            fingerprint=detector.fingerprinter.fingerprint(
                pattern.type, cand.validation.normalized
            ),
            confidence=round(cand.confidence, 2),
            evidence=tuple(cand.evidence),
            line=line,
            column=column,
            context=snippet.strip(),
            value=shown if detector.reveal else None,
        )


HOME_SHARE = 0.3  # below this share of home-script letters (vs Han), a page is foreign
_HANGUL = re.compile("[\uac00-\ud7a3]")
_HAN = re.compile("[\u4e00-\u9fff]")


def _list_members(chunk: str, candidates: Sequence[_Candidate]) -> set[int]:
    """Ids of the candidates that are lines of a list of validated identifiers.

    A list is a run of lines holding one value each (blank lines end it). When nearly all
    its lines (LIST_SHARE) hold a value that validates by itself (check digit, numbering
    plan), the list is the evidence for each of its values of those types, post-2020 numbers
    too: random 13-digit numbers pass date, century and check digit well under 1% of the
    time, so a column of timestamps or order numbers never qualifies.
    """
    rows: dict[int, list[_Candidate]] = {}
    for cand in candidates:
        if cand.row_end - cand.row_start - (cand.end - cand.start) > _LIST_SLACK:
            continue  # more on its line than the value (a table row, prose): the usual case
        if chunk[cand.row_start : cand.row_end].strip() == cand.text.strip():
            rows.setdefault(cand.row_start, []).append(cand)
    if len(rows) < LIST_MIN_LINES * LIST_SHARE:
        return set()
    members: set[int] = set()
    run: list[list[_Candidate]] = []
    lines = 0
    previous_end = -2
    for row_start in sorted(rows):
        row = rows[row_start]
        gap = chunk[previous_end + 1 : row_start]
        between = gap[:-1].split("\n") if gap else []
        if run and not all(is_list_item(line) for line in between):
            members |= _list_run(run, lines)
            run, lines = [], 0
        elif run:
            lines += len(between)
        run.append(row)
        lines += 1
        previous_end = row[0].row_end
    if run:
        members |= _list_run(run, lines)
    return members


def _list_run(run: list[list[_Candidate]], lines: int) -> set[int]:
    validated = [
        {c.pattern.id for c in row
         if c.validation.verdict is Verdict.PASS and not c.pattern.requires_context}
        for row in run
    ]  # fmt: skip
    if lines < LIST_MIN_LINES or sum(1 for v in validated if v) < LIST_SHARE * lines:
        return set()
    types = set().union(*validated)
    return {id(c) for row in run for c in row if c.pattern.id in types}


def _row_bounds(chunk: str, start: int, end: int) -> tuple[int, int]:
    """The line holding `chunk[start:end]`, cut to MAX_ROW // 2 characters each way: on a
    giant line every search stays local (an unbounded one makes the scan quadratic)."""
    reach = MAX_ROW // 2
    low = max(0, start - reach)
    newline = chunk.rfind("\n", low, start)
    row_start = newline + 1 if newline >= 0 else low
    high = min(len(chunk), end + reach)
    newline = chunk.find("\n", end, high)
    return row_start, newline if newline >= 0 else high


def _cut(chunk: str, row_start: int, row_end: int) -> bool:
    """Whether a row from `_row_bounds` is a piece of a longer line."""
    return (row_start > 0 and chunk[row_start - 1] != "\n") or (
        row_end < len(chunk) and chunk[row_end] != "\n"
    )


def _windows(chunk: str) -> list[tuple[int, int]]:
    """Spans around every digit cluster, kept within their line, overlapping ones merged.

    Keeping windows inside their line matters: in a CSV dump, windows allowed to cross line
    ends merge into one window per chunk, and mapping match offsets back into it is quadratic.
    """
    windows: list[tuple[int, int]] = []
    for match in _CLUSTER.finditer(chunk):
        start, end = match.span()
        line_start = chunk.rfind("\n", max(0, start - WINDOW_BEFORE), start) + 1
        begin = max(line_start, start - WINDOW_BEFORE)
        line_end = chunk.find("\n", end, end + WINDOW_AFTER)
        finish = min(len(chunk), end + WINDOW_AFTER) if line_end < 0 else line_end
        if windows and begin <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(finish, windows[-1][1]))
        else:
            windows.append((begin, finish))
    return windows


# Look-arounds RE2 lacks, emulated: the value must sit between boundary characters (or a
# window edge). The boundary characters are consumed, so `_spans` hands a consumed right one
# back as the next match's left one. This keeps RE2 from reporting (and Python from paying
# for) the thousands of shapes found inside longer digit runs: order numbers, Chinese IDs.
_NOT_GLUE = {"digit": "[^0-9]", "alnum": "[^0-9A-Za-z]", "masked": f"[^0-9{re.escape(MASK_CHARS)}]"}


def _bounded_regex(pattern: Pattern) -> Any:
    outside = _NOT_GLUE.get(pattern.boundary)
    if outside is None:
        return compile_re2(f"({pattern.regex})")
    return compile_re2(f"(?:(?m:^)|{outside})({pattern.regex})(?:{outside}|(?m:$))")


def _spans(scanner: Any, buffer: bytes) -> Iterator[tuple[int, int]]:
    """Byte spans of the value (group 1) of every match of a `_bounded_regex` in `buffer`."""
    position = 0
    while True:
        match = scanner.search(buffer, position)
        if match is None:
            return
        start, end = match.span(1)
        yield start, end
        position = end if match.end() > end else match.end()  # re-offer the right boundary
        if position <= match.start():
            position = match.start() + 1


_DIGIT_LIKE = frozenset("0123456789\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19")
_ALNUM_LIKE = _DIGIT_LIKE | frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    + "".join(chr(c) for c in (*range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)))
)


_MASK_LIKE = _DIGIT_LIKE | frozenset(MASK_CHARS)
_GLUE = {"digit": _DIGIT_LIKE, "alnum": _ALNUM_LIKE, "masked": _MASK_LIKE}


def _bounded(chunk: str, start: int, end: int, boundary: str) -> bool:
    """The match is not glued to a neighbouring digit (a Latin letter too for `alnum`, a mask
    character too for `masked`: `110101********1234` is a masked Chinese ID, not an RRN)."""
    if boundary == "none":
        return True
    glue = _GLUE[boundary]
    if start > 0 and chunk[start - 1] in glue:
        return False
    return not (end < len(chunk) and chunk[end] in glue)


def _without(text: str, words: Iterable[str]) -> str:
    for word in words:
        text = text.replace(word, " ")
    return text


def _line_start(chunk: str, end: int, reach: int) -> int:
    """Where the line ending at `end` starts, looking back at most `reach` characters."""
    lowest = max(0, end - reach)
    newline = chunk.rfind("\n", lowest, end)
    return newline + 1 if newline >= 0 else lowest


def _record_block(chunk: str, row_start: int, row_end: int) -> str:
    """Up to BLOCK_LINES lines each side of a row, within BLOCK chars, up to a blank line."""
    above = chunk[max(0, row_start - BLOCK) : row_start].split("\n")[:-1]
    below = chunk[row_end + 1 : row_end + 1 + BLOCK].split("\n")
    lines = []
    for line in reversed(above[-BLOCK_LINES:]):
        if not line.strip():
            break
        lines.append(line)
    for line in below[:BLOCK_LINES]:
        if not line.strip():
            break
        lines.append(line)
    return "\n".join(lines)


def _label_kind(word: str, owners: frozenset[str], pattern_id: str) -> str:
    """Evidence a label gives a candidate: its own context, a negative, or another type's.

    A masked pattern (`kr.rrn.masked`) shares the labels of its type (`kr.rrn`).
    """
    if any(pattern_id == owner or pattern_id.startswith(owner + ".") for owner in owners):
        return "context:" + word
    if NEGATIVE in owners or NEGATIVE + ":" + pattern_id in owners:
        return "negative:" + word
    if all(owner.startswith(NEGATIVE) for owner in owners):
        return "label:" + word  # a negative of some other pattern: says nothing here
    return "other:" + word


def _row_evidence(cand: _Candidate, row: Iterable[_Candidate]) -> list[str]:
    """Other identifiers on the same row that stand on their own (validated or labelled,
    context not required), not overlapping this one."""
    found = []
    for other in row:
        if other.pattern.requires_context:
            continue
        # Standing on its own: validated, or a post-2020 number its column names.
        verdict = other.validation.verdict
        if verdict is not Verdict.PASS and not (verdict is Verdict.UNVERIFIED and other.labelled):
            continue
        if other.pattern.type == cand.pattern.type or "landline" in other.validation.evidence:
            continue
        if other.start < cand.end and cand.start < other.end:
            continue
        found.append("row:" + other.pattern.type)
    return found


_PERSON = frozenset({"name", "row"})
_LIST_SEPARATORS = frozenset("、，/")  # and ", " (a bare comma is a CSV cell's)
_TOKEN = re.compile(r"[0-9A-Za-z][0-9A-Za-z\-]{5,}")
_ENUMERATION = re.compile(r"(?:[0-9A-Za-z][0-9A-Za-z\-]{5,}[ ]*[、,，/][ ]*){1,40}$")


def _same_shape(token: str, value: str) -> bool:
    """Whether an enumerated token looks like the value (same length, same first kind)."""
    return len(token) == len(value) and token[0].isdigit() == value[0].isdigit()


# A key naming the value after it, a field number aside: `jumin1=`, `"ordTel": "`, `hp2:`.
_KEY = re.compile(r"([A-Za-z][A-Za-z_]{1,30}?)_?[0-9]{0,2}[\"'`]?\s*[=:]\s*[\"'`]?$")
_KEY_QUOTES = "\"'` "
_KEY_SIGNS = frozenset("=:")
_CAMEL = re.compile("(?<=[a-z])(?=[A-Z])")
_LAST_DIGIT = re.compile("[0-9](?=[^0-9]*$)")


def _landline_evidence(chunk: str, row: str, cand: _Candidate, evidence: list[str]) -> list[str]:
    """Whose a landline is: `personal:<label>` when the label or column naming it says it is
    a person's (`자택 전화 02-…`: the nearest label is 전화, the word before it says whose;
    `home_phone`), else `business:<word>` when its row is a business's (a shop's footer)."""
    personal = cand.compiled.personal.get(cand.pattern.id)
    if personal is not None:
        before = chunk[max(cand.row_start, cand.start - LABEL_BEFORE) : cand.start]
        barrier = _LAST_DIGIT.search(before)
        texts = [before[barrier.end() if barrier else 0 :]]
        texts += [item.split(":", 1)[1] for item in evidence if item.startswith(_LABELLED)]
        for text in texts:
            word = personal.search(fold(text).replace("_", " "))
            if word is not None:
                return ["personal:" + word.group()]
    business = cand.compiled.business.get(cand.pattern.id)
    if business is not None:
        word = business.search(row)
        if word is not None:
            return ["business:" + word.group()]
    return []


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _confidence(cand: _Candidate) -> float:
    """Sum of the pack's weights over the evidence kinds (each once), clamped to [0, 1]."""
    weights = cand.compiled.pack.scoring
    kinds = {e.split(":", 1)[0] for e in cand.evidence}
    score = min(1.0, max(0.0, sum(weights.get(kind, 0.0) for kind in kinds)))
    verdict = cand.validation.verdict
    if cand.pattern.requires_context and not _SUPPORT_CONTEXT & kinds:
        score = min(score, weights["cap"])
    if verdict is Verdict.UNVERIFIED and not _SUPPORT_UNVERIFIED & kinds:
        score = min(score, weights["cap"])
    if (
        "landline" in kinds
        and "personal" not in kinds
        and ("business" in kinds or not (_SUPPORT_CONTEXT & kinds and _PERSON & kinds))
    ):
        # Landlines are mostly shops, hotels and offices: personal under a label that says
        # so (자택, 宅电), or under a phone label on a row that names a person.
        score = min(score, weights["cap"])
    if {"lookalike", "foreign"} & kinds:
        score = min(score, weights["cap"])
    return score


def _resolve_overlaps(candidates: list[_Candidate], threshold: float) -> list[_Candidate]:
    """Where candidates overlap, keep the best: reportable, strongest verdict, longest, surest."""
    ranked = sorted(
        candidates,
        key=lambda c: (
            c.confidence >= threshold,
            not any(e.startswith("other:") for e in c.evidence),  # labelled as another type
            _STRENGTH[c.validation.verdict],
            c.end - c.start,
            c.confidence,
        ),
        reverse=True,
    )
    taken: list[tuple[int, int]] = []  # sorted, non-overlapping spans
    winners = []
    for cand in ranked:
        i = bisect.bisect_right(taken, (cand.start, sys.maxsize))
        if i > 0 and taken[i - 1][1] > cand.start:
            continue
        if i < len(taken) and taken[i][0] < cand.end:
            continue
        taken.insert(i, (cand.start, cand.end))
        winners.append(cand)
    winners.sort(key=lambda c: c.start)
    return winners
