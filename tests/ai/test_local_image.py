"""The offline image provider: branded cards in three sizes, Cyrillic, photos, determinism."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageDraw

from app.ai.base import GeneratedImage, ImageProvider, ImageRequest, get_image_provider
from app.ai.local_image import (
    _LAYOUTS,
    SIZES,
    TEXT_FONT,
    TITLE_FONT,
    LocalImageProvider,
    _font,
    _has_glyph,
    fit_title,
    renderable,
)

WHITE = (255, 255, 255)
RU_TITLE = "Ёжик в тумане: в Казани откроют новый парк на берегу Волги"
RU_TEXT = "Работы начнутся весной, а первую очередь парка откроют летом, сообщили в мэрии."


async def card(**kw: object) -> GeneratedImage:
    fields: dict[str, object] = {"title": "City council approves new cycle lanes", "text": "", "width": 1080}
    fields["height"] = 1080
    fields.update(kw)
    return await LocalImageProvider().generate_image(ImageRequest(**fields))  # type: ignore[arg-type]


def decode(image: GeneratedImage) -> Image.Image:
    img = Image.open(io.BytesIO(image.data))
    img.load()
    return img.convert("RGB")


def count_color(img: Image.Image, box: tuple[int, int, int, int], color: tuple[int, int, int]) -> int:
    """Pixels of exactly `color` in `box`: text cores are drawn in the exact ink colour, while the
    gradient background never reaches pure white."""
    channels = zip(img.crop(box).split(), color, strict=True)
    bands = [band.point(lambda v, c=c: 255 if v == c else 0) for band, c in channels]
    return ImageChops.darker(ImageChops.darker(bands[0], bands[1]), bands[2]).histogram()[255]


def photo_bytes(color: tuple[int, int, int] = (220, 30, 30), size: tuple[int, int] = (1600, 1000)) -> bytes:
    img = Image.new("RGB", size, color)
    ImageDraw.Draw(img).rectangle((0, size[1] // 2, size[0], size[1]), fill=(30, 160, 60))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.mark.parametrize(("width", "height"), sorted(SIZES))
async def test_each_size_renders_png_of_that_size(width: int, height: int) -> None:
    image = await card(width=width, height=height, text=RU_TEXT, client_name="Riverside Gazette")
    assert image.mime == "image/png"
    assert (image.width, image.height) == (width, height)
    assert image.data.startswith(b"\x89PNG")
    img = decode(image)
    assert img.size == (width, height)
    assert count_color(img, (0, 0, width, height), WHITE) > 2000  # the title is there


async def test_unsupported_size_and_bad_colour_are_refused() -> None:
    with pytest.raises(ValueError, match="1080x1080"):
        await card(width=1000, height=1000)
    with pytest.raises(ValueError, match="brand_color"):
        await card(brand_color="not-a-colour")


def test_roboto_has_cyrillic_glyphs_not_tofu() -> None:
    font = _font(TITLE_FONT, 64)
    tofu = font.getmask("\ue000")  # a private-use code point: drawn as the .notdef box
    for ch in "ЁЖЩЪЫЭЮЯёжщъыэюя№«»—":
        mask = font.getmask(ch)
        assert (mask.size, bytes(mask)) != (tofu.size, bytes(tofu)), ch
        assert _has_glyph(TITLE_FONT, ch) and _has_glyph(TEXT_FONT, ch)
    assert not _has_glyph(TITLE_FONT, "😀")  # emoji would be tofu: they are dropped instead
    assert renderable("Праздник 🎉 удался") == "Праздник удался"
    assert renderable(RU_TITLE) == RU_TITLE


async def test_cyrillic_title_renders_ink_in_the_title_region() -> None:
    image = decode(await card(title=RU_TITLE, text=RU_TEXT, client_name="Новости Татарстана"))
    footer_top = 1080 - _LAYOUTS[(1080, 1080)].footer
    assert count_color(image, (0, 0, 1080, footer_top), WHITE) > 5000
    # Same card with a Latin title of the same length differs: the letters were really drawn.
    latin = decode(await card(title="X" * len(RU_TITLE), text=RU_TEXT, client_name="Новости Татарстана"))
    assert image.tobytes() != latin.tobytes()


async def test_long_title_fits_inside_the_margins() -> None:
    title = " ".join(["Extraordinarily long headline words"] * 15)
    layout = _LAYOUTS[(1080, 1080)]
    box = 1080 - 2 * layout.margin
    font, lines, line_height = fit_title(title, box, 600, layout)
    assert font.size == layout.title_min
    assert len(lines) * line_height <= 600 and len(lines) <= layout.title_lines
    assert lines[-1].endswith("…")
    assert all(font.getlength(line) <= box for line in lines)

    img = decode(await card(title=title, text=title, client_name="Zavod"))
    footer_top = 1080 - layout.footer
    # No ink in the side margins.
    assert count_color(img, (0, 0, layout.margin - 4, footer_top), WHITE) == 0
    assert count_color(img, (1080 - layout.margin + 4, 0, 1080, footer_top), WHITE) == 0


async def test_story_format_keeps_text_out_of_the_overlaid_zones() -> None:
    img = decode(await card(width=1080, height=1920, title=RU_TITLE * 2, text=RU_TEXT * 3, client_name="Zavod"))
    layout = _LAYOUTS[(1080, 1920)]
    assert count_color(img, (0, 0, 1080, layout.safe_top), WHITE) == 0
    assert count_color(img, (0, 1920 - layout.safe_bottom, 1080, 1920), WHITE) == 0


async def test_background_photo_is_used() -> None:
    plain = decode(await card())
    image = await card(background=photo_bytes(), width=1080, height=1350)
    assert image.mime == "image/jpeg"
    img = decode(image)
    assert img.size == (1080, 1350)
    r, g, b = img.getpixel((1000, 40))  # top right: no text, lightest part of the photo overlay
    assert r > 2 * b and r > 2 * g  # the red photo, not the blue brand colour
    pr, pg, pb = plain.getpixel((1000, 40))
    assert pb > pr


@pytest.mark.parametrize(
    "broken",
    [b"not an image at all", photo_bytes()[:300], b"\x89PNG\r\n\x1a\n" + b"\0" * 50],
    ids=["garbage", "truncated-jpeg", "bad-png"],
)
async def test_broken_background_falls_back_to_colour(broken: bytes) -> None:
    fallback = await card(background=broken, text=RU_TEXT)
    plain = await card(text=RU_TEXT)
    assert fallback.mime == "image/png"
    assert fallback.data == plain.data


async def test_light_brand_colour_gets_dark_text() -> None:
    img = decode(await card(brand_color="#f4f1ea", title="Light card"))
    assert count_color(img, (0, 0, 1080, 1000), WHITE) == 0
    assert count_color(img, (0, 0, 1080, 1000), (20, 20, 24)) > 1000


async def test_deterministic_and_seed_varies_the_background() -> None:
    first = await card(title=RU_TITLE, text=RU_TEXT, client_name="Zavod", seed=7)
    second = await card(title=RU_TITLE, text=RU_TEXT, client_name="Zavod", seed=7)
    assert first.data == second.data
    other = await card(title=RU_TITLE, text=RU_TEXT, client_name="Zavod", seed=8)
    assert other.data != first.data
    photo = photo_bytes()
    assert (await card(background=photo)).data == (await card(background=photo)).data


def test_registry_returns_the_local_provider() -> None:
    provider = get_image_provider()
    assert isinstance(provider, LocalImageProvider)
    assert isinstance(provider, ImageProvider)
    assert provider.name == "local"
    with pytest.raises(LookupError):
        get_image_provider("no-such-provider")
