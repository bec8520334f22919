"""Synthetic identifiers and look-alikes for tests, fixtures and benchmarks. Never real data.

Every generator takes a `random.Random`, so corpora are reproducible from a seed. Valid
identifiers carry correct check digits; look-alikes are the numbers that trip detectors
(Chinese ID cards and mobiles, millisecond timestamps, order numbers, ISBNs, prices, Beijing
landlines).
"""

from __future__ import annotations

import datetime as dt
import random

from stdnum import luhn

RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
TODAY = dt.date(2026, 11, 28)
SURNAMES = "김이박최정강조윤장임한오서신권황안송류전홍고문양손배백허남심노하"
GIVEN = "민준서연지훈하은도윤수아예준지우시우하준주원지호서윤채원지민현우유진건우은서"


def _date(rng: random.Random, first_year: int, last_year: int) -> dt.date:
    start = dt.date(first_year, 1, 1).toordinal()
    end = min(dt.date(last_year, 12, 31), TODAY).toordinal()
    return dt.date.fromordinal(rng.randint(start, end))


def rrn_check(body: str) -> int:
    return (11 - sum(int(d) * w for d, w in zip(body, RRN_WEIGHTS, strict=True)) % 11) % 10


def _registration(rng: random.Random, sex_digits: str, foreign: bool, checked: bool) -> str:
    sex = rng.choice(sex_digits)
    born = _date(rng, 1930, 1999) if sex in "1256" else _date(rng, 2000, min(2024, TODAY.year))
    region = f"{rng.randint(0, 95):02d}" if checked else f"{rng.randint(0, 99):02d}"
    body = born.strftime("%y%m%d") + sex + region + f"{rng.randint(0, 999):03d}"
    if foreign:
        remainder = sum(int(d) * w for d, w in zip(body, RRN_WEIGHTS, strict=True)) % 11
        good = {(11 - remainder) % 10, (13 - remainder) % 10}
    else:
        good = {rrn_check(body)}
    if checked:
        check = rng.choice(sorted(good))
    else:
        check = rng.choice([d for d in range(10) if d not in good])
    return f"{body[:6]}-{body[6:]}{check}"


def rrn(rng: random.Random) -> str:
    """A resident registration number with a correct check digit: `YYMMDD-SBBBBNC`."""
    return _registration(rng, "1234", foreign=False, checked=True)


def rrn_post2020(rng: random.Random) -> str:
    """A post-reform RRN: valid date, random digits, check digit NOT matching."""
    return _registration(rng, "1234", foreign=False, checked=False)


def arn(rng: random.Random) -> str:
    """An alien registration number passing one of the two check-digit variants."""
    return _registration(rng, "5678", foreign=True, checked=True)


def masked_rrn(rng: random.Random) -> str:
    value = rrn(rng)
    style = rng.choice(["*", "x", "all"])
    if style == "all":
        return value[:7] + "*" * 7
    return value[:8] + style * 6


def mobile(rng: random.Random, style: str | None = None) -> str:
    """A Korean mobile number in one of the common written forms."""
    middle_number = rng.randint(2000, 9999)
    if 5970 <= middle_number <= 5999:  # unallocated in the numbering plan
        middle_number -= 100
    middle = f"{middle_number:04d}"
    last = f"{rng.randint(0, 9999):04d}"
    style = style or rng.choice(
        ["hyphen", "plain", "space", "dot", "intl", "intl-dash", "82", "0082", "paren-intl"]
    )
    forms = {
        "hyphen": f"010-{middle}-{last}",
        "plain": f"010{middle}{last}",
        "space": f"010 {middle} {last}",
        "dot": f"010.{middle}.{last}",
        "intl": f"+82 10 {middle} {last}",
        "intl-dash": f"+82-10-{middle}-{last}",
        "82": f"82-10-{middle}-{last}",
        "0082": f"0082-10-{middle}-{last}",
        "paren-intl": f"(+82) 010-{middle}-{last}",
    }
    return forms[style]


def legacy_mobile(rng: random.Random) -> str:
    prefix = rng.choice(["011", "016", "017", "018", "019"])
    return f"{prefix}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"


def landline(rng: random.Random) -> str:
    area = rng.choice(["02", "031", "032", "051", "053", "062", "064"])
    return f"{area}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"


def masked_mobile(rng: random.Random) -> str:
    return f"010-****-{rng.randint(0, 9999):04d}"


def passport(rng: random.Random, new: bool | None = None) -> str:
    letter = rng.choice("MMMMSROD")
    if new if new is not None else rng.random() < 0.5:
        return f"{letter}{rng.randint(100, 999)}{rng.choice('ABCDEFGH')}{rng.randint(1000, 9999)}"
    return f"{letter}{rng.randint(10_000_000, 99_999_999)}"


REGIONS = {"서울": "11", "부산": "12", "경기": "13", "대구": "22", "인천": "23", "광주": "24"}


def driver_license(rng: random.Random, old: bool = False) -> str:
    """`RR-YY-NNNNNN-CC` (or the pre-2014 `서울 YY-NNNNNN-CC`)."""
    rest = f"{rng.randint(0, 99):02d}-{rng.randint(100000, 999999)}-{rng.randint(10, 99)}"
    if old:
        return f"{rng.choice(list(REGIONS))} {rest}"
    return f"{rng.choice(['11', '12', '13', '14', '21', '26', '28'])}-{rest}"


def brn(rng: random.Random) -> str:
    weights = (1, 3, 7, 1, 3, 7, 1, 3, 5)
    while True:
        body = f"{rng.randint(101, 999)}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
        total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
        total += (int(body[8]) * 5) // 10
        digits = body + str((10 - total % 10) % 10)
        return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


def card(rng: random.Random) -> str:
    """A Luhn-valid 16-digit card number (Korean domestic cards start with 9)."""
    body = rng.choice(["9", "4", "5"]) + "".join(str(rng.randint(0, 9)) for _ in range(14))
    digits = body + luhn.calc_check_digit(body)
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


def bank_account(rng: random.Random) -> tuple[str, str]:
    """(bank name, account number) in that bank's usual layout."""
    layouts = {
        "국민은행": (6, 2, 6),
        "신한은행": (3, 3, 6),
        "우리은행": (4, 3, 6),
        "하나은행": (3, 6, 5),
        "농협": (3, 4, 4, 2),
        "기업은행": (3, 6, 2, 3),
    }
    bank = rng.choice(list(layouts))
    groups = [str(rng.randint(10 ** (n - 1), 10**n - 1)) for n in layouts[bank]]
    return bank, "-".join(groups)


def health_insurance(rng: random.Random) -> str:
    return f"{rng.randint(1, 9)}{rng.randint(0, 9_999_999_999):010d}"


def hangul_name(rng: random.Random) -> str:
    given = rng.randrange(0, len(GIVEN) - 1, 2)
    return rng.choice(SURNAMES) + GIVEN[given : given + 2]


# -- look-alikes ----------------------------------------------------------------------------

_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def chinese_id(rng: random.Random) -> str:
    """An 18-character Chinese resident ID with its ISO 7064 check character."""
    born = _date(rng, 1950, 2005).strftime("%Y%m%d")
    body = f"{rng.choice(['110101', '310104', '440305', '510107'])}{born}{rng.randint(0, 999):03d}"
    total = sum(int(d) * w for d, w in zip(body, _CN_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def chinese_mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"


def beijing_number(rng: random.Random) -> str:
    return rng.choice(["010-{}-{}", "010-{}{}", "(010) {} {}"]).format(
        rng.randint(5000, 8999), f"{rng.randint(0, 9999):04d}"
    )


def ms_timestamp(rng: random.Random) -> str:
    return str(rng.randint(1_262_304_000_000, 1_798_000_000_000))


def order_number(rng: random.Random) -> str:
    return dt.date(2023, 1, 1).strftime("%Y") + "".join(str(rng.randint(0, 9)) for _ in range(14))


def isbn13(rng: random.Random) -> str:
    body = "9787" + "".join(str(rng.randint(0, 9)) for _ in range(8))
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check)


def price(rng: random.Random) -> str:
    return f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}元"


def fullwidth(text: str) -> str:
    """Digits and hyphens as full-width forms (`０１０－…`)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else ("－" if c == "-" else c) for c in text)
