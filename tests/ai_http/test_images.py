"""Image adapters end to end: OpenAI-compatible /images/generations and Stability's v2beta API."""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image

from app.ai.base import ImageProvider, ImageRequest, ProviderError
from app.ai.http import Timeouts, openai_image_provider, stability_image_provider
from tests.ai_http.fakes import OPENAI_KEY, STABILITY_KEY, FakeCdn, FakeOpenAI, FakeStability

FAST = Timeouts(connect=2, read=2, write=2, total=5)


def scene(width: int = 1080, height: int = 1920, **kw: object) -> ImageRequest:
    fields: dict[str, object] = {"title": "Solar park", "text": "Rows of solar panels at sunrise", "width": width}
    fields.update(height=height, **kw)
    return ImageRequest(**fields)  # type: ignore[arg-type]


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


# --- OpenAI-compatible ------------------------------------------------------------------------------


async def test_openai_image_b64(openai_fake: FakeOpenAI) -> None:
    painter = openai_image_provider(
        f"{openai_fake.base_url}/v1", OPENAI_KEY, "gpt-image-test", timeouts=FAST, image_style="flat illustration"
    )
    assert isinstance(painter, ImageProvider)
    image = await painter.generate_image(scene())
    await painter.aclose()
    assert (image.width, image.height, image.mime) == (1080, 1920, "image/png")
    assert decoded(image.data).size == (1080, 1920)
    (request,) = openai_fake.requests_to("/v1/images/generations")
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    body = request.json()
    assert body == {
        "model": "gpt-image-test",
        "prompt": "Rows of solar panels at sunrise\n\nflat illustration",
        "size": "1024x1536",
        "n": 1,
        "response_format": "b64_json",
    }


@pytest.mark.parametrize(
    ("w", "h", "size"), [(1080, 1080, "1024x1024"), (1080, 1350, "1024x1536"), (1920, 1080, "1536x1024")]
)
async def test_openai_image_size_is_the_nearest_offered(openai_fake: FakeOpenAI, w: int, h: int, size: str) -> None:
    async with openai_image_provider(f"{openai_fake.base_url}/v1", OPENAI_KEY, "gpt-image-test") as painter:
        image = await painter.generate_image(scene(w, h))
    assert decoded(image.data).size == (w, h)
    assert openai_fake.requests_to("/v1/images/generations")[0].json()["size"] == size


async def test_openai_image_by_url_is_downloaded_without_the_key(
    openai_fake: FakeOpenAI, cdn: FakeCdn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    openai_fake.image_mode = "url"
    async with openai_image_provider(
        f"{openai_fake.base_url}/v1",
        OPENAI_KEY,
        "gpt-image-test",
        image_response_format=None,
        image_sizes=("1024x1024", "1792x1024", "1024x1792"),
        output_format="jpeg",
    ) as painter:
        image = await painter.generate_image(scene(1080, 1920))
    assert image.mime == "image/jpeg" and decoded(image.data).size == (1080, 1920)
    body = openai_fake.requests_to("/v1/images/generations")[0].json()
    assert "response_format" not in body and body["size"] == "1024x1792"
    (download,) = cdn.requests_to("/images/")
    assert "authorization" not in download.headers
    assert OPENAI_KEY not in caplog.text


async def test_openai_image_garbage(openai_fake: FakeOpenAI) -> None:
    async with openai_image_provider(f"{openai_fake.base_url}/v1", OPENAI_KEY, "gpt-image-test") as painter:
        openai_fake.image_b64_override = "this is not base64!!"
        with pytest.raises(ProviderError, match="not a readable image") as info:
            await painter.generate_image(scene())
        assert info.value.retryable is False
        openai_fake.image_b64_override = "aGVsbG8gd29ybGQ="  # valid base64 of "hello world"
        with pytest.raises(ProviderError, match="not a readable image"):
            await painter.generate_image(scene())
        openai_fake.fail(200, {"created": 1, "data": []})
        with pytest.raises(ProviderError, match="without an image"):
            await painter.generate_image(scene())


async def test_openai_image_failures(openai_fake: FakeOpenAI) -> None:
    async with openai_image_provider(
        f"{openai_fake.base_url}/v1", OPENAI_KEY, "gpt-image-test", image_sizes=("999x999",)
    ) as painter:
        with pytest.raises(ProviderError) as info:
            await painter.generate_image(scene())
        assert info.value.retryable is False and "'999x999' is not one of" in str(info.value)
    async with openai_image_provider(f"{openai_fake.base_url}/v1", OPENAI_KEY, "gpt-image-test") as painter:
        openai_fake.fail(503, b"upstream connect error", headers={"Retry-After": "2"})
        with pytest.raises(ProviderError) as info:
            await painter.generate_image(scene())
        assert info.value.retryable is True and info.value.retry_after == 2


# --- Stability ------------------------------------------------------------------------------------


def stability(fake: FakeStability, **options: object):  # type: ignore[no-untyped-def]
    options.setdefault("timeouts", FAST)
    return stability_image_provider(fake.base_url, STABILITY_KEY, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("w", "h", "ratio"), [(1080, 1920, "9:16"), (1080, 1350, "4:5"), (1080, 1080, "1:1"), (1920, 1080, "16:9")]
)
async def test_stability_image(stability_fake: FakeStability, w: int, h: int, ratio: str) -> None:
    async with stability(stability_fake) as painter:
        image = await painter.generate_image(scene(w, h, seed=77))
    assert (image.width, image.height, image.mime) == (w, h, "image/png")
    assert decoded(image.data).size == (w, h)
    (request,) = stability_fake.requests_to("/v2beta/stable-image/generate/core")
    assert request.headers["authorization"] == f"Bearer {STABILITY_KEY}"
    assert request.headers["accept"] == "image/*"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert request.form() == {
        "prompt": "Rows of solar panels at sunrise",
        "aspect_ratio": ratio,
        "output_format": "png",
        "seed": "77",
    }


async def test_stability_options(stability_fake: FakeStability) -> None:
    async with stability(
        stability_fake,
        model="ultra",
        output_format="jpeg",
        negative_prompt="text, watermark",
        style_preset="photographic",
    ) as painter:
        image = await painter.generate_image(scene(1080, 1350))
    assert image.mime == "image/jpeg" and decoded(image.data).format == "JPEG"
    form = stability_fake.requests_to("/v2beta/stable-image/generate/ultra")[0].form()
    assert form["negative_prompt"] == "text, watermark" and form["style_preset"] == "photographic"
    assert "seed" not in form  # seed 0 means "random": not sent


async def test_stability_content_moderation_is_not_a_key_problem(stability_fake: FakeStability) -> None:
    async with stability(stability_fake) as painter:
        with pytest.raises(ProviderError) as info:
            await painter.generate_image(scene(text="Something forbidden"))
    assert info.value.retryable is False and info.value.status_code == 403
    assert "content filter" in str(info.value) and "flagged" in str(info.value)
    assert "API key" not in str(info.value)


async def test_stability_filtered_output(stability_fake: FakeStability) -> None:
    stability_fake.finish_reason = "CONTENT_FILTERED"
    async with stability(stability_fake) as painter:
        with pytest.raises(ProviderError, match="content filter"):
            await painter.generate_image(scene())


async def test_stability_refused_key(stability_fake: FakeStability, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk-stab-WRONGKEY-0000000000000"
    painter = stability_image_provider(stability_fake.base_url, wrong)
    with pytest.raises(ProviderError) as info:
        await painter.generate_image(scene())
    check = await painter.check_connection()
    await painter.aclose()
    assert info.value.retryable is False and "refused the API key" in str(info.value)
    assert not check.ok and "refused the API key" in check.message
    for text in (str(info.value), repr(info.value), repr(painter), repr(painter.config), caplog.text, check.message):
        assert wrong not in text


async def test_stability_rate_limit_server_error_and_long_prompt(stability_fake: FakeStability) -> None:
    async with stability(stability_fake) as painter:
        stability_fake.fail(
            429,
            {"id": "x", "name": "rate_limit_exceeded", "errors": ["You have exceeded the rate limit of 150 requests"]},
            headers={"Retry-After": "10"},
        )
        with pytest.raises(ProviderError) as info:
            await painter.generate_image(scene())
        assert info.value.retryable is True and info.value.retry_after == 10

        stability_fake.fail(500, {"id": "x", "name": "internal_error", "errors": ["An unexpected server error"]})
        with pytest.raises(ProviderError) as info:
            await painter.generate_image(scene())
        assert info.value.retryable is True

        # A prompt past Stability's 10,000 characters is cut to fit rather than refused.
        image = await painter.generate_image(scene(text="x" * 10_001, title=""))
    assert image.width == 1080
    assert stability_fake.requests_to("/v2beta")[-1].form()["prompt"] == "x" * 10_000


async def test_stability_bad_request_quotes_the_provider(stability_fake: FakeStability) -> None:
    async with stability(stability_fake, style_preset=None, output_format="gif") as painter:  # type: ignore[arg-type]
        with pytest.raises(ProviderError) as info:
            await painter.generate_image(scene())
    assert info.value.retryable is False
    assert "output_format: must be one of png, jpeg, webp (bad_request)" in str(info.value)


async def test_stability_timeout_and_garbage(stability_fake: FakeStability) -> None:
    async with stability(stability_fake, timeouts=Timeouts(connect=1, read=0.3, write=1, total=5)) as painter:
        stability_fake.fail(200, b"", delay=1.0)
        with pytest.raises(ProviderError) as info:
            await painter.generate_image(scene())
        assert info.value.retryable is True
        stability_fake.fail(200, b"GIF89a garbage", content_type="image/gif")
        with pytest.raises(ProviderError, match="not a readable image") as info:
            await painter.generate_image(scene())
        assert info.value.retryable is False
        stability_fake.fail(200, {"image": "..."})
        with pytest.raises(ProviderError, match="not the expected image"):
            await painter.generate_image(scene())


async def test_stability_check_connection(stability_fake: FakeStability) -> None:
    async with stability(stability_fake) as painter:
        check = await painter.check_connection()
    assert check.ok and "42.5 credits" in check.message
