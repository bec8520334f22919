"""Named validators that pattern packs refer to: check digits, dates and numbering plans.

A validator takes the matched text (already normalised to ASCII digits and hyphens) and the
scan date, and returns a `Validation`: a verdict, the canonical value fingerprints are made
from, and extra evidence tags. Sources for each rule are cited beside it; see also
`shared/reference/korean-identifiers.md`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

import phonenumbers
from phonenumbers import PhoneNumberType
from stdnum import luhn
from stdnum.kr import rrn as stdnum_rrn

from leakwatch.detect.redact import MASK_CHARS
from leakwatch.models import Validation, Verdict

Validator = Callable[[str, dt.date], Validation]

_FAIL = Validation(Verdict.FAIL, "")
_MASK_CHARS = frozenset(MASK_CHARS)

# Digit 7 of an RRN/ARN gives the century of birth (and sex, and nationality).
# 9 and 0 mean born in the 1800s: no living holders, so treated as impossible.
_CENTURY = {"1": 1900, "2": 1900, "3": 2000, "4": 2000, "5": 1900, "6": 1900, "7": 2000, "8": 2000}
_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
# Region digits 8-9 ran 00-95 before the 2020-10-05 reform; 96-99 only appear in random numbers.
_MAX_REGION = 95


_NON_DIGITS = re.compile("[^0-9]+")


def digits_of(text: str) -> str:
    """The ASCII digits of `text`, in order."""
    return _NON_DIGITS.sub("", text)


def _birth_date(digits: str, today: dt.date) -> dt.date | None:
    """The birth date an RRN/ARN encodes, or None when impossible (bad date, 1800s, future)."""
    century = _CENTURY.get(digits[6])
    if century is None:
        return None
    try:
        born = dt.date(century + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return None
    return born if born <= today else None


def _rrn_weighted_sum(digits: str) -> int:
    return sum(int(d) * w for d, w in zip(digits[:12], _RRN_WEIGHTS, strict=True))


def kr_rrn(text: str, today: dt.date) -> Validation:
    """Korean resident registration number: `YYMMDD-SBBBBNC`, S in 1-4.

    Check digit `(11 - sum mod 11) mod 10` (python-stdnum's `kr.rrn`). Numbers issued since
    2020-10-05 have random digits after S, so a wrong check digit on a valid date is
    UNVERIFIED, not FAIL.
    """
    digits = digits_of(text)
    if len(digits) != 13 or digits[6] not in "1234":
        return _FAIL
    born = _birth_date(digits, today)
    if born is None:
        return _FAIL
    checked = stdnum_rrn.calc_check_digit(digits[:12]) == digits[12]
    if checked and int(digits[7:9]) <= _MAX_REGION:
        return Validation(Verdict.PASS, digits, ("checksum", *_bare(text, born, today)))
    return Validation(Verdict.UNVERIFIED, digits, ("checksum-failed", *_bare(text, born, today)))


_HALVES = re.compile(r"([0-9]{6})[^0-9].*?([0-9]{7})")


def kr_rrn_split(text: str, today: dt.date) -> Validation:
    """An RRN written over two fields (`jumin1=800101&jumin2=1234560`, two cells): the first
    six digits and the last seven, joined, validated as `kr_rrn`."""
    halves = _HALVES.fullmatch(text)
    if halves is None:
        return _FAIL
    return kr_rrn(f"{halves.group(1)}-{halves.group(2)}", today)


def kr_arn(text: str, today: dt.date) -> Validation:
    """Korean alien registration number: RRN layout with S in 5-8.

    Two check-digit variants circulate: the domestic `(11 - s) mod 10` and an older
    foreigner variant `(13 - s) mod 10`, both over `s = sum mod 11`; either passes.
    """
    digits = digits_of(text)
    if len(digits) != 13 or digits[6] not in "5678":
        return _FAIL
    born = _birth_date(digits, today)
    if born is None:
        return _FAIL
    remainder = _rrn_weighted_sum(digits) % 11
    check = int(digits[12])
    if check in ((11 - remainder) % 10, (13 - remainder) % 10):
        return Validation(Verdict.PASS, digits, ("checksum", *_bare(text, born, today)))
    return Validation(Verdict.UNVERIFIED, digits, ("checksum-failed", *_bare(text, born, today)))


# Millisecond timestamps since 2001-09-09 are 13 digits starting 1: read as RRNs they are
# people born 1910-1919 (digit 7 = 1, 2, 5 or 6), over a hundred years old today.
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FIRST_13_DIGIT_MS = 10**12
CENTENARIAN = 100


def _bare(text: str, born: dt.date, today: dt.date) -> tuple[str, ...]:
    """`bare` when 13 digits are written with no separator, as millisecond timestamps are;
    `timestamp` too when they read as a moment up to today and as a centenarian's number."""
    if not text.isdigit():
        return ()
    if _FIRST_13_DIGIT_MS <= int(text) <= _latest_ms(today) and (
        today.year - born.year > CENTENARIAN
    ):
        return ("bare", "timestamp")
    return ("bare",)


@functools.lru_cache(maxsize=4)
def _latest_ms(today: dt.date) -> int:
    """The end of `today` in milliseconds since the epoch."""
    end = dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
    return int((end - _EPOCH).total_seconds() * 1000)


def _masked_registration(text: str, today: dt.date, sex_digits: str) -> Validation:
    """A masked RRN/ARN sample such as `800101-1******`: the visible birth date must be real."""
    chars = [c for c in text if c.isdigit() or c in _MASK_CHARS]
    if len(chars) != 13 or not chars[0:6] or not all(c.isdigit() for c in chars[0:6]):
        return _FAIL
    sex = chars[6]
    if sex.isdigit():
        if sex not in sex_digits:
            return _FAIL
        probe = "".join(chars[0:7]) + "000000"
    else:
        probe = "".join(chars[0:6]) + sex_digits[0] + "000000"
    if _birth_date(probe, today) is None or not any(c in _MASK_CHARS for c in chars[7:]):
        return _FAIL
    normalized = "".join("*" if c in _MASK_CHARS else c for c in chars)
    return Validation(Verdict.PASS, normalized, ("masked",))


def kr_rrn_masked(text: str, today: dt.date) -> Validation:
    """A masked RRN sample; the digit after the hyphen, when shown, is 1-4."""
    return _masked_registration(text, today, "1234")


def kr_arn_masked(text: str, today: dt.date) -> Validation:
    """A masked ARN sample; the digit after the hyphen is 5-8."""
    return _masked_registration(text, today, "5678")


_PERSONAL_PHONE_TYPES = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


_NOT_PHONE_CHARS = re.compile("[^0-9+]+")


def _international_form(text: str) -> str:
    """Rewrite `0082 10…`, `82-10…`, `+82 (0)10…` to one `+82…` string phonenumbers parses."""
    compact = _NOT_PHONE_CHARS.sub("", text.replace("(0)", ""))
    if compact.startswith("0082"):
        compact = "+82" + compact[4:]
    elif compact.startswith("82") and len(compact) >= 10:
        compact = "+" + compact
    if compact.startswith("+820"):  # `+82 010-…` keeps the trunk 0; drop it
        compact = "+82" + compact[4:]
    return compact


def kr_phone(text: str, today: dt.date) -> Validation:
    """Korean mobile or landline number, checked against the numbering plan (phonenumbers, KR).

    Region KR is essential: parsed as CN, `010-1234-5678` is a valid Beijing number. Business
    ranges (15xx/16xx/18xx, 080, 060, 070 VoIP, 050x relay) are not personal data: FAIL.
    """
    del today
    return _phone(_international_form(text))


@functools.lru_cache(maxsize=4096)  # a site repeats its numbers; random ones do not
def _phone(compact: str) -> Validation:
    # The pattern already took the number apart: drop the country code or trunk 0 and hand
    # phonenumbers the national number directly (parse() would triple the cost).
    if compact.startswith("+82"):
        national = compact[3:]
    elif compact.startswith("0"):
        national = compact[1:]
    else:
        return _FAIL
    if not national.isdigit() or not 7 <= len(national) <= 10 or national[0] == "0":
        return _FAIL
    if len(national) == 10 and national.startswith("10") and national[2] in "23456789":
        # 010 + 8 digits is a mobile (reference, section 3). libphonenumber's plan leaves a
        # few blocks out (010-597x to 599x) that real dumps hold: the shape decides here.
        return Validation(Verdict.PASS, f"+82{national}", ("valid",))
    kind = KR_PLAN.number_type(national)
    if kind not in _PERSONAL_PHONE_TYPES:
        return _FAIL
    evidence = ("valid", "landline") if kind == PhoneNumberType.FIXED_LINE else ("valid",)
    return Validation(Verdict.PASS, f"+82{national}", evidence)


class NumberingPlan:
    """A region's numbering plan from phonenumbers' own metadata, its patterns compiled once:
    `number_type` gives phonenumbers.number_type's answer for a national number (its order
    of checks, the possible lengths first) in a seventh of its time, as it skips making a
    PhoneNumber and looking the region up on every call. A test compares the two."""

    def __init__(self, region: str) -> None:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            raise ValueError(f"no numbering plan for {region}")

        def desc(name: str) -> tuple[frozenset[int], re.Pattern[str]] | None:
            found = getattr(metadata, name)
            if found is None or found.national_number_pattern is None:
                return None
            lengths = frozenset(found.possible_length or ())
            return lengths, re.compile(found.national_number_pattern)

        self._general = desc("general_desc")
        self._special = tuple(
            (kind, found)
            for kind, name in (
                (PhoneNumberType.PREMIUM_RATE, "premium_rate"),
                (PhoneNumberType.TOLL_FREE, "toll_free"),
                (PhoneNumberType.SHARED_COST, "shared_cost"),
                (PhoneNumberType.VOIP, "voip"),
                (PhoneNumberType.PERSONAL_NUMBER, "personal_number"),
                (PhoneNumberType.PAGER, "pager"),
                (PhoneNumberType.UAN, "uan"),
                (PhoneNumberType.VOICEMAIL, "voicemail"),
            )
            if (found := desc(name)) is not None
        )
        self._fixed = desc("fixed_line")
        self._mobile = desc("mobile")
        self._same = bool(metadata.same_mobile_and_fixed_line_pattern)

    @staticmethod
    def _matches(number: str, found: tuple[frozenset[int], re.Pattern[str]] | None) -> bool:
        if found is None:
            return False
        lengths, pattern = found
        if lengths and len(number) not in lengths:
            return False
        return pattern.fullmatch(number) is not None

    def number_type(self, national: str) -> int:
        if not self._matches(national, self._general):
            return PhoneNumberType.UNKNOWN
        for kind, found in self._special:
            if self._matches(national, found):
                return kind
        if self._matches(national, self._fixed):
            if self._same or self._matches(national, self._mobile):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self._same and self._matches(national, self._mobile):
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN


KR_PLAN = NumberingPlan("KR")


def kr_phone_masked(text: str, today: dt.date) -> Validation:
    """A masked mobile number such as `010-****-5678`: real prefix, masked middle or end."""
    del today
    compact = "".join("*" if c in _MASK_CHARS else c for c in text if c.isdigit() or c in "+"
                      or c in _MASK_CHARS)  # fmt: skip
    for prefix in ("+82", "0082", "82"):
        if compact.startswith(prefix):
            compact = "0" + compact[len(prefix) :].removeprefix("0")
            break
    if len(compact) not in (10, 11) or compact[:3] not in _MOBILE_PREFIXES:
        return _FAIL
    rest = compact[3:]
    # Some digits must be masked, and some shown: `010-****-****` says nothing.
    if "*" not in rest or sum(c.isdigit() for c in rest) < 2:
        return _FAIL
    return Validation(Verdict.PASS, compact, ("masked",))


_MOBILE_PREFIXES = frozenset({"010", "011", "016", "017", "018", "019"})

_PASSPORT_LETTERS = frozenset("MSROD")


def kr_passport(text: str, today: dt.date) -> Validation:
    """Korean passport: `M12345678` (before 2021-12-21) or `M123A4567`; no public check digit."""
    del today
    value = "".join(c for c in text.upper() if c.isalnum())
    old = len(value) == 9 and value[1:].isdigit()
    new = len(value) == 9 and value[1:4].isdigit() and value[4].isalpha() and value[5:].isdigit()
    if value[:1] not in _PASSPORT_LETTERS or not (old or new) or _degenerate(value[1:]):
        return _FAIL
    return Validation(Verdict.FORMAT, value, ("format",))


# Before 2014 a region name led the licence number; the 2014 change replaced it by this code.
LICENCE_REGIONS = MappingProxyType(
    {
        "서울": "11", "부산": "12", "경기": "13", "강원": "14", "충북": "15", "충남": "16",
        "전북": "17", "전남": "18", "경북": "19", "경남": "20", "제주": "21", "대구": "22",
        "인천": "23", "광주": "24", "대전": "25", "울산": "26", "경기북부": "28",
    }
)  # fmt: skip
_LICENCE_CODES = frozenset(LICENCE_REGIONS.values())


def kr_driver_license(text: str, today: dt.date) -> Validation:
    """Driver's licence `RR-YY-NNNNNN-CC` (RR 11-26 or 28), or `서울 YY-NNNNNN-CC` before 2014."""
    del today
    digits = digits_of(text)
    region = next((code for name, code in LICENCE_REGIONS.items() if text.startswith(name)), None)
    if region is not None and len(digits) == 10:
        digits = region + digits
    if len(digits) != 12 or digits[:2] not in _LICENCE_CODES or _degenerate(digits[2:]):
        return _FAIL
    return Validation(Verdict.FORMAT, digits, ("format",))


_BRN_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)


def kr_brn(text: str, today: dt.date) -> Validation:
    """Business registration number `XXX-XX-XXXXX` with its check digit.

    python-stdnum's `kr.brn` checks only the layout, so the checksum is computed here:
    `S = sum(d_i * w_i) + floor(5 * d9 / 10)`, check digit `(10 - S mod 10) mod 10`.
    """
    del today
    digits = digits_of(text)
    if len(digits) != 10 or digits[:3] < "101" or digits[3:5] == "00" or digits[5:9] == "0000":
        return _FAIL
    total = sum(int(d) * w for d, w in zip(digits[:9], _BRN_WEIGHTS, strict=True))
    total += (int(digits[8]) * 5) // 10
    if (10 - total % 10) % 10 != int(digits[9]):
        return _FAIL
    return Validation(Verdict.PASS, digits, ("checksum",))


def card(text: str, today: dt.date) -> Validation:
    """Payment card number, 14-16 digits, Luhn check (Korean domestic-only cards start with 9)."""
    del today
    digits = digits_of(text)
    if not 14 <= len(digits) <= 16 or _degenerate(digits) or not luhn.is_valid(digits):
        return _FAIL
    return Validation(Verdict.PASS, digits, ("checksum",))


def digits_format(text: str, today: dt.date) -> Validation:
    """Any number with no public check (bank accounts, health insurance): shape only."""
    del today
    digits = digits_of(text)
    if not digits or _degenerate(digits):
        return _FAIL
    return Validation(Verdict.FORMAT, digits, ("format",))


def _degenerate(digits: str) -> bool:
    """All one digit, or a plain ascending run: placeholders, not identifiers."""
    return len(set(digits)) <= 1 or digits in "01234567890123456789"


VALIDATORS: Mapping[str, Validator] = MappingProxyType(
    {
        "kr_rrn": kr_rrn,
        "kr_rrn_split": kr_rrn_split,
        "kr_arn": kr_arn,
        "kr_rrn_masked": kr_rrn_masked,
        "kr_arn_masked": kr_arn_masked,
        "kr_phone": kr_phone,
        "kr_phone_masked": kr_phone_masked,
        "kr_passport": kr_passport,
        "kr_driver_license": kr_driver_license,
        "kr_brn": kr_brn,
        "luhn": card,
        "digits": digits_format,
    }
)
