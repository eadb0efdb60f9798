"""HTML in feeds: sanitising (nh3) with links made absolute, plain text, titles, the first image."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import nh3

from app.sources.parsing.urls import absolute_url

LINK_REL = "noopener noreferrer nofollow"
_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
# An href/src/cite whose value is not an absolute http(s) URL (may be a false alarm: that is fine).
_RELATIVE_URL = re.compile(r"""\b(?:href|src|cite)\s*=\s*["']?\s*(?!https?://)""", re.IGNORECASE)

# nh3 serialises canonically (double-quoted attributes, `<`, `>` and `"` escaped inside values and
# text), so after sanitising, a regular expression can walk the tags safely and quickly.
_TAG = re.compile(r'</?[a-zA-Z][a-zA-Z0-9]*(?:[^>"]|"[^"]*")*>')
_IMG = re.compile(r"<img\b(?:[^>\"]|\"[^\"]*\")*>")
_ATTRIBUTE = re.compile(r'\s([a-z-]+)="([^"]*)"')
_BLOCKS = (
    "p|div|li|ul|ol|dl|dt|dd|h[1-6]|blockquote|pre|table|thead|tbody|tfoot|tr|caption|hr|section|article|aside|"
    "header|footer|nav|main|figure|figcaption|details|summary|address"
)
# Three plain substitutions (no Python callback per tag): line breaks, block edges, table cells.
_BREAK_TAG = re.compile(r"<br\b[^>]*>", re.IGNORECASE)
_BLOCK_TAG = re.compile(rf'</?(?:{_BLOCKS})\b(?:[^>"]|"[^"]*")*>', re.IGNORECASE)
_CELL_TAG = re.compile(r'</?t[dh]\b(?:[^>"]|"[^"]*")*>', re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_BLANK_LINES = re.compile(r"\n\n\n+")  # (faster than \n{3,}, which defeats the literal-prefix search)
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']*[^\s<>\"'.,;:!?)\]»]")


def _resolver(base_url: str | None) -> Callable[[str, str, str], str | None]:
    def resolve(_tag: str, attribute: str, value: str) -> str | None:
        if attribute in _URL_ATTRIBUTES and base_url:
            # Only http(s) results survive; nh3 has already removed javascript: and similar.
            return absolute_url(value, base_url) or (value if value.startswith(("mailto:", "tel:")) else None)
        return value

    return resolve


def sanitize_html(fragment: str, base_url: str | None) -> str:
    """Safe HTML: scripts, styles, event handlers and unknown tags gone, links opened safely,
    relative href/src/cite made absolute against `base_url`."""
    if not fragment:
        return ""
    if base_url and _RELATIVE_URL.search(fragment):
        return nh3.clean(fragment, attribute_filter=_resolver(base_url), link_rel=LINK_REL).strip()
    return nh3.clean(fragment, link_rel=LINK_REL).strip()  # twice as fast without the Python callback


def _linked(text: str) -> str:
    """Escaped text with its bare http(s) URLs turned into links."""
    parts, last = [], 0
    for match in _URL_IN_TEXT.finditer(text):
        url = html.escape(match.group(0))
        parts += [html.escape(text[last : match.start()]), f'<a href="{url}" rel="{LINK_REL}">{url}</a>']
        last = match.end()
    parts.append(html.escape(text[last:]))
    return "".join(parts)


def plain_to_html(text: str) -> str:
    """Plain text as safe HTML: paragraphs at blank lines, <br> at single newlines, URLs linked."""
    text = text.replace("\r\n", "\n").strip()
    paragraphs = (_linked(p.strip()).replace("\n", "<br>") for p in _PARAGRAPH_BREAK.split(text))
    return "".join(f"<p>{p}</p>" for p in paragraphs if p)


def _tidy(text: str) -> str:
    """Spaces collapsed, lines trimmed, paragraphs separated by exactly one blank line."""
    # str.split() is the fastest whitespace collapser there is (and knows no-break and Unicode spaces).
    text = "\n".join(" ".join(line.split()) for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip("\n")


def html_to_text(safe_html: str) -> str:
    """Plain text of *sanitised* HTML (the output of `sanitize_html`): paragraphs separated by a
    blank line, line breaks kept, entities decoded."""
    if not safe_html:
        return ""
    text = _BREAK_TAG.sub("\n", safe_html)
    text = _BLOCK_TAG.sub("\n\n", text)
    text = _CELL_TAG.sub(" ", text)
    return _tidy(html.unescape(_TAG.sub("", text)))


def plain_text(fragment: str, *, is_html: bool = True) -> str:
    """One line of text from a title-like field: tags dropped (when HTML), entities decoded,
    whitespace collapsed. Text fields are unescaped once too: a title written `AT&amp;amp;T` in the
    XML (escaped twice by its CMS) reads "AT&T", never "AT&amp;T"."""
    if not fragment:
        return ""
    text = nh3.clean(fragment, tags=set()) if is_html else fragment
    return " ".join(html.unescape(text).split())


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def first_image(safe_html: str) -> str | None:
    """src of the first real <img> in sanitised HTML (1x1 tracking pixels skipped)."""
    for tag in _IMG.finditer(safe_html):
        attributes = dict(_ATTRIBUTE.findall(tag.group(0)))
        if attributes.get("width") in ("0", "1") or attributes.get("height") in ("0", "1"):
            continue
        src = html.unescape(attributes.get("src", ""))
        if src.startswith(("http://", "https://")):
            return src
    return None
