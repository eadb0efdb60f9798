"""The MediaStorage contract: every test runs once per backend (local folder, S3 via moto)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.config import Settings
from app.storage import (
    LocalMediaStorage,
    MediaStorage,
    S3MediaStorage,
    StorageError,
    StorageObjectMissing,
    client_media_key,
    storage_from_settings,
)

if TYPE_CHECKING:  # conftest is pytest's to import; importing it again would load a second copy
    from tests.storage.conftest import Backend

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # binary, with every byte value

BAD_KEYS = [
    "",
    "/clients/1/a.png",  # absolute
    "clients/1/../2/a.png",  # traversal
    "clients/1/..",
    "clients/1/./a.png",
    "clients/1/.meta",  # dot files are reserved for the local backend's sidecars/temp files
    "clients/1\\a.png",  # backslash
    "clients/1/a\x00.png",  # NUL
    "clients/1/a\n.png",  # control character
    "clients//a.png",  # empty segment
    "clients/1/",  # trailing slash
    "clients/1",  # no object name after the client
    "media/1/a.png",  # not under clients/
    "clients/1/" + "a" * 1100,  # longer than S3 allows
]


async def test_put_get_roundtrip(storage: MediaStorage, client_id: uuid.UUID) -> None:
    key = client_media_key(client_id, "assets", "card.png")
    await storage.put(key, PNG, "image/png")
    assert await storage.get(key) == PNG
    assert await storage.exists(key)


async def test_unicode_and_odd_characters_in_key(backend: Backend, client_id: uuid.UUID) -> None:
    key = client_media_key(client_id, "uploads", "Новость дня #1?&+=.txt")
    await backend.storage.put(key, "привет".encode(), "text/plain; charset=utf-8")
    assert (await backend.storage.get(key)).decode() == "привет"
    response = await backend.fetch(await backend.storage.url(key))
    assert response.status_code == 200
    assert response.content.decode() == "привет"


async def test_empty_object(storage: MediaStorage, client_id: uuid.UUID) -> None:
    key = client_media_key(client_id, "empty.bin")
    await storage.put(key, b"", "application/octet-stream")
    assert await storage.exists(key)
    assert await storage.get(key) == b""


async def test_overwrite_replaces_bytes_and_type(backend: Backend, client_id: uuid.UUID) -> None:
    storage = backend.storage
    key = client_media_key(client_id, "scene-1")
    await storage.put(key, PNG, "image/png")
    await storage.put(key, b"GIF89a", "image/gif")
    assert await storage.get(key) == b"GIF89a"
    response = await backend.fetch(await storage.url(key))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"


async def test_delete_is_idempotent(storage: MediaStorage, client_id: uuid.UUID) -> None:
    key = client_media_key(client_id, "video.mp4")
    await storage.put(key, b"mp4", "video/mp4")
    await storage.delete(key)
    assert not await storage.exists(key)
    with pytest.raises(StorageObjectMissing):
        await storage.get(key)
    await storage.delete(key)  # already gone: fine
    await storage.delete(client_media_key(client_id, "never-existed"))


async def test_missing_object(storage: MediaStorage, client_id: uuid.UUID) -> None:
    key = client_media_key(client_id, "nope.png")
    assert not await storage.exists(key)
    with pytest.raises(StorageObjectMissing) as caught:
        await storage.get(key)
    assert isinstance(caught.value, StorageError)
    assert caught.value.key == key


async def test_prefix_of_other_keys_is_not_an_object(storage: MediaStorage, client_id: uuid.UUID) -> None:
    # On disk "clients/x/stories" becomes a folder; it must still read as "no object here".
    await storage.put(client_media_key(client_id, "stories", "1.png"), PNG, "image/png")
    folder_key = client_media_key(client_id, "stories")
    assert not await storage.exists(folder_key)
    with pytest.raises(StorageObjectMissing):
        await storage.get(folder_key)
    await storage.delete(folder_key)
    assert await storage.exists(client_media_key(client_id, "stories", "1.png"))


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_are_refused(storage: MediaStorage, key: str) -> None:
    with pytest.raises(ValueError):
        await storage.put(key, b"x", "text/plain")
    with pytest.raises(ValueError):
        await storage.get(key)
    with pytest.raises(ValueError):
        await storage.exists(key)
    with pytest.raises(ValueError):
        await storage.delete(key)
    with pytest.raises(ValueError):
        await storage.url(key)


@pytest.mark.parametrize("content_type", ["", "png", "image/png\r\nX-Evil: 1", "image/png; charset"])
async def test_bad_content_type_is_refused(storage: MediaStorage, client_id: uuid.UUID, content_type: str) -> None:
    with pytest.raises(ValueError):
        await storage.put(client_media_key(client_id, "a.png"), b"x", content_type)


@pytest.mark.parametrize("expires_in", [0, -1, 8 * 24 * 3600])
async def test_bad_url_lifetime_is_refused(storage: MediaStorage, client_id: uuid.UUID, expires_in: int) -> None:
    with pytest.raises(ValueError):
        await storage.url(client_media_key(client_id, "a.png"), expires_in=expires_in)


async def test_url_serves_the_bytes(backend: Backend, client_id: uuid.UUID) -> None:
    key = client_media_key(client_id, "scenes", "1.png")
    await backend.storage.put(key, PNG, "image/png")
    url = await backend.storage.url(key, expires_in=600)
    assert url.startswith("http")
    response = await backend.fetch(url)
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"


async def test_url_of_missing_object_is_404(backend: Backend, client_id: uuid.UUID) -> None:
    response = await backend.fetch(await backend.storage.url(client_media_key(client_id, "gone.png")))
    assert response.status_code == 404


async def test_check_ok(storage: MediaStorage) -> None:
    await storage.check()


async def test_check_reports_a_broken_store(backend: Backend) -> None:
    with pytest.raises(StorageError) as caught:
        await backend.broken.check()
    assert str(caught.value)  # a message a person can read on /health


async def test_check_reports_an_unreachable_s3_endpoint(unreachable_s3: S3MediaStorage) -> None:
    with pytest.raises(StorageError, match="Could not reach"):
        await unreachable_s3.check()


def test_client_media_key() -> None:
    client = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert client_media_key(client, "a", "b.png") == f"clients/{client}/a/b.png"
    assert client_media_key(7, "x.mp4") == "clients/7/x.mp4"
    with pytest.raises(ValueError):
        client_media_key(client)  # no object name
    with pytest.raises(ValueError):
        client_media_key("1/../2", "a.png")
    with pytest.raises(ValueError):
        client_media_key(client, "..", "a.png")


def test_storage_from_settings(tmp_path: Path) -> None:
    local = storage_from_settings(Settings(media_root=tmp_path, secret_key="s" * 40))
    assert isinstance(local, LocalMediaStorage)
    assert local.root == tmp_path
    s3 = storage_from_settings(Settings(s3_bucket="media", s3_endpoint_url="http://127.0.0.1:9000"))
    assert isinstance(s3, S3MediaStorage)
    assert s3.bucket == "media"
    assert s3.endpoint_url == "http://127.0.0.1:9000"
