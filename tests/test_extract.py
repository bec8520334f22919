"""Extraction: browser-style decoding, HTML to structured text, published dates, sources."""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
from pathlib import Path

import pytest

from leakwatch.errors import InputError
from leakwatch.extract import dates, decode, html, sources

TODAY = dt.date(2026, 11, 28)
CHINESE = (
    "出售韩国实名数据，身份证号加手机号。姓名：金民俊，地址：首尔市江南区。价格面议，私聊。" * 3
)
TRADITIONAL = (
    "出售韓國實名資料，身份證號加手機號。這是一個關於個人資訊外洩的論壇文章，請勿轉發。" * 3
)
KOREAN = "고객정보 유출 명단입니다. 이름과 주민등록번호, 휴대폰 번호가 포함되어 있습니다. " * 3
RARE_NAME = "姓名：𠮷野家 䶮"  # characters outside GB2312: a strict gb2312 codec fails on them


# -- decoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("gb2312", "gb18030"),
        ("GBK", "gb18030"),
        ("x-gbk", "gb18030"),
        ("big5", "big5hkscs"),
        ("euc-kr", "cp949"),
        ("ks_c_5601-1987", "cp949"),
        ("shift_jis", "cp932"),
        ("iso-8859-1", "cp1252"),
        ("UTF8", "utf-8"),
        ("no-such-charset", None),
    ],
)
def test_labels_are_widened_like_browsers_do(label: str, codec: str | None) -> None:
    assert decode.codec_for_label(label) == codec


def test_bom_wins_over_everything() -> None:
    data = codecs.BOM_UTF8 + '<meta charset="gbk">韩国'.encode()
    text, encoding = decode.decode(data, declared="big5", html=True)
    assert encoding == decode.Encoding("utf-8", "bom")
    assert text == '<meta charset="gbk">韩国'


def test_http_header_then_meta() -> None:
    page = f'<html><head><meta charset="gb2312"></head><body>{CHINESE}</body></html>'
    data = page.encode("gb18030")
    assert decode.sniff(data, declared="GBK", html=True) == decode.Encoding("gb18030", "http")
    assert decode.sniff(data, html=True) == decode.Encoding("gb18030", "meta")


def test_meta_http_equiv_form() -> None:
    head = b'<meta http-equiv="Content-Type" content="text/html; charset=big5">'
    assert decode.sniff(head, html=True) == decode.Encoding("big5hkscs", "meta")


def test_gbk_label_decodes_rare_name_characters() -> None:
    data = f'<meta charset="gbk">{RARE_NAME}'.encode("gb18030")
    text, _ = decode.decode(data, html=True)
    assert RARE_NAME in text


@pytest.mark.parametrize(
    ("text", "codec"),
    [(CHINESE, "gb18030"), (TRADITIONAL, "big5hkscs"), (KOREAN, "cp949")],
)
def test_undeclared_legacy_encodings_are_detected(text: str, codec: str) -> None:
    data = text.encode(codec)
    encoding = decode.sniff(data)
    assert encoding.source == "detector"
    assert data.decode(encoding.codec) == text


def test_utf8_cut_mid_character_is_still_utf8() -> None:
    data = CHINESE.encode()
    assert decode.sniff(data[:100]) == decode.Encoding("utf-8", "utf-8")


def test_broken_bytes_never_stop_decoding() -> None:
    data = "身份证号".encode("gb18030") + b"\xff\xfe\x81" + b"800101-1234560"
    text, _ = decode.decode(data, declared="gbk")
    assert text.startswith("身份证号")
    assert text.endswith("800101-1234560")


# -- HTML ------------------------------------------------------------------------------------


def page_text(markup: str) -> str:
    tree = html.parse(markup)
    assert tree is not None
    return html.visible_text(tree)


def test_cells_never_glue() -> None:
    text = page_text("<table><tr><td>800101</td><td>1234560</td></tr></table>")
    assert "8001011234560" not in text
    assert text.strip() == "800101\t1234560"


def test_table_rows_become_tab_separated_lines_under_their_header() -> None:
    text = page_text(
        "<table><tr><th>이름</th><th>주민등록번호</th></tr>"
        "<tr><td>김민준</td><td>800101-1234560</td></tr></table>"
    )
    assert text.splitlines() == ["이름\t주민등록번호", "김민준\t800101-1234560"]


def test_merged_cells_keep_values_under_their_headers() -> None:
    # An Excel sheet saved as a web page: a two-row header whose first and last cells span
    # both rows, a group heading spanning columns, and a cell spanning data rows.
    text = page_text(
        "<table><tr><td rowspan=2>순번</td><td colspan=2>인적사항</td><td rowspan=2>비고</td></tr>"
        "<tr><td>성명</td><td>주민등록번호</td></tr>"
        "<tr><td>1</td><td>김민준</td><td>800101-1234560</td><td rowspan=2>같음</td></tr>"
        "<tr><td>2</td><td>이서연</td><td>850505-2345678</td></tr>"
        "<tr><td rowspan=x colspan=99999>3</td></tr></table>"
    )
    rows = [line.split("\t") for line in text.splitlines()]
    assert rows[1] == ["", "성명", "주민등록번호"]
    assert rows[2] == ["1", "김민준", "800101-1234560", "같음"]
    assert rows[3] == ["2", "이서연", "850505-2345678"]
    assert rows[4] == ["3"]  # bad and huge spans are clamped, not trusted


def test_invisible_characters_between_digits_are_dropped() -> None:
    text = page_text("<p>身份证号：8\u200b0\u200b0101-\u00ad1234560\u2060</p>")
    assert text.strip() == "身份证号：800101-1234560"


def test_inline_markup_joins_like_a_browser_and_blocks_break() -> None:
    text = page_text("<p>010-<span>2345</span>-6789</p><div>next</div>line<br>break")
    assert text.splitlines() == ["010-2345-6789", "next", "line", "break"]


def test_invisible_parts_are_dropped() -> None:
    text = page_text(
        "<head><title>标题</title><style>td{}</style></head><body><script>var id='800101-1234560'"
        "</script><noscript>x</noscript><template>y</template>visible<!-- 010-2345-6789 --></body>"
    )
    assert text.splitlines() == ["标题", "visible"]


def test_link_text_is_visible_but_not_prose() -> None:
    tree = html.parse('<p>列表：<a href="t1.html">出售韩国实名数据</a></p><p>正文</p>')
    assert tree is not None
    text, prose = html.visible_parts(tree)
    assert "出售韩国实名数据" in text
    assert "出售韩国实名数据" not in prose
    assert "正文" in prose


def test_preformatted_text_keeps_its_lines() -> None:
    assert page_text("<pre>a\n  b</pre>").splitlines() == ["a", "b"]


def test_deep_nesting_falls_back_to_the_tag_stripper() -> None:
    markup = "<div>" * 50_000 + "身份证号 <td>800101-1234560</td><td>x</td>" + "</div>" * 50_000
    assert html.parse(markup) is None
    text = html.stripped_text(markup)
    assert "身份证号 800101-1234560\tx" in text


def test_nesting_depth_ignores_elements_that_do_not_nest() -> None:
    assert html.nesting_depth("<p>a<p>b<li>c<br><img>" * 5000) == 0
    assert html.nesting_depth("<div><span></span></div>" * 100) == 2


# -- published dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "value", "source"),
    [
        ('<meta property="article:published_time" content="2023-05-12T10:21:00+08:00">',
         "2023-05-12T10:21:00+08:00", "meta:article:published_time"),
        ('<script type="application/ld+json">{"@graph": [{"datePublished": "2022-01-03"}]}'
         "</script>", "2022-01-03", "json-ld"),
        ('<time datetime="2021-07-08">July</time>', "2021-07-08", "time"),
        ("<p>发表于 2023-5-12 10:21</p>", "2023-05-12T10:21:00", "text:发表于"),
        ("<p>发布时间：2020年3月4日</p>", "2020-03-04", "text:发布时间"),
        ("<p>작성일 2019.11.02</p>", "2019-11-02", "text:작성일"),
        ('<meta property="article:published_time" content="2099-01-01">', None, None),
        ("<p>no date here 2023-01-01</p>", None, None),
        ("<p>出生日期：1990-01-01</p>", None, None),
        ("<p>last update: 2023-01-01</p>", None, None),
    ],
)  # fmt: skip
def test_published_date(markup: str, value: str | None, source: str | None) -> None:
    tree = html.parse(f"<html><head></head><body>{markup}</body></html>")
    assert tree is not None
    found = dates.from_html(tree, html.visible_text(tree), TODAY)
    assert (found.value, found.source) == (value, source) if found else value is None


# -- sources ---------------------------------------------------------------------------------


def read_all(path: Path) -> tuple[sources.Document, str]:
    (item,) = list(sources.expand([str(path)]))
    assert isinstance(item, sources.Input)
    reader = sources.DocumentReader(item, None, TODAY)
    return reader.document, "".join(piece.text for piece in reader.pieces())


def test_an_update_time_is_only_a_fallback_for_the_published_date() -> None:
    text = "更新时间：2024-05-20\n正文……\n发表于 2023-03-01 10:20\n"
    found = dates.from_text(text, TODAY)
    assert found == dates.Published("2023-03-01T10:20:00", "text:发表于")
    assert dates.from_text("更新时间：2024-05-20\n", TODAY) == dates.Published(
        "2024-05-20", "text:更新时间"
    )


def test_folder_walk_reads_everything_but_media_and_hidden_files(tmp_path: Path) -> None:
    names = ("a.html", "b.csv", "c.txt.gz", "d.png", ".hidden.txt", "sub/e.json", "f.TSV",
             "g.sql", "h.log", "index.php", "README", "photo.JPG", ".git/config")  # fmt: skip
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x")
    found = [i.name for i in sources.expand([str(tmp_path)]) if isinstance(i, sources.Input)]
    assert [Path(name).name for name in found] == [
        "README", "a.html", "b.csv", "c.txt.gz", "f.TSV", "g.sql", "h.log", "index.php", "e.json"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("page.php", "text/html"), ("page.asp", "text/html"), ("noext", "text/html"),
     ("dump.sql", "application/sql"), ("app.log", "text/plain"), ("notes.txt", "text/plain")],
)  # fmt: skip
def test_suffix_or_content_decides_html(tmp_path: Path, name: str, media_type: str) -> None:
    path = tmp_path / name
    path.write_text("<html><body><p>주민번호 800101-1234560</p></body></html>", encoding="utf-8")
    document, text = read_all(path)
    assert document.media_type == media_type
    assert ("<p>" in text) is (media_type != "text/html")


def test_jsonl_escapes_are_undone(tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text('{"name": "\\uae40\\ubbfc\\uc900"}\n', encoding="utf-8")
    _, text = read_all(path)
    assert "김민준" in text


def test_binary_file_met_in_a_folder_is_skipped_not_failed(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    (item,) = list(sources.expand([str(tmp_path)]))
    assert isinstance(item, sources.Input)
    assert item.walked
    with pytest.raises(InputError) as raised:
        list(sources.DocumentReader(item, None, TODAY).pieces())
    assert raised.value.kind == "skipped"


def test_missing_and_odd_inputs_are_reported_not_raised(tmp_path: Path) -> None:
    items = list(sources.expand([str(tmp_path / "nope.csv")]))
    assert len(items) == 1
    assert isinstance(items[0], InputError)
    assert items[0].kind == "missing"


def test_gzip_files_are_read_through(tmp_path: Path) -> None:
    path = tmp_path / "dump.csv.gz"
    path.write_bytes(gzip.compress("성명,주민등록번호\n김민준,800101-1234560\n".encode()))
    document, text = read_all(path)
    assert "800101-1234560" in text
    assert document.media_type == "text/csv"


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.html"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00" + bytes(range(256)))
    (item,) = list(sources.expand([str(path)]))
    assert isinstance(item, sources.Input)
    with pytest.raises(InputError, match="binary"):
        list(sources.DocumentReader(item, None, TODAY).pieces())


def test_utf16_with_bom_is_text(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "주민번호 800101-1234560".encode("utf-16-le"))
    _, text = read_all(path)
    assert text == "주민번호 800101-1234560"


def test_json_escapes_are_undone(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text('{"\\uc8fc\\ubbfc\\ubc88\\ud638": "800101-1234560", "q": "\\u0022"}')
    _, text = read_all(path)
    assert '"주민번호": "800101-1234560"' in text
    assert "\\u0022" in text  # ASCII escapes are left alone


def test_html_file_is_decoded_parsed_and_dated(tmp_path: Path) -> None:
    path = tmp_path / "post.html"
    page = (
        '<html><head><meta charset="gbk"><title>出售</title></head><body>'
        f"<p>发布时间：2023-06-01</p><table><tr><td>{RARE_NAME}</td><td>800101-1234560</td></tr>"
        "</table></body></html>"
    )
    path.write_bytes(page.encode("gb18030"))
    document, text = read_all(path)
    assert document.media_type == "text/html"
    assert document.encoding == decode.Encoding("gb18030", "meta")
    assert document.published == dates.Published("2023-06-01", "text:发布时间")
    assert f"{RARE_NAME}\t800101-1234560" in text
    assert document.size == len(page.encode("gb18030"))


def test_large_text_is_streamed_in_pieces(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    line = "身份证号 800101-1234560\n"
    path.write_text(line * 200_000, encoding="gb18030")
    (item,) = list(sources.expand([str(path)]))
    assert isinstance(item, sources.Input)
    pieces = list(sources.DocumentReader(item, None, TODAY).pieces())
    assert len(pieces) > 3
    assert max(len(p.text) for p in pieces) <= sources.READ_BYTES
    assert "".join(p.text for p in pieces) == line * 200_000
