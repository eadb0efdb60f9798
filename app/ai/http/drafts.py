"""Turning a language model's JSON answer into a StoryDraft we can publish.

Models answer roughly what was asked: JSON inside ```fences or after a sentence of prose, keys
under other names ("headline", "summary"), scenes as objects, one scene too many, captions past
a network's limit, hashtags with spaces. This module asks for one shape (`format_instructions`)
and accepts the usual deviations (`parse_story`), so a draft always satisfies what the local
provider guarantees:

* the title fits 100 characters and has no "<" / ">" (it doubles as the YouTube title);
* exactly `scene_count` non-empty scenes, in order (re-cut at sentence boundaries when the
  model gave more or fewer);
* captions for every network, within the limits of shared/PLATFORMS.md, measured the same way as
  app.ai.local_text (UTF-16 units for Telegram and Instagram, UTF-8 bytes for YouTube), shortened
  at sentence or word boundaries with the hashtag line kept; at most 30 hashtags on Instagram;
* hashtags as "#Word" (no spaces, no duplicates).

What cannot be repaired — no JSON object at all, no story text anywhere — raises a not-retryable
ProviderError that says so in plain words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from app.ai.base import NETWORKS, ProviderError, StoryDraft, TextRequest
from app.ai.local_text import (
    INSTAGRAM_CAPTION_LIMIT,
    INSTAGRAM_MAX_HASHTAGS,
    TELEGRAM_CAPTION_LIMIT,
    TITLE_LIMIT,
    YOUTUBE_DESCRIPTION_LIMIT,
    Measure,
    clean_inline,
    clean_paragraphs,
    cut_words,
    fit_sentences,
    make_headline,
    split_scenes,
    split_sentences,
    utf8_len,
    utf16_len,
)
from app.i18n import gettext as _

__all__ = ["CAPTION_LIMITS", "fit_caption", "format_instructions", "normalise_hashtags", "parse_story"]

# network → (limit, how it is measured)
CAPTION_LIMITS: dict[str, tuple[int, Measure]] = {
    "telegram": (TELEGRAM_CAPTION_LIMIT, utf16_len),
    "instagram": (INSTAGRAM_CAPTION_LIMIT, utf16_len),
    "youtube": (YOUTUBE_DESCRIPTION_LIMIT, utf8_len),
}
MAX_HASHTAGS = 15
_MAX_SCAN = 20  # "{" positions tried when looking for the JSON object in an answer


def format_instructions(scene_count: int, language: str) -> str:
    """The fixed part of the system prompt: the JSON shape we parse. Not for admins to edit."""
    # The limits asked for are below the hard ones: models count characters loosely.
    return (
        "Answer with one JSON object and nothing else (no markdown, no comments). Its keys:\n"
        '- "title": the headline, at most 90 characters, without "<" or ">";\n'
        '- "lead": one or two sentences that sum the story up;\n'
        '- "body": the story, 600 to 1200 characters, paragraphs separated by a blank line;\n'
        f'- "scenes": an array of exactly {scene_count} strings that tell the story in order, one to three '
        "sentences each, each shown over its own illustration;\n"
        '- "captions": an object with "telegram" (at most 900 characters), "instagram" (at most 2000 '
        'characters) and "youtube" (a video description, at most 4000 characters, without "<" or ">");\n'
        '- "hashtags": an array of 3 to 8 hashtags such as "#Climate", each one word without spaces.\n'
        f"Write every text in the language with the code {language!r}. Keep to the facts of the source: "
        "do not invent names, numbers or quotes."
    )


# --- finding the JSON -------------------------------------------------------------------------------

_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def extract_json_object(content: str) -> dict[str, Any] | None:
    """The first JSON object in `content` (bare, fenced, or after some prose); None if there is none."""
    candidates = [m.group(1) for m in _FENCE_RE.finditer(content)] + [content]
    decoder = json.JSONDecoder()
    for text in candidates:
        start = text.find("{")
        tries = 0
        while start >= 0 and tries < _MAX_SCAN:
            try:
                value, _end = decoder.raw_decode(text, start)
            except ValueError:
                value = None
            if isinstance(value, dict):
                return value
            start = text.find("{", start + 1)
            tries += 1
    return None


# --- fields -----------------------------------------------------------------------------------------

_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline", "heading"),
    "lead": ("lead", "summary", "lede", "subtitle"),
    "body": ("body", "text", "story", "content", "article"),
    "scenes": ("scenes", "scene", "slides", "parts"),
    "captions": ("captions", "caption", "social", "posts"),
    "hashtags": ("hashtags", "tags", "hash_tags"),
}


def _field(data: Mapping[str, Any], name: str) -> Any:
    lowered = {str(k).strip().lower(): v for k, v in data.items()}
    for key in _ALIASES.get(name, (name,)):
        if key in lowered and lowered[key] not in (None, "", [], {}):
            return lowered[key]
    return None


def _as_text(value: Any) -> str:
    """A string from a string, a number, a list of strings (joined as paragraphs) or {"text": ...}."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Mapping):
        for key in ("text", "content", "caption", "description", "body"):
            if key in value:
                return _as_text(value[key])
        return ""
    if isinstance(value, list):
        return "\n\n".join(t for t in (_as_text(v) for v in value) if t.strip())
    return ""


_MARKDOWN_RE = re.compile(r"(\*\*|__|^#{1,6}\s+)", re.MULTILINE)
_QUOTES = "\"'«»“”„"


def _inline(value: Any) -> str:
    text = clean_inline(_MARKDOWN_RE.sub("", _as_text(value)))
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def _paragraphs(value: Any) -> list[str]:
    return clean_paragraphs(_MARKDOWN_RE.sub("", _as_text(value)))


def _no_angle(s: str) -> str:
    return s.replace("<", "‹").replace(">", "›")


_TAG_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)


def normalise_hashtags(value: Any, limit: int = MAX_HASHTAGS) -> list[str]:
    """["#climate", "green energy", "#Green-Energy"] → ["#Climate", "#GreenEnergy"] (order kept)."""
    if isinstance(value, str):
        raw: list[Any] = re.split(r"[,\n]|\s+(?=#)", value)
    elif isinstance(value, list):
        raw = value
    else:
        return []
    tags: list[str] = []
    seen: set[str] = set()
    for item in raw:
        words = _TAG_WORD_RE.findall(_as_text(item))
        if not words:
            continue
        if len(words) == 1:
            word = words[0]
            tag = word[:1].upper() + word[1:]
        else:
            tag = "".join(w[:1].upper() + w[1:] for w in words)
        tag = tag[:50]
        if tag.lower() in seen:
            continue
        seen.add(tag.lower())
        tags.append("#" + tag)
        if len(tags) >= limit:
            break
    return tags


# --- captions ---------------------------------------------------------------------------------------

_HASHTAG_RE = re.compile(r"(?<![\w#])#(?=[^\W_])")


def _is_tag_line(paragraph: str) -> bool:
    words = paragraph.split()
    return bool(words) and all(w.startswith("#") for w in words)


def _limit_hashtags_in(text: str, allowance: int) -> str:
    left = [allowance]

    def keep_or_untag(m: re.Match[str]) -> str:
        left[0] -= 1
        return m.group(0) if left[0] >= 0 else ""

    return _HASHTAG_RE.sub(keep_or_untag, text)


def fit_caption(paragraphs: Sequence[str], network: str) -> str:
    """Paragraphs (the last may be the hashtag line) → one caption within `network`'s limit.

    Shortening keeps the hashtag line and cuts the text before it at a sentence boundary (a word
    boundary when one sentence is already too long), ending with "…".
    """
    limit, measure = CAPTION_LIMITS[network]
    paragraphs = [p for p in paragraphs if p.strip()]
    tail = paragraphs[-1] if paragraphs and _is_tag_line(paragraphs[-1]) and len(paragraphs) > 1 else ""
    head = paragraphs[:-1] if tail else list(paragraphs)
    if network == "instagram":
        tags = tail.split()[:INSTAGRAM_MAX_HASHTAGS]
        tail = " ".join(tags)
        allowance = INSTAGRAM_MAX_HASHTAGS - len(tags)
        joined = _limit_hashtags_in("\n\n".join(head), allowance)
        head = joined.split("\n\n") if joined else []
    if network == "youtube":
        head = [_no_angle(p) for p in head]
        tail = _no_angle(tail)
    caption = "\n\n".join([*head, tail] if tail else head)
    if measure(caption) <= limit:
        return caption
    budget = limit - (measure("\n\n" + tail) if tail else 0)
    middle = fit_sentences([split_sentences(p) for p in head], budget, measure) if budget > 0 else ""
    caption = "\n\n".join(p for p in (middle, tail) if p)
    return cut_words(caption, limit, measure)


def _default_caption(network: str, title: str, lead: str, body: list[str], source_url: str | None) -> list[str]:
    if network == "telegram":
        return [title, lead]
    if network == "instagram":
        return [title, *body]
    return [*body, *([source_url] if source_url else [])]


# --- the draft --------------------------------------------------------------------------------------


def _unusable(provider: str, why: str) -> ProviderError:
    return ProviderError(
        _(
            "%(provider)s answered, but not with a usable story: %(why)s",
            provider=provider,
            why=why,
        )
    )


def parse_story(content: str, req: TextRequest, *, provider: str) -> StoryDraft:
    """A model's answer → a StoryDraft that meets our guarantees, or a readable ProviderError."""
    data = extract_json_object(content or "")
    if data is None:
        raise _unusable(provider, _("the answer holds no JSON object."))

    body_paragraphs = _paragraphs(_field(data, "body"))
    raw_scenes = _field(data, "scenes")
    scene_texts = [_inline(s) for s in raw_scenes] if isinstance(raw_scenes, list) else []
    scene_texts = [s for s in scene_texts if s]
    if not body_paragraphs and scene_texts:
        body_paragraphs = [" ".join(scene_texts)]
    if not body_paragraphs:
        raise _unusable(provider, _("the story text is missing."))
    body_sentences = [s for p in body_paragraphs for s in split_sentences(p)]

    title = _inline(_field(data, "title"))
    title = cut_words(_no_angle(title), TITLE_LIMIT) if title else make_headline(req.title, body_sentences)
    if not title:
        raise _unusable(provider, _("the headline is missing."))

    lead = _inline(_field(data, "lead")) or " ".join(body_sentences[:1])
    body = "\n\n".join(body_paragraphs)

    # Exactly scene_count scenes: re-cut at sentence boundaries whenever the count is off.
    if len(scene_texts) != req.scene_count:
        units = [s for text in (scene_texts or body_paragraphs) for s in split_sentences(text)]
        scene_texts = split_scenes(units, req.scene_count)
    if len(scene_texts) < req.scene_count:
        raise _unusable(
            provider,
            _("the story is too short for %(count)s scenes.", count=req.scene_count),
        )

    hashtags = normalise_hashtags(_field(data, "hashtags"))
    tag_line = " ".join(hashtags)

    raw_captions = _field(data, "captions")
    captions: dict[str, str] = {}
    for network in NETWORKS:
        given = raw_captions.get(network) if isinstance(raw_captions, Mapping) else None
        paragraphs = _paragraphs(given) if given else []
        if not paragraphs:
            paragraphs = _default_caption(network, title, lead, body_paragraphs, req.source_url)
        if tag_line and not any(_HASHTAG_RE.search(p) for p in paragraphs):
            paragraphs = [*paragraphs, tag_line]
        captions[network] = fit_caption(paragraphs, network)

    return StoryDraft(
        title=title,
        body=body,
        lead=lead,
        captions=captions,
        hashtags=hashtags,
        scenes=scene_texts,
    )
