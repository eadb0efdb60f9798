"""Built-in offline text provider: an extractive, deterministic story writer.

It never invents words: everything it returns is cut from the source text, so the product is
useful (and testable) without any AI key. The interesting part is doing the cutting well:
clean feed HTML, split Russian and English into sentences, and build captions that fit each
network's hard limits while cutting only at sentence or word boundaries.

How limits are measured (stricter than "characters" on purpose):
- Telegram (1024) and Instagram (2200) in UTF-16 code units: Telegram counts text after entity
  parsing in UTF-16 units, so an emoji costs 2; counting that way is never more lenient than
  counting code points.
- YouTube description in UTF-8 *bytes*: the Data API documents "5000 bytes", so a Russian
  description (2 bytes per Cyrillic letter) holds about 2500 letters. YouTube also rejects
  "<" and ">" in titles and descriptions, so they are replaced there.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections import Counter
from collections.abc import Callable, Sequence

import nh3

from app.ai.base import StoryDraft, TextRequest

# ---- limits (see shared/PLATFORMS.md) ------------------------------------------------------

TITLE_LIMIT = 100  # YouTube title; also a sane headline length everywhere else
TELEGRAM_CAPTION_LIMIT = 1024  # media caption, not the 4096 of a text message
INSTAGRAM_CAPTION_LIMIT = 2200
INSTAGRAM_MAX_HASHTAGS = 30
YOUTUBE_DESCRIPTION_LIMIT = 5000  # bytes
BODY_TARGET = 1200
LEAD_TARGET = 300
ELLIPSIS = "…"

Measure = Callable[[str], int]


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def utf8_len(s: str) -> int:
    return len(s.encode("utf-8"))


# ---- cleaning ------------------------------------------------------------------------------

# Block-level tags become line breaks before nh3 strips the markup; otherwise "<p>One.</p><p>Two"
# would glue into "One.Two" and the sentence splitter could not see the boundary.
_BLOCK_TAG_RE = re.compile(
    r"<\s*/?\s*(?:p|br|div|li|ul|ol|h[1-6]|blockquote|tr|table|section|article|header|footer|"
    r"figure|pre|hr|dd|dt)\b[^>]*>",
    re.IGNORECASE,
)
# Tags whose *content* is never article text.
_DROP_CONTENT_TAGS = {"script", "style", "noscript", "template", "iframe", "object", "figcaption"}

# Whole lines that are navigation or syndication noise, not article text.
_BOILERPLATE_LINE_RE = re.compile(
    r"""^(?:
        (?:read|continue|keep)\s+(?:more|reading|the\s+full\s+(?:story|article))
      | click\s+here | share\s+this | follow\s+us | subscribe\b | sign\s+up\b
      | (?:photo|image|фото|иллюстрация)\s*:
      | the\s+post\s.+\sappeared\s+first\s+on\s
      | (?:запись|сообщение)\s.+\s(?:впервые|сначала)\s+появил
      | читать\s+(?:далее|дальше|полностью|также|ещё|еще)
      | читайте\s+(?:также|далее|нас)
      | смотрите\s+также
      | подробнее(?:\s*$|\s*[.…:»>→]|\s+(?:на|по\s+ссылке|читайте))
      | подпис(?:ывайтесь|ывайся|аться)\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# A "Read more…" tail glued to the end of a summary paragraph.
_BOILERPLATE_TAIL_RE = re.compile(
    r"\s*(?:(?:read\s+more|continue\s+reading)\s*(?:…|\.{3}|»|›|→|>>)?"
    r"|(?:читать\s+далее|подробнее)\s*(?:…|\.{3}|»|›|→|>>))\s*$",
    re.IGNORECASE,
)
_TRUNCATION_MARK_RE = re.compile(r"\[\s*(?:…|\.{3}|&hellip;)\s*\]")
_INVISIBLE_RE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_SPACE_RE = re.compile(r"\s+")
_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")


def _unescape(s: str) -> str:
    # Feeds are often escaped twice ("&amp;#8217;"); unescape until stable, but boundedly.
    for _ in range(3):
        unescaped = html.unescape(s)
        if unescaped == s:
            break
        s = unescaped
    return s


def clean_paragraphs(raw: str) -> list[str]:
    """HTML or plain text → list of clean one-line paragraphs without boilerplate."""
    if nh3.is_html(raw):
        # In HTML a newline is just a space (sources hard-wrap inside <p>); paragraphs come from
        # the block tags.
        marked = _BLOCK_TAG_RE.sub("\n", _SPACE_RE.sub(" ", raw))
        text = nh3.clean(marked, tags=set(), clean_content_tags=_DROP_CONTENT_TAGS)
    else:
        # Plain text: with blank lines present they separate paragraphs and single newlines are
        # wrapping; without any, every line is a paragraph (exports of .docx look like that).
        text = raw.replace("\r\n", "\n").replace("\r", "\n")
        if _BLANK_LINE_RE.search(text):
            text = "\n".join(_SPACE_RE.sub(" ", block) for block in _BLANK_LINE_RE.split(text))
    text = _INVISIBLE_RE.sub("", _unescape(text))
    paragraphs: list[str] = []
    for line in text.splitlines():
        line = _SPACE_RE.sub(" ", line).strip()
        line = _TRUNCATION_MARK_RE.sub(ELLIPSIS, line)
        line = _BOILERPLATE_TAIL_RE.sub("", line).strip()
        if not line or (len(line) <= 300 and _BOILERPLATE_LINE_RE.match(line)):
            continue
        paragraphs.append(line)
    return paragraphs


def clean_inline(raw: str) -> str:
    """Clean a one-line string (a title): no markup, entities decoded, single spaces."""
    return " ".join(clean_paragraphs(raw))


# ---- sentence splitting --------------------------------------------------------------------

# Abbreviations after which a period followed by a capital is *not* a sentence end. Only ones
# that practically never end a sentence: "etc.", "Inc.", "и др." often do, so they are absent.
_ABBREVIATIONS = frozenset(
    {
        # English
        "mr", "mrs", "ms", "dr", "prof", "sr", "st", "mt", "vs", "no", "nos", "vol", "fig",
        "p", "pp", "approx", "gen", "gov", "sen", "rep", "lt", "col", "capt", "sgt", "rev",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "e.g", "i.e", "cf", "al",
        # Russian
        "т.е", "т.к", "т.н", "т.ч", "т.о", "г", "гг", "ул", "пр", "пер", "д", "им", "проф",
        "акад", "ст", "рис", "см", "стр", "с", "ч", "п", "т", "обл", "кв", "напр", "англ",
        "рус", "лат", "зам", "ред", "вв", "н.э", "тов", "гр",
    }
)  # fmt: skip
_SENTENCE_END_RE = re.compile(r"[.!?…]+[\"'»”’)\]]*\s+")
_OPENERS = "\"'«“„‘([—–-"
_INITIALS_RE = re.compile(r"^(?:[^\W\d_]\.)+[^\W\d_]$")  # U.S, т.е, A.B.C
_LIST_NUMBER_RE = re.compile(r"^\d{1,3}$")


def _starts_sentence(text: str, pos: int) -> bool:
    """A new sentence starts with a capital letter or a digit, maybe after a quote or dash."""
    for ch in text[pos : pos + 8]:
        if ch.isspace() or ch in _OPENERS:
            continue
        return ch.isupper() or ch.isdigit()
    return False


def _is_abbreviation(before: str) -> bool:
    token = before.rsplit(None, 1)[-1] if before.strip() else ""
    token = token.lstrip(_OPENERS)
    if not token:
        return False
    # A single capital letter is an initial ("J. K. Rowling", "А. С. Пушкин").
    if len(token) == 1 and token.isupper():
        return True
    low = token.lower()
    return low in _ABBREVIATIONS or bool(_INITIALS_RE.match(token))


def split_sentences(paragraph: str) -> list[str]:
    """Split one paragraph into sentences (Russian/English heuristics, no NLTK).

    A boundary is terminal punctuation (+ closing quotes/brackets) + whitespace + something that
    starts a sentence (capital or digit). That alone keeps decimals ("3.5"), "e.g. the" and
    quotes with lowercase attributions ("«Что делать?» — спросил он") together; a lone period
    after a known abbreviation, an initial or a list number is not a boundary either.
    """
    sentences: list[str] = []
    start = 0
    for m in _SENTENCE_END_RE.finditer(paragraph):
        punct = m.group(0).rstrip()
        if not _starts_sentence(paragraph, m.end()):
            continue
        if punct.rstrip("\"'»”’)]") == ".":
            before = paragraph[start : m.start()]
            if _is_abbreviation(before) or _LIST_NUMBER_RE.match(before.strip()):
                continue
        sentence = paragraph[start : m.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = m.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


# ---- cutting to limits ---------------------------------------------------------------------

_TRAILING_PUNCT = ",;:-–—([«\"'“„ "


def cut_words(text: str, limit: int, measure: Measure = len) -> str:
    """Shorten `text` to fit `limit` at a word boundary, ending with "…".

    Never cuts inside a word; only a single word longer than the whole limit (a URL, say) is cut
    inside, because there is no boundary to use.
    """
    if measure(text) <= limit:
        return text
    budget = limit - measure(ELLIPSIS)
    # Each character costs at least one unit, so nothing past `limit` characters can fit.
    window = text[: limit + 1]
    cuts = [m.start() for m in re.finditer(r"\s", window)]
    for pos in reversed(cuts):
        candidate = window[:pos].rstrip(_TRAILING_PUNCT)
        if candidate and measure(candidate) <= budget:
            return candidate + ELLIPSIS
    hard = window[:budget]
    while hard and measure(hard) > budget:
        hard = hard[:-1]
    return hard + ELLIPSIS if hard else ""


def _mark_shortened(text: str) -> str:
    # "…said the minister." → "…said the minister…"; other endings keep their mark.
    if text.endswith(".") and not text.endswith(ELLIPSIS):
        return text[:-1] + ELLIPSIS
    if text.endswith(ELLIPSIS):
        return text
    return text + " " + ELLIPSIS


def fit_sentences(paragraphs: Sequence[Sequence[str]], limit: int, measure: Measure = len) -> str:
    """Take whole sentences in order while they fit in `limit`; paragraphs stay paragraphs.

    When something had to be left out the text ends with "…" (within the limit). When not even
    the first sentence fits, it is cut at a word boundary.
    """
    flat = [(index, sentence) for index, paragraph in enumerate(paragraphs) for sentence in paragraph]
    if limit <= 0 or not flat:
        return ""
    reserve = measure(" " + ELLIPSIS)  # room for the worst case of _mark_shortened
    text = ""
    previous = -1
    for n, (paragraph, sentence) in enumerate(flat):
        sep = "" if not text else (" " if paragraph == previous else "\n\n")
        candidate = text + sep + sentence
        is_last = n == len(flat) - 1
        if measure(candidate) + (0 if is_last else reserve) > limit:
            return _mark_shortened(text) if text else cut_words(sentence, limit, measure)
        text, previous = candidate, paragraph
    return text


def _assemble(
    limit: int,
    measure: Measure,
    head: str,
    paragraphs: Sequence[Sequence[str]],
    tail: Sequence[str],
) -> str:
    """head + as much of `paragraphs` as fits + tail lines, separated by blank lines."""
    fixed = [part for part in (head, *tail) if part]
    separators = measure("\n\n") * len(fixed)  # one per part after the first
    budget = limit - sum(measure(p) for p in fixed) - separators
    middle = fit_sentences(paragraphs, budget, measure) if budget > 0 else ""
    parts = [head, middle, *tail] if head else [middle, *tail]
    caption = "\n\n".join(p for p in parts if p)
    # Last line of defence for absurd inputs (a 900-char site name...): cut at a word, which
    # cannot split a hashtag since a hashtag is one word.
    return cut_words(caption, limit, measure)


# ---- headline ------------------------------------------------------------------------------

_SITE_SUFFIX_RE = re.compile(r"^(?P<head>.+)\s+(?P<sep>\||::|·|-|–|—)\s+(?P<site>[^|]+?)$")
_WORD_RE = re.compile(r"[^\W\d_]+")


def strip_site_suffix(title: str) -> str:
    """'Apple unveils a new iPhone - The Verge' → 'Apple unveils a new iPhone'."""
    while True:
        m = _SITE_SUFFIX_RE.match(title)
        if not m:
            return title
        head, sep, site = m.group("head"), m.group("sep"), m.group("site")
        looks_like_name = site[:1].isupper() or site[:1].isdigit() or "." in site
        if sep in {"|", "::", "·"}:
            ok = len(site) <= 60 and len(head.split()) >= 2
        else:
            # Dashes also join ordinary phrases ("Кризис — это шанс"), so be stricter.
            ok = (
                looks_like_name
                and len(site) <= 40
                and len(site.split()) <= 4
                and len(head.split()) >= 3
                and not site.rstrip().endswith(("?", "!"))
            )
        if not ok:
            return title
        title = head.rstrip()


def _is_all_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 4:
        return False
    return sum(c.isupper() for c in letters) / len(letters) >= 0.8


def _casing_from_text(sentences: Sequence[str]) -> dict[str, str]:
    """How words are written inside sentences (not at their start): 'NASA', 'Moscow', 'water'."""
    forms: dict[str, Counter[str]] = {}
    for sentence in sentences:
        for i, m in enumerate(_WORD_RE.finditer(sentence)):
            if i == 0:
                continue  # sentence-initial capitals say nothing about the word
            word = m.group(0)
            forms.setdefault(word.lower(), Counter())[word] += 1
    best: dict[str, str] = {}
    for key, counter in forms.items():
        form, _ = max(counter.items(), key=lambda kv: (kv[1], kv[0] != key))
        best[key] = form
    return best


def sentence_case(title: str, sentences: Sequence[str]) -> str:
    """ALL CAPS → sentence case, keeping acronyms and names the article itself capitalises."""
    casing = _casing_from_text(sentences)
    lowered = _WORD_RE.sub(lambda m: casing.get(m.group(0).lower(), m.group(0).lower()), title)
    # Capital letter at the start and after sentence punctuation inside the title.
    return re.sub(
        r"(^|[.!?:]\s+)([^\W\d_])",
        lambda m: m.group(1) + m.group(2).upper(),
        lowered,
    )


def make_headline(title: str, sentences: Sequence[str]) -> str:
    headline = strip_site_suffix(clean_inline(title))
    if _is_all_caps(headline):
        headline = sentence_case(headline, sentences)
    if not headline and sentences:
        headline = sentences[0]
    # The headline doubles as the YouTube title, which refuses "<" and ">".
    return cut_words(_no_angle(headline), TITLE_LIMIT)


# ---- hashtags ------------------------------------------------------------------------------

_STOP_EN = frozenset(
    """a about above after again against all almost also although always am among an and another
    any are around as at back be because been before being below between both but by can cannot
    could did do does doing done down during each either else even ever every few for from
    further get gets got had has have having he her here hers herself him himself his how however
    i if in into is it its itself just last least less like made make many may me might more most
    much must my myself near need never new next no nor not now of off often on once one only or
    other others our ours ourselves out over own per perhaps put rather really said same say says
    see seen several she should since so some still such than that the their theirs them
    themselves then there these they this those though through thus to too under until up upon us
    use used very via was we well were what when where whether which while who whom whose why
    will with within without would yet you your yours yourself year years today week told tell
    according day days time first two three don doesn didn isn wasn aren won can't ago across
    already amid along back including include includes mr mrs ms dr per cent percent people
    way ways going come comes came take takes took want wants make makes making""".split()
)
_STOP_RU = frozenset(
    """а без более бы был была были было быть в вам вас весь во вот все всё всего всех вы где да
    даже для до его ее её ей ему если есть еще ещё же за здесь и из или им их к как какой
    когда кто ли либо меня мне много может можно мой мы на над надо наш не него нее неё нет ни
    них но ну о об один однако он она они оно от очень по под после потому при про раз с сам
    свой себя себе со так также такой там те тем то того тоже той только том ту тут ты у уже
    хотя чего чей чем что чтобы чье чья эта эти это этого этой этом этот я который которая
    которое которые которых котором которой которого которым году года год лет время день дня
    заявил заявила заявили сообщил сообщила сообщили сказал сказала отметил отметила говорит
    стало стал стала будет будут были может могут можно нужно также ранее сейчас теперь
    между через более менее около почти всегда никогда тогда потом кроме вместо среди возле
    однако поэтому свою своей своих своим свои своё свое своего этих этим этими тех теми
    тому всем всеми всей всю вся сегодня вчера завтра человек людей именно например""".split()
)
_STOP_BY_LANGUAGE = {"en": _STOP_EN, "ru": _STOP_RU}

# Crude inflection folding so "климат"/"климата"/"климату" count as one keyword. It depends on
# the word's script, not on the request's language (which affects only the stop words).
_RU_ENDINGS = sorted(
    """иями ями ами ого его ому ему ыми ими ых их ой ей ий ый ая яя ое ее ую юю ом ем ам ям ах
    ях ов ев ы и а я о е у ю ь й""".split(),
    key=len,
    reverse=True,
)
_CYRILLIC_RE = re.compile("[а-яё]", re.IGNORECASE)


def _fold(word: str) -> str:
    low = word.lower()
    if _CYRILLIC_RE.search(low):
        for ending in _RU_ENDINGS:
            if low.endswith(ending) and len(low) - len(ending) >= 4:
                return low[: -len(ending)]
        return low
    if len(low) > 4 and low.endswith("s") and not low.endswith(("ss", "us", "is")):
        return low[:-1]
    return low


def _stop_words(language: str) -> frozenset[str]:
    code = language.lower().replace("_", "-").split("-", 1)[0]
    # An unknown language gets both lists: better than no stop words at all.
    return _STOP_BY_LANGUAGE.get(code, _STOP_EN | _STOP_RU)


def extract_hashtags(title: str, sentences: Sequence[str], language: str, limit: int = 5) -> list[str]:
    """3–5 `#Keyword`s: most frequent non-stop words, title words weighted up."""
    stop = _stop_words(language)
    scores: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    first_seen: dict[str, int] = {}
    position = 0
    for weight, chunk in [(3, title), *((1, s) for s in sentences)]:
        for m in _WORD_RE.finditer(chunk):
            word = m.group(0)
            low = word.lower()
            is_acronym = word.isupper() and 2 <= len(word) <= 5
            if low in stop or (len(word) < 3 and not is_acronym):
                continue
            key = _fold(word)
            scores[key] += weight
            forms.setdefault(key, Counter())[word] += 1
            first_seen.setdefault(key, position)
            position += 1

    ranked = sorted(scores, key=lambda k: (-scores[k], first_seen[k]))
    tags: list[str] = []
    for i, key in enumerate(ranked[:limit]):
        if i >= 3 and scores[key] < 2:
            break  # keywords seen once are noise, unless we need them to reach three
        # Shortest surface form is usually the base form ("климат", not "климата").
        counter = forms[key]
        form = min(counter, key=lambda f: (len(f), -counter[f], f))
        if form[1:].islower():  # keep acronyms and brands as written: "NASA", "iPhone"
            form = form[:1].upper() + form[1:]
        tags.append("#" + form)
    return tags


# ---- scenes --------------------------------------------------------------------------------


def _split_middle(text: str) -> list[str]:
    """Two halves of `text` split at the whitespace nearest its middle."""
    spaces = [m.start() for m in re.finditer(r"\s+", text)]
    mid = min(spaces, key=lambda p: (abs(p - len(text) / 2), p))
    return [text[:mid].strip(), text[mid:].strip()]


def split_scenes(sentences: Sequence[str], count: int) -> list[str]:
    """Cut the text into `count` chunks of similar length at sentence boundaries, in order.

    With fewer sentences than scenes the longest sentences are halved at a word boundary; a text
    with fewer words than `count` yields one scene per word (never empty scenes).
    """
    units = [s for s in sentences if s]
    while len(units) < count:
        splittable = [i for i, unit in enumerate(units) if " " in unit]
        if not splittable:
            break
        longest = max(splittable, key=lambda i: (len(units[i]), -i))
        units[longest : longest + 1] = _split_middle(units[longest])
    count = min(count, len(units))
    if count == 0:
        return []

    # Greedy boundaries: the k-th cut goes where the running length is closest to k/count of the
    # total, leaving at least one unit for every remaining scene.
    cumulative = [0]
    for unit in units:
        cumulative.append(cumulative[-1] + len(unit) + 1)
    total = cumulative[-1]
    cuts = [0]
    for k in range(1, count):
        lo, hi = cuts[-1] + 1, len(units) - (count - k)
        target = total * k / count
        cuts.append(min(range(lo, hi + 1), key=lambda b: (abs(cumulative[b] - target), b)))
    cuts.append(len(units))
    return [" ".join(units[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]


# ---- the provider --------------------------------------------------------------------------


def _normalise(s: str) -> str:
    return " ".join(_WORD_RE.findall(s.lower()))


def _parse(text: str, headline_source: str) -> list[list[str]]:
    """Clean text → paragraphs → sentences."""
    paragraphs = [split_sentences(p) for p in clean_paragraphs(text)]
    # Feeds often repeat the title as the first line of the content: drop that repetition.
    if paragraphs and paragraphs[0] and headline_source:
        if _normalise(paragraphs[0][0]) == _normalise(strip_site_suffix(headline_source)):
            paragraphs[0] = paragraphs[0][1:]
    return [p for p in paragraphs if p]


def _first_sentences(paragraphs: Sequence[Sequence[str]], limit: int) -> list[list[str]]:
    """Whole sentences from the start while the text stays within `limit` (at least one)."""
    out: list[list[str]] = []
    size = 0
    for paragraph in paragraphs:
        taken: list[str] = []
        for sentence in paragraph:
            sep = 1 if taken else 2  # " " inside a paragraph, "\n\n" between paragraphs
            if size and size + sep + len(sentence) > limit:
                if taken:
                    out.append(taken)
                return out
            size += (sep if size else 0) + len(sentence)
            taken.append(sentence)
        out.append(taken)
    return out


def _render(paragraphs: Sequence[Sequence[str]]) -> str:
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


_HASHTAG_RE = re.compile(r"(?<![\w#])#(?=[^\W_])")


def _limit_hashtags(paragraphs: Sequence[Sequence[str]], allowance: int) -> list[list[str]]:
    """Instagram refuses a caption with more than 30 hashtags, counting those inside the text:
    beyond `allowance`, source hashtags lose their "#" ("#word" → "word")."""
    left = [allowance]

    def keep_or_untag(m: re.Match[str]) -> str:
        left[0] -= 1
        return m.group(0) if left[0] >= 0 else ""

    return [[_HASHTAG_RE.sub(keep_or_untag, s) for s in p] for p in paragraphs]


def _no_angle(s: str) -> str:
    # YouTube refuses "<" and ">" in titles and descriptions.
    return s.replace("<", "‹").replace(">", "›")


def build_story(req: TextRequest) -> StoryDraft:
    if req.scene_count < 1:
        raise ValueError("scene_count must be at least 1")
    paragraphs = _parse(req.text, clean_inline(req.title))
    sentences = [s for p in paragraphs for s in p]
    headline = make_headline(req.title, sentences)
    if not headline:
        raise ValueError("Nothing to write about: both the title and the text are empty.")

    # Lead: the first sentence, plus the second when both together stay short.
    lead_sentences = sentences[:1]
    if len(sentences) > 1 and len(sentences[0]) + 1 + len(sentences[1]) <= LEAD_TARGET:
        lead_sentences = sentences[:2]
    lead = cut_words(" ".join(lead_sentences), 2 * LEAD_TARGET)

    # Body: whole sentences from the start up to ~1200 chars; only a monster first sentence is
    # cut (at a word).
    body_paragraphs = _first_sentences(paragraphs, BODY_TARGET)
    body = cut_words(_render(body_paragraphs), BODY_TARGET)

    hashtags = extract_hashtags(headline, sentences, req.language)
    tags_line = " ".join(hashtags)

    telegram = _assemble(TELEGRAM_CAPTION_LIMIT, utf16_len, headline, [lead_sentences], [tags_line])

    instagram_tags = hashtags[:INSTAGRAM_MAX_HASHTAGS]
    allowance = INSTAGRAM_MAX_HASHTAGS - len(instagram_tags) - len(_HASHTAG_RE.findall(headline))
    instagram = _assemble(
        INSTAGRAM_CAPTION_LIMIT,
        utf16_len,
        headline,
        _limit_hashtags(body_paragraphs, allowance),
        [" ".join(instagram_tags)],
    )

    # YouTube: the title travels separately (StoryDraft.title), so the description is the whole
    # text as far as it fits, then the source link and the hashtags.
    youtube = _assemble(
        YOUTUBE_DESCRIPTION_LIMIT,
        utf8_len,
        "",
        [[_no_angle(s) for s in p] for p in paragraphs],
        [_no_angle(part) for part in (req.source_url or "", tags_line) if part],
    )

    return StoryDraft(
        title=headline,
        body=body,
        lead=lead,
        captions={"telegram": telegram, "instagram": instagram, "youtube": youtube},
        hashtags=hashtags,
        scenes=split_scenes(sentences or [headline], req.scene_count),
    )


class LocalTextProvider:
    """Offline extractive writer; deterministic: the same request always gives the same draft."""

    name = "local"

    async def generate_story(self, req: TextRequest) -> StoryDraft:
        # Pure string work, but a book-length upload (600k characters) takes 0.5-0.9 s: in a thread,
        # so the worker's other jobs and SAQ's heartbeats are not held up meanwhile.
        return await asyncio.to_thread(build_story, req)
