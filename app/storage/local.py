"""Media on the local filesystem, served by the app itself through HMAC-signed, expiring URLs.

Meant for development and single-machine installs. Layout under `root`: the object bytes at
`root/<key>` and its content type in a sidecar `.<name>.meta` next to it. Keys can never name a
dot-prefixed file (see `validate_key`), so sidecars and temp files cannot collide with objects.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import mimetypes
import os
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from app.storage.base import (
    MediaStorage,
    StorageError,
    StorageObjectMissing,
    validate_content_type,
    validate_expires_in,
    validate_key,
)

__all__ = ["LocalMediaStorage", "media_signature", "sign_media_url", "verify_media_signature"]

# Mixed into every signed message so a media signature can never be replayed as (or forged from)
# another HMAC the app computes with the same secret key.
_SIGNING_PURPOSE = "zavod-media-url"
_FALLBACK_CONTENT_TYPE = "application/octet-stream"


def media_signature(key: str, expires: int, secret_key: str) -> str:
    """Hex HMAC-SHA256 of (key, expires) under `secret_key`."""
    # Newline-separated so ("a1", 23) and ("a12", 3) sign differently; keys cannot hold newlines.
    message = f"{_SIGNING_PURPOSE}\n{key}\n{int(expires)}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def sign_media_url(base_url: str, key: str, expires: int, secret_key: str) -> str:
    """`{base_url}/media/{key}?expires={unix}&signature={hex}` for the `serve_local_media` route."""
    validate_key(key)
    expires = int(expires)
    signature = media_signature(key, expires, secret_key)
    return f"{base_url.rstrip('/')}/media/{quote(key, safe='/')}?expires={expires}&signature={signature}"


def verify_media_signature(
    key: str, expires: int, signature: str, secret_key: str, *, now: float | None = None
) -> bool:
    """True if `signature` was made by `sign_media_url` for this key and has not expired yet."""
    current = time.time() if now is None else now
    if expires <= current:
        return False
    expected = media_signature(key, expires, secret_key).encode()
    try:
        given = signature.encode("ascii")
    except UnicodeEncodeError:  # compare_digest refuses non-ASCII str; such input is simply wrong
        return False
    return hmac.compare_digest(expected, given)


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.meta")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder + os.replace: readers see old or new, never half."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())  # the rename must not land before the bytes do after a crash
        # mkstemp creates 0600; a web server in front of the media folder may run as another user.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


class LocalMediaStorage(MediaStorage):
    def __init__(self, root: Path, base_url: str, secret_key: str) -> None:
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")
        self._secret_key = secret_key

    def path_for(self, key: str) -> Path:
        """The file holding `key` (after validation, so it is always inside `root`)."""
        return self.root / validate_key(key)

    # Blocking filesystem work runs in worker threads so a large file never stalls the event loop.

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_for(key)
        validate_content_type(content_type)
        try:
            await asyncio.to_thread(self._put_sync, path, bytes(data), content_type)
        except OSError as exc:
            raise StorageError(f"Could not save media object {key!r}: {_reason(exc)}.") from exc

    @staticmethod
    def _put_sync(path: Path, data: bytes, content_type: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Sidecar first: a reader that sees the new bytes also sees their type.
        _write_atomically(_sidecar(path), content_type.encode())
        _write_atomically(path, data)

    async def get(self, key: str) -> bytes:
        data, _ = await self.read(key)
        return data

    async def read(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and content type (what the serving route needs)."""
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(self._read_sync, path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            # A directory or a file-in-the-middle means "no object under that key", like S3.
            raise StorageObjectMissing(key) from exc
        except OSError as exc:
            raise StorageError(f"Could not read media object {key!r}: {_reason(exc)}.") from exc

    @staticmethod
    def _read_sync(path: Path) -> tuple[bytes, str]:
        data = path.read_bytes()
        try:
            content_type = _sidecar(path).read_text().strip()
        except FileNotFoundError:
            # Files copied in by hand have no sidecar: fall back on the extension.
            content_type = mimetypes.guess_type(path.name)[0] or _FALLBACK_CONTENT_TYPE
        return data, content_type

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        try:
            await asyncio.to_thread(self._delete_sync, path)
        except OSError as exc:
            raise StorageError(f"Could not delete media object {key!r}: {_reason(exc)}.") from exc

    @staticmethod
    def _delete_sync(path: Path) -> None:
        # Bytes first, so exists() turns False before the sidecar goes. Empty folders are left in
        # place: removing them would race with a concurrent put() into the same folder.
        for target in (path, _sidecar(path)):
            try:
                target.unlink()
            except (FileNotFoundError, NotADirectoryError):
                pass
            except IsADirectoryError:  # the key is a "folder" of other keys: nothing to delete
                pass

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(os.path.isfile, self.path_for(key))

    async def url(self, key: str, expires_in: int = 3600) -> str:
        validate_expires_in(expires_in)
        expires = int(time.time()) + expires_in
        return sign_media_url(self.base_url, key, expires, self._secret_key)

    def verify(self, key: str, expires: int, signature: str) -> bool:
        """Check a signature made by `url()` with this storage's secret."""
        return verify_media_signature(key, expires, signature, self._secret_key)

    async def check(self) -> None:
        try:
            await asyncio.to_thread(self._check_sync)
        except OSError as exc:
            raise StorageError(f"Media folder {self.root} is not usable: {_reason(exc)}.") from exc

    def _check_sync(self) -> None:
        # Prove the folder is writable and readable with a real write, as put() would do it.
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / f".health-{uuid.uuid4().hex}"
        payload = b"ok"
        try:
            _write_atomically(probe, payload)
            if probe.read_bytes() != payload:
                raise OSError(0, "a test file read back different bytes")
        finally:
            probe.unlink(missing_ok=True)
