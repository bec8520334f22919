"""Masking, snippets and keyed fingerprints: no raw identifier leaves through them."""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakwatch.detect.redact import (
    KEY_FILENAME,
    Fingerprinter,
    load_key,
    mask,
    mask_snippet,
)
from leakwatch.errors import KeyfileError
from tests import synthetic


@pytest.mark.parametrize(
    ("text", "keep", "masked"),
    [
        ("800101-1234560", (7, 0), "800101-1******"),
        ("010-2345-6789", (3, 4), "010-****-6789"),
        ("+82 10 2345 6789", (3, 4), "+82 1* **** 6789"),
        ("M70412358", (1, 2), "M******58"),
        ("12", (3, 4), "**"),  # too short to show anything
        ("800101-1xxxxxx", (7, 0), "800101-1******"),  # a seller's sample stays as shown
        ("010-****-5678", (3, 4), "010-****-5678"),
    ],
)
def test_mask_keeps_separators_and_the_allowed_digits(
    text: str, keep: tuple[int, int], masked: str
) -> None:
    assert mask(text, keep) == masked


@given(st.randoms(use_true_random=False))
def test_masked_value_never_contains_the_raw_serial(rng: random.Random) -> None:
    value = synthetic.rrn(rng)
    masked = mask(value, (7, 0))
    assert value[8:] not in masked
    assert masked.count("*") == 6


@given(st.randoms(use_true_random=False), st.text(max_size=30))
def test_snippet_hides_every_other_number(rng: random.Random, noise: str) -> None:
    own = synthetic.rrn(rng)
    other = synthetic.mobile(rng, "hyphen")
    text = f"{noise}身份证号：{own} 手机：{other}{noise}"
    start = text.index(own)
    snippet = mask_snippet(text, (start, start + len(own)), mask(own, (7, 0)))
    assert own not in snippet
    assert other not in snippet
    assert other[-4:] not in snippet.replace(mask(own, (7, 0)), "")
    assert mask(own, (7, 0)) in snippet


def test_snippet_masks_names_but_keeps_the_surname() -> None:
    text = "김민준 800101-1234560"
    snippet = mask_snippet(text, (4, 18), "800101-1******", names=["김민준"])
    assert snippet == "김** 800101-1******"


def test_fingerprint_is_keyed_and_stable() -> None:
    one = Fingerprinter(b"key-one")
    assert one.fingerprint("kr.rrn", "8001011234560") == Fingerprinter(b"key-one").fingerprint(
        "kr.rrn", "8001011234560"
    )
    assert one.fingerprint("kr.rrn", "8001011234560") != Fingerprinter(b"key-two").fingerprint(
        "kr.rrn", "8001011234560"
    )
    assert one.fingerprint("kr.rrn", "8001011234560") != one.fingerprint("kr.arn", "8001011234560")
    assert "key-one" not in repr(one)


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    env = {"LEAKWATCH_HOME": str(tmp_path / "home")}
    first = load_key(env)
    path = tmp_path / "home" / KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(env) == first
    assert len(first) == 32


def test_key_from_environment_wins(tmp_path: Path) -> None:
    env = {"LEAKWATCH_HOME": str(tmp_path), "LEAKWATCH_KEY": f"  {'ab' * 32}\n"}
    assert load_key(env) == bytes.fromhex("ab" * 32)
    assert not (tmp_path / KEY_FILENAME).exists()


def test_the_variable_and_the_file_give_the_same_fingerprints(tmp_path: Path) -> None:
    file_home = tmp_path / "file"
    from_file = load_key({"LEAKWATCH_HOME": str(file_home)})  # made on first use
    shared = (file_home / KEY_FILENAME).read_text(encoding="ascii")
    from_env = load_key({"LEAKWATCH_HOME": str(tmp_path / "env"), "LEAKWATCH_KEY": shared})
    assert from_env == from_file
    assert Fingerprinter(from_env).fingerprint("kr.rrn", "8001011234560") == Fingerprinter(
        from_file
    ).fingerprint("kr.rrn", "8001011234560")
    upper = load_key({"LEAKWATCH_HOME": str(tmp_path), "LEAKWATCH_KEY": shared.upper()})
    assert upper == from_file


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("shared team secret", "not hex"),
        ("ab" * 16, "32 hex digits"),
        ("ab" * 33, "66 hex digits"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_a_key_in_the_variable_that_is_not_64_hex_digits_is_refused(
    tmp_path: Path, value: str, problem: str
) -> None:
    env = {"LEAKWATCH_HOME": str(tmp_path), "LEAKWATCH_KEY": value}
    with pytest.raises(KeyfileError, match=problem) as caught:
        load_key(env)
    message = str(caught.value)
    assert message.startswith("$LEAKWATCH_KEY: not a leakwatch key")
    assert "\n" not in message
    if value.strip():
        assert value.strip() not in message  # a secret is never echoed
    assert not (tmp_path / KEY_FILENAME).exists()


def test_damaged_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILENAME).write_text("not a key")
    with pytest.raises(KeyfileError, match="not a leakwatch key"):
        load_key({"LEAKWATCH_HOME": str(tmp_path)})


def test_unusable_home_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(KeyfileError, match=r"fingerprint key: Not a directory$") as caught:
        load_key({"LEAKWATCH_HOME": str(blocker / "home")})
    assert "Errno" not in str(caught.value)


# Each process imports leakwatch, then spins until the start file appears, so all of them
# ask for the key within microseconds of each other (the race two cron jobs run).
_AT_ONCE = """
import os, sys, time
from leakwatch.detect.redact import load_key
while not os.path.exists(sys.argv[1]):
    time.sleep(0.0005)
print(load_key(os.environ).hex())
"""


def test_processes_creating_the_key_at_once_all_get_the_same_whole_key(tmp_path: Path) -> None:
    for attempt in range(4):
        home = tmp_path / f"home{attempt}"
        start = tmp_path / f"start{attempt}"
        env = {**os.environ, "LEAKWATCH_HOME": str(home)}
        env.pop("LEAKWATCH_KEY", None)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _AT_ONCE, str(start)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(6)
        ]
        time.sleep(0.7)  # let them all import and spin
        start.touch()
        results = [proc.communicate(timeout=60) for proc in procs]
        assert all(proc.returncode == 0 for proc in procs), results
        assert len({out for out, _ in results}) == 1
        assert list(home.iterdir()) == [home / "fingerprint.key"]  # no temporary file left
