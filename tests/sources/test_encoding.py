"""Bytes to text: BOMs, declared charsets, mislabelled UTF-8, and what wins when labels disagree."""

from __future__ import annotations

import codecs

import pytest

from app.sources.parsing import NotAFeed, decode_document, parse_feed
from app.sources.parsing.encoding import codec_for
from tests.sources.corpus import FETCHED_AT

RUSSIAN = "Новости: «Ёлка» на площади — в субботу"


def xml(encoding: str | None, title: str = RUSSIAN) -> str:
    declaration = f' encoding="{encoding}"' if encoding else ""
    return f'<?xml version="1.0"{declaration}?><rss version="2.0"><channel><title>{title}</title></channel></rss>'


def title_of(content: bytes, content_type: str | None = None) -> str:
    return parse_feed(content, url="https://example.com/feed", content_type=content_type, fetched_at=FETCHED_AT).title


@pytest.mark.parametrize(
    "label, codec",
    [
        ("windows-1251", "cp1251"),
        ("CP1251", "cp1251"),
        ("win-1251", "cp1251"),
        ("koi8-r", "koi8-r"),
        ("KOI8_R", "koi8-r"),
        ("ISO-8859-1", "cp1252"),  # what the web means by it
        ("latin1", "cp1252"),
        ("us-ascii", "cp1252"),
        ("iso-8859-5", "iso8859-5"),
        ("gb2312", "gb18030"),
        ("x-mac-cyrillic", "mac-cyrillic"),
        ('"utf-8"', "utf-8"),
        ("no-such-charset", None),
        (None, None),
    ],
)
def test_codec_for(label: str | None, codec: str | None):
    assert codec_for(label) == codec


@pytest.mark.parametrize(
    "content, content_type",
    [
        (xml("windows-1251").encode("cp1251"), None),
        (xml(None).encode("cp1251"), "text/xml; charset=windows-1251"),
        (xml(None).encode("cp1251"), 'application/rss+xml; charset="Windows-1251"'),
        (xml("windows-1251").encode("cp1251"), "text/xml; charset=utf-8"),  # header wrong, prolog right
        (xml("windows-1251").encode("cp1251"), "text/xml; charset=iso-8859-1"),  # a server default
        (xml(None).encode("cp1251"), "text/xml; charset=iso-8859-1"),  # only the server default: chardet decides
        (xml("utf-8").encode("utf-8"), "text/xml; charset=windows-1251"),  # mislabelled UTF-8
        (xml("windows-1251").encode("utf-8"), None),
        (xml("iso-8859-1").encode("utf-8"), "text/xml; charset=iso-8859-1"),
        (xml("utf-8").encode("utf-8"), None),
        (codecs.BOM_UTF8 + xml("windows-1251").encode("utf-8"), "text/xml; charset=koi8-r"),  # the BOM wins
        (codecs.BOM_UTF16_BE + xml("utf-16").encode("utf-16-be"), None),
        (xml("utf-16").encode("utf-16-le"), None),  # UTF-16 without a BOM, recognised by its zero bytes
        (codecs.BOM_UTF32_LE + xml("utf-32").encode("utf-32-le"), None),
    ],
)
def test_russian_comes_out_right(content: bytes, content_type: str | None):
    assert title_of(content, content_type) == RUSSIAN


def test_koi8_title_without_guillemets():
    title = "Ёлка на площади — нет, без тире: Ёлка на площади"
    koi8_safe = title.replace(" — нет, без тире", "")
    assert title_of(xml("koi8-r", koi8_safe).encode("koi8-r")) == koi8_safe


def test_a_stray_undefined_byte_does_not_lose_the_document():
    content = (
        xml("windows-1251").encode("cp1251").replace("Новости".encode("cp1251"), "Новости".encode("cp1251") + b"\x98")
    )
    assert title_of(content).startswith("Новости")


def test_decode_document_for_html_reads_meta_charset():
    page = '<html><head><meta charset="koi8-r"><title>Привет, мир</title></head></html>'
    assert "Привет, мир" in decode_document(page.encode("koi8-r"), "text/html", html=True)


def test_entities_still_decode_after_our_own_decoding():
    content = xml("windows-1251", "&#1055;&#1088;&#1080;&#1074;&#1077;&#1090; &amp; &laquo;мир&raquo;").encode("cp1251")
    assert title_of(content) == "Привет & «мир»"


def test_binary_is_not_a_feed():
    with pytest.raises(NotAFeed):
        title_of(b"\x1f\x8b\x08\x00" + bytes(range(256)))  # a gzip body nobody unpacked


@pytest.mark.parametrize("codec, bom", [("utf-32-be", codecs.BOM_UTF32_BE), ("utf-16-be", b""), ("utf-16-le", b"")])
def test_wide_encodings_are_not_mistaken_for_binary(codec: str, bom: bytes):
    assert title_of(bom + xml(codec[:6]).encode(codec)) == RUSSIAN  # declared "utf-32" / "utf-16"
