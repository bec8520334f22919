"""A small multi-year forum, scanned for real, reported for real: `report -f json --baseline
2020` must give its true cases per year, exposure/trading split and growth. The pages are
the kinds that skewed such figures: filler lines (私聊) that are no sale, masked samples in
help threads and news stories, an exposure page ending with the filler line, copies of a
page, and a page with no date (counted in the current year, which is not over)."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import synthetic
from tests.conftest import Result

Cli = Callable[..., Result]

# (exposure, trading) cases per year: +26% from 2020 to 2023, about 72% trading.
TRUTH = {2020: (14, 36), 2021: (15, 38), 2022: (17, 41), 2023: (18, 45)}


def _page(title: str, published: str | None, body: str) -> str:
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    head = f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">{meta}'
    return f"{head}<title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>\n"


def _exposure(rng: random.Random, published: str | None, filler: bool) -> str:
    rows = "".join(
        f"<tr><td>{synthetic.hangul_name(rng)}</td><td>{synthetic.rrn(rng)}</td>"
        f"<td>{synthetic.mobile(rng, 'hyphen')}</td></tr>"
        for _ in range(3)
    )
    tail = "<p>有需要的私聊我，TG @seoul_helper</p>" if filler else ""
    body = (f"<p>网上流出的韩国某商城会员名单，大家注意。</p><table><tr><th>姓名</th>"
            f"<th>身份证号</th><th>手机号</th></tr>{rows}</table>{tail}")  # fmt: skip
    return _page("韩国某商城会员名单", published, body)


def _trading(rng: random.Random, published: str) -> str:
    samples = "、".join(synthetic.masked_rrn(rng) for _ in range(2))
    body = (f"<p>出售韩国实名数据，身份证+手机号，一手新鲜，2元/条，量大从优。样本：{samples}</p>"
            "<p>TG @kr_data_shop</p>")  # fmt: skip
    return _page("韩国料出售", published, body)


def _filler(rng: random.Random, published: str) -> str:
    body = (f"<p>在韩国换外国人登录证要什么材料？我的是 {synthetic.masked_rrn(rng)[:7]}5******。"
            "</p><p>有需要的私聊我，微信同号。</p>")  # fmt: skip
    return _page("在韩国换登录证需要什么材料", published, body)


def _news(rng: random.Random, published: str) -> str:
    body = (f"<p>记者报道：警方破获一起出售韩国公民个人信息案，嫌疑人已被抓获，"
            f"涉案样本如 {synthetic.masked_rrn(rng)}。</p>")  # fmt: skip
    return _page("警方破获出售个人信息案", published, body)


def build_site(root: Path, rng: random.Random) -> None:
    for year, (exposure, trading) in TRUTH.items():
        folder = root / str(year)
        folder.mkdir(parents=True)

        def day(n: int, year: int = year) -> str:
            return f"{year}-{1 + n % 12:02d}-{1 + n % 28:02d}T10:00:00+08:00"

        for n in range(exposure):
            (folder / f"exposure-{n}.html").write_text(
                _exposure(rng, day(n), filler=n % 3 == 0), encoding="utf-8"
            )
        for n in range(trading):
            (folder / f"trade-{n}.html").write_text(_trading(rng, day(n)), encoding="utf-8")
        for n in range(6):
            (folder / f"help-{n}.html").write_text(_filler(rng, day(n)), encoding="utf-8")
            (folder / f"news-{n}.html").write_text(_news(rng, day(n)), encoding="utf-8")
        # A saved copy of one trading post: the same page, one case.
        copy = (folder / "trade-0.html").read_bytes()
        (folder / "trade-0 (copy).html").write_bytes(copy)
    (root / "undated.html").write_text(_exposure(rng, None, filler=False), encoding="utf-8")


def test_report_reproduces_a_sites_cases_per_year_split_and_growth(
    cli: Cli, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    build_site(site, random.Random(2023))
    db = tmp_path / "forum.db"
    scanned = cli("scan", str(site), "--db", str(db), "-q", "-f", "json", "-o",
                  str(tmp_path / "scan.json"))  # fmt: skip
    assert scanned.code == 0, scanned.stderr
    result = cli("report", "--db", str(db), "-f", "json", "--baseline", "2020")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    this_year = dt.date.today().year
    years = {row["year"]: row for row in report["years"]}
    for year, (exposure, trading) in TRUTH.items():
        row = years[year]
        assert (row["exposure"], row["trading"]) == (exposure, trading), year
        assert row["partial"] is False
    assert years[2023]["growth_vs_baseline"] == pytest.approx(0.26, abs=1e-3)
    assert years[2023]["trading_share"] == pytest.approx(45 / 63, abs=1e-3)
    # The undated page was first seen today: a case of a year that is not over, shown as
    # such and left out of the headline and of CAGR.
    current = years[this_year]
    assert (current["cases"], current["partial"]) == (1, True)
    assert report["headline"]["year"] == 2023
    assert report["cagr"] == pytest.approx((63 / 50) ** (1 / 3) - 1, abs=1e-3)
    assert report["store"] == str(db)
    table = cli("report", "--db", str(db), "--baseline", "2020")
    summary = " ".join(table.stdout.split())
    assert "63 cases in 2023, 71.4% of them trading, +26.0% on 2020" in summary
    assert f"{this_year} so far: 1 case;" in summary
    assert f"{this_year} (so far)" in table.stdout
