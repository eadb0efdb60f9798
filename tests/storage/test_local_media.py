"""What only the local backend has: HMAC-signed media URLs and the route that serves them."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import AsyncTestClient

from app.storage import LocalMediaStorage, S3MediaStorage, client_media_key, sign_media_url
from app.storage.local import media_signature, verify_media_signature

SECRET = "another-test-secret-0123456789abcdefghij"
KEY = "clients/42/scenes/1.png"

LocalClient = tuple[LocalMediaStorage, AsyncTestClient]


def _query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_signed_url_shape() -> None:
    url = sign_media_url("https://zavod.example/", KEY, 2_000_000_000, SECRET)
    signature = media_signature(KEY, 2_000_000_000, SECRET)
    assert url == f"https://zavod.example/media/{KEY}?expires=2000000000&signature={signature}"
    assert len(signature) == 64


def test_signed_url_quotes_the_key() -> None:
    url = sign_media_url("http://x", "clients/1/a b?#.png", 2_000_000_000, SECRET)
    assert urlsplit(url).path == "/media/clients/1/a%20b%3F%23.png"


def test_verify_accepts_a_fresh_signature() -> None:
    expires = int(time.time()) + 60
    assert verify_media_signature(KEY, expires, media_signature(KEY, expires, SECRET), SECRET)


@pytest.mark.parametrize(
    ("key", "expires_delta", "signature_of", "secret"),
    [
        ("clients/42/scenes/2.png", 60, KEY, SECRET),  # signed for another key
        (KEY, 61, KEY, SECRET),  # expiry pushed after signing
        (KEY, 60, KEY, "some-other-secret-key-0123456789abcdef"),  # another deployment's secret
    ],
)
def test_verify_rejects_a_mismatch(key: str, expires_delta: int, signature_of: str, secret: str) -> None:
    now = int(time.time())
    signature = media_signature(signature_of, now + 60, SECRET)
    assert not verify_media_signature(key, now + expires_delta, signature, secret)


def test_verify_rejects_expired_and_junk() -> None:
    now = int(time.time())
    assert not verify_media_signature(KEY, now - 1, media_signature(KEY, now - 1, SECRET), SECRET)
    # Exactly at the expiry second the link is already dead.
    assert not verify_media_signature(KEY, now, media_signature(KEY, now, SECRET), SECRET, now=now)
    assert not verify_media_signature(KEY, now + 60, "", SECRET)
    assert not verify_media_signature(KEY, now + 60, "é" * 64, SECRET)  # non-ASCII must not raise


async def test_route_serves_with_private_cache(local_client: LocalClient) -> None:
    storage, client = local_client
    await storage.put(KEY, b"png-bytes", "image/png")
    response = await client.get(await storage.url(KEY, expires_in=300))
    assert response.status_code == 200
    assert response.content == b"png-bytes"
    assert response.headers["content-type"] == "image/png"
    cache_control = response.headers["cache-control"]
    assert cache_control.startswith("private, max-age=")
    assert 295 <= int(cache_control.rsplit("=", 1)[1]) <= 300
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_route_refuses_a_tampered_signature(local_client: LocalClient) -> None:
    storage, client = local_client
    await storage.put(KEY, b"png-bytes", "image/png")
    url = await storage.url(KEY)
    query = _query(url)
    flipped = ("0" if query["signature"][0] != "0" else "1") + query["signature"][1:]
    response = await client.get(url.replace(query["signature"], flipped))
    assert response.status_code == 403
    assert "invalid or has expired" in response.text
    assert b"png-bytes" not in response.content


async def test_route_refuses_a_signature_for_another_key(local_client: LocalClient) -> None:
    storage, client = local_client
    other = "clients/43/scenes/1.png"
    await storage.put(other, b"secret of client 43", "image/png")
    query = _query(await storage.url(KEY))  # a valid link, but for client 42's key
    response = await client.get(f"/media/{other}", params=query)
    assert response.status_code == 403


async def test_route_refuses_an_expired_link(local_client: LocalClient) -> None:
    storage, client = local_client
    await storage.put(KEY, b"png-bytes", "image/png")
    # A genuine signature (the storage's own secret) whose time is up.
    expires = int(time.time()) - 5
    signature = media_signature(KEY, expires, storage._secret_key)
    response = await client.get(f"/media/{KEY}", params={"expires": expires, "signature": signature})
    assert response.status_code == 403


async def test_route_needs_its_query_parameters(local_client: LocalClient) -> None:
    storage, client = local_client
    await storage.put(KEY, b"png-bytes", "image/png")
    response = await client.get(f"/media/{KEY}")
    assert response.status_code == 400


async def test_route_404_for_bad_key_or_missing_file(local_client: LocalClient) -> None:
    storage, client = local_client
    missing = await storage.url("clients/42/missing.png")
    assert (await client.get(missing)).status_code == 404
    # Not a media key at all (and a traversal attempt): 404, whatever the signature.
    expires = int(time.time()) + 60
    for key in ("etc/passwd", "clients/42/%2e%2e/%2e%2e/x"):
        response = await client.get(f"/media/{key}", params={"expires": expires, "signature": "0" * 64})
        assert response.status_code == 404


async def test_route_404_when_storage_is_not_local(local_client: LocalClient) -> None:
    storage, client = local_client
    await storage.put(KEY, b"png-bytes", "image/png")
    url = await storage.url(KEY)
    client.app.state.storage = S3MediaStorage(bucket="media", endpoint_url="http://127.0.0.1:1")
    assert (await client.get(url)).status_code == 404
    del client.app.state.storage
    assert (await client.get(url)).status_code == 404


async def test_content_type_falls_back_to_the_extension(local_client: LocalClient) -> None:
    storage, client = local_client
    path = storage.path_for("clients/42/copied-by-hand.jpg")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"jpeg")  # no sidecar
    response = await client.get(await storage.url("clients/42/copied-by-hand.jpg"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"


async def test_put_leaves_only_the_object_and_its_sidecar(tmp_path: Path) -> None:
    storage = LocalMediaStorage(tmp_path, "http://x", SECRET)
    key = client_media_key(uuid.uuid4(), "a.png")
    await storage.put(key, b"1", "image/png")
    await storage.put(key, b"2", "image/png")
    folder = storage.path_for(key).parent
    assert sorted(p.name for p in folder.iterdir()) == [".a.png.meta", "a.png"]
    await storage.delete(key)
    assert list(folder.iterdir()) == []


async def test_check_leaves_no_probe_behind(tmp_path: Path) -> None:
    storage = LocalMediaStorage(tmp_path / "media", "http://x", SECRET)
    await storage.check()
    assert list((tmp_path / "media").iterdir()) == []
