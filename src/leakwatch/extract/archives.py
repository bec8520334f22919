"""Web archive files (WARC, ARC, WET): each capture of a page, as a document to scan.

The pages of past years are gone from the live web; archives keep them, with the instant of
each capture (`WARC-Date`). A `response` record with a 2xx status and a text type is one
page as it was fetched, HTTP headers and all; a WET `conversion` record is one page's text; a
`revisit` record says a URL was captured again with the same payload (no body).

One reader, warcio, behind this small interface (`is_archive`, `read_archive`): it is pure
Python, reads WARC, ARC and WET, gzipped per record (as Common Crawl writes them) or not, and
streams: a record's body is read, handed on and dropped, so memory stays flat whatever the
archive's size. See docs/scanning.md "Web archive files" for why warcio and not FastWARC.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gzip
import io
import logging
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from leakwatch.errors import InputError
from leakwatch.models import Capture, FetchInfo, Recaptured

_MAGIC_GZIP = b"\x1f\x8b"
_HEADS = (b"WARC/", b"filedesc://")
_TEXT_TYPES = ("text/", "application/xhtml+xml", "application/json", "application/xml")
MAX_RECORD_BYTES = 20 << 20  # a record's body beyond this is cut (and said)
MAX_MEMBER_BYTES = 100 << 20  # a shard's record (one gzip member) is read whole up to this
MAX_MEMBER_TEXT = 256 << 20  # decompressed, when checking where records begin


@dataclass(frozen=True, slots=True)
class ArchivedPage:
    """A page as the archive captured it: its URL, the HTTP status and type it was served
    with, and its body (the HTTP payload, de-chunked and decompressed)."""

    url: str
    capture: Capture
    status: int
    media_type: str | None
    charset: str | None
    body: bytes
    truncated: bool
    converted: bool = False  # a WET conversion record: extracted text, not the page

    def fetch_info(
        self, target: str, country: str | None = None, site: str | None = None
    ) -> FetchInfo:
        """How the page was fetched, as a crawled page says it: at the capture's instant,
        for `target` (the archive file, or the backfilled target URL)."""
        return FetchInfo(
            url=self.url,
            final_url=self.url,
            site=site if site is not None else (urlsplit(self.url).hostname or "").lower(),
            target=target,
            depth=0,
            status=self.status,
            fetched_at=self.capture.date,
            address=None,
            country=country,
        )


def is_archive(path: Path) -> bool:
    """Whether a file is a WARC/ARC/WET archive, by its content (gzipped or not). Only a
    regular file is looked at: a FIFO's first bytes, once read, are gone."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        with path.open("rb") as file:
            head = file.read(4096)
    except OSError:
        return False
    if head.startswith(_MAGIC_GZIP):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 64)
        except zlib.error:
            return False
    return head.startswith(_HEADS)


def read_archive(
    path: Path, name: str, max_bytes: int = MAX_RECORD_BYTES
) -> Iterator[ArchivedPage | Recaptured | InputError]:
    """The pages and recaptures in an archive, one record at a time. A broken record ends
    the file with one InputError (an archive cannot be resynchronised past a bad length);
    what came before it stands."""
    _quiet_warcio()
    try:
        file = path.open("rb")
    except OSError as exc:
        yield InputError(name, f"cannot open: {exc.strerror or exc}", "unreadable")
        return
    with file:
        done = 0
        for found in _records(file, name, max_bytes):
            if isinstance(found, _NotChunked):
                break
            done += 1
            yield found
            if isinstance(found, InputError) and found.kind != "archive-record":
                return
        else:
            return
    # A whole file gzipped as one member (`gzip crawl.warc`): read it as one stream, past
    # the records already read. Offsets are then in the uncompressed stream.
    with gzip.open(path, "rb") as stream:
        for index, found in enumerate(_records(stream, name, max_bytes, size=None)):
            if index >= done and not isinstance(found, _NotChunked):
                yield found


def shards(path: Path, size: int, count: int) -> list[tuple[int, int]]:
    """Byte ranges that split an archive into `count` shards at record boundaries, as read by
    `read_shard`; one shard (the whole file) unless it is gzipped record by record (Common
    Crawl's way: a whole-file gzip or a plain WARC is read in one piece)."""
    if count <= 1 or not _per_record_gzip(path):
        return [(0, size)]
    step = -(-size // count)
    return [(start, min(size, start + step)) for start in range(0, size, step)]


def _per_record_gzip(path: Path) -> bool:
    """Whether the file is a WARC gzipped record by record: its first gzip member holds one
    WARC record (not ARC, whose records are not all marked; not a whole-file gzip) and the
    next member begins right after it."""
    try:
        with path.open("rb") as file:
            ended, text, following = _member(file, MAX_MEMBER_TEXT)
    except OSError:
        return False
    return (
        ended
        and text.startswith(b"WARC/")
        and b"\r\n\r\nWARC/1." not in text  # a second record in the same member
        and following[:2] == _MAGIC_GZIP
    )


def _member(file: Any, limit: int) -> tuple[bool, bytes, bytes]:
    """Decompress the gzip member at the file's position: whether it ended (within `limit`
    bytes of text), its text (what came out before any error), and the bytes that follow
    it (two). Fed in small steps, so that a member cut short still shows how it begins."""
    engine = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text: list[bytes] = []
    size = 0
    while not engine.eof and size <= limit:
        chunk = file.read(1 << 16)
        if not chunk:
            break
        for step in range(0, len(chunk), 4096):
            saved = engine.copy()
            try:
                piece = engine.decompress(chunk[step : step + 4096], limit + 1 - size)
                while engine.unconsumed_tail and not engine.eof and size + len(piece) <= limit:
                    text.append(piece)
                    size += len(piece)
                    piece = engine.decompress(engine.unconsumed_tail, limit + 1 - size)
            except zlib.error:  # what came out before the damage, a few bytes at a time
                text.extend(_salvage(saved, chunk[step : step + 4096]))
                return False, b"".join(text), b""
            text.append(piece)
            size += len(piece)
            if _ended(engine):  # (a call: mypy would take the loop's test for the answer)
                rest = chunk[step + 4096 :]
                following = (engine.unused_data + rest)[:2]
                if len(following) < 2:
                    following += file.read(2 - len(following))
                return size <= limit, b"".join(text), following
    return False, b"".join(text), b""


def _ended(engine: Any) -> bool:
    return bool(engine.eof)


def _salvage(engine: Any, data: bytes) -> Iterator[bytes]:
    """The text a broken deflate stream gives before its error."""
    for step in range(0, len(data), 16):
        try:
            yield engine.decompress(data[step : step + 16], 1 << 16)
        except zlib.error:
            return


def read_shard(
    path: Path, name: str, start: int, end: int, max_bytes: int = MAX_RECORD_BYTES
) -> Iterator[ArchivedPage | Recaptured | InputError]:
    """The pages and recaptures whose records begin in bytes [start, end) of an archive
    gzipped record by record (see `shards`): the first record at or after `start` is found
    by its gzip header, and each record is read as the Range request of a backfill reads it.
    A broken member fails alone (`archive-record`): the shard goes on at the next record."""
    _quiet_warcio()
    try:
        with path.open("rb") as file:
            for offset, member in _members(file, start, end):
                if member is None:
                    problem = "a record's gzip member is broken or cut short: skipped"
                    yield InputError(f"{name}@{offset:,}", problem, "archive-record")
                    continue
                found = read_member(member, name, offset, max_bytes)
                if found is not None:
                    yield found
    except OSError as exc:
        yield InputError(name, f"cannot read: {exc.strerror or exc}", "unreadable")


def _members(file: Any, start: int, end: int) -> Iterator[tuple[int, bytes | None]]:
    """(offset, bytes) of each gzip member that begins in [start, end), from the first one
    that holds a WARC record; (offset, None) for a member that is broken or cut short, after
    which the next record is looked for."""
    position = _first_record(file, start, end)
    while position is not None and position < end:
        file.seek(position)
        engine = zlib.decompressobj(16 + zlib.MAX_WBITS)
        parts: list[bytes] = []
        used = 0
        broken = False
        while not engine.eof and used <= MAX_MEMBER_BYTES:
            chunk = file.read(1 << 16)
            if not chunk:
                break
            try:
                engine.decompress(chunk, 1 << 20)
                while engine.unconsumed_tail and not engine.eof:
                    engine.decompress(engine.unconsumed_tail, 1 << 20)
            except zlib.error:
                broken = True
                break
            keep = len(chunk) - len(engine.unused_data) if engine.eof else len(chunk)
            parts.append(chunk[:keep])
            used += keep
        if broken or not engine.eof:
            yield position, None
            position = _first_record(file, position + 1, end)
            continue
        yield position, b"".join(parts)
        position += used


def _first_record(file: Any, start: int, end: int) -> int | None:
    """The offset of the first gzip member in [start, end) that holds a WARC record and is
    followed by another member or the file's end: a gzip header, or even a gzipped record,
    can sit inside a record's payload, but not followed so. A member that begins a record
    but is broken or cut short counts too (its reader reports it)."""
    at = start
    while at < end:
        file.seek(at)
        window: bytes = file.read(min(1 << 20, end - at + 2))
        found = window.find(b"\x1f\x8b\x08")
        while found != -1 and at + found < end:
            file.seek(at + found)
            ended, text, following = _member(file, MAX_MEMBER_TEXT)
            if text.startswith(b"WARC/") and (not ended or following[:2] in (_MAGIC_GZIP, b"")):
                return at + found
            found = window.find(b"\x1f\x8b\x08", found + 1)
        if len(window) < 3:
            return None
        at += len(window) - 2
    return None


def read_member(
    data: bytes, name: str, offset: int, max_bytes: int = MAX_RECORD_BYTES
) -> ArchivedPage | Recaptured | InputError | None:
    """The one record in `data`: the bytes an index locates at `offset` in archive `name`
    (a Range request's answer: one gzip member, as Common Crawl writes them). None when it
    holds no page (a request, a redirect, an image)."""
    _quiet_warcio()
    for found in _records(io.BytesIO(data), name, max_bytes, size=len(data)):
        if isinstance(found, _NotChunked):
            return InputError(f"{name}@{offset:,}", "the record is not one gzip member", "archive")
        if isinstance(found, InputError):
            source = f"{name}@{offset:,}"
            return InputError(source, found.problem.replace(" after offset 0", ""), found.kind)
        capture = dataclasses.replace(found.capture, offset=offset)
        return dataclasses.replace(found, capture=capture)
    return None


class _NotChunked:
    """warcio met a gzip member holding more than one record."""


def _records(
    file: Any, name: str, max_bytes: int, size: int | None = -1
) -> Iterator[ArchivedPage | Recaptured | InputError | _NotChunked]:
    """Every record of an open archive (see read_archive); `size` -1: the file's own."""
    # Imported here: warcio costs every scan's start-up 40 ms, and most scans read no archive.
    from warcio.archiveiterator import ArchiveIterator  # noqa: PLC0415 - see above
    from warcio.exceptions import ArchiveLoadFailed  # noqa: PLC0415

    if size == -1:
        size = os.fstat(file.fileno()).st_size
    records = ArchiveIterator(file, arc2warc=True)
    while True:
        errors = records.err_count
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # warcio quotes archive lines there
                record = next(records)
                found = _read_record(record, name, records, max_bytes)
        except StopIteration:
            if size is not None and records.offset < size:
                yield InputError(
                    name,
                    f"broken archive after offset {records.offset:,}: its last "
                    f"{size - records.offset:,} bytes are not a whole record (cut short?)",
                    "archive",
                )
            return
        except ArchiveLoadFailed as exc:
            if "non-chunked" in str(exc):
                yield _NotChunked()
                return
            yield _broken(name, records.offset, exc)
            return
        except (EOFError, zlib.error, gzip.BadGzipFile, ValueError) as exc:
            yield _broken(name, records.offset, exc)
            return
        except OSError as exc:
            yield InputError(name, f"cannot read: {exc.strerror or exc}", "unreadable")
            return
        if records.err_count > errors:
            yield InputError(
                f"{name}@{records.offset:,}",
                "a record's length is wrong: the bytes after it were skipped",
                "archive-record",
            )
        if found is not None:
            yield found


def _broken(name: str, offset: int, exc: BaseException) -> InputError:
    where = f"after offset {offset:,}" if offset else "at its start"
    return InputError(name, f"broken archive {where}: {_reason(exc)}", "archive")


def _quiet_warcio() -> None:
    """warcio logs odd records (quoting them) through logging's last-resort handler, which
    prints to stderr; a handler of its own keeps them off the user's terminal."""
    logger = logging.getLogger("warcio")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def _read_record(
    record: Any, name: str, records: Any, max_bytes: int
) -> ArchivedPage | Recaptured | InputError | None:
    kind = record.rec_type
    if kind not in ("response", "revisit", "conversion"):
        return None  # request, metadata, warcinfo: nothing of the page
    headers = record.rec_headers
    url = (headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
    date = _iso(headers.get_header("WARC-Date") or "")
    digest = headers.get_header("WARC-Payload-Digest")
    status = 200  # a WET conversion: the page's text
    media_type: str | None = "text/plain"
    charset: str | None = "utf-8"
    if kind == "response":
        http = record.http_headers
        code = (http.get_statuscode() or "") if http is not None else ""
        status = int(code) if code.isdigit() else 0  # `2OO OK`: no page of ours
        content_type = (http.get_header("Content-Type") or "") if http is not None else ""
        media_type, charset = _content_type(content_type)
    wanted = kind != "revisit" and _is_url(url) and 200 <= status < 300
    wanted = wanted and (not media_type or media_type.startswith(_TEXT_TYPES))
    body, truncated = _body(record, max_bytes) if wanted else (b"", False)
    # Only now: warcio reads a record to its end to tell where it started.
    capture = Capture(name, records.get_record_offset(), date, digest)
    if not _is_url(url):
        return InputError(
            f"{name}@{capture.offset:,}",
            "a record whose WARC-Target-URI is not a URL",
            "archive-record",
        )
    if not date:
        return InputError(
            f"{name}@{capture.offset:,}", "a record without a valid WARC-Date", "archive-record"
        )
    if kind == "revisit":
        return Recaptured(url, capture)
    if not wanted:
        return None  # not a page: a redirect, an error, an image
    return ArchivedPage(
        url, capture, status, media_type, charset, body, truncated, kind == "conversion"
    )


def _body(record: Any, max_bytes: int) -> tuple[bytes, bool]:
    stream = record.content_stream()
    body = stream.read(max_bytes + 1)
    truncated = len(body) > max_bytes
    if truncated:
        while stream.read(1 << 20):  # skip the rest, so the next record can be read
            pass
    return body[:max_bytes], truncated


def _content_type(value: str) -> tuple[str | None, str | None]:
    parts = [p.strip() for p in value.split(";")]
    media_type = parts[0].lower() or None
    charset = None
    for part in parts[1:]:
        key, _, val = part.partition("=")
        if key.strip().lower() == "charset" and val.strip():
            charset = val.strip().strip("\"'").lower()
    return media_type, charset


def _iso(date: str) -> str:
    """`2021-03-04T05:06:07Z` as `2021-03-04T05:06:07+00:00` (ARC's `20210304050607` too);
    "" when it is no date (the record then fails alone)."""
    date = date.strip()
    if len(date) == 14 and date.isdigit():
        date = f"{date[:4]}-{date[4:6]}-{date[6:8]}T{date[8:10]}:{date[10:12]}:{date[12:14]}Z"
    try:
        when = dt.datetime.fromisoformat(date.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)  # WARC-Date is UTC
    return when.astimezone(dt.UTC).isoformat()


def _is_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
