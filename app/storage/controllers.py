"""Serves local-backend media at the URLs `LocalMediaStorage.url()` signs.

With the S3 backend browsers load pre-signed URLs from the bucket directly and this route is 404.
The signature is the authorisation (the URL goes into <img>, into Instagram's fetcher ...), so
the route is public and skips session auth.
"""

from __future__ import annotations

import math
import time

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_403_FORBIDDEN, HTTP_404_NOT_FOUND

from app.storage.base import StorageObjectMissing, validate_key
from app.storage.local import LocalMediaStorage

__all__ = ["serve_local_media"]

# Uploaded media is user-controlled: never let a browser sniff it into HTML or run scripts in it
# on our origin (an uploaded .svg or text/html would otherwise be stored XSS).
_SAFETY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
}


def _plain(status_code: int, message: str) -> Response[str]:
    return Response(
        message,
        status_code=status_code,
        media_type="text/plain",  # Litestar appends "; charset=utf-8" to text/* types
        headers={"Cache-Control": "no-store", **_SAFETY_HEADERS},
    )


@get(
    "/media/{key:path}",
    name="media:serve",
    opt={"public": True},
    exclude_from_auth=True,
    include_in_schema=False,
    # Media is not JSON: let the handler's Response decide the media type.
    media_type="application/octet-stream",
)
async def serve_local_media(
    request: Request,
    key: FromPath[str],
    expires: FromQuery[int],
    signature: FromQuery[str],
) -> Response[bytes] | Response[str]:
    storage = getattr(request.app.state, "storage", None)
    if not isinstance(storage, LocalMediaStorage):
        return _plain(HTTP_404_NOT_FOUND, "Not found.")
    # The ":path" converter keeps the leading slash of the remainder; keys are relative.
    key = key.lstrip("/")
    try:
        validate_key(key)
    except ValueError:
        return _plain(HTTP_404_NOT_FOUND, "Not found.")
    if not storage.verify(key, expires, signature):
        return _plain(HTTP_403_FORBIDDEN, "This media link is invalid or has expired.")
    try:
        data, content_type = await storage.read(key)
    except StorageObjectMissing:
        return _plain(HTTP_404_NOT_FOUND, "Not found.")
    # Browsers may cache only until the link itself expires, and only for this user.
    remaining = max(0, math.floor(expires - time.time()))
    return Response(
        data,
        status_code=HTTP_200_OK,
        media_type=content_type,
        headers={
            # Set explicitly: Litestar would append a second charset to a stored "text/...; charset=".
            "Content-Type": content_type,
            "Cache-Control": f"private, max-age={remaining}",
            **_SAFETY_HEADERS,
        },
    )
