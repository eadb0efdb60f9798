"""From what a person pastes to a YouTube feed, and the channel id on a channel page."""

from __future__ import annotations

import pytest

from app.sources.parsing import (
    discover_feeds,
    youtube_channel_id_from_html,
    youtube_feed_url,
    youtube_page_url,
    youtube_video_id,
)
from tests.sources.corpus import read

CHANNEL = "UCq3Wcx7pWZ3kd9Nh8fXqg5A"
CHANNEL_FEED = f"https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL}"
PLAYLIST = "PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI"
PLAYLIST_FEED = f"https://www.youtube.com/feeds/videos.xml?playlist_id={PLAYLIST}"


@pytest.mark.parametrize(
    "user_input, feed",
    [
        (CHANNEL, CHANNEL_FEED),
        (f"  {CHANNEL}\n", CHANNEL_FEED),
        (f"https://www.youtube.com/channel/{CHANNEL}", CHANNEL_FEED),
        (f"https://www.youtube.com/channel/{CHANNEL}/videos", CHANNEL_FEED),
        (f"https://m.youtube.com/channel/{CHANNEL}?si=abc", CHANNEL_FEED),
        (f"youtube.com/channel/{CHANNEL}", CHANNEL_FEED),
        (f"http://youtube.com/channel/{CHANNEL}", CHANNEL_FEED),
        (f"https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL}", CHANNEL_FEED),
        (f"https://www.youtube.com/feeds/videos.xml?playlist_id={PLAYLIST}", PLAYLIST_FEED),
        (f"https://www.youtube.com/playlist?list={PLAYLIST}", PLAYLIST_FEED),
        (f"https://www.youtube.com/watch?v=Xb3kP9mZq1A&list={PLAYLIST}&index=2", PLAYLIST_FEED),
        # these need the channel's page first
        ("@masterskaya", None),
        ("https://www.youtube.com/@masterskaya", None),
        ("https://www.youtube.com/c/Masterskaya", None),
        ("https://www.youtube.com/user/masterskaya1999", None),
        # nothing to follow
        ("https://www.youtube.com/watch?v=Xb3kP9mZq1A&list=RDXb3kP9mZq1A", None),  # a generated mix
        ("UCshort", None),
        ("https://www.youtube.com/channel/not-a-channel-id", None),
        ("https://vimeo.com/channels/staffpicks", None),
        ("https://example.com/channel/" + CHANNEL, None),
        ("", None),
    ],
)
def test_youtube_feed_url(user_input: str, feed: str | None):
    assert youtube_feed_url(user_input) == feed


@pytest.mark.parametrize(
    "user_input, page",
    [
        ("@masterskaya", "https://www.youtube.com/@masterskaya"),
        (" @masterskaya ", "https://www.youtube.com/@masterskaya"),
        ("https://www.youtube.com/@masterskaya", "https://www.youtube.com/@masterskaya"),
        ("https://www.youtube.com/@masterskaya/videos?view=0", "https://www.youtube.com/@masterskaya"),
        ("youtube.com/@masterskaya", "https://www.youtube.com/@masterskaya"),
        ("https://m.youtube.com/@masterskaya", "https://www.youtube.com/@masterskaya"),
        ("@Мастерская", "https://www.youtube.com/@%D0%9C%D0%B0%D1%81%D1%82%D0%B5%D1%80%D1%81%D0%BA%D0%B0%D1%8F"),
        (
            "https://www.youtube.com/@%D0%9C%D0%B0%D1%81%D1%82%D0%B5%D1%80%D1%81%D0%BA%D0%B0%D1%8F",
            "https://www.youtube.com/@%D0%9C%D0%B0%D1%81%D1%82%D0%B5%D1%80%D1%81%D0%BA%D0%B0%D1%8F",
        ),
        ("https://www.youtube.com/c/Masterskaya", "https://www.youtube.com/c/Masterskaya"),
        ("https://www.youtube.com/c/Masterskaya/featured", "https://www.youtube.com/c/Masterskaya"),
        ("https://www.youtube.com/user/masterskaya1999", "https://www.youtube.com/user/masterskaya1999"),
        ("https://www.youtube.com/MasterskayaOld", "https://www.youtube.com/MasterskayaOld"),  # oldest custom URLs
        # a single video: its page names the channel (best effort)
        ("https://youtu.be/Xb3kP9mZq1A", "https://www.youtube.com/watch?v=Xb3kP9mZq1A"),
        ("https://www.youtube.com/watch?v=Xb3kP9mZq1A", "https://www.youtube.com/watch?v=Xb3kP9mZq1A"),
        ("https://www.youtube.com/shorts/q9Lm2VvBn0E", "https://www.youtube.com/watch?v=q9Lm2VvBn0E"),
        # answered without a page, or not YouTube
        (CHANNEL, None),
        (f"https://www.youtube.com/channel/{CHANNEL}", None),
        (f"https://www.youtube.com/playlist?list={PLAYLIST}", None),
        ("https://www.youtube.com/results?search_query=stool", None),
        ("https://www.youtube.com/", None),
        ("https://example.com/@masterskaya", None),
        ("masterskaya", None),
        ("@x", None),
    ],
)
def test_youtube_page_url(user_input: str, page: str | None):
    assert youtube_page_url(user_input) == page


def test_channel_id_from_a_channel_page():
    html = read("youtube-channel-page.html").decode("utf-8")
    assert youtube_channel_id_from_html(html) == CHANNEL
    assert youtube_channel_id_from_html(read("youtube-channel-page.html")) == CHANNEL  # bytes too
    # and the page's own autodiscovery link points at the same feed
    assert [f.url for f in discover_feeds(html, "https://www.youtube.com/@masterskaya")] == [CHANNEL_FEED]


@pytest.mark.parametrize(
    "html",
    [
        f'<link href="https://www.youtube.com/channel/{CHANNEL}" rel="canonical">',
        f'<meta itemprop="channelId" content="{CHANNEL}">',
        f'<meta content="{CHANNEL}" itemprop="identifier">',
        f'<script>var d = {{"metadata":{{"channelMetadataRenderer":{{"externalId":"{CHANNEL}"}}}}}};</script>',
        f'<script>{{"videoDetails":{{"videoId":"Xb3kP9mZq1A","channelId":"{CHANNEL}"}}}}</script>',
    ],
)
def test_channel_id_clues(html: str):
    assert youtube_channel_id_from_html(f"<html><head>{html}</head><body></body></html>") == CHANNEL


def test_canonical_link_beats_ids_of_other_channels_in_the_page():
    other = "UCzzzzzzzzzzzzzzzzzzzzzz"
    html = f'<script>{{"channelId":"{other}"}}</script><link rel="canonical" href="https://www.youtube.com/channel/{CHANNEL}">'
    assert youtube_channel_id_from_html(html) == CHANNEL


def test_no_channel_id():
    assert youtube_channel_id_from_html("<html><title>Before you continue to YouTube</title></html>") is None
    assert youtube_channel_id_from_html('<meta itemprop="channelId" content="UCtooShort">') is None


@pytest.mark.parametrize(
    "url, video_id",
    [
        ("https://www.youtube.com/watch?v=Xb3kP9mZq1A", "Xb3kP9mZq1A"),
        ("https://www.youtube.com/watch?feature=share&v=Xb3kP9mZq1A", "Xb3kP9mZq1A"),
        ("https://youtu.be/Xb3kP9mZq1A?t=42", "Xb3kP9mZq1A"),
        ("https://www.youtube.com/shorts/q9Lm2VvBn0E", "q9Lm2VvBn0E"),
        ("https://www.youtube.com/embed/q9Lm2VvBn0E", "q9Lm2VvBn0E"),
        ("https://www.youtube.com/live/q9Lm2VvBn0E", "q9Lm2VvBn0E"),
        ("https://www.youtube.com/watch?v=short", None),
        ("https://example.com/watch?v=Xb3kP9mZq1A", None),
        (None, None),
    ],
)
def test_youtube_video_id(url: str | None, video_id: str | None):
    assert youtube_video_id(url) == video_id
