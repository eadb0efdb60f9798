"""YouTube: from what a person pastes (channel URL, @handle, channel id, playlist) to the Atom feed.

YouTube publishes an Atom feed per channel and per playlist:
    https://www.youtube.com/feeds/videos.xml?channel_id=UC...   (the channel's uploads)
    https://www.youtube.com/feeds/videos.xml?playlist_id=PL...
A channel id can be read from the input itself; a handle (@name), a custom URL (/c/name) or a legacy
user URL (/user/name) needs the channel's page first: `youtube_page_url` says which page to fetch
(through the safe fetcher) and `youtube_channel_id_from_html` reads the id from it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

FEED_URL = "https://www.youtube.com/feeds/videos.xml"
_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"})
_CHANNEL_ID = re.compile(r"UC[A-Za-z0-9_-]{22}")
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_PLAYLIST_ID = re.compile(r"[A-Za-z0-9_-]{12,64}")
_HANDLE = re.compile(r"@[\w.·-]{3,100}")
# First-level paths that are YouTube's own pages, not a channel's legacy vanity URL.
_RESERVED = frozenset(
    "watch playlist results feed feeds shorts embed live channel c user about account premium gaming "
    "music kids tv upload signin logout redirect hashtag t s source post".split()
)
# In order of trust: the page's canonical link, its microdata, then the JSON the page embeds.
_CHANNEL_ID_IN_HTML = (
    re.compile(r"""<link\b[^>]*\brel=["']canonical["'][^>]*\bhref=["'][^"']*/channel/(UC[A-Za-z0-9_-]{22})"""),
    re.compile(r"""<link\b[^>]*\bhref=["'][^"']*/channel/(UC[A-Za-z0-9_-]{22})["'][^>]*\brel=["']canonical["']"""),
    re.compile(
        r"""<meta\b[^>]*\bitemprop=["'](?:channelId|identifier)["'][^>]*\bcontent=["'](UC[A-Za-z0-9_-]{22})["']"""
    ),
    re.compile(
        r"""<meta\b[^>]*\bcontent=["'](UC[A-Za-z0-9_-]{22})["'][^>]*\bitemprop=["'](?:channelId|identifier)["']"""
    ),
    re.compile(r"""<meta\b[^>]*\bproperty=["']og:url["'][^>]*\bcontent=["'][^"']*/channel/(UC[A-Za-z0-9_-]{22})"""),
    re.compile(r'"externalId"\s*:\s*"(UC[A-Za-z0-9_-]{22})"'),
    re.compile(r'"channelId"\s*:\s*"(UC[A-Za-z0-9_-]{22})"'),
)


def channel_feed_url(channel_id: str) -> str:
    return f"{FEED_URL}?{urlencode({'channel_id': channel_id})}"


def playlist_feed_url(playlist_id: str) -> str:
    return f"{FEED_URL}?{urlencode({'playlist_id': playlist_id})}"


def _youtube_parts(user_input: str) -> tuple[str, list[str], dict[str, list[str]]] | None:
    """(host, path segments, query) when the input is a YouTube URL (the scheme may be left out)."""
    text = user_input.strip()
    if not re.match(r"^https?://", text, re.IGNORECASE):
        text = "https://" + text.lstrip("/")
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host not in _HOSTS and host != "youtu.be":
        return None
    segments = [unquote(segment) for segment in parts.path.split("/") if segment]
    return host, segments, parse_qs(parts.query)


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0].strip() if values else None


def youtube_feed_url(user_input: str) -> str | None:
    """The Atom feed for a channel id, a /channel/UC... URL, a feed URL or a playlist URL; None when
    the input needs its page fetched first (see `youtube_page_url`) or is not YouTube at all."""
    text = user_input.strip()
    if _CHANNEL_ID.fullmatch(text):
        return channel_feed_url(text)
    found = _youtube_parts(text)
    if not found:
        return None
    host, segments, query = found
    if host == "youtu.be":
        return None
    if segments == ["feeds", "videos.xml"]:
        for name in ("channel_id", "playlist_id", "user"):
            if value := _first(query, name):
                return f"{FEED_URL}?{urlencode({name: value})}"
        return None
    if len(segments) >= 2 and segments[0] == "channel" and _CHANNEL_ID.fullmatch(segments[1]):
        return channel_feed_url(segments[1])
    playlist = _first(query, "list")
    # RD... lists are generated mixes: YouTube has no feed for them.
    if segments and segments[0] in ("playlist", "watch") and playlist and _PLAYLIST_ID.fullmatch(playlist):
        if not playlist.startswith("RD"):
            return playlist_feed_url(playlist)
    return None


def youtube_page_url(user_input: str) -> str | None:
    """The page to fetch to learn the channel id: for an @handle, /@handle, /c/name, /user/name or a
    legacy vanity URL (and, best effort, a single video's page). None when `youtube_feed_url` can
    answer without a page, or when the input is not YouTube."""
    text = user_input.strip()
    if _HANDLE.fullmatch(text):
        return f"https://www.youtube.com/{quote(text, safe='@')}"
    if youtube_feed_url(text):
        return None
    found = _youtube_parts(text)
    if not found:
        return None
    host, segments, query = found
    if host == "youtu.be":
        return _watch_page(segments[0] if segments else None)
    if not segments:
        return None
    first = segments[0]
    if _HANDLE.fullmatch(first):
        return f"https://www.youtube.com/{quote(first, safe='@')}"
    if first in ("c", "user") and len(segments) >= 2:
        return f"https://www.youtube.com/{first}/{quote(segments[1])}"
    if first == "watch":
        return _watch_page(_first(query, "v"))
    if first in ("shorts", "live", "embed") and len(segments) >= 2:
        return _watch_page(segments[1])
    if first.lower() not in _RESERVED and "." not in first:
        return f"https://www.youtube.com/{quote(first)}"  # youtube.com/SomeName, the oldest custom URLs
    return None


def _watch_page(video_id: str | None) -> str | None:
    return f"https://www.youtube.com/watch?v={video_id}" if video_id and _VIDEO_ID.fullmatch(video_id) else None


def youtube_channel_id_from_html(html: str | bytes) -> str | None:
    """The channel id on a YouTube channel (or video) page, from the first clue found in order of trust."""
    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    for pattern in _CHANNEL_ID_IN_HTML:
        if match := pattern.search(html):
            return match.group(1)
    return None


def youtube_video_id(url: str | None) -> str | None:
    """The video id of a watch, youtu.be, /shorts/, /live/ or /embed/ link."""
    if not url:
        return None
    found = _youtube_parts(url)
    if not found:
        return None
    host, segments, query = found
    candidate: str | None = None
    if host == "youtu.be":
        candidate = segments[0] if segments else None
    elif segments[:1] == ["watch"]:
        candidate = _first(query, "v")
    elif len(segments) >= 2 and segments[0] in ("shorts", "live", "embed", "v"):
        candidate = segments[1]
    return candidate if candidate and _VIDEO_ID.fullmatch(candidate) else None
