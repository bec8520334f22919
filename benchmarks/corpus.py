"""Seeded synthetic corpus for the detection benchmark: Chinese prose, look-alikes, Korean IDs.

Each line is prose built from a vocabulary of a few hundred common Chinese words with Chinese
punctuation, 40-200 characters long (a few shorter headings and longer paragraphs). About a
quarter of the lines carry one number that looks like an identifier but is not one (timestamps,
Chinese ID cards and mobiles, order numbers, prices, ISBNs, dates, Beijing landlines, bare
10-13 digit numbers); about 1% carry one or more synthetic Korean identifiers behind a
realistic label. Every identifier comes from `tests/synthetic.py`: nothing here is real.

The corpus is streamed to disk in batches of lines, never built in memory whole, and the
same seed and size always give the same bytes (for a given Python version). A JSON sidecar
next to the file records its composition, so a later run can reuse the file.

    python benchmarks/corpus.py --mb 200 --seed 1        # writes benchmarks/.data/...
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import synthetic  # noqa: E402

DATA = Path(__file__).resolve().parent / ".data"
MB = 1_000_000  # sizes and throughput are in decimal megabytes throughout
GENERATOR_VERSION = 1  # bump when the output for a given seed changes
LOOKALIKE_SHARE = 0.25
KOREAN_SHARE = 0.01
BATCH_LINES = 2000

# A few hundred common words and characters of everyday Chinese web prose (news, shops,
# forums): nouns, verbs, adjectives, measure words and function words.
VOCABULARY = """
我们 你们 他们 大家 自己 这个 那个 这些 那些 什么 怎么 为什么 因为 所以 但是 而且 如果 虽然 然后
已经 正在 可以 应该 需要 能够 还是 或者 就是 只是 不过 其实 当然 一直 一起 一些 一样 一般 非常 比较
特别 十分 更加 最近 现在 今天 明天 昨天 今年 去年 时候 时间 以后 以前 之后 之前 同时 目前 当时 最后
开始 结束 继续 发展 提高 增加 减少 进行 完成 实现 建设 管理 服务 工作 生活 学习 研究 问题 情况 方面
方法 方式 过程 结果 原因 影响 作用 关系 条件 环境 社会 经济 文化 历史 政治 科学 技术 教育 健康 安全
市场 企业 公司 产品 价值 质量 品牌 客户 用户 会员 平台 网站 网络 手机 电脑 软件 数据 信息 系统 功能
中国 国家 地区 城市 农村 北方 南方 世界 国际 全国 本地 当地 上海 广州 深圳 杭州 成都 武汉 南京 西安
政府 部门 单位 学校 医院 银行 商店 超市 餐厅 酒店 公园 车站 机场 图书馆 博物馆 小区 街道 道路 交通
孩子 学生 老师 父母 朋友 家人 同事 老板 员工 专家 记者 医生 作者 读者 游客 居民 群众 消费者 志愿者
东西 事情 地方 办法 机会 能力 水平 标准 规定 政策 计划 项目 活动 比赛 会议 报告 新闻 文章 内容 消息
看到 听到 知道 觉得 认为 希望 喜欢 相信 发现 了解 表示 介绍 告诉 参加 准备 选择 决定 支持 帮助 保护
购买 使用 推荐 分享 下载 上传 注册 登录 咨询 预订 发货 收到 退款 评价 关注 点赞 转发 评论 回复 留言
重要 主要 基本 简单 复杂 方便 容易 困难 清楚 明显 正常 普通 传统 现代 新的 旧的 好的 大的 小的 多的
漂亮 干净 舒服 便宜 实惠 满意 优质 专业 免费 正品 新鲜 美味 热情 耐心 认真 仔细 及时 快速 稳定 可靠
天气 温度 春天 夏天 秋天 冬天 早上 中午 晚上 周末 假期 节日 春节 国庆 旅游 风景 美食 咖啡 茶叶 水果
衣服 鞋子 包包 化妆品 家具 电器 手表 相机 耳机 书籍 玩具 礼物 套餐 优惠 折扣 活动价 包邮 售后 质保
的 了 在 是 和 有 也 都 就 还 又 很 太 更 最 把 被 让 给 对 从 向 到 为 与 及 等 着 过 吗 呢 吧 啊
个 件 种 次 位 名 家 本 张 条 台 辆 份 批 些 点 年 月 日 天 号 里 上 下 中 内 外 前 后 左 右
进一步 总的来说 一方面 另一方面 不仅如此 事实上 据了解 据报道 值得一提的是 需要注意的是 与此同时
"""
WORDS = VOCABULARY.split()
# Small numbers are part of ordinary prose (3天, 第2名, 50%); too short to be identifiers.
SMALL_NUMBERS = [
    "3天",
    "第2名",
    "50%",
    "2个月",
    "100多",
    "15分钟",
    "30元",
    "第1次",
    "8点",
    "2024年",
]
# After each word: usually nothing, sometimes a comma, enumeration comma, colon or full stop.
SEPARATORS = ["", "，", "、", "：", "。", "！", "？"]
SEPARATOR_WEIGHTS = [78, 11, 3, 1, 6, 0.5, 0.5]
AVERAGE_WORD_CHARS = sum(map(len, WORDS)) / len(WORDS)


def line_length(rng: random.Random) -> int:
    """Characters of prose on a line: mostly 40-200, a few headings and long paragraphs."""
    roll = rng.random()
    if roll < 0.05:
        return rng.randint(8, 39)
    if roll < 0.95:
        return rng.randint(40, 200)
    return rng.randint(201, 500)


def prose(rng: random.Random, chars: int) -> list[str]:
    """About `chars` characters of Chinese prose, as a list of word-plus-punctuation pieces."""
    count = max(2, round(chars / (AVERAGE_WORD_CHARS + 0.25)))
    words = rng.choices(WORDS, k=count)
    if rng.random() < 0.15:
        words[rng.randrange(count)] = rng.choice(SMALL_NUMBERS)
    seps = rng.choices(SEPARATORS, SEPARATOR_WEIGHTS, k=count)
    seps[-1] = "。"
    return [w + s for w, s in zip(words, seps, strict=True)]


# -- look-alikes: numbers a Korean-identifier detector must NOT report ------------------------


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(rng.choices("0123456789", k=n - 1))


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(2015, 2026), rng.randint(1, 12), rng.randint(1, 28)
    hh, mm, ss = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    return rng.choice(
        [
            f"{y}-{m:02d}-{d:02d}",
            f"{y}年{m}月{d}日",
            f"{y}/{m:02d}/{d:02d} {hh:02d}:{mm:02d}:{ss:02d}",
            f"{y}{m:02d}{d:02d}",
            f"{y}.{m:02d}.{d:02d}",
        ]
    )


def _isbn(rng: random.Random) -> str:
    digits = synthetic.isbn13(rng)
    if rng.random() < 0.5:
        return f"{digits[:3]}-{digits[3]}-{digits[4:7]}-{digits[7:12]}-{digits[12]}"
    return digits


def _price(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return synthetic.price(rng)
    return f"¥{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}"


Lookalike = tuple[tuple[str, ...], Callable[[random.Random], str]]
LOOKALIKES: dict[str, Lookalike] = {
    "ms_timestamp": (("时间戳：", "timestamp=", "更新于 ", ""), synthetic.ms_timestamp),
    "chinese_id": (("身份证号：", "身份证号码 ", "证件号码：", ""), synthetic.chinese_id),
    "chinese_mobile": (("手机：", "联系电话：", "手机号 ", "电话", ""), synthetic.chinese_mobile),
    "order_number": (("订单号：", "订单号 ", "订单编号："), synthetic.order_number),
    "price": (("价格：", "售价 ", "仅需", "原价"), _price),
    "isbn": (("ISBN ", "ISBN：", "书号 "), _isbn),
    "date": (("发布时间：", "日期：", "于", ""), _date),
    "beijing_landline": (
        ("北京 电话：", "电话：", "联系电话 ", "北京市朝阳区 "),
        synthetic.beijing_number,
    ),
    "digits_13": (("编号：", "流水号 ", ""), lambda r: _digits(r, 13)),
    "digits_12": (("编号：", "单号 ", ""), lambda r: _digits(r, 12)),
    "digits_11": (("编号：", "条码 ", ""), lambda r: _digits(r, 11)),
    "digits_10": (("编号：", "序列号 ", ""), lambda r: _digits(r, 10)),
}


def lookalike(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(list(LOOKALIKES))
    labels, make = LOOKALIKES[kind]
    return kind, rng.choice(labels) + make(rng)


# -- Korean identifiers (synthetic) ----------------------------------------------------------


def _maybe_fullwidth(rng: random.Random, value: str) -> str:
    return synthetic.fullwidth(value) if rng.random() < 0.05 else value


def _bank(rng: random.Random) -> str:
    bank, number = synthetic.bank_account(rng)
    return f"开户行：{bank} 账号：{number}"


def _record(rng: random.Random) -> tuple[list[str], str]:
    """One person per line, the way dumps are pasted: name, RRN, phone (sometimes address)."""
    name = synthetic.hangul_name(rng)
    rrn = synthetic.rrn(rng) if rng.random() < 0.8 else synthetic.rrn_post2020(rng)
    phone = synthetic.mobile(rng, rng.choice(["hyphen", "plain", "intl-dash"]))
    sep = rng.choice(["|", ",", "----", " "])
    if sep == " ":
        text = f"姓名：{name} 身份证号：{rrn} 手机：{phone}"
    else:
        text = sep.join([name, rrn, phone, rng.choice(["서울시 강남구", "부산광역시", "韩国首尔"])])
    return ["rrn", "phone"], text


# kind -> (weight, labels, generator). Labels are how these numbers are introduced on
# Chinese-language pages that expose or sell Korean data.
KoreanKind = tuple[float, tuple[str, ...], Callable[[random.Random], str]]
_RRN_LABELS = (
    "身份证号：",
    "韩国身份证号 ",
    "주민등록번호: ",
    "居民登录号：",
    "身份证 ",
    "주민번호 ",
)
_PHONE_LABELS = (
    "手机：",
    "韩国手机号 ",
    "电话：",
    "연락처: ",
    "휴대폰 ",
    "韩国 联系电话 ",
    "tel: ",
)
KOREAN: dict[str, KoreanKind] = {
    "rrn": (20, _RRN_LABELS, synthetic.rrn),
    "rrn_post2020": (5, ("身份证号：", "주민등록번호: ", "韩国身份证 "), synthetic.rrn_post2020),
    "arn": (5, ("外国人登录号：", "외국인등록번호 ", "韩国居留证 "), synthetic.arn),
    "phone": (22, _PHONE_LABELS, synthetic.mobile),
    "legacy_mobile": (2, ("手机：", "휴대폰 "), synthetic.legacy_mobile),
    "landline": (3, ("韩国首尔 电话：", "전화번호 ", "韩国 座机 "), synthetic.landline),
    "passport": (
        8,
        ("护照号：", "护照号 ", "여권번호: ", "韩国护照 ", "Passport No. "),
        synthetic.passport,
    ),
    "driver_license": (4, ("驾照号：", "운전면허번호 ", "韩国驾驶证 "), synthetic.driver_license),
    "brn": (3, ("营业执照号：", "사업자등록번호 "), synthetic.brn),
    "card": (4, ("卡号：", "信用卡 ", "카드번호 "), synthetic.card),
    "health_insurance": (2, ("健康保险号 ", "건강보험증번호 "), synthetic.health_insurance),
    "masked_rrn": (8, ("样本：", "身份证号：", "주민번호 ", "韩国料 样例 "), synthetic.masked_rrn),
    "masked_mobile": (4, ("手机：", "样本 ", "연락처 "), synthetic.masked_mobile),
}
KOREAN_BANK_WEIGHT = 2
KOREAN_RECORD_WEIGHT = 8


def korean(rng: random.Random) -> tuple[list[str], str]:
    """(kinds planted, text with labels) for one Korean-identifier insertion."""
    kinds = [*KOREAN, "bank_account", "record"]
    weights = [w for w, _, _ in KOREAN.values()] + [KOREAN_BANK_WEIGHT, KOREAN_RECORD_WEIGHT]
    kind = rng.choices(kinds, weights)[0]
    if kind == "bank_account":
        return [kind], _bank(rng)
    if kind == "record":
        return _record(rng)
    _, labels, make = KOREAN[kind]
    return [kind], rng.choice(labels) + _maybe_fullwidth(rng, make(rng))


# -- the file ---------------------------------------------------------------------------------


def make_line(rng: random.Random) -> tuple[str, list[str]]:
    """One line of the corpus and what was planted in it (composition tags)."""
    pieces = prose(rng, line_length(rng))
    roll = rng.random()
    inserted = None
    tags: list[str] = []
    if roll < KOREAN_SHARE:
        kinds, inserted = korean(rng)
        tags = ["lines.korean", *("korean." + kind for kind in kinds)]
    elif roll < KOREAN_SHARE + LOOKALIKE_SHARE:
        kind, inserted = lookalike(rng)
        tags = ["lines.lookalike", "lookalike." + kind]
    if inserted is not None:
        at = rng.randint(0, len(pieces) - 1)
        # After a word the insertion reads `…，手机：010-…，…`; at the start it opens the line.
        glue = "" if at == 0 or pieces[at - 1][-1:] in "，。：、！？" else "，"
        pieces.insert(at, glue + inserted + "，")
    return "".join(pieces) + "\n", tags


def dense_line(rng: random.Random) -> tuple[str, list[str]]:
    """A line of the dense prose corpus: as `make_line`, but a look-alike line holds one to
    three look-alike numbers (the denser pages the prose target must also hold on)."""
    pieces = prose(rng, line_length(rng))
    roll = rng.random()
    inserted: list[str] = []
    tags: list[str] = []
    if roll < KOREAN_SHARE:
        kinds, text = korean(rng)
        inserted.append(text)
        tags = ["lines.korean", *("korean." + kind for kind in kinds)]
    elif roll < KOREAN_SHARE + LOOKALIKE_SHARE:
        tags = ["lines.lookalike"]
        for _ in range(rng.randint(1, 3)):
            kind, text = lookalike(rng)
            inserted.append(text)
            tags.append("lookalike." + kind)
    for text in inserted:
        at = rng.randint(0, len(pieces) - 1)
        glue = "" if at == 0 or pieces[at - 1][-1:] in "，。：、！？" else "，"
        pieces.insert(at, glue + text + "，")
    return "".join(pieces) + "\n", tags


DUMP_HEADER = "성명,주민등록번호,휴대폰,주소\n"


def dump_line(rng: random.Random) -> tuple[str, list[str]]:
    """One customer of a leaked CSV dump: the dense case (every line holds identifiers)."""
    rrn = synthetic.rrn(rng) if rng.random() < 0.8 else synthetic.rrn_post2020(rng)
    phone = synthetic.mobile(rng, rng.choice(["hyphen", "plain"]))
    address = rng.choice(["서울특별시 강남구", "부산광역시 해운대구", "인천광역시 남동구"])
    line = f"{synthetic.hangul_name(rng)},{rrn},{phone},{address} {rng.randint(1, 999)}\n"
    return line, ["lines.korean", "korean.rrn", "korean.phone"]


def paths(seed: int, mb: int, kind: str = "prose") -> tuple[Path, Path]:
    stem = f"corpus-seed{seed}-{mb}mb" if kind == "prose" else f"{kind}-seed{seed}-{mb}mb"
    return DATA / f"{stem}.txt", DATA / f"{stem}.json"


def generate(
    seed: int, mb: int, *, kind: str = "prose", progress: bool = True
) -> tuple[Path, dict[str, object]]:
    """Write the corpus (or reuse an existing one with the same seed, size and version).

    `kind` "prose": Chinese prose with look-alikes and sparse Korean identifiers (the issue's
    benchmark); "dense-prose": the same with one to three look-alikes on each look-alike
    line; "dump": a CSV dump of Korean customers, identifiers on every line.
    """
    path, sidecar = paths(seed, mb, kind)
    make = {"prose": make_line, "dense-prose": dense_line, "dump": dump_line}[kind]
    if path.exists() and sidecar.exists():
        meta = json.loads(sidecar.read_text())
        if meta.get("version") == GENERATOR_VERSION and meta.get("bytes") == path.stat().st_size:
            meta["reused"] = True
            return path, meta
    DATA.mkdir(parents=True, exist_ok=True)
    target = mb * MB
    rng = random.Random(seed)
    stats: Counter[str] = Counter()
    written = lines = chars = 0
    started = time.perf_counter()
    reported = 0
    partial = path.with_name(path.name + ".part")
    with partial.open("wb") as out:
        if kind == "dump":
            header = DUMP_HEADER.encode("utf-8")
            out.write(header)
            written, lines, chars = len(header), 1, len(DUMP_HEADER)
        while written < target:
            batch = [make(rng) for _ in range(BATCH_LINES)]
            data = "".join(text for text, _ in batch).encode("utf-8")
            if written + len(data) > target:  # keep only the lines that fit the target size
                room = target - written
                kept = 0
                for text, _ in batch:
                    size = len(text.encode("utf-8"))
                    if size > room:
                        break
                    room -= size
                    kept += 1
                batch = batch[:kept]
                data = "".join(text for text, _ in batch).encode("utf-8")
                if not batch:
                    break
            out.write(data)
            written += len(data)
            lines += len(batch)
            for text, tags in batch:
                chars += len(text)
                stats.update(tags)
            if progress and written - reported >= 100 * MB:
                reported = written
                print(f"  generating {path.name}: {written // MB} / {mb} MB", file=sys.stderr)
    partial.replace(path)
    meta: dict[str, object] = {
        "version": GENERATOR_VERSION,
        "kind": kind,
        "seed": seed,
        "mb": mb,
        "bytes": written,
        "lines": lines,
        "chars": chars,
        "composition": dict(sorted(stats.items())),
        "generation_seconds": round(time.perf_counter() - started, 1),
        "python": sys.version.split()[0],
        "reused": False,
    }
    sidecar.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    return path, meta


def describe(meta: dict[str, object]) -> str:
    """The corpus composition as a few printable lines."""
    composition = meta["composition"]
    assert isinstance(composition, dict)
    lines = int(meta["lines"])  # type: ignore[call-overload]
    size = int(meta["bytes"])  # type: ignore[call-overload]
    chars = int(meta["chars"])  # type: ignore[call-overload]

    def share(n: int) -> str:
        return f"{n:,} ({100 * n / lines:.2f}% of lines)"

    def kinds(prefix: str) -> str:
        items = [(k.split(".", 1)[1], v) for k, v in composition.items() if k.startswith(prefix)]
        return ", ".join(f"{k} {v:,}" for k, v in sorted(items, key=lambda kv: -kv[1]))

    korean = sum(v for k, v in composition.items() if k.startswith("korean."))
    how = "reused" if meta.get("reused") else f"generated in {meta['generation_seconds']} s"
    return "\n".join(
        [
            f"corpus: seed {meta['seed']}, {size / MB:,.1f} MB, {lines:,} lines, "
            f"{chars:,} characters ({size / chars:.2f} bytes/char, "
            f"{chars / lines:.0f} chars/line), {how}",
            f"  look-alike lines: {share(composition.get('lines.lookalike', 0))}",
            f"    {kinds('lookalike.')}",
            f"  Korean-identifier lines: {share(composition.get('lines.korean', 0))}, "
            f"{korean:,} identifiers planted",
            f"    {kinds('korean.')}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--mb", type=int, default=200, help="size in MB of 10^6 bytes (200)")
    parser.add_argument(
        "--dense-prose", action="store_true", help="one to three look-alikes per look-alike line"
    )
    args = parser.parse_args(argv)
    path, meta = generate(args.seed, args.mb, kind="dense-prose" if args.dense_prose else "prose")
    print(path)
    print(describe(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
