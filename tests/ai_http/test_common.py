"""The shared pieces: Retry-After, quoting providers' errors, status classification, image fitting."""

from __future__ import annotations

import io
import json
import pickle
import time
from email.utils import formatdate

import pytest
from PIL import Image

from app.ai.base import ProviderError
from app.ai.http.common import (
    error_from_response,
    fit_image,
    nearest_shape,
    parse_retry_after,
    provider_detail,
    scrub,
)
from tests.ai_http.fakes import png_bytes

KEY = "sk-live-abcdef0123456789SECRET"


def test_retry_after_seconds_date_and_milliseconds() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    now = time.time()
    in_a_minute = formatdate(now + 60, usegmt=True)
    assert parse_retry_after({"Retry-After": in_a_minute}, now=now) == pytest.approx(60, abs=1)
    assert parse_retry_after({"Retry-After": formatdate(now - 60, usegmt=True)}, now=now) == 0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "-5"}) == 0
    assert parse_retry_after({"Retry-After": "999999999"}) == 24 * 3600


def test_provider_detail_knows_the_usual_error_shapes() -> None:
    openai = json.dumps({"error": {"message": "Invalid 'size'.", "type": "invalid_request_error"}}).encode()
    assert provider_detail(openai) == "Invalid 'size'."
    stability = json.dumps({"id": "x", "name": "bad_request", "errors": ["prompt: cannot be empty"]}).encode()
    assert provider_detail(stability) == "prompt: cannot be empty (bad_request)"
    runway = json.dumps({"error": "Validation of body failed", "issues": [{"message": "Invalid enum value"}]})
    assert provider_detail(runway.encode()) == "Validation of body failed Invalid enum value"
    fastapi = json.dumps({"detail": [{"loc": ["body", "model"], "msg": "field required"}]}).encode()
    assert provider_detail(fastapi) == "field required"
    assert provider_detail(b"<html><body><h1>502 Bad Gateway</h1></body></html>") == "502 Bad Gateway"
    long = json.dumps({"error": {"message": "x" * 1000}}).encode()
    assert len(provider_detail(long)) == 300


def test_the_key_never_survives_quoting() -> None:
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}. Also Bearer {KEY}"}}).encode()
    detail = provider_detail(body, KEY)
    assert KEY not in detail and "SECRET" not in detail
    assert "sk-other-masked***1234" not in scrub("key sk-other-masked***1234 refused", None)


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [
        (429, {"Retry-After": "12"}, True, 12),
        (429, {}, True, None),
        (500, {}, True, None),
        (502, {}, True, None),
        (503, {"Retry-After": "3"}, True, 3),
        (408, {}, True, None),
        (400, {}, False, None),
        (401, {}, False, None),
        (403, {}, False, None),
        (402, {}, False, None),
        (404, {}, False, None),
        (422, {}, False, None),
    ],
)
def test_status_classification(
    status: int, headers: dict[str, str], retryable: bool, retry_after: float | None
) -> None:
    error = error_from_response("Acme AI", status, headers, b'{"error": {"message": "nope"}}', KEY)
    assert error.retryable is retryable
    assert error.retry_after == retry_after
    assert error.status_code == status
    assert "Acme AI" in str(error)


def test_refused_key_and_quota_are_spelled_out() -> None:
    refused = error_from_response("Acme AI", 401, {}, b'{"error": {"message": "Incorrect API key"}}', KEY)
    assert "refused the API key" in str(refused)
    quota = json.dumps({"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}})
    out_of_quota = error_from_response("Acme AI", 429, {}, quota.encode(), KEY)
    assert out_of_quota.retryable is False
    assert "run out of credits" in str(out_of_quota)
    bad = error_from_response("Acme AI", 400, {}, b'{"error": {"message": "Invalid size 13x13"}}', KEY)
    assert "Invalid size 13x13" in str(bad)


def test_provider_error_pickles_with_its_state() -> None:
    error = ProviderError("slow down", retryable=True, retry_after=4.5, status_code=429)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.retryable, copy.retry_after, copy.status_code) == ("slow down", True, 4.5, 429)


def test_nearest_shape() -> None:
    shapes = {"1:1": (1, 1), "4:5": (4, 5), "9:16": (9, 16), "16:9": (16, 9)}
    assert nearest_shape(1080, 1920, shapes) == "9:16"
    assert nearest_shape(1080, 1350, shapes) == "4:5"
    assert nearest_shape(1080, 1080, shapes) == "1:1"
    assert nearest_shape(1920, 1000, shapes) == "16:9"


def test_fit_image_scales_and_centre_crops_to_the_exact_size() -> None:
    image = fit_image(png_bytes(1024, 1536), 1080, 1920, provider="Acme AI")
    assert (image.width, image.height, image.mime) == (1080, 1920, "image/png")
    decoded = Image.open(io.BytesIO(image.data))
    assert decoded.size == (1080, 1920)
    # The white stripe on the source's left edge was cropped away (centred crop of a wider image).
    assert decoded.convert("RGB").getpixel((0, 960)) != (250, 250, 250)
    jpeg = fit_image(png_bytes(800, 800), 500, 500, provider="Acme AI", output_format="jpeg")
    assert jpeg.mime == "image/jpeg" and Image.open(io.BytesIO(jpeg.data)).format == "JPEG"


def test_fit_image_refuses_garbage() -> None:
    with pytest.raises(ProviderError) as info:
        fit_image(b"<html>not an image</html>", 100, 100, provider="Acme AI")
    assert info.value.retryable is False
    assert "not a readable image" in str(info.value)


def test_importing_the_adapters_registers_nothing() -> None:
    import importlib

    import app.ai.base as base
    import app.ai.http

    before = (dict(base._text_factories), dict(base._image_factories), dict(base._video_factories))
    importlib.reload(app.ai.http)
    assert (base._text_factories, base._image_factories, base._video_factories) == before
    assert "openai" not in base._text_factories and "stability" not in base._image_factories
