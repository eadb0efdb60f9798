"""Fixtures for the media storage contract: every test runs against the local backend and against
S3 (a real `moto_server` process speaking the S3 HTTP API, so aioboto3 is exercised end to end)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

# `uv run pytest` does not put the project root on sys.path (the project is not installed:
# tool.uv.package = false). Make `import app` work without depending on a top-level conftest.
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from litestar.testing import AsyncTestClient, create_async_test_client  # noqa: E402

from app.storage import LocalMediaStorage, MediaStorage, S3MediaStorage  # noqa: E402
from app.storage.controllers import serve_local_media  # noqa: E402

TEST_SECRET = "test-secret-key-for-media-urls-0123456789"
LOCAL_BASE_URL = "http://testserver.local"  # the test client's own base URL, so signed URLs resolve
S3_BUCKET = "zavod-test-media"
S3_CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}
MOTO_START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_server_executable() -> str:
    # Next to the running interpreter first: that is the project's .venv/bin under `uv run`.
    candidate = Path(sys.executable).parent / "moto_server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("moto_server")
    if found is None:
        pytest.fail("moto_server not found: install the dev dependencies (moto[server]).")
    return found


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `moto_server` on a free port, wait until it answers, stop it after the session."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    # Output goes to a file, not a pipe: nobody reads a pipe and a full one would block the server.
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [_moto_server_executable(), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + MOTO_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"moto_server exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                # trust_env=False: a proxy from the environment must not swallow localhost traffic.
                httpx.get(f"{endpoint}/moto-api/", timeout=1.0, trust_env=False)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer within {MOTO_START_TIMEOUT}s")
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def s3_bucket(moto_endpoint: str) -> str:
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_CREDENTIALS["access_key_id"],
        aws_secret_access_key=S3_CREDENTIALS["secret_access_key"],
    )
    client.create_bucket(Bucket=S3_BUCKET)
    return S3_BUCKET


def make_s3_storage(endpoint: str, bucket: str) -> S3MediaStorage:
    return S3MediaStorage(bucket=bucket, endpoint_url=endpoint, region="us-east-1", **S3_CREDENTIALS)


Fetch = Callable[[str], Awaitable[httpx.Response]]


@dataclass
class Backend:
    name: str
    storage: MediaStorage
    fetch: Fetch  # loads a URL from storage.url() the way a browser would
    broken: MediaStorage  # same backend, misconfigured: check() must fail


@pytest.fixture(params=["local", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "local":
        storage = LocalMediaStorage(tmp_path / "media", LOCAL_BASE_URL, TEST_SECRET)
        # A regular file where the media folder should be: unusable even when tests run as root
        # (root ignores permission bits, so chmod 000 would not do).
        blocker = tmp_path / "not-a-folder"
        blocker.write_bytes(b"")
        broken: MediaStorage = LocalMediaStorage(blocker / "media", LOCAL_BASE_URL, TEST_SECRET)
        async with create_async_test_client(route_handlers=[serve_local_media]) as client:
            client.app.state.storage = storage
            yield Backend("local", storage, client.get, broken)
        return

    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    storage = make_s3_storage(endpoint, bucket)
    broken = make_s3_storage(endpoint, f"missing-{uuid.uuid4().hex[:12]}")
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:
        try:
            yield Backend("s3", storage, http.get, broken)
        finally:
            await storage.close()
            await broken.close()


@pytest.fixture
def storage(backend: Backend) -> MediaStorage:
    return backend.storage


@pytest.fixture
async def unreachable_s3() -> AsyncIterator[S3MediaStorage]:
    storage = make_s3_storage(f"http://127.0.0.1:{_free_port()}", "whatever")  # nobody listens there
    try:
        yield storage
    finally:
        await storage.close()


@pytest.fixture
def client_id() -> uuid.UUID:
    """A fresh client per test, so keys never clash in the shared bucket."""
    return uuid.uuid4()


@pytest.fixture
async def local_client(tmp_path: Path) -> AsyncIterator[tuple[LocalMediaStorage, AsyncTestClient]]:
    """The local backend with the serving route mounted, for route-specific tests."""
    storage = LocalMediaStorage(tmp_path / "media", LOCAL_BASE_URL, TEST_SECRET)
    async with create_async_test_client(route_handlers=[serve_local_media]) as client:
        client.app.state.storage = storage
        yield storage, client
