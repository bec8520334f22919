"""Validators: check digits, the three RRN outcomes, phone numbering plan, business ranges."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakwatch.detect import validators as v
from leakwatch.models import Verdict
from tests import synthetic

TODAY = dt.date(2026, 11, 28)


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("800101-1234560", Verdict.PASS),
        ("950615-2123454", Verdict.PASS),
        ("020304-3123457", Verdict.PASS),
        ("9408121001751", Verdict.PASS),
        ("960121-1021413", Verdict.PASS),
        ("800101-1234567", Verdict.UNVERIFIED),  # wrong check digit, valid date: post-2020?
        ("010229-3123456", Verdict.FAIL),  # 2001-02-29 does not exist
        ("001332-1234567", Verdict.FAIL),  # month 13
        ("800101-9234560", Verdict.FAIL),  # 1800s: no living holders
        ("800101-0234560", Verdict.FAIL),
        ("300101-3000000", Verdict.FAIL),  # born 2030: in the future
        ("800101-5234560", Verdict.FAIL),  # an ARN digit is not an RRN
        ("800101-123456", Verdict.FAIL),  # too short
    ],
)
def test_rrn_three_outcomes(text: str, verdict: Verdict) -> None:
    assert v.kr_rrn(text, TODAY).verdict is verdict


def test_rrn_region_above_95_cannot_pass() -> None:
    # Region digits 96-99 only occur in post-2020 random numbers; find one whose check
    # digit happens to match and make sure it is not a PASS.
    body = "800101196"
    for tail in range(1000):
        candidate = f"{body}{tail:03d}"
        digits = candidate + str(synthetic.rrn_check(candidate))
        assert v.kr_rrn(digits, TODAY).verdict is Verdict.UNVERIFIED


@pytest.mark.parametrize("text", ["911124-5678906", "850101-5123465"])
def test_arn_foreigner_check_variant_passes(text: str) -> None:
    assert v.kr_arn(text, TODAY).verdict is Verdict.PASS


def test_arn_failing_both_variants_is_unverified() -> None:
    assert v.kr_arn("850101-5123464", TODAY).verdict is Verdict.UNVERIFIED


def test_bare_thirteen_digits_carry_bare_evidence() -> None:
    assert "bare" in v.kr_rrn("9408121001751", TODAY).evidence
    assert "bare" not in v.kr_rrn("940812-1001751", TODAY).evidence


@given(st.randoms(use_true_random=False))
def test_generated_rrns_pass_and_post_reform_ones_do_not(rng: random.Random) -> None:
    assert v.kr_rrn(synthetic.rrn(rng), TODAY).verdict is Verdict.PASS
    assert v.kr_rrn(synthetic.rrn_post2020(rng), TODAY).verdict is Verdict.UNVERIFIED
    assert v.kr_arn(synthetic.arn(rng), TODAY).verdict is Verdict.PASS


@given(st.randoms(use_true_random=False))
def test_only_the_computed_check_digit_passes(rng: random.Random) -> None:
    # (11 - s mod 11) mod 10 maps remainders 0 and 10 to the same digit, so a changed serial
    # digit is not always caught; the property that does hold: exactly one last digit passes.
    body = synthetic.rrn(rng).replace("-", "")[:12]
    if int(body[7:9]) > 95:
        return
    passing = [d for d in range(10) if v.kr_rrn(f"{body}{d}", TODAY).verdict is Verdict.PASS]
    assert passing == [synthetic.rrn_check(body)]


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("010-1234-5678", "+821012345678"),
        ("010 2345 6789", "+821023456789"),
        ("010.2345.6789", "+821023456789"),
        ("01023456789", "+821023456789"),
        ("+82 10 2345 6789", "+821023456789"),
        ("+82-10-2345-6789", "+821023456789"),
        ("82-10-2345-6789", "+821023456789"),
        ("0082-10-2345-6789", "+821023456789"),
        ("(+82) 010-2345-6789", "+821023456789"),
        ("+82 (0)10 2345 6789", "+821023456789"),
        ("011-234-5678", "+82112345678"),
        ("02-123-4567", "+8221234567"),
        ("(02) 1234-5678", "+82212345678"),
    ],
)
def test_phone_forms_normalise_to_e164(text: str, e164: str) -> None:
    result = v.kr_phone(text, TODAY)
    assert result.verdict is Verdict.PASS
    assert result.normalized == e164


@pytest.mark.parametrize(
    "text", ["1588-1234", "1644-1234", "1899-1234", "080-123-4567", "060-123-4567",
             "070-1234-5678", "0505-123-4567", "050-1234-5678", "13812345678"]
)  # fmt: skip
def test_business_and_foreign_numbers_are_not_personal_phones(text: str) -> None:
    assert v.kr_phone(text, TODAY).verdict is Verdict.FAIL


def test_landline_is_marked() -> None:
    assert "landline" in v.kr_phone("02-123-4567", TODAY).evidence
    assert "landline" not in v.kr_phone("010-2345-6789", TODAY).evidence


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("104-86-56659", True),
        ("116-82-00276", True),
        ("123-45-67891", True),
        ("104-86-56658", False),
        ("123-45-67890", False),
    ],
)
def test_business_registration_checksum(text: str, ok: bool) -> None:
    # python-stdnum's kr.brn accepts all five: it checks only the layout.
    assert (v.kr_brn(text, TODAY).verdict is Verdict.PASS) is ok


@given(st.randoms(use_true_random=False))
def test_generated_brns_and_cards_pass(rng: random.Random) -> None:
    assert v.kr_brn(synthetic.brn(rng), TODAY).verdict is Verdict.PASS
    assert v.card(synthetic.card(rng), TODAY).verdict is Verdict.PASS


@pytest.mark.parametrize(
    ("text", "verdict", "normalized"),
    [
        ("M70412358", Verdict.FORMAT, "M70412358"),
        ("m123a4567", Verdict.FORMAT, "M123A4567"),
        ("X70412358", Verdict.FAIL, ""),
        ("M12345678", Verdict.FAIL, ""),  # a placeholder, not a passport
    ],
)
def test_passport(text: str, verdict: Verdict, normalized: str) -> None:
    result = v.kr_passport(text, TODAY)
    assert (result.verdict, result.normalized) == (verdict, normalized)


def test_old_and_new_licence_forms_share_a_canonical_value() -> None:
    old = v.kr_driver_license("서울 12-345679-80", TODAY)
    new = v.kr_driver_license("11-12-345679-80", TODAY)
    assert old.verdict is new.verdict is Verdict.FORMAT
    assert old.normalized == new.normalized == "111234567980"
    assert v.kr_driver_license("30-12-345679-80", TODAY).verdict is Verdict.FAIL


@pytest.mark.parametrize(
    ("validator", "text", "normalized"),
    [
        (v.kr_rrn_masked, "800101-1******", "8001011******"),
        (v.kr_rrn_masked, "800101-1xxxxxx", "8001011******"),
        (v.kr_rrn_masked, "800101-*******", "800101*******"),
        (v.kr_arn_masked, "850101-5******", "8501015******"),
        (v.kr_phone_masked, "010-****-5678", "010****5678"),
        (v.kr_phone_masked, "010-1234-****", "0101234****"),
        (v.kr_phone_masked, "010-26**-56**", "01026**56**"),
        (v.kr_phone_masked, "+82 10-****-5080", "010****5080"),
    ],
)
def test_masked_samples(validator: v.Validator, text: str, normalized: str) -> None:
    result = validator(text, TODAY)
    assert result.verdict is Verdict.PASS
    assert result.normalized == normalized
    assert "masked" in result.evidence


@pytest.mark.parametrize(
    ("validator", "text"),
    [
        (v.kr_rrn_masked, "801301-1******"),  # month 13
        (v.kr_rrn_masked, "800101-5******"),  # an ARN sex digit
        (v.kr_rrn_masked, "800101-1234560"),  # not masked at all
        (v.kr_phone_masked, "020-****-5678"),
        (v.kr_phone_masked, "010-1234-5678"),
        (v.kr_phone_masked, "010-****-****"),
    ],
)
def test_masked_samples_must_be_plausible(validator: v.Validator, text: str) -> None:
    assert validator(text, TODAY).verdict is Verdict.FAIL


def test_degenerate_digits_are_not_identifiers() -> None:
    assert v.digits_format("1111111111", TODAY).verdict is Verdict.FAIL
    assert v.digits_format("1234567890", TODAY).verdict is Verdict.FAIL
    assert v.digits_format("1002345678912", TODAY).verdict is Verdict.FORMAT


def test_the_kr_numbering_plan_answers_as_phonenumbers_does() -> None:
    # KR_PLAN stands in for phonenumbers.number_type in the phone validator: same answers.
    import phonenumbers

    from leakwatch.detect.validators import KR_PLAN

    rng = random.Random(82)
    numbers = {
        str(rng.randint(10 ** (n - 1), 10**n - 1)) for n in range(4, 15) for _ in range(3000)
    }
    for prefix in range(1, 1000):  # every prefix of one to three digits, at each length
        for length in range(7, 12):
            rest = "".join(rng.choice("0123456789") for _ in range(length - len(str(prefix))))
            numbers.add(f"{prefix}{rest}")
    kinds: Counter[int] = Counter()
    for national in sorted(numbers):
        number = phonenumbers.PhoneNumber(country_code=82, national_number=int(national))
        expected = phonenumbers.number_type(number)
        assert KR_PLAN.number_type(national) == expected, national
        kinds[expected] += 1
    assert len(kinds) >= 6  # the sample reaches mobiles, landlines and the special ranges
