"""Built-in offline image provider: branded story cards drawn with Pillow.

A card is the client's colours (or the source photo, darkened), the headline set large in Roboto,
an optional short text, and a footer strip in the accent colour with the client's name. Output:

- PNG when the background is the brand colour (flat colour + text: lossless and small);
- JPEG (quality 90) when it is a photo (PNG would be several MB for no visible gain).

Instagram accepts only JPEG, so its channel converts PNG cards before upload; 1080x1920 is for
stories/reels, outside the 4:5..1.91:1 range of feed posts.

Rendering is deterministic: the same request gives the same bytes (no timestamps or random
state; `seed` only picks the direction of the gradient light).
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import font_roboto
from PIL import Image, ImageColor, ImageDraw, ImageFont, ImageOps

from app.ai.base import GeneratedImage, ImageRequest

log = logging.getLogger(__name__)

# Square feed post, 4:5 portrait feed post, 9:16 story/reel/short.
SIZES: frozenset[tuple[int, int]] = frozenset({(1080, 1080), (1080, 1350), (1080, 1920)})

FONT_DIR = Path(font_roboto.font_directory)
TITLE_FONT = FONT_DIR / "Roboto-Bold.ttf"
TEXT_FONT = FONT_DIR / "Roboto-Regular.ttf"
FOOTER_FONT = FONT_DIR / "Roboto-Medium.ttf"

# A photo larger than this is not worth decoding for a 1080 px card (and may be a bomb).
MAX_BACKGROUND_PIXELS = 50_000_000
ELLIPSIS = "…"

RGB = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class _Layout:
    """Per-size typography: sizes in px, line limits."""

    margin: int
    footer: int
    title_max: int
    title_min: int
    title_lines: int
    text_size: int
    text_lines: int
    # Stories/reels overlay the top (profile bar) and bottom (reply field) of a 9:16 frame:
    # nothing readable may sit there.
    safe_top: int = 0
    safe_bottom: int = 0


_LAYOUTS: dict[tuple[int, int], _Layout] = {
    (1080, 1080): _Layout(
        margin=88, footer=112, title_max=96, title_min=48, title_lines=5, text_size=38, text_lines=3
    ),
    (1080, 1350): _Layout(
        margin=88, footer=120, title_max=104, title_min=52, title_lines=6, text_size=40, text_lines=4
    ),
    (1080, 1920): _Layout(
        margin=96, footer=140, title_max=112, title_min=56, title_lines=7, text_size=44, text_lines=5,
        safe_top=220, safe_bottom=250,
    ),
}  # fmt: skip


# ---- fonts and glyphs ----------------------------------------------------------------------


_thread_fonts = threading.local()


def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    # Cached per thread: cards render in worker threads (asyncio.to_thread) and a FreeType face
    # must not be used by two threads at once.
    cache: dict[tuple[Path, int], ImageFont.FreeTypeFont] = _thread_fonts.__dict__.setdefault("fonts", {})
    font = cache.get((path, size))
    if font is None:
        font = cache[(path, size)] = ImageFont.truetype(str(path), size)
    return font


@lru_cache(maxsize=4096)
def _has_glyph(path: Path, ch: str) -> bool:
    """Whether Roboto draws `ch` (rather than its empty-box .notdef "tofu")."""
    if ch.isspace():
        return True
    font = _font(path, 48)
    tofu = font.getmask("\ue000")  # a private-use code point no font maps
    mask = font.getmask(ch)
    return not (mask.size == tofu.size and bytes(mask) == bytes(tofu))


def renderable(text: str, path: Path = TITLE_FONT) -> str:
    """Drop characters the font cannot draw (emoji, CJK), so cards never show tofu boxes."""
    kept = "".join(ch for ch in text if _has_glyph(path, ch))
    return " ".join(kept.split())


# ---- text layout ---------------------------------------------------------------------------


def _break_long_word(word: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    # Only for a single word wider than the whole line (a URL): split between characters.
    pieces: list[str] = []
    current = ""
    for ch in word:
        if current and font.getlength(current + ch) > width:
            pieces.append(current)
            current = ch
        else:
            current += ch
    if current:
        pieces.append(current)
    return pieces


_NBSP = "\u00a0"


def _glue(text: str) -> list[str]:
    """Words joined where a line must not break: after 1–2 letter words ("в", "на", "a") and
    before a dash — the Russian typesetting rule, harmless in English."""
    tokens: list[str] = []
    for word in text.split():
        last = tokens[-1].rsplit(_NBSP, 1)[-1] if tokens else ""
        if tokens and (word in {"—", "–"} or (len(last) <= 2 and last.isalpha())):
            tokens[-1] += _NBSP + word
        else:
            tokens.append(word)
    return tokens


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy word wrap by rendered width."""
    lines: list[str] = []
    current = ""
    for word in _glue(text):
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        if font.getlength(word) <= width:
            current = word
        else:
            *full, current = _break_long_word(word, font, width)
            lines.extend(full)
    if current:
        lines.append(current)
    return lines


def balanced_wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Wrap into as few lines as greedy wrapping needs, but with lines of even length: the
    narrowest width that keeps the line count (no lonely last word under a full line)."""
    lines = wrap(text, font, width)
    if len(lines) < 2:
        return lines
    lo, hi = width // 2, width
    while lo < hi:  # the line count only grows as the width shrinks
        mid = (lo + hi) // 2
        if len(wrap(text, font, mid)) <= len(lines):
            hi = mid
        else:
            lo = mid + 1
    return wrap(text, font, hi)


def _with_ellipsis(line: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """`line` shortened at a word boundary so that `line…` fits `width`."""
    words = line.split()
    while words:
        candidate = " ".join(words).rstrip(",;:—–-") + ELLIPSIS
        if font.getlength(candidate) <= width:
            return candidate
        words.pop()
    return ELLIPSIS


def clamp_lines(lines: list[str], max_lines: int, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    kept[-1] = _with_ellipsis(kept[-1] + " " + lines[max_lines], font, width)
    return kept


def fit_title(text: str, width: int, max_height: int, layout: _Layout) -> tuple[ImageFont.FreeTypeFont, list[str], int]:
    """Largest title size whose wrapped lines fit the box; at the smallest size, clamp with "…".

    Returns the font, the lines and the line height.
    """
    for size in range(layout.title_max, layout.title_min - 1, -2):
        font = _font(TITLE_FONT, size)
        line_height = round(size * 1.12)
        lines = wrap(text, font, width)
        if len(lines) <= layout.title_lines and len(lines) * line_height <= max_height:
            return font, balanced_wrap(text, font, width), line_height
    font = _font(TITLE_FONT, layout.title_min)
    line_height = round(layout.title_min * 1.12)
    max_lines = max(1, min(layout.title_lines, max_height // line_height))
    return font, clamp_lines(wrap(text, font, width), max_lines, font, width), line_height


# ---- colours and backgrounds ---------------------------------------------------------------


def parse_color(value: str, what: str) -> RGB:
    try:
        r, g, b = ImageColor.getrgb(value)[:3]
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a colour (expected e.g. '#1f4e79')") from None
    return r, g, b


def _luminance(rgb: RGB) -> float:
    # WCAG relative luminance: decides whether dark or light text is legible on a colour.
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _ink_on(rgb: RGB) -> RGB:
    return (20, 20, 24) if _luminance(rgb) > 0.4 else (255, 255, 255)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


# Corners in the order of Image.putdata on a 2x2 image.
_CORNERS = ((0, 0), (1, 0), (0, 1), (1, 1))


def _gradient_background(size: tuple[int, int], brand: RGB, seed: int) -> Image.Image:
    """Brand colour with a soft diagonal light and one large, faint circle for depth.

    `seed` picks the lit corner, so regenerating a card gives a visibly different variant.
    """
    light = _mix(brand, (255, 255, 255), 0.14)
    # Light brand colours turn muddy grey when darkened much: deepen them less.
    deep = _mix(brand, (0, 0, 0), 0.30 if _luminance(brand) < 0.4 else 0.08)
    mid = _mix(light, deep, 0.5)
    lit = _CORNERS[seed % 4]
    opposite = (1 - lit[0], 1 - lit[1])
    corners = [light if c == lit else deep if c == opposite else mid for c in _CORNERS]
    # A 2x2 image scaled up bilinearly *is* a smooth four-corner gradient, and cheap.
    small = Image.new("RGB", (2, 2))
    small.putdata(corners)
    canvas = small.resize(size, Image.Resampling.BILINEAR, box=(0.5, 0.5, 1.5, 1.5))

    width, height = size
    radius = round(width * 0.7)
    # Centred just outside the lit corner so only a gentle arc crosses the card.
    cx, cy = (lit[0] * 1.2 - 0.1) * width, (lit[1] * 1.2 - 0.1) * height
    veil = Image.new("L", size, 0)
    ImageDraw.Draw(veil).ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=12)
    return Image.composite(Image.new("RGB", size, (255, 255, 255)), canvas, veil)


def _photo_background(data: bytes, size: tuple[int, int], brand: RGB) -> Image.Image | None:
    """The source photo cover-cropped and darkened for white text; None if unusable."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_BACKGROUND_PIXELS:
                log.warning("background photo too large (%sx%s), using colours", img.width, img.height)
                return None
            img.draft("RGB", size)  # JPEG: decode at reduced scale when much larger
            photo = ImageOps.exif_transpose(img).convert("RGB")
    except Exception as exc:  # decoders raise many types on bad input; a card must still render
        log.warning("background photo unusable (%s), using colours", exc)
        return None
    # Subjects sit above the centre more often than below it.
    photo = ImageOps.fit(photo, size, Image.Resampling.LANCZOS, centering=(0.5, 0.4))
    # A light brand tint ties photos from different sources to the client's look.
    photo = Image.blend(photo, Image.new("RGB", size, brand), 0.18)
    # Darken more towards the bottom, where the text sits.
    shade = Image.linear_gradient("L").resize(size)  # 0 at top, 255 at bottom
    shade = shade.point(lambda v: round(70 + v * 0.65))  # alpha 70..235
    black = Image.new("RGB", size, (0, 0, 0))
    return Image.composite(black, photo, shade)


# ---- the card ------------------------------------------------------------------------------


def render_card(req: ImageRequest) -> GeneratedImage:
    size = (req.width, req.height)
    if size not in SIZES:
        allowed = ", ".join(f"{w}x{h}" for w, h in sorted(SIZES))
        raise ValueError(f"Unsupported card size {req.width}x{req.height} (allowed: {allowed})")
    layout = _LAYOUTS[size]
    brand = parse_color(req.brand_color, "brand_color")
    accent = parse_color(req.accent_color, "accent_color")

    photo = _photo_background(req.background, size, brand) if req.background else None
    canvas = photo if photo is not None else _gradient_background(size, brand, req.seed)
    ink = (255, 255, 255) if photo is not None else _ink_on(brand)
    # Secondary text: the ink moved 22% towards the background, so the title stays dominant.
    soft_ink = _mix(ink, brand if photo is None else (0, 0, 0), 0.22)
    draw = ImageDraw.Draw(canvas)
    width, height = size
    m = layout.margin
    box_width = width - 2 * m

    # Footer strip: accent colour with the client's name; a thin accent rule without one.
    client = renderable(req.client_name, FOOTER_FONT).upper()
    footer_h = layout.footer if client else 16
    footer_bottom = height - layout.safe_bottom
    draw.rectangle((0, footer_bottom - footer_h, width, footer_bottom), fill=accent)
    if client:
        font = _font(FOOTER_FONT, round(layout.footer * 0.3))
        client = clamp_lines(wrap(client, font, box_width), 1, font, box_width)[0]
        draw.text((m, footer_bottom - footer_h / 2), client, font=font, fill=_ink_on(accent), anchor="lm")

    # Text block (bottom up): optional short text, then the title, then an accent bar on top.
    top_limit = max(m, layout.safe_top)
    bottom = footer_bottom - footer_h - round(m * 0.8)
    text_font = _font(TEXT_FONT, layout.text_size)
    text_lh = round(layout.text_size * 1.35)
    text_lines = clamp_lines(
        wrap(renderable(req.text, TEXT_FONT), text_font, box_width), layout.text_lines, text_font, box_width
    )
    text_h = len(text_lines) * text_lh
    gap = round(layout.text_size * 0.9) if text_lines else 0
    bar_h, bar_gap = 10, round(m * 0.45)

    title_room = bottom - top_limit - text_h - gap - bar_h - bar_gap
    title = renderable(req.title, TITLE_FONT) or ELLIPSIS
    title_font, title_lines, title_lh = fit_title(title, box_width, title_room, layout)
    title_h = len(title_lines) * title_lh
    block_h = bar_h + bar_gap + title_h + gap + text_h

    if photo is not None:
        top = bottom - block_h  # over a photo the text sits low, on the darkest part
    else:
        # On colour, optically centred (slightly above the middle) in the free area.
        top = top_limit + max(0, round((bottom - top_limit - block_h) * 0.42))

    draw.rectangle((m, top, m + 120, top + bar_h), fill=accent)
    y = top + bar_h + bar_gap
    for line in title_lines:
        # "ls" anchor: lines are placed by baseline so mixed ascenders don't jiggle the rhythm.
        draw.text((m, y + round(title_font.size * 0.93)), line, font=title_font, fill=ink, anchor="ls")
        y += title_lh
    y += gap
    for line in text_lines:
        draw.text((m, y + round(layout.text_size * 1.0)), line, font=text_font, fill=soft_ink, anchor="ls")
        y += text_lh

    out = io.BytesIO()
    if photo is not None:
        canvas.save(out, "JPEG", quality=90, optimize=True, progressive=True)
        mime = "image/jpeg"
    else:
        canvas.save(out, "PNG", optimize=True)
        mime = "image/png"
    return GeneratedImage(data=out.getvalue(), mime=mime, width=width, height=height)


def render_backdrop(req: ImageRequest) -> GeneratedImage:
    """The card without its text: the photo (or the brand gradient) and the footer strip. The local
    video burns its own subtitles in, and a card's headline under them would be read twice."""
    size = (req.width, req.height)
    brand = parse_color(req.brand_color, "brand_color")
    accent = parse_color(req.accent_color, "accent_color")
    photo = _photo_background(req.background, size, brand) if req.background else None
    canvas = photo if photo is not None else _gradient_background(size, brand, req.seed)
    layout = _LAYOUTS.get(size)
    if layout is not None:
        draw = ImageDraw.Draw(canvas)
        footer_bottom = req.height - layout.safe_bottom
        draw.rectangle((0, footer_bottom - 16, req.width, footer_bottom), fill=accent)
    out = io.BytesIO()
    canvas.convert("RGB").save(out, "JPEG", quality=90)
    return GeneratedImage(data=out.getvalue(), mime="image/jpeg", width=req.width, height=req.height)


class LocalImageProvider:
    """Offline branded cards; deterministic for the same request."""

    name = "local"

    async def generate_image(self, req: ImageRequest) -> GeneratedImage:
        # Pillow work is CPU-bound (and releases the GIL in its C parts): keep the loop free.
        return await asyncio.to_thread(render_card, req)
