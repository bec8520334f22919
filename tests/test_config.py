"""leakwatch.toml: found as gitleaks finds its config, overridden by the command line, shown
by `leakwatch config`, and a bad key or value is one line naming the file and the key.

Everything through the real command; the crawl of a named target list against a real HTTP
server on 127.0.0.1.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import synthetic
from tests.conftest import Result, assert_one_line_error
from tests.webserver import html, serve


def ok(result: Result) -> Result:
    assert result.code == 0, result.stderr
    return result


def shown(cli: Callable[..., Result], *args: str, **kwargs: object) -> dict[str, object]:
    return json.loads(ok(cli(*args, "config", "-f", "json", **kwargs)).stdout)


def test_the_config_file_is_found_as_gitleaks_finds_its_own(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "leakwatch.toml").write_text("[scan]\ndepth = 1\n")
    assert shown(cli)["found_as"] == "the user config folder"
    (tmp_path / "leakwatch.toml").write_text("[scan]\ndepth = 2\n")
    assert shown(cli)["found_as"] == "./leakwatch.toml"
    (tmp_path / "env.toml").write_text("[scan]\ndepth = 3\n")
    by_env = shown(cli, env={"LEAKWATCH_CONFIG": str(tmp_path / "env.toml")})
    assert by_env["found_as"] == "$LEAKWATCH_CONFIG"
    (tmp_path / "named.toml").write_text("[scan]\ndepth = 4\n")
    named = shown(cli, "--config", "named.toml", env={"LEAKWATCH_CONFIG": "env.toml"})
    assert named["found_as"] == "--config"
    depth = named["commands"]["scan"]["depth"]  # type: ignore[index]
    assert depth == {"value": 4, "from": str(tmp_path / "named.toml")}


def test_settings_apply_and_the_command_line_overrides_them(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    rng = random.Random(4)
    (tmp_path / "page.txt").write_text(
        f"홍길동 주민등록번호 {synthetic.rrn(rng)}\n연락처 {synthetic.mobile(rng, 'hyphen')}\n",
        encoding="utf-8",
    )
    config = tmp_path / "team" / "leakwatch.toml"
    config.parent.mkdir()
    (config.parent / "team.ignore").write_text("kr.phone\n")
    config.write_text(
        '[scan]\nformat = "jsonl"\nmin-confidence = 0.6\n\n[report]\nby = "category"\n'
        'format = "json"\n\n[store]\ndb = "team.db"\n\n[ignore]\nfiles = ["team.ignore"]\n'
    )
    lines = ok(cli("scan", "page.txt", "--config", str(config))).stdout.splitlines()
    records = [json.loads(line) for line in lines]  # jsonl, from the file
    assert records[0]["min_confidence"] == 0.6
    assert [r["type"] for r in records if r["kind"] == "finding"] == ["kr.rrn"]  # phones ignored
    assert (config.parent / "team.db").is_file()  # the store, relative to the config file
    report = json.loads(ok(cli("--config", str(config), "report")).stdout)
    assert report["by"] == "category"
    assert report["totals"]["cases"] == 1
    # The command line wins over the file.
    table = ok(cli("scan", "page.txt", "--config", str(config), "-f", "table", "--no-ignore"))
    assert "kr.phone" in table.stdout

    settings = shown(cli, "--config", str(config), env={"LEAKWATCH_DB": str(tmp_path / "x.db")})
    scan = settings["commands"]["scan"]  # type: ignore[index]
    assert scan["format"] == {"value": "jsonl", "from": str(config)}
    assert scan["depth"] == {"value": 2, "from": "default"}
    assert scan["db"] == {"value": str(tmp_path / "x.db"), "from": "$LEAKWATCH_DB"}
    assert settings["ignore_files"] == [str(config.parent / "team.ignore")]
    text = ok(cli("--config", str(config), "config")).stdout
    assert f"# config file: {config} (found as --config)" in text
    assert 'format = "jsonl"' in text


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("[scan]\ndepth = -1\n", "[scan] depth = -1: Input should be greater than or equal to 0"),
        ("[scan]\ndeepth = 1\n", "[scan] deepth: unknown key (allowed: allow-private,"),
        ('[scan]\nformat = "xml"\n', "[scan] format = 'xml': 'xml' is not one of 'table'"),
        ("[scan]\nreveal = true\n", "[scan] reveal: only on the command line"),
        ("[scna]\nx = 1\n", "[scna]: not a table leakwatch knows"),
        ("depth = 1\n", "depth: settings go in a table"),
        ("[scan\n", "not valid TOML"),
        ("[store]\nurl = 'x'\n", "[store] url: unknown key (allowed: db)"),
        ("[targets]\nchina = 'https://x.example/'\n", "[targets] china: a list of target lines"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_file_and_the_key(
    cli: Callable[..., Result], tmp_path: Path, content: str, said: str
) -> None:
    (tmp_path / "leakwatch.toml").write_text(content)
    for args in (("config",), ("scan", "-", "--no-store"), ("report",)):
        result = cli(*args, stdin=b"")
        assert_one_line_error(result, 2, "leakwatch.toml", said)


def test_a_missing_config_file_is_a_usage_error(cli: Callable[..., Result]) -> None:
    assert_one_line_error(cli("report", "--config", "none.toml"), 2,
                          "none.toml: no such config file (given by --config)")  # fmt: skip


def test_a_named_target_list_is_crawled(cli: Callable[..., Result], tmp_path: Path) -> None:
    rrn = synthetic.rrn(random.Random(6))
    with serve() as site:
        site.page("/", html("유출", f"<p>성명: 김민준 주민등록번호: {rrn}</p>"))
        (tmp_path / "leakwatch.toml").write_text(
            f'[targets]\nlocal = ["{site.url("/")} depth=0 country=CN"]\n'
        )
        result = ok(cli("scan", "@local", "--no-store", "-f", "jsonl"))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    documents = [line for line in lines if line["kind"] == "document"]
    assert [d["source"] for d in documents] == [site.url("/")]
    assert documents[0]["category"] == "exposure"
    assert rrn not in result.stdout
    missing = cli("scan", "@nope", "--no-store")
    assert_one_line_error(missing, 2, "@nope: no such target list", "(lists: @local;")


def test_output_never_replaces_the_config_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "leakwatch.toml").write_text("[scan]\ndepth = 1\n")
    result = cli("report", "-o", "leakwatch.toml")
    assert_one_line_error(result, 2, "is the config file")
    assert (tmp_path / "leakwatch.toml").read_text() == "[scan]\ndepth = 1\n"


def test_config_names_the_store_a_command_would_use(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    (tmp_path / "leakwatch.toml").write_text('[store]\ndb = "from-file.db"\n')
    assert shown(cli)["store"] == str(tmp_path / "from-file.db")
    by_env = shown(cli, env={"LEAKWATCH_DB": str(tmp_path / "from-env.db")})
    assert by_env["store"] == str(tmp_path / "from-env.db")
