"""Compatibility shim: feed parsing lives in app.sources.parsing; these names stay importable here."""

from app.sources.parsing import (
    DiscoveredFeed,
    FeedEntry,
    NotAFeed,
    ParsedFeed,
    dedup_key,
    discover_feeds,
    looks_like_feed,
    normalise_url,
    parse_feed,
    youtube_feed_url,
)

__all__ = [
    "DiscoveredFeed",
    "FeedEntry",
    "NotAFeed",
    "ParsedFeed",
    "dedup_key",
    "discover_feeds",
    "looks_like_feed",
    "normalise_url",
    "parse_feed",
    "youtube_feed_url",
]
