"""Source names as leakwatch writes them: identifiers masked, a keyed tag that keeps two
names apart, undecodable bytes and control characters escaped."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakwatch.detect.engine import Detector
from leakwatch.detect.names import TAG_DIGITS, SourceNames, printable_name
from leakwatch.safe_text import visible
from tests import synthetic


@pytest.fixture(scope="module")
def names(detector: Detector) -> SourceNames:
    return SourceNames(detector)


def test_a_plain_name_is_left_as_it_is(names: SourceNames) -> None:
    assert names.path("dumps/2024-03/customers.csv") == "dumps/2024-03/customers.csv"
    assert names.url("https://bbs.example.cn/forum-38-1.html") == (
        "https://bbs.example.cn/forum-38-1.html"
    )


def test_identifiers_in_names_are_masked_and_tagged(names: SourceNames) -> None:
    rng = random.Random(3)
    rrn, phone = synthetic.rrn(rng), "010-2345-6789"
    path = names.path(f"/data/{phone}/dump_{rrn}.csv")
    masked, tag = path.rsplit("#", 1)
    assert masked == f"/data/010-****-6789/dump_{rrn[:8]}******.csv"
    assert len(tag) == TAG_DIGITS
    url = names.url(f"https://x.cn/view.php?jumin={rrn}")
    assert url.startswith(f"https://x.cn/view.php?jumin={rrn[:8]}******#")
    assert (
        names.url(f"https://x.cn/view.php?jumin={rrn.replace('-', '%2D')}").split("#")[0]
        == (url.split("#")[0])
    )  # read percent-decoded


def test_the_tag_is_of_the_absolute_path(
    names: SourceNames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rrn = synthetic.rrn(random.Random(4))
    monkeypatch.chdir(tmp_path)
    relative = names.path(f"dump_{rrn}.csv")
    absolute = names.path(str(tmp_path / f"dump_{rrn}.csv"))
    assert relative.split("#")[1] == absolute.split("#")[1]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), before=st.text(max_size=12), after=st.text(max_size=12))
def test_a_masked_name_never_holds_the_raw_number(
    names: SourceNames, seed: int, before: str, after: str
) -> None:
    rng = random.Random(seed)
    number = rng.choice([synthetic.rrn, synthetic.mobile, synthetic.arn])(rng)
    digits = "".join(c for c in number if c.isdigit())
    for written in (names.path(f"{before}_{number}_{after}"),
                    names.url(f"https://x.cn/a?q={number}&b={after}")):  # fmt: skip
        shown = written.rsplit("#", 1)[0]
        assert digits not in "".join(c for c in shown if c.isdigit() or c == "*")
        assert number not in written


def test_undecodable_bytes_are_escaped() -> None:
    name = b"/in/caf\xe9-\xff.csv".decode("utf-8", "surrogateescape")
    assert printable_name(name) == "/in/caf\\xe9-\\xff.csv"
    assert printable_name("\ud800 lone") == "\\ud800 lone"
    assert printable_name("평범한 이름.csv") == "평범한 이름.csv"


def test_visible_escapes_what_moves_a_terminal() -> None:
    assert visible("a\x1b[2Jb\x07c\rd\ne\u202ef\x9bg") == (
        "a\\x1b[2Jb\\x07c\\x0dd\\x0ae\\u202ef\\x9bg"
    )
    assert visible("tab\tand 한글 stay") == "tab\tand 한글 stay"
