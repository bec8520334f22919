"""What a trend report counts: cases by year basis, distinct records, filters, every grouping,
empty periods, growth and CAGR; and the option parsers."""

from __future__ import annotations

import random

import pytest

from leakwatch.models import Category
from leakwatch.report import trends
from leakwatch.report.trends import TrendRow
from leakwatch.store import (
    GroupCounts,
    Grouping,
    Location,
    Store,
    TrendCounts,
    TrendQuery,
    YearBasis,
)
from tests.store_data import finding, local, page, rrns, start
from tests.stores import ENGINES, new_database


@pytest.fixture(scope="module", params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A small store with every case shape the report must tell apart, in each engine."""
    path: Location = tmp_path_factory.mktemp("trends") / "leakwatch.db"
    if request.param == "postgresql":
        path = new_database(request.getfixturevalue("postgres_url"))
    rng = random.Random(11)
    shared = rrns(rng, 1)[0]  # one identifier on two sites, in two years
    with Store.open(path, ip_country=lambda address: "HK") as writer:
        run = start(writer)
        # Published 2019, first seen 2021: a case of 2019 (published basis) or 2021.
        url = "https://bbs.example.cn/t/1"
        found = [finding(url, v) for v in [shared, *rrns(rng, 2)]]
        writer.record(
            run,
            findings=found,
            document=page(
                url,
                category=Category.TRADING,
                published="2019-06-01",
                findings=found,
                fetched_at="2021-02-01T00:00:00Z",
            ),
        )
        # No published date, first seen 2021-05: exposure on a .tw site.
        url = "https://forum.example.tw/p/2"
        found = [finding(url, v, "kr.rrn") for v in rrns(rng, 2)]
        found.append(finding(url, "010-2345-6789", "kr.phone"))
        writer.record(
            run,
            findings=found,
            document=page(
                url, category=Category.EXPOSURE, findings=found, fetched_at="2021-05-03T00:00:00Z"
            ),
        )
        # 2023: the shared identifier again, on a site whose country comes from its address.
        url = "https://market.example.com/s/3"
        found = [finding(url, shared)]
        writer.record(
            run,
            findings=found,
            document=page(
                url,
                category=Category.TRADING,
                published="2023-01-10",
                findings=found,
                fetched_at="2023-01-11T00:00:00Z",
                address="198.51.100.1",
            ),
        )
        # Not cases: a forum index and a local file without category.
        writer.record(
            run,
            document=page(
                "https://bbs.example.cn/", category=None, fetched_at="2022-01-01T00:00:00Z"
            ),
        )
        lone = [finding("notes.txt", rrns(rng, 1)[0])]
        writer.record(
            run,
            findings=lone,
            document=local("notes.txt", category=None),
            seen="2022-07-01T00:00:00Z",
        )
        writer.finish_run(run, finished="x", outcome="completed", summary={})
    reader = Store.read(path)
    yield reader  # type: ignore[misc]
    reader.close()


def table(counts: TrendCounts) -> dict[str | None, tuple[int, int, int]]:
    return {g.key: (g.exposure, g.trading, g.records) for g in counts.groups}


def test_published_basis_puts_cases_and_their_records_in_the_published_year(store: Store) -> None:
    counts = store.trend_counts(TrendQuery())
    # 2019: the published trading post and its 3 records; 2021: the exposure page (3 records);
    # 2023: the shared identifier was already counted in 2019.
    assert table(counts) == {"2019": (0, 1, 3), "2021": (1, 0, 3), "2023": (0, 1, 0)}
    assert (counts.total.cases, counts.total.records) == (3, 6)
    assert counts.total.findings_by_type == {"kr.phone": 1, "kr.rrn": 6}


def test_first_seen_basis(store: Store) -> None:
    counts = store.trend_counts(TrendQuery(basis=YearBasis.FIRST_SEEN))
    assert table(counts) == {"2021": (1, 1, 6), "2023": (0, 1, 0)}


def test_by_month(store: Store) -> None:
    counts = store.trend_counts(TrendQuery(by=Grouping.MONTH, basis=YearBasis.FIRST_SEEN))
    assert table(counts) == {"2021-02": (0, 1, 3), "2021-05": (1, 0, 3), "2023-01": (0, 1, 0)}


def test_site_country_filter(store: Store) -> None:
    china = store.trend_counts(TrendQuery(countries=("CN",)))
    assert table(china) == {"2019": (0, 1, 3)}
    greater_china = store.trend_counts(TrendQuery(countries=("CN", "TW", "HK")))
    assert greater_china.total.cases == 3
    assert store.trend_counts(TrendQuery(countries=("JP",))).groups == ()


def test_since_and_until_bound_the_case_dates(store: Store) -> None:
    query = TrendQuery(since=trends.since_bound("2020"), before=trends.until_bound("2022"))
    assert table(store.trend_counts(query)) == {"2021": (1, 0, 3)}
    query = TrendQuery(since=trends.since_bound("2023-01-10"), before=trends.until_bound("2023-01"))
    assert table(store.trend_counts(query)) == {"2023": (0, 1, 0)}


def test_by_site_country_type_and_category(store: Store) -> None:
    by_site = store.trend_counts(TrendQuery(by=Grouping.SITE))
    assert table(by_site) == {
        "bbs.example.cn": (0, 1, 3),
        "forum.example.tw": (1, 0, 3),
        "market.example.com": (0, 1, 1),  # the shared record counts on each site...
    }
    assert by_site.total.records == 6  # ...but once in the total
    by_country = store.trend_counts(TrendQuery(by=Grouping.COUNTRY))
    assert table(by_country) == {"CN": (0, 1, 3), "HK": (0, 1, 1), "TW": (1, 0, 3)}
    by_type = store.trend_counts(TrendQuery(by=Grouping.TYPE))
    assert table(by_type) == {"kr.phone": (1, 0, 1), "kr.rrn": (1, 2, 5)}
    assert (by_type.total.cases, by_type.total.records) == (3, 6)  # a case with two types once
    by_category = store.trend_counts(TrendQuery(by=Grouping.CATEGORY))
    assert table(by_category) == {"exposure": (1, 0, 3), "trading": (0, 2, 3)}
    assert by_category.total.records == 6


def test_report_rows_fill_empty_periods_and_compute_growth(store: Store) -> None:
    query = TrendQuery()
    report = trends.build(
        store.trend_counts(query),
        query,
        generated="now",
        baseline_year=2019,
        baseline_counts=store.trend_counts(trends.baseline_query(query, 2019)),
    )
    assert [row.key for row in report.rows] == ["2019", "2020", "2021", "2022", "2023"]
    assert [row.cases for row in report.rows] == [1, 0, 1, 0, 1]
    assert [row.growth_vs_previous for row in report.rows] == [None, -1.0, None, -1.0, None]
    assert [row.growth_vs_baseline for row in report.rows] == [0.0, -1.0, 0.0, -1.0, 0.0]
    assert report.cagr == 0.0
    assert report.headline is not None
    assert report.headline.key == "2023"


def counts(*groups: GroupCounts) -> TrendCounts:
    total = GroupCounts(
        key=None,
        exposure=sum(g.exposure for g in groups),
        trading=sum(g.trading for g in groups),
        records=sum(g.records for g in groups),
    )
    return TrendCounts(groups=groups, total=total)


def test_growth_share_and_cagr_arithmetic() -> None:
    built = trends.build(
        counts(
            GroupCounts("2020", exposure=1_797, trading=2_500, records=10),
            GroupCounts("2023", exposure=1_522, trading=3_892, records=4),
        ),
        TrendQuery(),
        generated="now",
        baseline_year=2020,
        baseline_counts=counts(GroupCounts("2020", exposure=1_797, trading=2_500)),
    )
    last = built.rows[-1]
    assert (last.key, last.cases) == ("2023", 5_414)
    assert last.trading_share == pytest.approx(3_892 / 5_414)
    assert round(last.trading_share or 0, 3) == 0.719
    assert last.growth_vs_baseline == pytest.approx(5_414 / 4_297 - 1)
    assert round(last.growth_vs_baseline or 0, 2) == 0.26
    assert last.growth_vs_previous is None  # 2022 had no cases
    assert [row.key for row in built.rows] == ["2020", "2021", "2022", "2023"]
    assert built.cagr == pytest.approx((5_414 / 4_297) ** (1 / 3) - 1)
    assert built.total.trading_share == pytest.approx(6_392 / 9_711)


def test_growth_is_undefined_from_nothing() -> None:
    assert trends.growth(5, 0) is None
    assert trends.growth(0, 5) == -1.0
    rows = [TrendRow("2020", 0, 0, 0, None, 0, {}), TrendRow("2021", 3, 3, 0, 0.0, 0, {})]
    assert trends.cagr(rows, Grouping.YEAR) is None
    rows = [TrendRow("2020-01", 4, 4, 0, 0.0, 0, {}), TrendRow("2021-01", 8, 8, 0, 0.0, 0, {})]
    assert trends.cagr(rows, Grouping.MONTH) == pytest.approx(1.0)


def test_an_empty_store_gives_an_empty_report() -> None:
    built = trends.build(TrendCounts((), GroupCounts(None)), TrendQuery(), generated="now")
    assert built.rows == ()
    assert built.cagr is None
    assert built.headline is None
    assert built.total.trading_share is None


def test_groups_are_sorted_by_cases() -> None:
    built = trends.build(
        counts(
            GroupCounts("a.example.cn", exposure=1),
            GroupCounts("b.example.tw", trading=5),
            GroupCounts(None, exposure=2),
        ),
        TrendQuery(by=Grouping.SITE),
        generated="now",
    )
    assert [row.key for row in built.rows] == ["b.example.tw", None, "a.example.cn"]
    assert all(row.growth_vs_previous is None for row in built.rows)
    assert built.cagr is None


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("2023", "2023", "2024"),
        ("2023-12", "2023-12", "2024-01"),
        ("2023-05", "2023-05", "2023-06"),
        ("2024-02-29", "2024-02-29", "2024-03-01"),
        ("2023-12-31", "2023-12-31", "2024-01-01"),
    ],
)
def test_date_bounds(text: str, since: str, until: str) -> None:
    assert trends.since_bound(text) == since
    assert trends.until_bound(text) == until


@pytest.mark.parametrize("text", ["23", "2023-13", "2023-02-30", "last year", "2023/05", ""])
def test_bad_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY"):
        trends.since_bound(text)


def test_country_and_baseline_options() -> None:
    assert trends.parse_countries("cn, TW,hk,CN") == ("CN", "TW", "HK")
    for bad in ("China", "CN;TW", ",", "C1"):
        with pytest.raises(ValueError, match="two-letter"):
            trends.parse_countries(bad)
    trends.check_baseline(2020, Grouping.YEAR)
    with pytest.raises(ValueError, match="--by year"):
        trends.check_baseline(2020, Grouping.MONTH)
    with pytest.raises(ValueError, match="must be a year"):
        trends.check_baseline(20, Grouping.YEAR)


def test_a_published_date_that_is_not_a_date_falls_back_to_first_seen(
    store_location: Location,
) -> None:
    with Store.open(store_location, ip_country=lambda a: None) as writer:
        run = start(writer)
        for n, published in enumerate(["yesterday", "2022-00-01", "2020-02-02T08:00:00+08:00"]):
            writer.record(
                run,
                document=page(
                    f"https://a.example.cn/{n}",
                    published=published,
                    fetched_at="2024-04-04T00:00:00Z",
                ),
            )
        result = writer.trend_counts(TrendQuery(by=Grouping.MONTH))
    assert table(result) == {"2020-02": (0, 1, 0), "2024-04": (0, 2, 0)}


def test_a_local_copy_seen_first_is_still_its_sites_case(store_location: Location) -> None:
    dump = "e" * 64
    with Store.open(store_location, ip_country=lambda a: None) as writer:
        run = start(writer)
        saved = local("/cases/saved.html", category=Category.EXPOSURE, sha256=dump)
        writer.record(run, document=saved, seen="2023-01-01T00:00:00+00:00")
        writer.record(run, document=page("https://bbs.example.cn/t/1", sha256=dump,
                                         fetched_at="2024-05-01T00:00:00Z"))  # fmt: skip
        by_site = writer.trend_counts(TrendQuery(by=Grouping.SITE))
        by_year = writer.trend_counts(TrendQuery())
    assert {g.key: g.cases for g in by_site.groups} == {"bbs.example.cn": 1}
    assert table(by_year) == {"2023": (0, 1, 0)}  # the earliest copy's date, strongest category


def test_one_case_is_one_page_not_one_url_or_one_copy(store_location: Location) -> None:
    # KISA counts pages: a page reached under a tracking parameter, or saved to disk and
    # scanned again later, is the same case; the same dump posted on two sites is two.
    dump = "d" * 64
    with Store.open(store_location, ip_country=lambda a: None) as writer:
        run = start(writer)
        writer.record(run, document=page("https://bbs.example.cn/t/1", sha256=dump,
                                         fetched_at="2023-03-01T00:00:00Z"))  # fmt: skip
        writer.record(run, document=page("https://bbs.example.cn/t/1?utm_source=x", sha256=dump,
                                         category=Category.EXPOSURE,
                                         fetched_at="2024-05-01T00:00:00Z"))  # fmt: skip
        writer.record(run, document=local("/cases/saved.html", category=Category.EXPOSURE,
                                          sha256=dump))  # fmt: skip
        writer.record(run, document=page("https://other.example.tw/post/9", sha256=dump,
                                         fetched_at="2024-05-02T00:00:00Z"))  # fmt: skip
        by_year = writer.trend_counts(TrendQuery())
        by_site = writer.trend_counts(TrendQuery(by=Grouping.SITE))
    # bbs.example.cn's three copies: one trading case in 2023, its earliest date and its
    # strongest category; other.example.tw's post: a second case, in 2024.
    assert table(by_year) == {"2023": (0, 1, 0), "2024": (0, 1, 0)}
    assert by_year.total.cases == 2
    assert {g.key: g.cases for g in by_site.groups} == {
        "bbs.example.cn": 1,
        "other.example.tw": 1,
    }
