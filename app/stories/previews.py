"""What Zavod would post on each network for a story version, and whether the network takes it.

Pure: no database, no storage, no network. Given the text of a version, the scenes' headliner
images and whether a video exists, it decides the shape of each post (a Telegram photo or album,
an Instagram carousel or Reel, a YouTube Short ...) and measures every field against the limits
of shared/PLATFORMS.md, the way the network itself measures it.

The story page repeats the text-dependent part in the browser (static/js/previews.js) so the
counters move while an editor types. To keep the two in step, everything that depends on text is
expressed as *counters* (a field, a way of measuring it, a limit) and *conditions* on counters
("telegram-caption:over"); messages and parts of the preview say under which condition they show.
The browser only re-measures and re-evaluates conditions: it never decides anything of its own.

What goes out is each network's caption as the editor left it (the generator already puts the
headline and the hashtags into it); nothing is cut or added here. A text that a network refuses
is a problem to fix, said in plain words, never something to shorten silently. Where Zavod posts
anyway but differently (Telegram: a caption too long goes as a separate message, a message too
long is split, more than 10 images make several albums — the plan of app.channels.telegram), the
preview says so as a warning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from app.i18n import gettext as _
from app.i18n import ngettext

if TYPE_CHECKING:
    from app.stories.models import StoryVersion

# ---- limits (shared/PLATFORMS.md) ---------------------------------------------------------------

# Telegram Bot API: a media caption holds 1024 characters and a text message 4096, both counted
# after entity parsing in UTF-16 code units (an emoji costs 2). Checking captions against 4096 is
# the most common failure of existing schedulers.
TELEGRAM_CAPTION_LIMIT = 1024
TELEGRAM_MESSAGE_LIMIT = 4096
TELEGRAM_ALBUM_MAX = 10  # sendMediaGroup takes 2–10 items; more images go as several albums
# Instagram Graph API: caption up to 2200 characters (counted in UTF-16 units, like the text
# generator does, which is never more lenient), at most 30 hashtags, carousels of 2–10 children.
INSTAGRAM_CAPTION_LIMIT = 2200
INSTAGRAM_HASHTAG_LIMIT = 30
INSTAGRAM_CAROUSEL_MAX = 10
# How much of a caption Instagram's feed shows before "… more" (about two lines on a phone).
INSTAGRAM_FOLD = 125
# YouTube Data API v3: title up to 100 characters; description up to 5000 — the API documents
# bytes, so a Cyrillic letter costs 2 (the text generator measures it that way too). Neither may
# contain "<" or ">".
YOUTUBE_TITLE_LIMIT = 100
YOUTUBE_DESCRIPTION_LIMIT = 5000

# ---- measuring (static/js/previews.js measures the same way) -------------------------------------

# "#word" not preceded by a letter, digit, "_" or "#" (so "a#b" and "##" are not hashtags); the
# same rule as the text generator's (app.ai.local_text).
HASHTAG_RE = re.compile(r"(?<![\w#])#(?=[^\W_])")


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def measure(kind: str, text: str) -> int:
    if kind == "utf16":
        return utf16_units(text)
    if kind == "chars":  # code points, as YouTube counts a title
        return len(text)
    if kind == "bytes":
        return len(text.encode("utf-8"))
    if kind == "hashtags":
        return len(HASHTAG_RE.findall(text))
    if kind == "angles":
        return text.count("<") + text.count(">")
    if kind == "folded":  # characters Instagram's feed hides behind "… more"
        return len(text) - len(fold(text))
    raise ValueError(f"unknown measure {kind!r}")


def post_text(raw: str | None) -> str:
    """The text as it would be sent: browsers submit textareas with CRLF line ends, and a network
    counts a line break once."""
    return (raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def fold(text: str, limit: int = INSTAGRAM_FOLD) -> str:
    """What Instagram's feed shows before "… more": the first line, at most `limit` characters,
    cut at a word. Returns the whole text when it fits."""
    first_line = text.split("\n", 1)[0]
    if first_line == text and len(text) <= limit:
        return text
    shown = first_line[:limit]
    if len(first_line) > limit and first_line[limit] != " " and " " in shown:
        shown = shown[: shown.rindex(" ")]  # not in the middle of a word
    return shown.rstrip()


# ---- what a preview is made of -----------------------------------------------------------------


@dataclass(frozen=True)
class Counter:
    """One field measured against one limit; `key` ties it to its live twin in the page."""

    key: str  # "telegram-caption"
    label: str  # "Caption"
    field: str  # the edit form's input it measures: "caption_telegram"
    measure: str  # "utf16" | "chars" | "bytes" | "hashtags" | "angles" | "folded"
    used: int
    limit: int
    unit: str = ""  # said after the limit when it is not characters: "bytes"
    # Past this limit Zavod still posts, differently (a separate message, several messages): the
    # page marks it as a heads-up, not as a refusal.
    handled: bool = False
    shown: bool = True  # False: a check with no number worth showing ("<" in a title)
    when: str = ""  # shown only under this condition ("" = always)

    @property
    def over(self) -> bool:
        return self.used > self.limit


@dataclass(frozen=True)
class Message:
    """A sentence for the editor. A "problem" stops the post (the network would refuse it); a
    "warning" says the post goes out differently than one might expect; a "note" explains.
    `when` is the condition under which it applies ("" = always)."""

    text: str
    level: str  # "problem" | "warning" | "note" | "label" (how the shape is put in words)
    when: str = ""
    active: bool = True


@dataclass(frozen=True)
class NetworkPreview:
    network: str  # "telegram" | "instagram" | "youtube"
    name: str  # "Telegram"
    shape: str  # "message", "photo", "album", "feed post", "carousel", "reel", "short", "cannot post"
    counters: tuple[Counter, ...]
    messages: tuple[Message, ...]
    labels: tuple[Message, ...]  # how the shape is put in words; may depend on the text
    media: tuple[Any, ...]  # the images that go, in order (at most the network's maximum)
    media_total: int  # how many images the story has
    has_video: bool
    texts: Mapping[str, str]  # form field → the text as it would be sent
    groups: tuple[tuple[Any, ...], ...] = ()  # Telegram: the images of each album, in order
    fold_at: int = INSTAGRAM_FOLD  # for the page: where the feed folds a caption

    def counter(self, key: str) -> Counter:
        return next(c for c in self.counters if c.key == key)

    def folded(self, field: str) -> str:
        return fold(self.texts.get(field, ""), self.fold_at)

    def shows(self, when: str) -> bool:
        return holds(when, self.counters)

    def _active(self, level: str) -> list[str]:
        return [m.text for m in self.messages if m.active and m.level == level]

    @property
    def problems(self) -> list[str]:
        return self._active("problem")

    @property
    def warnings(self) -> list[str]:
        return self._active("warning")

    @property
    def notes(self) -> list[str]:
        return self._active("note")

    @property
    def label(self) -> str:
        return next((m.text for m in self.labels if m.active), "")

    @property
    def publishable(self) -> bool:
        return not self.problems


def holds(when: str, counters: Sequence[Counter]) -> bool:
    """Evaluate "key:state key:state …" (all must hold); states: over, within, empty, filled."""
    by_key = {c.key: c for c in counters}
    for condition in when.split():
        key, _sep, state = condition.partition(":")
        counter = by_key[key]
        ok = {
            "over": counter.over,
            "within": not counter.over,
            "empty": counter.used == 0,
            "filled": counter.used > 0,
        }[state]
        if not ok:
            return False
    return True


def _settle(messages: Sequence[Message], counters: Sequence[Counter]) -> tuple[Message, ...]:
    return tuple(replace(m, active=holds(m.when, counters)) for m in messages)


def _counter(key: str, label: str, field: str, kind: str, text: str, limit: int, **extra: Any) -> Counter:
    return Counter(key=key, label=label, field=field, measure=kind, used=measure(kind, text), limit=limit, **extra)


# ---- the networks ------------------------------------------------------------------------------


def album_groups(count: int) -> list[int]:
    """Sizes of the albums that carry `count` images: as few as Telegram allows, as even as possible
    (11 → 6 + 5), the way the Telegram publisher plans them (app.channels.telegram)."""
    if count <= 0:
        return []
    groups = math.ceil(count / TELEGRAM_ALBUM_MAX)
    size, larger = divmod(count, groups)
    return [size + (1 if n < larger else 0) for n in range(groups)]


def telegram_preview(caption: str | None, images: Sequence[Any]) -> NetworkPreview:
    """No image: a text message. One image: a photo with the caption. 2–10: an album with the
    caption on the first item; more: several albums. A text too long for a caption follows the
    media as its own message; a text too long for a message is split between paragraphs or
    sentences. Nothing is ever cut: those cases are said as warnings, not problems."""
    text = post_text(caption)
    field = "caption_telegram"
    message_counter = _counter(
        "telegram-message", _("Message"), field, "utf16", text, TELEGRAM_MESSAGE_LIMIT, handled=True
    )
    split = Message(
        _(
            "Longer than one Telegram message (4096 characters): the text goes as several messages, "
            "split between paragraphs or sentences. Nothing is cut."
        ),
        "warning",
        "telegram-message:over",
    )
    if not images:
        counters: tuple[Counter, ...] = (message_counter,)
        messages = [
            Message(_("No image: the post goes out as a text message."), "note"),
            split,
            Message(
                _("Nothing to send: the story has no image and the Telegram text is empty."),
                "problem",
                "telegram-message:empty",
            ),
        ]
        return NetworkPreview(
            network="telegram",
            name="Telegram",
            shape="message",
            counters=counters,
            messages=_settle(messages, counters),
            labels=_settle([Message(_("Text message"), "label")], counters),
            media=(),
            media_total=0,
            has_video=False,
            texts={field: text},
        )

    sizes = album_groups(len(images))
    albums, start = [], 0
    for size in sizes:
        albums.append(tuple(images[start : start + size]))
        start += size
    counters = (
        _counter("telegram-caption", _("Caption"), field, "utf16", text, TELEGRAM_CAPTION_LIMIT, handled=True),
        replace(message_counter, when="telegram-caption:over"),
    )
    if len(images) == 1:
        shape = "photo"
        labels = [
            Message(_("Photo with a caption"), "label", "telegram-caption:within telegram-caption:filled"),
            Message(_("Photo, no caption"), "label", "telegram-caption:empty"),
            Message(_("Photo, then the text as a separate message"), "label", "telegram-caption:over"),
        ]
    else:
        shape = "album"
        what = (
            ngettext("Album of %(num)s images", "Album of %(num)s images", len(images))
            if len(sizes) == 1
            else _("%(count)s albums (%(sizes)s images)", count=len(sizes), sizes=" + ".join(map(str, sizes)))
        )
        labels = [
            Message(
                _("%(what)s, the caption on the first image", what=what),
                "label",
                "telegram-caption:within telegram-caption:filled",
            ),
            Message(_("%(what)s, no caption", what=what), "label", "telegram-caption:empty"),
            Message(_("%(what)s, then the text as a separate message", what=what), "label", "telegram-caption:over"),
        ]
    messages = []
    if shape == "album":
        messages.append(
            Message(
                _("In an album the caption travels on the first image; Telegram shows it under the album."),
                "note",
                "telegram-caption:within telegram-caption:filled",
            )
        )
    if len(sizes) > 1:
        messages.append(
            Message(
                _(
                    "A Telegram album holds at most 10 images: the %(total)s images go as %(count)s albums "
                    "(%(sizes)s), one after another.",
                    total=len(images),
                    count=len(sizes),
                    sizes=" + ".join(map(str, sizes)),
                ),
                "warning",
            )
        )
    messages += [
        Message(
            _(
                "Longer than a Telegram caption (1024 characters): the images go without a caption and "
                "the whole text follows as a separate message. Nothing is cut."
            ),
            "warning",
            "telegram-caption:over",
        ),
        split,
    ]
    return NetworkPreview(
        network="telegram",
        name="Telegram",
        shape=shape,
        counters=counters,
        messages=_settle(messages, counters),
        labels=_settle(labels, counters),
        media=tuple(images),
        media_total=len(images),
        has_video=False,
        texts={field: text},
        groups=tuple(albums),
    )


def instagram_preview(caption: str | None, images: Sequence[Any], *, has_video: bool) -> NetworkPreview:
    """A video makes a Reel; else one image a feed post, 2–10 a carousel. Nothing to show: no post."""
    text = post_text(caption)
    field = "caption_instagram"
    counters = (
        _counter("instagram-caption", _("Caption"), field, "utf16", text, INSTAGRAM_CAPTION_LIMIT),
        _counter("instagram-hashtags", _("Hashtags"), field, "hashtags", text, INSTAGRAM_HASHTAG_LIMIT),
        # Not a limit of Instagram's: whether its feed folds the caption behind "… more".
        _counter("instagram-fold", "", field, "folded", text, 0, shown=False),
    )
    messages = [
        Message(
            _("Longer than Instagram takes (2200 characters): shorten the caption."),
            "problem",
            "instagram-caption:over",
        ),
        Message(
            _("Instagram refuses a caption with more than 30 hashtags: remove some."),
            "problem",
            "instagram-hashtags:over",
        ),
    ]
    sent: tuple[Any, ...] = ()
    if has_video:
        shape, label = "reel", _("Reel")
        if images:
            messages.insert(0, Message(_("The video goes as a Reel; the scene images are not posted."), "note"))
    elif not images:
        shape, label = "cannot post", _("Cannot post")
        messages.insert(
            0,
            Message(
                _("Instagram needs an image or a video, and this story has neither: make an image for a scene first."),
                "problem",
            ),
        )
    elif len(images) == 1:
        shape, label, sent = "feed post", _("Feed post"), tuple(images)
    else:
        sent = tuple(images[:INSTAGRAM_CAROUSEL_MAX])
        shape = "carousel"
        label = ngettext("Carousel of %(num)s images", "Carousel of %(num)s images", len(sent))
        if len(images) > INSTAGRAM_CAROUSEL_MAX:
            messages.insert(
                0,
                Message(
                    _(
                        "An Instagram carousel holds at most 10 images: the first 10 of %(total)s go, the "
                        "other %(left)s are left out.",
                        total=len(images),
                        left=len(images) - INSTAGRAM_CAROUSEL_MAX,
                    ),
                    "warning",
                ),
            )
    return NetworkPreview(
        network="instagram",
        name="Instagram",
        shape=shape,
        counters=counters,
        messages=_settle(messages, counters),
        labels=_settle([Message(label, "label")], counters),
        media=sent,
        media_total=len(images),
        has_video=has_video,
        texts={field: text},
    )


def youtube_preview(title: str | None, description: str | None, *, has_video: bool) -> NetworkPreview:
    """A Short needs the story's video; its title is the story's title."""
    title_text = post_text(title)
    text = post_text(description)
    counters = (
        _counter("youtube-title", _("Title"), "title", "chars", title_text, YOUTUBE_TITLE_LIMIT),
        _counter(
            "youtube-description",
            _("Description"),
            "caption_youtube",
            "bytes",
            text,
            YOUTUBE_DESCRIPTION_LIMIT,
            unit=_("bytes"),
        ),
        _counter("youtube-title-angles", "", "title", "angles", title_text, 0, shown=False),
        _counter("youtube-description-angles", "", "caption_youtube", "angles", text, 0, shown=False),
    )
    messages = [
        Message(_("The Short's title is the story's title; YouTube does not allow “<” or “>” in it."), "note"),
        Message(_("A YouTube video needs a title."), "problem", "youtube-title:empty"),
        Message(
            _("Longer than a YouTube title (100 characters): shorten the story's title."),
            "problem",
            "youtube-title:over",
        ),
        Message(
            _("The title has “<” or “>”, which YouTube refuses: take them out."), "problem", "youtube-title-angles:over"
        ),
        Message(
            _("Longer than a YouTube description (5000 bytes; a Cyrillic letter takes 2, an emoji 4): shorten it."),
            "problem",
            "youtube-description:over",
        ),
        Message(
            _("The description has “<” or “>”, which YouTube refuses: take them out."),
            "problem",
            "youtube-description-angles:over",
        ),
    ]
    if has_video:
        shape, label = "short", _("Short")
    else:
        shape, label = "cannot post", _("Cannot post")
        messages.insert(0, Message(_("A YouTube Short needs the story's video, and it has none yet."), "problem"))
    return NetworkPreview(
        network="youtube",
        name="YouTube",
        shape=shape,
        counters=counters,
        messages=_settle(messages, counters),
        labels=_settle([Message(label, "label")], counters),
        media=(),
        media_total=0,
        has_video=has_video,
        texts={"title": title_text, "caption_youtube": text},
    )


def build_previews(
    *, title: str, captions: Mapping[str, str] | None, images: Sequence[Any], has_video: bool
) -> list[NetworkPreview]:
    captions = captions or {}
    return [
        telegram_preview(captions.get("telegram"), images),
        instagram_preview(captions.get("instagram"), images, has_video=has_video),
        youtube_preview(title, captions.get("youtube"), has_video=has_video),
    ]


def for_version(version: StoryVersion) -> list[NetworkPreview]:
    """The previews of a version: its scenes' headliners in scene order, and whether it has a video."""
    current = [a for a in version.assets if a.kind == "image"]
    headliners = [h for h in (scene.headliner(current) for scene in version.scenes) if h is not None]
    has_video = any(a.kind == "video" for a in version.assets)
    return build_previews(title=version.title, captions=version.captions, images=headliners, has_video=has_video)
