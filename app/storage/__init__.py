"""Media storage: one async interface, a local-filesystem backend and an S3 backend.

Build the storage once per process with `storage_from_settings(settings)` (web lifespan: put it in
`app.state.storage`; worker startup: in the SAQ context) and `await storage.close()` at shutdown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.storage.base import (
    MediaStorage,
    StorageError,
    StorageObjectMissing,
    client_media_key,
    validate_key,
)
from app.storage.local import LocalMediaStorage, sign_media_url, verify_media_signature
from app.storage.s3 import S3MediaStorage

if TYPE_CHECKING:
    from app.config import Settings

__all__ = [
    "LocalMediaStorage",
    "MediaStorage",
    "S3MediaStorage",
    "StorageError",
    "StorageObjectMissing",
    "client_media_key",
    "sign_media_url",
    "storage_from_settings",
    "validate_key",
    "verify_media_signature",
]


def storage_from_settings(settings: Settings) -> MediaStorage:
    """S3 when a bucket is configured (settings.media_backend == "s3"), else the local folder."""
    if settings.media_backend == "s3":
        return S3MediaStorage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
    return LocalMediaStorage(settings.media_root, settings.base_url, settings.secret_key)
