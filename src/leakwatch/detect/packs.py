"""Load and check country pattern packs (TOML): every problem becomes a one-line PackError.

Packs are data edited by analysts and run over hostile pages, so a pack is checked completely
before any scan: known keys only, a regex RE2 accepts (linear time: no pattern can hang the
scanner), a known validator, sane weights, and examples for every pattern.
"""

from __future__ import annotations

import importlib.resources
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import re2

from leakwatch.detect.validators import VALIDATORS, Validator
from leakwatch.errors import PackError
from leakwatch.models import Severity

PACK_SUFFIX = ".toml"
_ID = re.compile(r"[a-z]{2,3}(?:\.[a-z0-9_]+)+")
_BOUNDARIES = ("digit", "alnum", "masked", "none")
# Unicode ranges of the scripts a pack may call home (`pack.script`).
SCRIPTS: Mapping[str, str] = MappingProxyType(
    {
        "Hangul": "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f",
        "Han": "\u4e00-\u9fff\u3400-\u4dbf",
        "Kana": "\u3040-\u30ff",
        "Thai": "\u0e00-\u0e7f",
        "Cyrillic": "\u0400-\u04ff",
        "Latin": "A-Za-z\u00c0-\u024f",
    }
)
# Evidence kinds the scorer knows; a pack's [scoring] table may weight any of them.
EVIDENCE_KINDS = frozenset(
    {
        "checksum", "valid", "masked", "format", "checksum-failed", "bare", "landline",
        "context", "column", "row", "name", "marker", "negative", "other", "label", "foreign",
        "lookalike", "timestamp", "personal", "business", "list",
    }
)  # fmt: skip
_PACK_KEYS = frozenset({"id", "country", "name", "script", "markers", "negative", "description"})
_PATTERN_KEYS = frozenset(
    {
        "id", "label", "severity", "regex", "validator", "boundary", "requires_context", "mask",
        "length", "context", "personal", "business", "negative", "lookalikes", "examples",
        "description",
        "reports",
    }
)  # fmt: skip
_LOOKALIKE_KEYS = frozenset({"when", "country", "against", "unless_labelled"})
_TRADING_KEYS = frozenset(
    {
        "window",
        "data",
        "ambiguous",
        "sale",
        "contact",
        "offer",
        "news",
        "requests",
        "traps",
        "services",
    }
)
_SCORING_DEFAULTS: Mapping[str, float] = MappingProxyType({"cap": 0.4})


def compile_re2(source: str) -> re2._Regexp[str]:
    """Compile for RE2 without its stderr logging; raises re2.error."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(source, options)


@dataclass(frozen=True, slots=True)
class Lookalike:
    """A reading of the same digits as another country's number (the Beijing trap)."""

    when: str
    country: str
    against: tuple[str, ...]
    unless_labelled: tuple[str, ...]  # labels that rule this reading out (手机: a mobile)
    matcher: Any = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Examples:
    match: tuple[str, ...]
    no_match: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Pattern:
    """One identifier type's detection rule."""

    id: str
    label: str
    severity: Severity
    regex: str
    validator_name: str
    boundary: str
    requires_context: bool
    mask: tuple[int, int]
    length: tuple[int, int] | None
    context: tuple[str, ...]
    # Labels that say the number is a person's own (자택, 宅电, home phone): a number the
    # validator reads as a business line (a landline) is personal only under one of them, or
    # under a plain label on a row that names a person.
    personal: tuple[str, ...]
    # Words that make a row a business's (상호, 대표전화, 酒店): a landline there is not
    # personal, whatever name the row carries (a shop's representative).
    business: tuple[str, ...]
    negative: tuple[str, ...]
    lookalikes: tuple[Lookalike, ...]
    examples: Examples
    pack_id: str
    validator: Validator = field(compare=False, repr=False)
    compiled: Any = field(compare=False, repr=False)

    # Another pattern's type this one reports (`kr.rrn.split` finds RRNs written over two
    # fields: its findings are `kr.rrn`); None: its own id.
    reports: str | None = None

    @property
    def type(self) -> str:
        """The finding type this pattern reports (its id, or the id it `reports`: the output
        contract)."""
        return self.reports or self.id


@dataclass(frozen=True, slots=True)
class TradingVocabulary:
    """What a post offering this country's personal data for sale says (see the page classifier)."""

    window: int
    data: tuple[str, ...]
    ambiguous: tuple[str, ...]
    sale: tuple[str, ...]
    contact: tuple[str, ...]  # channels (私聊, TG): they support an offer, never make one
    offer: tuple[str, ...]
    news: tuple[str, ...]
    requests: tuple[str, ...]
    traps: tuple[str, ...]
    services: tuple[str, ...]  # a page of such a service lists its own numbers (接码)


@dataclass(frozen=True, slots=True)
class Pack:
    """A country's patterns plus the vocabulary and weights they share."""

    id: str
    country: str
    name: str
    script: str | None
    markers: tuple[str, ...]
    negative: tuple[str, ...]
    scoring: Mapping[str, float]
    trading: TradingVocabulary | None
    patterns: tuple[Pattern, ...]
    path: str


def builtin_pack_dir() -> Path:
    """Where the packs shipped with leakwatch are: inside the wheel, or the checkout's patterns/."""
    packaged = Path(str(importlib.resources.files("leakwatch"))) / "patterns"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "patterns"


def load_packs(extra: Sequence[Path] = (), *, builtin: bool = True) -> tuple[Pack, ...]:
    """Load the built-in packs and those in `extra` (folders of .toml files, or files)."""
    files: list[Path] = []
    if builtin:
        files.extend(_pack_files(builtin_pack_dir()))
    for place in extra:
        if not place.exists():
            raise PackError(place, "no such file or folder")
        files.extend(_pack_files(place))
    packs = tuple(load_pack(path) for path in files)
    _check_unique(packs)
    return packs


def _pack_files(place: Path) -> list[Path]:
    if place.is_file():
        return [place]
    found = sorted(p for p in place.iterdir() if p.suffix == PACK_SUFFIX and p.is_file())
    if not found:
        raise PackError(place, f"no {PACK_SUFFIX} pattern packs in this folder")
    return found


def _check_unique(packs: Iterable[Pack]) -> None:
    seen: dict[str, str] = {}
    for pack in packs:
        for pattern in pack.patterns:
            if pattern.id in seen:
                raise PackError(
                    pack.path, f"id also defined in {seen[pattern.id]}", pattern_id=pattern.id
                )
            seen[pattern.id] = pack.path


def load_pack(path: Path) -> Pack:
    """Read and check one pack file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PackError(path, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PackError(path, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise PackError(path, f"not valid TOML: {exc}") from None
    return _PackReader(path, data).read()


def pack_from_text(name: str, text: str) -> Pack:
    """A pack sent as text (to a cluster's workers, which may not have the file): checked as
    a file is, and named as the file it came from."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PackError(name, f"not valid TOML: {exc}") from None
    return _PackReader(Path(name), data).read()


class _PackReader:
    """Turns one parsed TOML document into a Pack, naming the exact place of any problem."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    def fail(self, problem: str, pattern_id: str | None = None) -> PackError:
        return PackError(self.path, problem, pattern_id=pattern_id)

    def read(self) -> Pack:
        unknown = set(self.data) - {"pack", "scoring", "trading", "patterns"}
        if unknown:
            raise self.fail(f"unknown top-level key {sorted(unknown)[0]!r}")
        head = self.table(self.data.get("pack"), "[pack]")
        self.known_keys(head, _PACK_KEYS, "[pack]")
        pack_id = self.string(head, "id", "[pack]")
        if not re.fullmatch(r"[a-z]{2,3}", pack_id):
            raise self.fail(f"[pack] id {pack_id!r} must be 2-3 lower-case letters")
        script = head.get("script")
        if script is not None and script not in SCRIPTS:
            raise self.fail(f"[pack] script {script!r} is not one of {', '.join(SCRIPTS)}")
        scoring = self.scoring(self.data.get("scoring", {}))
        raw_patterns = self.data.get("patterns")
        if not isinstance(raw_patterns, list) or not raw_patterns:
            raise self.fail("no [[patterns]] defined")
        patterns = tuple(self.pattern(raw, pack_id) for raw in raw_patterns)
        return Pack(
            id=pack_id,
            country=self.string(head, "country", "[pack]"),
            name=self.string(head, "name", "[pack]"),
            script=script,
            markers=self.words(head, "markers", "[pack]"),
            negative=self.words(head, "negative", "[pack]"),
            scoring=MappingProxyType(scoring),
            trading=self.trading(self.data.get("trading")),
            patterns=patterns,
            path=str(self.path),
        )

    def scoring(self, raw: Any) -> dict[str, float]:
        table = self.table(raw, "[scoring]")
        weights = dict(_SCORING_DEFAULTS)
        for key, value in table.items():
            if key not in EVIDENCE_KINDS and key != "cap":
                raise self.fail(f"[scoring] has unknown evidence kind {key!r}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(f"[scoring] {key} must be a number")
            if not -1.0 <= value <= 1.0:
                raise self.fail(f"[scoring] {key} = {value} is outside [-1, 1]")
            weights[key] = float(value)
        return weights

    def trading(self, raw: Any) -> TradingVocabulary | None:
        if raw is None:
            return None
        table = self.table(raw, "[trading]")
        self.known_keys(table, _TRADING_KEYS, "[trading]")
        window = table.get("window", 300)
        if isinstance(window, bool) or not isinstance(window, int) or not 20 <= window <= 5000:
            raise self.fail("[trading] window must be a whole number from 20 to 5000")
        vocabulary = TradingVocabulary(
            window=window,
            data=self.words(table, "data", "[trading]"),
            ambiguous=self.words(table, "ambiguous", "[trading]"),
            sale=self.words(table, "sale", "[trading]"),
            contact=self.words(table, "contact", "[trading]"),
            offer=self.words(table, "offer", "[trading]"),
            news=self.words(table, "news", "[trading]"),
            requests=self.words(table, "requests", "[trading]"),
            traps=self.words(table, "traps", "[trading]"),
            services=self.words(table, "services", "[trading]"),
        )
        if not vocabulary.data or not vocabulary.sale:
            raise self.fail("[trading] needs 'data' and 'sale' words")
        return vocabulary

    def pattern(self, raw: Any, pack_id: str) -> Pattern:
        if not isinstance(raw, dict):
            raise self.fail("each [[patterns]] entry must be a table")
        pid = raw.get("id")
        if not isinstance(pid, str) or not _ID.fullmatch(pid):
            raise self.fail(f"pattern id {pid!r} must look like '{pack_id}.name'")
        if not pid.startswith(pack_id + "."):
            raise self.fail(f"id must start with the pack id '{pack_id}.'", pid)
        unknown = set(raw) - _PATTERN_KEYS
        if unknown:
            raise self.fail(f"unknown key {sorted(unknown)[0]!r}", pid)
        where = f"pattern {pid}"
        try:
            severity = Severity.parse(self.string(raw, "severity", where))
        except ValueError as exc:
            raise self.fail(str(exc), pid) from None
        regex = self.string(raw, "regex", where)
        compiled = self.compile(regex, pid, "regex")
        if compiled.search(b"") is not None:
            raise self.fail("regex matches the empty string", pid)
        validator_name = self.string(raw, "validator", where)
        if validator_name not in VALIDATORS:
            choices = ", ".join(sorted(VALIDATORS))
            raise self.fail(f"unknown validator {validator_name!r} (known: {choices})", pid)
        boundary = raw.get("boundary", "digit")
        if boundary not in _BOUNDARIES:
            raise self.fail(f"boundary must be one of {', '.join(_BOUNDARIES)}", pid)
        requires_context = raw.get("requires_context", False)
        if not isinstance(requires_context, bool):
            raise self.fail("requires_context must be true or false", pid)
        return Pattern(
            id=pid,
            label=self.string(raw, "label", where),
            severity=severity,
            regex=regex,
            validator_name=validator_name,
            boundary=boundary,
            requires_context=requires_context,
            mask=self.pair(raw, "mask", pid, default=(0, 0)) or (0, 0),
            length=self.pair(raw, "length", pid, default=None),
            context=self.words(raw, "context", where, pid),
            personal=self.words(raw, "personal", where, pid),
            business=self.words(raw, "business", where, pid),
            negative=self.words(raw, "negative", where, pid),
            lookalikes=self.lookalikes(raw.get("lookalikes", []), pid),
            examples=self.examples(raw.get("examples"), pid),
            pack_id=pack_id,
            validator=VALIDATORS[validator_name],
            compiled=compiled,
            reports=self.reported_type(raw, pid),
        )

    def reported_type(self, raw: Mapping[str, Any], pid: str) -> str | None:
        reports = raw.get("reports")
        if reports is None:
            return None
        if not isinstance(reports, str) or not _ID.fullmatch(reports):
            raise self.fail("reports must be the id of another pattern, like kr.rrn", pid)
        ids = [p.get("id") for p in self.data.get("patterns", []) if isinstance(p, dict)]
        if reports == pid or reports not in ids:
            raise self.fail(f"reports {reports!r}, which is no other pattern of this pack", pid)
        return reports

    def compile(self, source: str, pid: str, key: str) -> Any:
        try:
            return compile_re2(source)
        except re2.error as exc:
            detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise self.fail(f"{key} is not a valid RE2 expression: {detail}", pid) from None

    def lookalikes(self, raw: Any, pid: str) -> tuple[Lookalike, ...]:
        if not isinstance(raw, list):
            raise self.fail("lookalikes must be a list of tables", pid)
        found = []
        for entry in raw:
            if not isinstance(entry, dict):
                raise self.fail("each [[patterns.lookalikes]] entry must be a table", pid)
            unknown = set(entry) - _LOOKALIKE_KEYS
            if unknown:
                raise self.fail(f"lookalike has unknown key {sorted(unknown)[0]!r}", pid)
            when = self.string(entry, "when", f"pattern {pid} lookalike")
            found.append(
                Lookalike(
                    when=when,
                    country=self.string(entry, "country", f"pattern {pid} lookalike"),
                    against=self.words(entry, "against", "lookalike", pid),
                    unless_labelled=self.words(entry, "unless_labelled", "lookalike", pid),
                    matcher=self.compile(when, pid, "lookalike 'when'"),
                )
            )
        return tuple(found)

    def examples(self, raw: Any, pid: str) -> Examples:
        table = self.table(raw, f"pattern {pid} examples", pid)
        unknown = set(table) - {"match", "no_match"}
        if unknown:
            raise self.fail(f"examples has unknown key {sorted(unknown)[0]!r}", pid)
        match = self.words(table, "match", "examples", pid)
        no_match = self.words(table, "no_match", "examples", pid)
        if not match or not no_match:
            raise self.fail("needs at least one examples.match and one examples.no_match", pid)
        return Examples(match, no_match)

    def pair(
        self, raw: dict[str, Any], key: str, pid: str, *, default: tuple[int, int] | None
    ) -> tuple[int, int] | None:
        value = raw.get(key)
        if value is None:
            return default
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
        )
        if not ok:
            raise self.fail(f"{key} must be two non-negative whole numbers, like [3, 4]", pid)
        return (value[0], value[1])

    def table(self, raw: Any, where: str, pid: str | None = None) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(f"{where} must be a table", pid)
        return raw

    def known_keys(self, table: dict[str, Any], known: frozenset[str], where: str) -> None:
        unknown = set(table) - known
        if unknown:
            raise self.fail(f"{where} has unknown key {sorted(unknown)[0]!r}")

    def string(self, table: dict[str, Any], key: str, where: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            pid = table.get("id") if where.startswith("pattern") else None
            raise self.fail(f"{where} needs a non-empty string '{key}'", pid)
        return value

    def words(
        self, table: dict[str, Any], key: str, where: str, pid: str | None = None
    ) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{where} '{key}' must be a list of non-empty strings", pid)
        return tuple(value)
