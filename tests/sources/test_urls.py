"""normalise_url: the form two copies of one link share."""

from __future__ import annotations

import pytest

from app.sources.parsing import absolute_url, normalise_url


@pytest.mark.parametrize(
    "url, expected",
    [
        ("HTTPS://Example.COM/Path/Page", "https://example.com/Path/Page"),  # path keeps its case
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),  # not the default port for http
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/app#!/story/12", "https://example.com/app#!/story/12"),  # a hash-bang route names content
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed&utm_campaign=x&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?UTM_Source=rss&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?b=2&a=1&c=3", "https://example.com/a?a=1&b=2&c=3"),
        (
            "https://example.com/a?fbclid=1&gclid=2&yclid=3&mc_cid=4&mc_eid=5&igshid=6&ref_src=7&_ga=8",
            "https://example.com/a",
        ),
        ("https://example.com/a?msclkid=1&_hsenc=2&_hsmi=3&mkt_tok=4&ysclid=5&q=x", "https://example.com/a?q=x"),
        ("https://example.com/a?q=caf%C3%A9&x=a+b", "https://example.com/a?q=caf%C3%A9&x=a+b"),  # encoding kept
        ("https://example.com/a?flag&b=", "https://example.com/a?b=&flag"),
        ("https://example.com/a?&&x=1&", "https://example.com/a?x=1"),
        ("https://example.com/a?ref=homepage", "https://example.com/a?ref=homepage"),  # "ref" may be meaningful
        ("https://пример.рф/новости", "https://xn--e1afmkfd.xn--p1ai/новости"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        ("https://user:Pass@Example.com/a", "https://user:Pass@example.com/a"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),  # not http(s): as is
        ("/relative/path", "/relative/path"),
        ("http://[broken", "http://[broken"),
    ],
)
def test_normalise_url(url: str, expected: str):
    assert normalise_url(url) == expected


def test_normalise_url_is_idempotent():
    url = "HTTPS://Example.com:443/A?utm_source=x&b=2&a=1#frag"
    once = normalise_url(url)
    assert normalise_url(once) == once


@pytest.mark.parametrize(
    "ref, base, expected",
    [
        ("/a", "https://example.com/b/c", "https://example.com/a"),
        ("a", "https://example.com/b/c", "https://example.com/b/a"),
        ("//cdn.example.com/x.jpg", "https://example.com/", "https://cdn.example.com/x.jpg"),
        ("  https://example.com/x  ", None, "https://example.com/x"),
        ("javascript:alert(1)", "https://example.com/", None),
        ("data:image/png;base64,AAAA", "https://example.com/", None),
        ("relative", None, None),
        ("", "https://example.com/", None),
        (None, "https://example.com/", None),
    ],
)
def test_absolute_url(ref: str | None, base: str | None, expected: str | None):
    assert absolute_url(ref, base) == expected


@pytest.mark.parametrize(
    "ref",
    ["/a", "/a/b?c=1&d=2#f", "/a/../b", "/./a", "/a b", "/", "/%2e%2e/x", "/a\\b", "//cdn.example/x", "/ü/ш"],
)
@pytest.mark.parametrize(
    "base",
    ["https://Site.example/x/y", "http://user:pw@site.example:8080/x", "HTTPS://site.example", "ftp://f.example/x"],
)
def test_the_absolute_path_shortcut_matches_urljoin(ref: str, base: str):
    from urllib.parse import urljoin, urlsplit

    joined = urljoin(base, ref)
    expected = joined if urlsplit(joined).scheme in ("http", "https") and "://" in joined else None
    assert absolute_url(ref, base) == expected
