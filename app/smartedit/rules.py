"""Smart Edit without a text model: honest, deterministic rule-based edits.

The instruction ("shorter, no emojis", "сократи и убери хештеги") is cut into clauses; each clause
either names an operation the rules can do — shorten by whole sentences, lengthen with sentences
from the story's lead and source, change the title's case, remove emojis, hashtags, exclamation
marks or links — or it is reported back in plain words as something the local editor cannot do
("more formal" needs a text model). Nothing is invented: added sentences come from the story's own
material, and nothing is cut inside a word.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from app.ai.local_text import ELLIPSIS, clean_paragraphs, cut_words, split_sentences
from app.i18n import gettext as _
from app.i18n import ngettext

Measure = Callable[[str], int]

SHORTEN_RATIO = 0.6  # "shorter" keeps about this share of the text
EXPAND_RATIO = 0.5  # "longer" adds about this share of the text


class Op(StrEnum):
    SHORTEN = "shorten"
    EXPAND = "expand"
    TITLE_CASE = "title_case"
    SENTENCE_CASE = "sentence_case"
    UPPER_CASE = "upper_case"
    LOWER_CASE = "lower_case"
    STRIP_EMOJIS = "strip_emojis"
    STRIP_HASHTAGS = "strip_hashtags"
    STRIP_EXCLAMATIONS = "strip_exclamations"
    STRIP_LINKS = "strip_links"


CASE_OPS = (Op.TITLE_CASE, Op.SENTENCE_CASE, Op.UPPER_CASE, Op.LOWER_CASE)
STRIP_OPS = (Op.STRIP_LINKS, Op.STRIP_EMOJIS, Op.STRIP_HASHTAGS, Op.STRIP_EXCLAMATIONS)


@dataclass(frozen=True)
class Operation:
    op: Op
    ratio: float = 0.0  # shorten: share kept; expand: share added
    max_chars: int | None = None
    max_words: int | None = None
    max_sentences: int | None = None


@dataclass(frozen=True)
class Plan:
    operations: tuple[Operation, ...]
    cannot: tuple[str, ...]

    def has(self, op: Op) -> bool:
        return any(o.op == op for o in self.operations)


@dataclass(frozen=True)
class Field:
    """What is being edited: its kind decides what makes sense ("title" is one line, case changes
    apply to it only); `limit` (in `measure` units) is a hard ceiling, e.g. a network's caption."""

    kind: str  # "title", "lead", "body", "caption", "prompt"
    limit: int | None = None
    measure: Measure = len


@dataclass(frozen=True)
class Material:
    """The story's own words the rules may use: `extra` sentences can be added when lengthening
    (the lead's, then the source article's, in order); `context` shows how names are written."""

    extra: tuple[str, ...] = ()
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleEdit:
    text: str
    done: tuple[str, ...] = ()
    cannot: tuple[str, ...] = ()


# ---- reading the instruction -------------------------------------------------------------------

# Clauses: "shorter, more formal", "сократи и убери эмодзи", "title case; no hashtags".
_CLAUSE_SPLIT_RE = re.compile(
    r"[,;\n]+|\.(?:\s+|$)|\s+(?:and|but|then|also|plus|и|а|но|затем|потом|также|ещё|еще)\s+|\s*[+&]\s*"
)

_SHORTEN_RE = re.compile(
    r"\b(?:short|shorter|shorten|brief|briefer|briefly|concise|condense|trim|cut|tighten|reduce|compress|"
    r"fewer words|less text)\b|корот|короч|сократ|сокращ|укорот|кратк|сжат|сожми|ужми|урежь|убавь"
)
_EXPAND_RE = re.compile(
    r"\b(?:long|longer|lengthen|expand|extend|elaborate|more detail|more details|detailed|in detail|"
    r"add (?:more|detail|details|context)|more context|add\b.*\bsentences?)\b|"
    r"длинн|длинее|подробн|расшир|развер|дополн|удлин|допиши|добав\w*.*предложени"
)
_TITLE_CASE_RE = re.compile(
    r"\btitle[ -]?case\b|\bcapitali[sz]e(?! ?(?:letters|all letters))\b|\bheadline case\b|"
    r"кажд\w* слов\w* с (?:больш|заглавн|прописн)"
)
_SENTENCE_CASE_RE = re.compile(
    r"\bsentence[ -]?case\b|\bnormal case\b|\bonly the first (?:word|letter)\b|как в предложении|"
    r"только перв\w* (?:слов|букв)\w* (?:с )?(?:больш|заглавн|прописн)|обычн\w* регистр|убери капс|без капса"
)
_UPPER_CASE_RE = re.compile(
    r"\bupper[ -]?case\b|\ball caps\b|\bcaps\b|\bcapital letters\b|\bin capitals\b|капс|заглавными|прописными|"
    r"большими буквами|верхн\w* регистр"
)
_LOWER_CASE_RE = re.compile(r"\blower[ -]?case\b|\bsmall letters\b|строчными|маленькими буквами|нижн\w* регистр")
_EMOJI_WORD_RE = re.compile(r"emoji|emoticon|smiley|смайл|эмодзи|эмоджи|эмотикон")
_HASHTAG_WORD_RE = re.compile(r"hash ?tags?|\btags?\b|х[эе]ш-?т[эе]г|\bт[эе]г")
_EXCLAMATION_WORD_RE = re.compile(r"exclamation|восклица|!")
_LINK_WORD_RE = re.compile(r"\blinks?\b|\burls?\b|ссылк|линк")
# "add emojis" is a wish the rules cannot grant; "no emojis" / "убери эмодзи" is a removal.
_ADD_WORD_RE = re.compile(r"\b(?:add|more|insert|put|include|with)\b|добав|больше|встав|поставь|^с\b|\sс\s")
_NO_WORD_RE = re.compile(
    r"\b(?:no|without|remove|strip|delete|drop|lose|get rid|fewer|less)\b|"
    r"без|убер|удал|убра|меньше|сотри|вычеркн"
)

_MUCH_RE = re.compile(
    r"\b(?:much|a lot|far|way|significantly|drastically|considerably|radically)\b|намного|гораздо|значительно|"
    r"сильно|существенно|радикально|вдвое короче"
)
_HALF_RE = re.compile(r"\bhalf\b|\bby 50 ?%|вдвое|в два раза|в 2 раза|наполовину|в половину")
_BIT_RE = re.compile(r"\b(?:a bit|a little|slightly|somewhat|a touch)\b|немного|немножко|чуть|слегка")
_CHARS_RE = re.compile(r"(\d[\d\s]{0,6})\s*(?:characters?|chars?|symbols?|letters?|символ\w*|знак\w*|букв\w*)")
_WORDS_RE = re.compile(r"(\d{1,4})\s*(?:words?|слов\w*)")
_SENTENCES_RE = re.compile(r"(\d{1,3})\s*(?:sentences?|предложени\w*)")
_PERCENT_RE = re.compile(r"(\d{1,2})\s*%")

# What a model could do but rules cannot, each said in its own words.
_TONE_RE = re.compile(
    r"formal|casual|friendl|serious|playful|professional|polite|tone|style|funny|humor|humour|emotional|neutral|"
    r"engaging|catchy|punchy|exciting|warm|persuasive|official|simple|simpler|clear|"
    r"официальн|формальн|делов|неформальн|дружелюбн|\bтон|стил|серь[её]зн|весел|смешн|эмоциональн|нейтральн|"
    r"живее|интереснее|ярче|цепл|проще|строже|мягче|теплее|вежлив|продающ|кликбейт"
)
_TRANSLATE_RE = re.compile(r"translat|in english|in russian|to english|to russian|перевед|перевод|на английск|на русск")
_REPHRASE_RE = re.compile(
    r"rephrase|rewrite|reword|paraphrase|simplif|grammar|spelling|typo|fix|correct|improve|better|polish|"
    r"перефраз|перепиш|переформулир|упрост|ошибк|граммат|орфограф|опечат|исправ|улучш|лучше"
)


# Politeness and filler carry no wish of their own: "shorter, please" is just "shorter".
_FILLER_RE = re.compile(
    r"^(?:(?:please|pls|plz|kindly|thanks|thank you|ok|okay|make it|make|do it|the text|it|"
    r"пожалуйста|плиз|спасибо|сделай|сделайте|сделать|текст|так)\s*)+$"
)


def _normalise(instruction: str) -> str:
    return " ".join(instruction.lower().replace("ё", "е").split())


def _clauses(instruction: str) -> list[str]:
    return [c.strip(" .!?:-—–\"'«»") for c in _CLAUSE_SPLIT_RE.split(_normalise(instruction)) if c.strip(" .!?:-—–")]


def _number(raw: str) -> int:
    return int(re.sub(r"\s", "", raw))


def _shorten_operation(clause: str) -> Operation:
    if m := _CHARS_RE.search(clause):
        return Operation(Op.SHORTEN, SHORTEN_RATIO, max_chars=max(1, _number(m.group(1))))
    if m := _WORDS_RE.search(clause):
        return Operation(Op.SHORTEN, SHORTEN_RATIO, max_words=max(1, int(m.group(1))))
    if m := _SENTENCES_RE.search(clause):
        return Operation(Op.SHORTEN, SHORTEN_RATIO, max_sentences=max(1, int(m.group(1))))
    if m := _PERCENT_RE.search(clause):
        # "by 30%" takes 30% away; "to 30%" keeps 30%.
        share = int(m.group(1)) / 100
        return Operation(Op.SHORTEN, 1 - share if re.search(r"\bby\b|на\s+\d", clause) else share)
    if _HALF_RE.search(clause):
        return Operation(Op.SHORTEN, 0.5)
    if _MUCH_RE.search(clause):
        return Operation(Op.SHORTEN, 0.4)
    if _BIT_RE.search(clause):
        return Operation(Op.SHORTEN, 0.8)
    return Operation(Op.SHORTEN, SHORTEN_RATIO)


def _expand_operation(clause: str) -> Operation:
    if m := _SENTENCES_RE.search(clause):
        return Operation(Op.EXPAND, EXPAND_RATIO, max_sentences=max(1, int(m.group(1))))
    if _MUCH_RE.search(clause) or _HALF_RE.search(clause):
        return Operation(Op.EXPAND, 1.0)
    if _BIT_RE.search(clause):
        return Operation(Op.EXPAND, 0.25)
    return Operation(Op.EXPAND, EXPAND_RATIO)


def _polarity(clause: str) -> str | None:
    """Whether a clause asks to add ("with emojis") or to remove ("no emojis"), when it says."""
    if _NO_WORD_RE.search(clause):
        return "remove"
    if _ADD_WORD_RE.search(clause):
        return "add"
    return None


def _clause_operations(clause: str, polarity: str | None) -> tuple[list[Operation], list[str]]:
    """The operations one clause asks for, and what it asks that the rules cannot do. `polarity`
    is the clause's own or, when it has no verb ("remove emojis and hashtags"), the previous one's."""
    found: list[Operation] = []
    cannot: list[str] = []
    removals = (
        (_EMOJI_WORD_RE, Op.STRIP_EMOJIS, _("The local editor can't add emojis; it can only remove them.")),
        (_HASHTAG_WORD_RE, Op.STRIP_HASHTAGS, _("The local editor can't add hashtags; it can only remove them.")),
        (_LINK_WORD_RE, Op.STRIP_LINKS, _("The local editor can't add links; it can only remove them.")),
        (
            _EXCLAMATION_WORD_RE,
            Op.STRIP_EXCLAMATIONS,
            _("The local editor can't add exclamation marks; it can only remove them."),
        ),
    )
    for pattern, op, no_adding in removals:
        if pattern.search(clause):
            if polarity == "add":
                cannot.append(no_adding)
            else:
                found.append(Operation(op))
    if found or cannot:
        return found, cannot  # "cut the hashtags" is about hashtags, not about length
    # Case before length: "capital letters" is no length, and "убери капс" is sentence case.
    if _TITLE_CASE_RE.search(clause):
        found.append(Operation(Op.TITLE_CASE))
    elif _SENTENCE_CASE_RE.search(clause):
        found.append(Operation(Op.SENTENCE_CASE))
    elif _UPPER_CASE_RE.search(clause):
        found.append(Operation(Op.UPPER_CASE))
    elif _LOWER_CASE_RE.search(clause):
        found.append(Operation(Op.LOWER_CASE))
    if _SHORTEN_RE.search(clause):
        found.append(_shorten_operation(clause))
    elif _EXPAND_RE.search(clause):
        found.append(_expand_operation(clause))
    elif not found and (_CHARS_RE.search(clause) or _WORDS_RE.search(clause) or _SENTENCES_RE.search(clause)):
        # "up to 200 characters", "в 2 предложения": a length limit is a shortening.
        found.append(_shorten_operation(clause))
    return found, cannot


def _cannot_message(clause: str) -> str:
    if _TRANSLATE_RE.search(clause):
        return _("The local editor can't translate; connect a text model in Providers.")
    if _TONE_RE.search(clause):
        return _("The local editor can't change tone (“%(what)s”); connect a text model in Providers.", what=clause)
    if _REPHRASE_RE.search(clause):
        return _(
            "The local editor can't rephrase or correct wording (“%(what)s”); connect a text model in Providers.",
            what=clause,
        )
    return _(
        "The local editor doesn't understand “%(what)s”: it can shorten, lengthen, change the title's case and "
        "remove emojis, hashtags, exclamation marks or links. Connect a text model in Providers for anything else.",
        what=clause,
    )


def _merge(first: Operation, second: Operation) -> Operation:
    default = SHORTEN_RATIO if first.op == Op.SHORTEN else EXPAND_RATIO
    return dataclasses.replace(
        first,
        ratio=second.ratio if second.ratio != default else first.ratio,
        max_chars=second.max_chars if second.max_chars is not None else first.max_chars,
        max_words=second.max_words if second.max_words is not None else first.max_words,
        max_sentences=second.max_sentences if second.max_sentences is not None else first.max_sentences,
    )


def parse_instruction(instruction: str) -> Plan:
    """Operations in a fixed order (removals, then length, then case) and what cannot be done."""
    operations: list[Operation] = []
    cannot: list[str] = []
    polarity: str | None = None
    for clause in _clauses(instruction):
        if _FILLER_RE.match(clause):
            continue
        polarity = _polarity(clause) or polarity
        found, refused = _clause_operations(clause, polarity)
        cannot += refused
        if not found and not refused:
            cannot.append(_cannot_message(clause))
        for operation in found:
            same = next((i for i, o in enumerate(operations) if o.op == operation.op), None)
            if same is None:
                operations.append(operation)
            else:
                # "shorter, up to 120 characters": one shortening, with the limit.
                operations[same] = _merge(operations[same], operation)
    lengths = [o for o in operations if o.op in (Op.SHORTEN, Op.EXPAND)]
    if len(lengths) > 1:
        # "shorter and longer": the first wish wins, and the editor is told.
        operations = [o for o in operations if o.op not in (Op.SHORTEN, Op.EXPAND) or o is lengths[0]]
        cannot.append(_("The text can't be made both shorter and longer; only the first was done."))
    cases = [o for o in operations if o.op in CASE_OPS]
    if len(cases) > 1:
        operations = [o for o in operations if o.op not in CASE_OPS or o is cases[-1]]
        cannot.append(_("Only one case change can be made at a time; the last one asked for was done."))
    order = [*STRIP_OPS, Op.SHORTEN, Op.EXPAND, *CASE_OPS]
    operations.sort(key=lambda o: order.index(o.op))
    return Plan(tuple(operations), tuple(dict.fromkeys(cannot)))


# ---- the text as lines and sentences ------------------------------------------------------------

_HASHTAG_RE = re.compile(r"(?<![\w#&/])#(\w*[^\W\d_]\w*)")
_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>«»\"]*[^\s<>«»\".,;:!?)\]]")
_TAIL_LINE_RE = re.compile(r"^(?:\s*(?:#\w+|(?:https?://|www\.)\S+)\s*)+$")
_WORD_RE = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*|\d+(?:[.,]\d+)*")


def _key(sentence: str) -> str:
    """Sentences compare by their words: punctuation, case and spacing do not matter."""
    return " ".join(w.lower() for w in _WORD_RE.findall(sentence))


def _tidy(text: str) -> str:
    lines = [re.sub(r"[ \t]{2,}", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


@dataclass
class _Layout:
    """Lines of the text: prose lines split into sentences, and the trailing hashtag / link lines
    (a caption's tail) that shortening and lengthening leave where they are."""

    lines: list[str]
    sentences: dict[int, list[str]] = field(default_factory=dict)  # prose line index → sentences
    tail_from: int = 0  # lines[tail_from:] are the tail

    @classmethod
    def of(cls, text: str) -> _Layout:
        lines = text.split("\n")
        tail_from = len(lines)
        while tail_from > 0 and (not lines[tail_from - 1].strip() or _TAIL_LINE_RE.match(lines[tail_from - 1])):
            tail_from -= 1
        layout = cls(lines, tail_from=tail_from)
        for i, line in enumerate(lines[:tail_from]):
            if line.strip():
                layout.sentences[i] = split_sentences(line.strip())
        return layout

    @property
    def units(self) -> list[tuple[int, str]]:
        return [(i, s) for i, sentences in self.sentences.items() for s in sentences]

    def render(self, keep: int | None = None, add: Sequence[str] = (), add_as_paragraph: bool = True) -> str:
        """The text with only the first `keep` sentences, plus `add` sentences after the prose
        (as a paragraph of their own, or continuing the last one); the tail stays as it was."""
        out: list[str] = []
        seen = 0
        last_prose = max(self.sentences, default=-1)
        for i, line in enumerate(self.lines[: self.tail_from]):
            if i not in self.sentences:
                out.append(line)
                continue
            kept = []
            for sentence in self.sentences[i]:
                if keep is None or seen < keep:
                    kept.append(sentence)
                seen += 1
            if i == last_prose and add and not add_as_paragraph:
                kept += list(add)
            if kept:
                out.append(" ".join(kept))
        if add and (add_as_paragraph or last_prose < 0):
            out += ["", " ".join(add)]
        # Dropped lines leave runs of blank lines behind: _tidy folds them.
        return _tidy("\n".join([*out, *self.lines[self.tail_from :]]))


# ---- operations -------------------------------------------------------------------------------

_EMOJI_CHAR = (
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u231a\u231b\u2328\u23cf\u23e9-\u23f3\u23f8-\u23fa"
    "\u2139\u24c2\u25b6\u25c0\u25fb-\u25fe\u3030\u303d\u3297\u3299]"
)
_EMOJI_MODIFIERS = "[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]*"
_EMOJI_RE = re.compile(
    # A flag is two regional indicator letters: one emoji.
    f"[\U0001f1e6-\U0001f1ff]{{2}}|{_EMOJI_CHAR}{_EMOJI_MODIFIERS}(?:\u200d{_EMOJI_CHAR}{_EMOJI_MODIFIERS})*"
)
_KEYCAP_RE = re.compile("([0-9#*])\ufe0f?\u20e3")


def strip_emojis(text: str) -> tuple[str, int]:
    """Remove emojis (with their skin tones, joiners and flags); "1️⃣" keeps its digit."""
    count = len(_KEYCAP_RE.findall(text))
    text = _KEYCAP_RE.sub(r"\1", text)
    count += len(_EMOJI_RE.findall(text))
    text = _EMOJI_RE.sub(" ", text).replace("\ufe0f", "")
    # An emoji between a word and its punctuation leaves "word ." behind.
    text = re.sub(r"[ \t]+([.,;:!?…»)])", r"\1", text)
    text = re.sub(r"([«(])[ \t]+", r"\1", text)
    return _tidy(text), count


def strip_hashtags(text: str) -> tuple[str, int, int]:
    """Hashtag lines and trailing hashtags go; a hashtag inside a sentence keeps its word
    ("we love #Moscow" → "we love Moscow"). Returns (text, removed, unhashed)."""
    removed = unhashed = 0
    lines = []
    for line in text.split("\n"):
        tags = _HASHTAG_RE.findall(line)
        if not tags:
            lines.append(line)
            continue
        rest = _HASHTAG_RE.sub("", line)
        if not re.search(r"[^\W_]", rest):
            removed += len(tags)
            continue  # a line of hashtags only
        trailing = re.search(r"(?:[ \t]*(?<![\w#&/])#\w*[^\W\d_]\w*)+[ \t]*$", line)
        if trailing:
            removed += len(_HASHTAG_RE.findall(trailing.group(0)))
            line = line[: trailing.start()]
        inline = len(_HASHTAG_RE.findall(line))
        unhashed += inline
        lines.append(_HASHTAG_RE.sub(r"\1", line))
    return _tidy("\n".join(lines)), removed, unhashed


def strip_exclamations(text: str, *, is_title: bool) -> tuple[str, int]:
    """ "!" ends a sentence with a full stop ("?!" keeps the question); a title just loses it."""
    count = len(re.findall(r"[!‼]+", text))
    text = re.sub(r"\?[!‼]+|[!‼]+\?", "?", text)
    if is_title:
        text = re.sub(r"\s*[!‼]+\s*$", "", text)  # a headline ends without a full stop
    text = re.sub(r"[!‼]+\.?", ".", text)
    return _tidy(text), count


def strip_links(text: str) -> tuple[str, int]:
    """Remove web addresses; a short label left pointing at nothing ("Read more:") goes with them."""
    count = 0
    lines = []
    for line in text.split("\n"):
        found = len(_URL_RE.findall(line))
        if not found:
            lines.append(line)
            continue
        count += found
        rest = re.sub(r"[ \t]+([.,;:!?…])", r"\1", _URL_RE.sub("", line)).strip()
        if rest.endswith((":", "→", "—", "-")) and _count_words(rest) <= 4:
            continue
        lines.append(rest)
    return _tidy("\n".join(lines)), count


_TITLE_BREAK_RE = re.compile(r"\s*(?::|\s[—–|-])\s+")
_CLAUSE_BREAK_RE = re.compile(r"(?:[,;:]|\s[—–])\s+")

_SMALL_WORDS = frozenset(
    """a an the and but or nor for so yet at by in of on to up as via vs per from with into over onto off out
    в во на и а но или с со к ко о об обо от по за из у для до без при про через над под""".split()
)


def _fits(field_: Field, text: str) -> bool:
    return field_.limit is None or field_.measure(text) <= field_.limit


def _count_words(text: str) -> int:
    return len(_WORD_RE.findall(text))


def _cut_clause(sentence: str, target: float, *, is_title: bool, measure: Measure) -> str | None:
    """A single sentence shortened at a clause boundary (":", " — ", ","...), closest to `target`;
    None when there is no boundary that leaves at least three words."""
    pattern = _TITLE_BREAK_RE if is_title else _CLAUSE_BREAK_RE
    cuts = [m.start() for m in pattern.finditer(sentence)]
    candidates = [sentence[:pos].rstrip(" ,;:—–-") for pos in cuts]
    candidates = [c for c in candidates if _count_words(c) >= (2 if is_title else 3)]
    if not candidates:
        return None
    best = min(candidates, key=lambda c: (abs(measure(c) - target), -len(c)))
    if not is_title:
        end = re.search(r"[.!?…]+[\"'»”’)\]]*$", sentence)
        best += end.group(0) if end else "."
    return best


def _cut_to_words(sentence: str, words: int) -> str:
    matches = list(_WORD_RE.finditer(sentence))
    if len(matches) <= words:
        return sentence
    return sentence[: matches[words - 1].end()].rstrip(" ,;:—–-") + ELLIPSIS


def _fits_asked(text: str, operation: Operation, measure: Measure) -> bool:
    return (operation.max_chars is None or measure(text) <= operation.max_chars) and (
        operation.max_words is None or _count_words(text) <= operation.max_words
    )


def _cut_first(text: str, sentence: str, operation: Operation, measure: Measure) -> str:
    """`text` with `sentence` cut at a word boundary to the asked number of characters or words."""
    if operation.max_chars is not None:
        room = operation.max_chars - (measure(text) - measure(sentence))
        cut = cut_words(sentence, max(1, room), measure)
    else:
        cut = _cut_to_words(sentence, operation.max_words or 1)
    return _tidy(text.replace(sentence, cut, 1))


def shorten(text: str, operation: Operation, field_: Field) -> RuleEdit:
    """Whole sentences from the start, as many as come closest to the asked share (or as many as
    fit an asked number of characters, words or sentences); a single sentence loses its last
    clause. Only an asked number a first sentence cannot fit cuts it, and then at a word."""
    measure = field_.measure
    is_title = field_.kind == "title"
    layout = _Layout.of(text)
    units = layout.units
    before = measure(text)
    asked_size = operation.max_chars is not None or operation.max_words is not None
    if not units:
        return RuleEdit(text, cannot=(_("There is no text to shorten."),))
    if (asked_size or operation.max_sentences is not None) and _fits_asked(text, operation, measure):
        if operation.max_sentences is None or len(units) <= operation.max_sentences:
            return RuleEdit(text, done=(_("The text already fits; nothing was cut."),))

    if len(units) == 1:
        sentence = units[0][1]
        if asked_size:
            new = _cut_first(text, sentence, operation, measure)
            return RuleEdit(new, done=(_("Cut the only sentence at a word boundary to fit what was asked."),))
        cut = _cut_clause(sentence, before * operation.ratio, is_title=is_title, measure=measure)
        if cut is None:
            what = _("The title") if is_title else _("The text")
            return RuleEdit(
                text,
                cannot=(
                    _(
                        "%(what)s is a single sentence without a clause to drop; the local editor shortens by whole "
                        "sentences and never cuts inside one. Connect a text model in Providers to rephrase it.",
                        what=what,
                    ),
                ),
            )
        new = _tidy(text.replace(sentence, cut, 1))
        return RuleEdit(
            new,
            done=(
                _("Dropped the last clause (%(before)s → %(after)s characters).", before=before, after=measure(new)),
            ),
        )

    total = len(units)
    # The first k sentences, rendered on demand: a longer prefix never measures less, so the search
    # below is a bisection. Rendering every prefix up front was quadratic: 86 s for a 700k-character
    # book, on the web request's event loop.
    rendered: dict[int, str] = {}

    def prefix(k: int) -> str:
        if k not in rendered:
            rendered[k] = layout.render(keep=k)
        return rendered[k]

    if operation.max_sentences is not None:
        keep = min(operation.max_sentences, total)
    elif asked_size:
        if not _fits_asked(prefix(1), operation, measure):
            new = _cut_first(prefix(1), units[0][1], operation, measure)
            return RuleEdit(
                new,
                done=(_("Kept only the first sentence and cut it at a word boundary to fit what was asked."),),
            )
        # The most sentences that still fit.
        low, high = 1, total
        while low < high:
            middle = (low + high + 1) // 2
            if _fits_asked(prefix(middle), operation, measure):
                low = middle
            else:
                high = middle - 1
        keep = low
    else:
        # The prefix (of 1 … total - 1 sentences) nearest the target; the shorter one on a tie.
        target = before * operation.ratio
        low, high = 1, total - 1
        while low < high:
            middle = (low + high) // 2
            if measure(prefix(middle)) >= target:
                high = middle
            else:
                low = middle + 1
        candidates = [k for k in (low - 1, low) if 1 <= k <= total - 1]
        keep = min(candidates, key=lambda k: (abs(measure(prefix(k)) - target), k))
    new = prefix(keep)
    return RuleEdit(
        new,
        done=(
            ngettext(
                "Kept the first %(num)s of %(total)s sentences (%(before)s → %(after)s characters).",
                "Kept the first %(num)s of %(total)s sentences (%(before)s → %(after)s characters).",
                keep,
                total=total,
                before=before,
                after=measure(new),
            ),
        ),
    )


def expand(text: str, operation: Operation, field_: Field, material: Material) -> RuleEdit:
    if field_.kind == "title":
        return RuleEdit(
            text,
            cannot=(_("The local editor doesn't lengthen titles; connect a text model in Providers for that."),),
        )
    if not material.extra:
        return RuleEdit(
            text,
            cannot=(_("There is nothing to add from: the story has no source text or lead beyond this text."),),
        )
    layout = _Layout.of(text)
    present = {_key(s) for line in text.split("\n") for s in split_sentences(line.strip())}
    positions = [i for i, s in enumerate(material.extra) if _key(s) in present]
    after = max(positions, default=-1)
    # The story's text is usually the beginning of its source: continue from where it stops, then
    # fall back on sentences it skipped.
    order = [*range(after + 1, len(material.extra)), *range(0, after + 1)]
    candidates: list[str] = []
    for i in order:
        key = _key(material.extra[i])
        if key and key not in present:
            present.add(key)
            candidates.append(material.extra[i])
    if not candidates:
        return RuleEdit(
            text,
            cannot=(_("Nothing to add: every sentence of the story's lead and source is already in the text."),),
        )
    measure = field_.measure
    before = measure(text)
    as_paragraph = field_.kind in ("body", "caption")
    wanted = max(1.0, before * operation.ratio)
    added: list[str] = []
    best = text
    for sentence in candidates:
        if operation.max_sentences is not None and len(added) >= operation.max_sentences:
            break
        if operation.max_sentences is None and added and measure(best) - before >= wanted:
            break
        attempt = layout.render(add=[*added, sentence], add_as_paragraph=as_paragraph)
        if not _fits(field_, attempt):
            break
        added.append(sentence)
        best = attempt
    if not added:
        return RuleEdit(
            text,
            cannot=(_("No sentence from the source fits within this text's limit of %(n)s.", n=field_.limit),),
        )
    return RuleEdit(
        best,
        done=(
            ngettext(
                "Added %(num)s sentence from the story's lead and source (%(before)s → %(after)s characters).",
                "Added %(num)s sentences from the story's lead and source (%(before)s → %(after)s characters).",
                len(added),
                before=before,
                after=measure(best),
            ),
        ),
    )


def _casing(context: Sequence[str]) -> dict[str, str]:
    """How words are written inside the story's sentences (not at their start): "NASA", "Moscow"."""
    forms: dict[str, dict[str, int]] = {}
    for sentence in context:
        for i, m in enumerate(_WORD_RE.finditer(sentence)):
            if i:
                counts = forms.setdefault(m.group(0).lower(), {})
                counts[m.group(0)] = counts.get(m.group(0), 0) + 1
    return {key: max(counts, key=lambda f: (counts[f], f != key)) for key, counts in forms.items()}


def _is_all_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 4 and sum(c.isupper() for c in letters) / len(letters) >= 0.8


def _keeps_capitals(word: str, all_caps: bool) -> bool:
    """Acronyms ("NASA", "ЦБ") and brand spellings ("iPhone") keep their capitals."""
    if all_caps:
        return False
    return (word.isupper() and len(word) >= 2) or any(c.isupper() for c in word[1:])


def sentence_case(title: str, context: Sequence[str]) -> tuple[str, list[str]]:
    """Capital at the start (and after ":" "." "!" "?"), names as the story writes them; returns
    the words that lost a capital without the story's text vouching for it."""
    casing = _casing(context)
    all_caps = _is_all_caps(title)
    doubtful: list[str] = []
    first = True

    def word_case(m: re.Match[str]) -> str:
        nonlocal first
        word = m.group(0)
        start = first
        first = False
        if word.lower() in casing:
            form = casing[word.lower()]
        elif _keeps_capitals(word, all_caps):
            form = word
        else:
            form = word.lower()
            if not start and word[:1].isupper() and not all_caps:
                doubtful.append(word)
        return form

    lowered = _WORD_RE.sub(word_case, title)
    result = re.sub(r"(^|[.!?:]\s+)([^\W\d_])", lambda m: m.group(1) + m.group(2).upper(), lowered)
    return result, doubtful


def _capitalise_parts(word: str) -> str:
    """ "state-of-the-art" → "State-of-the-Art", "don't" → "Don't"."""
    pieces = re.split(r"([-'’])", word)
    out = []
    for i, piece in enumerate(pieces):
        if piece in ("-", "'", "’") or (i and (pieces[i - 1] in ("'", "’") or piece.lower() in _SMALL_WORDS)):
            out.append(piece if piece in ("-", "'", "’") else piece.lower())
        else:
            out.append(piece[:1].upper() + piece[1:].lower())
    return "".join(out)


def title_case(title: str, context: Sequence[str] = ()) -> str:
    """Capitalised words except short function words inside; acronyms and brand spellings stay."""
    casing = _casing(context)
    all_caps = _is_all_caps(title)
    words = list(_WORD_RE.finditer(title))
    out = []
    last = 0
    for n, m in enumerate(words):
        word = m.group(0)
        gap = title[last : m.start()]
        starts = n == 0 or n == len(words) - 1 or gap.strip().endswith((":", "—", "–", ".", "!", "?"))
        known = casing.get(word.lower(), "")
        if _keeps_capitals(word, all_caps):
            new = word
        elif known and any(c.isupper() for c in known[1:]):
            new = known  # "NASA" even in an all-caps title, when the story writes it so
        elif word.lower() in _SMALL_WORDS and not starts:
            new = word.lower()
        else:
            new = _capitalise_parts(word)
        out.append(gap + new)
        last = m.end()
    out.append(title[last:])
    return "".join(out)


def change_case(text: str, op: Op, field_: Field, material: Material) -> RuleEdit:
    if field_.kind != "title":
        return RuleEdit(
            text,
            cannot=(_("The local editor changes the case of titles only: choose the title as what to edit."),),
        )
    notes: list[str] = []
    if op == Op.TITLE_CASE:
        new, notes = title_case(text, material.context), [_("Changed the title to Title Case.")]
    elif op == Op.SENTENCE_CASE:
        new, doubtful = sentence_case(text, material.context)
        notes = [_("Changed the title to sentence case.")]
        if doubtful:
            notes.append(
                _(
                    "The story's text doesn't mention %(words)s: check whether it is a name that needs its capital.",
                    words=", ".join(f"“{w}”" for w in list(dict.fromkeys(doubtful))[:5]),
                )
            )
    elif op == Op.UPPER_CASE:
        new, notes = text.upper(), [_("Changed the title to capital letters.")]
    else:
        new, notes = text.lower(), [_("Changed the title to small letters.")]
    return RuleEdit(new, done=tuple(notes))


# ---- all together -------------------------------------------------------------------------------


def apply_plan(text: str, plan: Plan, field_: Field, material: Material = Material()) -> RuleEdit:
    done: list[str] = []
    cannot: list[str] = list(plan.cannot)
    is_title = field_.kind == "title"
    for operation in plan.operations:
        op = operation.op
        if op == Op.STRIP_EMOJIS:
            text, n = strip_emojis(text)
            done.append(
                ngettext("Removed %(num)s emoji.", "Removed %(num)s emojis.", n) if n else _("There were no emojis.")
            )
        elif op == Op.STRIP_HASHTAGS:
            text, removed, unhashed = strip_hashtags(text)
            if removed:
                done.append(ngettext("Removed %(num)s hashtag.", "Removed %(num)s hashtags.", removed))
            if unhashed:
                done.append(
                    ngettext(
                        "Kept %(num)s hashtag inside a sentence as a plain word.",
                        "Kept %(num)s hashtags inside sentences as plain words.",
                        unhashed,
                    )
                )
            if not removed and not unhashed:
                done.append(_("There were no hashtags."))
        elif op == Op.STRIP_EXCLAMATIONS:
            text, n = strip_exclamations(text, is_title=is_title)
            done.append(
                ngettext("Replaced %(num)s exclamation mark.", "Replaced %(num)s exclamation marks.", n)
                if n
                else _("There were no exclamation marks.")
            )
        elif op == Op.STRIP_LINKS:
            text, n = strip_links(text)
            done.append(
                ngettext("Removed %(num)s link.", "Removed %(num)s links.", n) if n else _("There were no links.")
            )
        elif op == Op.SHORTEN:
            result = shorten(text, operation, field_)
            text, done, cannot = result.text, [*done, *result.done], [*cannot, *result.cannot]
        elif op == Op.EXPAND:
            result = expand(text, operation, field_, material)
            text, done, cannot = result.text, [*done, *result.done], [*cannot, *result.cannot]
        else:
            result = change_case(text, op, field_, material)
            text, done, cannot = result.text, [*done, *result.done], [*cannot, *result.cannot]
    if is_title:
        text = " ".join(text.split())
    if field_.limit is not None and field_.measure(text) > field_.limit:
        cannot.append(
            _(
                "The text is still longer than its limit of %(limit)s; ask for it shorter, e.g. “up to %(limit)s "
                "characters”.",
                limit=field_.limit,
            )
        )
    return RuleEdit(text, tuple(done), tuple(dict.fromkeys(cannot)))


def edit(text: str, instruction: str, field_: Field, material: Material = Material()) -> RuleEdit:
    """Apply what the rules understand of `instruction` to `text`; say what they could not do."""
    plan = parse_instruction(instruction)
    if not plan.operations and not plan.cannot:
        return RuleEdit(text, cannot=(_("Type what to change, e.g. “shorter, no emojis”."),))
    return apply_plan(text, plan, field_, material)


def sentences_of(*texts: str) -> tuple[str, ...]:
    """Sentences of cleaned texts (feed HTML or plain), in order, without repeats."""
    seen: dict[str, str] = {}
    for text in texts:
        for paragraph in clean_paragraphs(text or ""):
            for sentence in split_sentences(paragraph):
                key = _key(sentence)
                if key and key not in seen:
                    seen[key] = sentence
    return tuple(seen.values())


__all__ = [
    "ELLIPSIS",
    "Field",
    "Material",
    "Op",
    "Operation",
    "Plan",
    "RuleEdit",
    "apply_plan",
    "edit",
    "parse_instruction",
    "sentences_of",
    "title_case",
]
