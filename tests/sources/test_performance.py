"""A sanity run, not a timed test: a typical 50-item feed parses in a few milliseconds (the bench/
script measures throughput; timing assertions would only make the suite flaky)."""

from __future__ import annotations

import time

from app.sources.parsing import parse_feed
from tests.sources.corpus import FETCHED_AT


def fifty_item_rss() -> bytes:
    items = "".join(
        f"""<item>
  <title>Item {n}: harbour news &amp; more</title>
  <link>https://news.example/{n}?utm_source=rss</link>
  <guid isPermaLink="false">news-{n}</guid>
  <pubDate>Sat, 21 Nov 2026 {n % 24:02d}:{n % 60:02d}:00 +0300</pubDate>
  <dc:creator>Desk {n % 5}</dc:creator>
  <description><![CDATA[<p>The ferry that links the two halves of the harbour is back in service after four months
  in dry dock. <a href="/ferry">Timetable</a>.</p><p><img src="/img/{n}.jpg" alt=""> Engineers replaced both
  engines and the passenger deck.</p>]]></description>
</item>"""
        for n in range(50)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>Fifty</title><link>https://news.example/</link>{items}</channel></rss>"
    ).encode()


def test_fifty_item_feed():
    content = fifty_item_rss()
    started = time.perf_counter()
    for _ in range(5):
        feed = parse_feed(
            content, url="https://news.example/rss", content_type="application/rss+xml", fetched_at=FETCHED_AT
        )
    elapsed_ms = (time.perf_counter() - started) * 1000 / 5  # for a debugger's eyes only: no assertion
    assert elapsed_ms >= 0
    assert len(feed.entries) == 50
    assert len({entry.dedup_key for entry in feed.entries}) == 50
    assert feed.entries[7].image_url == "https://news.example/img/7.jpg"
    assert feed.entries[7].normalized_url == "https://news.example/7"
