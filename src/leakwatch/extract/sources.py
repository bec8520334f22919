"""Local inputs (files, folders, stdin, .gz) as streams of decoded, visible text.

A folder is walked recursively for the file types leaked data comes in; a file named on the
command line is read whatever its name. Text is decoded and handed on in pieces, so a 1 GB
dump never sits in memory whole; an HTML page is parsed whole (up to `HTML_PARSE_LIMIT`; a
larger one is tag-stripped in pieces). Problems with one input raise InputError, and the
caller goes on to the next.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import os
import re
import stat
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import urlsplit

from leakwatch.errors import InputError
from leakwatch.extract import dates, decode, html, links

# How a file's name decides what it is. Crawled pages keep their server's suffix (.php,
# .asp, ...) and dumps come as .sql or .log, so a folder walk reads every file except media
# it could never read; content decides for the rest (control bytes: binary; tags: HTML).
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml", ".shtml", ".php", ".asp", ".aspx", ".jsp"})
TEXT_SUFFIXES = frozenset(
    {".txt", ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".xml", ".md", ".log", ".sql"}
)
JSON_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson"})
HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MEDIA_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".ico", ".tif", ".tiff", ".avif",
     ".mp3", ".mp4", ".m4a", ".wav", ".ogg", ".flac", ".avi", ".mov", ".mkv", ".webm",
     ".woff", ".woff2", ".ttf", ".otf", ".eot", ".exe", ".dll", ".so", ".dylib", ".class",
     ".pyc", ".o", ".a", ".wasm"}
)  # fmt: skip
READ_BYTES = 1 << 20
HEAD_BYTES = decode.SNIFF_BYTES
HTML_PARSE_LIMIT = 32 << 20
_BINARY_PROBE = 8192
_HTML_SNIFF = re.compile(rb"<(?:!doctype\s+html|html|head|body|table|div|meta|p)[\s>]", re.I)
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
STDIN = "-"
STDIN_NAME = "<stdin>"


@dataclass(frozen=True, slots=True)
class Input:
    """One thing to scan: a file path, stdin, or a fetched body (`content`, with what the
    server declared and the URL it came from)."""

    name: str
    path: Path | None  # None for stdin and fetched bodies
    walked: bool = False  # found (in a folder, by a crawl) rather than named: binary is skipped
    content: bytes | None = None
    declared_type: str | None = None  # HTTP media type, lower case, no parameters
    charset: str | None = None  # HTTP charset parameter
    url: str | None = None  # where `content` came from: links resolve against it

    @property
    def suffix(self) -> str:
        """The meaningful suffix, looking through .gz (`a.csv.gz` -> `.csv`)."""
        if self.path is not None:
            suffixes = [s.lower() for s in self.path.suffixes]
        elif self.url is not None:
            suffixes = [s.lower() for s in PurePosixPath(urlsplit(self.url).path).suffixes]
        else:
            return ""
        if suffixes and suffixes[-1] == ".gz":
            suffixes.pop()
        return suffixes[-1] if suffixes else ""

    @property
    def known_text(self) -> bool:
        """Named as a text or HTML document (`.csv`, `.html`, ...): never an archive."""
        return self.suffix in TEXT_SUFFIXES or self.suffix in HTML_SUFFIXES

    @property
    def gzipped(self) -> bool:
        return self.path is not None and self.path.suffix.lower() == ".gz"

    @property
    def is_json(self) -> bool:
        if self.declared_type is not None:
            return "json" in self.declared_type
        return self.suffix in JSON_SUFFIXES


def expand(arguments: list[str]) -> Iterator[Input | InputError]:
    """Inputs named on the command line, folders walked in sorted order; problems inline.
    A FIFO named on the command line (`<(zcat dump.gz)`) is read as a stream; other files
    that are not regular (devices, sockets) are refused."""
    for argument in arguments:
        if argument == STDIN:
            yield Input(STDIN_NAME, None)
            continue
        path = Path(argument)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            yield InputError(argument, "no such file or folder", "missing")
            continue
        except OSError as exc:
            yield InputError(argument, f"cannot read: {exc.strerror or exc}", "unreadable")
            continue
        if stat.S_ISDIR(mode):
            yield from _walk(path)
        elif stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
            yield Input(argument, path)
        else:
            yield InputError(argument, f"not a regular file ({_file_kind(mode)})", "unreadable")


def _walk(root: Path) -> Iterator[Input | InputError]:
    """Every file under `root`: a folder's files in name order, then its subfolders. Hidden
    entries and media are passed over; what is not a regular file (a FIFO, a socket, a
    device, a broken link) is reported and never opened: opening a FIFO waits forever for a
    writer. A subfolder that cannot be read is reported and the walk goes on."""
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            kind = "unreadable" if folder == root else "skipped"
            yield InputError(str(folder), f"cannot read folder: {exc.strerror or exc}", kind)
            continue
        subfolders: list[Path] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(path)
                    continue
                mode = entry.stat().st_mode  # what a link leads to
            except FileNotFoundError:
                yield InputError(str(path), "a broken link, not opened", "skipped")
                continue
            except OSError as exc:
                yield InputError(str(path), f"cannot read: {exc.strerror or exc}", "skipped")
                continue
            candidate = Input(str(path), path, walked=True)
            if candidate.suffix in MEDIA_SUFFIXES:
                continue
            if stat.S_ISREG(mode):
                yield candidate
            elif stat.S_ISDIR(mode):
                yield InputError(str(path), "a link to a folder, not followed", "skipped")
            else:
                yield InputError(str(path), f"{_file_kind(mode)}, not opened", "skipped")
        folders.extend(reversed(subfolders))


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of a document's visible text, and its prose (the same without link text):
    identifiers are found in `text`, the page category is judged on `prose`."""

    text: str
    prose: str

    @classmethod
    def plain(cls, text: str) -> Piece:
        return cls(text, text)


@dataclass(slots=True)
class Document:
    """A document being read: hands out text pieces and learns its facts on the way."""

    source: str
    media_type: str = "text/plain"
    encoding: decode.Encoding | None = None
    published: dates.Published | None = None
    size: int = 0
    links: tuple[str, ...] = ()  # canonical URLs an HTML page with a known URL links to
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


class DocumentReader:
    """Opens one Input and yields its visible text in pieces."""

    def __init__(self, item: Input, stdin: BinaryIO | None, today: dt.date) -> None:
        self.item = item
        self.stdin = stdin
        self.today = today
        self.document = Document(item.name)

    def pieces(self) -> Iterator[Piece]:
        """Visible text in order; raises InputError when the input cannot be read."""
        try:
            with self._open() as stream:
                yield from self._read(stream)
        except InputError:
            raise
        except (OSError, EOFError, zlib.error) as exc:
            problem = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise InputError(self.item.name, f"cannot read: {problem}", "unreadable") from None

    def _open(self) -> AbstractContextManager[BinaryIO]:
        if self.item.content is not None:
            return nullcontext(io.BytesIO(self.item.content))
        if self.item.path is None:
            if self.stdin is None:
                raise InputError(STDIN_NAME, "no standard input to read", "unreadable")
            return nullcontext(self.stdin)  # never close stdin
        if self.item.gzipped:
            return gzip.open(self.item.path, "rb")  # type: ignore[return-value]
        return open(self.item.path, "rb")

    def _take(self, stream: BinaryIO, size: int) -> bytes:
        data = stream.read(size)
        self.document.size += len(data)
        self.document._digest.update(data)
        return data

    def _read(self, stream: BinaryIO) -> Iterator[Piece]:
        head = self._take(stream, HEAD_BYTES)
        if _is_binary(head):
            kind = "skipped" if self.item.walked else "binary"
            raise InputError(self.item.name, "binary file, not scanned", kind)
        item = self.item
        suffix = item.suffix
        if item.declared_type is not None:  # what the server said wins, as in a browser
            is_html = item.declared_type in HTML_MEDIA_TYPES
        else:
            is_html = suffix in HTML_SUFFIXES or (
                suffix not in TEXT_SUFFIXES and bool(_HTML_SNIFF.search(head[:4096]))
            )
        document = self.document
        document.encoding = decode.sniff(head, declared=item.charset, html=is_html)
        if is_html:
            document.media_type = item.declared_type or "text/html"
            yield from self._read_html(stream, head)
        else:
            document.media_type = item.declared_type or _MEDIA_TYPES.get(suffix, "text/plain")
            yield from self._read_text(stream, head)

    def _read_html(self, stream: BinaryIO, head: bytes) -> Iterator[Piece]:
        assert self.document.encoding is not None
        chunks = [head]
        total = len(head)
        while total <= HTML_PARSE_LIMIT:
            data = self._take(stream, READ_BYTES)
            if not data:
                break
            chunks.append(data)
            total += len(data)
        else:  # too large to parse: strip tags piece by piece
            yield from self._strip_html(stream, chunks)
            return
        text = b"".join(chunks).decode(self.document.encoding.codec, errors="replace")
        text = text.removeprefix("\ufeff")
        tree = html.parse(text)
        url = self.item.url
        if tree is None:  # too deeply nested to parse safely
            if url is not None:
                self.document.links = links.from_markup(text, url)
            visible = html.stripped_text(text)
            self.document.published = dates.from_text(visible, self.today)
            yield Piece.plain(visible)
            return
        visible, prose = html.visible_parts(tree)
        if url is not None:
            self.document.links = links.from_tree(tree, url)
        self.document.published = dates.from_html(tree, visible, self.today)
        yield Piece(visible, prose)

    def _strip_html(self, stream: BinaryIO, chunks: list[bytes]) -> Iterator[Piece]:
        assert self.document.encoding is not None
        decoder = decode.incremental_decoder(self.document.encoding)
        probe = _DateProbe(self.document, self.today)
        carry = ""
        for data in [*chunks, *iter(lambda: self._take(stream, READ_BYTES), b"")]:
            text = carry + decoder.decode(data)
            cut = text.rfind(">") + 1
            carry, text = text[cut:], text[:cut]
            visible = html.stripped_text(text)
            probe.add(visible)
            yield Piece.plain(visible)
        visible = html.stripped_text(carry + decoder.decode(b"", final=True))
        probe.add(visible)
        probe.done()
        yield Piece.plain(visible)

    def _read_text(self, stream: BinaryIO, head: bytes) -> Iterator[Piece]:
        assert self.document.encoding is not None
        decoder = decode.incremental_decoder(self.document.encoding)
        unescape = self.item.is_json
        probe = _DateProbe(self.document, self.today)
        data = head
        while data:
            text = decoder.decode(data)
            if unescape:
                text = _unescape_json(text)
            probe.add(text)
            yield Piece.plain(text)
            data = self._take(stream, READ_BYTES)
        tail = decoder.decode(b"", final=True)
        probe.add(tail)
        probe.done()
        if tail:
            yield Piece.plain(tail)

    def plan(self) -> FilePlan | None:
        """Byte ranges for worker processes to read, when this is a large plain UTF-8 file.

        The ranges come one by one from a single streaming pass (`FilePlan.ranges`), which
        also hashes the file. None for anything else (stdin, gzip, HTML, other encodings):
        read those with `pieces`.
        """
        path = self.item.path
        if path is None or self.item.gzipped or self.item.suffix in HTML_SUFFIXES:
            return None
        try:
            size = path.stat().st_size
            if size < 2 * RANGE_BYTES:
                return None
            with open(path, "rb") as stream:
                head = stream.read(HEAD_BYTES)
        except OSError:
            return None  # `pieces` will report it
        if _is_binary(head) or (
            self.item.suffix not in TEXT_SUFFIXES and _HTML_SNIFF.search(head[:4096])
        ):
            return None
        encoding = decode.sniff(head)
        if encoding.codec != "utf-8":
            return None
        document = self.document
        document.encoding = encoding
        document.media_type = _MEDIA_TYPES.get(self.item.suffix, "text/plain")
        document.size = size
        start = 3 if encoding.source == "bom" else 0
        unescape = self.item.suffix in JSON_SUFFIXES
        return FilePlan(RangeSource(path, start, unescape), document._digest, size)


class _DateProbe:
    """Looks for the published date in the document's first VISIBLE_SCAN characters, however
    the text arrives (so the date never depends on how a file was read)."""

    def __init__(self, document: Document, today: dt.date) -> None:
        self.document = document
        self.today = today
        self._parts: list[str] = []
        self._size = 0
        self._done = False

    def add(self, text: str) -> None:
        if self._done:
            return
        self._parts.append(text)
        self._size += len(text)
        if self._size >= dates.VISIBLE_SCAN:
            self.done()

    def done(self) -> None:
        if not self._done:
            self._done = True
            self.document.published = dates.from_text("".join(self._parts), self.today)
            self._parts = []


RANGE_BYTES = 1 << 19  # 512 KiB; dense dumps' ranges are cut smaller (detect/parallel.py)
MIN_RANGE_BYTES = 1 << 17  # lines longer than a range are cut: few, at this size
# A line longer than a range is cut anyway, at a character boundary; neighbouring ranges then
# overlap, and each reports only the findings that start in its own part (see ByteRange).
# The overlaps hold at least engine.CONTEXT_CHARS (1024) characters at 4 bytes a character.
OVERLAP_BYTES = 4 * 1024 + 4
LOOKBACK_BYTES = 4 * 1024 + 4


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A stretch of a planned file. Findings starting in [emit_from, emit_to) bytes into it
    belong to it; outside, they belong to the neighbouring range it overlaps."""

    start: int
    end: int
    line: int  # line number of the range's first byte
    emit_from: int = 0
    emit_to: int | None = None  # None: the range's end
    next_start: int | None = None  # where the next range begins, if inside a line (bytes in)


@dataclass(frozen=True, slots=True)
class RangeText:
    text: str
    emit_from: int  # characters
    emit_to: int
    next_start: int | None  # characters
    lines_ahead: int = 0  # line ends in the context before the range


def context_before(text: str, size: int) -> str:
    """The last `size` characters of `text`, from a line start when one falls inside them:
    a part's context ahead must not begin with half a table row."""
    window = text[-size:]
    newline = window.find("\n", 0, len(window) - 1)
    return window[newline + 1 :] if newline >= 0 else window


def column_at(text: str, position: int) -> tuple[int, bool]:
    """Characters before `position` on its line, and whether the line starts in `text`."""
    newline = text.rfind("\n", 0, position)
    return (position - newline - 1, True) if newline >= 0 else (position, False)


@dataclass(frozen=True, slots=True)
class RangeSource:
    """Where worker processes read a planned file's ranges from."""

    path: Path
    start: int  # after a byte-order mark
    unescape_json: bool

    def read(self, part: ByteRange, context: int = 0) -> RangeText:
        """The text of one range, and where its own findings begin and end in it.

        With `context`, a range cut at a line end gets that many characters of the text on
        either side (as the text cutter gives its chunks: see engine.ChunkCutter); ranges cut
        inside a giant line overlap their neighbours instead.
        """
        with open(self.path, "rb") as stream:
            prefix = suffix = ""
            if context and part.emit_from == 0 and part.start > self.start:
                ahead = max(self.start, part.start - 4 * context - 4)  # UTF-8: <= 4 bytes/char
                stream.seek(ahead)
                prefix = context_before(self._decode(stream.read(part.start - ahead)), context)
            stream.seek(part.start)
            data = stream.read(part.end - part.start)
            if context and part.emit_to is None:
                suffix = self._decode(stream.read(4 * context + 4))[:context]
        emit_to = len(data) if part.emit_to is None else part.emit_to
        before = prefix + self._decode(data[: part.emit_from])
        own = self._decode(data[part.emit_from : emit_to])
        after = self._decode(data[emit_to:]) + suffix
        next_start = None
        if part.next_start is not None:  # always inside this range's own part
            next_start = len(before) + len(self._decode(data[part.emit_from : part.next_start]))
        lines_ahead = prefix.count("\n")
        return RangeText(
            before + own + after, len(before), len(before) + len(own), next_start, lines_ahead
        )

    def read_before(self, part: ByteRange, count: int) -> str:
        """Up to `count` bytes of text ahead of a range, for context (its first character
        may come out broken: it is only looked at, never reported)."""
        with open(self.path, "rb") as stream:
            start = max(self.start, part.start - count)
            stream.seek(start)
            return self._decode(stream.read(part.start - start))

    def _decode(self, data: bytes) -> str:
        text = data.decode("utf-8", "replace")
        return _unescape_json(text) if self.unescape_json else text


class FilePlan:
    """A large plain UTF-8 file, cut into byte ranges as it is read once (and hashed)."""

    def __init__(self, source: RangeSource, digest: hashlib._Hash, size: int) -> None:
        self.source = source
        self._digest = digest
        self.size = size  # bytes, as planned
        # The size of the ranges still to come. The first is a quarter of RANGE_BYTES: its
        # reader scans it itself and learns from it how dense the file is, then sizes the
        # rest (see detect/parallel.py).
        self.range_bytes = RANGE_BYTES // 4

    def ranges(self) -> Iterator[ByteRange]:
        """Ranges of about `range_bytes` ending at line ends, yielded as the file is read.

        A line longer than a range is cut at a character boundary instead: the two ranges
        overlap, the first reporting up to `emit_to`, the next from its `emit_from`.
        """
        with open(self.source.path, "rb") as stream:
            self._digest.update(stream.read(self.source.start))
            position, line, pending, emit_from = self.source.start, 1, b"", 0
            while True:
                block = stream.read(self.range_bytes)
                self._digest.update(block)
                data = pending + block
                if not block:
                    if data:
                        yield ByteRange(position, position + len(data), line, emit_from)
                    return
                cut = data.rfind(b"\n") + 1
                if cut > emit_from:
                    yield ByteRange(position, position + cut, line, emit_from)
                    line += data.count(b"\n", 0, cut)
                    pending, position, emit_from = data[cut:], position + cut, 0
                elif len(data) >= self.range_bytes:  # a giant line
                    emit_to = _char_start(data, len(data) - OVERLAP_BYTES)
                    restart = _char_start(data, emit_to - LOOKBACK_BYTES)
                    yield ByteRange(
                        position, position + len(data), line, emit_from, emit_to, restart
                    )
                    line += data.count(b"\n", 0, restart)
                    pending, position = data[restart:], position + restart
                    emit_from = emit_to - restart
                else:
                    pending = data


def _char_start(data: bytes, index: int) -> int:
    """The nearest UTF-8 character start at or before `index`."""
    index = max(0, index)
    while index > 0 and 0x80 <= data[index] <= 0xBF:
        index -= 1
    return index


_MEDIA_TYPES = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".ndjson": "application/x-ndjson",
    ".sql": "application/sql",
    ".xml": "application/xml",
    ".md": "text/markdown",
}


# Formats that begin with a signature and are never text (compressed files named without
# `.gz` among them: they would read as noise).
_BINARY_SIGNATURES = (
    b"%PDF-", b"PK\x03\x04", b"\x89PNG\r\n", b"GIF87a", b"GIF89a", b"\xff\xd8\xff",
    b"\x7fELF", b"\x1f\x8b", b"SQLite format 3\x00", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"\xfd7zXZ\x00", b"\x00asm", b"\xca\xfe\xba\xbe",
)  # fmt: skip
# Bytes below 0x20 that text holds (tab, line ends, form feed, backspace, ESC in logs).
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\b\x1b")
_CONTROL_BYTES = bytes(b for b in range(0x20) if b not in _TEXT_CONTROLS) + b"\x7f"
# Binary data holds about 10% such bytes (compressed data: 27 of 256 values); text none but
# what a page slipped in. A NUL or two early in a text file does not make it binary (as
# `file` decides on the whole sample, not on its first NUL): scanning it is the point.
_BINARY_SHARE = 0.05


def _is_binary(head: bytes) -> bool:
    """Whether a file's first bytes are not text: a binary signature, or control bytes making
    more than 5% of the first 8 KiB. UTF-16 and UTF-32 with a byte-order mark are text."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    if head.startswith(_BINARY_SIGNATURES):
        return True
    sample = head[:_BINARY_PROBE]
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > _BINARY_SHARE * len(sample)


def _unescape_json(text: str) -> str:
    """`\\uc8fc\\ubbfc` -> `주민`: JSON dumps often escape every non-ASCII character."""

    def replace(match: re.Match[str]) -> str:
        code = int(match.group(1), 16)
        if code < 0x80 or 0xD800 <= code <= 0xDFFF:
            return match.group()
        return chr(code)

    return _JSON_ESCAPE.sub(replace, text) if "\\u" in text else text
