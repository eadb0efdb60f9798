"""Photo checks: resolution, blank, blur, unreadable files, the NSFW hook; reasons in plain words."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image, ImageDraw, ImageFilter

from app.ai import photo_checks
from app.ai.photo_checks import check_photo, register_nsfw_checker, unregister_nsfw_checker
from app.i18n import set_locale


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_locale("en")
    yield
    set_locale("en")


def encode(img: Image.Image, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, quality=92) if fmt == "JPEG" else img.save(out, fmt)
    return out.getvalue()


def scene(size: tuple[int, int] = (1200, 900)) -> Image.Image:
    """A photo-like picture: sky gradient, buildings with windows, a sun: edges at many scales."""
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(img)
    w, h = size
    for i, x in enumerate(range(0, w, w // 12)):
        top = h // 3 + (i * 37) % (h // 3)
        draw.rectangle((x, top, x + w // 14, h), fill=(60 + i * 10, 70, 90))
        for wy in range(top + 10, h - 10, 24):
            for wx in range(x + 6, x + w // 14 - 10, 16):
                draw.rectangle((wx, wy, wx + 7, wy + 11), fill=(250, 220, 120))
    draw.ellipse((w * 0.7, h * 0.08, w * 0.85, h * 0.28), fill=(255, 240, 200))
    return img


def test_a_good_photo_is_accepted() -> None:
    verdict = check_photo(encode(scene()))
    assert verdict.ok, verdict.reasons
    assert verdict.reasons == []
    assert (verdict.width, verdict.height, verdict.format) == (1200, 900, "JPEG")
    assert verdict.blur_score is not None and verdict.blur_score > photo_checks.BLUR_THRESHOLD


def test_a_tiny_photo_is_rejected_with_its_size() -> None:
    verdict = check_photo(encode(scene((320, 240))))
    assert not verdict.ok
    assert "The photo is 320×240 pixels; at least 600×600 is needed." in verdict.reasons


def test_limits_are_parameters_and_exif_rotation_counts() -> None:
    img = scene((900, 700))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: the photo is really 700x900
    data = io.BytesIO()
    img.save(data, "JPEG", exif=exif)
    verdict = check_photo(data.getvalue(), min_width=800, min_height=600)
    assert (verdict.width, verdict.height) == (700, 900)
    assert any("700×900" in r and "800×600" in r for r in verdict.reasons)


@pytest.mark.parametrize("colour", [(128, 128, 128), (0, 0, 0), (255, 255, 255)])
def test_a_uniform_photo_is_rejected_as_blank(colour: tuple[int, int, int]) -> None:
    img = Image.new("RGB", (1000, 1000), colour)
    ImageDraw.Draw(img).point((500, 500), fill=(colour[0] ^ 255, 0, 0))  # one stray pixel is still blank
    verdict = check_photo(encode(img, "PNG"))
    assert not verdict.ok
    assert verdict.reasons == ["The photo is blank: it is almost a single flat colour."]


def test_a_transparent_png_counts_as_blank() -> None:
    verdict = check_photo(encode(Image.new("RGBA", (800, 800), (10, 200, 30, 0)), "PNG"))
    assert not verdict.ok and "blank" in verdict.reasons[0]


def test_blur_lowers_the_score_and_heavy_blur_is_rejected() -> None:
    sharp_img = scene()
    sharp = check_photo(encode(sharp_img))
    soft = check_photo(encode(sharp_img.filter(ImageFilter.GaussianBlur(2))))
    blurred = check_photo(encode(sharp_img.filter(ImageFilter.GaussianBlur(8))))
    assert sharp.blur_score is not None and soft.blur_score is not None and blurred.blur_score is not None
    assert sharp.blur_score > soft.blur_score > blurred.blur_score
    assert sharp.ok and not blurred.ok
    assert any(r.startswith("The photo is too blurred (sharpness ") for r in blurred.reasons), blurred.reasons
    # The threshold is a parameter.
    assert check_photo(encode(sharp_img), blur_threshold=sharp.blur_score + 1).ok is False


def test_the_score_does_not_depend_on_the_photo_size() -> None:
    big = check_photo(encode(scene((2400, 1800))))
    small = check_photo(encode(scene((1200, 900))))
    assert big.blur_score is not None and small.blur_score is not None
    assert 0.5 < big.blur_score / small.blur_score < 2


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", encode(scene())[:2000], b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b"GIF89a"],
    ids=["empty", "text", "truncated-jpeg", "broken-png", "gif-header"],
)
def test_corrupt_files_are_rejected_not_raised(data: bytes) -> None:
    verdict = check_photo(data)
    assert not verdict.ok
    assert len(verdict.reasons) == 1 and verdict.reasons[0]


def test_a_decompression_bomb_is_rejected_before_decoding() -> None:
    # A PNG that claims 10,000 x 10,000 pixels (100 MP) in a few hundred bytes.
    bomb = encode(Image.new("1", (10_000, 10_000)), "PNG")
    assert len(bomb) < 50_000
    verdict = check_photo(bomb)
    assert not verdict.ok
    assert len(verdict.reasons) == 1 and verdict.reasons[0].startswith("The photo is too large to process")


def test_the_nsfw_hook_can_reject_and_a_broken_checker_is_skipped() -> None:
    seen: list[tuple[int, int]] = []

    def nsfw(img: Image.Image, data: bytes) -> str | None:
        seen.append(img.size)
        return "Nudity detected." if data else None

    def broken(img: Image.Image, data: bytes) -> str | None:
        raise RuntimeError("model not loaded")

    data = encode(scene())
    assert check_photo(data).ok  # none registered by default
    register_nsfw_checker(broken)
    register_nsfw_checker(nsfw)
    register_nsfw_checker(nsfw)  # once is enough
    try:
        verdict = check_photo(data)
    finally:
        unregister_nsfw_checker(nsfw)
        unregister_nsfw_checker(broken)
    assert not verdict.ok
    assert verdict.reasons == ["Nudity detected."]
    assert seen == [(512, 384)]  # the checker gets the small analysis copy
    assert check_photo(data).ok


def test_reasons_are_translated() -> None:
    set_locale("ru")
    verdict = check_photo(encode(scene((320, 240))))
    assert not verdict.ok
    assert "320×240" in verdict.reasons[0] and "The photo" not in verdict.reasons[0]
