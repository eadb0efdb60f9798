"""parse_feed: fetched bytes in, ParsedFeed out, whatever the format and the encoding."""

from __future__ import annotations

from datetime import datetime

from app.i18n import gettext as _
from app.sources.parsing.encoding import decode_document, unicode_signature
from app.sources.parsing.jsonfeed import parse_json_feed
from app.sources.parsing.model import NotAFeed, ParsedFeed
from app.sources.parsing.syndication import parse_xml_feed

# C0 control bytes other than tab, newline, vertical tab, form feed and carriage return.
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 32)])


def _binary(content: bytes) -> bool:
    """Zero bytes without a UTF-16/32 pattern, or mostly control bytes: an image, archive, PDF..."""
    head = content[:1024]
    if unicode_signature(head):
        return False  # UTF-16/32 text is full of zero bytes
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return b"\x00" in head or controls > len(head) // 10


def parse_feed(content: bytes, *, url: str, content_type: str | None, fetched_at: datetime) -> ParsedFeed:
    """Read an RSS 0.9x/1.0/2.0, Atom 0.3/1.0 or JSON Feed 1.0/1.1 document.

    `url` is the address it was fetched from (after redirects): relative links are resolved against
    it when the document gives nothing better. `content_type` is the HTTP header as received (its
    charset is one clue to the encoding). `fetched_at` stands in for missing dates.
    Raises NotAFeed, with a message for a person, for anything that is not a readable feed.
    """
    if not content.strip():
        raise NotAFeed(_("The server sent an empty response instead of a feed."))
    if _binary(content):
        raise NotAFeed(_("This address does not lead to an RSS or Atom feed (it looks like a web page or other file)."))
    text = decode_document(content, content_type)
    first = text.lstrip()[:1]
    if first in ("{", "["):
        return parse_json_feed(text, url=url, fetched_at=fetched_at, content_type=content_type)
    return parse_xml_feed(text, url=url, fetched_at=fetched_at)
