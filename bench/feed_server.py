"""A small, fast feed server for the collection benchmark (bench/collect_bench.py).

    uv run python bench/feed_server.py --feeds 1010 --items 50 --hosts 250

Serves `/feeds/{n}.xml` for 0 <= n < --feeds: an RSS 2.0 document of --items items whose guids and
links are unique per n, with a strong ETag, and `304 Not Modified` when If-None-Match matches.
Every document (and its gzip form, served when asked for and --gzip is on) is rendered once at
start, so a request costs a dict lookup and a write.

Traffic stays on 127.0.0.0/8. A socket bound to 127.0.0.1 only accepts connections addressed to
127.0.0.1, although Linux routes all of 127.0.0.0/8 to the loopback interface; so one listening
socket is bound per address (127.0.0.1 and 127.0.0.2 ... 127.0.0.{hosts+1}), all on one port, and
one uvicorn server (uvloop + httptools, one process) serves them all. No 0.0.0.0: nothing beyond
loopback can reach it.

Prints `READY <port>` on stdout once it accepts connections.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import socket
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

FEED_PATH_PREFIX = b"/feeds/"


def host_for(n: int, hosts: int) -> str:
    """The loopback address feed n is fetched from: 127.0.0.2 ... 127.0.0.{hosts+1}, round robin."""
    return f"127.0.0.{2 + n % hosts}"


def render_feed(n: int, items: int) -> bytes:
    """An ordinary news feed: titles with an entity, HTML descriptions with a relative link and an
    image, a tracking parameter on the link, an author; guids and links unique to feed n."""
    base = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    site = f"https://site{n}.bench.example"
    parts = []
    for i in range(items):
        published = format_datetime(base - timedelta(minutes=17 * i))
        parts.append(
            f"""<item>
  <title>Feed {n}, story {i}: harbour news &amp; more</title>
  <link>{site}/news/{i}?utm_source=rss&amp;utm_medium=feed</link>
  <guid isPermaLink="false">bench-{n}-{i}</guid>
  <pubDate>{published}</pubDate>
  <dc:creator>Desk {i % 5}</dc:creator>
  <category>City</category>
  <description><![CDATA[<p>The ferry that links the two halves of the harbour is back in service after four
  months in dry dock, the port authority said on Saturday. <a href="/ferry/{i}">Timetable</a>.</p>
  <p><img src="/img/{n}/{i}.jpg" alt="" width="640" height="360"> Engineers replaced both engines and
  the passenger deck; the first crossing leaves at 06:40 and the last one at 23:10.</p>]]></description>
</item>
"""
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        f"<title>Bench feed {n}</title>\n<link>{site}/</link>\n"
        f"<description>Benchmark feed number {n}</description>\n<language>en</language>\n"
        + "".join(parts)
        + "</channel>\n</rss>\n"
    ).encode()


class FeedApp:
    """A raw ASGI app (no framework): the cheapest way uvicorn can answer."""

    def __init__(self, feeds: int, items: int, use_gzip: bool) -> None:
        self.documents: dict[bytes, tuple[bytes, bytes | None, bytes]] = {}
        for n in range(feeds):
            body = render_feed(n, items)
            etag = b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'
            packed = gzip.compress(body, compresslevel=6, mtime=0) if use_gzip else None
            self.documents[FEED_PATH_PREFIX + str(n).encode() + b".xml"] = (body, packed, etag)
        self.requests = 0

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.requests += 1
        document = self.documents.get(scope["raw_path"])
        if document is None or scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 404, [(b"content-type", b"text/plain")], b"not found\n")
            return
        body, packed, etag = document
        if_none_match = accept_encoding = b""
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
            elif name == b"accept-encoding":
                accept_encoding = value
        headers = [(b"etag", etag), (b"cache-control", b"max-age=0")]
        if if_none_match and (if_none_match == etag or etag in [v.strip() for v in if_none_match.split(b",")]):
            await _respond(send, 304, headers, b"")
            return
        headers.append((b"content-type", b"application/rss+xml; charset=utf-8"))
        headers.append((b"vary", b"accept-encoding"))
        if packed is not None and b"gzip" in accept_encoding:
            headers.append((b"content-encoding", b"gzip"))
            body = packed
        headers.append((b"content-length", str(len(body)).encode()))
        await _respond(send, 200, headers, body if scope["method"] == "GET" else b"")


async def _respond(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:  # noqa: ANN001
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def bind_loopback_sockets(hosts: int, port: int = 0) -> tuple[int, list[socket.socket]]:
    """One listening socket per loopback address, all on one port (tries a few ports)."""
    addresses = ["127.0.0.1"] + [f"127.0.0.{2 + i}" for i in range(hosts)]
    for _attempt in range(20):
        sockets: list[socket.socket] = []
        try:
            for address in addresses:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, port))
                port = sock.getsockname()[1]
                sock.listen(1024)
                sock.set_inheritable(True)
            return port, sockets
        except OSError:
            for sock in sockets:
                sock.close()
            port = 0  # taken on some address: let the kernel pick another one
    raise SystemExit("Could not bind one port on every loopback address.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=250, help="loopback addresses 127.0.0.2 ... (max 253)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--gzip", action="store_true", help="gzip the feeds when the client accepts it")
    args = parser.parse_args()
    if not 1 <= args.hosts <= 253:
        raise SystemExit("--hosts must be between 1 and 253")

    import uvicorn  # here, so that render_feed can be imported without it

    app = FeedApp(args.feeds, args.items, args.gzip)
    port, sockets = bind_loopback_sockets(args.hosts, args.port)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        backlog=1024,
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(config)

    original_startup = server.startup

    async def startup(sockets=None) -> None:  # noqa: ANN001
        await original_startup(sockets=sockets)
        print(f"READY {port}", flush=True)

    server.startup = startup  # type: ignore[method-assign]
    try:
        server.run(sockets=sockets)
    finally:
        print(f"served {app.requests} requests", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
