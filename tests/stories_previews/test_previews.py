"""Per-network previews: the shape each post takes and every limit of shared/PLATFORMS.md, measured
the way the network measures it (exactly at the limit passes, one over does not)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.stories import previews
from app.stories.previews import (
    INSTAGRAM_CAPTION_LIMIT,
    TELEGRAM_CAPTION_LIMIT,
    TELEGRAM_MESSAGE_LIMIT,
    YOUTUBE_DESCRIPTION_LIMIT,
    YOUTUBE_TITLE_LIMIT,
    album_groups,
    build_previews,
    fold,
    instagram_preview,
    measure,
    post_text,
    telegram_preview,
    youtube_preview,
)

IMAGES = [f"image-{n}" for n in range(12)]


def pictures(n: int) -> list[str]:
    return IMAGES[:n]


# ---- measuring --------------------------------------------------------------------------------


def test_telegram_counts_utf16_units_so_an_emoji_costs_two() -> None:
    assert measure("utf16", "🙂") == 2 and measure("chars", "🙂") == 1
    assert measure("utf16", "Привет") == 6  # Cyrillic is one unit each
    assert measure("bytes", "Привет") == 12 and measure("bytes", "🙂") == 4


def test_hashtags_are_words_after_a_hash_not_any_hash() -> None:
    assert measure("hashtags", "#One two #Три #4ever a#b ## #_x #") == 3


def test_line_breaks_count_once_whatever_the_browser_sent() -> None:
    assert post_text("  one\r\ntwo\rthree \n") == "one\ntwo\nthree"


# ---- Telegram -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "shape", "albums"),
    [(0, "message", []), (1, "photo", [1]), (2, "album", [2]), (10, "album", [10]), (11, "album", [6, 5])],
)
def test_telegram_shape_follows_the_number_of_images(count: int, shape: str, albums: list[int]) -> None:
    preview = telegram_preview("A short caption", pictures(count))
    assert preview.shape == shape
    assert preview.media == tuple(pictures(count))  # every image goes: none is dropped
    assert [len(group) for group in preview.groups] == albums
    assert [image for group in preview.groups for image in group] == pictures(count)  # in order
    assert preview.publishable


def test_past_ten_images_telegram_gets_several_even_albums_and_the_editor_is_told() -> None:
    assert album_groups(11) == [6, 5] and album_groups(20) == [10, 10] and album_groups(23) == [8, 8, 7]
    preview = telegram_preview("Caption", pictures(11))
    assert preview.label == "2 albums (6 + 5 images), the caption on the first image"
    assert any("11 images go as 2 albums (6 + 5)" in w for w in preview.warnings)
    assert preview.publishable
    assert not telegram_preview("Caption", pictures(10)).warnings


def test_an_album_carries_its_caption_on_the_first_image() -> None:
    preview = telegram_preview("Caption", pictures(3))
    assert preview.label == "Album of 3 images, the caption on the first image"
    assert any("first image" in note for note in preview.notes)


def test_a_caption_exactly_at_1024_fits_under_the_photo() -> None:
    preview = telegram_preview("x" * TELEGRAM_CAPTION_LIMIT, pictures(1))
    caption = preview.counter("telegram-caption")
    assert (caption.used, caption.limit, caption.over) == (1024, 1024, False)
    assert preview.label == "Photo with a caption"
    assert preview.publishable and not preview.notes


def test_one_character_over_1024_goes_as_media_and_a_separate_message() -> None:
    preview = telegram_preview("x" * (TELEGRAM_CAPTION_LIMIT + 1), pictures(1))
    assert preview.shape == "photo"  # still a photo: the text follows it, nothing is cut
    assert preview.counter("telegram-caption").over
    assert preview.label == "Photo, then the text as a separate message"
    assert any("separate message" in w and "Nothing is cut" in w for w in preview.warnings)
    assert preview.publishable  # Zavod handles it: a warning, not a problem
    assert preview.counter("telegram-caption").handled
    assert preview.shows("telegram-caption:over") and not preview.shows("telegram-caption:within")


def test_emoji_push_a_caption_over_1024_even_under_1024_characters() -> None:
    text = "🙂" * 512 + "x"  # 513 characters, 1025 UTF-16 units
    assert len(text) < TELEGRAM_CAPTION_LIMIT
    preview = telegram_preview(text, pictures(2))
    assert preview.counter("telegram-caption").used == 1025 and preview.counter("telegram-caption").over
    assert preview.label == "Album of 2 images, then the text as a separate message"
    exactly = telegram_preview("🙂" * 512, pictures(2))
    assert exactly.counter("telegram-caption").used == 1024 and not exactly.counter("telegram-caption").over


def test_a_text_message_takes_4096_and_a_longer_one_is_split_not_cut() -> None:
    fits = telegram_preview("y" * TELEGRAM_MESSAGE_LIMIT, [])
    assert fits.shape == "message" and fits.publishable and not fits.warnings
    assert fits.counter("telegram-message").used == 4096
    over = telegram_preview("y" * (TELEGRAM_MESSAGE_LIMIT + 1), [])
    assert over.publishable  # the publisher splits it between paragraphs or sentences
    assert any("4096" in w and "several messages" in w and "Nothing is cut" in w for w in over.warnings)


def test_a_text_too_long_even_for_one_message_follows_the_media_in_several() -> None:
    preview = telegram_preview("z" * (TELEGRAM_MESSAGE_LIMIT + 1), pictures(1))
    assert preview.counter("telegram-caption").over and preview.counter("telegram-message").over
    assert preview.publishable
    assert any("separate message" in w for w in preview.warnings)
    assert any("several messages" in w for w in preview.warnings)
    # The message counter matters only once the text has left the caption.
    assert preview.counter("telegram-message").when == "telegram-caption:over"


def test_nothing_to_send_to_telegram_without_image_and_text() -> None:
    preview = telegram_preview("  ", [])
    assert not preview.publishable and any("Nothing to send" in w for w in preview.problems)
    alone = telegram_preview("", pictures(1))
    assert alone.publishable and alone.label == "Photo, no caption"  # a photo alone is a post
    assert telegram_preview("", pictures(4)).label == "Album of 4 images, no caption"


# ---- Instagram ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "video", "shape", "sent"),
    [
        (1, False, "feed post", 1),
        (2, False, "carousel", 2),
        (10, False, "carousel", 10),
        (11, False, "carousel", 10),
        (3, True, "reel", 0),
        (0, True, "reel", 0),
    ],
)
def test_instagram_shape(count: int, video: bool, shape: str, sent: int) -> None:
    preview = instagram_preview("Caption #one", pictures(count), has_video=video)
    assert preview.shape == shape and len(preview.media) == sent
    assert preview.publishable


def test_an_instagram_carousel_takes_ten_and_says_which_are_left_out() -> None:
    preview = instagram_preview("Caption", pictures(11), has_video=False)
    assert preview.media == tuple(pictures(10))
    assert any("first 10 of 11" in w and "other 1 " in w for w in preview.warnings)
    assert not instagram_preview("Caption", pictures(10), has_video=False).warnings


def test_instagram_cannot_post_without_image_or_video() -> None:
    preview = instagram_preview("Caption", [], has_video=False)
    assert preview.shape == "cannot post" and not preview.publishable
    assert any("needs an image or a video" in w for w in preview.problems)


def test_instagram_caption_at_2200_passes_and_2201_is_refused() -> None:
    assert instagram_preview("a" * INSTAGRAM_CAPTION_LIMIT, pictures(1), has_video=False).publishable
    over = instagram_preview("a" * (INSTAGRAM_CAPTION_LIMIT + 1), pictures(1), has_video=False)
    assert over.counter("instagram-caption").over and any("2200" in w for w in over.problems)


def test_thirty_hashtags_pass_and_thirty_one_do_not() -> None:
    tags = " ".join(f"#tag{n}" for n in range(31))
    thirty = instagram_preview("News " + tags.rsplit(" ", 1)[0], pictures(1), has_video=False)
    assert thirty.counter("instagram-hashtags").used == 30 and thirty.publishable
    over = instagram_preview("News " + tags, pictures(1), has_video=False)
    assert over.counter("instagram-hashtags").used == 31
    assert any("30 hashtags" in w for w in over.problems) and not over.publishable


def test_the_feed_folds_a_long_caption_behind_more() -> None:
    assert fold("Short one") == "Short one"
    assert fold("Headline\n\nThe body") == "Headline"
    long = "word " * 40
    assert fold(long) == ("word " * 25).strip()  # 125 characters end on a space: whole words
    assert fold("abcdefgh " * 20).endswith("abcdefgh") and len(fold("abcdefgh " * 20)) <= 125
    preview = instagram_preview("Headline\n\nThe body", pictures(1), has_video=False)
    assert preview.shows("instagram-fold:over")
    assert not instagram_preview("Short", pictures(1), has_video=False).shows("instagram-fold:over")


# ---- YouTube ------------------------------------------------------------------------------------


def test_a_short_needs_the_video() -> None:
    with_video = youtube_preview("Title", "About", has_video=True)
    assert with_video.shape == "short" and with_video.publishable
    without = youtube_preview("Title", "About", has_video=False)
    assert without.shape == "cannot post" and any("needs the story's video" in w for w in without.problems)


def test_youtube_title_at_100_passes_and_101_is_refused() -> None:
    assert youtube_preview("t" * YOUTUBE_TITLE_LIMIT, "", has_video=True).publishable
    over = youtube_preview("t" * (YOUTUBE_TITLE_LIMIT + 1), "", has_video=True)
    assert over.counter("youtube-title").over and any("100" in w for w in over.problems)


def test_angle_brackets_are_refused_in_title_and_description() -> None:
    preview = youtube_preview("Rates <up>", "a > b", has_video=True)
    assert len(preview.problems) == 2 and all("“<” or “>”" in w for w in preview.problems)
    assert any("not allow “<” or “>”" in note for note in youtube_preview("T", "", has_video=True).notes)


def test_youtube_description_is_measured_in_bytes() -> None:
    assert youtube_preview("T", "a" * YOUTUBE_DESCRIPTION_LIMIT, has_video=True).publishable
    cyrillic = youtube_preview("T", "я" * 2501, has_video=True)  # 2501 letters, 5002 bytes
    assert cyrillic.counter("youtube-description").used == 5002 and not cyrillic.publishable


# ---- together -----------------------------------------------------------------------------------


def test_build_previews_reads_the_captions_per_network() -> None:
    telegram, instagram, youtube = build_previews(
        title="Bridge reopens",
        captions={"telegram": "On Telegram", "instagram": "On Instagram #bridge", "youtube": "On YouTube"},
        images=pictures(2),
        has_video=True,
    )
    assert (telegram.network, telegram.shape, telegram.texts["caption_telegram"]) == (
        "telegram",
        "album",
        "On Telegram",
    )
    assert (instagram.shape, instagram.counter("instagram-hashtags").used) == ("reel", 1)
    assert (youtube.shape, youtube.texts["title"]) == ("short", "Bridge reopens")


def test_for_version_takes_each_scenes_headliner_in_order() -> None:
    def asset(name: str, kind: str = "image") -> SimpleNamespace:
        return SimpleNamespace(name=name, kind=kind)

    first, second, video = asset("first"), asset("second"), asset("video", "video")
    scenes = [
        SimpleNamespace(headliner=lambda images: second),
        SimpleNamespace(headliner=lambda images: None),  # a scene whose image is being remade
        SimpleNamespace(headliner=lambda images: first),
    ]
    version = SimpleNamespace(title="T", captions={"telegram": "x"}, assets=[first, second, video], scenes=scenes)
    telegram, instagram, _youtube = previews.for_version(version)  # type: ignore[arg-type]
    assert telegram.media == (second, first) and instagram.shape == "reel"
