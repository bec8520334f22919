"""The ignore file and `forget`: a store the analyst can correct.

Parsing is tested on its own; the rest through the real store (SQLite and PostgreSQL) and
the real command. Identifiers are synthetic (tests/synthetic.py).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leakwatch.errors import UsageError
from leakwatch.ignore import IgnoreRules, load, parse, parse_entry
from leakwatch.models import Category
from leakwatch.store import Grouping, Location, Store, TrendQuery
from tests import synthetic
from tests.conftest import Result, assert_one_line_error
from tests.store_data import FINGERPRINTER, finding, local, page, start

KNOWN = {"kr.rrn", "kr.phone", "kr.phone.masked", "kr.rrn.masked"}
FP = "ab" * 32


def entries(text: str, base: Path = Path("/data")) -> list[tuple[str, str, str]]:
    return [(e.kind, e.value, e.why) for e in parse(text.splitlines(), base, KNOWN, "f")]


def test_each_kind_of_entry_is_told_by_its_shape_or_its_prefix() -> None:
    text = f"""
# a comment line, then a blank one

{FP.upper()}   # the tutorial's sample
https://blog.example.com/rrn-*#top  # a '#' inside a URL is not a comment
fixtures/*.txt
kr.phone.*
url:https://x.example/
path:/abs/file.txt
pattern:zz.custom
<stdin>
"""
    assert entries(text) == [
        ("fingerprint", FP, "the tutorial's sample"),
        ("url", "https://blog.example.com/rrn-*#top", "a '#' inside a URL is not a comment"),
        ("path", "/data/fixtures/*.txt", ""),  # relative to the ignore file's folder
        ("pattern", "kr.phone.*", ""),
        ("url", "https://x.example/", ""),
        ("path", "/abs/file.txt", ""),
        ("pattern", "zz.custom", ""),
        ("path", "<stdin>", ""),
    ]


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("fingerprint:abc", "a fingerprint is 64 hex digits"),
        ("kr.nosuch", "'kr.nosuch' is no known pattern id"),
        ("example.com", "looks like a host name; write a URL glob (https://example.com/*)"),
        ("url:", "'url:' names nothing"),
    ],
)
def test_a_bad_line_is_named_with_its_file_and_line(line: str, said: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(["", line], Path("/data"), KNOWN, ".leakwatchignore")
    assert str(caught.value).startswith(".leakwatchignore:2: ")
    assert said in str(caught.value)


def test_rules_match_sources_types_and_fingerprints(tmp_path: Path) -> None:
    (tmp_path / "ignore").write_text(
        f"https://blog.example.com/*\n./tests/*\n<stdin>\nkr.phone*\n{FP}\n", encoding="utf-8"
    )
    rules = load([tmp_path / "ignore"], KNOWN)
    assert rules.ignores_source("https://blog.example.com/2020/rrn.html")
    assert not rules.ignores_source("https://bbs.example.cn/blog.example.com/")
    assert rules.ignores_source(str(tmp_path / "tests" / "deep" / "a.txt"))
    assert not rules.ignores_source(str(tmp_path / "data" / "a.txt"))
    assert rules.ignores_source("<stdin>")
    assert rules.ignores("0" * 64, "kr.phone.masked")
    assert rules.ignores(FP, "kr.rrn")
    assert not rules.ignores("0" * 64, "kr.rrn")
    assert rules.describe()["files"] == [str(tmp_path / "ignore")]


def test_an_ignore_file_that_cannot_be_read_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such ignore file"):
        load([tmp_path / "missing"], KNOWN)
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UsageError, match="not a text ignore file"):
        load([tmp_path / "binary"], KNOWN)


# -- the store: reports apply today's ignore file to what was recorded before ---------------


@pytest.fixture
def recorded(store_location: Location) -> Iterator[tuple[Store, list[str]]]:
    """Four cases: A (two RRNs, one shared with B), B (only the shared one), C (a phone
    only, a local file), D (a sale post whose words alone make it a trade offer)."""
    rng = random.Random(13)
    shared, own = synthetic.rrn(rng), synthetic.rrn(rng)
    phone = synthetic.mobile(rng)
    a, b, d = "https://bbs.example.cn/a", "https://blog.example.com/b", "https://shop.example.hk/d"
    c = "/data/c.txt"
    with Store.open(store_location, ip_country=lambda address: None) as store:
        run = start(store)
        found_a = [finding(a, shared), finding(a, own)]
        store.record(run, findings=found_a, document=page(a, category=Category.EXPOSURE,
                                                          findings=found_a))  # fmt: skip
        found_b = [finding(b, shared)]
        store.record(run, findings=found_b, document=page(b, category=Category.EXPOSURE,
                                                          findings=found_b))  # fmt: skip
        found_c = [finding(c, phone, "kr.phone")]
        store.record(run, findings=found_c,
                     document=local(c, category=Category.EXPOSURE, findings=found_c))  # fmt: skip
        store.record(run, document=page(d, category=Category.TRADING))
        yield store, [shared, own, phone]


def counts(store: Store, rules: IgnoreRules) -> tuple[int, int, dict[str, int]]:
    total = store.trend_counts(TrendQuery(by=Grouping.CATEGORY, ignore=rules)).total
    return total.cases, total.records, dict(total.findings_by_type)


def rules_of(*lines: str) -> IgnoreRules:
    return IgnoreRules(tuple(parse(lines, Path("/"), KNOWN, "test")), ("test",))


def fingerprint(value: str, type_: str = "kr.rrn") -> str:
    return FINGERPRINTER.fingerprint(type_, "".join(c for c in value if c.isdigit()))


def test_report_leaves_out_what_the_ignore_file_names(recorded: tuple[Store, list[str]]) -> None:
    store, (shared, own, _phone) = recorded
    assert counts(store, IgnoreRules()) == (4, 3, {"kr.phone": 1, "kr.rrn": 3})
    # The shared RRN: B keeps none and is no case; A keeps its own one.
    assert counts(store, rules_of(fingerprint(shared))) == (3, 2, {"kr.phone": 1, "kr.rrn": 1})
    # A whole site by a URL glob, a file by a path glob.
    assert counts(store, rules_of("https://blog.example.com/*")) == (
        3, 3, {"kr.phone": 1, "kr.rrn": 2},
    )  # fmt: skip
    assert counts(store, rules_of("/data/*.txt")) == (3, 2, {"kr.rrn": 3})
    # A type: only the sale post that needs no identifiers stays a case.
    assert counts(store, rules_of("kr.*")) == (1, 0, {})
    assert counts(store, rules_of(fingerprint(shared), fingerprint(own), "kr.phone")) == (1, 0, {})
    # Nothing was deleted: without the rules, the figures are back.
    assert counts(store, IgnoreRules()) == (4, 3, {"kr.phone": 1, "kr.rrn": 3})


def test_export_leaves_out_what_the_ignore_file_names(recorded: tuple[Store, list[str]]) -> None:
    store, (shared, _own, _phone) = recorded
    everything = list(store.export())
    kept = list(store.export(ignore=rules_of(fingerprint(shared), "/data/*")))
    assert len(everything) == 4
    assert sorted((r.source, r.type) for r in kept) == [("https://bbs.example.cn/a", "kr.rrn")]


# -- forget -----------------------------------------------------------------------------------


def table_sizes(store: Store) -> dict[str, int]:
    with store.database.errors("testing"):
        return {
            table: int(store.database.fetch(f"SELECT count(*) FROM {table}")[0][0])
            for table in ("documents", "findings", "records", "document_history", "runs")
        }


def test_forget_a_run_removes_the_pages_it_first_recorded(store_location: Location) -> None:
    rng = random.Random(7)
    first, second, third = (synthetic.rrn(rng) for _ in range(3))
    a, b = "https://bbs.example.cn/a", "https://bbs.example.cn/b"
    with Store.open(store_location, ip_country=lambda address: None) as store:
        one = start(store)
        found = [finding(a, first), finding(a, second)]
        store.record(one, findings=found, document=page(a, findings=found))
        two = start(store)
        again = [finding(a, first)]  # A seen again, changed: a history row
        store.record(two, findings=again, document=page(a, findings=again, sha256="c" * 64))
        found_b = [finding(b, first), finding(b, third)]
        store.record(two, findings=found_b, document=page(b, findings=found_b))
        before = table_sizes(store)
        assert before == {"documents": 2, "findings": 4, "records": 3, "document_history": 1,
                          "runs": 2}  # fmt: skip

        dry = store.forget(runs=[two], dry_run=True)
        assert (dry.documents, dry.cases, dry.findings, dry.records, dry.kept) == (1, 1, 2, 1, 1)
        assert table_sizes(store) == before  # a dry run removes nothing

        gone = store.forget(runs=[two])
        assert gone == dry
        # B and the record only it held are gone; A (first recorded by run 1) stays whole.
        assert table_sizes(store) == {"documents": 1, "findings": 2, "records": 2,
                                      "document_history": 1, "runs": 2}  # fmt: skip
        assert store.trend_counts(TrendQuery()).total.cases == 1

        gone = store.forget(source=lambda key: key.endswith("/a"))
        assert (gone.documents, gone.findings, gone.records) == (1, 2, 2)
        assert table_sizes(store) == {"documents": 0, "findings": 0, "records": 0,
                                      "document_history": 0, "runs": 2}  # fmt: skip
        with pytest.raises(UsageError, match="--run 9: no such run"):
            store.forget(runs=[9])


# -- the commands -----------------------------------------------------------------------------


def rrn_page(rng: random.Random) -> tuple[str, str]:
    value = synthetic.rrn(rng)
    return value, f"홍길동 주민등록번호 {value}\n연락처 {synthetic.mobile(rng, 'hyphen')}\n"


def ok(result: Result) -> Result:
    assert result.code == 0, result.stderr
    return result


def jsonl(result: Result) -> list[dict[str, object]]:
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def kinds(lines: list[dict[str, object]], kind: str) -> list[dict[str, object]]:
    return [line for line in lines if line["kind"] == kind]


def test_scan_drops_ignored_findings_before_they_count(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    rng = random.Random(21)
    _value, text = rrn_page(rng)
    (tmp_path / "page.txt").write_text(text, encoding="utf-8")
    plain = jsonl(cli("scan", "page.txt", "--no-store", "-f", "jsonl"))
    rrn = next(f for f in kinds(plain, "finding") if f["type"] == "kr.rrn")
    assert kinds(plain, "document")[0]["category"] == "exposure"

    (tmp_path / ".leakwatchignore").write_text(f"{rrn['fingerprint']}  # sample\n")
    lines = jsonl(cli("scan", "page.txt", "--no-store", "-f", "jsonl"))
    assert [f["type"] for f in kinds(lines, "finding")] == ["kr.phone"]
    document = kinds(lines, "document")[0]
    assert document["findings_by_type"] == {"kr.phone": 1}
    assert document["category"] is None  # one phone alone makes no case
    assert document["ignored"] == 1
    assert kinds(lines, "summary")[0]["ignored"] == 1
    assert kinds(lines, "summary")[0]["findings"] == 1
    assert kinds(lines, "run")[0]["ignore"]["fingerprints"] == 1
    table = cli("scan", "page.txt", "--no-store")
    assert "1 findings ignored" in table.stdout

    # --no-ignore shows everything; --ignore FILE replaces the discovered files.
    assert len(kinds(jsonl(cli("scan", "page.txt", "--no-store", "-f", "jsonl",
                               "--no-ignore")), "finding")) == 2  # fmt: skip
    (tmp_path / "other").write_text("./page.txt\n")
    whole = jsonl(cli("scan", "page.txt", "--no-store", "-f", "jsonl", "--ignore", "other"))
    assert kinds(whole, "finding") == []
    assert kinds(whole, "document")[0]["category"] is None

    # The user's own ignore file (in the config folder) applies too.
    (tmp_path / ".leakwatchignore").unlink()
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "leakwatchignore").write_text("kr.phone\n")
    lines = jsonl(cli("scan", "page.txt", "--no-store", "-f", "jsonl"))
    assert [f["type"] for f in kinds(lines, "finding")] == ["kr.rrn"]

    (tmp_path / "bad").write_text("kr.rrn\nbbs.example.cn\n")
    bad = cli("scan", "page.txt", "--no-store", "--ignore", "bad")
    assert_one_line_error(bad, 2, "bad:2: 'bbs.example.cn' looks like a host name")


def test_scan_of_a_large_file_in_workers_drops_ignored_findings(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    rng = random.Random(5)
    rows = [f"{synthetic.hangul_name(rng)},{synthetic.rrn(rng)},{synthetic.mobile(rng, 'hyphen')}"
            for _ in range(30_000)]  # fmt: skip
    big = tmp_path / "dump.csv"
    big.write_text("이름,주민등록번호,휴대폰\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert big.stat().st_size > 2**20  # planned: read in ranges by the workers
    (tmp_path / "phones").write_text("kr.phone\n")
    args = ("scan", "dump.csv", "--no-store", "-f", "jsonl", "--jobs", "2")
    ignored = kinds(jsonl(cli(*args, "--ignore", "phones")), "document")[0]
    # Every row's RRN and phone is found in this dump (test_parallel shows it without the
    # ignore file): the phones are all left out, the RRNs all kept.
    assert ignored["findings_by_type"] == {"kr.rrn": 30_000}
    assert ignored["ignored"] == 30_000


def test_ignore_then_report_corrects_past_figures(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    rng = random.Random(34)
    _value, text = rrn_page(rng)
    (tmp_path / "page.txt").write_text(text, encoding="utf-8")
    assert cli("scan", "page.txt", "-q").code == 0
    exported = jsonl(cli("export"))
    rrn = next(row for row in exported if row["type"] == "kr.rrn")

    def totals() -> dict[str, object]:
        report = cli("report", "--by", "category", "-f", "json")
        assert report.code == 0, report.stderr
        return json.loads(report.stdout)["totals"]

    assert totals()["cases"] == 1
    added = cli("ignore", str(rrn["fingerprint"]), "--why", "tutorial sample")
    assert added.code == 0, added.stderr
    assert "added 1 entry to .leakwatchignore" in added.stdout
    ignore_file = (tmp_path / ".leakwatchignore").read_text()
    assert ignore_file == f"fingerprint:{rrn['fingerprint']}  # tutorial sample\n"
    after = totals()  # the page is no case: its phone alone would not have made it one
    assert (after["cases"], after["records"], after["findings_by_type"]) == (0, 0, {})
    assert [row["type"] for row in jsonl(cli("export"))] == ["kr.phone"]
    assert json.loads(cli("report", "-f", "json", "--no-ignore").stdout)["totals"]["cases"] == 1

    again = cli("ignore", str(rrn["fingerprint"]))
    assert "added 0 entries" in again.stdout
    assert "1 there already" in again.stdout
    assert (tmp_path / ".leakwatchignore").read_text() == ignore_file

    # A fingerprint is a keyed hash, whatever digits it holds: never taken for an identifier.
    digits = "".join(c for c in synthetic.rrn(rng) if c.isdigit())
    looks_like_one = (digits + "a" + "0" * 64)[:64]
    assert cli("ignore", looks_like_one).code == 0
    ignore_file = (tmp_path / ".leakwatchignore").read_text()
    assert ignore_file.endswith(f"fingerprint:{looks_like_one}\n")
    # A raw identifier is refused (it would be written to the file), and so is a bad entry.
    raw = cli("ignore", synthetic.rrn(rng))
    assert_one_line_error(raw, 2, "looks like an identifier itself")
    assert_one_line_error(cli("ignore", "kr.nosuch"), 2, "no known pattern id")
    assert (tmp_path / ".leakwatchignore").read_text() == ignore_file


def test_forget_on_the_command_line(cli: Callable[..., Result], tmp_path: Path) -> None:
    rng = random.Random(55)
    _value, text = rrn_page(rng)
    (tmp_path / "page.txt").write_text(text, encoding="utf-8")
    assert cli("scan", "page.txt", "-q").code == 0
    _value, other = rrn_page(rng)
    assert cli("scan", "-", "-q", stdin=other.encode()).code == 0  # a test on stdin

    def cases() -> int:
        return int(json.loads(cli("report", "-f", "json").stdout)["totals"]["cases"])

    assert cases() == 2
    dry = cli("forget", "--source", "<stdin>", "--dry-run")
    assert dry.code == 0, dry.stderr
    assert dry.stdout.startswith("would forget 1 page (1 case), 2 findings and 2 records")
    assert cases() == 2
    done = cli("forget", "--source", "<stdin>")
    assert done.stdout.startswith("forgot 1 page (1 case), 2 findings")
    assert cases() == 1
    assert cli("forget", "--run", "1").stdout.startswith("forgot 1 page (1 case), 2 findings "
                                                          "and 2 records")  # fmt: skip
    assert cases() == 0
    assert_one_line_error(cli("forget", "--run", "7"), 2, "--run 7: no such run")
    assert_one_line_error(cli("forget"), 2, "say what to forget")
    missing = cli("forget", "--run", "1", "--db", str(tmp_path / "none.db"))
    assert_one_line_error(missing, 2, "no store there")
    assert not (tmp_path / "none.db").exists()


# -- report-time ignore gives the figures of a scan made with the ignore file ----------------

FILLER = "。这里是一些无关的内容，" * 40


def _pages(rng: random.Random) -> dict[str, str]:
    rrns = [synthetic.rrn(rng) for _ in range(4)]
    return {
        "dump.txt": f"주민등록번호 {rrns[0]}\n주민등록번호 {rrns[1]}\n",
        "offer.txt": f"出售身份证数据，量大从优，TG联系。\n{FILLER}\n\n{rrns[2]}\n{FILLER}\n\n"
                     f"여권번호 {synthetic.passport(rng)}\n",
        "mixed.txt": f"성명 홍길동 주민등록번호 {rrns[3]}\n"
                     f"휴대폰 {synthetic.mobile(rng, 'hyphen')}\n",
    }  # fmt: skip


def _figures(cli: Callable[..., Result], env: dict[str, str], ignore: str) -> object:
    report = json.loads(
        ok(cli("report", "--by", "category", "-f", "json", "--ignore", ignore, env=env)).stdout
    )
    totals = report["totals"]
    groups = {g["category"]: (g["cases"], g["records"]) for g in report["groups"]}
    exported = sorted((Path(str(r["source"])).name, r["type"], r["category"])
                      for r in jsonl(cli("export", "--ignore", ignore, env=env)))  # fmt: skip
    listed = cli("report", "--cases", "-f", "json", "--ignore", ignore, env=env)
    cases = sorted(Path(str(c["source"])).name for c in json.loads(ok(listed).stdout)["cases"])
    return totals, groups, exported, cases


@pytest.mark.parametrize("which", ["dump-rrn", "offer-rrn", "type-rrn", "phone", "offer-page"])
def test_an_ignore_file_applied_to_the_store_gives_the_figures_of_a_scan_with_it(
    cli: Callable[..., Result], tmp_path: Path, which: str
) -> None:
    rng = random.Random(77)
    for name, text in _pages(rng).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    key = {"LEAKWATCH_KEY": "ab" * 32}
    plain = jsonl(cli("scan", ".", "-f", "jsonl", "--no-store", env=key))
    found = {(Path(str(f["source"])).name, f["type"]): f["fingerprint"]
             for f in kinds(plain, "finding")}  # fmt: skip
    entry = {
        "dump-rrn": found[("dump.txt", "kr.rrn")],
        "offer-rrn": found[("offer.txt", "kr.rrn")],
        "type-rrn": "kr.rrn",
        "phone": "kr.phone",
        "offer-page": "./offer.txt",
    }[which]
    ignore = tmp_path / "ignore"
    ignore.write_text(f"{entry}\n")
    before = {**key, "LEAKWATCH_DB": str(tmp_path / "before.db")}
    fresh = {**key, "LEAKWATCH_DB": str(tmp_path / "fresh.db")}
    assert cli("scan", ".", "-q", "--no-ignore", env=before).code == 0
    assert cli("scan", ".", "-q", "--ignore", str(ignore), env=fresh).code == 0
    expected = _figures(cli, fresh, str(ignore))
    assert _figures(cli, before, str(ignore)) == expected  # a line added after the scan
    assert cli("scan", ".", "-q", "--ignore", str(ignore), env=before).code == 0
    assert _figures(cli, before, str(ignore)) == expected  # and the next day's scan with it


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("ab" * 31 + "a", "a fingerprint is 64 hex digits, not 63"),
        ("kr.phone,kr.rrn", "one entry a line"),
        ("kr.phone kr.rrn", "one entry a line"),
        ("https//bbs.example.cn/*", "is not a URL"),
        ("", "an empty entry"),
    ],
)
def test_lines_that_would_ignore_nothing_are_refused(line: str, said: str) -> None:
    with pytest.raises(UsageError, match=said):
        parse_entry(line, Path("/data"), KNOWN, "f:1")


def test_an_error_never_quotes_an_identifier_and_a_bom_is_no_entry(tmp_path: Path) -> None:
    rrn = synthetic.rrn(random.Random(3))
    with pytest.raises(UsageError) as caught:
        parse([f"{rrn}.example"], Path("/data"), KNOWN, "f")
    assert rrn not in str(caught.value)
    assert rrn.split("-")[0] not in str(caught.value)
    (tmp_path / "ig").write_bytes("\ufeffkr.phone\n".encode())
    assert [(e.kind, e.value) for e in load([tmp_path / "ig"], KNOWN).entries] == [
        ("pattern", "kr.phone")
    ]
    # A report takes any pattern id: it does not know which packs the scans used.
    assert load_lenient(tmp_path, "zz.custom") == [("pattern", "zz.custom")]


def load_lenient(folder: Path, line: str) -> list[tuple[str, str]]:
    (folder / "lenient").write_text(line + "\n")
    return [(e.kind, e.value) for e in load([folder / "lenient"], None).entries]


def test_path_globs_match_through_links(cli: Callable[..., Result], tmp_path: Path) -> None:
    rng = random.Random(31)
    real = tmp_path / "real"
    real.mkdir()
    _value, text = rrn_page(rng)
    (real / "page.txt").write_text(text, encoding="utf-8")
    (tmp_path / "link").symlink_to(real)
    (tmp_path / ".leakwatchignore").write_text("./real/*\n")
    through_link = jsonl(cli("scan", "link", "--no-store", "-f", "jsonl"))
    assert kinds(through_link, "finding") == []
    (tmp_path / ".leakwatchignore").write_text("./link/*\n")
    assert kinds(jsonl(cli("scan", "real", "--no-store", "-f", "jsonl")), "finding") == []
    assert ok(cli("scan", "link", "-q", "--no-ignore")).code == 0
    gone = ok(cli("forget", "--source", "link/*", "--dry-run"))
    assert gone.stdout.startswith("would forget 1 page")


def test_the_ignore_command_keeps_files_whole(cli: Callable[..., Result], tmp_path: Path) -> None:
    ignore_file = tmp_path / ".leakwatchignore"
    ignore_file.write_text("kr.phone.masked")  # no newline at the end
    assert ok(cli("ignore", "kr.rrn.masked")).code == 0
    assert ignore_file.read_text() == "kr.phone.masked\npattern:kr.rrn.masked\n"
    assert "1 there already" in ok(cli("ignore", "kr.phone.masked")).stdout
    (tmp_path / "leakwatch.toml").write_text('[ignore]\nfiles = ["team.ignore"]\n')
    assert ok(cli("ignore", "kr.phone")).code == 0  # to the file in force
    assert (tmp_path / "team.ignore").read_text() == "pattern:kr.phone\n"
    assert_one_line_error(cli("ignore", "kr.phone", "--ignore", "leakwatch.toml"), 2,
                          "one leakwatch keeps")  # fmt: skip
    (tmp_path / "notes.txt").write_text("dear diary, today\n")
    assert_one_line_error(cli("ignore", "kr.phone", "--ignore", "notes.txt"), 2,
                          "not an ignore file, nothing added")  # fmt: skip
    assert (tmp_path / "notes.txt").read_text() == "dear diary, today\n"
    key = tmp_path / "home" / "fingerprint.key"
    ok(cli("scan", "-", "--no-store", stdin=b"nothing"))  # makes the key
    before = key.read_bytes()
    assert_one_line_error(cli("ignore", "kr.phone", "--ignore", str(key)), 2, "leakwatch keeps")
    assert key.read_bytes() == before
    assert_one_line_error(cli("ignore", "kr.phone", "--ignore", str(tmp_path)), 2, "a folder")
    # -o never replaces an ignore file in force, named or from the config.
    for named in ("team.ignore", ".leakwatchignore"):
        assert_one_line_error(cli("report", "-o", named), 2, "ignore file")
    mine = tmp_path / "mine.ignore"
    mine.write_text("kr.phone\n")
    assert_one_line_error(cli("report", "--ignore", str(mine), "-o", str(mine)), 2)
    assert mine.read_text() == "kr.phone\n"


def test_report_baseline_and_date_times_apply_the_ignore_file(
    store_location: Location,
) -> None:
    rng = random.Random(41)
    with Store.open(store_location, ip_country=lambda address: None) as store:
        run = start(store)
        for n, day in enumerate(("2020-03-01", "2024-01-02")):
            url = f"https://bbs.example.cn/{n}"
            found = [finding(url, synthetic.rrn(rng))]
            store.record(run, findings=found, document=page(
                url, category=Category.EXPOSURE, findings=found, published=day))  # fmt: skip
        ignoring = rules_of("https://bbs.example.cn/0")
        base = store.trend_counts(TrendQuery(by=Grouping.YEAR, since="2020", before="2021",
                                             ignore=ignoring))  # fmt: skip
        assert base.total.cases == 0
        # A published day alone counts from its midnight against a date-time bound.
        day = TrendQuery(since="2024-01-02T00:00:00+00:00")
        assert store.trend_counts(day).total.cases == 1
        late = TrendQuery(since="2024-01-02T10:00:00+00:00")
        assert store.trend_counts(late).total.cases == 0
        until = TrendQuery(before="2024-01-02T00:00:01+00:00", since="2024")
        assert store.trend_counts(until).total.cases == 1
