"""The offline extractive text provider: cleaning, sentences, headline, captions within limits."""

from __future__ import annotations

import re

import pytest

from app.ai.base import StoryDraft, TextProvider, TextRequest, get_text_provider
from app.ai.local_text import (
    INSTAGRAM_CAPTION_LIMIT,
    TELEGRAM_CAPTION_LIMIT,
    YOUTUBE_DESCRIPTION_LIMIT,
    LocalTextProvider,
    clean_paragraphs,
    split_sentences,
    strip_site_suffix,
    utf8_len,
    utf16_len,
)

from .samples import EN_HTML, EN_TITLE, RU_HTML, RU_TITLE, long_text

HASHTAG = re.compile(r"^#[^\W_]+$")
SENTENCE_END = (".", "!", "?", "…", "»", "”", '"', ")")


async def story(title: str, text: str, **kw: object) -> StoryDraft:
    return await LocalTextProvider().generate_story(TextRequest(title=title, text=text, **kw))  # type: ignore[arg-type]


def all_sentences(text: str) -> list[str]:
    return [s for p in clean_paragraphs(text) for s in split_sentences(p)]


def hashtag_count(caption: str) -> int:
    return len(re.findall(r"(?<![\w#])#[^\W_]", caption))


def assert_within_limits(draft: StoryDraft) -> None:
    assert len(draft.title) <= 100
    assert utf16_len(draft.captions["telegram"]) <= TELEGRAM_CAPTION_LIMIT
    assert utf16_len(draft.captions["instagram"]) <= INSTAGRAM_CAPTION_LIMIT
    assert hashtag_count(draft.captions["instagram"]) <= 30
    assert utf8_len(draft.captions["youtube"]) <= YOUTUBE_DESCRIPTION_LIMIT
    assert "<" not in draft.captions["youtube"] and ">" not in draft.captions["youtube"]
    assert "<" not in draft.title and ">" not in draft.title


def assert_cut_at_boundaries(caption: str, source_words: set[str]) -> None:
    """Every word in the caption is a whole word of the source (a cut never splits a word)."""
    for word in re.findall(r"[^\W\d_]+", caption.lower()):
        assert word in source_words, f"{word!r} is not a whole word of the source"


def assert_sentence_prefix(block: str, source: list[str]) -> None:
    """`block` is the first sentences of `source`, the last maybe marked shortened with "…"."""
    kept = [s for p in block.split("\n\n") for s in split_sentences(p)]
    assert kept
    for i, sentence in enumerate(kept):
        if sentence != source[i]:
            assert i == len(kept) - 1, f"sentence {i} differs: {sentence!r}"
            assert sentence in (source[i][:-1] + "…", source[i] + " …"), sentence


# ---- sentences -----------------------------------------------------------------------------


def test_english_sentences_keep_abbreviations_initials_decimals_and_quotes() -> None:
    text = (
        'Dr. Smith arrived, e.g. at 3.5 p.m. yesterday. He said: "We are ready." Then he left... '
        "Nobody knew why! Was it J. K. Rowling? In the U.S. Senate, Mr. Brown agreed. No."
    )
    assert split_sentences(text) == [
        "Dr. Smith arrived, e.g. at 3.5 p.m. yesterday.",
        'He said: "We are ready."',
        "Then he left...",
        "Nobody knew why!",
        "Was it J. K. Rowling?",
        "In the U.S. Senate, Mr. Brown agreed.",
        "No.",
    ]


def test_russian_sentences_keep_abbreviations_initials_decimals_and_quotes() -> None:
    text = (
        "В 2023 г. в г. Москве, т.е. в столице, прошёл форум. «Что делать?» — спросил он. "
        "А. С. Пушкин родился в Москве. Цена выросла на 3,5%. Ура… Конец."
    )
    assert split_sentences(text) == [
        "В 2023 г. в г. Москве, т.е. в столице, прошёл форум.",
        "«Что делать?» — спросил он.",
        "А. С. Пушкин родился в Москве.",
        "Цена выросла на 3,5%.",
        "Ура…",
        "Конец.",
    ]


def test_numbered_list_item_is_not_a_sentence_of_its_own() -> None:
    assert split_sentences("1. Buy milk. Then go home.") == ["1. Buy milk.", "Then go home."]


# ---- cleaning ------------------------------------------------------------------------------


def test_html_is_stripped_entities_decoded_and_boilerplate_dropped() -> None:
    paragraphs = clean_paragraphs(EN_HTML)
    text = "\n".join(paragraphs)
    assert "<" not in text and "&rsquo;" not in text and "&amp;" not in text
    assert "council’s" in text and "“This is not about" in text
    assert "Read more" not in text
    assert "appeared first on" not in text
    assert "Photo:" not in text  # figcaption content is not article text
    # Paragraphs follow <p>, not the hard wraps inside them.
    assert paragraphs[0].startswith("The city council on Tuesday")
    assert paragraphs[0].endswith("almost three years.")
    assert len(paragraphs) == 6


def test_script_content_double_escaping_and_truncation_marks() -> None:
    raw = "<p>Prices rose&amp;#8217;s way up.<script>alert(1)</script> More to come [&#8230;]</p>"
    assert clean_paragraphs(raw) == ["Prices rose’s way up. More to come …"]


def test_plain_text_upload_paragraphs_and_wrapping() -> None:
    raw = "First line of a paragraph\nwrapped by the editor.\n\nSecond paragraph.\r\n\r\nThird & last."
    assert clean_paragraphs(raw) == [
        "First line of a paragraph wrapped by the editor.",
        "Second paragraph.",
        "Third & last.",
    ]


# ---- headline ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Apple unveils a new iPhone - The Verge", "Apple unveils a new iPhone"),
        ("Markets rally as inflation cools | Reuters", "Markets rally as inflation cools"),
        ("Выборы в Москве прошли спокойно — РИА Новости", "Выборы в Москве прошли спокойно"),
        ("Budget talks resume | Politics | Example News", "Budget talks resume"),
        ("Кризис — это шанс", "Кризис — это шанс"),  # a dash inside a phrase is not a site name
        ("Putin meets Xi - live updates", "Putin meets Xi - live updates"),
    ],
)
def test_site_suffix_is_trimmed(title: str, expected: str) -> None:
    assert strip_site_suffix(title) == expected


async def test_all_caps_title_becomes_sentence_case_keeping_names_from_text() -> None:
    draft = await story(
        "NASA CONFIRMS ARTEMIS CREW FOR MOON FLYBY",
        "<p>The agency said on Monday that NASA will fly four astronauts. The Artemis crew trained "
        "for two years, and the flyby of the Moon is planned for autumn.</p>",
    )
    assert draft.title == "NASA confirms Artemis crew for Moon flyby"


async def test_english_story_from_feed_html() -> None:
    draft = await story(EN_TITLE, EN_HTML, language="en", source_url="https://example.com/lanes")
    assert draft.title == "City council approves new cycle lanes along the riverside"
    assert draft.lead.startswith("The city council on Tuesday approved a plan")
    assert draft.lead.endswith("regional transport grant.")  # two whole sentences
    assert len(draft.body) <= 1200 and draft.body.endswith(SENTENCE_END)
    assert draft.body.startswith(draft.lead.split(". ")[0])
    assert 3 <= len(draft.hashtags) <= 5
    assert all(HASHTAG.match(tag) for tag in draft.hashtags)
    assert {"#Council", "#Cycle", "#Lanes"} <= set(draft.hashtags)
    assert not {"#The", "#Said", "#Will"} & set(draft.hashtags)

    tg = draft.captions["telegram"]
    assert tg == f"{draft.title}\n\n{draft.lead}\n\n{' '.join(draft.hashtags)}"
    ig = draft.captions["instagram"]
    assert ig.startswith(draft.title + "\n\n") and ig.endswith(" ".join(draft.hashtags))
    yt = draft.captions["youtube"]
    assert "https://example.com/lanes" in yt and yt.endswith(" ".join(draft.hashtags))
    assert not yt.startswith(draft.title)  # the YouTube title travels separately
    assert_within_limits(draft)


async def test_russian_story_from_feed_html() -> None:
    draft = await story(RU_TITLE, RU_HTML, language="ru")
    assert draft.title == "В Казани откроют новый парк на берегу Волги"
    assert draft.lead == (
        "Власти Казани утвердили проект нового парка на берегу Волги. Работы начнутся весной, "
        "а первую очередь парка откроют летом 2025 г., сообщили в мэрии."
    )
    assert "т.е. почти вдвое больше нынешней." in draft.body
    assert "Читать далее" not in draft.body
    assert 3 <= len(draft.hashtags) <= 5
    assert "#Парк" in draft.hashtags
    assert all(HASHTAG.match(tag) for tag in draft.hashtags)
    stop = {"#Который", "#Также", "#Сообщили", "#Года"}
    assert not stop & set(draft.hashtags)
    assert_within_limits(draft)


async def test_language_changes_only_stop_words() -> None:
    text = "<p>Which river? Which bridge? Which one which way. The bridge over the river.</p>"
    en = await story("Bridges", text, language="en")
    other = await story("Bridges", text, language="ru")
    assert "#Which" not in en.hashtags
    assert "#Which" in other.hashtags  # not a Russian stop word
    assert (en.title, en.body, en.lead, en.scenes) == (other.title, other.body, other.lead, other.scenes)


# ---- limits --------------------------------------------------------------------------------

EN_PARAGRAPH = (
    "The regional parliament debated the new water law for the third day on Thursday, with "
    "deputies from the northern districts demanding more money for pipes, pumps and treatment "
    "plants. Officials said the reform would cost about 4.2 billion over ten years. Critics, "
    "e.g. the farmers' union, argued that the tariffs would hit small producers hardest."
)
RU_PARAGRAPH = (
    "Региональный парламент в четверг третий день обсуждал новый закон о воде, т.е. о тарифах, "
    "трубах и очистных сооружениях. По словам министра А. Б. Петрова, реформа обойдётся примерно в "
    "4,2 млрд руб. за десять лет. Критики, в том числе союз фермеров, считают, что тарифы сильнее "
    "всего ударят по мелким производителям."
)


@pytest.mark.parametrize(
    ("title", "paragraph", "language"),
    [
        ("Water law debate enters third day", EN_PARAGRAPH, "en"),
        ("Закон о воде: третий день", RU_PARAGRAPH, "ru"),
    ],
)
async def test_very_long_input_respects_every_limit_and_cuts_at_sentences(
    title: str, paragraph: str, language: str
) -> None:
    text = long_text(paragraph, 300)  # ~100 000 characters
    url = "https://example.com/" + "x" * 200
    draft = await story(title, text, language=language, source_url=url)
    assert_within_limits(draft)
    source = all_sentences(text)
    words = set(re.findall(r"[^\W\d_]+", (text + " " + title + " " + url).lower()))

    for network in ("telegram", "instagram", "youtube"):
        caption = draft.captions[network]
        assert caption.endswith(" ".join(draft.hashtags)), network  # hashtags are never cut
        assert_cut_at_boundaries(caption, words)
    # The YouTube description is filled nearly to its byte limit, and marked as shortened.
    yt_text = draft.captions["youtube"].split("\n\nhttps://")[0]
    assert utf8_len(draft.captions["youtube"]) > YOUTUBE_DESCRIPTION_LIMIT - 600
    assert yt_text.endswith("…")
    # What the captions keep of the text is whole sentences from the start of the source.
    assert_sentence_prefix(yt_text, source)
    assert_sentence_prefix(draft.captions["instagram"].split("\n\n", 1)[1].rsplit("\n\n", 1)[0], source)
    assert_sentence_prefix(draft.captions["telegram"].split("\n\n")[1], source)
    assert len(draft.body) <= 1200 and draft.body.endswith(".")


async def test_russian_youtube_limit_is_bytes_not_characters() -> None:
    draft = await story("Закон о воде", long_text(RU_PARAGRAPH, 100), language="ru")
    yt = draft.captions["youtube"]
    assert utf8_len(yt) <= YOUTUBE_DESCRIPTION_LIMIT
    assert len(yt) < 3000  # Cyrillic letters are two bytes each


async def test_one_endless_sentence_is_cut_at_a_word_with_ellipsis() -> None:
    words = [f"слово{chr(0x430 + i % 32)}" for i in range(3000)]
    text = " ".join(words)  # no punctuation at all: no sentence boundary to use
    draft = await story("Поток сознания", text, language="ru")
    assert_within_limits(draft)
    body = draft.captions["telegram"].split("\n\n")[1]
    assert body.endswith("…")
    assert all(w in words for w in body[:-1].split())
    assert len(draft.body) <= 1200 and draft.body.endswith("…")


async def test_emoji_count_double_toward_telegram_limit() -> None:
    sentence = "Праздник 🎉🎉🎉 удался на славу 🎆🎆. "
    draft = await story("Праздник", sentence * 200, language="ru")
    assert utf16_len(draft.captions["telegram"]) <= TELEGRAM_CAPTION_LIMIT
    assert utf16_len(draft.captions["instagram"]) <= INSTAGRAM_CAPTION_LIMIT


async def test_instagram_never_exceeds_30_hashtags_even_with_hashtags_in_the_text() -> None:
    text = "<p>" + " ".join(f"Great day #tag{chr(97 + i % 26)}{i // 26} for everyone." for i in range(60)) + "</p>"
    draft = await story("Tag storm", text)
    assert hashtag_count(draft.captions["instagram"]) <= 30
    assert draft.captions["instagram"].endswith(" ".join(draft.hashtags))


async def test_long_title_is_cut_to_100_at_a_word() -> None:
    title = " ".join(["Extraordinary"] * 20)
    draft = await story(title, "<p>Short text.</p>")
    assert len(draft.title) <= 100
    assert draft.title.endswith("Extraordinary…")


async def test_angle_brackets_never_reach_youtube() -> None:
    draft = await story("Why 3 < 5 matters", "Plain text: a < b and c > d. Second sentence here.")
    assert "<" not in draft.captions["youtube"] and "<" not in draft.title


# ---- scenes --------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
async def test_scenes_count_order_and_sentence_boundaries(count: int) -> None:
    draft = await story(EN_TITLE, EN_HTML, scene_count=count)
    sentences = all_sentences(EN_HTML)
    assert len(draft.scenes) == count
    assert " ".join(draft.scenes) == " ".join(sentences)  # all the text, in order
    for scene in draft.scenes:
        assert scene.endswith(SENTENCE_END)
        assert any(scene.startswith(s) for s in sentences)
    if 1 < count <= 3:
        lengths = [len(s) for s in draft.scenes]
        assert max(lengths) < 3 * min(lengths)


async def test_more_scenes_than_sentences_splits_at_words() -> None:
    draft = await story("Short", "<p>One short sentence here. And another one follows it.</p>", scene_count=4)
    assert len(draft.scenes) == 4
    assert all(draft.scenes)
    assert " ".join(draft.scenes) == "One short sentence here. And another one follows it."


async def test_scene_count_must_be_positive() -> None:
    with pytest.raises(ValueError):
        await story("Title", "Text.", scene_count=0)


async def test_title_only_and_nothing_at_all() -> None:
    draft = await story("Only a headline here", "")
    assert draft.title == "Only a headline here"
    assert draft.scenes == ["Only a headline here"]
    assert_within_limits(draft)
    with pytest.raises(ValueError):
        await story("  ", "<p> </p>")


# ---- determinism and registry --------------------------------------------------------------


async def test_deterministic() -> None:
    first = await story(RU_TITLE, RU_HTML, language="ru", scene_count=3)
    second = await story(RU_TITLE, RU_HTML, language="ru", scene_count=3)
    assert first == second


def test_registry_returns_the_local_provider() -> None:
    provider = get_text_provider()
    assert isinstance(provider, LocalTextProvider)
    assert isinstance(provider, TextProvider)
    assert provider.name == "local"
    with pytest.raises(LookupError):
        get_text_provider("no-such-provider")


async def test_title_repeated_as_first_line_and_entities_in_title() -> None:
    draft = await story(
        "Q&amp;A: what the water law means - Example News",
        "<h1>Q&amp;A: what the water law means</h1><p>The law passed on Friday. Tariffs rise in May.</p>",
    )
    assert draft.title == "Q&A: what the water law means"
    assert draft.lead == "The law passed on Friday. Tariffs rise in May."


def test_registering_an_adapter() -> None:
    from app.ai import base

    class Fake:
        name = "fake"

        async def generate_story(self, req: TextRequest) -> StoryDraft:
            raise NotImplementedError

    base.register_text_provider("fake", Fake)
    try:
        assert isinstance(get_text_provider("fake"), Fake)
    finally:
        base._text_factories.pop("fake")


def test_split_scenes_edge_cases() -> None:
    from app.ai.local_text import split_scenes

    assert split_scenes(["Supercalifragilistic.", "Two words."], 3) == [
        "Supercalifragilistic.",
        "Two",
        "words.",
    ]
    assert split_scenes(["Single."], 4) == ["Single."]  # fewer words than scenes: no empty scenes
