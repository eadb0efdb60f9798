"""The media storage interface shared by the local-filesystem and S3 backends.

Everything above this layer (jobs, channels, pages) talks to `MediaStorage` only, so the same code
runs against a folder in development and an S3-compatible bucket in production.
"""

from __future__ import annotations

import abc
import re
from uuid import UUID

__all__ = [
    "MAX_URL_EXPIRES_IN",
    "MediaStorage",
    "StorageError",
    "StorageObjectMissing",
    "client_media_key",
    "validate_content_type",
    "validate_expires_in",
    "validate_key",
]

# S3 refuses pre-signed URLs that live longer than 7 days; the local backend follows the same rule
# so code written against one backend does not break on the other.
MAX_URL_EXPIRES_IN = 7 * 24 * 3600

# S3 limits keys to 1024 bytes of UTF-8.
_MAX_KEY_BYTES = 1024
# Control characters (C0, DEL, C1) have no business in a key: they break logs, headers and URLs.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# "type/subtype" plus optional parameters; what we store ends up verbatim in a Content-Type header.
_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=(\"[^\"]*\"|[\w.+-]+))*$")


class StorageError(Exception):
    """The storage backend failed; the message is meant to be read by a person (e.g. on /health)."""


class StorageObjectMissing(StorageError):
    """No object is stored under the requested key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"No media object is stored under {key!r}.")
        self.key = key


def validate_key(key: str) -> str:
    """Return `key` unchanged if it is a safe media key, else raise ValueError.

    Keys become file paths (local backend) and URL paths (both backends), so anything that could
    escape the media root or be read differently by two systems is refused. Every key is scoped to a
    client (`clients/{client_id}/...`) so tenant data never mixes, even in storage.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("A media key must be a non-empty string.")
    if len(key.encode("utf-8")) > _MAX_KEY_BYTES:
        raise ValueError(f"A media key must be at most {_MAX_KEY_BYTES} bytes long.")
    if key.startswith("/"):
        raise ValueError(f"A media key must be relative, not {key!r}.")
    if "\\" in key:
        raise ValueError(f"A media key must not contain a backslash: {key!r}.")
    if _CONTROL_CHARS.search(key):
        raise ValueError(f"A media key must not contain control characters: {key!r}.")
    parts = key.split("/")
    for part in parts:
        # Empty parts ("a//b", trailing "/") mean different things to a filesystem and to S3;
        # dot-prefixed names are reserved for the local backend's temp files and sidecars,
        # which also rules out "." and "..".
        if not part or part.startswith(".") or part != part.strip():
            raise ValueError(f"Bad media key {key!r}: empty, dot-prefixed or padded path segment.")
    if len(parts) < 3 or parts[0] != "clients":
        raise ValueError(f"A media key must look like 'clients/{{client_id}}/...', not {key!r}.")
    return key


def client_media_key(client_id: UUID | int | str, *parts: str) -> str:
    """Build (and validate) the key of a client's media object: `clients/{client_id}/{parts...}`."""
    if not parts:
        raise ValueError("client_media_key needs at least one path part after the client id.")
    client = str(client_id)
    if not client or "/" in client:
        # A slash would silently move the object under another "client" prefix.
        raise ValueError(f"Bad client id {client_id!r} for a media key.")
    return validate_key("/".join(("clients", client, *parts)))


def validate_content_type(content_type: str) -> str:
    """Return `content_type` if it is a plain MIME type, else raise ValueError.

    The stored type is sent back verbatim as a response header, so CR/LF or junk must not get in.
    """
    if not isinstance(content_type, str) or not _CONTENT_TYPE.match(content_type):
        raise ValueError(f"Bad content type {content_type!r}; expected e.g. 'image/png'.")
    return content_type


def validate_expires_in(expires_in: int) -> int:
    """Return `expires_in` if it is a sensible URL lifetime in seconds, else raise ValueError."""
    if not isinstance(expires_in, int) or not 0 < expires_in <= MAX_URL_EXPIRES_IN:
        raise ValueError(f"expires_in must be between 1 and {MAX_URL_EXPIRES_IN} seconds.")
    return expires_in


class MediaStorage(abc.ABC):
    """Async key/value store for media bytes, with browser-loadable signed URLs.

    Implementations validate every key with `validate_key` and raise `StorageError` (with a message
    a person understands) for backend failures, never a backend-specific exception.
    """

    @abc.abstractmethod
    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing any previous object atomically."""

    @abc.abstractmethod
    async def get(self, key: str) -> bytes:
        """Return the bytes stored under `key`; raise `StorageObjectMissing` if there are none."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object under `key`; deleting a missing object is not an error."""

    @abc.abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""

    @abc.abstractmethod
    async def url(self, key: str, expires_in: int = 3600) -> str:
        """A signed URL a browser (or a channel API) can GET for `expires_in` seconds.

        The URL is not checked against the store: a URL for a missing key answers 404 when loaded.
        """

    @abc.abstractmethod
    async def check(self) -> None:
        """Raise `StorageError` with a plain-words message if the store is unreachable/unwritable."""

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op for stateless backends
        """Release connections; the storage must not be used afterwards."""
