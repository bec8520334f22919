"""The detector on text: context rules, look-alikes, overlaps, streaming, hostile input."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from leakwatch.detect import engine
from leakwatch.detect.engine import Detector
from leakwatch.detect.packs import Pack, load_packs
from leakwatch.detect.redact import Fingerprinter
from leakwatch.extract import html
from leakwatch.models import Finding
from tests import synthetic
from tests.conftest import TODAY, types_of

Find = Callable[[str], list[Finding]]


def only(findings: list[Finding], type_id: str) -> list[Finding]:
    return [f for f in findings if f.type == type_id]


# -- resident registration numbers ---------------------------------------------------------


def test_valid_rrn_alone_is_reported_with_checksum_evidence(find: Find) -> None:
    (finding,) = find("950615-2123454")
    assert finding.type == "kr.rrn"
    assert finding.evidence[0] == "checksum"
    assert finding.masked == "950615-2******"
    assert finding.value == "950615-2123454"


def test_post_reform_rrn_needs_context(find: Find) -> None:
    assert find("800101-1234567") == []
    (labelled,) = find("주민등록번호: 800101-1234567")
    assert labelled.type == "kr.rrn"
    assert "checksum-failed" in labelled.evidence
    assert "context:주민등록번호" in labelled.evidence


def test_post_reform_rrn_is_supported_by_a_validated_phone_on_its_row(find: Find) -> None:
    findings = find("이서연 800101-1234567 010-2345-6789")
    assert sorted(types_of(findings)) == ["kr.phone", "kr.rrn"]
    rrn = only(findings, "kr.rrn")[0]
    assert "row:kr.phone" in rrn.evidence


def test_merged_header_cells_of_an_html_table_give_column_context(find: Find) -> None:
    tree = html.parse(
        "<table><tr><td rowspan=2>순번</td><td colspan=2>면허/여권</td></tr>"
        "<tr><td>여권번호</td><td>운전면허번호</td></tr>"
        "<tr><td>1</td><td>M48153289</td><td>11-37-502310-96</td></tr></table>"
    )
    assert tree is not None
    findings = find(html.visible_text(tree))
    assert {(f.type, f.evidence[-1]) for f in findings} == {
        ("kr.passport", "column:여권번호"), ("kr.driver_license", "column:운전면허번호")
    }  # fmt: skip


def test_column_header_is_the_context_of_the_whole_column(find: Find) -> None:
    rows = "\n".join(
        f"{synthetic.hangul_name(rng)},{synthetic.rrn_post2020(rng)}"
        for rng in (random.Random(i) for i in range(20))
    )
    findings = find("성명,주민등록번호\n" + rows)
    assert len(only(findings, "kr.rrn")) == 20
    assert all("column:주민등록번호" in f.evidence for f in findings)


def test_a_short_caption_may_stand_between_header_and_rows(find: Find) -> None:
    text = (
        "格式：账号----密码----实名----卡号\n以下为样本：\n"
        "kr8362user@naver.com----qw284806!----송주원----5092-6819-7979-8399\n"
    )
    (card,) = find(text)
    assert card.evidence[:2] == ("checksum", "column:卡号")
    prose = "格式：账号----密码----实名----卡号\n" + "这是一段很长的说明文字，不是标题。" * 4 + "\n"
    assert (
        find(prose + "kr8362user@naver.com----qw284806!----송주원----5092-6819-7979-8399\n") == []
    )


def test_html_table_rows_get_column_context_too(find: Find) -> None:
    text = "이름\t여권번호\t비고\n김민준\tM70412358\t-\n이서연\tS123A4567\t-\n"
    findings = find(text)
    assert [f.masked for f in only(findings, "kr.passport")] == ["M******58", "S******67"]
    assert all("column:여권번호" in f.evidence for f in findings)


def test_bare_thirteen_digits_need_supporting_evidence(find: Find) -> None:
    assert find("9408121001751") == []  # could be a millisecond timestamp
    assert types_of(find("韩国 9408121001751")) == ["kr.rrn"]
    assert types_of(find("时间戳 9408121001751")) == []


def test_a_label_or_header_lifts_the_bare_penalty(find: Find) -> None:
    # Database dumps write RRNs without the hyphen; post-2020 ones fail the check digit.
    (labelled,) = find("주민등록번호 0005183123457")
    assert "bare" not in labelled.evidence
    (in_column,) = find("성명,주민번호\n김민준,0005183123457")
    assert in_column.evidence[:2] == ("checksum-failed", "column:주민번호")


def test_millisecond_timestamps_that_pass_the_rrn_check_are_not_rrns(find: Find) -> None:
    # 1712151234564 is 2024-04-03 in epoch milliseconds, and a checksum-valid RRN of
    # someone born 1917-12-15: a log line's phone must not vouch for it.
    assert types_of(find("login 1712151234564 김민준 010-3400-6940")) == ["kr.phone"]
    assert types_of(find('{"phone": "010-3400-6940", "created_at": 1712151234564}')) == ["kr.phone"]
    assert types_of(find("ts=1712151234564 phone=+82-10-2345-6789")) == ["kr.phone"]
    # The same digits after 2010 births are a child's number, not a timestamp.
    assert "timestamp" not in find("韩国 1712153234560")[0].evidence


def test_negative_label_suppresses(find: Find) -> None:
    assert find("订单号：800101-1234560") == []
    assert find("快递单号 010-2345-6789") == []


def test_corporate_registration_number_is_not_an_rrn(find: Find) -> None:
    assert find("법인등록번호 110111-1234560") == []


def test_impossible_numbers_are_never_listed(packs: tuple[Pack, ...]) -> None:
    everything = Detector(packs, Fingerprinter(b"k"), today=TODAY, min_confidence=0)
    assert only(everything.scan_text("t", "010229-3123456 800101-9234566"), "kr.rrn") == []


def test_arn_types(find: Find) -> None:
    assert types_of(find("외국인등록번호 911124-5678906")) == ["kr.arn"]
    assert types_of(find("850101-5******")) == ["kr.arn.masked"]
    assert types_of(find("800101-1******")) == ["kr.rrn.masked"]


def test_full_width_digits_and_dashes(find: Find) -> None:
    text = "前言\n身份证号：" + synthetic.fullwidth("960121-1021413") + "，韩国"
    (finding,) = find(text)
    assert finding.type == "kr.rrn"
    assert finding.value == "960121-1021413"
    assert (finding.line, finding.column) == (2, 6)


# -- phones and the Beijing trap -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "연락처 010-2345-6789",
        "+82 10 2345 6789",
        "韩国手机 0082-10-2345-6789",
        "(+82) 010-2345-6789",
        "김민준 010 2345 6789",
        "이름: 이서연, 전화: 010.2345.6789",
    ],
)
def test_korean_mobiles_in_every_form(find: Find, text: str) -> None:
    assert types_of(find(text)) == ["kr.phone"]


def test_beijing_context_makes_a_010_number_a_beijing_landline(find: Find) -> None:
    assert find("北京市朝阳区建国路88号 电话：010-6234-5678") == []


def test_bare_010_on_a_chinese_page_needs_korean_evidence(find: Find) -> None:
    page = "欢迎光临本店，我们提供优质的服务和产品。" * 20
    assert find(page + "\n联系电话：010-6234-5678\n") == []
    assert types_of(find(page + "\n김민준 联系电话：010-6234-5678\n")) == ["kr.phone"]
    assert types_of(find(page + "\n韩国客户 联系电话：010-6234-5678\n")) == ["kr.phone"]
    assert types_of(find(page + "\n联系电话：+82 10-6234-5678\n")) == ["kr.phone"]


def test_a_chinese_entry_is_not_vouched_for_by_a_korean_neighbour(find: Find) -> None:
    # A Beijing directory with one Korean contact: the Hangul line does not make its
    # neighbours Korean, however little Chinese the page has.
    findings = find("王经理（房屋中介） 010-78258999\n韩语翻译 联系人：오유진 手机 010-3011-7478\n")
    assert [f.masked for f in findings] == ["010-****-7478"]
    table = "성명\t휴대폰\n王芳\t010-5865-4718\n김민준\t010-3011-7478\n"
    assert [f.masked for f in find(table)] == ["010-****-7478"]


def test_two_beijing_numbers_on_one_row_do_not_vouch_for_each_other(find: Find) -> None:
    page = "欢迎光临本店，我们提供优质的服务和产品。" * 20
    assert find(page + "\n电话 010-6234-5678 传真 010-6234-5679\n") == []


def test_the_same_number_on_a_korean_page_is_korean(find: Find) -> None:
    page = "고객 여러분께 알려 드립니다. 문의 사항은 아래로 연락 주세요. " * 5
    assert types_of(find(page + "\n전화 010-6234-5678\n")) == ["kr.phone"]


def test_business_numbers_are_not_reported(find: Find) -> None:
    assert find("고객센터 1588-1234, 수신자부담 080-123-4567, 인터넷전화 070-1234-5678") == []


def test_a_landline_is_personal_only_under_a_personal_label_or_on_a_persons_row(
    find: Find,
) -> None:
    assert find("02-123-4567") == []
    # A shop's, hotel's or office's listed number is not personal data.
    assert find("전화번호 02-123-4567") == []
    assert find("酒店名称,电话\n首尔乐天酒店,02-771-1000\n新罗酒店,02-2233-3131\n") == []
    assert find("서울지사 대표전화 02-345-6789") == []
    # 자택, 宅电, home phone: a person's own line; a phone column on a row naming a person.
    assert types_of(find("자택 전화 02-123-4567")) == ["kr.phone"]
    assert types_of(find("宅电：031-234-5678")) == ["kr.phone"]
    assert types_of(find("Home phone: 051-234-5678")) == ["kr.phone"]
    assert types_of(find("성명,전화번호\n김민준,02-345-6789\n")) == ["kr.phone"]
    assert types_of(find("姓名,座机\n김민준,02-345-6789\n")) == ["kr.phone"]


# -- context-required types ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "value", "type_id"),
    [
        ("여권번호", "M70412358", "kr.passport"),
        ("护照号", "M123A4567", "kr.passport"),
        ("운전면허번호", "11-23-405817-62", "kr.driver_license"),
        ("면허번호", "서울 12-345679-80", "kr.driver_license"),
        ("사업자등록번호", "104-86-56659", "kr.brn"),
        ("카드번호", "9410-1234-5678-9010", "kr.card"),
        ("계좌번호", "110-234-567891", "kr.bank_account"),
        ("건강보험증번호", "51234567890", "kr.health_insurance"),
    ],
)
def test_context_required_types(find: Find, label: str, value: str, type_id: str) -> None:
    assert find(value) == []
    assert types_of(find(f"{label}: {value}")) == [type_id]


def test_the_label_decides_between_types_sharing_digits(find: Find) -> None:
    assert types_of(find("건강보험증번호 01023456789")) == ["kr.health_insurance"]
    assert types_of(find("계좌번호 01023456789")) == ["kr.bank_account"]
    assert types_of(find("휴대폰 01023456789")) == ["kr.phone"]


def test_a_label_belongs_to_the_nearest_number(find: Find) -> None:
    findings = find("身份证号：800101-1234560 010-2345-6789")
    assert sorted(types_of(findings)) == ["kr.phone", "kr.rrn"]
    phone = only(findings, "kr.phone")[0]
    assert not any(e.startswith("other:") for e in phone.evidence)


def test_label_on_the_line_above(find: Find) -> None:
    assert types_of(find("身份证号：\n800101-1234567")) == ["kr.rrn"]


@pytest.mark.parametrize(
    ("text", "type_id"),
    [("駕照號碼：13-11-347827-96", "kr.driver_license"),  # 駕照 + generic 號碼
     ("驾驶证号码 13-11-347827-96", "kr.driver_license"),
     ("Card number: 4518 4717 2507 0254", "kr.card"),  # a connector word, not a gap
     ("Account No: 1002-331-144111", "kr.bank_account"),  # title case
     ('"账号": "110-803-830691",', "kr.bank_account")],
)  # fmt: skip
def test_compound_and_english_labels(find: Find, text: str, type_id: str) -> None:
    assert types_of(find(text)) == [type_id]


@pytest.mark.parametrize(
    "text",
    ["bankAccount=1002331144111&x=1",  # a camel-case key
     '"acctNo":"1002331144111"',  # a JSON key
     "ACCOUNT NO: 1002-331-144111",  # upper case
     "이름,계좌번호\n김민준,1002331144111\n"],  # a column header
)  # fmt: skip
def test_labels_in_keys_cases_and_headers(find: Find, text: str) -> None:
    assert types_of(find(text)) == ["kr.bank_account"]


def test_a_header_far_above_still_names_its_column_in_a_later_chunk(find: Find) -> None:
    rows = "".join(f"김민준,{1002331140000 + i},{i}\n" for i in range(30_000))
    text = "이름,계좌번호,순번\n" + rows
    assert len(text) > 2 * engine.CHUNK_CHARS  # the header is in the first chunk only
    findings = find(text)
    assert len(findings) == 30_000
    assert set(types_of(findings)) == {"kr.bank_account"}


def test_a_login_under_zhanghao_is_a_phone_not_an_account(find: Find) -> None:
    text = "账号----密码----实名\n01023455793----pass1234----장서준\n"
    assert types_of(find(text)) == ["kr.phone"]


def test_records_of_an_extended_insert_vouch_for_each_other(find: Find) -> None:
    # One line, many tuples: a post-2020 number far along it still has its phone beside it.
    tuples = ",".join(f"({i},'800101-1234567','010-2345-{i:04d}')" for i in range(30))
    findings = find(f"INSERT INTO `members` VALUES {tuples};")
    rrns = only(findings, "kr.rrn")
    assert len(rrns) == 30
    assert all("row:kr.phone" in f.evidence for f in rrns)


def test_a_label_that_closed_the_line_above_is_taken(find: Find) -> None:
    # Labels after their values: the line above's label names its own value, not this one.
    findings = find("M21959441（护照）\n882-33-97716 사업자등록번호\n")
    assert types_of(findings) == ["kr.passport", "kr.brn"]
    assert findings[1].evidence[:2] == ("checksum", "context:사업자등록번호")


def test_min_confidence_zero_lists_every_validated_candidate(packs: tuple[Pack, ...]) -> None:
    everything = Detector(packs, Fingerprinter(b"k"), today=TODAY, min_confidence=0)
    findings = everything.scan_text("t", "M70412358")
    assert types_of(findings) == ["kr.passport"]
    assert findings[0].confidence < engine.DEFAULT_MIN_CONFIDENCE


def test_values_stay_out_unless_revealed(packs: tuple[Pack, ...]) -> None:
    hidden = Detector(packs, Fingerprinter(b"k"), today=TODAY)
    (finding,) = hidden.scan_text("t", "身份证号 800101-1234560 电话 010-2345-6789 김민준")[:1]
    assert finding.value is None
    assert "1234560" not in finding.masked + finding.context
    assert "2345" not in finding.context
    assert "민준" not in finding.context


# -- overlaps, streaming and hostile input --------------------------------------------------


def messy_text(rng: random.Random, lines: int) -> str:
    makers = [synthetic.rrn, synthetic.rrn_post2020, synthetic.arn, synthetic.mobile,
              synthetic.landline, synthetic.passport, synthetic.brn, synthetic.card,
              synthetic.health_insurance, synthetic.chinese_id, synthetic.ms_timestamp,
              synthetic.order_number, synthetic.isbn13, synthetic.beijing_number,
              synthetic.masked_rrn, synthetic.chinese_mobile]  # fmt: skip
    labels = ["身份证号：", "电话 ", "", "여권번호 ", "카드번호 ", "订单号 ", "계좌번호 ", "韩国 "]
    out = []
    for _ in range(lines):
        parts = [rng.choice(labels) + rng.choice(makers)(rng) for _ in range(rng.randint(1, 4))]
        out.append(rng.choice([" ", ",", "\t", "|"]).join(parts))
    return "\n".join(out)


def test_findings_never_overlap(packs: tuple[Pack, ...]) -> None:
    everything = Detector(packs, Fingerprinter(b"k"), today=TODAY, min_confidence=0)
    findings = everything.scan_text("t", messy_text(random.Random(7), 3000))
    assert len(findings) > 1000
    spans: dict[int, list[tuple[int, int]]] = {}
    for f in findings:
        spans.setdefault(f.line, []).append((f.column, f.column + len(f.masked)))
    for line_spans in spans.values():
        line_spans.sort()
        for (_, end), (start, _) in itertools.pairwise(line_spans):
            assert end <= start


def _scan_in_pieces(detector: Detector, text: str, rng: random.Random) -> list[Finding]:
    scan = detector.open("t")
    found: list[Finding] = []
    position = 0
    while position < len(text):
        size = rng.choice([1, 7, 1000, 65536, 400_000])
        found += scan.feed(text[position : position + size])
        position += size
    return found + scan.finish()


def _key(f: Finding) -> tuple[object, ...]:
    return (f.type, f.line, f.column, f.fingerprint, f.confidence, f.evidence)


def test_chunked_scan_equals_whole_scan_across_chunk_boundaries(detector: Detector) -> None:
    rng = random.Random(3)
    filler = "这是一段普通的中文说明，没有任何号码。" * 16
    text = "\n".join(filler + line for line in messy_text(rng, 7_000).split("\n"))
    assert len(text) > 2 * engine.CHUNK_CHARS
    whole = detector.scan_text("t", text)
    pieces = _scan_in_pieces(detector, text, rng)
    assert [_key(f) for f in pieces] == [_key(f) for f in whole]


def test_a_giant_line_is_cut_with_overlap_and_loses_nothing(detector: Detector) -> None:
    rng = random.Random(5)
    values = [synthetic.rrn(rng) for _ in range(8000)]
    filler = "韩国身份证号码列表，" + "这是一段很长的说明文字，" * 20
    line = "".join(f"{filler}{value}；" for value in values)
    assert "\n" not in line
    assert len(line) > 2 * engine.CHUNK_CHARS
    findings = _scan_in_pieces(detector, line, rng)
    assert [f.value for f in findings] == values
    assert {f.line for f in findings} == {1}
    # Columns count from the real line start, across every cut.
    step = len(filler) + len(values[0]) + 1
    assert [f.column for f in findings] == [i * step + len(filler) + 1 for i in range(len(values))]


@pytest.mark.timeout(120)
def test_megabytes_of_digits_and_dashes_on_one_line_finish(detector: Detector) -> None:
    rng = random.Random(11)
    hostile = "".join(rng.choice("0123456789-- ") for _ in range(3_000_000))
    started = time.perf_counter()
    findings = detector.scan_text("t", hostile)
    elapsed = time.perf_counter() - started
    assert isinstance(findings, list)
    print(f"3 MB of digits and dashes: {elapsed:.1f} s, {len(findings)} findings")


@pytest.mark.timeout(120)
def test_a_catastrophic_regex_in_a_user_pack_runs_in_linear_time(tmp_path: Path) -> None:
    # (\d+)+- backtracks exponentially in Python's re on a long run of digits with no '-'.
    pack = tmp_path / "evil.toml"
    pack.write_text(
        """
[pack]
id = "ev"
country = "EV"
name = "Evil"
[[patterns]]
id = "ev.evil"
label = "evil"
severity = "low"
regex = '(?:[0-9]+)+x'
validator = "digits"
examples.match = ["123x"]
examples.no_match = ["123"]
""",
        encoding="utf-8",
    )
    detector = Detector(load_packs([pack], builtin=False), Fingerprinter(b"k"), today=TODAY)
    findings = detector.scan_text("t", "1" * 2_000_000 + "-" + "2" * 1_000_000)
    assert findings == []


def test_evidence_on_neighbouring_lines_survives_a_chunk_cut(detector: Detector) -> None:
    # A record block (name on one line, a Beijing-looking 010 phone on the next) slid across
    # the place where the text is cut: the name must vouch for the phone at every position.
    line = "这是一段普通的中文说明文字，没有号码。\n"
    block = "姓名：김민준\n联系电话：010-2345-6789\n"
    total = engine.CHUNK_CHARS + 4 * engine.CONTEXT_CHARS
    for shift in range(0, 3 * engine.CONTEXT_CHARS, 173):
        head = (engine.CHUNK_CHARS - engine.CONTEXT_CHARS - shift) // len(line)
        text = line * head + block + line * ((total - head * len(line)) // len(line))
        found = [f for f in detector.scan_text("t", text) if f.type == "kr.phone"]
        assert [f.line for f in found] == [head + 2], shift


@pytest.mark.timeout(120)
def test_a_long_dump_with_several_identifiers_per_row(detector: Detector) -> None:
    # Every row holds three identifiers under one header far above: each must find its
    # column without walking up the table again (that walk made this quadratic once).
    rng = random.Random(9)
    rows = [
        f"{synthetic.hangul_name(rng)},{synthetic.rrn_post2020(rng)},"
        f"{synthetic.mobile(rng, 'hyphen')},{synthetic.passport(rng)}"
        for _ in range(20_000)
    ]
    findings = detector.scan_text("t", "성명,주민등록번호,휴대폰,여권번호\n" + "\n".join(rows))
    assert len(findings) == 60_000
    assert all(any(e.startswith("column:") for e in f.evidence) for f in findings)


@pytest.mark.timeout(120)
def test_compact_records_on_one_giant_line(detector: Detector) -> None:
    # Windows merge into one spanning the line; offsets inside it must still map in linear
    # time, and the digits of one record must not read as context of the next (`…-0086`).
    rng = random.Random(3)
    records = [(synthetic.rrn(rng), synthetic.mobile(rng, "hyphen")) for _ in range(8000)]
    line = "".join(f"{synthetic.hangul_name(rng)},{a},{b};" for a, b in records)
    values = {f.value for f in detector.scan_text("t", line)}
    assert values == {v for record in records for v in record}


def test_many_clusters_each_on_their_own_line(detector: Detector) -> None:
    text = "\n".join(f"{i:08d}" for i in range(200_000))
    assert detector.scan_text("t", text) == []


def test_a_label_over_a_long_enumeration_names_every_value(find: Find) -> None:
    rng = random.Random(12)
    text = "护照号码：" + "、".join(synthetic.passport(rng) for _ in range(8))
    assert types_of(find(text)) == ["kr.passport"] * 8


def test_a_lists_header_never_reaches_a_prose_line_at_the_end_of_a_file(find: Find) -> None:
    rng = random.Random(13)
    listed = "\n".join(synthetic.rrn(rng).replace("-", "") for _ in range(10))
    tail = f"참고로 결제 건 {synthetic.rrn_post2020(rng).replace('-', '')} 은 환불되었습니다"
    assert len(find(f"주민등록번호\n{listed}\n{tail}")) == 10  # no final newline


def test_a_comma_in_a_column_comment_does_not_shift_the_columns(find: Find) -> None:
    # Found in review: `COMMENT 'memo, free text'` made an extra column.
    dump = (
        "CREATE TABLE `members` (\n  `id` int NOT NULL,\n"
        "  `note` varchar(50) COMMENT 'memo, free text',\n  `name` varchar(20),\n"
        "  `phone` varchar(20),\n  `jumin` varchar(14)\n);\n"
        "INSERT INTO `members` VALUES (1,'x','김민준','010-2345-6789','1701104123456');\n"
    )
    rrns = [f for f in find(dump) if f.type == "kr.rrn"]
    assert [e for e in rrns[0].evidence if e.startswith("column:")] == ["column:jumin"]


def test_a_string_holding_a_tuple_break_does_not_shift_the_columns(find: Find) -> None:
    # A known gap until now: `'a),(b'` in a value was taken for the start of a tuple, and the
    # values after it were named by the wrong column.
    dump = (
        "INSERT INTO `members` (`id`, `note`, `name`, `jumin`) VALUES "
        "(1,'a),(b','김민준','1701104123456'),(2,'it''s),(x','이서연','1702204123450');\n"
    )
    rrns = [f for f in find(dump) if f.type == "kr.rrn"]
    assert len(rrns) == 2
    for rrn in rrns:
        assert [e for e in rrn.evidence if e.startswith("column:")] == ["column:jumin"]
