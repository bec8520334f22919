"""Page category in KISA's sense: a post trading personal data, a page exposing it, or neither.

Trading needs three things close together (within the pack's `window`): a Korea marker (a
marker word, or text in the home script: Hangul), a personal-data term and a sale term. Traps
are removed first (韩国料理 is food), ambiguous data terms need a second data signal (四件套
alone is bedding), and a post selling Chinese data has no Korea marker, so it is not a Korean
case. Korean identifiers found on the page stand in for a marker (those that are Korean by
themselves: RRN, ARN, phone, not a card any country could issue); masked samples
(`800101-1******`) stand in for marker and data term both. A sale word near news words (a
story about a bust) does not count unless offer words (a unit price, 私聊) are near too, and
a data term in a sentence that asks the buyer for it (customs clearance) is not for sale.

Exposure is a page showing full identifiers that is not a trade offer: one identifier of high
or critical severity, or at least five distinct ones of medium severity (a shop's single
contact number is not a leak; a list of customers' phones is).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from leakwatch.detect.context import WordMatcher, fold
from leakwatch.detect.packs import SCRIPTS, Pack
from leakwatch.models import Category, Finding, Severity

EXPOSURE_MIN_MEDIUM = 5
# Findings below this confidence never make a page a case, whatever --min-confidence shows.
CASE_MIN_CONFIDENCE = 0.5
_MARKER, _DATA, _AMBIGUOUS, _SALE, _TRAP = "marker", "data", "ambiguous", "sale", "trap"
_OFFER, _NEWS, _REQUEST, _CONTACT = "offer", "news", "request", "contact"
_DATA_KINDS = frozenset({_DATA, _AMBIGUOUS})
_SENTENCE_END = re.compile("[。！？!?\n]")


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    pack_id: str
    window: int
    words: WordMatcher
    kinds: dict[str, frozenset[str]]
    home_script: re.Pattern[str] | None
    sales: WordMatcher  # sale words, and the traps holding them: the cheap first pass
    services: WordMatcher | None  # 接码: a service showing its own phone numbers

    def sale_spans(self, text: str) -> list[tuple[int, int]]:
        """Stretches of `text` within a window of a sale word (traps excepted), merged.

        Every trading rule needs a sale word, and sale words are the rarest of the three
        kinds, so the full vocabulary only ever needs to run around them.
        """
        spans: list[tuple[int, int]] = []
        for match in self.sales.finditer(text):
            if _TRAP in self.kinds.get(fold(match.group()), ()):
                continue
            lo, hi = max(0, match.start() - self.window), match.end() + self.window
            if spans and lo <= spans[-1][1]:
                spans[-1] = (spans[-1][0], hi)
            else:
                spans.append((lo, hi))
        return spans


@dataclass(frozen=True, slots=True)
class Verdict:
    category: Category | None
    evidence: tuple[str, ...]


class PageClassifier:
    """The trading vocabularies of all packs, compiled once."""

    def __init__(self, packs: Sequence[Pack]) -> None:
        self.vocabularies = tuple(_compile(p) for p in packs if p.trading is not None)
        # Types that say "Korea" by themselves, standing in for a marker word. Not the ones
        # that need a label: a Luhn-valid card or a bank account could be any country's.
        self.marking_types = frozenset(
            pattern.type for pack in packs for pattern in pack.patterns
            if not pattern.requires_context
        )  # fmt: skip

    def open(self) -> PageSignals:
        return PageSignals(self)


def _compile(pack: Pack) -> _Vocabulary:
    assert pack.trading is not None
    trading = pack.trading
    kinds: dict[str, set[str]] = {}
    # A word can be of several kinds (韩料, "Korean data", is a marker and a data term); a trap
    # is only a trap.
    for kind, words in (
        (_MARKER, pack.markers),
        (_DATA, trading.data),
        (_AMBIGUOUS, trading.ambiguous),
        (_SALE, trading.sale),
        (_CONTACT, trading.contact),
        (_OFFER, trading.offer),
        (_NEWS, trading.news),
        (_REQUEST, trading.requests),
        (_TRAP, trading.traps),
    ):
        for word in words:
            if kind == _TRAP:
                kinds[fold(word)] = {_TRAP}
            else:
                kinds.setdefault(fold(word), set()).add(kind)
    # A word holding other words is of their kinds too: `收韩国料` (a buying request) is a
    # sale word, a marker and a data term at once, and the matcher, taking the longest word,
    # would hide the shorter ones inside it.
    inner = WordMatcher(word for word, found in kinds.items() if _TRAP not in found)
    for word, found in kinds.items():
        if _TRAP in found:
            continue
        for match in inner.finditer(word):
            if match.group() != word:
                found.update(kinds[fold(match.group())] - {_TRAP})
    # Text in the home script (Hangul) is itself a Korea marker.
    home = re.compile(f"[{SCRIPTS[pack.script]}]{{2,}}") if pack.script else None
    frozen = {word: frozenset(found) for word, found in kinds.items()}
    sales = WordMatcher((*trading.sale, *trading.traps))
    services = WordMatcher(trading.services) if trading.services else None
    return _Vocabulary(pack.id, trading.window, WordMatcher(frozen), frozen, home, sales, services)


@dataclass(slots=True)
class _Hits:
    positions: dict[str, list[int]] = field(default_factory=dict)
    words: dict[str, str] = field(default_factory=dict)  # first word seen of each kind


@dataclass(frozen=True, slots=True)
class TextSignals:
    """What the text of one stretch of a document said, for a page scanned in parts elsewhere
    (see detect/parallel.py): merged in order with `PageSignals.absorb`."""

    trade_window: tuple[str, ...] | None
    data_sale: tuple[str, ...] | None
    weak_trade: tuple[str, ...] | None
    sale_word: str | None
    service: str | None = None


@dataclass(slots=True)
class PageSignals:
    """Collects one document's text signals and findings, then gives its category."""

    classifier: PageClassifier
    _tail: str = ""
    _trade_window: tuple[str, ...] | None = None  # marker + data + sale close together
    _data_sale: tuple[str, ...] | None = None  # data + sale close together, no marker
    _weak_trade: tuple[str, ...] | None = None  # marker + ambiguous data + sale
    _sale_word: str | None = None
    _service: str | None = None  # the page is a phone service's (接码): its numbers are its own
    _findings: Counter[str] = field(default_factory=Counter)
    _marking: set[str] = field(default_factory=set)  # found types that say "Korea"
    _masked: Counter[str] = field(default_factory=Counter)
    _severe: set[str] = field(default_factory=set)
    _medium: dict[str, set[str]] = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        """The text alone already makes this page a trade offer."""
        return self._trade_window is not None

    def text_signals(self) -> TextSignals:
        return TextSignals(
            self._trade_window, self._data_sale, self._weak_trade, self._sale_word, self._service
        )

    def absorb(self, other: TextSignals) -> None:
        """Take in the text signals of a later stretch of the same document."""
        self._trade_window = self._trade_window or other.trade_window
        self._data_sale = self._data_sale or other.data_sale
        self._weak_trade = self._weak_trade or other.weak_trade
        self._sale_word = self._sale_word or other.sale_word
        self._service = self._service or other.service

    def feed(self, piece: str) -> None:
        """Add document prose (any size; a tail is kept so windows span pieces).

        Cheap first: the full vocabulary runs only within a window of a sale word.
        """
        if self._trade_window is not None:
            return  # already decided: trading
        vocabularies = self.classifier.vocabularies
        if not vocabularies:
            return
        window = max(v.window for v in vocabularies)
        text = self._tail + piece
        self._tail = text[-2 * window :]
        for vocabulary in vocabularies:
            if vocabulary.services is not None and self._service is None:
                found = vocabulary.services.search(text)
                if found is not None:
                    self._service = found.group()
            for lo, hi in vocabulary.sale_spans(text):
                self._look(vocabulary, text[lo:hi])

    def _look(self, vocabulary: _Vocabulary, text: str) -> None:
        found_words = [
            (match.start(), match.group(), vocabulary.kinds[fold(match.group())] - {_TRAP})
            for match in vocabulary.words.finditer(text)
        ]
        if not any(_SALE in kinds for _, _, kinds in found_words):
            return
        # A data term in a sentence that asks a buyer for it (`清关需提供收件人身份证号`) is
        # not for sale.
        sentence_ends = [m.start() for m in _SENTENCE_END.finditer(text)]
        asked = {
            bisect.bisect_left(sentence_ends, at)
            for at, _, kinds in found_words if _REQUEST in kinds
        }  # fmt: skip
        hits = _Hits()
        for at, word, kinds in found_words:
            for kind in kinds:
                if kind in _DATA_KINDS and asked and bisect.bisect_left(sentence_ends, at) in asked:
                    continue
                hits.positions.setdefault(kind, []).append(at)
                hits.words.setdefault(kind, word)
        sales = hits.positions[_SALE]
        sale = "sale:" + hits.words[_SALE]
        for position in sales:
            lo, hi = position - vocabulary.window, position + vocabulary.window
            if _near(hits, _NEWS, lo, hi) and not _near(hits, _OFFER, lo, hi):
                continue  # reporting on a trade, not offering one
            self._sale_word = self._sale_word or hits.words[_SALE]
            marker = _near(hits, _MARKER, lo, hi)
            if not marker and vocabulary.home_script is not None:
                home = vocabulary.home_script.search(text, max(0, lo), hi)
                if home:
                    hits.words.setdefault(_MARKER, home.group())
                    marker = 1
            if _near(hits, _DATA, lo, hi):
                found = ("data:" + hits.words[_DATA], sale)
                if marker:
                    self._trade_window = ("marker:" + hits.words[_MARKER], *found)
                    return
                self._data_sale = self._data_sale or found
            elif marker and _near(hits, _AMBIGUOUS, lo, hi):
                self._weak_trade = self._weak_trade or (
                    "marker:" + hits.words[_MARKER],
                    "data:" + hits.words[_AMBIGUOUS],
                    sale,
                )

    def finding(self, finding: Finding) -> None:
        """Record a reported finding of this document."""
        if finding.confidence < CASE_MIN_CONFIDENCE:
            return
        if finding.type.endswith(".masked"):
            self._masked[finding.type] += 1
            return
        if "landline" in finding.evidence:
            return  # shop and office numbers do not make a page a leak
        self._findings[finding.type] += 1
        if finding.type in self.classifier.marking_types:
            self._marking.add(finding.type)
        if finding.severity >= Severity.HIGH:
            self._severe.add(finding.type)
        elif finding.severity == Severity.MEDIUM:
            self._medium.setdefault(finding.type, set())
            if len(self._medium[finding.type]) < EXPOSURE_MIN_MEDIUM:
                self._medium[finding.type].add(finding.fingerprint)

    def verdict(self) -> Verdict:
        if self._service is not None:
            # A phone service's page (接码) lists its own numbers: they are no one's data.
            for found in (self._findings, self._masked, self._medium):
                for kind in [k for k in found if _is_phone(k)]:
                    del found[kind]
            self._marking = {k for k in self._marking if not _is_phone(k)}
        if self._trade_window is not None:  # the text offers data: a service line changes nothing
            return Verdict(Category.TRADING, self._trade_window)
        identifiers = sorted({*self._marking, *self._masked})
        if self._data_sale is not None and identifiers:
            return Verdict(
                Category.TRADING, ("identifiers:" + ",".join(identifiers), *self._data_sale)
            )
        if self._weak_trade is not None and identifiers:
            return Verdict(
                Category.TRADING, (*self._weak_trade, "identifiers:" + ",".join(identifiers))
            )
        if self._masked and self._sale_word is not None:
            samples = "samples:" + ",".join(sorted(self._masked))
            return Verdict(Category.TRADING, (samples, "sale:" + self._sale_word))
        if self._severe or any(len(v) >= EXPOSURE_MIN_MEDIUM for v in self._medium.values()):
            counts = tuple(f"{kind}={n}" for kind, n in sorted(self._findings.items()))
            return Verdict(Category.EXPOSURE, counts)
        return Verdict(None, ())


def exposes(findings: Iterable[tuple[str, Severity, float, bool, str]]) -> bool:
    """Whether a page's recorded findings (type, severity, confidence, on a landline,
    fingerprint) make it an exposure, by the rule `PageSignals.verdict` applies: a case
    some of whose findings the ignore file names later is judged again on the rest."""
    medium: dict[str, set[str]] = {}
    for type_, severity, confidence, landline, fingerprint in findings:
        if confidence < CASE_MIN_CONFIDENCE or type_.endswith(".masked") or landline:
            continue
        if severity >= Severity.HIGH:
            return True
        if severity == Severity.MEDIUM:
            medium.setdefault(type_, set()).add(fingerprint)
    return any(len(values) >= EXPOSURE_MIN_MEDIUM for values in medium.values())


def _is_phone(finding_type: str) -> bool:
    """`kr.phone`, `kr.phone.masked`: the types a phone service's page shows of its own."""
    return finding_type.split(".")[1:2] == ["phone"]


def _near(hits: _Hits, kind: str, lo: int, hi: int) -> int:
    positions = hits.positions.get(kind)
    if not positions:
        return 0
    return bisect.bisect_right(positions, hi) - bisect.bisect_left(positions, lo)
