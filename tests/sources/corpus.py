"""The feed corpus (tests/fixtures/feeds/corpus) and helpers to parse it the way the service does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from app.sources.parsing import ParsedFeed, parse_feed

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds" / "corpus"
FETCHED_AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

# What the server's Content-Type header says for the files where it matters (else none is sent).
CONTENT_TYPES = {
    "cp1251-header-only.xml": "application/rss+xml; charset=windows-1251",
    "cp1251-header-conflict.xml": "text/xml; charset=iso-8859-1",
    "mislabelled-utf8-as-latin1.xml": "text/xml; charset=ISO-8859-1",
    "mislabelled-utf8-as-cp1251.xml": "application/rss+xml; charset=windows-1251",
    "jsonfeed10.json": "application/feed+json",
    "jsonfeed11.json": "application/json; charset=utf-8",
}


def read(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def fetch_url(name: str) -> str:
    return f"https://feeds.example/corpus/{name}"


def parse(name: str, *, content_type: str | None = None, url: str | None = None) -> ParsedFeed:
    return parse_feed(
        read(name),
        url=url or fetch_url(name),
        content_type=content_type or CONTENT_TYPES.get(name),
        fetched_at=FETCHED_AT,
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
