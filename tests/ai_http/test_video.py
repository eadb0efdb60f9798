"""Runway-style image-to-video: submit → poll → download, against the fake task API."""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest

from app.ai.base import ProviderError, VideoProvider, VideoRequest
from app.ai.http import RunwayVideoProvider, Timeouts, runway_video_provider
from tests.ai_http.fakes import FAKE_MP4, RUNWAY_KEY, RUNWAY_VERSION, FakeCdn, FakeRunway, png_bytes

FAST = Timeouts(connect=2, read=2, write=2, total=5)


def runway(fake: FakeRunway, **options: object) -> RunwayVideoProvider:
    options.setdefault("timeouts", FAST)
    options.setdefault("poll_interval_s", 0.02)
    options.setdefault("timeout_s", 5.0)
    return runway_video_provider(fake.base_url, RUNWAY_KEY, **options)  # type: ignore[arg-type]


def clip(width: int = 1080, height: int = 1920, duration: float = 6.0, **kw: object) -> VideoRequest:
    fields: dict[str, object] = {"image": png_bytes(540, 960), "prompt": "Slow pan over the panels", "width": width}
    fields.update(height=height, duration_s=duration, **kw)
    return VideoRequest(**fields)  # type: ignore[arg-type]


async def test_submit_poll_download(runway_fake: FakeRunway, cdn: FakeCdn, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    progress: list[float] = []

    async def on_progress(value: float) -> None:
        progress.append(value)

    runway_fake.polls_to_finish = 4
    async with runway(runway_fake) as director:
        assert isinstance(director, VideoProvider)
        video = await director.generate_video(clip(seed=5), on_progress=on_progress)
    assert video.data == FAKE_MP4 and video.mime == "video/mp4"
    assert (video.width, video.height, video.duration_s) == (720, 1280, 5.0)
    assert progress == [0.5, 0.75]

    (submit,) = runway_fake.requests_to("/v1/image_to_video")
    assert submit.headers["authorization"] == f"Bearer {RUNWAY_KEY}"
    assert submit.headers["x-runway-version"] == RUNWAY_VERSION
    body = submit.json()
    assert body["model"] == "gen4_turbo" and body["ratio"] == "720:1280" and body["duration"] == 5
    assert body["promptText"] == "Slow pan over the panels" and body["seed"] == 5
    head, _sep, data = body["promptImage"].partition(",")
    assert head == "data:image/png;base64" and base64.b64decode(data) == png_bytes(540, 960)
    assert len(runway_fake.requests_to("/v1/tasks/", "GET")) == 4
    assert not runway_fake.requests_to("/v1/tasks/", "DELETE")
    (download,) = cdn.requests_to("/videos/")
    assert "authorization" not in download.headers  # the signed link is on another host
    assert RUNWAY_KEY not in caplog.text


@pytest.mark.parametrize(
    ("w", "h", "duration", "ratio", "seconds"),
    [(1920, 1080, 9, "1280:720", 10), (1080, 1080, 3, "960:960", 5), (1080, 1350, 12, "832:1104", 10)],
)
async def test_ratio_and_duration_mapping(
    runway_fake: FakeRunway, w: int, h: int, duration: float, ratio: str, seconds: int
) -> None:
    async with runway(runway_fake) as director:
        video = await director.generate_video(clip(w, h, duration))
    body = runway_fake.requests_to("/v1/image_to_video")[0].json()
    assert (body["ratio"], body["duration"]) == (ratio, seconds)
    assert f"{video.width}:{video.height}" == ratio


async def test_a_still_in_another_format_is_sent_as_jpeg(runway_fake: FakeRunway) -> None:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (300, 500), (10, 200, 10)).save(out, "BMP")
    async with runway(runway_fake) as director:
        await director.generate_video(clip(image=out.getvalue()))
        assert (
            runway_fake.requests_to("/v1/image_to_video")[0].json()["promptImage"].startswith("data:image/jpeg;base64,")
        )
        with pytest.raises(ProviderError, match="not a readable image"):
            await director.generate_video(clip(image=b"not an image"))


async def test_a_failed_task(runway_fake: FakeRunway) -> None:
    runway_fake.outcome = {
        "status": "FAILED",
        "failure": "The input image was flagged.",
        "failureCode": "SAFETY.INPUT.IMAGE",
    }
    async with runway(runway_fake) as director:
        with pytest.raises(ProviderError) as info:
            await director.generate_video(clip())
        assert info.value.retryable is False
        assert "content filter" in str(info.value) and "The input image was flagged." in str(info.value)

        runway_fake.outcome = {"status": "FAILED", "failure": "An internal error occurred.", "failureCode": "INTERNAL"}
        with pytest.raises(ProviderError) as info:
            await director.generate_video(clip())
        assert info.value.retryable is True


async def test_polling_survives_a_few_transient_errors(runway_fake: FakeRunway) -> None:
    runway_fake.fail(502, b"<html>Bad Gateway</html>", content_type="text/html", times=2, path="/v1/tasks/")
    runway_fake.fail(429, {"error": "Too many requests"}, headers={"Retry-After": "0.05"}, times=1, path="/v1/tasks/")
    async with runway(runway_fake) as director:
        video = await director.generate_video(clip())
    assert video.data == FAKE_MP4


async def test_polling_gives_up_after_too_many_errors(runway_fake: FakeRunway) -> None:
    runway_fake.fail(500, {"error": "Internal error"}, times=None, path="/v1/tasks/")
    async with runway(runway_fake, max_poll_failures=3) as director:
        with pytest.raises(ProviderError) as info:
            await director.generate_video(clip())
    assert info.value.retryable is True
    assert len(runway_fake.requests_to("/v1/tasks/", "GET")) == 4


async def test_a_task_that_never_finishes_is_cancelled(runway_fake: FakeRunway) -> None:
    runway_fake.polls_to_finish = 10_000
    async with runway(runway_fake, timeout_s=0.3) as director:
        with pytest.raises(ProviderError) as info:
            await director.generate_video(clip())
    assert info.value.retryable is True and "within 0.3 seconds" in str(info.value)
    (task,) = runway_fake.tasks.values()
    assert task["cancelled"] is True
    assert len(runway_fake.requests_to("/v1/tasks/", "DELETE")) == 1


async def test_cancelling_the_job_cancels_the_remote_task(runway_fake: FakeRunway) -> None:
    runway_fake.polls_to_finish = 10_000
    async with runway(runway_fake, timeout_s=60) as director:
        job = asyncio.create_task(director.generate_video(clip()))
        for _ in range(200):
            if len(runway_fake.requests_to("/v1/tasks/", "GET")) >= 2:
                break
            await asyncio.sleep(0.01)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
    (task,) = runway_fake.tasks.values()
    assert task["cancelled"] is True


async def test_submit_errors(runway_fake: FakeRunway) -> None:
    async with runway(runway_fake) as director:
        runway_fake.fail(
            429, {"error": "Rate limit exceeded"}, headers={"Retry-After": "30"}, path="/v1/image_to_video"
        )
        with pytest.raises(ProviderError) as info:
            await director.generate_video(clip())
        assert info.value.retryable is True and info.value.retry_after == 30
    async with runway(runway_fake, model="gen9_imaginary") as director:
        with pytest.raises(ProviderError) as info:
            await director.generate_video(clip())
        assert info.value.retryable is False
        assert "Validation of body failed Invalid enum value" in str(info.value)
    async with runway(runway_fake, api_version="2020-01-01") as director:
        with pytest.raises(ProviderError, match="X-Runway-Version"):
            await director.generate_video(clip())
    director = runway_video_provider(runway_fake.base_url, "key_wrong_000000000000")
    with pytest.raises(ProviderError) as info:
        await director.generate_video(clip())
    await director.aclose()
    assert info.value.retryable is False and "refused the API key" in str(info.value)
    assert "key_wrong" not in str(info.value)


async def test_a_download_that_is_not_a_video(runway_fake: FakeRunway) -> None:
    runway_fake.video = b"<html>Access denied</html>"
    runway_fake.video_type = "text/html"
    async with runway(runway_fake) as director:
        with pytest.raises(ProviderError, match="not a video") as info:
            await director.generate_video(clip())
    assert info.value.retryable is False


async def test_check_connection(runway_fake: FakeRunway) -> None:
    async with runway(runway_fake) as director:
        check = await director.check_connection()
    assert check.ok and "1250 credits" in check.message
    director = runway_video_provider(runway_fake.base_url, "key_wrong_000000000000")
    check = await director.check_connection()
    await director.aclose()
    assert not check.ok and "refused the API key" in check.message
