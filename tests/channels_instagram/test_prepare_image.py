"""Images are cropped and resized to what Instagram takes before Meta is asked to fetch them:
aspect ratio 4:5 … 1.91:1 (centred crop), width 320–1440 px, a JPEG of at most 8 MB."""

from __future__ import annotations

import io
import os
from fractions import Fraction

import pytest
from PIL import Image

from app.channels import instagram_publish
from app.channels.instagram_publish import (
    IMAGE_MAX_ASPECT,
    IMAGE_MAX_BYTES,
    IMAGE_MAX_WIDTH,
    IMAGE_MIN_ASPECT,
    IMAGE_MIN_WIDTH,
    ImageRefused,
    crop_box,
    prepare_image,
    prepared_image_key,
    target_size,
)


def picture(width: int, height: int, *, mode: str = "RGB", color=(200, 40, 40), fmt: str = "PNG", **save) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_instagram_ready(data: bytes) -> Image.Image:
    image = opened(data)
    assert image.format == "JPEG" and image.mode == "RGB"
    assert IMAGE_MIN_WIDTH <= image.width <= IMAGE_MAX_WIDTH
    assert IMAGE_MIN_ASPECT <= Fraction(image.width, image.height) <= IMAGE_MAX_ASPECT
    assert len(data) <= IMAGE_MAX_BYTES
    return image


def test_the_limits_are_instagrams() -> None:
    assert (IMAGE_MIN_ASPECT, IMAGE_MAX_ASPECT) == (Fraction(4, 5), Fraction(191, 100))
    assert (IMAGE_MIN_WIDTH, IMAGE_MAX_WIDTH, IMAGE_MAX_BYTES) == (320, 1440, 8 * 1024 * 1024)


def test_too_tall_9_16_is_cropped_to_4_5_around_the_centre() -> None:
    assert crop_box(1080, 1920) == (0, 285, 1080, 1635)  # 285 px off the top and off the bottom
    prepared = prepare_image(picture(1080, 1920))
    image = assert_instagram_ready(prepared.data)
    assert image.size == (prepared.width, prepared.height) == (1080, 1350)


def test_too_wide_3_1_is_cropped_to_1_91_1_then_scaled_to_1440() -> None:
    assert crop_box(3000, 1000) == (545, 0, 2455, 1000)  # 1910 px kept, centred
    image = assert_instagram_ready(prepare_image(picture(3000, 1000)).data)
    assert image.width == 1440 and image.height == 754  # 1440 / 754 = 1.9098 ≤ 1.91


def test_a_200_px_wide_image_is_scaled_up_to_320() -> None:
    image = assert_instagram_ready(prepare_image(picture(200, 250)).data)
    assert image.size == (320, 400)


def test_an_image_narrower_than_160_px_is_refused_with_words() -> None:
    assert target_size(160, 160) == (320, 320)  # twice is the most Zavod enlarges
    with pytest.raises(ImageRefused) as refused:
        prepare_image(picture(150, 150))
    assert "150 px wide" in refused.value.message and "320" in refused.value.message


def test_a_4000_px_wide_image_is_scaled_down_to_1440() -> None:
    image = assert_instagram_ready(prepare_image(picture(4000, 3000)).data)
    assert image.size == (1440, 1080)


def test_an_image_that_already_fits_keeps_its_size() -> None:
    image = assert_instagram_ready(prepare_image(picture(1080, 1080, fmt="JPEG")).data)
    assert image.size == (1080, 1080)


@pytest.mark.parametrize(("width", "height"), [(1441, 754), (1000, 1251), (1911, 1000), (321, 169), (999, 1249)])
def test_rounding_never_carries_the_ratio_past_a_limit(width: int, height: int) -> None:
    box = crop_box(width, height)
    size = target_size(box[2] - box[0], box[3] - box[1])
    assert IMAGE_MIN_WIDTH <= size[0] <= IMAGE_MAX_WIDTH
    assert IMAGE_MIN_ASPECT <= Fraction(*size) <= IMAGE_MAX_ASPECT


def test_transparency_is_flattened_onto_white() -> None:
    image = assert_instagram_ready(prepare_image(picture(400, 400, mode="RGBA", color=(0, 0, 0, 0))).data)
    assert image.getpixel((200, 200)) == pytest.approx((255, 255, 255), abs=2)


def test_the_camera_orientation_is_applied_and_metadata_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    exif[0x010F] = "Zavod Test Camera"
    prepared = prepare_image(picture(800, 600, fmt="JPEG", exif=exif.tobytes()))
    image = assert_instagram_ready(prepared.data)
    assert image.size == (600, 750)  # shown upright it is 600×800 (3:4), cropped to 4:5
    assert not image.getexif()


def test_a_detailed_image_is_compressed_until_it_fits(monkeypatch) -> None:
    noise = Image.frombytes("RGB", (1000, 1000), os.urandom(1000 * 1000 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    monkeypatch.setattr(instagram_publish, "IMAGE_MAX_BYTES", 400_000)
    prepared = prepare_image(buffer.getvalue())
    assert len(prepared.data) <= 400_000
    monkeypatch.setattr(instagram_publish, "IMAGE_MAX_BYTES", 1_000)
    with pytest.raises(ImageRefused, match="8 MB"):
        prepare_image(buffer.getvalue())


def test_something_that_is_not_a_picture_is_refused_with_words() -> None:
    with pytest.raises(ImageRefused, match="damaged or not a picture"):
        prepare_image(b"<html>not an image</html>")


def test_the_derivative_key_depends_on_the_source_only() -> None:
    client_id = "0190c0de-0000-7000-8000-000000000001"
    first, second = picture(500, 500), picture(500, 500, color=(1, 2, 3))
    assert prepared_image_key(client_id, first) == prepared_image_key(client_id, first)
    assert prepared_image_key(client_id, first) != prepared_image_key(client_id, second)
    assert prepared_image_key(client_id, first).startswith(f"clients/{client_id}/instagram/")


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://localhost:8000/media/clients/x/a.jpg", True),
        ("http://127.0.0.1:9000/bucket/a.jpg?X-Amz-Signature=1", True),
        ("http://10.1.2.3/media/a.jpg", True),
        ("http://[::1]/media/a.jpg", True),
        ("https://zavod.example.com/media/clients/x/a.jpg", False),
        ("https://bucket.s3.eu-central-1.amazonaws.com/a.jpg", False),
    ],
)
def test_media_addresses_meta_could_never_download_are_caught_before_asking(url: str, refused: bool) -> None:
    assert (instagram_publish._not_public(url) is not None) is refused
