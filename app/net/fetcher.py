"""The one safe fetcher that every user-supplied URL goes through (feeds, images, APIs).

A URL typed by a user is an instruction to make *our* servers open a connection, so each request:

* accepts only http:// and https://;
* resolves the host itself and refuses it if ANY resolved address is private, loopback, link-local,
  unique-local, multicast, reserved, CGNAT or a cloud metadata address (unless `allow_private`,
  which exists for local development and tests only);
* connects to exactly the addresses it checked ("pinning"), so a DNS answer that changes between
  the check and the connect (DNS rebinding) cannot send the request somewhere else. TLS SNI,
  certificate verification and the Host header still use the original hostname;
* follows at most `max_redirects` redirects itself, checking every hop the same way;
* caps the response size, counting both the bytes on the wire and the decompressed bytes, and
  decompresses in bounded steps so a gzip bomb never expands in memory past the cap;
* has connect and read timeouts, and supports conditional GET (ETag / Last-Modified).

Failures raise `FetchError` whose `message` can be shown to a person as is.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

if TYPE_CHECKING:
    from app.config import Settings

__all__ = [
    "BlockedAddress",
    "FetchError",
    "FetchResult",
    "SafeFetcher",
    "is_blocked_address",
    "resolve_host",
]

DEFAULT_USER_AGENT = "ZavodBot/1.0 (+https://zavod.example)"
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class FetchError(Exception):
    """A fetch failed; `message` is written for a person and can be shown in the UI."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class BlockedAddress(FetchError):
    """The URL (or a redirect) points at an address Zavod refuses to connect to (SSRF guard)."""

    def __init__(self, message: str, *, address: str | None = None) -> None:
        super().__init__(message)
        self.address = address


@dataclass
class FetchResult:
    status_code: int
    url: str  # final URL, after redirects
    content: bytes  # decoded (gzip/deflate removed); empty when not_modified
    headers: httpx.Headers  # as received, case-insensitive
    etag: str | None
    last_modified: str | None
    not_modified: bool  # True for 304: keep using the copy you have
    content_type: str | None
    elapsed_ms: int


# --- Address policy -------------------------------------------------------------------------------

# Blocked on top of what the stdlib flags; spelled out so the policy does not depend on which
# Python version's ipaddress tables are installed.
_EXTRA_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT; not private per the stdlib, but not public either
        "169.254.169.254/32",  # cloud metadata (AWS, GCP, Azure, ...)
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "fc00::/7",  # unique-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
    )
)
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to, if any: the stack would really connect there."""
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return ip.ipv4_mapped
    if ip.sixtofour is not None:  # 2002:AABB:CCDD::/48
        return ip.sixtofour
    if ip in _NAT64_PREFIX:  # 64:ff9b::a.b.c.d, what DNS64 hands out on IPv6-only networks
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_blocked_address(address: str) -> bool:
    """True if `address` (an IP literal) is not a public unicast address Zavod may connect to."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    except ValueError:
        return True  # not an IP we understand: refuse rather than guess
    if isinstance(ip, ipaddress.IPv6Address):
        # Drop a zone id ("fe80::1%eth0") and judge a tunnelled IPv4 address by its IPv4 rules.
        ip = ipaddress.IPv6Address(ip.compressed.split("%", 1)[0])
        ip = _embedded_ipv4(ip) or ip
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or any(ip in net for net in _EXTRA_BLOCKED_NETWORKS)
    )


async def resolve_host(host: str, port: int) -> list[str]:
    """All addresses `host` resolves to, in the resolver's preferred order, without duplicates."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


# --- Connection pinning ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pin:
    host: str
    port: int
    addresses: tuple[str, ...]


# The checked addresses for the request currently being sent by this task. A ContextVar (not an
# attribute on the fetcher) so concurrent fetches on one SafeFetcher each see only their own pin.
_current_pin: ContextVar[_Pin | None] = ContextVar("zavod_fetch_pin", default=None)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Network backend that connects only to the addresses the fetcher checked for this request.

    httpcore asks the backend to open (hostname, port); we open the pinned IP instead. Everything
    above the socket (the connection pool key, Host header, TLS SNI and certificate verification)
    keeps using the hostname, so HTTPS stays fully verified.
    """

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = _current_pin.get()
        if pin is None or pin.host != host or pin.port != port:
            # Fail closed: a connection nobody checked must never be opened.
            raise httpcore.ConnectError(f"Refusing unchecked connection to {host}:{port}.")
        error: Exception | None = None
        for address in pin.addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                # Refused/unreachable fails fast (e.g. IPv6 on a host without it): try the next
                # checked address. Timeouts are not retried, so the connect timeout stays a bound.
                error = exc
        assert error is not None  # pin.addresses is never empty
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are never used for outbound fetches.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _pinned_transport() -> httpx.AsyncHTTPTransport:
    # Certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR when set (as httpx does by default).
    ssl_context = httpx.create_ssl_context()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)
    # httpx 0.28 has no public argument for the network backend, so swap the transport's
    # connection pool for one built with the same settings plus our backend; httpx keeps doing the
    # request/response mapping and exception translation. tests/net fails if this stops working.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=False,
        network_backend=_PinnedBackend(),
    )
    return transport


# --- Bounded decompression ------------------------------------------------------------------------


class _BoundedDecoder:
    """Incremental gzip/deflate decoder that never produces more than it is asked for.

    httpx's own decoders inflate each network chunk in full, so one 64 KB chunk of a gzip bomb could
    become ~64 MB in memory before any size check. zlib's `max_length` stops early instead.
    """

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._first = True
        if encoding == "identity":
            self._zlib = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        else:  # deflate: officially zlib-wrapped, but some servers send raw deflate (handled below)
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)

    def decode(self, data: bytes, room: int) -> bytes:
        """Decode `data`; returns at most room + 1 bytes, so more than `room` means "too large"."""
        if self._zlib is None:
            return data
        try:
            out = self._zlib.decompress(data, room + 1)
        except zlib.error:
            if not (self._first and self._encoding == "deflate"):
                raise
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._zlib.decompress(data, room + 1)
        self._first = False
        return out

    def flush(self) -> bytes:
        return b"" if self._zlib is None else self._zlib.flush()


def _decoder_for(headers: httpx.Headers) -> _BoundedDecoder:
    codings = [c.strip().lower() for c in headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return _BoundedDecoder("identity")
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _BoundedDecoder(codings[0])
    # We only ask for gzip and deflate; anything else would reach the parser as binary noise.
    raise FetchError(f"The server sent the response in a compression Zavod does not support ({', '.join(codings)}).")


# --- Plain-words messages -------------------------------------------------------------------------


def _human_size(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def _seconds(t: float) -> str:
    return "1 second" if t == 1 else f"{t:g} seconds"


def _status_message(status: int) -> str:
    try:
        return f"The server answered {status} {HTTPStatus(status).phrase}."
    except ValueError:
        return f"The server answered {status}."


def _ssl_error_in_chain(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


# --- The fetcher ----------------------------------------------------------------------------------


class SafeFetcher:
    """Fetches user-supplied URLs safely. Create one per process/worker and reuse it; `aclose()` it."""

    def __init__(
        self,
        allow_private: bool,
        max_bytes: int,
        connect_timeout: float,
        read_timeout: float,
        max_redirects: int = 5,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self._client = httpx.AsyncClient(
            transport=_pinned_transport(),
            # Redirects are followed by hand so every hop gets the address check.
            follow_redirects=False,
            # No proxies or .netrc from the environment: a proxy would do its own DNS lookup and
            # connect wherever it likes, which would bypass the check and the pin.
            trust_env=False,
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout),
            headers={
                "User-Agent": user_agent,
                # Only what _BoundedDecoder can decode (httpx would add br/zstd if installed).
                "Accept-Encoding": "gzip, deflate",
            },
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> SafeFetcher:
        return cls(
            allow_private=settings.fetch_allow_private,
            max_bytes=settings.fetch_max_bytes,
            connect_timeout=settings.fetch_connect_timeout,
            read_timeout=settings.fetch_read_timeout,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> SafeFetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """GET `url`. Returns 2xx and 304 responses; raises FetchError for everything else."""
        started = time.monotonic()
        current = self._parse_url(url)
        request_headers = httpx.Headers(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified

        for _hop in range(self.max_redirects + 1):
            pin = await self._check(current)
            token = _current_pin.set(pin)
            try:
                async with self._client.stream("GET", current, headers=request_headers) as response:
                    location = response.headers.get("location")
                    if response.status_code not in _REDIRECT_CODES or not location:
                        return await self._result(response, current, started, etag, last_modified)
            except httpx.HTTPError as exc:
                raise self._translate(exc) from exc
            finally:
                _current_pin.reset(token)

            # A redirect: work out the next hop; it goes through the same checks at the loop top.
            assert location is not None  # a response without Location was returned above
            try:
                target = current.join(location)
            except (httpx.InvalidURL, ValueError) as exc:
                raise FetchError("The server redirected to an address that is not valid.") from exc
            target = self._parse_url(target)
            if (target.scheme, target.host, target.port) != (current.scheme, current.host, current.port):
                # Another origin gets none of the caller's headers: an API key may travel in any of
                # them (X-Api-Key...), and validators for one resource mean nothing for another.
                request_headers = httpx.Headers()
            current = target

        raise FetchError(f"Too many redirects (more than {self.max_redirects}).")

    # -- steps --

    @staticmethod
    def _parse_url(raw: str | httpx.URL) -> httpx.URL:
        try:
            url = httpx.URL(raw)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise FetchError("This is not a valid web address.") from exc
        if url.scheme not in ("http", "https"):
            raise FetchError("Only http:// and https:// addresses can be fetched.")
        if not url.host:
            raise FetchError("This is not a valid web address.")
        return url

    async def _check(self, url: httpx.URL) -> _Pin:
        """Resolve the URL's host, apply the address policy and return the addresses to pin."""
        # Same spelling httpcore hands to the backend: ASCII/IDNA, IPv6 without brackets.
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = await asyncio.wait_for(resolve_host(host, port), self.connect_timeout)
        except TimeoutError as exc:
            raise FetchError("The address could not be found (DNS lookup timed out).") from exc
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise FetchError("The address could not be found (DNS lookup failed).") from exc
        if not addresses:
            raise FetchError("The address could not be found (DNS lookup failed).")
        if not self.allow_private:
            for address in addresses:
                if is_blocked_address(address):
                    raise BlockedAddress(
                        "The address points to a private network, which Zavod does not fetch from.",
                        address=address,
                    )
        return _Pin(host=host, port=port, addresses=tuple(addresses))

    async def _result(
        self,
        response: httpx.Response,
        url: httpx.URL,
        started: float,
        sent_etag: str | None,
        sent_last_modified: str | None,
    ) -> FetchResult:
        status = response.status_code
        not_modified = status == 304
        if not_modified:
            content = b""
        elif 200 <= status < 300:
            content = await self._read_capped(response)
        else:
            raise FetchError(_status_message(status), status_code=status)
        headers = response.headers
        return FetchResult(
            status_code=status,
            url=str(url),
            content=content,
            headers=headers,
            # A 304 may omit the validators; then the ones we sent are still the current ones.
            etag=headers.get("etag") or (sent_etag if not_modified else None),
            last_modified=headers.get("last-modified") or (sent_last_modified if not_modified else None),
            not_modified=not_modified,
            content_type=headers.get("content-type"),
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        too_large = FetchError(f"The response is larger than {_human_size(self.max_bytes)}.")
        declared = response.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise too_large  # refuse before downloading anything
        decoder = _decoder_for(response.headers)
        body = bytearray()
        received = 0
        try:
            # Raw bytes, decoded by us, so both the wire size and the decoded size are bounded.
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > self.max_bytes:
                    raise too_large
                room = self.max_bytes - len(body)
                decoded = decoder.decode(chunk, room)
                if len(decoded) > room:
                    raise too_large
                body += decoded
            body += decoder.flush()
        except zlib.error as exc:
            raise FetchError("The server sent a damaged compressed response.") from exc
        if len(body) > self.max_bytes:
            raise too_large
        return bytes(body)

    def _translate(self, exc: httpx.HTTPError) -> FetchError:
        if isinstance(exc, httpx.ConnectTimeout):
            return FetchError(f"The server could not be reached within {_seconds(self.connect_timeout)}.")
        if isinstance(exc, httpx.ReadTimeout):
            return FetchError(f"The server did not answer within {_seconds(self.read_timeout)}.")
        if isinstance(exc, httpx.TimeoutException):
            return FetchError("The server did not answer in time.")
        if isinstance(exc, httpx.ConnectError):
            ssl_error = _ssl_error_in_chain(exc)
            if isinstance(ssl_error, ssl.SSLCertVerificationError):
                return FetchError("The server's security certificate could not be verified.")
            if ssl_error is not None:
                return FetchError("A secure (HTTPS) connection to the server could not be set up.")
            return FetchError("Could not connect to the server.")
        if isinstance(exc, httpx.RemoteProtocolError):
            return FetchError("The server sent a response that is not valid HTTP.")
        return FetchError(f"The request failed ({type(exc).__name__}).")
