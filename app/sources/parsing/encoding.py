"""Bytes to text, for feeds whose servers and prologs do not agree on (or lie about) the charset.

The order, from strongest evidence to weakest:

1. a byte-order mark (UTF-8/16/32), or the unmistakable zero bytes of UTF-16 without one;
2. strict UTF-8: legacy single-byte text (windows-1251, koi8-r, latin-1...) practically never forms
   valid UTF-8, so a body that decodes as UTF-8 *is* UTF-8, whatever the header or prolog claims
   (the "mislabelled UTF-8" case: declared windows-1251 or iso-8859-1 but written as UTF-8);
3. the declared charsets: the HTTP Content-Type charset and the document's own declaration (XML
   prolog, or `<meta charset>` for HTML). When both are given and differ, chardet arbitrates; if it
   agrees with neither, the document's own declaration wins (servers often add a default
   charset that nobody checked, while the prolog was written with the file);
4. chardet's guess (when it is sure, or the text is plainly not in a Latin script), else windows-1252.
   A stray byte the chosen codec leaves undefined becomes U+FFFD rather than a reason to switch codecs.

Labels are read the way browsers read them (WHATWG): "iso-8859-1" and "us-ascii" mean
windows-1252, "gb2312" means gb18030, and so on.
"""

from __future__ import annotations

import codecs
import re

import chardet

_BOMS = (  # UTF-32 LE first: its BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\sencoding\s*=\s*["']\s*([A-Za-z][\w.:-]*)\s*["']""")
_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z][\w.:-]*)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([^"';,\s]+)""", re.IGNORECASE)
# Python codec name -> the codec browsers really use for that label (a superset of it).
_SUPERSETS = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
}
_UNICODE = ("utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "utf-8-sig")
_CHARDET_SAMPLE = 64 * 1024
_CHARDET_SURE = 0.5
_HIGH_BYTES = bytes(range(0x80, 0x100))
_ASCII_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def codec_for(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None if the label means nothing to us."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    for candidate in (label, label.replace("_", "-"), label.removeprefix("x-"), label.replace("win-", "cp")):
        try:
            name = codecs.lookup(candidate).name
        except LookupError:
            continue
        return _SUPERSETS.get(name, name)
    return None


def header_charset(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header, as given."""
    match = _HEADER_CHARSET.search(content_type or "")
    return match.group(1) if match else None


def xml_declared_encoding(content: bytes) -> str | None:
    match = _XML_ENCODING.match(content[:1024])
    return match.group(1).decode("ascii") if match else None


def html_declared_charset(content: bytes) -> str | None:
    match = _META_CHARSET.search(content[:4096])
    return match.group(1).decode("ascii") if match else None


def unicode_signature(content: bytes) -> tuple[str, int] | None:
    """Codec and BOM length from a BOM, or from the zero bytes of UTF-16 text that lacks one."""
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return codec, len(bom)
    # "<?" or "<r"/"<f"/"{"... as UTF-16 without a BOM (XML 1.0, appendix F).
    if len(content) >= 4 and content[1] == 0 and content[3] == 0 and content[0] != 0:
        return "utf-16-le", 0
    if len(content) >= 4 and content[0] == 0 and content[2] == 0 and content[1] != 0:
        return "utf-16-be", 0
    return None


def _guess(content: bytes) -> tuple[str | None, float]:
    """chardet's codec (mapped like a label) and its confidence."""
    result = chardet.detect(content[:_CHARDET_SAMPLE])
    return codec_for(result.get("encoding")), float(result.get("confidence") or 0)


def _non_latin(content: bytes) -> bool:
    """Mostly non-ASCII letters (Cyrillic, Greek, CJK...): windows-1252 would garble every word, so
    even an unsure chardet guess is better. Western text has a few accented letters among many ASCII
    ones (XML markup counts as ASCII, which only makes this stricter)."""
    sample = content[:_CHARDET_SAMPLE]
    high = len(sample) - len(sample.translate(None, _HIGH_BYTES))
    ascii_letters = len(sample) - len(sample.translate(None, _ASCII_LETTERS))
    return high > 0.25 * (high + ascii_letters)


def decode_document(content: bytes, content_type: str | None = None, *, html: bool = False) -> str:
    """The text of a fetched document (feed, JSON or, with `html=True`, a web page)."""
    signature = unicode_signature(content)
    if signature:
        codec, skip = signature
        return content[skip:].decode(codec, "replace")
    try:
        return content.decode("utf-8")  # includes pure ASCII, which every label below agrees on
    except UnicodeDecodeError:
        pass
    declared = codec_for(html_declared_charset(content) if html else xml_declared_encoding(content))
    header = codec_for(header_charset(content_type))
    # A Unicode label on a body that is not valid Unicode is simply wrong: drop it.
    candidates = list(dict.fromkeys(c for c in (declared, header) if c and c not in _UNICODE))
    # chardet (slow-ish) only when the labels leave a doubt: none given, two that disagree, or only
    # the server's windows-1252/latin-1, the default that servers add without looking at the file.
    if len(candidates) != 1 or (candidates == ["cp1252"] and declared is None):
        guess, confidence = _guess(content)
        if guess in _UNICODE:
            guess = None
        if guess and guess in candidates:
            candidates = [guess, *(c for c in candidates if c != guess)]  # chardet backs one of two labels
        elif guess and declared is None and (confidence >= _CHARDET_SURE or _non_latin(content)):
            candidates.insert(0, guess)  # no label from the document, and the server's is a mere default
        elif guess and confidence >= _CHARDET_SURE:
            candidates.append(guess)  # it backs neither label: the document's own comes first
    for codec in candidates or ["cp1252"]:
        try:
            return content.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    # Nothing decodes cleanly (a stray byte the codec leaves undefined): keep the best codec, replace the byte.
    return content.decode(candidates[0] if candidates else "latin-1", "replace")


def decode_head(content: bytes, size: int = 4096) -> str:
    """The first `size` bytes as text, for sniffing markup (which is ASCII in every encoding but
    UTF-16/32): a character cut at the end, or a legacy byte, is simply dropped."""
    head = content[:size]
    signature = unicode_signature(head)
    if signature:
        codec, skip = signature
        return head[skip:].decode(codec, "ignore")
    return head.decode("utf-8", "ignore")
