"""What each entry carries beyond title/link/guid/date: safe HTML and text, images, authors, YouTube
fields, dedup keys, and the limits that keep rows storable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.sources.feeds import FeedEntry, ParsedFeed, dedup_key, parse_feed  # the old import path still works
from app.sources.parsing import normalise_url
from tests.sources.corpus import FETCHED_AT, parse


def entries_by_title(name: str, **kwargs) -> dict[str, FeedEntry]:
    return {entry.title: entry for entry in parse(name, **kwargs).entries}


# --- images ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title, image",
    [
        ("media:content image", "https://pictures.example/content-1.jpg"),  # the video media:content is skipped
        ("media:thumbnail only", "https://pictures.example/thumb-2.jpg"),
        ("enclosure image", "https://pictures.example/enclosure-3.webp"),
        ("first img in content, after a tracking pixel", "https://pictures.example/photos/inline-4.png"),
        ("media:group", "https://pictures.example/group-5-large.jpg"),
        ("no picture at all", None),
    ],
)
def test_image_sources_in_order(title: str, image: str | None):
    assert entries_by_title("media-images.xml")[title].image_url == image


def test_thumbnail_url_comes_from_media_thumbnail():
    entries = entries_by_title("media-images.xml")
    assert entries["media:thumbnail only"].thumbnail_url == "https://pictures.example/thumb-2.jpg"
    assert entries["media:content image"].thumbnail_url is None


def test_an_audio_enclosure_is_never_the_image():
    entries = entries_by_title("podcast.xml")
    assert entries["Ep. 12 — The bakers"].image_url is None
    assert (
        entries["Ep. 11 — Night nurses"].image_url == "https://nightshift.example/episodes/11/cover.jpg"
    )  # itunes:image
    atom = entries_by_title("atom10.xml")["Kerning by eye"]  # has an audio <link rel="enclosure">
    assert atom.image_url == "https://studio.example/img/kerning.png"


@pytest.mark.parametrize(
    "name, title, image",
    [
        ("rss092.xml", "Spring sportive route published", "https://cycling.valley.example/media/sportive-map.png"),
        ("rss10-rdf.xml", "Comet C/2026 visible before dawn", "https://science.example/img/comet.jpg"),
        (
            "rss20.xml",
            "New footbridge opens across the Wend",
            "https://chronicle.riverside.example/wp-content/uploads/2026/11/footbridge.jpg",
        ),
        ("atom03.xml", "Restoring the water wheel, part 3", "https://oldmill.example/img/paddles.jpg"),
        (
            "jsonfeed10.json",
            "The lambing shed gets a new roof",
            "https://hillfarm.example/img/shed-roof.jpg",
        ),  # relative <img>
        ("jsonfeed10.json", "First frost", "https://hillfarm.example/img/frost.jpg"),  # "image"
        (
            "jsonfeed11.json",
            "Episode 41: Small tools",
            "https://pocket.example/img/ep41-banner.jpg",
        ),  # banner, not the mp3
        ("jsonfeed11.json", "Link: on tools", "https://pocket.example/img/tools-chart.png"),  # image attachment
    ],
)
def test_images_across_formats(name: str, title: str, image: str):
    assert entries_by_title(name)[title].image_url == image


# --- relative links ----------------------------------------------------------------------------


def test_xml_base_at_feed_and_entry_level_resolves_content_links():
    entries = entries_by_title("xml-base-atom.xml")
    feed_level = entries["Feed-level base only"]
    assert 'href="https://base.example/about"' in feed_level.content_html
    assert feed_level.image_url == "https://base.example/blog/img/snow.jpg"
    relative_entry_base = entries["Entry-level relative base"]
    assert relative_entry_base.image_url == "https://base.example/blog/2026/11/ridge.jpg"
    assert 'href="https://base.example/maps/ridge"' in relative_entry_base.content_html
    assert entries["Entry-level absolute base"].image_url == "https://cdn.base.example/media/gear/boots.jpg"
    assert parse("xml-base-atom.xml").link == "https://base.example/blog/"


def test_xml_base_in_rss():
    entries = entries_by_title("xml-base-rss.xml")
    assert entries["Ice report"].image_url == "https://lake.example/journal/photos/ice.jpg"
    assert entries["Gallery: first swans"].image_url == "https://photos.lake.example/2026/swans.jpg"


def test_without_xml_base_content_links_resolve_against_the_entry_link():
    entries = entries_by_title("relative-links.xml", url="https://feeds.townhall-cdn.example/notices.rss")
    road = entries["Road closure on Mill Lane"]
    assert road.image_url == "https://townhall.example/news/2026/images/mill-lane.jpg"
    assert 'href="https://townhall.example/maps/diversion.pdf"' in road.content_html
    calendar = entries["Recycling calendar 2027"]
    assert calendar.image_url == "https://townhall.example/news/files/calendar-2027.png"
    assert 'href="https://townhall.example/news/2026/files/calendar.pdf"' in calendar.content_html
    assert 'href="https://recycle.example/"' in calendar.content_html


def test_a_relative_link_without_any_site_link_resolves_against_the_fetch_url():
    feed = parse_feed(
        b'<rss version="2.0"><channel><title>t</title>'
        b"<item><title>a</title><link>posts/1</link></item></channel></rss>",
        url="https://example.com/blog/feed.xml",
        content_type=None,
        fetched_at=FETCHED_AT,
    )
    assert feed.entries[0].url == "https://example.com/blog/posts/1"
    assert feed.link == "https://example.com/blog/feed.xml"


# --- HTML, text, titles ------------------------------------------------------------------------


def test_content_is_sanitised_and_kept_as_html_and_text():
    entry = entries_by_title("rss20.xml")["New footbridge opens across the Wend"]
    assert "<script" not in entry.content_html and "trackReader" not in entry.content_html
    assert "onclick" not in entry.content_html
    assert 'rel="noopener noreferrer nofollow"' in entry.content_html
    assert entry.content_text == (
        "The 80-metre footbridge links the market to the new housing on the east bank.\n\n"
        "Cyclists must dismount at peak hours. More transport news.\n\n"
        "Opening hours: always."
    )
    assert entry.summary == "The 80-metre footbridge links the market to the new housing on the east bank."


def test_lists_and_entities_become_readable_text():
    entry = entries_by_title("rss20.xml")["Council approves the winter gritting plan"]
    assert (
        entry.content_text
        == "Twelve routes will be gritted before 6am on frosty days.\n\nMain roads first\n\nThen school routes"
    )
    library = entries_by_title("rss20.xml")["Library extends Sunday opening"]
    assert library.summary == "The central library will open 10:00–16:00 on Sundays from December."


def test_atom_text_content_keeps_its_paragraphs():
    entry = entries_by_title("atom10.xml")["Fonts & licences: a plain guide"]
    assert entry.content_text == "Desktop, web and app licences differ.\n\nRead the EULA before you embed."
    assert entry.content_html == "<p>Desktop, web and app licences differ.</p><p>Read the EULA before you embed.</p>"


def test_double_escaped_description_is_read_as_html():
    entry = entries_by_title("double-escaped.xml")["AT&T and T-Mobile cut prices"]
    assert entry.content_html == "<p>Both carriers — again.</p>"
    assert entry.summary == "Both carriers — again."


def test_salvaged_feed_keeps_its_text():
    entry = entries_by_title("bozo-salvaged.xml")["Fish & chips night returns"]
    assert entry.content_text == "Unclosed paragraph & a bare ampersand"


def test_huge_title_is_cut_at_a_word_with_an_ellipsis():
    (entry,) = parse("huge-title.xml").entries
    assert 400 < len(entry.title) <= 500
    assert entry.title.endswith("…")
    assert entry.title.startswith("A very long headline that goes on A very long")
    assert entry.content_text.endswith("and ends here. Details inside.")  # the text itself is whole


def test_entry_without_title_takes_the_start_of_its_text():
    entry = entries_by_title("jsonfeed11.json")["A note with neither title nor date, and no link either."]
    assert entry.url is None and entry.has_date is False and entry.published_at == FETCHED_AT


def test_authors():
    assert entries_by_title("rss20.xml")["New footbridge opens across the Wend"].author == "Maya Turner"  # dc:creator
    assert entries_by_title("rss20.xml")["Library extends Sunday opening"].author == "News Desk"  # "email (Name)"
    assert entries_by_title("atom10.xml")["Kerning by eye"].author == "Lena Ortiz"
    assert entries_by_title("rss10-rdf.xml")["Open night on Friday"].author == "Ingrid Sole"
    assert entries_by_title("jsonfeed11.json")["Episode 41: Small tools"].author == "Ada Quill"  # item authors (1.1)
    assert entries_by_title("jsonfeed11.json")["Link: on tools"].author == "Sam Reyes"  # the feed's
    assert entries_by_title("jsonfeed10.json")["First frost"].author == "Owen Hale"  # 1.0 "author"
    assert entries_by_title("cdata-titles.xml")["Pumpkin soup with ginger & lime"].author is None


# --- YouTube -----------------------------------------------------------------------------------


def test_youtube_feed_entries_keep_video_id_thumbnail_description_and_link():
    entries = parse(
        "youtube-channel.xml", url="https://www.youtube.com/feeds/videos.xml?channel_id=UCq3Wcx7pWZ3kd9Nh8fXqg5A"
    ).entries
    stool, chisels = entries
    assert stool.video_id == "Xb3kP9mZq1A"
    assert stool.url == "https://www.youtube.com/watch?v=Xb3kP9mZq1A"
    assert stool.thumbnail_url == stool.image_url == "https://i3.ytimg.com/vi/Xb3kP9mZq1A/hqdefault.jpg"
    assert stool.author == "Мастерская у реки"
    # media:description is plain text: its line breaks and blank lines survive, its URL becomes a link
    assert (
        stool.summary
        == stool.content_text
        == (
            "Делаем табурет на шипах.\nИнструменты: https://example.com/tools?ref=yt\n\n"
            "Таймкоды:\n0:00 Заготовки\n5:30 Шипы"
        )
    )
    assert '<a href="https://example.com/tools?ref=yt" rel="noopener noreferrer nofollow">' in stool.content_html
    assert chisels.video_id == "q9Lm2VvBn0E" and chisels.summary == "" and chisels.content_html == ""
    assert chisels.thumbnail_url == "https://i2.ytimg.com/vi/q9Lm2VvBn0E/hqdefault.jpg"


def test_video_id_is_read_from_youtube_links_in_any_feed():
    feed = parse_feed(
        b'{"version": "https://jsonfeed.org/version/1.1",'
        b' "items": [{"id": "1", "url": "https://youtu.be/Xb3kP9mZq1A", "title": "v"}]}',
        url="https://example.com/feed.json",
        content_type="application/feed+json",
        fetched_at=FETCHED_AT,
    )
    assert feed.entries[0].video_id == "Xb3kP9mZq1A"
    assert entries_by_title("rss20.xml")["Library extends Sunday opening"].video_id is None


# --- dedup keys --------------------------------------------------------------------------------


def test_dedup_key_prefers_guid_then_normalised_link_then_title_and_date():
    published = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    by_guid = dedup_key("guid-1", "https://a.example/x", "T", published)
    assert by_guid == dedup_key("guid-1", "https://b.example/y", "Other", None)
    by_link = dedup_key(None, "https://A.example/x?utm_source=rss", "T", published)
    assert by_link == dedup_key(None, "https://a.example/x", "Other", None)
    assert by_link != by_guid
    by_title = dedup_key(None, None, "T", published)
    assert by_title != dedup_key(None, None, "T", datetime(2026, 11, 22, tzinfo=UTC))
    assert by_title != dedup_key(None, None, "U", published)
    assert dedup_key("  ", "", "T", published) == by_title  # blank guid and link count as none


def test_guids_keep_the_keys_stored_before_this_package():
    """Existing rows were keyed sha256(guid): entries with a guid must keep exactly that key."""
    import hashlib

    entry = entries_by_title("rss20.xml")["Council approves the winter gritting plan"]
    assert entry.dedup_key == hashlib.sha256(b"https://chronicle.riverside.example/?p=4807").hexdigest()


def test_entries_without_guid_are_keyed_by_normalised_link():
    entries = parse("missing-guids.xml").entries
    tides = entries[0]
    assert tides.normalized_url == "https://links.example/Tides/December?a=1&b=2"
    assert tides.dedup_key == dedup_key(None, "https://links.example/Tides/December?b=2&a=1", "", None)
    # two notices with the same title but different dates are two entries
    assert entries[2].dedup_key != entries[3].dedup_key


def test_duplicate_guids():
    feed = parse("duplicate-guids.xml")
    assert feed.entries_dropped == 1
    choir, benches = feed.entries[1:]
    assert choir.dedup_key == dedup_key(None, choir.url, "", None)  # the shared guid is not used
    assert benches.dedup_key == dedup_key(None, benches.url, "", None)


def test_undated_entries_are_keyed_without_the_fetch_time():
    later = datetime(2027, 1, 1, tzinfo=UTC)
    first = parse_feed(
        b'<rss version="2.0"><channel><title>t</title><item><title>Only a title</title></item></channel></rss>',
        url="https://example.com/feed",
        content_type=None,
        fetched_at=FETCHED_AT,
    )
    second = parse_feed(
        b'<rss version="2.0"><channel><title>t</title><item><title>Only a title</title></item></channel></rss>',
        url="https://example.com/feed",
        content_type=None,
        fetched_at=later,
    )
    assert first.entries[0].dedup_key == second.entries[0].dedup_key
    assert second.entries[0].published_at == later


def test_the_same_article_from_two_feeds_has_the_same_normalised_url():
    a = entries_by_title("rss20.xml")["New footbridge opens across the Wend"]
    copy = parse_feed(
        b'<rss version="2.0"><channel><title>Aggregator</title><item><title>Footbridge</title>'
        b"<link>HTTPS://Chronicle.Riverside.Example/2026/11/21/footbridge-opens/?fbclid=abc#comments</link>"
        b"<guid>agg-1</guid></item></channel></rss>",
        url="https://aggregator.example/rss",
        content_type=None,
        fetched_at=FETCHED_AT,
    ).entries[0]
    assert a.normalized_url == copy.normalized_url == normalise_url(a.url or "")


# --- the types ---------------------------------------------------------------------------------


def test_feed_entry_can_still_be_built_the_old_way():
    """Other source kinds (uploads, JSON APIs) build entries with the original eight fields."""
    entry = FeedEntry(
        dedup_key="k",
        guid=None,
        url=None,
        title="Upload",
        summary="",
        content="<p>One.</p><p>Two &amp; three.</p>",
        image_url=None,
        published_at=FETCHED_AT,
    )
    assert entry.content_html == entry.content
    assert entry.content_text == "One.\n\nTwo & three."
    assert entry.normalized_url is None and entry.video_id is None and entry.author is None
    assert isinstance(ParsedFeed(title="x", entries=[entry]).entries[0], FeedEntry)


def test_a_well_formed_feed_without_items_is_an_empty_feed():
    feed = parse_feed(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title><link>https://q.example/</link></channel></rss>',
        url="https://q.example/feed",
        content_type="application/rss+xml",
        fetched_at=FETCHED_AT,
    )
    assert feed.title == "Quiet" and feed.entries == [] and not feed.salvaged


def test_long_urls_are_dropped_not_cut():
    long_link = "https://example.com/" + "a" * 3000
    feed = parse_feed(
        f'<rss version="2.0"><channel><title>t</title><item><title>x</title><link>{long_link}</link>'
        f"<guid>{'g' * 3000}</guid></item></channel></rss>".encode(),
        url="https://example.com/feed",
        content_type=None,
        fetched_at=FETCHED_AT,
    )
    entry = feed.entries[0]
    assert entry.url is None and entry.normalized_url is None
    assert entry.guid is not None and len(entry.guid) == 2048
    assert entry.dedup_key == dedup_key("g" * 3000, None, "", None)  # keyed by the whole guid


def test_naive_fetch_time_is_taken_as_utc():
    feed = parse_feed(
        b'<rss version="2.0"><channel><title>t</title><item><title>x</title></item></channel></rss>',
        url="https://example.com/feed",
        content_type=None,
        fetched_at=datetime(2026, 11, 22, 12, 0),
    )
    assert feed.entries[0].published_at == FETCHED_AT


@pytest.mark.parametrize(
    "description, html",
    [
        ("&amp;lt;p&amp;gt;One&amp;lt;/p&amp;gt;", "<p>One</p>"),  # escaped twice: read as HTML
        ("Use the &amp;lt;b&amp;gt; tag for bold", "Use the &lt;b&gt; tag for bold"),  # merely mentions a tag
        ("Line&amp;lt;br&amp;gt;break", "Line<br>break"),
    ],
)
def test_escaped_html_heuristic(description: str, html: str):
    feed = parse_feed(
        f'<rss version="2.0"><channel><title>t</title><item><title>x</title><description>{description}'
        "</description></item></channel></rss>".encode(),
        url="https://example.com/feed",
        content_type=None,
        fetched_at=FETCHED_AT,
    )
    assert feed.entries[0].content_html == html
