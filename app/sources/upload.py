"""Uploaded documents (.txt, .md, .docx) as one source item each, with the text kept whole.

Long texts are a use case (stories are later cut into scenes), so nothing here truncates the text;
only the title is shortened. Every failure raises `UploadError` whose `message` is written for the
person who uploaded the file.
"""

from __future__ import annotations

import codecs
import html as html_lib
import io
import re
import zipfile
from dataclasses import dataclass

import nh3

from app.i18n import gettext as _

try:  # optional: legacy encodings (windows-1251, koi8-r) are guessed with chardet when installed
    import chardet
except ImportError:  # pragma: no cover - chardet is a project dependency
    chardet = None  # type: ignore[assignment]

__all__ = [
    "MAX_UPLOAD_BYTES",
    "SUPPORTED_EXTENSIONS",
    "UploadError",
    "UploadedDocument",
    "count_words",
    "decode_text",
    "markdown_to_text_and_html",
    "parse_upload",
]

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
SUPPORTED_EXTENSIONS = (".txt", ".md", ".docx")
TITLE_MAX_CHARS = 200
# Unpacked size cap for the XML inside a .docx, so a small zip cannot expand into gigabytes.
DOCX_MAX_XML_BYTES = 200 * 1024 * 1024
LINK_REL = "noopener noreferrer nofollow"


class UploadError(Exception):
    """The upload cannot become an item; `message` says why in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class UploadedDocument:
    title: str
    text: str  # the whole text, paragraphs separated by a blank line
    html: str  # a simple rendering (paragraphs, headings, lists, tables), sanitised with nh3
    word_count: int


# --- entry point ----------------------------------------------------------------------------------


def parse_upload(filename: str, data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES) -> UploadedDocument:
    """Turn an uploaded file into one document. Raises UploadError with a plain message."""
    name = _basename(filename)
    extension = _extension(name)
    if extension not in SUPPORTED_EXTENSIONS:
        raise UploadError(_("Upload a .txt, .md or .docx file."))
    if not data:
        raise UploadError(_("The file is empty."))
    if len(data) > max_bytes:
        raise UploadError(_("The file is larger than %(size)s.", size=_human_size(max_bytes)))
    stem = name[: -len(extension)].strip() or name

    if extension == ".docx":
        title, text, body_html = _parse_docx(data)
    elif extension == ".md":
        source = decode_text(data)
        text, body_html, heading = markdown_to_text_and_html(source)
        title = heading or _first_line(text)
    else:
        text = _normalise_text(decode_text(data))
        body_html = _plain_text_html(text)
        title = _first_line(text)

    if not text.strip():
        raise UploadError(_("The file has no text in it."))
    title = _shorten(title) or _shorten(stem)
    return UploadedDocument(
        title=title,
        text=text,
        html=nh3.clean(body_html, link_rel=LINK_REL),
        word_count=count_words(text),
    )


# --- small helpers --------------------------------------------------------------------------------

WORD_RE = re.compile(r"\w+(?:[-'’]\w+)*")


def count_words(text: str) -> int:
    return sum(1 for _match in WORD_RE.finditer(text))


def _basename(filename: str) -> str:
    # Some browsers send a full Windows path; keep the last part of either kind of path.
    return re.split(r"[\\/]", filename or "")[-1].strip()


def _extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _human_size(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _shorten(title: str, limit: int = TITLE_MAX_CHARS) -> str:
    """Whitespace collapsed; at most `limit` characters, cut at a word boundary with an ellipsis."""
    title = re.sub(r"\s+", " ", title).strip()
    if len(title) <= limit:
        return title
    cut = title[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-—") + "…"


def _normalise_text(text: str) -> str:
    """Unix newlines, no trailing spaces on lines, no blank lines at either end. Nothing else."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


def _paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


def _plain_text_html(text: str) -> str:
    """Paragraphs (blank-line separated) as <p>, single newlines as <br>."""
    return "\n".join(
        "<p>" + "<br>".join(html_lib.escape(line.strip()) for line in para.strip("\n").split("\n")) + "</p>"
        for para in _paragraphs(text)
    )


# --- decoding text --------------------------------------------------------------------------------

_BOMS = (  # UTF-32 before UTF-16: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CYRILLIC_GUESSES = {"windows-1251", "koi8-r", "koi8-u", "iso-8859-5", "maccyrillic", "ibm866", "cp866", "ibm855"}
_LOWER_CYRILLIC = re.compile(r"[а-яё]")
_UPPER_CYRILLIC = re.compile(r"[А-ЯЁ]")


def decode_text(data: bytes) -> str:
    """Bytes of a text file as str: a BOM wins, then strict UTF-8, then a guessed legacy encoding.

    Russian files from Windows are often windows-1251, older ones koi8-r. chardet names the family;
    between windows-1251 and koi8-r we pick the reading with more lowercase Cyrillic letters (read
    in the wrong one of the two, ordinary text comes out mostly in capitals).
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise UploadError(
                    _("The text could not be read: it is damaged (%(encoding)s).", encoding=encoding.upper())
                ) from exc
    if b"\x00" in data:
        raise UploadError(_("This file does not look like text. Save it as plain text (UTF-8) and upload again."))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    not_readable = UploadError(
        _("The text is not in UTF-8 and its encoding could not be recognised. Save it as UTF-8 and upload again.")
    )
    if chardet is None:
        raise not_readable
    guess = chardet.detect(data)
    encoding = (guess.get("encoding") or "").lower()
    if not encoding:
        raise not_readable
    candidates = [encoding]
    if encoding in _CYRILLIC_GUESSES:
        candidates = ["windows-1251", "koi8-r", encoding]
    readings: list[str] = []
    for candidate in candidates:
        try:
            readings.append(data.decode(candidate))
        except (UnicodeDecodeError, LookupError):
            continue
    if not readings:
        raise not_readable
    # max() keeps the first of equals, so windows-1251 wins a tie.
    return max(readings, key=lambda t: len(_LOWER_CYRILLIC.findall(t)) - len(_UPPER_CYRILLIC.findall(t)))


# --- Markdown -------------------------------------------------------------------------------------
# A small converter for what people write in .md files: ATX and setext headings, paragraphs,
# emphasis, links (inline, reference, autolinks), images (their alt text), code spans and fenced
# code, block quotes, bullet and numbered lists (nested by indentation), pipe tables, rules and raw
# HTML tags (dropped). It is not a full CommonMark implementation; it never loses text.

_ATX_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HR_RE = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_FENCE_RE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_QUOTE_RE = re.compile(r"^ {0,3}> ?(.*)$")
_ITEM_RE = re.compile(r"^([ \t]*)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$")
_REF_DEF_RE = re.compile(r"^ {0,3}\[([^\]]+)\]:[ \t]*<?([^\s>]+)>?(?:[ \t]+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?[ \t]*$")
_TABLE_SEP_RE = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_TASK_RE = re.compile(r"^\[[ xX]\][ \t]+")


@dataclass
class _Block:
    kind: str  # heading | para | list | code | quote | table | hr
    text: str = ""
    level: int = 0  # heading level
    items: list[tuple[int, str | None, str]] | None = None  # (depth, number or None, inline source)
    children: list[_Block] | None = None  # quote
    rows: list[list[str]] | None = None  # table


def markdown_to_text_and_html(source: str) -> tuple[str, str, str | None]:
    """Markdown → (plain text with paragraphs kept, simple HTML (not yet sanitised), first # heading)."""
    # Only newlines are normalised: two trailing spaces are a hard line break in Markdown.
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    refs: dict[str, str] = {}
    body: list[str] = []
    for line in lines:
        match = _REF_DEF_RE.match(line)
        if match:
            refs[_ref_key(match.group(1))] = match.group(2)
        else:
            body.append(line)
    blocks = _parse_blocks(body)
    inline = _Inline(refs)
    text = _blocks_text(blocks, inline)
    html = _blocks_html(blocks, inline)
    heading = next((inline.text(b.text) for b in blocks if b.kind == "heading" and b.level == 1), None)
    return text, html, (heading.strip() or None) if heading else None


def _ref_key(label: str) -> str:
    return re.sub(r"\s+", " ", label).strip().lower()


def _parse_blocks(lines: list[str]) -> list[_Block]:
    blocks: list[_Block] = []
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        fence = _FENCE_RE.match(line)
        if fence:
            marker = fence.group(2)
            code: list[str] = []
            i += 1
            while i < n and not lines[i].lstrip().startswith(marker[0] * len(marker)):
                code.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end of the file)
            blocks.append(_Block("code", text="\n".join(code)))
            continue
        atx = _ATX_RE.match(line)
        if atx:
            blocks.append(_Block("heading", text=(atx.group(2) or "").strip(), level=len(atx.group(1))))
            i += 1
            continue
        if _HR_RE.match(line):
            blocks.append(_Block("hr"))
            i += 1
            continue
        if _QUOTE_RE.match(line):
            quoted: list[str] = []
            while i < n and lines[i].strip():
                match = _QUOTE_RE.match(lines[i])
                quoted.append(match.group(1) if match else lines[i])  # lazy continuation lines
                i += 1
            blocks.append(_Block("quote", children=_parse_blocks(quoted)))
            continue
        if _ITEM_RE.match(line):
            items: list[tuple[int, str | None, str]] = []
            indents: list[int] = []
            while i < n:
                current = lines[i]
                item = _ITEM_RE.match(current)
                if item and not _HR_RE.match(current):
                    indent = len(item.group(1).expandtabs(4))
                    while indents and indent < indents[-1]:
                        indents.pop()
                    if not indents or indent > indents[-1]:
                        indents.append(indent)
                    marker = item.group(2)
                    number = marker[:-1] if marker[-1] in ".)" else None
                    content = _TASK_RE.sub("", (item.group(3) or "").strip())
                    items.append((len(indents) - 1, number, content))
                    i += 1
                elif current.strip() and items and not _starts_block(current):
                    depth, number, content = items[-1]  # a continuation line of the item
                    items[-1] = (depth, number, f"{content}\n{current.strip()}")
                    i += 1
                elif not current.strip() and i + 1 < n and _ITEM_RE.match(lines[i + 1]):
                    i += 1  # a blank line between items keeps the list going
                else:
                    break
            blocks.append(_Block("list", items=items))
            continue
        if (
            "|" in line
            and i + 1 < n
            and _TABLE_SEP_RE.match(lines[i + 1])
            and len(_table_cells(line)) == len(_table_cells(lines[i + 1]))
        ):
            rows = [_table_cells(line)]
            i += 2
            while i < n and lines[i].strip() and "|" in lines[i]:
                rows.append(_table_cells(lines[i]))
                i += 1
            blocks.append(_Block("table", rows=rows))
            continue
        # A paragraph: up to a blank line or a line that starts another block.
        para = [line]
        i += 1
        while i < n and lines[i].strip():
            setext = _SETEXT_RE.match(lines[i])
            if setext:
                level = 1 if setext.group(1).startswith("=") else 2
                blocks.append(_Block("heading", text="\n".join(para).strip(), level=level))
                para = []
                i += 1
                break
            if _starts_block(lines[i], interrupting=True):
                break
            para.append(lines[i])
            i += 1
        if para:
            blocks.append(_Block("para", text="\n".join(para)))
    return blocks


def _starts_block(line: str, *, interrupting: bool = False) -> bool:
    if _FENCE_RE.match(line) or _ATX_RE.match(line) or _QUOTE_RE.match(line) or _HR_RE.match(line):
        return True
    item = _ITEM_RE.match(line)
    if item and item.group(3):
        marker = item.group(2)
        # As in CommonMark, only "1." may start a numbered list inside a paragraph, so a line
        # such as "2019. A year later" stays text.
        return not interrupting or not marker[0].isdigit() or marker[:-1] == "1"
    return False


def _table_cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


def _blocks_text(blocks: list[_Block], inline: _Inline) -> str:
    parts: list[str] = []
    for block in blocks:
        if block.kind in ("heading", "para"):
            parts.append(inline.text(block.text))
        elif block.kind == "code":
            parts.append(block.text)
        elif block.kind == "list":
            lines = []
            for _depth, number, content in block.items or []:
                line = inline.text(content)
                lines.append(f"{number}. {line}" if number is not None else line)
            parts.append("\n".join(lines))
        elif block.kind == "quote":
            parts.append(_blocks_text(block.children or [], inline))
        elif block.kind == "table":
            parts.append("\n".join(" | ".join(inline.text(c) for c in row) for row in block.rows or []))
    return "\n\n".join(p.strip("\n") for p in parts if p.strip())


def _blocks_html(blocks: list[_Block], inline: _Inline) -> str:
    out: list[str] = []
    for block in blocks:
        if block.kind == "heading":
            out.append(f"<h{block.level}>{inline.html(block.text)}</h{block.level}>")
        elif block.kind == "para":
            out.append(f"<p>{inline.html(block.text)}</p>")
        elif block.kind == "code":
            out.append(f"<pre><code>{html_lib.escape(block.text)}</code></pre>")
        elif block.kind == "hr":
            out.append("<hr>")
        elif block.kind == "quote":
            out.append(f"<blockquote>{_blocks_html(block.children or [], inline)}</blockquote>")
        elif block.kind == "list":
            out.append(_list_html(block.items or [], inline))
        elif block.kind == "table":
            rows = block.rows or []
            head = "".join(f"<th>{inline.html(c)}</th>" for c in rows[0]) if rows else ""
            body = "".join("<tr>" + "".join(f"<td>{inline.html(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "\n".join(out)


def _list_html(items: list[tuple[int, str | None, str]], inline: _Inline) -> str:
    """Nested <ul>/<ol> from (depth, number, text) items."""
    out: list[str] = []
    stack: list[str] = []  # open list tags, one per depth
    for depth, number, content in items:
        tag = "ol" if number is not None else "ul"
        while len(stack) > depth + 1:
            out.append(f"</li></{stack.pop()}>")
        if len(stack) == depth + 1 and stack[-1] != tag:
            out.append(f"</li></{stack.pop()}>")
        if len(stack) == depth + 1:
            out.append("</li>")
        while len(stack) < depth + 1:
            start = f' start="{int(number)}"' if number is not None and int(number) != 1 and not stack else ""
            out.append(f"<{tag}{start}>")
            stack.append(tag)
        out.append(f"<li>{inline.html(content)}")
    while stack:
        out.append(f"</li></{stack.pop()}>")
    return "".join(out)


# Inline markup, earliest match first; at one position the alternatives are tried in this order.
# Each body stops at the next delimiter of its own kind (rather than "any character, lazily"), so
# an unclosed `*`, `_` or backtick costs a short scan, never one to the end of a long paragraph.
# The price: emphasis nested in the same character (`*a *b* c*`) keeps its outer stars.
_INLINE_RE = re.compile(
    r"(?P<code>(?P<ticks>`+)(?P<code_body>(?:[^`]|`(?!`)){1,5000}?)(?P=ticks)(?!`))"
    r"|\\(?P<esc>[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])"
    r"|(?P<hardbreak>(?: {2,}|\\)\n)"
    r"|!\[(?P<img_alt>[^\]]*)\](?:\((?:[^()\s]|\([^()\s]*\))*(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)|\[[^\]]*\])?"
    r"|\[(?P<link_text>(?:[^\[\]]|\[[^\[\]]*\])*)\]"
    r"(?:\((?P<link_url><[^>\n]*>|(?:[^()\s]|\([^()\s]*\))*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
    r"|\[(?P<ref>[^\]]*)\])?"
    r"|<(?P<auto>(?:https?|ftp)://[^\s<>]+|[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+)>"
    r"|(?P<tag></?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|<!--[^<]{0,5000}?-->)"
    r"|\*\*\*(?=[^\s*])(?P<strongem_a>[^*]{1,5000}?)(?<=[^\s*])\*\*\*"
    r"|(?<![\w_])___(?=[^\s_])(?P<strongem_u>[^_]{1,5000}?)(?<=[^\s_])___(?![\w_])"
    r"|\*\*(?=[^\s*])(?P<strong_a>(?:[^*]|\*(?!\*)){1,5000}?)(?<=\S)\*\*"
    r"|(?<![\w_])__(?=[^\s_])(?P<strong_u>(?:[^_]|_(?!_)){1,5000}?)(?<=\S)__(?![\w_])"
    r"|\*(?=[^\s*])(?P<em_a>[^*]{1,5000}?)(?<=[^\s*])\*(?!\*)"
    r"|(?<![\w_])_(?=[^\s_])(?P<em_u>(?:[^_]|(?<=\w)_(?=\w)){1,5000}?)(?<=[^\s_])_(?![\w_])"
    r"|~~(?=[^\s~])(?P<strike>(?:[^~]|~(?!~)){1,5000}?)(?<=\S)~~",
)
_SAFE_URL_RE = re.compile(r"^(?:https?://|mailto:|/|#)", re.IGNORECASE)


class _Inline:
    """Renders inline Markdown to plain text or to HTML (escaped, before nh3)."""

    def __init__(self, refs: dict[str, str]) -> None:
        self.refs = refs

    def text(self, source: str) -> str:
        # Soft line breaks inside a paragraph are spaces; hard breaks stay line breaks.
        rendered = self._render(source, html=False)
        return "\n".join(re.sub(r"[ \t]+", " ", line).strip() for line in rendered.split("\n"))

    def html(self, source: str) -> str:
        return self._render(source, html=True)

    def _render(self, source: str, *, html: bool) -> str:
        out: list[str] = []
        pos = 0
        for match in _INLINE_RE.finditer(source):
            out.append(self._plain(source[pos : match.start()], html))
            out.append(self._node(match, html))
            pos = match.end()
        out.append(self._plain(source[pos:], html))
        return "".join(out)

    @staticmethod
    def _plain(chunk: str, html: bool) -> str:
        chunk = chunk.replace("\n", " ")  # soft break
        chunk = html_lib.unescape(chunk)  # entities such as &amp; or &nbsp; as characters
        return html_lib.escape(chunk, quote=False) if html else chunk

    def _node(self, m: re.Match[str], html: bool) -> str:
        g = m.groupdict()
        if g["code"] is not None:
            body = g["code_body"].replace("\n", " ")
            if body.startswith(" ") and body.endswith(" ") and body.strip():
                body = body[1:-1]
            return f"<code>{html_lib.escape(body, quote=False)}</code>" if html else body
        if g["esc"] is not None:
            return html_lib.escape(g["esc"], quote=False) if html else g["esc"]
        if g["hardbreak"] is not None:
            return "<br>" if html else "\n"
        if g["img_alt"] is not None:
            return self._render(g["img_alt"], html=html)
        if g["link_text"] is not None:
            inner = self._render(g["link_text"], html=html)
            if g["link_url"] is not None:
                url: str | None = g["link_url"].strip("<>")
            elif g["ref"] is not None or _ref_key(g["link_text"]) in self.refs:
                url = self.refs.get(_ref_key(g["ref"] or g["link_text"]))
                if url is None:  # not a reference after all: keep the brackets as written
                    return self._plain(m.group(0), html)
            else:
                return f"[{inner}]"
            return self._anchor(url, inner) if html else inner
        if g["auto"] is not None:
            address = g["auto"]
            if html:
                href = address if "://" in address else f"mailto:{address}"
                return self._anchor(href, html_lib.escape(address, quote=False))
            return address
        if g["tag"] is not None:
            return ("<br>" if html else "\n") if re.match(r"<br\b", g["tag"], re.IGNORECASE) else ""
        for name, tag in (
            ("strongem_a", "strong><em"),
            ("strongem_u", "strong><em"),
            ("strong_a", "strong"),
            ("strong_u", "strong"),
            ("em_a", "em"),
            ("em_u", "em"),
            ("strike", "del"),
        ):
            if g[name] is not None:
                inner = self._render(g[name], html=html)
                if not html:
                    return inner
                closing = "</em></strong>" if name.startswith("strongem") else f"</{tag}>"
                return f"<{tag}>{inner}{closing}"
        return m.group(0)  # pragma: no cover - every alternative is handled above

    @staticmethod
    def _anchor(url: str | None, inner_html: str) -> str:
        if not url or not _SAFE_URL_RE.match(url):
            return inner_html  # unknown or unsafe scheme: keep the words, drop the link
        return f'<a href="{html_lib.escape(url, quote=True)}">{inner_html}</a>'


# --- .docx ----------------------------------------------------------------------------------------


def _parse_docx(data: bytes) -> tuple[str, str, str]:
    """(title, text, html) of a .docx: paragraphs and tables in document order."""
    not_docx = UploadError(
        _(
            "This file is not a real .docx document (it may be an old .doc, a password-protected "
            "file or another file renamed). Save it as .docx in Word and upload again."
        )
    )
    damaged = UploadError(_("The .docx file is damaged and could not be read. Save it again in Word and upload it."))
    if not data.startswith(b"PK\x03\x04"):
        raise not_docx
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            unpacked = sum(i.file_size for i in archive.infolist() if i.filename.endswith((".xml", ".rels")))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise damaged from exc
    if "word/document.xml" not in names or "[Content_Types].xml" not in names:
        raise not_docx  # a zip, but not a Word document (for example an .xlsx or .odt renamed)
    if unpacked > DOCX_MAX_XML_BYTES:
        raise UploadError(
            _(
                "The .docx file holds too much text to read (over %(size)s unpacked).",
                size=_human_size(DOCX_MAX_XML_BYTES),
            )
        )

    import docx  # python-docx; imported here so the text paths do not pay for lxml and friends
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
        core_title = (document.core_properties.title or "").strip()
        text_parts: list[str] = []
        html_parts: list[str] = []
        heading_title = ""
        first_paragraph = ""
        list_open: str | None = None
        for block in document.iter_inner_content():  # paragraphs and tables in document order
            if isinstance(block, Paragraph):
                para_text = _normalise_text(block.text)
                if not para_text.strip():
                    continue
                style = _style_name(block)
                level = _heading_level(style)
                first_paragraph = first_paragraph or para_text
                if level is not None and not heading_title:
                    heading_title = para_text
                list_tag = _list_tag(style)
                if list_open and list_tag != list_open:
                    html_parts.append(f"</{list_open}>")
                    list_open = None
                escaped = "<br>".join(html_lib.escape(line) for line in para_text.split("\n"))
                if list_tag:
                    if list_open is None:
                        html_parts.append(f"<{list_tag}>")
                        list_open = list_tag
                    html_parts.append(f"<li>{escaped}</li>")
                elif level is not None:
                    html_parts.append(f"<h{max(level, 1)}>{escaped}</h{max(level, 1)}>")
                else:
                    html_parts.append(f"<p>{escaped}</p>")
                text_parts.append(para_text)
            else:
                if list_open:
                    html_parts.append(f"</{list_open}>")
                    list_open = None
                rows = _docx_table_rows(block)
                if not rows:
                    continue
                text_parts.append("\n".join(" | ".join(cells) for cells in rows))
                html_parts.append(
                    "<table><tbody>"
                    + "".join(
                        "<tr>"
                        + "".join(f"<td>{'<br>'.join(html_lib.escape(x) for x in c.split(chr(10)))}</td>" for c in row)
                        + "</tr>"
                        for row in rows
                    )
                    + "</tbody></table>"
                )
        if list_open:
            html_parts.append(f"</{list_open}>")
    except UploadError:
        raise
    except Exception as exc:  # python-docx raises many kinds (KeyError, lxml errors, ValueError...)
        raise damaged from exc
    text = "\n\n".join(text_parts)
    title = core_title or heading_title or _first_line(first_paragraph)
    return title, text, "\n".join(html_parts)


def _style_name(paragraph: object) -> str:
    """The paragraph's style name, or "" when the document's styles are odd (never fatal)."""
    try:
        style = paragraph.style  # type: ignore[attr-defined]
        return (style.name or "") if style is not None else ""
    except Exception:  # noqa: BLE001 - a broken style must not make the whole text unreadable
        return ""


def _docx_table_rows(table: object) -> list[list[str]]:
    """Cell texts row by row; a merged cell counts once; empty rows dropped."""
    rows: list[list[str]] = []
    for row in table.rows:  # type: ignore[attr-defined]
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous:  # horizontally merged: same cell again
                continue
            previous = cell._tc
            cells.append(_normalise_text(cell.text))
        if any(c.strip() for c in cells):
            rows.append(cells)
    return rows


def _heading_level(style_name: str) -> int | None:
    lowered = style_name.lower()
    if lowered == "title":
        return 1
    match = re.match(r"heading\s*(\d)", lowered)
    if match:
        return min(int(match.group(1)), 6)
    return None


def _list_tag(style_name: str) -> str | None:
    lowered = style_name.lower()
    if lowered.startswith("list number"):
        return "ol"
    if lowered.startswith(("list bullet", "list paragraph")):
        return "ul"
    return None
