"""`leakwatch report|export|runs`, run for real: KISA's figures in every format, empty and
missing stores, refused files left untouched, bad options, escaping of page-made text."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from leakwatch.models import Category, now
from leakwatch.report.charts import nice_ticks
from leakwatch.store import Location, Store
from tests import store_data
from tests.conftest import REPO, Result, assert_one_line_error
from tests.store_data import finding, page, rrns, start
from tests.stores import rows

Cli = Callable[..., Result]
FORMATS = ("table", "json", "csv", "markdown", "html")


@pytest.fixture(scope="module")
def kisa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return store_data.kisa_store(tmp_path_factory.mktemp("kisa") / "leakwatch.db")


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        check=True,
        text=True,
    )
    return int(child.stdout)


def files_of(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}


# -- KISA's figures ---------------------------------------------------------------------------


def test_kisa_figures_in_json(cli: Cli, kisa: Path) -> None:
    result = cli("report", "--db", str(kisa), "--baseline", "2020", "-f", "json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema_version"] == 1
    assert (data["by"], data["year_basis"]) == ("year", "published")
    assert data["baseline"] == {"year": 2020, "cases": 4_297}
    years = {row["year"]: row for row in data["years"]}
    assert list(years) == [2020, 2021, 2022, 2023]  # the empty years are listed too
    last = years[2023]
    assert (last["cases"], last["exposure"], last["trading"]) == (5_414, 1_522, 3_892)
    assert last["trading_share"] == 0.719
    assert last["growth_vs_baseline"] == 0.26
    assert last["growth_vs_previous"] is None  # 2022 had no cases
    assert years[2021]["cases"] == 0
    assert years[2021]["growth_vs_previous"] == -1.0
    assert years[2020]["growth_vs_previous"] is None
    assert years[2020]["growth_vs_baseline"] == 0.0
    assert data["totals"]["cases"] == 9_711
    assert data["totals"]["records"] == 97
    assert data["cagr"] == round((5_414 / 4_297) ** (1 / 3) - 1, 3)
    for row in data["years"]:
        assert {
            "year",
            "cases",
            "exposure",
            "trading",
            "trading_share",
            "records",
            "growth_vs_previous",
            "growth_vs_baseline",
        } <= set(row)


def test_kisa_figures_in_csv(cli: Cli, kisa: Path) -> None:
    result = cli("report", "--db", str(kisa), "--baseline", "2020", "-f", "csv")
    assert result.code == 0, result.stderr
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    last = table[-1]
    assert (last["year"], last["cases"], last["trading"]) == ("2023", "5414", "3892")
    assert (last["trading_share"], last["growth_vs_baseline"]) == ("0.719", "0.26")
    assert last["growth_vs_previous"] == ""  # undefined
    assert last["findings:kr.rrn"] == str(sum(1 for n in range(4_298, 9_712) if n % 100 == 0))


@pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
def test_kisa_figures_for_people(cli: Cli, kisa: Path, fmt: str) -> None:
    result = cli("report", "--db", str(kisa), "--baseline", "2020", "-f", fmt)
    assert result.code == 0, result.stderr
    text = re.sub(r"\s+", " ", result.stdout)
    assert "5,414 cases in 2023, 71.9% of them trading, +26.0% on 2020" in text
    assert "4,297" in text
    assert "+26.0%" in text
    assert "71.9%" in text


def test_kisa_figures_for_greater_china(cli: Cli, kisa: Path) -> None:
    result = cli(
        "report",
        "--db",
        str(kisa),
        "--baseline",
        "2020",
        "--site-country",
        "cn,tw,hk",
        "-f",
        "json",
    )
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["filters"]["site_country"] == ["CN", "TW", "HK"]
    assert data["years"][-1]["cases"] == 5_414
    only_cn = json.loads(
        cli("report", "--db", str(kisa), "--site-country", "CN", "-f", "json").stdout
    )
    assert 0 < only_cn["totals"]["cases"] < 9_711


def test_html_is_one_self_contained_file(cli: Cli, kisa: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = cli("report", "--db", str(kisa), "--baseline", "2020", "-f", "html", "-o", str(out))
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    text = out.read_text(encoding="utf-8")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert text.startswith("<!DOCTYPE html>")
    assert "<svg" in text
    assert text.count("<rect") > 8
    for forbidden in ("<script", "<link", "src=", "href=", "url(", "@import", "<a "):
        assert forbidden not in text.lower()
    # The only URL in markup is the SVG namespace name, which nothing fetches; the cases'
    # pages are named as text in table cells, never links.
    in_markup = re.findall(r"=[\"']?https?://[^\s\"'<>]+", text)
    assert set(in_markup) == {'="http://www.w3.org/2000/svg'}  # one a chart
    assert re.findall(r'<td class="url">https://bbs\.example\.cn/thread/\d+</td>', text)


@pytest.mark.parametrize("command", [("report", "-f", "json"), ("export",), ("runs", "-f", "json")])
def test_quiet_is_accepted_and_changes_nothing(
    cli: Cli, kisa: Path, command: tuple[str, ...]
) -> None:
    # A cron job passes -q to every command, as to scan.
    plain = cli(*command, "--db", str(kisa))
    quiet = cli(*command, "--db", str(kisa), "-q")
    assert (plain.code, quiet.code) == (0, 0), quiet.stderr
    assert quiet.stderr == ""
    if command[0] == "report":  # its generated time differs between the two runs
        assert json.loads(quiet.stdout)["years"] == json.loads(plain.stdout)["years"]
    else:
        assert quiet.stdout == plain.stdout


def test_other_groupings(cli: Cli, kisa: Path) -> None:
    by_month = json.loads(cli("report", "--db", str(kisa), "--by", "month", "-f", "json").stdout)
    assert by_month["months"][0]["month"] == "2020-01"
    assert len(by_month["months"]) == 4 * 12 - 3  # 2020-01 to 2023-09, gaps listed
    assert sum(m["cases"] for m in by_month["months"]) == 9_711
    for by, key in (
        ("site", "site"),
        ("country", "country"),
        ("type", "type"),
        ("category", "category"),
    ):
        data = json.loads(cli("report", "--db", str(kisa), "--by", by, "-f", "json").stdout)
        assert data["by"] == by
        assert "growth_vs_previous" not in data["groups"][0]
        assert all(key in group for group in data["groups"])
    by_category = json.loads(
        cli("report", "--db", str(kisa), "--by", "category", "-f", "json").stdout
    )
    assert {g["category"]: g["cases"] for g in by_category["groups"]} == {
        "trading": 6_392,
        "exposure": 3_319,
    }


def test_year_basis_first_seen(cli: Cli, kisa: Path) -> None:
    data = json.loads(
        cli("report", "--db", str(kisa), "--year-basis", "first-seen", "-f", "json").stdout
    )
    assert [(row["year"], row["cases"]) for row in data["years"]] == [(2026, 9_711)]


def test_since_and_until(cli: Cli, kisa: Path) -> None:
    data = json.loads(
        cli(
            "report",
            "--db",
            str(kisa),
            "--since",
            "2021",
            "--until",
            "2023-06",
            "--baseline",
            "2020",
            "-f",
            "json",
        ).stdout
    )
    assert data["baseline"]["cases"] == 4_297  # outside the period, still the reference
    assert [row["year"] for row in data["years"]] == [2023]
    assert data["years"][0]["cases"] < 5_414


# -- empty and missing stores ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_store_in_every_format(cli: Cli, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "empty.db"
    with Store.open(path):
        pass
    result = cli("report", "--db", str(path), "-f", fmt, "--baseline", "2020")
    assert result.code == 0, result.stderr
    assert result.stdout.strip()
    if fmt == "json":
        data = json.loads(result.stdout)
        assert data["years"] == []
        assert data["totals"]["cases"] == 0
        assert data["baseline"] == {"year": 2020, "cases": 0}
    elif fmt == "csv":
        assert result.stdout.splitlines()[0].startswith("year,cases,")
        assert len(result.stdout.splitlines()) == 1
    elif fmt == "html":
        assert result.stdout.rstrip().endswith("</html>")
    if fmt != "csv":  # the report says which store it read, and what to do next
        assert str(path) in result.stdout.replace("\\", "")  # markdown escapes _ and /
    if fmt in ("table", "markdown", "html"):
        assert "leakwatch scan" in " ".join(result.stdout.replace("\\", "").split())


def test_no_store_yet_is_an_empty_report_and_creates_nothing(cli: Cli, tmp_path: Path) -> None:
    result = cli("report", "-f", "json")  # the default store, in a fresh LEAKWATCH_HOME
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["years"] == []
    assert cli("runs", "-f", "json").code == 0
    assert cli("export").stdout == ""
    assert not (tmp_path / "home").exists()


def test_a_db_that_does_not_exist_is_an_error(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    for command in ("report", "export", "runs"):
        result = cli(command, "--db", str(missing))
        assert_one_line_error(result, 2, str(missing), "does not exist")
    result = cli("report", env={"LEAKWATCH_DB": str(missing)})
    assert_one_line_error(result, 2, "does not exist")
    assert not missing.exists()


def test_unusable_files_are_refused_and_left_untouched(cli: Cli, tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 20)
    newer = tmp_path / "newer.db"
    with Store.open(newer):
        pass
    connection = sqlite3.connect(newer)
    connection.execute("PRAGMA user_version = 42")
    connection.close()
    for path, message in ((text, "not a leakwatch store"), (newer, "newer leakwatch")):
        before = files_of(path)
        for command in ("report", "export", "runs"):
            assert_one_line_error(cli(command, "--db", str(path)), 2, str(path), message)
        assert files_of(path) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "week"], "--by"),
        (["--since", "last year"], "--since"),
        (["--until", "2023-13"], "--until"),
        (["--since", "2024", "--until", "2023"], "after"),
        (["--baseline", "twenty"], "--baseline"),
        (["--baseline", "2020", "--by", "site"], "--by year"),
        (["--site-country", "China"], "two-letter"),
        (["-f", "pdf"], "--format"),
        (["--year-basis", "seen"], "--year-basis"),
    ],
)
def test_bad_options_are_one_line_errors(
    cli: Cli, kisa: Path, args: list[str], message: str
) -> None:
    assert_one_line_error(cli("report", "--db", str(kisa), *args), 2, message)


# -- page-made text is inert ----------------------------------------------------------------------

HOSTILE = "=cmd|'calc'!A1<b>*x*</b>&[link](y)|.example.cn"


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.db"
    with Store.open(path, ip_country=lambda a: None) as writer:
        run = start(writer)
        url = "https://evil.example.cn/t/1"
        found = [finding(url, v) for v in rrns(random.Random(3), 2)]
        writer.record(
            run,
            findings=found,
            document=page(url, findings=found, site=HOSTILE, category=Category.EXPOSURE),
        )
    return path


def test_site_names_are_escaped(cli: Cli, hostile: Path) -> None:
    html = cli("report", "--db", str(hostile), "--by", "site", "-f", "html").stdout
    assert "<b>" not in html
    assert "&lt;b&gt;*x*&lt;/b&gt;&amp;[link](y)" in html
    markdown = cli("report", "--db", str(hostile), "--by", "site", "-f", "markdown").stdout
    assert "<b>" not in markdown
    assert "\\*x\\*" in markdown
    assert "\\|" in markdown
    assert "\\[link\\]" in markdown
    rows = list(
        csv.reader(
            io.StringIO(cli("report", "--db", str(hostile), "--by", "site", "-f", "csv").stdout)
        )
    )
    assert rows[1][0] == "'" + HOSTILE
    table = cli("report", "--db", str(hostile), "--by", "site").stdout
    assert "[link](y)" in table  # shown as it is, not read as rich markup
    exported = list(
        csv.reader(io.StringIO(cli("export", "--db", str(hostile), "-f", "csv").stdout))
    )
    assert exported[1][1] == "'" + HOSTILE


# -- export and runs ----------------------------------------------------------------------------


def test_export_streams_masked_findings(cli: Cli, kisa: Path, tmp_path: Path) -> None:
    result = cli("export", "--db", str(kisa))
    assert result.code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 97
    first = lines[0]
    assert first["schema_version"] == 1
    assert first["kind"] == "finding"
    assert re.fullmatch(r"\d{6}-\d\*{6}", first["masked"])
    assert first["site"] in ("bbs.example.cn", "forum.example.tw", "shop.example.hk")
    assert first["category"] in ("exposure", "trading")
    assert "value" not in first
    assert "context" not in first
    out = tmp_path / "findings.csv"
    result = cli("export", "--db", str(kisa), "-f", "csv", "-o", str(out), "--site-country", "TW")
    assert result.code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows
    assert {row["country"] for row in rows} == {"TW"}


def test_runs_lists_outcomes(cli: Cli, store_location: Location) -> None:
    path = store_location
    with Store.open(path) as writer:
        done = start(writer, ["https://bbs.example.cn/"])
        writer.finish_run(
            done,
            finished="2026-11-28T10:00:00+00:00",
            outcome="completed",
            summary={"documents": 12, "findings": 30},
        )
        killed = start(writer, ["https://forum.example.tw/"])  # never finished
        # Its process is gone: on SQLite its pid says so; on PostgreSQL, its lock is free
        # once this writer closes.
        rows(path, "UPDATE runs SET pid = ? WHERE id = ?", (dead_pid(), killed))
    data = json.loads(cli("runs", "--db", str(path), "-f", "json").stdout)
    assert [(r["id"], r["state"]) for r in data["runs"]] == [(2, "unfinished"), (1, "completed")]
    assert data["runs"][1]["summary"] == {"documents": 12, "findings": 30}
    table = cli("runs", "--db", str(path), env={"COLUMNS": "160"}).stdout
    assert "completed" in table
    assert "unfinished" in table
    assert "forum.example.tw" in table
    assert (
        len(json.loads(cli("runs", "--db", str(path), "-f", "json", "--limit", "1").stdout)["runs"])
        == 1
    )


def _table_rows(cells_of_rows: list[list[str]]) -> dict[str, tuple[int, int, int, str, int]]:
    """{label: (cases, exposure, trading, trading share, records)} from a report table."""
    found = {}
    for cells in cells_of_rows:
        if len(cells) >= 6 and re.fullmatch(r"[\d,]+", cells[1]):
            cases, exposure, trading, records = (
                int(cells[i].replace(",", "")) for i in (1, 2, 3, 5)
            )
            found[cells[0].replace("\\", "")] = (cases, exposure, trading, cells[4], records)
    return found


def _expected(data: dict[str, object], by: str) -> dict[str, tuple[int, int, int, str, int]]:
    none = {"site": "(no site: local files)", "country": "(unknown)"}
    expected = {}
    for row in data[{"year": "years", "month": "months"}.get(by, "groups")]:  # type: ignore[union-attr]
        key = row[by]
        name = none.get(by, "(none)") if key is None else str(key)
        if row.get("partial"):
            name += " (so far)"
        share = "n/a" if row["trading_share"] is None else f"{row['trading_share'] * 100:.1f}%"
        expected[name] = (row["cases"], row["exposure"], row["trading"], share, row["records"])
    totals = data["totals"]
    share = "n/a" if totals["trading_share"] is None else f"{totals['trading_share'] * 100:.1f}%"  # type: ignore[index]
    expected["total"] = (totals["cases"], totals["exposure"], totals["trading"], share,  # type: ignore[index]
                         totals["records"])  # type: ignore[index]  # fmt: skip
    return expected


@pytest.mark.parametrize("by", ["year", "site", "category"])
def test_markdown_and_html_show_the_figures_of_json(cli: Cli, kisa: Path, by: str) -> None:
    args = ("report", "--db", str(kisa), "--by", by)
    data = json.loads(cli(*args, "-f", "json").stdout)
    expected = _expected(data, by)
    assert len(expected) > 2

    markdown = cli(*args, "-f", "markdown").stdout
    md_rows = [[c.strip() for c in line.strip("|").split("|")]
               for line in markdown.splitlines() if line.startswith("|")]  # fmt: skip
    md_found = _table_rows(md_rows)
    md_found.pop("total", None)  # Markdown has no totals row: the summary sentence says them
    assert md_found == {k: v for k, v in expected.items() if k != "total"}

    page = cli(*args, "-f", "html").stdout
    first_table = page.split("<table>", 1)[1].split("</table>", 1)[0]
    html_rows = [[re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
                 for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", first_table, re.S)]  # fmt: skip
    html_found = {k.replace("&amp;", "&"): v for k, v in _table_rows(html_rows).items()}
    assert html_found == expected
    # The headline sentence is the table report's, in both.
    table = cli(*args)
    sentence = table.stdout.strip().splitlines()[-1].split(";")[0]
    assert sentence.split(" ")[0] in markdown
    assert sentence.split(" ")[0] in page


def test_html_charts_have_axes_whole_labels_and_the_partial_year(cli: Cli, tmp_path: Path) -> None:
    assert cli("scan", str(REPO / "examples" / "site"), "-q").code == 0
    page = cli("report", "-f", "html").stdout
    year = now()[:4]  # the scanned dumps declare no date: they count when first seen
    chart = page.split("<svg", 2)[1]
    assert len(re.findall(r'<line class="grid"', chart)) >= 3  # ticks with gridlines
    assert f">{year} (so far)</text>" in chart
    assert 'opacity="0.45"' in chart  # the year not over yet, faded
    assert "not over yet" in chart  # and said in the legend
    assert "<h2>Top sites</h2>" in page
    assert "(no site: local files)" in page
    types_chart = page.split("<h2>Findings by type</h2>", 1)[1].split("</svg>", 1)[0]
    for type_ in ("kr.phone", "kr.phone.masked", "kr.rrn.masked", "kr.driver_license"):
        assert f">{type_}</text>" in types_chart  # whole labels, never cut
    by_site = cli("report", "--by", "site", "-f", "html").stdout.split("<svg", 2)[1]
    assert ">(no site: local files)</text>" in by_site
    assert "rotate(" not in by_site  # groups are bars, their names level and whole
    assert "filters" in page
    assert "store:" in page  # the store and filters it was made from


@pytest.mark.parametrize(
    ("largest", "ticks"),
    [(0, [0, 1]), (1, [0, 1]), (2, [0, 1, 2]), (5414, [0, 2000, 4000, 6000]),
     (97, [0, 20, 40, 60, 80, 100]), (602, [0, 200, 400, 600, 800])],
)  # fmt: skip
def test_nice_ticks(largest: int, ticks: list[int]) -> None:
    assert nice_ticks(largest) == ticks
