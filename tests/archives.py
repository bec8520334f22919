"""Build WARC and WET files for tests with warcio, sound ones and deliberately broken ones.

Sound files are written as Common Crawl writes them (each record its own gzip member) and
indexed by reading them back with warcio's `ArchiveIterator`, so the offsets, lengths and
digests in an `IndexRow` are what a CDX server built from the file would say. The broken
writers produce the damage met in real archives; what warcio does with each is pinned in
tests/test_archive_servers.py:

- `write_truncated_member`: one gzip member cut short in the middle of the file. warcio
  does not always raise: it may stop early without a word, or fail on the next member
  with `ArchiveLoadFailed`; a range read of the cut member alone yields no full record.
- `write_wrong_content_length`: a record whose `Content-Length` is off. Too short: warcio
  returns a short body, prints a warning to stderr and counts `err_count`; with
  `check_digests="raise"` it raises `ArchiveLoadFailed` (block digest). Too long in an
  uncompressed file: the next record fails with `ArchiveLoadFailed`.
- `write_single_member`: the whole file gzipped as one member (gzip, not per record):
  warcio yields the first record, then raises `ArchiveLoadFailed` ("non-chunked gzip").
- `write_bad_target_uri`: a `WARC-Target-URI` that is not a URL. warcio reads it without
  complaint (spaces become %20, <...> is unwrapped) but, the URI not being http(s), does
  not parse the HTTP headers: `content_stream()` is the whole HTTP message. The reader
  must reject the record itself.

Only synthetic data belongs in these files (see tests/synthetic.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip as gzip_module
import hashlib
import io
import ipaddress
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import iso_date_to_timestamp
from warcio.warcwriter import WARCWriter

UTC = dt.UTC


@dataclass(frozen=True)
class Capture:
    """One page as an archive holds it: what was fetched from `url` at `timestamp`.

    With `revisit_of`, the capture is written as a `revisit` record (HTTP headers only,
    the payload digest of `revisit_of.body`), as crawlers write an unchanged page; use
    `Capture.revisit()` to make one, so that `body` is the payload a reader should find.
    """

    url: str
    timestamp: dt.datetime
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()  # more HTTP response headers, in order
    revisit_of: Capture | None = None
    detected_mime: str | None = None  # WARC-Identified-Payload-Type; the declared mime if None

    def __post_init__(self) -> None:
        offset = self.timestamp.utcoffset()
        if offset is None or offset != dt.timedelta(0):
            raise ValueError(f"Capture.timestamp must be a UTC datetime, not {self.timestamp!r}")
        if self.timestamp.microsecond:
            raise ValueError(f"WARC-Date has whole seconds here: {self.timestamp!r}")

    def revisit(self, timestamp: dt.datetime, url: str | None = None) -> Capture:
        """The same payload seen again at `timestamp` (a revisit record)."""
        return replace(self, url=url or self.url, timestamp=timestamp, revisit_of=self)

    @property
    def mime(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def payload_digest(self) -> str:
        """`sha1:BASE32` of the body, as warcio writes WARC-Payload-Digest."""
        return "sha1:" + base64.b32encode(hashlib.sha1(self.body).digest()).decode("ascii")


@dataclass(frozen=True)
class Conversion:
    """One WET `conversion` record: the text extracted from the page at `url`."""

    url: str
    timestamp: dt.datetime
    text: str
    refers_to: str | None = None  # WARC-Record-ID of the response the text came from
    languages: str | None = None  # WARC-Identified-Content-Language, e.g. "kor,eng"


@dataclass(frozen=True)
class IndexRow:
    """A CDX line for one record of a written file, as warcio reads the file back."""

    urlkey: str
    url: str
    timestamp: str  # YYYYMMDDhhmmss
    mime: str  # "warc/revisit" for revisits, as pywb indexes them
    status: int | None  # None for revisits and conversions (CDX "-")
    digest: str  # "sha1:BASE32" (WARC-Payload-Digest); CDX servers drop the "sha1:"
    length: int
    offset: int
    filename: str
    record_type: str
    record_id: str
    mime_detected: str | None = None
    charset: str | None = None  # from the HTTP Content-Type, CC's "encoding"

    @property
    def cdx_digest(self) -> str:
        return self.digest.removeprefix("sha1:")


def warc_date(timestamp: dt.datetime) -> str:
    return timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cdx_timestamp(timestamp: dt.datetime) -> str:
    return timestamp.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def surt_key(url: str) -> str:
    """The SURT sort key pywb and Common Crawl index by: `com,example)/path?a=1&b=2`.

    Lower case, `www.` dropped, default ports dropped, query arguments sorted, fragment
    dropped (the common cases of the `surt` package, checked against pywb in the tests).
    """
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = (parts.hostname or "").lower().rstrip(".")
    host = re.sub(r"^www\d*\.", "", host)
    try:
        ipaddress.ip_address(host)
        reversed_host = host
    except ValueError:
        reversed_host = ",".join(reversed(host.split(".")))
    port = parts.port
    if port is not None and (parts.scheme, port) not in {("http", 80), ("https", 443)}:
        reversed_host += f":{port}"
    path = (parts.path or "/").lower()
    query = "&".join(sorted(parts.query.lower().split("&"))) if parts.query else ""
    return f"{reversed_host}){path}" + (f"?{query}" if query else "")


def _http_headers(capture: Capture, body_length: int | None) -> StatusAndHeaders:
    try:
        reason = HTTPStatus(capture.status).phrase
    except ValueError:
        reason = "Unknown"
    headers = [("Content-Type", capture.content_type), *capture.headers]
    if body_length is not None:
        headers.append(("Content-Length", str(body_length)))
    return StatusAndHeaders(f"{capture.status} {reason}", headers, protocol="HTTP/1.1")


def _write_records(
    writer: WARCWriter, captures: Iterable[Capture], *, warcinfo: bool, requests: bool, name: str
) -> None:
    if warcinfo:
        info = {"software": "leakwatch tests", "format": "WARC File Format 1.0"}
        writer.write_record(writer.create_warcinfo_record(name, info))
    for capture in captures:
        date = warc_date(capture.timestamp)
        if requests:
            parts = urlsplit(capture.url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            request_headers = StatusAndHeaders(
                f"GET {target} HTTP/1.1",
                [("Host", parts.netloc), ("User-Agent", "leakwatch-tests")],
                protocol="HTTP/1.1",
                is_http_request=True,
            )
            writer.write_record(
                writer.create_warc_record(
                    capture.url,
                    "request",
                    http_headers=request_headers,
                    warc_headers_dict={"WARC-Date": date},
                )
            )
        warc_headers = {
            "WARC-Date": date,
            "WARC-Identified-Payload-Type": capture.detected_mime or capture.mime,
        }
        if capture.revisit_of is not None:
            original = capture.revisit_of
            record = writer.create_revisit_record(
                capture.url,
                original.payload_digest,
                original.url,
                warc_date(original.timestamp),
                http_headers=_http_headers(capture, len(original.body)),
                warc_headers_dict=warc_headers,
            )
        else:
            record = writer.create_warc_record(
                capture.url,
                "response",
                payload=io.BytesIO(capture.body),
                length=len(capture.body),  # a known length: no unclosed temporary file
                http_headers=_http_headers(capture, len(capture.body)),
                warc_headers_dict=warc_headers,
            )
        writer.write_record(record)


def index_file(path: Path, filename: str | None = None) -> list[IndexRow]:
    """One row per response, revisit, resource or conversion record of a WARC/WET file."""
    rows: list[IndexRow] = []
    with path.open("rb") as stream:
        iterator = ArchiveIterator(stream)
        for record in iterator:
            kind = record.rec_type
            if kind not in {"response", "revisit", "resource", "conversion"}:
                continue
            headers = record.rec_headers
            http = record.http_headers
            status: int | None = None
            charset: str | None = None
            if kind == "revisit":
                mime = "warc/revisit"
            elif http is not None:
                content_type = http.get_header("Content-Type") or ""
                mime = content_type.split(";", 1)[0].strip().lower() or "unk"
                found = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
                charset = found.group(1).upper() if found else None
                if kind == "response":
                    status = int(http.get_statuscode())
            else:
                mime = (headers.get_header("Content-Type") or "unk").split(";", 1)[0].strip()
            url = headers.get_header("WARC-Target-URI")
            iterator.read_to_end()
            rows.append(
                IndexRow(
                    urlkey=surt_key(url),
                    url=url,
                    timestamp=iso_date_to_timestamp(headers.get_header("WARC-Date")),
                    mime=mime,
                    status=status,
                    digest=headers.get_header("WARC-Payload-Digest")
                    or headers.get_header("WARC-Block-Digest")
                    or "-",
                    length=iterator.get_record_length(),
                    offset=iterator.get_record_offset(),
                    filename=filename or path.name,
                    record_type=kind,
                    record_id=headers.get_header("WARC-Record-ID"),
                    mime_detected=None
                    if kind == "revisit"
                    else headers.get_header("WARC-Identified-Payload-Type"),
                    charset=charset,
                )
            )
    return rows


def write_warc(
    path: Path,
    captures: Sequence[Capture],
    gzip: bool = True,
    *,
    filename: str | None = None,
    warcinfo: bool = True,
    requests: bool = False,
) -> list[IndexRow]:
    """Write `captures` in order, each record its own gzip member (if `gzip`), and index it.

    `filename` is the name the index rows give (a path relative to a data host's root, as
    Common Crawl's `crawl-data/...`); the file's own name by default. With `requests`, a
    `request` record precedes each capture, as Common Crawl's WARCs have.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=gzip)
        _write_records(writer, captures, warcinfo=warcinfo, requests=requests, name=path.name)
    return index_file(path, filename)


def write_wet(
    path: Path, conversions: Sequence[Conversion], *, filename: str | None = None
) -> list[IndexRow]:
    """A WET file as Common Crawl writes it: a warcinfo, then one `conversion` per page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        info = {"software": "leakwatch tests", "description": "Wet files (extracted text)"}
        writer.write_record(writer.create_warcinfo_record(path.name, info))
        for conversion in conversions:
            text = conversion.text.encode("utf-8")
            headers = {"WARC-Date": warc_date(conversion.timestamp)}
            if conversion.refers_to:
                headers["WARC-Refers-To"] = conversion.refers_to
            if conversion.languages:
                headers["WARC-Identified-Content-Language"] = conversion.languages
            writer.write_record(
                writer.create_warc_record(
                    conversion.url,
                    "conversion",
                    payload=io.BytesIO(text),
                    length=len(text),
                    warc_content_type="text/plain",
                    warc_headers_dict=headers,
                )
            )
    return index_file(path, filename)


# -- broken files ---------------------------------------------------------------------------


def record_blocks(captures: Sequence[Capture], *, warcinfo: bool = True) -> list[bytes]:
    """Each record of `captures` uncompressed (with its trailing CRLF CRLF), warcinfo first."""
    blocks: list[bytes] = []
    if warcinfo:
        blocks.append(_uncompressed([], warcinfo=True))
    blocks.extend(_uncompressed([capture], warcinfo=False) for capture in captures)
    return blocks


def _uncompressed(captures: Sequence[Capture], *, warcinfo: bool) -> bytes:
    buffer = io.BytesIO()
    _write_records(
        WARCWriter(buffer, gzip=False), captures, warcinfo=warcinfo, requests=False, name="x"
    )
    return buffer.getvalue()


def gzip_member(data: bytes) -> bytes:
    return gzip_module.compress(data, mtime=0)


def gzip_members(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each gzip member of a multi-member gzip file."""
    members: list[tuple[int, int]] = []
    position = 0
    while position < len(data):
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        decompressor.decompress(data[position:])
        if not decompressor.eof:
            raise ValueError(f"gzip member at {position} does not end")
        used = len(data) - position - len(decompressor.unused_data)
        members.append((position, used))
        position += used
    return members


def write_truncated_member(
    path: Path, captures: Sequence[Capture], index: int = 1, keep: float = 0.5
) -> list[IndexRow]:
    """A gzipped WARC whose record `captures[index]` keeps only `keep` of its gzip member.

    The other members are whole and follow it. Returned rows describe the file as it is:
    the cut record's length is what is left of it, and the rows after it are shifted; they
    are built from the intact file (warcio cannot index past the damage).
    """
    intact = write_warc(path, captures)
    data = path.read_bytes()
    cut = intact[index]
    kept = max(1, int(cut.length * keep))
    removed = cut.length - kept
    path.write_bytes(data[: cut.offset + kept] + data[cut.offset + cut.length :])
    rows = [*intact[:index], replace(cut, length=kept)]
    rows += [replace(row, offset=row.offset - removed) for row in intact[index + 1 :]]
    return rows


def write_wrong_content_length(
    path: Path, captures: Sequence[Capture], index: int = 1, delta: int = -10, gzip: bool = True
) -> None:
    """A WARC whose record `captures[index]` declares `delta` bytes more (or fewer) than it has."""
    blocks = record_blocks(captures)
    target = index + 1  # after the warcinfo
    block = blocks[target]
    found = re.search(rb"\r\nContent-Length: (\d+)\r\n", block)  # the WARC header's: first
    if found is None:
        raise ValueError("record without a Content-Length")
    wrong = str(int(found.group(1)) + delta).encode("ascii")
    blocks[target] = block[: found.start(1)] + wrong + block[found.end(1) :]
    _write_blocks(path, blocks, gzip)


def write_single_member(path: Path, captures: Sequence[Capture]) -> None:
    """A `.warc.gz` compressed as one gzip member (`gzip file.warc`), not one per record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip_member(b"".join(record_blocks(captures))))


def write_bad_target_uri(
    path: Path, captures: Sequence[Capture], index: int = 0, uri: str = "not a url"
) -> None:
    """A gzipped WARC whose record `captures[index]` has `WARC-Target-URI: {uri}`."""
    blocks = record_blocks(captures)
    target = index + 1
    block = blocks[target]
    original = captures[index].url.encode("ascii")
    header = b"\r\nWARC-Target-URI: " + original + b"\r\n"
    if header not in block:
        raise ValueError(f"no WARC-Target-URI {captures[index].url!r} in record {index}")
    blocks[target] = block.replace(
        header, b"\r\nWARC-Target-URI: " + uri.encode("utf-8") + b"\r\n", 1
    )
    _write_blocks(path, blocks, gzip=True)


def _write_blocks(path: Path, blocks: Sequence[bytes], gzip: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(gzip_member(b) if gzip else b for b in blocks))


@dataclass
class ReadBack:
    """What warcio made of a file: the records it yielded, and how it ended."""

    records: list[tuple[str, str | None, bytes]]  # (type, WARC-Target-URI, decoded payload)
    error: Exception | None
    err_count: int


def read_back(source: Path | bytes | BinaryIO, **options: Any) -> ReadBack:
    """Read every record with warcio, keeping what it yielded before any exception."""
    stream: BinaryIO
    if isinstance(source, Path):
        stream = source.open("rb")
    elif isinstance(source, bytes):
        stream = io.BytesIO(source)
    else:
        stream = source
    records: list[tuple[str, str | None, bytes]] = []
    error: Exception | None = None
    iterator: ArchiveIterator | None = None
    try:
        iterator = ArchiveIterator(stream, **options)
        for record in iterator:
            uri = record.rec_headers.get_header("WARC-Target-URI")
            records.append((record.rec_type, uri, record.content_stream().read()))
    except Exception as exc:  # the point is to see which one
        error = exc
    finally:
        if isinstance(source, Path):
            stream.close()
    return ReadBack(records, error, iterator.err_count if iterator is not None else 0)
