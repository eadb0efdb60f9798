"""The local Smart Edit rules: what they do, deterministically, and what they say they cannot do."""

from __future__ import annotations

import re

import pytest

from app.ai.local_text import utf16_len
from app.smartedit.rules import Field, Material, Op, edit, parse_instruction, sentences_of, title_case
from app.smartedit.services import word_diff

BODY = (
    "The ferry returned to service on Monday. It had been laid up for repairs since March. "
    "Engineers replaced both engines. The operator says timetables are back to normal. "
    "Tickets are sold at the pier."
)
SOURCE = BODY + " A second ferry joins in May. Fares stay the same. The mayor welcomed the news."
TEXT = Field("body")
TITLE = Field("title", 300)
CAPTION = Field("caption", 1024, utf16_len)


def words_of(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


# --- reading the instruction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instruction", "ops"),
    [
        ("shorter", [Op.SHORTEN]),
        ("Сократи", [Op.SHORTEN]),
        ("покороче, пожалуйста", [Op.SHORTEN]),
        ("longer", [Op.EXPAND]),
        ("подробнее", [Op.EXPAND]),
        ("Title Case", [Op.TITLE_CASE]),
        ("sentence case", [Op.SENTENCE_CASE]),
        ("убери капс", [Op.SENTENCE_CASE]),
        ("ALL CAPS", [Op.UPPER_CASE]),
        ("заглавными буквами", [Op.UPPER_CASE]),
        ("lower case", [Op.LOWER_CASE]),
        ("remove emojis and hashtags", [Op.STRIP_EMOJIS, Op.STRIP_HASHTAGS]),
        ("убери эмодзи и хештеги", [Op.STRIP_EMOJIS, Op.STRIP_HASHTAGS]),
        ("без восклицательных знаков", [Op.STRIP_EXCLAMATIONS]),
        ("no links", [Op.STRIP_LINKS]),
        # Removals first, then length, then case, whatever the order asked.
        ("title case, shorter, no emojis", [Op.STRIP_EMOJIS, Op.SHORTEN, Op.TITLE_CASE]),
        ("сократи и убери эмодзи", [Op.STRIP_EMOJIS, Op.SHORTEN]),
    ],
)
def test_instructions_in_english_and_russian_become_operations(instruction: str, ops: list[Op]) -> None:
    plan = parse_instruction(instruction)
    assert [o.op for o in plan.operations] == ops
    assert plan.cannot == ()


@pytest.mark.parametrize(
    ("instruction", "ratio", "chars", "words", "sentences"),
    [
        ("shorter", 0.6, None, None, None),
        ("much shorter", 0.4, None, None, None),
        ("намного короче", 0.4, None, None, None),
        ("a bit shorter", 0.8, None, None, None),
        ("вдвое короче", 0.5, None, None, None),
        ("shorter, up to 120 characters", 0.6, 120, None, None),
        ("сократи до 20 слов", 0.6, None, 20, None),
        ("2 sentences", 0.6, None, None, 2),
        ("shorten by 30%", 0.7, None, None, None),
    ],
)
def test_how_much_shorter(instruction, ratio, chars, words, sentences) -> None:
    (operation,) = parse_instruction(instruction).operations
    assert operation.op == Op.SHORTEN
    assert (operation.ratio, operation.max_chars, operation.max_words, operation.max_sentences) == pytest.approx(
        (ratio, chars, words, sentences)
    )


def test_what_the_rules_cannot_do_is_said_in_plain_words() -> None:
    plan = parse_instruction("shorter, more formal")
    assert [o.op for o in plan.operations] == [Op.SHORTEN]
    (tone,) = plan.cannot
    assert "can't change tone" in tone and "connect a text model in Providers" in tone

    assert "can't translate" in parse_instruction("translate to English").cannot[0]
    assert "can't translate" in parse_instruction("переведи на английский").cannot[0]
    assert "can't change tone" in parse_instruction("сделай официальнее").cannot[0]
    assert "can't rephrase or correct" in parse_instruction("fix the typos").cannot[0]
    unknown = parse_instruction("make it pop").cannot[0]
    assert "doesn't understand “make it pop”" in unknown and "remove emojis, hashtags" in unknown
    assert parse_instruction("add emojis").operations == ()
    assert "can't add emojis" in parse_instruction("add emojis").cannot[0]
    # "and hashtags" carries the wish to add from its clause's neighbour.
    assert len(parse_instruction("add emojis and hashtags").cannot) == 2
    both = parse_instruction("shorter and longer")
    assert [o.op for o in both.operations] == [Op.SHORTEN] and "both shorter and longer" in both.cannot[0]


def test_an_empty_instruction_asks_for_one() -> None:
    result = edit(BODY, "   ", TEXT)
    assert result.text == BODY and "Type what to change" in result.cannot[0]


# --- shortening ---------------------------------------------------------------------------------


def test_shorter_keeps_whole_sentences_near_sixty_percent() -> None:
    result = edit(BODY, "shorter", TEXT)
    assert result.text == (
        "The ferry returned to service on Monday. It had been laid up for repairs since March. "
        "Engineers replaced both engines."
    )
    assert BODY.startswith(result.text)  # whole sentences from the start, nothing cut inside one
    assert "Kept the first 3 of 5 sentences" in result.done[0]
    assert result.cannot == ()
    assert edit(BODY, "shorter", TEXT) == result  # deterministic


def test_much_shorter_and_explicit_limits() -> None:
    much = edit(BODY, "much shorter", TEXT).text
    assert much == "The ferry returned to service on Monday. It had been laid up for repairs since March."
    limited = edit(BODY, "up to 50 characters", TEXT)
    assert limited.text == "The ferry returned to service on Monday." and len(limited.text) <= 50
    two = edit(BODY, "2 sentences", TEXT).text
    assert two == much
    # A first sentence longer than the asked size is cut at a word boundary, never inside a word.
    tiny = edit(BODY, "shorter, 25 characters", TEXT).text
    assert len(tiny) <= 25 and tiny.endswith("…")
    assert words_of(tiny.rstrip("…")) <= words_of(BODY)
    assert edit(BODY, "up to 500 characters", TEXT).text == BODY  # already fits


def test_a_single_sentence_loses_a_clause_or_says_it_cannot() -> None:
    clause = edit(
        "One long sentence about the ferry, which returned to service on Monday after repairs.", "shorter", TEXT
    )
    assert clause.text == "One long sentence about the ferry."
    title = edit("Ferry back in service: what changes for commuters", "shorter", TITLE)
    assert title.text == "Ferry back in service"
    refused = edit("Ferry back", "shorter", TITLE)
    assert refused.text == "Ferry back" and "never cuts inside one" in refused.cannot[0]


def test_shortening_a_caption_keeps_its_hashtag_line() -> None:
    caption = (
        "Ferry back in service\n\nThe ferry returned on Monday. Repairs took months. Engineers replaced "
        "both engines. Timetables are normal again.\n\n#Ferry #Паром"
    )
    result = edit(caption, "короче", CAPTION)
    assert result.text.startswith("Ferry back in service\n\nThe ferry returned on Monday.")
    assert result.text.endswith("\n\n#Ferry #Паром")
    assert len(result.text) < len(caption)


# --- lengthening -------------------------------------------------------------------------------


def test_longer_continues_with_the_source_and_says_so() -> None:
    material = Material(extra=sentences_of("", SOURCE))
    result = edit(BODY, "longer", TEXT, material)
    # About half as much again: the three sentences that follow in the source, as a new paragraph.
    assert result.text == BODY + "\n\nA second ferry joins in May. Fares stay the same. The mayor welcomed the news."
    assert "Added 3 sentences from the story's lead and source" in result.done[0]
    one = edit(BODY, "add 1 sentence", TEXT, material)
    assert one.text == BODY + "\n\nA second ferry joins in May."
    lead = edit("Engineers replaced both engines.", "подробнее", Field("lead"), material)
    assert lead.text == "Engineers replaced both engines. The operator says timetables are back to normal."


def test_longer_with_nothing_to_add_says_so() -> None:
    everything = edit(SOURCE, "expand", TEXT, Material(extra=sentences_of(SOURCE)))
    assert everything.text == SOURCE and "Nothing to add" in everything.cannot[0]
    no_source = edit(BODY, "longer", TEXT, Material())
    assert no_source.text == BODY and "nothing to add from" in no_source.cannot[0]
    title = edit("Ferry back", "longer", TITLE, Material(extra=sentences_of(SOURCE)))
    assert title.text == "Ferry back" and "doesn't lengthen titles" in title.cannot[0]


def test_longer_respects_a_caption_limit() -> None:
    long_sentence = "Word " * 150 + "end."
    result = edit("Short caption.", "longer", Field("caption", 100, utf16_len), Material(extra=(long_sentence,)))
    assert result.text == "Short caption." and "fits within this text's limit of 100" in result.cannot[0]


# --- the title's case --------------------------------------------------------------------------


def test_title_case_keeps_small_words_acronyms_and_brands() -> None:
    assert title_case("apple unveils the new iPhone at a NASA event") == "Apple Unveils the New iPhone at a NASA Event"
    assert title_case("state-of-the-art ferry: what's new") == "State-of-the-Art Ferry: What's New"
    result = edit("паром вернулся на линию", "title case", TITLE)
    assert result.text == "Паром Вернулся на Линию" and "Title Case" in result.done[0]


def test_sentence_case_writes_names_as_the_story_does_and_flags_doubtful_ones() -> None:
    material = Material(context=sentences_of("The event at NASA was big. People in Moscow liked the new iPhone."))
    caps = edit("APPLE UNVEILS NEW IPHONE AT NASA EVENT", "sentence case", TITLE, material)
    assert caps.text == "Apple unveils new iPhone at NASA event"
    titled = edit("Ferry Returns To Moscow", "sentence case", TITLE, material)
    assert titled.text == "Ferry returns to Moscow"
    assert any("“Returns”" in note for note in titled.done)


def test_upper_and_lower_case_and_only_for_titles() -> None:
    assert edit("Паром вернулся", "капсом", TITLE).text == "ПАРОМ ВЕРНУЛСЯ"
    assert edit("Ferry Back", "lower case", TITLE).text == "ferry back"
    body = edit(BODY, "title case", TEXT)
    assert body.text == BODY and "titles only" in body.cannot[0]


# --- removals ----------------------------------------------------------------------------------


def test_emojis_are_stripped_with_their_joiners_flags_and_skin_tones() -> None:
    text = "Паром 🚢 вернулся! Семья 👨‍👩‍👧 рада 👍🏽, флаг 🇷🇺 и ❤️ любовь ✨.\nШаг 1️⃣ готов"
    result = edit(text, "убери эмодзи", CAPTION)
    assert result.text == "Паром вернулся! Семья рада, флаг и любовь.\nШаг 1 готов"
    assert result.done == ("Removed 7 emojis.",)
    assert edit("No emojis here.", "no emojis", TEXT).done == ("There were no emojis.",)


def test_hashtags_are_stripped_including_cyrillic_ones() -> None:
    caption = (
        "Паром снова ходит. Мы любим #Москву весной.\nIssue #1 is fixed. #ferry_news #Паром\n\n#Транспорт #климат2026"
    )
    result = edit(caption, "без хештегов", CAPTION)
    assert result.text == "Паром снова ходит. Мы любим Москву весной.\nIssue #1 is fixed."
    assert result.done == (
        "Removed 4 hashtags.",
        "Kept 1 hashtag inside a sentence as a plain word.",
    )


def test_exclamation_marks_and_links() -> None:
    assert edit("Great news!!! Ferry is back! Really?!", "no exclamation marks", TEXT).text == (
        "Great news. Ferry is back. Really?"
    )
    assert edit("Big news! Ferry back!", "remove exclamation marks", TITLE).text == "Big news. Ferry back"
    links = edit(
        "Timetables at https://ferry.example/times. Call us.\nRead more: https://x.example/a", "no links", TEXT
    )
    assert links.text == "Timetables at. Call us." and links.done == ("Removed 2 links.",)


# --- the preview -------------------------------------------------------------------------------


def test_the_word_diff_marks_insertions_and_deletions() -> None:
    runs = word_diff("The ferry is back today.", "The new ferry is back.")
    assert runs == [
        ("equal", "The"),
        ("insert", " new"),
        ("equal", " ferry is back"),
        ("delete", " today"),
        ("equal", "."),
    ]
    assert "".join(t for op, t in runs if op != "insert") == "The ferry is back today."
    assert "".join(t for op, t in runs if op != "delete") == "The new ferry is back."


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("instruction", ["shorter", "much shorter", "a bit shorter", "up to 300 characters"])
def test_shortening_picks_the_same_prefix_as_trying_every_one(seed: int, instruction: str) -> None:
    """The bisection over sentence prefixes gives what checking each prefix in turn would give."""
    import random

    from app.smartedit import rules

    chooser = random.Random(seed)
    sentences = [
        " ".join(
            chooser.choice(["tram", "bridge", "harbour", "ferry", "market"]) for _ in range(chooser.randint(2, 14))
        ).capitalize()
        + "."
        for _ in range(chooser.randint(3, 25))
    ]
    text = " ".join(sentences)
    field_ = rules.Field("body")
    result = rules.edit(text, instruction, field_)
    operation = rules.parse_instruction(instruction).operations[0]
    layout = rules._Layout.of(text)
    prefixes = {k: layout.render(keep=k) for k in range(1, len(layout.units) + 1)}
    if operation.max_chars is not None:
        fitting = [k for k, p in prefixes.items() if len(p) <= operation.max_chars]
        expected = prefixes[max(fitting)] if fitting else None
    else:
        target = len(text) * operation.ratio
        expected = prefixes[min(range(1, len(prefixes)), key=lambda k: (abs(len(prefixes[k]) - target), k))]
    if expected is not None:
        assert result.text == expected
