"""Fixtures for the fetcher tests: a local HTTP server on 127.0.0.1, fake DNS and a connect guard.

Nothing here may reach beyond 127.0.0.1: the `only_loopback_connections` guard fails any test in
which the fetcher tries to open a socket anywhere else.
"""

from __future__ import annotations

import datetime
import gzip
import json
import ssl
import sys
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpcore
import pytest

# `uv run pytest` does not put the project root on sys.path (tool.uv.package = false, and there is
# no top-level conftest yet), so make `import app` work from here.
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from app.net import fetcher as fetcher_module  # noqa: E402
from app.net.fetcher import SafeFetcher  # noqa: E402

ETAG = '"v1"'
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"
PLAIN_BODY = b"hello, world\n"
TEST_MAX_BYTES = 1024 * 1024  # 1 MB keeps the size tests fast
# ~50 MB of zeros compresses to ~50 KB: far under the cap on the wire, far over it decoded.
GZIP_BOMB = gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]


@dataclass
class LocalServer:
    port: int
    requests: list[SeenRequest] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, like real servers
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _send_chunked(self, chunks: Iterator[bytes], headers: dict[str, str] | None = None) -> None:
        """A body without Content-Length, so only streaming can tell its size."""
        self.send_response(200)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on purpose (size cap)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.server.seen.requests.append(SeenRequest(self.path, dict(self.headers.items())))
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        parts = path.strip("/").split("/")

        if path == "/plain":
            self._send(200, PLAIN_BODY, {"Content-Type": "text/plain; charset=utf-8"})
        elif path == "/echo":
            body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
            self._send(200, body, {"Content-Type": "application/json"})
        elif path == "/cached":
            validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
            if self.headers.get("If-None-Match") == ETAG or (self.headers.get("If-Modified-Since") == LAST_MODIFIED):
                self._send(304, b"", validators)
            else:
                self._send(200, b"<rss>cached</rss>", {"Content-Type": "application/rss+xml", **validators})
        elif path == "/bare-304":
            self._send(304)  # a 304 that omits the validators
        elif parts[0] == "redirect" and len(parts) == 2:
            left = int(parts[1])
            # Alternate relative and absolute Location headers; both are common.
            target = "/plain" if left == 0 else f"/redirect/{left - 1}"
            if left % 2:
                target = self.server.seen.base + target
            self._send(302, b"", {"Location": target})
        elif path == "/redirect-to":
            code = int(query.get("code", ["302"])[0])
            self._send(code, b"", {"Location": query["url"][0]})
        elif path == "/gzip":
            self._send(200, gzip.compress(PLAIN_BODY * 100), {"Content-Encoding": "gzip"})
        elif path == "/deflate":
            self._send(200, zlib.compress(PLAIN_BODY * 100), {"Content-Encoding": "deflate"})
        elif path == "/deflate-raw":
            raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            body = raw.compress(PLAIN_BODY * 100) + raw.flush()
            self._send(200, body, {"Content-Encoding": "deflate"})
        elif path == "/gzip-bomb":
            self._send(200, GZIP_BOMB, {"Content-Encoding": "gzip", "Content-Type": "application/xml"})
        elif parts[0] == "gzip-bytes":  # gzip of exactly N decoded bytes
            self._send(200, gzip.compress(b"a" * int(parts[1])), {"Content-Encoding": "gzip"})
        elif parts[0] == "bytes":  # exactly N bytes, chunked (no Content-Length)
            total = int(parts[1])
            self._send_chunked(b"x" * min(65536, total - i) for i in range(0, total, 65536))
        elif path == "/big-length":
            self._send(200, b"x" * (2 * TEST_MAX_BYTES))
        elif path == "/brotli":
            self._send(200, b"\x8b\x00\x80binary", {"Content-Encoding": "br"})
        elif path == "/slow":
            time.sleep(1.0)  # longer than the tests' read timeout
            try:
                self._send(200, b"too late")
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif parts[0] == "status":
            self._send(int(parts[1]), b"error page", {"Content-Type": "text/html"})
        else:
            self._send(404, b"no such test route")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in /slow must not hold up the test run
    seen: LocalServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The size-cap and timeout tests hang up mid-response on purpose; that is not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@pytest.fixture(scope="session")
def server() -> Iterator[LocalServer]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.seen = LocalServer(port=httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, name="test-http-server", daemon=True)
    thread.start()
    try:
        yield httpd.seen
    finally:
        httpd.shutdown()
        httpd.server_close()


class _TLSServer(_Server):
    ssl_context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Handshake in the handler thread, so a client that rejects our certificate only ends
        # its own connection.
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


@dataclass
class TLSServer(LocalServer):
    ca_file: str = ""
    sni_names: list[str | None] = field(default_factory=list)


def _make_certificates(directory: Path, hostname: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for `hostname` signed by it (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Zavod test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


TLS_HOSTNAME = "feed.test"


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    """The same routes over HTTPS, with a certificate valid only for feed.test."""
    ca_file, cert_file, key_file = _make_certificates(tmp_path_factory.mktemp("tls"), TLS_HOSTNAME)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    httpd = _TLSServer(("127.0.0.1", 0), _Handler)
    httpd.ssl_context = context
    seen = TLSServer(port=httpd.server_address[1], ca_file=str(ca_file))
    # Record the SNI name each client asked for: it must be the hostname, never the pinned IP.
    context.sni_callback = lambda _sock, name, _ctx: seen.sni_names.append(name)
    httpd.seen = seen
    thread = threading.Thread(target=httpd.serve_forever, name="test-https-server", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def only_loopback_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse, and fail the test on, any socket the fetcher opens to something but 127.0.0.1."""
    real_connect = httpcore.AnyIOBackend.connect_tcp
    violations: list[str] = []

    async def guarded(self: httpcore.AnyIOBackend, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host != "127.0.0.1":
            violations.append(f"{host}:{port}")
            raise httpcore.ConnectError(f"test guard: no connections to {host}")
        return await real_connect(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", guarded)
    yield violations
    assert not violations, f"the fetcher tried to connect outside 127.0.0.1: {violations}"


@dataclass
class FakeDNS:
    """Answers for made-up names; everything else goes to the real resolver (localhost, .invalid)."""

    answers: dict[str, list[str] | Callable[[], list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def __setitem__(self, host: str, answer: list[str] | Callable[[], list[str]]) -> None:
        self.answers[host] = answer


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    dns = FakeDNS()
    real_resolve = fetcher_module.resolve_host

    async def resolve(host: str, port: int) -> list[str]:
        dns.lookups.append(host)
        answer = dns.answers.get(host)
        if answer is None:
            return await real_resolve(host, port)
        return answer() if callable(answer) else list(answer)

    monkeypatch.setattr(fetcher_module, "resolve_host", resolve)
    return dns


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let strict (allow_private=False) fetchers reach the test server, and only it.

    The redirect tests need a first hop that passes the policy; pretending 127.0.0.1 is public is
    the only way to get one without the internet. Every other address keeps the real policy.
    """
    real = fetcher_module.is_blocked_address
    monkeypatch.setattr(fetcher_module, "is_blocked_address", lambda address: address != "127.0.0.1" and real(address))


FetcherFactory = Callable[..., SafeFetcher]


@pytest.fixture
async def make_fetcher() -> AsyncIterator[FetcherFactory]:
    """Build fetchers with test-friendly defaults (local server allowed, 1 MB cap, short timeouts)."""
    made: list[SafeFetcher] = []

    def make(**overrides: Any) -> SafeFetcher:
        options: dict[str, Any] = {
            "allow_private": True,
            "max_bytes": TEST_MAX_BYTES,
            "connect_timeout": 2.0,
            "read_timeout": 2.0,
        }
        options.update(overrides)
        fetcher = SafeFetcher(**options)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        await fetcher.aclose()
