"""Reading feeds: pure functions from fetched bytes (and the URL they came from) to entries.

No I/O happens here: the safe fetcher (app.net.fetcher) gets the bytes, these functions read them.

* `parse_feed` — RSS 0.9x / 1.0 (RDF) / 2.0 and Atom 0.3 / 1.0 through feedparser, JSON Feed 1.0 / 1.1
  with the json module; legacy and mislabelled encodings decoded first (`encoding`); HTML sanitised
  with nh3 and kept as safe HTML and plain text (`markup`); links made absolute; one image per entry;
  dates in UTC; a dedup key per entry (`urls.dedup_key`).
* `normalise_url` — the form two copies of one link share (tracking parameters dropped...).
* YouTube — `youtube_feed_url`, `youtube_page_url`, `youtube_channel_id_from_html`, `youtube_video_id`.
* Autodiscovery — `discover_feeds`, `COMMON_FEED_PATHS`, `common_feed_urls`, `looks_like_feed`.
"""

from app.sources.parsing.discovery import COMMON_FEED_PATHS, common_feed_urls, discover_feeds, looks_like_feed
from app.sources.parsing.encoding import decode_document
from app.sources.parsing.feed import parse_feed
from app.sources.parsing.markup import html_to_text, sanitize_html
from app.sources.parsing.model import DiscoveredFeed, FeedEntry, FeedKind, NotAFeed, ParsedFeed
from app.sources.parsing.urls import TRACKING_PARAMETERS, absolute_url, dedup_key, normalise_url
from app.sources.parsing.youtube import (
    channel_feed_url,
    playlist_feed_url,
    youtube_channel_id_from_html,
    youtube_feed_url,
    youtube_page_url,
    youtube_video_id,
)

__all__ = [
    "COMMON_FEED_PATHS",
    "TRACKING_PARAMETERS",
    "DiscoveredFeed",
    "FeedEntry",
    "FeedKind",
    "NotAFeed",
    "ParsedFeed",
    "absolute_url",
    "channel_feed_url",
    "common_feed_urls",
    "decode_document",
    "dedup_key",
    "discover_feeds",
    "html_to_text",
    "looks_like_feed",
    "normalise_url",
    "parse_feed",
    "playlist_feed_url",
    "sanitize_html",
    "youtube_channel_id_from_html",
    "youtube_feed_url",
    "youtube_page_url",
    "youtube_video_id",
]
