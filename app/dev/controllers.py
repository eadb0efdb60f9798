"""Sample feeds Zavod serves itself in development, so the whole path works offline."""

from __future__ import annotations

import hashlib
from pathlib import Path

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

FEEDS_DIR = Path(__file__).parent / "feeds"


class DevFeedController(Controller):
    path = "/dev/feeds"
    opt = {"exclude_from_auth": True}

    @get("/{name:str}")
    async def feed(self, request: Request, name: FromPath[str]) -> Response[bytes]:
        path = FEEDS_DIR / name
        if path.suffix != ".xml" or path.parent != FEEDS_DIR or not path.is_file():
            raise NotFoundException()
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(b"", status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/rss+xml; charset=utf-8", headers={"ETag": etag})
