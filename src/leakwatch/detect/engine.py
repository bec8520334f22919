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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from leakwatch.detect.context import (
    NEGATIVE,
    ColumnTracker,
    LabelVocabulary,
    WordMatcher,
    fold,
    hangul_names,
    script_share,
)
from leakwatch.detect.packs import SCRIPTS, Pack, Pattern
from leakwatch.detect.redact import Fingerprinter, mask, mask_snippet
from leakwatch.models import Finding, Validation, Verdict

DEFAULT_MIN_CONFIDENCE = 0.5
CHUNK_CHARS = 1 << 20
# A giant line is cut with this much overlap: longer than any identifier plus its context.
OVERLAP_CHARS = 512
# A match may start this many characters before its cluster's first digit (`+82 `, `서울 `,
# the passport letter) and end this many after its last (mask characters).
WINDOW_BEFORE = 12
WINDOW_AFTER = 8
# How far context is looked for, and the longest row considered one row.
LABEL_BEFORE = 40
LABEL_AFTER = 16
MAX_ROW = 800
BLOCK = 300  # a record block (one field per line) reaches this far each way...
BLOCK_LINES = 3  # ...and this many lines
SNIPPET_BEFORE = 30
SNIPPET_AFTER = 20

# Full-width ASCII, dash variants and odd spaces map one character to one character, so
# positions in normalised text are positions in the original.
_NORMALISE = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_NORMALISE.update(dict.fromkeys((*range(0x2010, 0x2016), 0x2212, 0xFE63), ord("-")))
_NORMALISE.update(dict.fromkeys((0x3000, 0x00A0, *range(0x2002, 0x200C)), ord(" ")))
_FULLWIDTH_DIGIT = re.compile("[\uff10-\uff19]")
# Possessive: a cluster never backtracks. At least six digits/letters/mask characters.
_CLUSTER = re.compile(
    r"[0-9](?:[ \-.()\u2010-\u2015\u2212\ufe63]{0,3}[0-9A-Za-z*\u00d7\u25cf\uff0a]){5,}+"
)
_SUPPORT_CONTEXT = frozenset({"context", "column"})
_SUPPORT_UNVERIFIED = frozenset({"context", "column", "row"})
_STRENGTH = {Verdict.PASS: 2, Verdict.UNVERIFIED: 1, Verdict.FORMAT: 1, Verdict.FAIL: 0}
# Column names that mark a header row besides the packs' own context words.
_HEADER_WORDS = (
    "姓名", "名字", "性别", "年龄", "出生日期", "生日", "邮箱", "密码", "账户名", "用户名", "序号",
    "编号", "地址", "住址", "實名", "实名", "이름", "성명", "성별", "나이", "주소", "이메일",
    "비밀번호", "아이디", "번호", "생일", "직업", "name", "gender", "sex", "age", "email",
    "e-mail", "password", "username", "id", "dob", "address",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _CompiledPack:
    """A pack with its vocabularies compiled once."""

    pack: Pack
    labels: LabelVocabulary
    markers: WordMatcher  # Korea markers, and the trading traps that contain them
    traps: frozenset[str]
    against: dict[str, WordMatcher]
    home_script: str | None

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
    ) -> None:
        self.packs = tuple(_compile(pack) for pack in packs)
        self.patterns = tuple((p, c) for c in self.packs for p in c.pack.patterns)
        self.fingerprinter = fingerprinter
        self.min_confidence = min_confidence
        self.reveal = reveal
        self.today = today or dt.date.today()
        header_vocabulary: list[str] = list(_HEADER_WORDS)
        for compiled in self.packs:
            for pattern in compiled.pack.patterns:
                header_vocabulary.extend(pattern.context)
                header_vocabulary.extend(pattern.negative)
            header_vocabulary.extend(compiled.pack.negative)
        self.header_words = WordMatcher(header_vocabulary)

    def open(self, source: str) -> DocumentScan:
        return DocumentScan(self, source)

    def scan_text(self, source: str, text: str) -> list[Finding]:
        """All findings in a complete text (tests, examples, small inputs)."""
        scan = self.open(source)
        return [*scan.feed(text), *scan.finish()]


def _compile(pack: Pack) -> _CompiledPack:
    owners: dict[str, set[str]] = {}
    for pattern in pack.patterns:
        for word in pattern.context:
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
        labels=LabelVocabulary({w: frozenset(o) for w, o in owners.items()}),
        markers=WordMatcher((*pack.markers, *traps)),
        traps=frozenset(fold(t) for t in traps),
        against=against,
        home_script=SCRIPTS[pack.script] if pack.script else None,
    )


class DocumentScan:
    """Scans one document fed in pieces; keeps the state that spans chunks."""

    def __init__(self, detector: Detector, source: str) -> None:
        self.detector = detector
        self.source = source
        self.columns = ColumnTracker(detector.header_words)
        self.counts: Counter[str] = Counter()
        self._buffer = ""
        self._line = 1  # line number of the buffer's first character
        self._skip = 0  # findings before this offset of the buffer were already emitted

    def feed(self, piece: str) -> list[Finding]:
        """Add text; returns the findings of every chunk completed by it."""
        self._buffer += piece
        found: list[Finding] = []
        while len(self._buffer) >= CHUNK_CHARS:
            found.extend(self._next_chunk())
        return found

    def finish(self) -> list[Finding]:
        """Scan what is left; the document is complete."""
        found = self._scan(self._buffer, self._skip, len(self._buffer)) if self._buffer else []
        self._buffer = ""
        return found

    def _next_chunk(self) -> list[Finding]:
        buffer = self._buffer
        cut = buffer.rfind("\n", 0, CHUNK_CHARS)
        if cut > CHUNK_CHARS // 2:  # cut after a line end: rows stay whole
            found = self._scan(buffer[: cut + 1], self._skip, cut + 1)
            self._line += buffer.count("\n", 0, cut + 1)
            self._buffer = buffer[cut + 1 :]
            self._skip = 0
            return found
        # A giant line: scan the chunk, keep its tail (plus left context) for the next round.
        emit_to = CHUNK_CHARS - OVERLAP_CHARS
        restart = emit_to - LABEL_BEFORE
        found = self._scan(buffer[:CHUNK_CHARS], self._skip, emit_to)
        self._line += buffer.count("\n", 0, restart)
        self._buffer = buffer[restart:]
        self._skip = emit_to - restart
        return found

    # -- one chunk ---------------------------------------------------------------------------

    def _scan(self, chunk: str, emit_from: int, emit_to: int) -> list[Finding]:
        if _FULLWIDTH_DIGIT.search(chunk):
            chunk = chunk.translate(_NORMALISE)
        self.columns.new_chunk()
        candidates = self._candidates(chunk)
        if not candidates:
            self.columns.advance(chunk, len(chunk))
            return []
        winners = _resolve_overlaps(self._score(chunk, candidates), self.detector.min_confidence)
        findings = []
        line = self._line
        counted_to = 0
        for cand in winners:
            if not emit_from <= cand.start < emit_to:
                continue
            if cand.confidence < self.detector.min_confidence:
                continue
            line += chunk.count("\n", counted_to, cand.start)
            counted_to = cand.start
            findings.append(self._finding(chunk, cand, line))
        self.columns.advance(chunk, len(chunk))
        return findings

    def _candidates(self, chunk: str) -> list[_Candidate]:
        windows = _windows(chunk)
        if not windows:
            return []
        texts = [chunk[a:b].translate(_NORMALISE) for a, b in windows]
        encoded = [t.encode("utf-8") for t in texts]
        offsets = []
        pos = 0
        for data in encoded:
            offsets.append(pos)
            pos += len(data) + 1
        buffer = b"\n".join(encoded)
        today = self.detector.today
        found: list[_Candidate] = []
        for pattern, compiled in self.detector.patterns:
            for match in pattern.compiled.finditer(buffer):
                b_start, b_end = match.span()
                index = bisect.bisect_right(offsets, b_start) - 1
                data = encoded[index]
                rel_start = b_start - offsets[index]
                rel_end = b_end - offsets[index]
                if rel_end > len(data) or rel_end == rel_start:
                    continue  # crossed into the next window
                text = texts[index]
                if len(data) != len(text):  # non-ASCII in the window: bytes are not chars
                    rel_start = len(data[:rel_start].decode("utf-8", "ignore"))
                    rel_end = len(data[:rel_end].decode("utf-8", "ignore"))
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
        found.sort(key=lambda c: (c.start, -c.end))
        return found

    def _score(self, chunk: str, candidates: list[_Candidate]) -> list[_Candidate]:
        """Attach evidence and confidence; drop candidates that cannot reach the threshold."""
        rows: dict[int, list[_Candidate]] = {}
        for cand in candidates:
            lo = max(0, cand.start - MAX_ROW // 2)
            cand.row_start = chunk.rfind("\n", lo, cand.start) + 1 or lo
            hi = chunk.find("\n", cand.end, cand.end + MAX_ROW // 2)
            cand.row_end = hi if hi >= 0 else min(len(chunk), cand.end + MAX_ROW // 2)
            rows.setdefault(cand.row_start, []).append(cand)
        foreign_page: dict[str, bool] = {}
        scored = []
        for row_candidates in rows.values():
            first = row_candidates[0]
            row = chunk[first.row_start : first.row_end]
            self.columns.advance(chunk, first.row_start)
            names: list[str] | None = None
            for cand in row_candidates:
                evidence = list(cand.validation.evidence)
                evidence += self._label_evidence(chunk, cand)
                evidence += self._column_evidence(row, cand)
                evidence += _row_evidence(cand, row_candidates)
                if self._hopeless(cand, evidence):
                    continue
                if names is None:
                    names = hangul_names(row, first.compiled.labels) if _HANGUL.search(row) else []
                if names:
                    evidence.append("name")
                marker = cand.compiled.marker(row)
                if marker:
                    evidence.append("marker:" + marker)
                evidence += self._lookalike_evidence(chunk, row, cand, evidence, foreign_page)
                cand.evidence = _dedupe(evidence)
                cand.confidence = _confidence(cand)
                scored.append(cand)
        return scored

    def _hopeless(self, cand: _Candidate, evidence: list[str]) -> bool:
        """Cannot be reported: its context is required and missing, and the cap is too low."""
        if self.detector.min_confidence <= cand.compiled.pack.scoring["cap"]:
            return False
        kinds = {e.split(":", 1)[0] for e in evidence}
        if (cand.pattern.requires_context or "landline" in kinds) and not _SUPPORT_CONTEXT & kinds:
            return True
        return cand.validation.verdict is Verdict.UNVERIFIED and not _SUPPORT_UNVERIFIED & kinds

    def _label_evidence(self, chunk: str, cand: _Candidate) -> list[str]:
        before_from = max(cand.row_start, cand.start - LABEL_BEFORE)
        if not chunk[before_from : cand.start].strip() and cand.row_start > 0:
            before_from = max(0, cand.row_start - 1 - LABEL_BEFORE)  # label on the line above
        before = fold(chunk[before_from : cand.start])
        after = fold(chunk[cand.end : min(cand.row_end, cand.end + LABEL_AFTER)])
        label = cand.compiled.labels.nearest(before, after)
        return [] if label is None else [_label_kind(label.word, label.owners, cand.pattern.id)]

    def _column_evidence(self, row: str, cand: _Candidate) -> list[str]:
        header = self.columns.column(row, cand.start - cand.row_start)
        if header is None:
            return []
        label = cand.compiled.labels.classify(header)
        if label is None:
            return []
        kind = _label_kind(header, label.owners, cand.pattern.id)
        return ["column:" + header] if kind.startswith("context:") else [kind]

    def _lookalike_evidence(
        self,
        chunk: str,
        row: str,
        cand: _Candidate,
        evidence: list[str],
        foreign_page: dict[str, bool],
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
        against = cand.compiled.against[pattern.id].search(row)
        if against:
            return ["foreign:" + against.group()]
        home = cand.compiled.home_script
        if home is None:
            return []
        # Row evidence never comes from the same type: two Beijing numbers on one row must not
        # vouch for each other.
        vouched = any(e.startswith(("marker", "name", "row:")) for e in evidence)
        rest_of_row = row[: cand.start - cand.row_start] + row[cand.end - cand.row_start :]
        if vouched or re.search(f"[{home}]", rest_of_row):
            return []
        # A record written one field per line: its name sits on a neighbouring line.
        if re.search(f"[{home}]", _record_block(chunk, cand.row_start, cand.row_end)):
            return []
        key = cand.compiled.pack.id
        if key not in foreign_page:
            foreign_page[key] = script_share(chunk[:20000], home) < HOME_SHARE
        return ["lookalike:" + looks[0].country] if foreign_page[key] else []

    def _finding(self, chunk: str, cand: _Candidate, line: int) -> Finding:
        pattern = cand.pattern
        detector = self.detector
        masked = mask(cand.text, pattern.mask)
        row_start = cand.row_start
        column = cand.start - row_start + 1
        snippet_from = max(row_start, cand.start - SNIPPET_BEFORE)
        snippet_to = min(cand.row_end, cand.end + SNIPPET_AFTER)
        snippet_text = chunk[snippet_from:snippet_to].replace("\t", " ")
        names = hangul_names(snippet_text, cand.compiled.labels)
        snippet = mask_snippet(
            snippet_text, (cand.start - snippet_from, cand.end - snippet_from), masked, names
        )
        self.counts[pattern.type] += 1
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
            value=cand.text if detector.reveal else None,
        )


HOME_SHARE = 0.3  # below this share of home-script letters (vs Han), a page is foreign
_HANGUL = re.compile("[\uac00-\ud7a3]")


def _windows(chunk: str) -> list[tuple[int, int]]:
    """Spans around every digit cluster, kept within their line, overlapping ones merged."""
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


_DIGIT_LIKE = frozenset("0123456789\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19")
_ALNUM_LIKE = _DIGIT_LIKE | frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    + "".join(chr(c) for c in (*range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)))
)


_MASK_LIKE = _DIGIT_LIKE | frozenset("*xX×●○＊")
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


def _record_block(chunk: str, row_start: int, row_end: int) -> str:
    """Up to BLOCK_LINES lines each side of a row, not crossing a blank line or BLOCK chars."""
    start = row_start
    for _ in range(BLOCK_LINES):
        previous = chunk.rfind("\n", max(0, start - 1 - BLOCK), max(0, start - 1))
        if start == 0 or start - previous > BLOCK or not chunk[previous + 1 : start - 1].strip():
            break
        start = previous + 1
    end = row_end
    for _ in range(BLOCK_LINES):
        following = chunk.find("\n", end + 1, end + 1 + BLOCK)
        following = len(chunk) if following < 0 else following
        if end >= len(chunk) or not chunk[end + 1 : following].strip():
            break
        end = following
    return chunk[start:end]


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
    """Other identifiers on the same row that stand on their own (validated, context not
    required), not overlapping this one."""
    found = []
    for other in row:
        if other.validation.verdict is not Verdict.PASS or other.pattern.requires_context:
            continue
        if other.pattern.type == cand.pattern.type or "landline" in other.validation.evidence:
            continue
        if other.start < cand.end and cand.start < other.end:
            continue
        found.append("row:" + other.pattern.type)
    return found


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
    if "landline" in kinds and not _SUPPORT_CONTEXT & kinds:
        score = min(score, weights["cap"])  # landlines are mostly businesses: need a label
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
