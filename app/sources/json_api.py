"""A "news JSON API" source: a URL returning JSON plus a field mapping set in the form.

The mapping names where the list of items is (``items_path``) and, inside each item, where the
title, link, summary, content, image, date and id are. Paths are dotted, with list indexes as
numbers: ``data.articles``, ``response.results``, ``media.0.url``, ``author.name``. An empty
``items_path`` means the document itself is the list. (``items[0].url`` and a leading ``$.`` are
accepted too, since people paste them from other tools.)

The form previews a mapping on the real response before saving: `validate_mapping` lists problems
in plain words, `suggest_mapping` makes a first guess, `extract_items` gives the items.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import nh3

from app.i18n import gettext as _

if TYPE_CHECKING:
    from app.net.fetcher import FetchResult, SafeFetcher

__all__ = [
    "ExtractedItems",
    "FieldMapping",
    "JsonApiError",
    "JsonApiRequest",
    "JsonItem",
    "extract_items",
    "fetch_json",
    "fetch_json_if_changed",
    "parse_date",
    "parse_json",
    "resolve_path",
    "suggest_mapping",
    "validate_mapping",
]

LINK_REL = "noopener noreferrer nofollow"
TITLE_MAX_CHARS = 1000
_MISSING: Any = object()


class JsonApiError(Exception):
    """The API's answer cannot be used; `message` can be shown to a person as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- mapping and items ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldMapping:
    items_path: str
    title: str
    url: str
    summary: str | None = None
    content: str | None = None
    image: str | None = None
    date: str | None = None
    guid: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """For storing in the source's settings (JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldMapping:
        """From stored settings or a form: unknown keys ignored, blanks become None ("" for the
        required paths), surrounding spaces trimmed."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for name in known:
            raw = data.get(name)
            text = str(raw).strip() if raw is not None else ""
            values[name] = text if name in ("items_path", "title", "url") else (text or None)
        return cls(**values)

    def field_paths(self) -> dict[str, str]:
        """The item fields that are mapped: {field name: path}."""
        return {
            name: path
            for name in ("title", "url", "summary", "content", "image", "date", "guid")
            if (path := getattr(self, name))
        }


@dataclass
class JsonItem:
    guid: str | None  # the mapped id, as text; None when not mapped or missing
    url: str | None  # absolute http(s) URL or None
    title: str  # plain text, never empty
    summary: str  # plain text
    content_html: str  # sanitised with nh3
    content_text: str  # the same content as plain text, paragraphs kept
    image_url: str | None
    published_at: datetime  # UTC; the fetch time when the item has no usable date


class ExtractedItems(list[JsonItem]):
    """The items, as a list, plus how many entries were skipped (no title and no link)."""

    def __init__(self, items: list[JsonItem] | None = None, *, skipped: int = 0) -> None:
        super().__init__(items or [])
        self.skipped = skipped


# --- paths ----------------------------------------------------------------------------------------

_BRACKET_INDEX_RE = re.compile(r"\[\s*(-?\d+)\s*\]")


class _PathSyntaxError(ValueError):
    pass


def _split_path(path: str) -> list[str]:
    """'data.articles' → ['data', 'articles']; '' → []; 'items[0].url' → ['items', '0', 'url']."""
    path = (path or "").strip()
    if path in ("", "$"):
        return []
    if path.startswith("$."):
        path = path[2:]
    path = _BRACKET_INDEX_RE.sub(r".\1", path).lstrip(".")
    segments = [segment.strip() for segment in path.split(".")]
    if any(not segment for segment in segments) or any(c in path for c in "[]*"):
        raise _PathSyntaxError(path)
    return segments


def _step(value: Any, segment: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(segment, _MISSING)
    if isinstance(value, list) and re.fullmatch(r"-?\d+", segment):
        index = int(segment)
        return value[index] if -len(value) <= index < len(value) else _MISSING
    return _MISSING


def resolve_path(document: Any, path: str) -> Any:
    """The value at `path`, or None when it is not there (or the path is not valid)."""
    try:
        segments = _split_path(path)
    except _PathSyntaxError:
        return None
    value = document
    for segment in segments:
        value = _step(value, segment)
        if value is _MISSING:
            return None
    return value


def _describe(value: Any) -> str:
    """A few plain words about a JSON value, for messages."""
    if isinstance(value, Mapping):
        keys = list(value.keys())
        if not keys:
            return _("an empty object")
        shown = ", ".join(str(k) for k in keys[:12]) + (", …" if len(keys) > 12 else "")
        return _("an object with keys: %(keys)s", keys=shown)
    if isinstance(value, list):
        return _("a list of %(count)s entries", count=len(value))
    if isinstance(value, bool):
        return _("true/false")
    if isinstance(value, int | float):
        return _("a number")
    if isinstance(value, str):
        return _("text")
    if value is None:
        return _("null")
    return _("a value of an unknown kind")


def _locate_items(document: Any, items_path: str) -> tuple[list[Any] | None, str | None]:
    """(the list at items_path, None) or (None, a problem in plain words)."""
    shown_path = items_path.strip()
    try:
        segments = _split_path(items_path)
    except _PathSyntaxError:
        return None, _(
            "items path '%(path)s' is not a valid path (use names and numbers separated by dots, like data.articles)",
            path=shown_path,
        )
    value = document
    for position, segment in enumerate(segments):
        following = _step(value, segment)
        if following is _MISSING:
            where = f"'{'.'.join(segments[:position])}'" if position else _("the top level")
            return None, _(
                "items path '%(path)s' does not lead to a list ('%(segment)s' is not in %(where)s, which is %(found)s)",
                path=shown_path,
                segment=segment,
                where=where,
                found=_describe(value),
            )
        value = following
    if not isinstance(value, list):
        if not shown_path:
            return None, _(
                "the top level of the response is not a list (found %(found)s): set the items path",
                found=_describe(value),
            )
        return None, _(
            "items path '%(path)s' does not lead to a list (found %(found)s)", path=shown_path, found=_describe(value)
        )
    return value, None


# --- values ---------------------------------------------------------------------------------------

_TAG_RE = re.compile(r"<[a-zA-Z/!][^>]*>")
_BLOCK_END_RE = re.compile(r"<(?:/p|/div|/li|/h[1-6]|/blockquote|/tr|/pre|/figure|hr\s*/?)\s*>", re.IGNORECASE)
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
# NewsAPI cuts `content` to ~200 characters and appends this marker.
_NEWSAPI_TRUNCATION_RE = re.compile(r"\s*…?\s*\[\+\d+ chars\]\s*$")


def _scalar_text(value: Any) -> str | None:
    """Text of a JSON scalar; None for missing, null, objects and lists."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def _html_to_text(markup: str) -> str:
    """Plain text of HTML (or of text), keeping paragraph breaks."""
    if not _TAG_RE.search(markup):
        text = html_lib.unescape(markup)
    else:
        spaced = _BR_RE.sub("\n", _BLOCK_END_RE.sub("\n\n", markup))
        text = html_lib.unescape(nh3.clean(spaced, tags=set()))
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _to_safe_html(value: str) -> str:
    """Sanitised HTML; plain text becomes paragraphs first."""
    if _TAG_RE.search(value):
        return nh3.clean(value, link_rel=LINK_REL)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", value.replace("\r\n", "\n")) if p.strip()]
    return "".join("<p>" + html_lib.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)


def _absolute_http_url(value: str | None, base_url: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if base_url:
        value = urljoin(base_url, value)
    elif value.startswith("//"):
        value = "https:" + value
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value


def parse_date(value: Any) -> datetime | None:
    """A date from ISO 8601, RFC 2822 or unix seconds/milliseconds (numbers or numeric text), in UTC.

    Naive dates are taken as UTC. None when the value is not a date Zavod understands.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if re.fullmatch(r"-?\d+(?:\.\d+)?", text):
            return _from_timestamp(float(text))
        return _from_text(text)
    if isinstance(value, int | float):
        return _from_timestamp(float(value))
    return None


def _from_timestamp(number: float) -> datetime | None:
    magnitude = abs(number)
    if magnitude >= 1e17:  # nanoseconds
        number /= 1e9
    elif magnitude >= 1e14:  # microseconds
        number /= 1e6
    elif magnitude >= 1e11:  # milliseconds (1e11 seconds would be the year 5138)
        number /= 1e3
    try:
        moment = datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment if 1970 <= moment.year <= 2200 else None


def _from_text(text: str) -> datetime | None:
    moment: datetime | None = None
    iso = text.replace(" ", "T", 1) if re.match(r"\d{4}-\d{2}-\d{2} \d", text) else text
    if iso.endswith(("z", "Z")):
        iso = iso[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


# --- extraction -----------------------------------------------------------------------------------


def extract_items(
    document: Any, mapping: FieldMapping, *, fetched_at: datetime, base_url: str | None = None
) -> ExtractedItems:
    """The items of `document` per `mapping`.

    Raises JsonApiError when the items path does not lead to a list (the API changed shape or the
    mapping is wrong). Entries with neither a title nor a link, and entries that are not objects,
    are skipped and counted in `.skipped`. `base_url` (the API's URL) resolves relative links.
    """
    items, problem = _locate_items(document, mapping.items_path)
    if items is None:
        raise JsonApiError(_capitalise(problem or ""))
    if fetched_at.tzinfo is None:
        fetched_at = fetched_at.replace(tzinfo=UTC)
    fetched_at = fetched_at.astimezone(UTC)

    result = ExtractedItems()
    for entry in items:
        item = _extract_one(entry, mapping, fetched_at, base_url) if isinstance(entry, Mapping) else None
        if item is None:
            result.skipped += 1
        else:
            result.append(item)
    return result


def _text_at(entry: Any, path: str | None) -> str | None:
    if not path:
        return None
    text = _scalar_text(resolve_path(entry, path))
    return text.strip() if text is not None and text.strip() else None


def _extract_one(
    entry: Mapping[str, Any], mapping: FieldMapping, fetched_at: datetime, base_url: str | None
) -> JsonItem | None:
    raw_title = _text_at(entry, mapping.title)
    url = _absolute_http_url(_text_at(entry, mapping.url), base_url)
    if not raw_title and not url:
        return None
    summary_raw = _text_at(entry, mapping.summary)
    content_raw = _text_at(entry, mapping.content)
    if content_raw:
        content_raw = _NEWSAPI_TRUNCATION_RE.sub("…", content_raw)
    body = content_raw or summary_raw or ""
    summary = _html_to_text(summary_raw) if summary_raw else ""
    content_text = _html_to_text(body) if body else ""
    title = re.sub(r"\s+", " ", _html_to_text(raw_title)).strip() if raw_title else ""
    if not title:  # a link without a title: the opening words of the text, else the link
        title = _first_words(summary or content_text) or (url or "")
    published = parse_date(resolve_path(entry, mapping.date)) if mapping.date else None
    return JsonItem(
        guid=_text_at(entry, mapping.guid),
        url=url,
        title=title[:TITLE_MAX_CHARS],
        summary=summary,
        content_html=_to_safe_html(body) if body else "",
        content_text=content_text,
        image_url=_absolute_http_url(_text_at(entry, mapping.image), base_url),
        published_at=published or fetched_at,
    )


def _first_words(text: str, limit: int = 120) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + "…"


def _capitalise(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


# --- validation (the form's preview) --------------------------------------------------------------


def _field_label(name: str) -> str:
    labels = {
        "title": _("title"),
        "url": _("link"),
        "summary": _("summary"),
        "content": _("content"),
        "image": _("image"),
        "date": _("date"),
        "guid": _("id"),
    }
    return labels.get(name, name)


_PREFERRED_INNER_KEYS = ("rendered", "name", "title", "text", "value", "url", "href", "src", "$t", "#text")


def validate_mapping(document: Any, mapping: FieldMapping) -> list[str]:
    """Problems with `mapping` on this real `document`, one plain sentence each; [] when it works.

    Checked: the items path leads to a list of objects; title and link are set; each mapped field
    has a value in at least one item, of a usable kind (text, a link, a date).
    """
    problems: list[str] = []
    if not mapping.title.strip() and not mapping.url.strip():
        problems.append(_("set at least the title or the link path"))
    items, problem = _locate_items(document, mapping.items_path)
    if items is None:
        return [*problems, problem or ""]
    if not items:
        problems.append(
            _("the list at '%(path)s' is empty, so the fields cannot be checked yet", path=mapping.items_path or "$")
        )
        return problems
    objects = [entry for entry in items if isinstance(entry, Mapping)]
    if not objects:
        problems.append(
            _(
                "the entries of the list at '%(path)s' are not objects (the first is %(found)s)",
                path=mapping.items_path or "$",
                found=_describe(items[0]),
            )
        )
        return problems

    for name, path in mapping.field_paths().items():
        try:
            _split_path(path)
        except _PathSyntaxError:
            problems.append(
                _(
                    "the %(field)s path '%(path)s' is not a valid path (use names and numbers separated by dots)",
                    field=_field_label(name),
                    path=path,
                )
            )
            continue
        values = [resolve_path(entry, path) for entry in objects]
        present = [v for v in values if v is not None and v != "" and v != [] and v != {}]
        if not present:
            problems.append(_("no item has a value at '%(path)s'", path=path))
            continue
        texts = [t for v in present if (t := _scalar_text(v)) is not None and t.strip()]
        if not texts:
            problems.append(_not_text_problem(path, present[0]))
            continue
        if name in ("url", "image") and not any(_absolute_http_url(t, None) or t.startswith("/") for t in texts):
            problems.append(
                _(
                    "the values at '%(path)s' are not web addresses (for example '%(example)s')",
                    path=path,
                    example=_clip(texts[0]),
                )
            )
        elif name == "date" and not any(parse_date(v) for v in present):
            problems.append(
                _(
                    "the values at '%(path)s' are not dates Zavod understands (for example '%(example)s'); "
                    "use ISO 8601, RFC 2822 or unix time",
                    path=path,
                    example=_clip(texts[0]),
                )
            )
    return problems


def _not_text_problem(path: str, value: Any) -> str:
    if isinstance(value, Mapping):
        for key in _PREFERRED_INNER_KEYS:
            if _scalar_text(value.get(key)):
                return _(
                    "the values at '%(path)s' are objects, not text (try '%(suggestion)s')",
                    path=path,
                    suggestion=f"{path}.{key}",
                )
        for key, inner in value.items():
            if _scalar_text(inner):
                return _(
                    "the values at '%(path)s' are objects, not text (try '%(suggestion)s')",
                    path=path,
                    suggestion=f"{path}.{key}",
                )
    if isinstance(value, list) and value:
        first = value[0]
        if _scalar_text(first):
            return _("the values at '%(path)s' are lists (try '%(suggestion)s')", path=path, suggestion=f"{path}.0")
        if isinstance(first, Mapping):
            for key in _PREFERRED_INNER_KEYS:
                if _scalar_text(first.get(key)):
                    return _(
                        "the values at '%(path)s' are lists (try '%(suggestion)s')",
                        path=path,
                        suggestion=f"{path}.0.{key}",
                    )
    return _("the values at '%(path)s' are %(found)s, not text", path=path, found=_describe(value))


def _clip(text: str, limit: int = 60) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- suggestion -----------------------------------------------------------------------------------


def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


# Candidate names per field, best first, compared without case, "_" or "-".
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline", "webTitle", "name", "heading", "subject"),
    "url": ("url", "link", "permalink", "webUrl", "canonicalUrl", "shareUrl", "href", "uri"),
    "summary": ("description", "summary", "excerpt", "abstract", "lead", "snippet", "trailText", "standfirst"),
    "content": ("content", "body", "text", "bodyText", "html", "articleBody", "fullText", "contentHtml"),
    "image": (
        "image",
        "urlToImage",
        "thumbnail",
        "image_url",
        "imageUrl",
        "enclosure",
        "picture",
        "photo",
        "media",
        "multimedia",
        "featuredImage",
        "thumbnailUrl",
        "cover",
        "img",
    ),
    "date": (
        "publishedAt",
        "published_at",
        "pubDate",
        "datePublished",
        "webPublicationDate",
        "published",
        "date",
        "created_at",
        "createdAt",
        "timestamp",
        "time",
        "updated_at",
        "updatedAt",
        "modified",
    ),
    "guid": ("id", "guid", "uuid", "_id", "articleId", "slug"),
}
# Fields also searched one level down (e.g. the Guardian's fields.bodyText, fields.thumbnail).
_NESTED_FIELDS = ("summary", "content", "image", "date")
_MAX_NODES = 20_000


def suggest_mapping(document: Any) -> FieldMapping | None:
    """A first guess: the largest list of objects (breadth-first, shallower wins a tie) and the
    usual field names. None when there is no list of objects or no title/link field in it."""
    found = _largest_object_list(document)
    if found is None:
        return None
    items_path, items = found
    sample = [entry for entry in items if isinstance(entry, Mapping)][:25]
    chosen: dict[str, str | None] = {}
    used: set[str] = set()
    for field_name in ("title", "url", "summary", "content", "image", "date", "guid"):
        path = _guess_field(sample, field_name, used)
        chosen[field_name] = path
        if path:
            used.add(path)
    if not chosen["title"] and not chosen["url"]:
        return None
    return FieldMapping(
        items_path=items_path,
        title=chosen["title"] or "",
        url=chosen["url"] or "",
        summary=chosen["summary"],
        content=chosen["content"],
        image=chosen["image"],
        date=chosen["date"],
        guid=chosen["guid"],
    )


def _largest_object_list(document: Any) -> tuple[str, list[Any]] | None:
    best: tuple[str, list[Any]] | None = None
    best_count = 0
    queue: deque[tuple[str, Any, int]] = deque([("", document, 0)])
    visited = 0
    while queue and visited < _MAX_NODES:
        path, value, depth = queue.popleft()
        visited += 1
        if isinstance(value, list):
            count = sum(1 for entry in value if isinstance(entry, Mapping))
            if count > best_count:  # strictly larger: the first (shallowest) wins a tie
                best, best_count = (path, value), count
        elif isinstance(value, Mapping) and depth < 8:
            for key, inner in value.items():
                if isinstance(inner, Mapping | list) and "." not in str(key):
                    queue.append((_join(path, str(key)), inner, depth + 1))
    return best


def _join(path: str, segment: str) -> str:
    return f"{path}.{segment}" if path else segment


def _guess_field(sample: list[Mapping[str, Any]], field_name: str, used: set[str]) -> str | None:
    wanted = [_norm(c) for c in _CANDIDATES[field_name]]
    keys = _keys_by_norm(sample)
    for candidate in wanted:  # top level first
        key = keys.get(candidate)
        if key is not None:
            path = _usable_path(sample, key, field_name)
            if path and path not in used:
                return path
    if field_name in _NESTED_FIELDS:
        for parent in keys.values():
            children = [entry.get(parent) for entry in sample if isinstance(entry.get(parent), Mapping)]
            if not children:
                continue
            inner_keys = _keys_by_norm(children)
            for candidate in wanted:
                key = inner_keys.get(candidate)
                if key is not None:
                    path = _usable_path(sample, f"{parent}.{key}", field_name)
                    if path and path not in used:
                        return path
    return None


def _keys_by_norm(objects: list[Mapping[str, Any]]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for obj in objects:
        for key in obj:
            if isinstance(key, str) and "." not in key:
                keys.setdefault(_norm(key), key)
    return keys


def _usable_path(sample: list[Mapping[str, Any]], path: str, field_name: str) -> str | None:
    """`path`, or a path inside it (an object's url, a list's first entry), whose values fit the field."""
    values = [v for entry in sample if (v := resolve_path(entry, path)) is not None]
    if not values:
        return None
    first = values[0]
    if isinstance(first, list):
        return _usable_path(sample, f"{path}.0", field_name) if first else None
    if isinstance(first, Mapping):
        for key in _PREFERRED_INNER_KEYS:
            if key in first and not isinstance(first[key], Mapping | list):
                return _usable_path(sample, f"{path}.{key}", field_name)
        return None
    texts = [t for v in values if (t := _scalar_text(v))]
    if not texts:
        return None
    if field_name in ("url", "image") and not any(_absolute_http_url(t, None) for t in texts):
        return None
    if field_name == "date" and not any(parse_date(v) for v in values):
        return None
    if field_name in ("title", "summary", "content") and all(isinstance(v, int | float) for v in values):
        return None
    return path


# --- the request ----------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP header name (RFC 9110 token)
# Headers that control the connection or the body encoding, not the API: the fetcher owns them.
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "te",
        "upgrade",
        "accept-encoding",
        "keep-alive",
        "proxy-authorization",
        "if-none-match",
        "if-modified-since",
    }
)
_JSON_TYPES_RE = re.compile(r"^(?:application|text)/(?:[\w.+-]+\+)?(?:json|javascript|x-javascript)$|^text/plain$")
# Some APIs prefix JSON against cross-site script inclusion, e.g. )]}' (Google) or while(1);
_XSSI_PREFIXES = (b")]}',", b")]}'", b"while(1);", b"for(;;);")


@dataclass(frozen=True)
class JsonApiRequest:
    url: str
    header_name: str | None = None  # e.g. "X-Api-Key" or "Authorization"
    header_value: str | None = None  # already decrypted by the caller; never logged

    def __repr__(self) -> str:  # keep the credential out of logs and tracebacks
        shown = "••••" if self.header_value else None
        return f"JsonApiRequest(url={self.url!r}, header_name={self.header_name!r}, header_value={shown!r})"


async def fetch_json(fetcher: SafeFetcher, request: JsonApiRequest) -> Any:
    """GET the API through the safe fetcher and parse the JSON.

    FetchError (unreachable, blocked address, 4xx/5xx, too large ...) passes through unchanged;
    a body that is not JSON raises JsonApiError.
    """
    _, document = await fetch_json_if_changed(fetcher, request)
    return document


async def fetch_json_if_changed(
    fetcher: SafeFetcher, request: JsonApiRequest, *, etag: str | None = None, last_modified: str | None = None
) -> tuple[FetchResult, Any | None]:
    """Like fetch_json, with a conditional GET: the document is None when the API answers 304."""
    result = await fetcher.fetch(request.url, etag=etag, last_modified=last_modified, headers=_request_headers(request))
    if result.not_modified:
        return result, None
    return result, parse_json(result.content, result.content_type)


def _request_headers(request: JsonApiRequest) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    name = (request.header_name or "").strip()
    if name:
        if not _TOKEN_RE.match(name):
            raise JsonApiError(
                _("The header name “%(name)s” is not valid (letters, digits and dashes only).", name=name)
            )
        if name.lower() in _RESERVED_HEADERS:
            raise JsonApiError(_("The header “%(name)s” is set by Zavod itself and cannot be changed.", name=name))
        value = request.header_value or ""
        if "\r" in value or "\n" in value:
            raise JsonApiError(_("The header value must be on one line."))
        if not value.isascii() or any(ord(c) < 32 and c != "\t" for c in value):
            raise JsonApiError(_("The header value may contain only Latin letters, digits and punctuation."))
        headers[name] = value
    return headers


def parse_json(content: bytes, content_type: str | None = None) -> Any:
    """Parse a response body as JSON, with a message a person understands when it is not."""
    media_type, charset = _media_type(content_type)
    body = content.strip()
    for prefix in _XSSI_PREFIXES:
        if body.startswith(prefix):
            body = body[len(prefix) :].lstrip()
            break
    looks_json = body[:1] in (b"{", b"[") or body.startswith(b"\xef\xbb\xbf")
    if not body:
        raise JsonApiError(_("The address returned an empty response instead of JSON."))
    if not looks_json and media_type and not _JSON_TYPES_RE.match(media_type):
        raise JsonApiError(_("The address did not return JSON (it returned %(type)s).", type=media_type))
    try:
        if charset and not charset.startswith("utf"):
            text: str | bytes = body.decode(charset)
        else:
            text = body  # json.loads detects UTF-8/16/32 and a BOM itself
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not looks_json and media_type and "json" not in media_type:
            raise JsonApiError(_("The address did not return JSON (it returned %(type)s).", type=media_type)) from exc
        raise JsonApiError(
            _(
                "The response is not valid JSON: %(problem)s at line %(line)s, column %(column)s.",
                problem=exc.msg.lower(),
                line=exc.lineno,
                column=exc.colno,
            )
        ) from exc
    except (UnicodeDecodeError, LookupError) as exc:
        raise JsonApiError(_("The response is not valid JSON: its text encoding could not be read.")) from exc
    except RecursionError as exc:
        raise JsonApiError(_("The response is not usable JSON: it is nested too deeply.")) from exc


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    if not content_type:
        return "", None
    media_type, *params = (part.strip() for part in content_type.split(";"))
    charset = None
    for param in params:
        key, _sep, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower() or None
    return media_type.lower(), charset
