"""Decode bytes the way a browser would, because Chinese pages rarely say what they are.

Order (WHATWG, as the reference lays out): byte-order mark, then the HTTP header's charset,
then `<meta>` in the first 4 KiB (HTML only), then: valid UTF-8 is UTF-8, else a detector
restricted to the encodings these pages use, else GB18030. Legacy labels are widened to
their supersets (gb2312/gbk -> GB18030, big5 -> Big5-HKSCS, euc-kr -> CP949,
shift_jis -> CP932): names are where rare characters are, and the strict codecs choke on
them. Decoding always uses replacement, so broken bytes never stop a scan.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

SNIFF_BYTES = 64 * 1024
META_BYTES = 4096
_DETECTOR_CANDIDATES = ["gb18030", "big5hkscs", "cp949", "utf_8"]
_FALLBACK = "gb18030"
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# WHATWG-style widening of legacy labels to the codec that decodes what pages really hold.
_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
    "csgb2312": "gb18030", "chinese": "gb18030", "iso-ir-58": "gb18030", "cp936": "gb18030",
    "gb18030": "gb18030", "hz-gb-2312": "hz",
    "big5": "big5hkscs", "big5-hkscs": "big5hkscs", "cn-big5": "big5hkscs", "x-x-big5": "big5hkscs",
    "csbig5": "big5hkscs", "cp950": "big5hkscs",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "ks_c_5601-1989": "cp949", "korean": "cp949",
    "windows-949": "cp949", "cseuckr": "cp949", "uhc": "cp949",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "ms_kanji": "cp932", "windows-31j": "cp932", "csshiftjis": "cp932",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252",
    "l1": "cp1252", "iso8859-1": "cp1252",
    "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8",
}  # fmt: skip
# The encodings of the WHATWG Encoding Standard, as Python names them (after the widening
# above): what browsers decode pages with, and so all a page can really be in.
_WEB_CODECS = frozenset(
    {"utf-8", "utf-16-le", "utf-16-be", "utf-16", "cp866", "koi8-r", "koi8-u", "mac-roman",
     "mac-cyrillic", "cp874", "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255",
     "cp1256", "cp1257", "cp1258", "gb18030", "hz", "big5hkscs", "euc_jp", "iso2022_jp",
     "cp932", "cp949"}
    | {f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)}
)  # fmt: skip
_META = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_\-.:]{1,40})""", re.I)


@dataclass(frozen=True, slots=True)
class Encoding:
    """The codec to decode with, and what decided it (bom, http, meta, utf-8, detector, default)."""

    codec: str
    source: str


def codec_for_label(label: str) -> str | None:
    """The Python codec for a charset label, widened as browsers do; None if unknown or not
    an encoding a web page can be in (labels come from hostile servers: `rot13`, `base64`
    or `undefined` are Python codecs too, and would break decoding)."""
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    return codec if codec in _WEB_CODECS else None


def sniff(head: bytes, *, declared: str | None = None, html: bool = False) -> Encoding:
    """Decide the encoding of a document from its first bytes (`head`, up to 64 KiB)."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return Encoding(codec, "bom")
    http_codec = codec_for_label(declared) if declared else None
    if http_codec:
        return Encoding(http_codec, "http")
    match = _META.search(head[:META_BYTES]) if html else None
    meta_codec = codec_for_label(match.group(1).decode("ascii")) if match else None
    if meta_codec:
        # An ASCII <meta> cannot sit in a UTF-16 page: WHATWG reads the label as UTF-8.
        return Encoding("utf-8" if meta_codec.startswith("utf-16") else meta_codec, "meta")
    if _is_utf8(head):
        return Encoding("utf-8", "utf-8")
    best = from_bytes(head[:SNIFF_BYTES], cp_isolation=_DETECTOR_CANDIDATES).best()
    if best is not None and best.encoding:
        codec = codec_for_label(best.encoding) or _FALLBACK
        return Encoding(codec, "detector")
    return Encoding(_FALLBACK, "default")


def _is_utf8(head: bytes) -> bool:
    """Valid UTF-8, allowing a multi-byte character cut at the end of the sample."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def decode(data: bytes, *, declared: str | None = None, html: bool = False) -> tuple[str, Encoding]:
    """Decode a whole document; returns the text and how its encoding was chosen."""
    encoding = sniff(data[:SNIFF_BYTES], declared=declared, html=html)
    text = data.decode(encoding.codec, errors="replace")
    if encoding.source == "bom":
        text = text.removeprefix("\ufeff")
    return text, encoding


def incremental_decoder(encoding: Encoding) -> codecs.IncrementalDecoder:
    """A decoder for streaming a large document in pieces (replacement for broken bytes)."""
    codec = encoding.codec
    if encoding.source == "bom":  # these codecs consume the byte-order mark
        codec = "utf-8-sig" if codec == "utf-8" else "utf-16"
    return codecs.getincrementaldecoder(codec)(errors="replace")
