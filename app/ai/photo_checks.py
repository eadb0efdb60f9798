"""Checks on an uploaded or source photo before it is used in a story.

`check_photo(data)` answers with a `PhotoVerdict`: `ok`, and when not, `reasons` in plain words
(translated with the current locale) that an editor can act on. It checks, with Pillow only:

- that the file is an image Pillow can decode, not truncated, not a decompression bomb;
- the minimum resolution (after EXIF rotation);
- that it is not blank: a near-uniform picture (a grey placeholder, a black frame) has a tiny
  spread of grey levels;
- sharpness: the variance of the Laplacian of a greyscale copy scaled to 512 px on its long
  side (so the score does not depend on the photo's size). Sharp photos score in the hundreds or
  thousands; a visibly blurred one in the tens or below. The threshold is a parameter.

NSFW detection is a hook, not a model: register a checker with `register_nsfw_checker(fn)`.
A checker gets the decoded image (RGB, at most 512 px on its long side) and the original bytes
and returns a reason (a translated sentence) to reject the photo, or None to let it pass.
None are registered by default, so without one no photo is rejected for its content; a
deployment that needs it registers one at start-up (e.g. a call to a moderation API or a local
classifier). A checker that raises is logged with its exception and skipped: a broken classifier
must not block every upload.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image, ImageFilter, ImageOps, ImageStat

from app.i18n import gettext as _

log = logging.getLogger(__name__)

MIN_WIDTH = 600
MIN_HEIGHT = 600
BLUR_THRESHOLD = 100.0  # variance of the Laplacian on the 512 px copy; below = too blurred (the usual
# figure for this measure; a sharp photo scores several hundred, a soft-focus one under 100)
BLANK_STDDEV = 4.0  # standard deviation of grey levels (0..255); below = blank
MAX_PIXELS = 50_000_000  # refuse larger images before decoding them (decompression bombs)
ANALYSIS_SIZE = 512

# A 3x3 Laplacian. Pillow's Kernel adds `offset` and clips to 0..255, so the response is centred
# on 128 to keep negative values; the variance is unaffected by the offset.
_LAPLACIAN = ImageFilter.Kernel((3, 3), (0, 1, 0, 1, -4, 1, 0, 1, 0), scale=1, offset=128)

NsfwChecker = Callable[[Image.Image, bytes], "str | None"]
_nsfw_checkers: list[NsfwChecker] = []


def register_nsfw_checker(checker: NsfwChecker) -> None:
    """Add a content checker (see the module docstring). Idempotent for the same callable."""
    if checker not in _nsfw_checkers:
        _nsfw_checkers.append(checker)


def unregister_nsfw_checker(checker: NsfwChecker) -> None:
    if checker in _nsfw_checkers:
        _nsfw_checkers.remove(checker)


@dataclass(slots=True)
class PhotoVerdict:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    width: int = 0
    height: int = 0
    format: str | None = None  # Pillow's name: "JPEG", "PNG", "WEBP" ...
    blur_score: float | None = None  # variance of the Laplacian; higher = sharper
    contrast: float | None = None  # standard deviation of grey levels


def _open(data: bytes) -> tuple[Image.Image | None, str | None, str | None]:
    """The decoded, upright image (small copy for analysis is made later), its format, or a reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format
            if img.width * img.height > MAX_PIXELS:
                return (
                    None,
                    fmt,
                    _(
                        "The photo is too large to process (%(width)s×%(height)s pixels).",
                        width=img.width,
                        height=img.height,
                    ),
                )
            img.load()
            return ImageOps.exif_transpose(img), fmt, None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, None, _("The photo is too large to process.")
    except Exception as exc:  # Pillow raises many types for broken or unknown files
        log.info("photo rejected as unreadable: %s", exc)
        return None, None, _("The file is not a photo we can read (damaged or in an unsupported format).")


def blur_score(grey: Image.Image) -> float:
    """Variance of the Laplacian of a greyscale ("L") image."""
    return ImageStat.Stat(grey.filter(_LAPLACIAN)).var[0]


def check_photo(
    data: bytes,
    *,
    min_width: int = MIN_WIDTH,
    min_height: int = MIN_HEIGHT,
    blur_threshold: float = BLUR_THRESHOLD,
    blank_stddev: float = BLANK_STDDEV,
) -> PhotoVerdict:
    """Whether a photo is fit to use; never raises for bad input (see the module docstring)."""
    if not data:
        return PhotoVerdict(ok=False, reasons=[_("The file is empty.")])
    img, fmt, problem = _open(data)
    if img is None:
        return PhotoVerdict(ok=False, reasons=[problem or ""], format=fmt)

    verdict = PhotoVerdict(ok=True, width=img.width, height=img.height, format=fmt)
    if img.width < min_width or img.height < min_height:
        verdict.reasons.append(
            _(
                "The photo is %(width)s×%(height)s pixels; at least %(min_width)s×%(min_height)s is needed.",
                width=img.width,
                height=img.height,
                min_width=min_width,
                min_height=min_height,
            )
        )

    # Transparent areas count as white, as they would look on a card.
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        img = flat
    small = img.convert("RGB")
    small.thumbnail((ANALYSIS_SIZE, ANALYSIS_SIZE), Image.Resampling.BILINEAR)
    grey = small.convert("L")

    verdict.contrast = round(ImageStat.Stat(grey).stddev[0], 2)
    if verdict.contrast < blank_stddev:
        verdict.reasons.append(_("The photo is blank: it is almost a single flat colour."))
    else:
        # A blank picture is also "blurred": say only the first, more useful thing.
        verdict.blur_score = round(blur_score(grey), 2)
        if verdict.blur_score < blur_threshold:
            verdict.reasons.append(
                _(
                    "The photo is too blurred (sharpness %(score)s, at least %(threshold)s is needed).",
                    score=f"{verdict.blur_score:.0f}",
                    threshold=f"{blur_threshold:.0f}",
                )
            )

    for checker in list(_nsfw_checkers):
        try:
            reason = checker(small, data)
        except Exception:
            log.exception("NSFW checker %r failed; the photo is not judged by it", checker)
            continue
        if reason:
            verdict.reasons.append(reason)

    verdict.ok = not verdict.reasons
    return verdict
