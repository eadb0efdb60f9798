"""Media in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2 ...) through aioboto3.

One aioboto3 Session and one long-lived client per storage object: opening a client costs a new
connection pool (and TLS handshakes), so it is created on first use and kept until `close()`.
The client belongs to the event loop that created it; each process (web, worker) builds its own
storage in its lifespan/startup and closes it at shutdown.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.storage.base import (
    MediaStorage,
    StorageError,
    StorageObjectMissing,
    validate_content_type,
    validate_expires_in,
    validate_key,
)

__all__ = ["S3MediaStorage"]

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


class S3MediaStorage(MediaStorage):
    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("S3MediaStorage needs a bucket name.")
        self.bucket = bucket
        # Empty strings (unset settings) mean "AWS default endpoint / default credential chain".
        self.endpoint_url = endpoint_url or None
        self.region = region or "us-east-1"
        self._client_kwargs: dict[str, Any] = {
            "region_name": self.region,
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": access_key_id or None,
            "aws_secret_access_key": secret_access_key or None,
            "config": Config(
                signature_version="s3v4",
                # Self-hosted stores rarely have wildcard DNS for virtual-host style bucket names.
                s3={"addressing_style": "path"} if self.endpoint_url else {},
                # botocore >= 1.36 adds CRC checksums to every upload by default, which several
                # S3-compatible stores reject; only send them where the API demands them.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        }
        self._session = aioboto3.Session()
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    @property
    def _where(self) -> str:
        return f"S3 bucket {self.bucket!r} at {self.endpoint_url or 'AWS'}"

    async def _s3(self) -> Any:
        """The shared client, opened on first use (the lock stops two callers opening two)."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    stack = AsyncExitStack()
                    self._client = await stack.enter_async_context(self._session.client("s3", **self._client_kwargs))
                    self._stack = stack
        return self._client

    def _error(self, action: str, key: str | None, exc: Exception) -> StorageError:
        what = f"media object {key!r} in {self._where}" if key else self._where
        if isinstance(exc, ClientError):
            detail = exc.response.get("Error", {}).get("Message") or _code(exc) or "request refused"
        else:
            detail = str(exc) or exc.__class__.__name__
        return StorageError(f"Could not {action} {what}: {detail}")

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        validate_content_type(content_type)
        s3 = await self._s3()
        try:
            await s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(data), ContentType=content_type)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._error("save", key, exc) from exc

    async def get(self, key: str) -> bytes:
        validate_key(key)
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as body:
                return await body.read()
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                raise StorageObjectMissing(key) from exc
            raise self._error("read", key, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise self._error("read", key, exc) from exc

    async def delete(self, key: str) -> None:
        validate_key(key)
        s3 = await self._s3()
        try:
            # S3 answers 204 whether or not the key existed, which is the idempotence we promise.
            await s3.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._error("delete", key, exc) from exc

    async def exists(self, key: str) -> bool:
        validate_key(key)
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            # HEAD responses have no body, so a missing key shows up only as a bare 404.
            if _code(exc) in _MISSING_CODES or _status(exc) == 404:
                return False
            raise self._error("look up", key, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise self._error("look up", key, exc) from exc
        return True

    async def url(self, key: str, expires_in: int = 3600) -> str:
        validate_key(key)
        validate_expires_in(expires_in)
        s3 = await self._s3()
        try:
            # Signed locally, no request is made: the URL points at endpoint_url, so that endpoint
            # must be reachable by whoever loads the URL (browser, Instagram ...).
            url: str = await s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._error("sign a URL for", key, exc) from exc
        return url

    async def check(self) -> None:
        s3 = await self._s3()
        try:
            await s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            status = _status(exc)
            if status == 404 or _code(exc) in {"404", "NoSuchBucket"}:
                raise StorageError(f"{self._where} does not exist.") from exc
            if status == 403:
                raise StorageError(f"Access to {self._where} was refused: check the S3 access key and secret.") from exc
            raise self._error("reach", None, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise self._error("reach", None, exc) from exc

    async def close(self) -> None:
        async with self._lock:
            stack, self._stack, self._client = self._stack, None, None
            if stack is not None:
                await stack.aclose()
