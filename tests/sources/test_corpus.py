"""Every document of the corpus, parsed: titles (Russian exact), links, guids and dates per entry."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.sources.parsing import NotAFeed
from tests.sources.corpus import CORPUS, FETCHED_AT, parse, utc

NO_DATE = None  # the entry has no (readable) date: published_at is the fetch time


@dataclass(frozen=True)
class Expected:
    version: str
    title: str
    # (title, url, guid, published as ISO 8601 or NO_DATE)
    entries: list[tuple[str, str | None, str | None, str | None]]
    salvaged: bool = False


R = "https://chronicle.riverside.example/2026/11/"
EXPECTED: dict[str, Expected] = {
    "rss091.xml": Expected(
        "rss091n",
        "Harbour Radio Headlines",
        [
            (
                "Fog closes the north pier until noon",
                "https://radio.harbour.example/headlines/fog-north-pier",
                None,
                NO_DATE,
            ),
            (
                "Lifeboat crew trains with new drone",
                "https://radio.harbour.example/headlines/lifeboat-drone",
                None,
                NO_DATE,
            ),
        ],
    ),
    "rss092.xml": Expected(
        "rss092",
        "Valley Cycling Club",
        [
            ("Spring sportive route published", "https://cycling.valley.example/2026/spring-sportive", None, NO_DATE),
            ("Workshop evening: wheel truing", "https://cycling.valley.example/2026/wheel-truing", None, NO_DATE),
        ],
    ),
    "rss10-rdf.xml": Expected(
        "rss10",
        "Field Notes from the Observatory",
        [
            (
                "Comet C/2026 visible before dawn",
                "https://science.example/notes/comet-c2026",
                "https://science.example/notes/comet-c2026",
                "2026-11-18T04:40:00+00:00",
            ),
            (
                "Open night on Friday",
                "https://science.example/notes/open-night",
                "https://science.example/notes/open-night",
                "2026-11-16T12:00:00+00:00",
            ),
        ],
    ),
    "rss20.xml": Expected(
        "rss20",
        "Riverside Chronicle",
        [
            (
                "New footbridge opens across the Wend",
                f"{R}21/footbridge-opens/?utm_source=rss&utm_medium=rss&utm_campaign=footbridge",
                "https://chronicle.riverside.example/?p=4812",
                "2026-11-21T06:30:00+00:00",  # 09:30 +0300
            ),
            (
                "Council approves the winter gritting plan",
                f"{R}20/gritting-plan/",
                "https://chronicle.riverside.example/?p=4807",
                "2026-11-20T17:05:00+00:00",
            ),
            (
                "Library extends Sunday opening",
                f"{R}19/library-sundays/",
                f"{R}19/library-sundays/",
                "2026-11-19T13:00:00+00:00",  # 08:00 -0500
            ),
        ],
    ),
    "atom03.xml": Expected(
        "atom03",
        "Old Mill Journal",
        [
            (
                "Restoring the water wheel, part 3",
                "https://oldmill.example/2026/11/water-wheel-3",
                "tag:oldmill.example,2026:water-wheel-3",
                "2026-11-20T15:45:00+00:00",
            ),
            (
                "Flour for sale again",
                "https://oldmill.example/2026/11/flour",
                "tag:oldmill.example,2026:flour",
                "2026-11-12T09:00:00+00:00",
            ),
        ],
    ),
    "atom10.xml": Expected(
        "atom10",
        "Studio Notes",
        [
            (
                "Kerning by eye",
                "https://studio.example/notes/kerning-by-eye",
                "tag:studio.example,2026:kerning-by-eye",
                "2026-11-21T05:30:00+00:00",  # 11:00 +05:30
            ),
            (
                "Fonts & licences: a plain guide",
                "https://studio.example/notes/licences",
                "tag:studio.example,2026:licences",
                "2026-11-19T08:00:00+00:00",  # <updated> when there is no <published>
            ),
        ],
    ),
    "jsonfeed10.json": Expected(
        "json10",
        "Hill Farm Diary",
        [
            (
                "The lambing shed gets a new roof",
                "https://hillfarm.example/2026/11/lambing-shed",
                "https://hillfarm.example/2026/11/lambing-shed",
                "2026-11-20T16:00:00+00:00",
            ),
            ("First frost", "https://hillfarm.example/2026/11/first-frost", "2", "2026-11-18T07:15:00+00:00"),
        ],
    ),
    "jsonfeed11.json": Expected(
        "json11",
        "Pocket Podcast & Links",
        [
            (
                "Episode 41: Small tools",
                "https://pocket.example/episodes/41?utm_source=jsonfeed",
                "1041",  # a number in the wild; kept as text
                "2026-11-21T14:00:00+00:00",
            ),
            (
                "Link: on tools",
                "https://elsewhere.example/article/on-tools",  # external_url when there is no url
                "link-2026-11-20",
                "2026-11-20T10:00:00+00:00",  # date_modified when there is no date_published
            ),
            ("A note with neither title nor date, and no link either.", None, "note-undated", NO_DATE),
        ],
    ),
    # --- encodings -------------------------------------------------------------------------------
    "cp1251-prolog.xml": Expected(
        "rss20",
        "Вести Приречья",
        [
            (
                "Мэрия открыла новый парк «Берёзовая роща» — с прудом и катком",
                "https://vesti.priroch.example/news/park",
                "park",
                "2026-11-21T09:30:00+00:00",
            ),
            (
                "Цены на гречку снизились на 5%",
                "https://vesti.priroch.example/news/grechka",
                "grechka",
                "2026-11-20T06:00:00+00:00",
            ),
        ],
    ),
    "cp1251-header-only.xml": Expected(
        "rss20",
        "Новости Заречья",
        [
            (
                "Электрички пойдут по новому расписанию с 1 декабря",
                "https://zarechye.example/elektrichki",
                "elektrichki",
                "2026-11-21T04:00:00+00:00",
            )
        ],
    ),
    "cp1251-undeclared.xml": Expected(
        "rss20",
        "Городская газета",
        [
            (
                "Школьники Заречья победили на олимпиаде по физике",
                "https://gazeta.example/olimpiada",
                "olimpiada",
                "2026-11-21T07:00:00+00:00",
            ),
            (
                "В городе открылась выставка работ местных художников",
                "https://gazeta.example/vystavka",
                "vystavka",
                "2026-11-20T07:00:00+00:00",
            ),
            (
                "Ремонт моста через реку закончат к весне, сообщили в администрации",
                "https://gazeta.example/most",
                "most",
                "2026-11-19T07:00:00+00:00",
            ),
        ],
    ),
    "cp1251-header-conflict.xml": Expected(
        "rss20",
        "Набережная сегодня",
        [
            (
                "Фестиваль уличной еды пройдёт на набережной",
                "https://naberezhnaya.example/festival",
                "festival",
                "2026-11-21T08:00:00+00:00",
            )
        ],
    ),
    "koi8-r.xml": Expected(
        "rss20",
        "Северный вестник",
        [
            (
                "Морозы до минус двадцати ожидаются в выходные",
                "https://sever.example/morozy",
                "morozy",
                "2026-11-21T03:00:00+00:00",
            ),
            ("Ёлку установят на Соборной площади", "https://sever.example/yolka", "yolka", "2026-11-20T03:00:00+00:00"),
        ],
    ),
    "iso-8859-5.xml": Expected(
        "rss20",
        "Волжские известия",
        [
            (
                "Библиотека продлила часы работы по субботам",
                "https://volga.example/biblioteka",
                "biblioteka",
                "2026-11-21T05:00:00+00:00",
            ),
            (
                "Новый мост через Волгу: объезд до весны",
                "https://volga.example/most",
                "most",
                "2026-11-20T05:00:00+00:00",
            ),
        ],
    ),
    "iso-8859-1.xml": Expected(
        "rss20",
        "Le Petit Journal",
        [
            (
                "Crème brûlée at the “Bon Marché”",
                "https://journal.example/creme-brulee",
                "creme-brulee",
                "2026-11-21T07:00:00+00:00",
            ),
            (
                "Größe zählt: Straßenfest in Köln",
                "https://journal.example/strassenfest",
                "strassenfest",
                "2026-11-20T07:00:00+00:00",
            ),
        ],
    ),
    "mislabelled-utf8-as-cp1251.xml": Expected(
        "rss20",
        "Транспорт города",
        [
            (
                "Трамвай №7 вернётся на маршрут в декабре",
                "https://transport.example/tram-7",
                "tram-7",
                "2026-11-21T06:00:00+00:00",
            ),
            (
                "Погода: мокрый снег и гололёд",
                "https://transport.example/pogoda",
                "pogoda",
                "2026-11-20T06:00:00+00:00",
            ),
        ],
    ),
    "mislabelled-utf8-as-latin1.xml": Expected(
        "rss20",
        "Café Society",
        [
            (
                "Café “Le Zinc” reopens in Zürich",
                "https://cafe.example/le-zinc",
                "le-zinc",
                "2026-11-21T07:00:00+00:00",
            ),
            (
                "Naïve façades: a walk through Montréal",
                "https://cafe.example/montreal",
                "montreal",
                "2026-11-20T07:00:00+00:00",
            ),
        ],
    ),
    "utf8-bom.xml": Expected(
        "rss20",
        "Утренний выпуск",
        [
            (
                "Главное за ночь: снегопад и пробки",
                "https://utro.example/glavnoe",
                "glavnoe",
                "2026-11-21T02:00:00+00:00",
            )
        ],
    ),
    "utf16-bom.xml": Expected(
        "rss20",
        "Сводка UTF-16",
        [
            (
                "Снегопад в Приморье: закрыты три трассы",
                "https://utf16.example/snegopad",
                "snegopad",
                "2026-11-20T17:00:00+00:00",
            )
        ],
    ),
    "control-chars.xml": Expected(
        "rss20",
        "Terminal Weekly",
        [
            (
                "Control characters do not break the feed",
                "https://terminal.example/control",
                "control",
                "2026-11-21T08:00:00+00:00",
            )
        ],
    ),
    # --- titles ----------------------------------------------------------------------------------
    "cdata-titles.xml": Expected(
        "rss20",
        "Kitchen & Garden",
        [
            (
                "Pumpkin soup with ginger & lime",
                "https://kitchen.example/recipes/pumpkin-soup",
                "kitchen-pumpkin-soup",
                "2026-11-18T12:00:00+00:00",
            ),
            (
                "Tom & Jerry's favourite cheese toast",
                "https://kitchen.example/recipes/cheese-toast",
                "kitchen-cheese-toast",
                "2026-11-17T12:00:00+00:00",
            ),
            (
                "Why ]]> is the hardest string in XML",
                "https://kitchen.example/blog/cdata",
                "kitchen-cdata",
                "2026-11-16T12:00:00+00:00",
            ),
        ],
    ),
    "double-escaped.xml": Expected(
        "rss20",
        "Markets & Money",
        [
            (
                "AT&T and T-Mobile cut prices",
                "https://markets.example/telecom-prices",
                "markets-1",
                "2026-11-20T14:00:00+00:00",
            ),
            (
                '"Buy the dip" — or not?',
                "https://markets.example/buy-the-dip",
                "markets-2",
                "2026-11-19T14:00:00+00:00",
            ),
            (
                "Q3: revenue < costs for the first time",
                "https://markets.example/q3",
                "markets-3",
                "2026-11-18T14:00:00+00:00",
            ),
        ],
    ),
    # --- links -----------------------------------------------------------------------------------
    "xml-base-atom.xml": Expected(
        "atom10",
        "Base Camp Blog",
        [
            (
                "Feed-level base only",
                "https://base.example/blog/posts/first-snow",
                "tag:base.example,2026:first-snow",
                "2026-11-21T00:00:00+00:00",
            ),
            (
                "Entry-level relative base",
                "https://base.example/blog/2026/11/ridge-walk",
                "tag:base.example,2026:ridge-walk",
                "2026-11-20T00:00:00+00:00",
            ),
            (
                "Entry-level absolute base",
                "https://base.example/blog/posts/gear",
                "tag:base.example,2026:gear",
                "2026-11-19T00:00:00+00:00",
            ),
        ],
    ),
    "xml-base-rss.xml": Expected(
        "rss20",
        "Lake Journal",
        [
            (
                "Ice report",
                "https://lake.example/journal/entries/ice-report",
                "lake-ice-report",
                "2026-11-21T07:00:00+00:00",
            ),
            (
                "Gallery: first swans",
                "https://lake.example/journal/entries/swans",
                "lake-swans",
                "2026-11-20T07:00:00+00:00",
            ),
        ],
    ),
    "relative-links.xml": Expected(
        "rss20",
        "Town Hall Notices",
        [
            # RSS has no base of its own: links are read against the site's <link>, not the feed's host
            (
                "Road closure on Mill Lane",
                "https://townhall.example/news/2026/mill-lane-closure",
                "th-1001",
                "2026-11-21T08:00:00+00:00",
            ),
            (
                "Recycling calendar 2027",
                "https://townhall.example/news/2026/recycling-2027",
                "th-1002",
                "2026-11-20T08:00:00+00:00",
            ),
        ],
    ),
    # --- identity --------------------------------------------------------------------------------
    "missing-guids.xml": Expected(
        "rss20",
        "Quick Links",
        [
            (
                "Tide tables for December",
                "https://Links.Example:443/Tides/December?utm_source=rss&b=2&a=1&fbclid=XYZ#top",
                None,
                "2026-11-21T06:00:00+00:00",
            ),
            ("Ferry timetable", "https://links.example/ferry", None, "2026-11-20T06:00:00+00:00"),
            ("Notice without a link", None, None, "2026-11-19T06:00:00+00:00"),
            ("Notice without a link", None, None, "2026-11-18T06:00:00+00:00"),
        ],
    ),
    "missing-dates.xml": Expected(
        "rss20",
        "Undated Announcements",
        [
            ("Office moves to the second floor", "https://undated.example/office-move", "undated-1", NO_DATE),
            ("Unparseable date", "https://undated.example/bad-date", "undated-2", NO_DATE),
        ],
    ),
    "duplicate-guids.xml": Expected(
        "rss20",
        "Careless CMS",
        [
            # the same guid and link twice: listed once, the first (newest) copy wins
            (
                "Budget meeting moved to Thursday",
                "https://careless.example/news/budget-meeting",
                "news-77",
                "2026-11-21T10:00:00+00:00",
            ),
            # one guid on different articles: both kept (keyed by their links)
            (
                "School choir tour",
                "https://careless.example/news/choir-tour",
                "https://careless.example/",
                "2026-11-20T10:00:00+00:00",
            ),
            (
                "Park benches repainted",
                "https://careless.example/news/benches",
                "https://careless.example/",
                "2026-11-19T10:00:00+00:00",
            ),
        ],
    ),
    # --- media, podcasts, YouTube ----------------------------------------------------------------
    "media-images.xml": Expected(
        "rss20",
        "Picture Desk",
        [
            ("media:content image", "https://pictures.example/1", "pic-1", NO_DATE),
            ("media:thumbnail only", "https://pictures.example/2", "pic-2", NO_DATE),
            ("enclosure image", "https://pictures.example/3", "pic-3", NO_DATE),
            ("first img in content, after a tracking pixel", "https://pictures.example/4", "pic-4", NO_DATE),
            ("media:group", "https://pictures.example/5", "pic-5", NO_DATE),
            ("no picture at all", "https://pictures.example/6", "pic-6", NO_DATE),
        ],
    ),
    "podcast.xml": Expected(
        "rss20",
        "The Night Shift Podcast",
        [
            (
                "Ep. 12 — The bakers",
                "https://nightshift.example/episodes/12",
                "nightshift-ep12",
                "2026-11-19T04:00:00+00:00",
            ),
            (
                "Ep. 11 — Night nurses",
                "https://nightshift.example/episodes/11",
                "nightshift-ep11",
                "2026-11-12T04:00:00+00:00",
            ),
        ],
    ),
    "youtube-channel.xml": Expected(
        "atom10",
        "Мастерская у реки",
        [
            (
                "Табурет из берёзы за один день & без гвоздей",
                "https://www.youtube.com/watch?v=Xb3kP9mZq1A",
                "yt:video:Xb3kP9mZq1A",
                "2026-11-20T15:00:07+00:00",
            ),
            (
                "Точим стамески: ошибки новичков",
                "https://www.youtube.com/shorts/q9Lm2VvBn0E",
                "yt:video:q9Lm2VvBn0E",
                "2026-11-17T09:30:00+00:00",
            ),
        ],
    ),
    # --- damaged but readable --------------------------------------------------------------------
    "bozo-salvaged.xml": Expected(
        "rss20",
        "Hand-made Feed",
        [
            (
                "Fish & chips night returns",
                "https://handmade.example/fish-chips?day=fri&time=7",
                "handmade-1",
                "2026-11-21T18:00:00+00:00",
            ),
            ("Quiz results", "https://handmade.example/quiz", "handmade-2", "2026-11-20T18:00:00+00:00"),
        ],
        salvaged=True,
    ),
    "junk-before-prolog.xml": Expected(
        "rss20",
        "Noisy PHP Blog",
        [("Still readable", "https://noisy.example/still-readable", "noisy-1", "2026-11-21T12:00:00+00:00")],
    ),
}

# Not feeds: (file, words the message must contain)
NOT_FEEDS = {
    "empty.xml": "empty response",
    "broken.bin": "does not lead to an RSS or Atom feed",
    "broken-truncated.xml": "damaged",
    "broken-jsonfeed.json": "damaged",
    "not-a-jsonfeed.json": "not a feed",
    "page-with-links.html": "looks like a web page",
    "page-without-links.html": "looks like a web page",
    "page-with-links-cp1251.html": "looks like a web page",
    "youtube-channel-page.html": "looks like a web page",
}
CHECKED_ELSEWHERE = {"huge-title.xml", "make_corpus.py"}


def test_the_corpus_is_complete():
    files = {path.name for path in CORPUS.iterdir()}
    documents = files - {"make_corpus.py"}
    assert len(documents) >= 30
    assert files == set(EXPECTED) | set(NOT_FEEDS) | CHECKED_ELSEWHERE, "every corpus file has expectations"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_feed(name: str):
    expected = EXPECTED[name]
    feed = parse(name)
    assert feed.version == expected.version
    assert feed.title == expected.title
    assert feed.salvaged is expected.salvaged
    got = [(e.title, e.url, e.guid, e.published_at) for e in feed.entries]
    want = [(t, u, g, utc(p) if p else FETCHED_AT) for t, u, g, p in expected.entries]
    assert got == want
    for entry in feed.entries:
        assert entry.has_date is (entry.published_at != FETCHED_AT)
        assert entry.published_at.utcoffset() is not None and entry.published_at.utcoffset().total_seconds() == 0
        assert "\n" not in entry.title and entry.title == entry.title.strip()
        assert entry.content == entry.content_html  # the old name and the new one agree
        assert "<script" not in entry.content_html and "onclick" not in entry.content_html
        for url in (entry.url, entry.image_url, entry.thumbnail_url, entry.normalized_url):
            assert url is None or url.startswith(("http://", "https://"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dedup_keys_are_unique_per_entry(name: str):
    keys = [entry.dedup_key for entry in parse(name).entries]
    assert len(keys) == len(set(keys))
    assert all(len(key) == 64 for key in keys)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parsing_twice_gives_the_same_keys(name: str):
    """Keys must not depend on the fetch: a later fetch of the same document adds nothing."""
    first = [e.dedup_key for e in parse(name).entries]
    later = [e.dedup_key for e in parse(name).entries]
    assert first == later


@pytest.mark.parametrize("name, words", sorted(NOT_FEEDS.items()))
def test_not_a_feed(name: str, words: str):
    with pytest.raises(NotAFeed) as caught:
        parse(name)
    message = caught.value.message
    assert words in message
    # plain words for a person: no exception class names, tracebacks or XML jargon
    assert "Error" not in message and "Exception" not in message and "SAX" not in message
    assert message.endswith(".")
