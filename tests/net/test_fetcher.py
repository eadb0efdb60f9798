"""SafeFetcher against a local HTTP server; SSRF policy checked with fake DNS answers.

Local-server tests use allow_private=True (the server is on 127.0.0.1). The allow_private=False
tests prove that loopback and friends are refused before any connection is made.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from urllib.parse import quote

import httpcore
import pytest

from app.config import Settings
from app.net import fetcher as fetcher_module
from app.net.fetcher import BlockedAddress, FetchError, SafeFetcher, is_blocked_address

from .conftest import (
    ETAG,
    LAST_MODIFIED,
    PLAIN_BODY,
    TEST_MAX_BYTES,
    TLS_HOSTNAME,
    FakeDNS,
    FetcherFactory,
    LocalServer,
    TLSServer,
)

PRIVATE_MESSAGE = "The address points to a private network, which Zavod does not fetch from."


def redirect_to(server: LocalServer, target: str, code: int = 302) -> str:
    return server.url(f"/redirect-to?code={code}&url={quote(target, safe='')}")


# --- Plain fetching -------------------------------------------------------------------------------


async def test_plain_body(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    result = await make_fetcher().fetch(server.url("/plain"))

    assert result.status_code == 200
    assert result.content == PLAIN_BODY
    assert result.url == server.url("/plain")
    assert result.content_type == "text/plain; charset=utf-8"
    assert result.headers["content-length"] == str(len(PLAIN_BODY))
    assert result.not_modified is False
    assert result.etag is None and result.last_modified is None
    assert result.elapsed_ms >= 0


async def test_sends_user_agent_and_accept_encoding(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    result = await make_fetcher().fetch(server.url("/echo"), headers={"Accept": "application/rss+xml"})

    seen = json.loads(result.content)
    assert seen["user-agent"] == "ZavodBot/1.0 (+https://zavod.example)"
    assert seen["accept-encoding"] == "gzip, deflate"
    assert seen["accept"] == "application/rss+xml"
    assert seen["host"] == f"127.0.0.1:{server.port}"


async def test_concurrent_fetches_share_one_fetcher(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    fetcher = make_fetcher()
    results = await asyncio.gather(*(fetcher.fetch(server.url("/plain")) for _ in range(10)))
    assert all(r.content == PLAIN_BODY for r in results)


async def test_from_settings() -> None:
    settings = Settings(
        fetch_allow_private=True, fetch_max_bytes=1234, fetch_connect_timeout=3.0, fetch_read_timeout=4.0
    )
    fetcher = SafeFetcher.from_settings(settings)
    try:
        assert (
            fetcher.allow_private,
            fetcher.max_bytes,
            fetcher.connect_timeout,
            fetcher.read_timeout,
            fetcher.max_redirects,
        ) == (True, 1234, 3.0, 4.0, 5)
    finally:
        await fetcher.aclose()
    # The defaults are the safe ones.
    assert SafeFetcher.from_settings(Settings()).allow_private is False


# --- Conditional GET ------------------------------------------------------------------------------


async def test_conditional_get(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    fetcher = make_fetcher()
    first = await fetcher.fetch(server.url("/cached"))
    assert first.status_code == 200
    assert first.content == b"<rss>cached</rss>"
    assert (first.etag, first.last_modified) == (ETAG, LAST_MODIFIED)

    by_etag = await fetcher.fetch(server.url("/cached"), etag=first.etag)
    assert by_etag.status_code == 304
    assert by_etag.not_modified is True
    assert by_etag.content == b""
    assert by_etag.etag == ETAG
    assert server.requests[-1].headers["If-None-Match"] == ETAG

    by_date = await fetcher.fetch(server.url("/cached"), last_modified=first.last_modified)
    assert by_date.not_modified is True
    assert server.requests[-1].headers["If-Modified-Since"] == LAST_MODIFIED

    stale = await fetcher.fetch(server.url("/cached"), etag='"old"')
    assert stale.status_code == 200 and stale.not_modified is False


async def test_304_without_validators_keeps_the_ones_sent(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    result = await make_fetcher().fetch(server.url("/bare-304"), etag='"abc"', last_modified=LAST_MODIFIED)
    assert result.not_modified is True
    assert (result.etag, result.last_modified) == ('"abc"', LAST_MODIFIED)


# --- Redirects ------------------------------------------------------------------------------------


@pytest.mark.parametrize("hops", [1, 3, 5])
async def test_redirect_chain_within_limit(make_fetcher: FetcherFactory, server: LocalServer, hops: int) -> None:
    result = await make_fetcher().fetch(server.url(f"/redirect/{hops - 1}"))
    assert result.content == PLAIN_BODY
    assert result.url == server.url("/plain")


async def test_too_many_redirects(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    with pytest.raises(FetchError) as caught:
        await make_fetcher().fetch(server.url("/redirect/5"))  # 6 redirects
    assert caught.value.message == "Too many redirects (more than 5)."
    assert not isinstance(caught.value, BlockedAddress)


async def test_max_redirects_is_configurable(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    with pytest.raises(FetchError, match=r"more than 1\)"):
        await make_fetcher(max_redirects=1).fetch(server.url("/redirect/1"))


@pytest.mark.parametrize("code", [301, 303, 307, 308])
async def test_redirect_status_codes(make_fetcher: FetcherFactory, server: LocalServer, code: int) -> None:
    result = await make_fetcher().fetch(redirect_to(server, "/plain", code))
    assert result.content == PLAIN_BODY


@pytest.mark.usefixtures("loopback_is_public")
@pytest.mark.parametrize(
    ("target", "dns_answer"),
    [
        ("http://169.254.169.254/latest/meta-data/", None),
        ("http://10.0.0.1/admin", None),
        ("http://[::1]/", None),
        ("http://evil.test/", ["10.0.0.1"]),
        ("http://evil.test:8080/", ["::ffff:169.254.169.254"]),
        ("https://evil.test/", ["93.184.216.34", "192.168.0.1"]),  # one bad answer is enough
    ],
)
async def test_redirect_to_private_address_is_refused(
    make_fetcher: FetcherFactory,
    server: LocalServer,
    fake_dns: FakeDNS,
    target: str,
    dns_answer: list[str] | None,
) -> None:
    if dns_answer:
        fake_dns["evil.test"] = dns_answer
    fetcher = make_fetcher(allow_private=False)
    # The first hop (the test server, treated as public here) is fine...
    assert (await fetcher.fetch(server.url("/plain"))).content == PLAIN_BODY
    # ...but the hop it redirects to is checked again and refused before connecting.
    with pytest.raises(BlockedAddress) as caught:
        await fetcher.fetch(redirect_to(server, target))
    assert caught.value.message == PRIVATE_MESSAGE
    if dns_answer:
        assert fake_dns.lookups.count("evil.test") == 1


async def test_redirect_to_non_http_scheme_is_refused(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    with pytest.raises(FetchError, match=r"Only http:// and https://"):
        await make_fetcher().fetch(redirect_to(server, "file:///etc/passwd"))


async def test_credentials_stay_with_their_origin(
    make_fetcher: FetcherFactory, server: LocalServer, fake_dns: FakeDNS
) -> None:
    fake_dns["other.test"] = ["127.0.0.1"]
    fetcher = make_fetcher()
    secret = {"Authorization": "Bearer s3cret", "Cookie": "session=1", "X-Api-Key": "key-123"}

    same_origin = await fetcher.fetch(redirect_to(server, "/echo"), headers=secret)
    assert json.loads(same_origin.content)["authorization"] == "Bearer s3cret"

    cross_origin = await fetcher.fetch(redirect_to(server, server.url("/echo", host="other.test")), headers=secret)
    seen = json.loads(cross_origin.content)
    assert "authorization" not in seen and "cookie" not in seen and "x-api-key" not in seen
    assert seen["host"] == f"other.test:{server.port}"


# --- SSRF policy with allow_private=False ---------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.2", "localhost", "[::ffff:127.0.0.1]", "2130706433", "0x7f000001", "127.1"],
)
async def test_loopback_is_refused(make_fetcher: FetcherFactory, server: LocalServer, host: str) -> None:
    before = len(server.requests)
    with pytest.raises(BlockedAddress) as caught:
        await make_fetcher(allow_private=False).fetch(server.url("/plain", host=host))
    assert caught.value.message == PRIVATE_MESSAGE
    assert len(server.requests) == before  # refused before any connection


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["10.0.0.1"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["fd00:ec2::254"],
        ["100.64.0.1"],
        ["93.184.216.34", "10.0.0.1"],  # refused if ANY address is private
        ["2606:4700::1111", "fe80::1"],
    ],
)
async def test_hostname_resolving_to_private_address_is_refused(
    make_fetcher: FetcherFactory, fake_dns: FakeDNS, answer: list[str]
) -> None:
    fake_dns["evil.test"] = answer
    with pytest.raises(BlockedAddress) as caught:
        await make_fetcher(allow_private=False).fetch("http://evil.test/feed.xml")
    assert caught.value.address in answer
    assert caught.value.status_code is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.0.1",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.0.170",
        "198.18.0.1",
        "192.0.2.1",
        "::",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "fd00:ec2::254",
        "ff02::1",
        "fec0::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",
        "2002:a00:1::1",
        "2001:db8::1",
        "not-an-ip",
    ],
)
def test_blocked_addresses(address: str) -> None:
    assert is_blocked_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.216.34",
        "1.1.1.1",
        "100.128.0.1",
        "172.32.0.1",
        "2606:4700::1111",
        "2a00:1450:4001::1",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses(address: str) -> None:
    assert not is_blocked_address(address)


# --- Pinning --------------------------------------------------------------------------------------


async def test_connection_goes_to_the_checked_address(
    make_fetcher: FetcherFactory, server: LocalServer, fake_dns: FakeDNS
) -> None:
    """feed.test exists only in our fake DNS, so reaching the server proves we used the pinned IP."""
    fake_dns["feed.test"] = ["127.0.0.1"]
    result = await make_fetcher().fetch(server.url("/echo", host="feed.test"))
    assert json.loads(result.content)["host"] == f"feed.test:{server.port}"  # Host keeps the name
    assert result.url == server.url("/echo", host="feed.test")


@pytest.mark.usefixtures("loopback_is_public")
async def test_dns_rebinding_cannot_redirect_the_connection(
    make_fetcher: FetcherFactory, server: LocalServer, fake_dns: FakeDNS
) -> None:
    """The name is resolved once per hop; a second, hostile answer is never asked for or used."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]])
    fake_dns["rebind.test"] = lambda: next(answers)

    result = await make_fetcher(allow_private=False).fetch(server.url("/plain", host="rebind.test"))
    assert result.content == PLAIN_BODY
    assert fake_dns.lookups == ["rebind.test"]
    # (The autouse guard would fail this test had anything connected to 10.0.0.1.)


async def test_backend_refuses_unchecked_connections(server: LocalServer) -> None:
    backend = fetcher_module._PinnedBackend()
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("127.0.0.1", server.port)  # no pin at all
    token = fetcher_module._current_pin.set(fetcher_module._Pin("a.test", 80, ("127.0.0.1",)))
    try:
        with pytest.raises(httpcore.ConnectError):
            await backend.connect_tcp("b.test", 80)  # pinned for another host
    finally:
        fetcher_module._current_pin.reset(token)


async def test_falls_back_to_next_checked_address(
    make_fetcher: FetcherFactory, server: LocalServer, fake_dns: FakeDNS, only_loopback_connections: list[str]
) -> None:
    # The connect guard refuses ::1 at once, like a host without IPv6 would: the next checked
    # address is tried.
    fake_dns["dual.test"] = ["::1", "127.0.0.1"]
    result = await make_fetcher().fetch(server.url("/plain", host="dual.test"))
    assert result.content == PLAIN_BODY
    assert only_loopback_connections == [f"::1:{server.port}"]
    only_loopback_connections.clear()  # expected: the guard refused it, nothing left the machine


async def test_https_is_pinned_yet_verified_against_the_hostname(
    make_fetcher: FetcherFactory,
    tls_server: TLSServer,
    fake_dns: FakeDNS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", tls_server.ca_file)  # trust the test CA (read by httpx)
    fake_dns[TLS_HOSTNAME] = ["127.0.0.1"]
    fake_dns["wrong.test"] = ["127.0.0.1"]
    fetcher = make_fetcher()

    result = await fetcher.fetch(f"https://{TLS_HOSTNAME}:{tls_server.port}/echo")
    assert json.loads(result.content)["host"] == f"{TLS_HOSTNAME}:{tls_server.port}"
    assert tls_server.sni_names[-1] == TLS_HOSTNAME  # SNI is the name, not 127.0.0.1

    # Same IP, but the certificate is not valid for this name: refused.
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(f"https://wrong.test:{tls_server.port}/plain")
    assert caught.value.message == "The server's security certificate could not be verified."
    assert tls_server.sni_names[-1] == "wrong.test"


async def test_https_with_untrusted_certificate(
    make_fetcher: FetcherFactory, tls_server: TLSServer, fake_dns: FakeDNS
) -> None:
    fake_dns[TLS_HOSTNAME] = ["127.0.0.1"]
    with pytest.raises(FetchError, match=r"certificate could not be verified"):
        await make_fetcher().fetch(f"https://{TLS_HOSTNAME}:{tls_server.port}/plain")


# --- Compression and size cap ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/gzip", "/deflate", "/deflate-raw"])
async def test_compressed_bodies_are_decoded(make_fetcher: FetcherFactory, server: LocalServer, path: str) -> None:
    result = await make_fetcher().fetch(server.url(path))
    assert result.content == PLAIN_BODY * 100


async def test_gzip_bomb_is_stopped(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    with pytest.raises(FetchError) as caught:
        await make_fetcher().fetch(server.url("/gzip-bomb"))
    assert caught.value.message == "The response is larger than 1 MB."


async def test_body_over_cap_without_content_length(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    with pytest.raises(FetchError, match=r"^The response is larger than 1 MB\.$"):
        await make_fetcher().fetch(server.url(f"/bytes/{2 * TEST_MAX_BYTES}"))


async def test_body_over_cap_by_content_length(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    with pytest.raises(FetchError, match=r"larger than 1 MB"):
        await make_fetcher().fetch(server.url("/big-length"))


@pytest.mark.parametrize("route", ["bytes", "gzip-bytes"])
async def test_cap_is_inclusive(make_fetcher: FetcherFactory, server: LocalServer, route: str) -> None:
    fetcher = make_fetcher()
    assert len((await fetcher.fetch(server.url(f"/{route}/{TEST_MAX_BYTES}"))).content) == TEST_MAX_BYTES
    with pytest.raises(FetchError, match=r"larger than 1 MB"):
        await fetcher.fetch(server.url(f"/{route}/{TEST_MAX_BYTES + 1}"))


async def test_size_message_for_default_cap(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    with pytest.raises(FetchError, match=r"^The response is larger than 10 MB\.$"):
        await make_fetcher(max_bytes=10 * 1024 * 1024).fetch(server.url("/gzip-bomb"))


async def test_unsupported_compression(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    with pytest.raises(FetchError, match=r"compression Zavod does not support \(br\)"):
        await make_fetcher().fetch(server.url("/brotli"))


# --- Failures -------------------------------------------------------------------------------------


async def test_read_timeout(make_fetcher: FetcherFactory, server: LocalServer) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        await make_fetcher(read_timeout=0.2).fetch(server.url("/slow"))
    assert caught.value.message == "The server did not answer within 0.2 seconds."
    assert time.monotonic() - started < 0.9  # gave up before the server's 1 s sleep ended


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "The server answered 404 Not Found."),
        (410, "The server answered 410 Gone."),
        (500, "The server answered 500 Internal Server Error."),
        (503, "The server answered 503 Service Unavailable."),
    ],
)
async def test_error_statuses(make_fetcher: FetcherFactory, server: LocalServer, status: int, message: str) -> None:
    with pytest.raises(FetchError) as caught:
        await make_fetcher().fetch(server.url(f"/status/{status}"))
    assert caught.value.status_code == status
    assert caught.value.message == message
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/feed.xml",
        "gopher://127.0.0.1:70/",
        "javascript:alert(1)",
        "/relative/path",
        "",
        "http:///no-host",
    ],
)
async def test_non_http_urls_are_refused(make_fetcher: FetcherFactory, fake_dns: FakeDNS, url: str) -> None:
    with pytest.raises(FetchError) as caught:
        await make_fetcher().fetch(url)
    assert not isinstance(caught.value, BlockedAddress)
    assert fake_dns.lookups == []  # refused before any DNS lookup


async def test_unresolvable_host(make_fetcher: FetcherFactory) -> None:
    with pytest.raises(FetchError) as caught:
        await make_fetcher(allow_private=False).fetch("http://no-such-host.invalid/feed.xml")
    assert caught.value.message == "The address could not be found (DNS lookup failed)."


async def test_dns_timeout(make_fetcher: FetcherFactory, fake_dns: FakeDNS, monkeypatch: pytest.MonkeyPatch) -> None:
    async def hang(host: str, port: int) -> list[str]:
        await asyncio.sleep(10)
        return []

    monkeypatch.setattr(fetcher_module, "resolve_host", hang)
    with pytest.raises(FetchError, match=r"DNS lookup timed out"):
        await make_fetcher(connect_timeout=0.1).fetch("http://slow-dns.test/")


async def test_connection_refused(make_fetcher: FetcherFactory) -> None:
    with socket.socket() as sock:  # find a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match=r"^Could not connect to the server\.$"):
        await make_fetcher().fetch(f"http://127.0.0.1:{port}/")
