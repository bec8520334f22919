"""`report --cases` and `report --new`: the cases behind the counts, and what is new.

Through the real store (SQLite and PostgreSQL) and the real command; identifiers are
synthetic (tests/synthetic.py).
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.cells import cell_len

from leakwatch.models import Category
from leakwatch.report.display import readable_url, short_url
from leakwatch.report.markup import md
from leakwatch.store import Location, Store, TrendQuery
from tests import synthetic
from tests.conftest import Result, assert_one_line_error
from tests.store_data import finding, page, start
from tests.test_ignore import fingerprint, rules_of

FORUM = "https://bbs.example.cn/forum.php?mod=viewthread&tid="


def test_the_cases_behind_the_counts_and_the_new_ones(store_location: Location) -> None:
    rng = random.Random(3)
    values = [synthetic.rrn(rng) for _ in range(4)]
    with Store.open(store_location, ip_country=lambda address: None) as store:
        one = start(store)
        found = [finding(FORUM + "1", values[0]), finding(FORUM + "1", values[1])]
        store.record(one, findings=found, document=page(
            FORUM + "1", category=Category.EXPOSURE, findings=found, sha256="1" * 64,
            published="2023-04-01", fetched_at="2026-11-01T10:00:00+00:00",
        ))  # fmt: skip
        store.record(one, document=page(FORUM + "2", category=None, sha256="2" * 64,
                                        fetched_at="2026-11-01T10:00:00+00:00"))  # fmt: skip
        two = start(store)
        # The same content at the same site under another URL: a copy, not a new case.
        store.record(two, findings=found, document=page(
            FORUM + "1&from=share", category=Category.EXPOSURE, findings=found,
            sha256="1" * 64, fetched_at="2026-12-01T10:00:00+00:00",
        ))  # fmt: skip
        fresh = [finding(FORUM + "3", values[2]), finding(FORUM + "3", values[3], "kr.phone")]
        store.record(two, findings=fresh, document=page(
            FORUM + "3", findings=fresh, sha256="3" * 64,
            fetched_at="2026-12-01T10:00:00+00:00",
        ))  # fmt: skip

        every = store.cases(TrendQuery())
        assert [(c.source, c.category, c.copies) for c in every] == [
            (FORUM + "3", "trading", 1),
            (FORUM + "1", "exposure", 2),  # the earliest copy names the case
        ]
        assert every[1].records_by_type == {"kr.rrn": 2}
        assert every[0].records_by_type == {"kr.phone": 1, "kr.rrn": 1}
        assert (every[1].published, every[1].date) == ("2023-04-01", "2023-04-01")
        assert every[1].first_seen == "2026-11-01T10:00:00+00:00"
        assert every[1].last_seen == "2026-12-01T10:00:00+00:00"
        assert len(every) == store.trend_counts(TrendQuery()).total.cases

        new = store.cases(TrendQuery(), seen_since="2026-11-15", run=two)
        assert [c.source for c in new] == [FORUM + "3"]
        assert [c.source for c in store.cases(TrendQuery(), seen_since="2026-10-01")] == [
            FORUM + "3", FORUM + "1",
        ]  # fmt: skip

        ignoring = TrendQuery(ignore=rules_of(fingerprint(values[2])))
        assert store.cases(ignoring)[0].records_by_type == {"kr.phone": 1}
        assert [c.source for c in store.cases(TrendQuery(ignore=rules_of(FORUM + "3")))] == [
            FORUM + "1"
        ]


def test_short_urls_keep_the_host_and_the_last_segment() -> None:
    url = ("https://bbs.example.cn/%E6%95%B0%E6%8D%AE/%E9%9F%A9%E5%9B%BD/"
           "%E5%87%BA%E5%94%AE/2023/thread-12345-1-1.html")  # fmt: skip
    assert readable_url(url) == "https://bbs.example.cn/数据/韩国/出售/2023/thread-12345-1-1.html"
    assert short_url(url, 200) == readable_url(url)
    assert short_url(url, 50) == "https://bbs.example.cn/…/thread-12345-1-1.html"
    tight = short_url(url, 36)
    assert tight.startswith("https://bbs.example.cn/…")
    assert tight.endswith("-1-1.html")
    assert cell_len(tight) <= 36
    # Wide characters count two cells; the result never overflows.
    for width in range(10, 60):
        assert cell_len(short_url(url, width)) <= width
    assert short_url("/home/analyst/cases/2023/very/deep/dump.csv", 24) == "/home/…/dump.csv"
    # An escaped separator or a control character stays escaped: decoding would change it.
    assert readable_url("https://x.example/a%2Fb") == "https://x.example/a%2Fb"
    assert "\n" not in readable_url("https://x.example/a%0Ab")


# -- the command ------------------------------------------------------------------------------


def rrn_text(rng: random.Random) -> str:
    return f"홍길동 주민등록번호 {synthetic.rrn(rng)}\n연락처 {synthetic.mobile(rng, 'hyphen')}\n"


def ok(result: Result) -> Result:
    assert result.code == 0, result.stderr
    return result


def test_report_new_lists_what_the_last_run_found(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    rng = random.Random(8)
    (tmp_path / "old.txt").write_text(rrn_text(rng), encoding="utf-8")
    (tmp_path / "new.txt").write_text(rrn_text(rng), encoding="utf-8")
    ok(cli("scan", "old.txt", "-q"))
    ok(cli("scan", "new.txt", "old.txt", "-q"))  # the old page again: not new

    shown = json.loads(ok(cli("report", "--new", "-f", "json")).stdout)
    assert shown["kind"] == "new_cases"
    assert shown["since"].startswith("run 2 began")
    assert [Path(c["source"]).name for c in shown["cases"]] == ["new.txt"]
    assert shown["cases"][0]["records_by_type"] == {"kr.phone": 1, "kr.rrn": 1}

    since_first = json.loads(ok(cli("report", "--new", "--since", "run:1", "-f", "json")).stdout)
    assert len(since_first["cases"]) == 2
    table = ok(cli("report", "--new"))
    assert "new.txt" in table.stdout
    assert "old.txt" not in table.stdout
    assert "1 new case since run 2 began" in table.stdout
    markdown = ok(cli("report", "--new", "-f", "markdown")).stdout
    assert "| first seen | category |" in markdown
    assert "new.txt" in markdown

    # Nothing new: nothing on stdout (a cron job mails only news), a note on stderr.
    ok(cli("scan", "old.txt", "-q"))
    for fmt in ("table", "markdown", "csv", "html"):
        quiet = ok(cli("report", "--new", "-f", fmt))
        assert quiet.stdout == ""
        assert "No new cases since run 3 began" in quiet.stderr
    assert ok(cli("report", "--new", "-q")).stderr == ""
    assert json.loads(ok(cli("report", "--new", "-f", "json")).stdout)["cases"] == []

    assert_one_line_error(cli("report", "--new", "--since", "run:9"), 2, "run:9: no such run")
    assert_one_line_error(cli("report", "--new", "--by", "site", "--until", "2026"), 2,
                          "--until, --by do not apply")  # fmt: skip
    assert_one_line_error(cli("report", "--new", "--since", "yesterday"), 2, "--since takes")


def test_report_cases_in_every_format_shows_the_same_cases(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    rng = random.Random(9)
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text(rrn_text(rng), encoding="utf-8")
    ok(cli("scan", "a.txt", "b.txt", "c.txt", "-q"))
    data = json.loads(ok(cli("report", "--cases", "-f", "json")).stdout)
    names = sorted(Path(c["source"]).name for c in data["cases"])
    assert names == ["a.txt", "b.txt", "c.txt"]
    assert data["totals"]["cases"] == len(data["cases"])

    rows = list(csv.DictReader(io.StringIO(ok(cli("report", "--cases", "-f", "csv")).stdout)))
    assert sorted(Path(r["source"]).name for r in rows) == names
    assert {r["records_by_type"] for r in rows} == {"kr.phone=1 kr.rrn=1"}
    for fmt in ("markdown", "html", "table"):
        text = ok(cli("report", "--cases", "-f", fmt)).stdout
        assert all(name in text for name in names), fmt
    # The HTML report lists the cases even without --cases; the table does not.
    assert "a.txt" in ok(cli("report", "-f", "html")).stdout
    assert "a.txt" not in ok(cli("report")).stdout


@pytest.mark.parametrize("command", ["report", "export"])
def test_since_takes_a_full_date_time(
    cli: Callable[..., Result], tmp_path: Path, command: str
) -> None:
    rng = random.Random(10)
    (tmp_path / "a.txt").write_text(rrn_text(rng), encoding="utf-8")
    ok(cli("scan", "a.txt", "-q"))
    args = [command, "-f", "json" if command == "report" else "jsonl"]

    def count(*extra: str) -> int:
        out = ok(cli(*args, *extra)).stdout
        if command == "export":
            return len(out.splitlines())
        return int(json.loads(out)["totals"]["records"])

    assert count("--since", "2000-01-01T00:00") == 2
    assert count("--since", "2999-01-01T00:00:00+09:00") == 0
    assert count("--until", "2000-01-01 00:00") == 0
    assert_one_line_error(cli(*args, "--since", "2026-13-01T00:00"), 2, "ISO date-time")


def test_export_filters_by_type_severity_category_and_site(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    rng = random.Random(12)
    (tmp_path / "a.txt").write_text(rrn_text(rng), encoding="utf-8")
    (tmp_path / "phone.txt").write_text(f"연락처 {synthetic.mobile(rng, 'hyphen')}\n")
    ok(cli("scan", "a.txt", "phone.txt", "-q"))

    def exported(*args: str) -> list[tuple[str, str]]:
        rows = [json.loads(line) for line in ok(cli("export", *args)).stdout.splitlines()]
        return sorted((Path(r["source"]).name, r["type"]) for r in rows)

    everything = [("a.txt", "kr.phone"), ("a.txt", "kr.rrn"), ("phone.txt", "kr.phone")]
    assert exported() == everything
    assert exported("--type", "kr.rrn*") == [("a.txt", "kr.rrn")]
    assert exported("--severity", "high") == [("a.txt", "kr.rrn")]
    assert exported("--category", "none") == [("phone.txt", "kr.phone")]
    assert exported("--category", "exposure", "--type", "kr.phone") == [("a.txt", "kr.phone")]
    assert exported("--site", "*") == []  # local files have no site
    assert_one_line_error(cli("export", "--severity", "severe"), 2, "unknown severity")


def test_markdown_never_carries_control_or_bidi_characters() -> None:
    made_inert = md("x\x1b[31mRED\u202egpj.csv | *b*")
    assert "\x1b" not in made_inert
    assert "\u202e" not in made_inert
    assert "\\|" in made_inert
    assert "\\*b\\*" in made_inert
