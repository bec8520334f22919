"""When a page says it was published: a case's year is its published date when it declares one.

Sources, most reliable first: `article:published_time` and similar `<meta>`, JSON-LD
`datePublished`, `<time datetime>`, a Telegram export's message dates (the `title` of an HTML
export's date div, `"date"` in `result.json`), then visible lines such as `发布时间：2023-05-12`,
`发表于 2023-5-12 10:21`, `작성일 2023.05.12`. A forum thread carries one date per post; the
first is the thread's. Dates before 1990 or after tomorrow are ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from selectolax.lexbor import LexborHTMLParser

_META_KEYS = (
    "article:published_time", "og:published_time", "datepublished", "pubdate", "publishdate",
    "publish-date", "publish_date", "dc.date.issued", "dc.date", "dcterms.created", "date",
    "sailthru.date", "parsely-pub-date",
)  # fmt: skip
_LABELS = (
    "发布时间", "發佈時間", "發布時間", "发表时间", "發表時間", "发表于", "發表於", "发布于",
    "發佈於", "發布於", "发布日期", "發布日期", "發佈日期", "发帖时间", "發帖時間",
    "작성일자", "작성일", "등록일", "게시일", "작성시간", "등록일자",
    "Posted on", "Published on", "Published", "Posted",
)  # fmt: skip
# Only when no publication label is found: an update time, or a date of unknown meaning.
_FALLBACK_LABELS = ("更新时间", "更新時間", "日期", "時間", "Updated", "Date")
_DATE = (
    r"\s{0,3}[:：]?\s{0,3}"
    r"(\d{4})\s{0,2}[-/.年]\s{0,2}(\d{1,2})\s{0,2}[-/.月]\s{0,2}(\d{1,2})日?"
    r"(?:\s{1,3}(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)


def _labelled_date(labels: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(
        "(?:" + "|".join(re.escape(label) for label in labels) + ")" + _DATE, re.IGNORECASE
    )


_VISIBLE = (_labelled_date(_LABELS), _labelled_date(_FALLBACK_LABELS))
_EARLIEST = dt.date(1990, 1, 1)
VISIBLE_SCAN = 200_000  # characters of visible text searched for a date line


@dataclass(frozen=True, slots=True)
class Published:
    """A declared publication date (ISO 8601) and where it was found."""

    value: str
    source: str

    @property
    def year(self) -> int:
        return int(self.value[:4])


def from_html(tree: LexborHTMLParser, text: str, today: dt.date) -> Published | None:
    """The published date of an HTML page, from markup first, then its visible text."""
    for found in _markup_dates(tree):
        parsed = parse_datetime(found.value, today)
        if parsed:
            return Published(parsed, found.source)
    return from_text(text, today)


def from_text(text: str, today: dt.date) -> Published | None:
    """The first date line labelled as a publication date in visible text, else the first
    date under a vaguer label (update time, "date"). A Telegram JSON export's first message
    date comes first: each message is a post."""
    if _TELEGRAM_JSON.search(text, 0, VISIBLE_SCAN):
        stamp = _TELEGRAM_DATE.search(text, 0, VISIBLE_SCAN)
        if stamp is not None:
            parsed = parse_datetime(stamp.group(1), today)
            if parsed:
                return Published(parsed, "telegram")
    for regex in _VISIBLE:
        found = _first_date(regex, text, today)
        if found is not None:
            return found
    return None


def _first_date(regex: re.Pattern[str], text: str, today: dt.date) -> Published | None:
    for match in regex.finditer(text, 0, VISIBLE_SCAN):
        if _inside_word(text, match.start()):
            continue  # 出生日期 (birth date), 下单日期 (order date), update: ...
        year, month, day, hour, minute, second = match.groups()
        try:
            when = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                               int(second or 0))  # fmt: skip
        except ValueError:
            continue
        if not _plausible(when.date(), today):
            continue
        value = when.isoformat() if hour else when.date().isoformat()
        label = match.group().split(year, 1)[0].strip(" :：")
        return Published(value, "text:" + label)
    return None


def _inside_word(text: str, start: int) -> bool:
    """The label continues a longer word: a Han character or a Latin letter before it."""
    if start == 0:
        return False
    before = text[start - 1]
    return "\u4e00" <= before <= "\u9fff" or (before.isascii() and before.isalpha())


def parse_datetime(value: str, today: dt.date) -> str | None:
    """An ISO 8601 form of a machine-readable date, or None if unreadable or implausible."""
    value = value.strip()
    if not value:
        return None
    candidate = value.replace("Z", "+00:00").replace("/", "-")
    if " " in candidate and "T" not in candidate:
        candidate = candidate.replace(" ", "T", 1)
    try:
        when = dt.datetime.fromisoformat(candidate)
    except ValueError:
        match = re.match(r"(\d{4})-(\d{1,2})-(\d{1,2})", candidate)
        if not match:
            return None
        try:
            when = dt.datetime(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
        candidate = when.date().isoformat()
    if not _plausible(when.date(), today):
        return None
    has_time = "T" in candidate
    return when.isoformat() if has_time else when.date().isoformat()


def _plausible(day: dt.date, today: dt.date) -> bool:
    return _EARLIEST <= day <= today + dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Found:
    value: str
    source: str


def _markup_dates(tree: LexborHTMLParser) -> Iterator[_Found]:
    metas = {}
    for meta in tree.css("meta"):
        attrs = meta.attributes
        key = (attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or "").lower()
        content = attrs.get("content")
        if key in _META_KEYS and content and key not in metas:
            metas[key] = content
    for key in _META_KEYS:
        if key in metas:
            yield _Found(metas[key], "meta:" + key)
    for script in tree.css('script[type="application/ld+json"]'):
        for value in _json_ld_dates(script.text(deep=True)):
            yield _Found(value, "json-ld")
    for node in tree.css("[itemprop=datePublished]"):
        stamp = node.attributes.get("datetime") or node.attributes.get("content")
        if stamp:
            yield _Found(stamp, "microdata")
    for node in tree.css("time[datetime]"):
        stamp = node.attributes.get("datetime")
        if stamp:
            yield _Found(stamp, "time")
    # A Telegram Desktop HTML export: each message's time is the title of its date div.
    for node in tree.css("div.date.details[title]"):
        stamp = _telegram_title(node.attributes.get("title") or "")
        if stamp:
            yield _Found(stamp, "telegram")
            break


_TELEGRAM_TITLE = re.compile(
    r"(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}):(\d{2})(?: UTC([+-]\d{2}):(\d{2}))?"
)
# A Telegram Desktop JSON export (`result.json`): messages with ISO `"date"` fields.
_TELEGRAM_JSON = re.compile(r'"messages"\s*:\s*\[')
_TELEGRAM_DATE = re.compile(r'"date"\s*:\s*"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})"')


def _telegram_title(title: str) -> str | None:
    """`03.02.2024 14:22:11 UTC+08:00` (day first) as ISO 8601."""
    match = _TELEGRAM_TITLE.fullmatch(title.strip())
    if match is None:
        return None
    day, month, year, hour, minute, second, zone_hours, zone_minutes = match.groups()
    stamp = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    return stamp + (f"{zone_hours}:{zone_minutes}" if zone_hours else "")


def _json_ld_dates(raw: str) -> Iterator[str]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return
    stack: list[Any] = [data]
    seen = 0
    while stack and seen < 10_000:
        item = stack.pop()
        seen += 1
        if isinstance(item, dict):
            value = item.get("datePublished")
            if isinstance(value, str):
                yield value
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
