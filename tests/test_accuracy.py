"""Precision and recall per identifier type on the labelled corpora in tests/fixtures/.

`accuracy/` (built by its `build.py`, synthetic identifiers only) holds realistic leak pages
and dumps plus look-alikes that must stay silent. `holdout-1/` to `holdout-3/` were built
blind, from the reference and the README only, by people who never saw the detector's
code (see tests/fixtures/HOLDOUTS.md); they are kept frozen as they were labelled. Every
document is scanned through the public pipeline, exactly as `leakwatch scan --reveal` would,
and its findings are compared with the labels by (file, type, canonical value), counting
each occurrence:

- kr.phone: the E.164 form (`+821012345678`), whatever way the number was written;
- masked types: NFKC, upper case, digits kept, every mask character as `*`;
- everything else: NFKC, upper case, letters and digits only.

The test fails when a type with at least `MIN_SUPPORT` labels (or findings) falls below
`MIN_PRECISION` or `MIN_RECALL`, and lists every false positive and false negative with the
detector's evidence. Page categories and published dates are checked the same way. Run with
`pytest tests/test_accuracy.py -s` to see the per-type table.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import phonenumbers
import pytest

from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.detect.packs import Pack, load_packs
from leakwatch.detect.redact import Fingerprinter, mask
from leakwatch.models import DocumentFacts, Finding, ScanIssue
from leakwatch.pipeline import scan_local

FIXTURES_ROOT = Path(__file__).resolve().parent / "fixtures"
FIXTURES = FIXTURES_ROOT / "accuracy"
LABELS = FIXTURES / "labels.json"
CORPORA = ("accuracy", "holdout-1", "holdout-2", "holdout-3", "holdout-4")
# The corpus's birth dates and "future" numbers are relative to this day (tests/synthetic.py).
TODAY = dt.date(2026, 11, 28)
MIN_PRECISION = 0.98
MIN_RECALL = 0.95
MIN_SUPPORT = 5  # types with fewer labels and findings are shown but do not fail the test
MIN_DOCUMENT_ACCURACY = 0.95
PHONE = "kr.phone"
_MASK_CHARS = frozenset("*X×●○#")

Key = tuple[str, str, str]  # (file, type, canonical value)


# -- canonical values -----------------------------------------------------------------------


def e164(value: str) -> str:
    """A Korean phone number as `+82…`, from any written form (`0082-10…`, `82-10…`, ...)."""
    text = unicodedata.normalize("NFKC", value).replace("(0)", "")
    compact = "".join(c for c in text if c.isdigit() or c == "+")
    if compact.startswith("0082"):
        compact = "+82" + compact[4:]
    elif compact.startswith("82"):  # national numbers start with 0, never with 82
        compact = "+" + compact
    if compact.startswith("+820"):  # `+82 010-…` keeps the trunk prefix
        compact = "+82" + compact[4:]
    try:
        number = phonenumbers.parse(compact, "KR")
    except phonenumbers.NumberParseException:
        return "unparsable:" + compact
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def canonical(type_: str, value: str) -> str:
    if type_ == PHONE:
        return e164(value)
    text = unicodedata.normalize("NFKC", value).upper()
    if type_.endswith(".masked"):
        return "".join(
            "*" if c in _MASK_CHARS else c for c in text if c.isdigit() or c in _MASK_CHARS
        )
    return "".join(c for c in text if c.isalnum())


# -- the scan -------------------------------------------------------------------------------


@dataclass
class Corpus:
    """Labels and the detector's results, keyed by document (`docs/x.html`)."""

    root: Path
    packs: tuple[Pack, ...]
    documents: list[dict[str, object]]
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    facts: dict[str, DocumentFacts] = field(default_factory=dict)
    issues: list[ScanIssue] = field(default_factory=list)

    def mask_for(self, type_: str) -> tuple[int, int]:
        for pack in self.packs:
            for pattern in pack.patterns:
                if pattern.type == type_:
                    return pattern.mask
        return (2, 2)


def _relative(source: str, root: Path) -> str:
    return Path(source).resolve().relative_to(root).as_posix()


def _scan(packs: tuple[Pack, ...], paths: list[str], min_confidence: float) -> Iterator[object]:
    detector = Detector(
        packs,
        Fingerprinter(b"test-key"),
        reveal=True,
        today=TODAY,
        min_confidence=min_confidence,
    )
    return scan_local(paths, detector, PageClassifier(packs))


@pytest.fixture(scope="module", params=CORPORA)
def corpus(request: pytest.FixtureRequest) -> Corpus:
    root = FIXTURES_ROOT / request.param
    packs = load_packs()
    documents = json.loads((root / "labels.json").read_text(encoding="utf-8"))["documents"]
    result = Corpus(root, packs, documents)
    paths = [str(root / str(doc["file"])) for doc in documents]
    for event in _scan(packs, paths, min_confidence=0.5):
        if isinstance(event, Finding):
            result.findings.setdefault(_relative(event.source, root), []).append(event)
        elif isinstance(event, DocumentFacts):
            result.facts[_relative(event.source, root)] = event
        elif isinstance(event, ScanIssue):
            result.issues.append(event)
    return result


# -- identifier accuracy --------------------------------------------------------------------


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def labels(self) -> int:
        return self.tp + self.fn

    @property
    def reported(self) -> int:
        return self.tp + self.fp

    @property
    def precision(self) -> float:
        return self.tp / self.reported if self.reported else 1.0

    @property
    def recall(self) -> float:
        return self.tp / self.labels if self.labels else 1.0

    def failing(self) -> bool:
        if max(self.labels, self.reported) < MIN_SUPPORT:
            return False
        return self.precision < MIN_PRECISION or self.recall < MIN_RECALL


def _table(scores: dict[str, Score]) -> str:
    lines = [f"{'type':<22}{'labels':>7}{'TP':>6}{'FP':>5}{'FN':>5}{'precision':>11}{'recall':>8}"]
    total = Score()
    for type_, s in sorted(scores.items()):
        flag = "  <-- below threshold" if s.failing() else ""
        lines.append(
            f"{type_:<22}{s.labels:>7}{s.tp:>6}{s.fp:>5}{s.fn:>5}"
            f"{s.precision:>11.3f}{s.recall:>8.3f}{flag}"
        )
        total.tp, total.fp, total.fn = total.tp + s.tp, total.fp + s.fp, total.fn + s.fn
    lines.append(
        f"{'all':<22}{total.labels:>7}{total.tp:>6}{total.fp:>5}{total.fn:>5}"
        f"{total.precision:>11.3f}{total.recall:>8.3f}"
    )
    return "\n".join(lines)


def _near_misses(corpus: Corpus, file: str) -> dict[str, list[Finding]]:
    """Every candidate of a document (confidence >= 0) by value: why a label was missed."""
    found: dict[str, list[Finding]] = {}
    for event in _scan(corpus.packs, [str(corpus.root / file)], min_confidence=0.0):
        if isinstance(event, Finding) and event.value is not None:
            keys = {canonical(event.type, event.value), e164(event.value), _digits(event.value)}
            for key in sorted(keys):
                found.setdefault(key, []).append(event)
    return found


def _digits(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", value) if c.isdigit())


def _describe(finding: Finding) -> str:
    return (
        f"{finding.type} conf={finding.confidence:.2f} line {finding.line}: "
        f"evidence={','.join(finding.evidence)} context={finding.context!r}"
    )


def test_identifier_precision_and_recall(corpus: Corpus) -> None:
    expected: Counter[Key] = Counter()
    for doc in corpus.documents:
        for label in doc["findings"]:  # type: ignore[attr-defined]
            expected[
                (str(doc["file"]), label["type"], canonical(label["type"], label["value"]))
            ] += 1
    reported: Counter[Key] = Counter()
    by_key: dict[Key, list[Finding]] = {}
    for file, findings in corpus.findings.items():
        for finding in findings:
            assert finding.value is not None, "the detector runs with reveal=True"
            key = (file, finding.type, canonical(finding.type, finding.value))
            reported[key] += 1
            by_key.setdefault(key, []).append(finding)

    scores: dict[str, Score] = {}
    for key in expected | reported:
        score = scores.setdefault(key[1], Score())
        hit = min(expected[key], reported[key])
        score.tp += hit
        score.fp += reported[key] - hit
        score.fn += expected[key] - hit
    table = _table(scores)
    print("\n" + table)

    problems: list[str] = []
    for key in sorted(reported - expected):
        file, type_, _ = key
        extra = (reported - expected)[key]
        for finding in by_key[key][-extra:]:
            problems.append(f"FP {file} {finding.masked}: {_describe(finding)}")
    misses = expected - reported
    near: dict[str, dict[str, list[Finding]]] = {}
    for key in sorted(misses):
        file, type_, value = key
        if file not in near:
            near[file] = _near_misses(corpus, file)
        candidates = near[file].get(value) or near[file].get(_digits(value), [])
        seen = "; ".join(_describe(c) for c in candidates) or "no candidate at all"
        if type_.endswith(".masked"):
            masked = value  # a sample shows no more than it already does
        else:
            masked = mask(value, corpus.mask_for(type_) if type_ != PHONE else (5, 4))
        problems.append(f"FN {file} {type_} {masked} x{misses[key]}: {seen}")
    for line in problems:
        print(line)

    failing = [t for t, s in scores.items() if s.failing()]
    assert not failing, (
        f"below precision {MIN_PRECISION} / recall {MIN_RECALL} for {', '.join(sorted(failing))}"
        f"\n{table}\n" + "\n".join(problems)
    )


@pytest.mark.parametrize("corpus", ["accuracy"], indirect=True)
def test_corpus_has_enough_labels_per_type(corpus: Corpus) -> None:
    """The corpus itself must keep measuring something: enough labels per type."""
    counts = Counter(
        label["type"]  # type: ignore[index]
        for doc in corpus.documents
        for label in doc["findings"]  # type: ignore[attr-defined]
    )
    wanted = {"kr.rrn": 60, "kr.phone": 60, "kr.arn": 20, "kr.passport": 20,
              "kr.driver_license": 20, "kr.brn": 20, "kr.card": 20, "kr.bank_account": 20,
              "kr.health_insurance": 20, "kr.rrn.masked": 20, "kr.phone.masked": 20}  # fmt: skip
    short = {t: counts[t] for t, n in wanted.items() if counts[t] < n}
    assert not short, f"too few labels: {short}"
    silent = [d for d in corpus.documents if not d["findings"]]
    assert len(silent) >= 15, "the corpus needs many documents that must stay silent"


def test_every_document_scanned(corpus: Corpus) -> None:
    on_disk = {
        p.relative_to(corpus.root).as_posix()
        for p in (corpus.root / "docs").rglob("*")
        if p.is_file()
    }
    labelled = {str(doc["file"]) for doc in corpus.documents}
    assert on_disk == labelled, "docs/ and labels.json disagree: re-run build.py"
    assert not corpus.issues, [f"{i.source}: {i.message}" for i in corpus.issues]
    assert set(corpus.facts) == labelled


# -- page facts -----------------------------------------------------------------------------


def _document_accuracy(corpus: Corpus, what: str) -> tuple[float, list[str]]:
    wrong = []
    for doc in corpus.documents:
        file = str(doc["file"])
        facts = corpus.facts[file]
        if what == "category":
            got = facts.category.value if facts.category else None
            detail = ",".join(facts.category_evidence)
        else:
            got = facts.published[:10] if facts.published else None
            detail = facts.published_source or ""
        if got != doc[what]:
            wrong.append(f"{file}: labelled {doc[what]}, got {got} ({detail})")
    accuracy = 1 - len(wrong) / len(corpus.documents)
    print(f"\n{what} accuracy {accuracy:.3f} ({len(corpus.documents) - len(wrong)}"
          f"/{len(corpus.documents)})")  # fmt: skip
    for line in wrong:
        print("  " + line)
    return accuracy, wrong


@pytest.mark.parametrize(
    ("corpus", "what"),
    [
        *((name, "category") for name in CORPORA),
        ("accuracy", "published"),
        ("holdout-4", "published"),
    ],
    indirect=["corpus"],
)
def test_document_facts(corpus: Corpus, what: str) -> None:
    accuracy, wrong = _document_accuracy(corpus, what)
    assert accuracy >= MIN_DOCUMENT_ACCURACY, f"{what} accuracy {accuracy:.3f}:\n" + "\n".join(
        wrong
    )


# -- the corpus matches its builder ---------------------------------------------------------


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("accuracy_build", FIXTURES / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_fixtures_match_builder(tmp_path: Path) -> None:
    _builder().write(tmp_path)
    built = {
        p.relative_to(tmp_path).as_posix(): p.read_bytes()
        for p in tmp_path.rglob("*")
        if p.is_file()
    }
    kept = {
        p.relative_to(FIXTURES).as_posix(): p.read_bytes()
        for p in [LABELS, *(FIXTURES / "docs").rglob("*")]
        if p.is_file()
    }
    stale = sorted(k for k in built.keys() | kept.keys() if built.get(k) != kept.get(k))
    assert not stale, f"fixtures differ from build.py (run it): {stale}"


def test_canonical_forms() -> None:
    """The comparison itself: every written form of one number meets in one key."""
    forms = ["010-2345-6789", "01023456789", "+82 10 2345 6789", "82-10-2345-6789",
             "0082-10-2345-6789", "(+82) 010-2345-6789", "０１０－２３４５－６７８９",
             "+82 (0)10 2345 6789"]  # fmt: skip
    assert {e164(f) for f in forms} == {"+821023456789"}
    assert canonical("kr.rrn", "９６０１２１－１０２１４１３") == "9601211021413"
    assert canonical("kr.rrn", "960121\u20131021413") == "9601211021413"
    assert canonical("kr.driver_license", "서울 12-345678-90") == "서울1234567890"
    assert canonical("kr.rrn.masked", "800101-1xxxxxx") == canonical(
        "kr.rrn.masked", "8001011******"
    )
