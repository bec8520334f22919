"""Pattern packs are data: loaded, checked, refused with a one-line error, self-tested."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from leakwatch.detect.packs import builtin_pack_dir, load_pack, load_packs
from leakwatch.detect.selftest import run_examples
from leakwatch.errors import PackError
from tests.conftest import REPO, TODAY, Result, assert_one_line_error

KOREAN_TYPES = {
    "kr.rrn", "kr.arn", "kr.rrn.masked", "kr.arn.masked", "kr.phone", "kr.phone.masked",
    "kr.passport", "kr.driver_license", "kr.brn", "kr.card", "kr.bank_account",
    "kr.health_insurance",
}  # fmt: skip

GOOD = """
[pack]
id = "zz"
country = "ZZ"
name = "Test"

[scoring]
format = 0.3
context = 0.3

[[patterns]]
id = "zz.number"
label = "A number"
severity = "high"
regex = '[0-9]{3}-[0-9]{4}'
validator = "digits"
context = ["number"]
examples.match = ["number 731-4682"]
examples.no_match = ["1234-5678"]
"""


def write_pack(folder: Path, text: str, name: str = "zz.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_pack_has_the_contract_types(packs: tuple) -> None:  # type: ignore[type-arg]
    ids = {p.type for pack in packs for p in pack.patterns}  # kr.rrn.split reports kr.rrn
    assert ids == KOREAN_TYPES
    assert builtin_pack_dir() == REPO / "patterns"


def test_every_builtin_example_passes(packs: tuple) -> None:  # type: ignore[type-arg]
    results = run_examples(packs, today=TODAY)
    failures = [f for r in results for f in r.failures]
    assert failures == []
    assert sum(r.checked for r in results) >= 60


def test_an_extra_pack_is_loaded_beside_the_builtin_ones(tmp_path: Path) -> None:
    write_pack(tmp_path / "extra", GOOD)
    packs = load_packs([tmp_path / "extra"])
    assert [p.id for p in packs] == ["kr", "zz"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("regex = '[0-9]{3}-[0-9]{4}'", "regex = '(?<![0-9])[0-9]{3}'"), "not a valid RE2"),
        (("regex = '[0-9]{3}-[0-9]{4}'", "regex = '([0-9])\\1'"), "not a valid RE2"),
        (("regex = '[0-9]{3}-[0-9]{4}'", "regex = '[0-9]*'"), "matches the empty string"),
        (('validator = "digits"', 'validator = "nope"'), "unknown validator 'nope'"),
        (('severity = "high"', 'severity = "huge"'), "unknown severity 'huge'"),
        (('id = "zz.number"', 'id = "xx.number"'), "must start with the pack id"),
        (('label = "A number"', 'lable = "A number"'), "unknown key 'lable'"),
        (('examples.no_match = ["1234-5678"]', ""), "examples.no_match"),
        (('context = ["number"]', 'context = "number"'), "'context' must be a list"),
        (
            ('label = "A number"', 'label = "A number"\nreports = "zz.other"'),
            "reports 'zz.other', which is no other pattern of this pack",
        ),
    ],
)
def test_bad_pattern_is_refused_naming_file_pattern_and_problem(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    old, new = change
    assert old in GOOD
    path = write_pack(tmp_path, GOOD.replace(old, new))
    with pytest.raises(PackError) as caught:
        load_pack(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert problem in message
    assert "\n" not in message
    if "pack id" not in problem:
        assert "zz.number" in message or "xx.number" in message


def test_not_toml_names_the_line(tmp_path: Path) -> None:
    path = write_pack(tmp_path, GOOD + "\nthis is = = wrong\n")
    with pytest.raises(PackError, match=r"not valid TOML.*line \d+"):
        load_pack(path)


def test_same_id_in_two_packs_is_refused(tmp_path: Path) -> None:
    write_pack(tmp_path, GOOD, "a.toml")
    write_pack(tmp_path, GOOD, "b.toml")
    with pytest.raises(PackError, match=r"zz\.number: id also defined in"):
        load_packs([tmp_path], builtin=False)


def test_missing_pack_folder(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="no such file or folder"):
        load_packs([tmp_path / "nope"])


def test_a_failing_example_is_reported(tmp_path: Path) -> None:
    path = write_pack(tmp_path, GOOD.replace('examples.match = ["number 731-4682"]',
                                             'examples.match = ["number 73-4682"]'))  # fmt: skip
    results = run_examples(load_packs([path], builtin=False), today=TODAY)
    assert results[0].failures == ("examples.match[0] 'number 73-4682': not found",)


def test_scoring_table_is_checked(tmp_path: Path) -> None:
    path = write_pack(tmp_path, GOOD.replace("format = 0.3", "checksum = 3"))
    with pytest.raises(PackError, match=r"\[scoring\] checksum = 3 is outside"):
        load_pack(path)


def test_pack_is_valid_toml_with_synthetic_examples_only() -> None:
    # The shipped pack is the documentation of the format: keep it parseable by tomllib alone.
    data = tomllib.loads((REPO / "patterns" / "kr.toml").read_text(encoding="utf-8"))
    assert data["pack"]["country"] == "KR"


def test_cli_patterns_test_and_list(cli: Callable[..., Result]) -> None:
    ok = cli("patterns", "test")
    assert ok.code == 0, ok.stdout + ok.stderr
    assert re.search(r"13 patterns, \d+ examples, 0 failures", ok.stdout)
    listing = cli("patterns", "list", "-f", "json")
    assert listing.code == 0
    assert "kr.driver_license" in listing.stdout


def test_cli_refuses_a_bad_pack_with_exit_2(cli: Callable[..., Result], tmp_path: Path) -> None:
    write_pack(tmp_path / "bad", GOOD.replace('validator = "digits"', 'validator = "nope"'))
    result = cli("scan", "--patterns", str(tmp_path / "bad"), str(tmp_path))
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "zz.toml: pattern zz.number: unknown validator 'nope'" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_patterns_test_fails_on_a_missed_example(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    write_pack(tmp_path / "p", GOOD.replace('"number 731-4682"', '"number 73-4682"'))
    result = cli("patterns", "test", "--patterns", str(tmp_path / "p"))
    assert result.code == 1
    assert "FAIL zz.number" in result.stdout


def test_scan_refuses_a_pack_whose_own_examples_fail(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    # The example that should match no longer does: the rules are broken, and a scan with
    # them would silently miss what they were written for.
    write_pack(tmp_path / "p", GOOD.replace('"number 731-4682"', '"number 73-4682"'))
    dump = tmp_path / "in.txt"
    dump.write_text("number 731-4682\n", encoding="utf-8")
    result = cli("scan", "--patterns", str(tmp_path / "p"), str(dump))
    assert_one_line_error(
        result, 2, "zz.toml: pattern zz.number: examples.match[0] fails its own test",
        "leakwatch patterns test",
    )  # fmt: skip
    assert "12-4567" not in result.stderr
    assert not (tmp_path / "home" / "leakwatch.db").exists()  # refused before anything ran
    again = cli("scan", "--patterns", str(tmp_path / "p"), str(dump), "-q")
    assert again.code == 2  # refused every time, not once
    write_pack(tmp_path / "p", GOOD)
    assert cli("scan", "--patterns", str(tmp_path / "p"), str(dump), "-q").code == 0
