"""Built-in offline video provider: a vertical slideshow made with ffmpeg.

Each scene is one image shown for its duration with a slow zoom or pan (the "Ken Burns" look),
scenes cross-fade into each other, the scene texts are burned in as subtitles, and the uploaded
audio track (or silence) is laid under it. Output: 1080x1920 MP4, H.264 High yuv420p at 30 fps
with AAC stereo 48 kHz and the index at the front (+faststart), which YouTube Shorts, Instagram
Reels and Telegram all accept, plus a JPEG poster.

How it is made, and why:

- Pillow decodes every scene image first (so a corrupt upload fails with the scene's number, not
  with ffmpeg's decoder noise), turns it upright (EXIF), cover-crops it to 9:16 and scales it to
  1.5x the output size. The enlargement is for the zoom: ffmpeg's `zoompan` cuts its window at
  whole input pixels, so on a 1x input a slow zoom moves in visible one-pixel steps; at 1.5x a
  step is 2/3 of an output pixel. (2x is smoother still but costs about 40% more filtering
  time and more memory per scene; 1.5x was the trade chosen on a 2-core machine.)
- `zoompan` turns the single still into `d` frames, evaluating zoom and position per output
  frame; it is several times cheaper than the alternatives tried (`scale` with per-frame
  evaluation, `perspective` with subpixel corners: 12 s of filtering for 15 s of video). The
  motions alternate by scene (zoom in, pan, zoom out, ...) and are a pure function of the scene
  index and `seed`, so the same request gives the same frames.
- `xfade` cross-fades the scenes; the video is `sum(durations) - (n - 1) * crossfade` long.
- Subtitles are an ASS file rendered by libass (the `ass` filter) with Roboto from the
  `font-roboto` package (Latin and Cyrillic), white on a translucent dark box so they stay
  readable over any picture. Lines are wrapped here with the font's real metrics; a long scene
  text becomes several captions shown one after another within the scene.
- ffmpeg (imageio-ffmpeg's static binary) runs as an asyncio subprocess in a private temporary
  directory that is always removed, with a timeout after which the process is killed. The
  encoder settings (`superfast`, which keeps CABAC and 8x8 transforms, so still H.264 High;
  2 threads; no B-frames) are chosen for a 2-core worker: see bench/README.md for the figures.

The poster is the first frame of the first scene, taken from the prepared image (the motion of
scene 1 starts at its full frame), without subtitles: a clean picture for thumbnails.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageOps

from app.ai.base import ProviderError
from app.ai.local_image import FONT_DIR, _font, clamp_lines, renderable, wrap

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 1080, 1920
FPS = 30
CROSSFADE = 0.5  # seconds each pair of neighbouring scenes overlaps
WORK_SCALE = 1.5  # scene images are prepared at this multiple of the output size (see above)
DEFAULT_TIMEOUT = 180.0  # seconds for one ffmpeg run
MAX_SCENES = 50
MAX_SCENE_SECONDS = 60.0
JPEG_QUALITY = 92
MAX_IMAGE_PIXELS = 50_000_000  # larger uploads are refused (and may be decompression bombs)
AUDIO_FADE_OUT = 1.0  # seconds; an uploaded track ends softly instead of being cut off

SUBTITLE_FONT = FONT_DIR / "Roboto-Bold.ttf"
SUBTITLE_FONT_NAME = "Roboto"
SUBTITLE_SIZE = 64  # ASS units = output pixels (PlayRes is the video size)
SUBTITLE_MIN_SIZE = 52
SUBTITLE_SIDE_MARGIN = 90
# Shorts and Reels cover the bottom ~20% with the caption, buttons and the reply field, and the
# branded photo cards keep their headline (up to ~5 lines) in the lower half: the subtitles end
# just above the middle, clear of both.
SUBTITLE_BOTTOM_MARGIN = 0.55
SUBTITLE_MAX_LINES = 3  # per caption; longer texts are split into consecutive captions
SUBTITLE_MIN_SECONDS = 1.2  # a caption shown for less cannot be read


@dataclass(frozen=True, slots=True)
class VideoScene:
    """One still: any image Pillow reads, of any size (cover-cropped to 9:16)."""

    image: bytes = field(repr=False)
    text: str = ""  # burned in as subtitles; empty for none
    duration: float = 3.0  # seconds, including the cross-fades at its ends


@dataclass(frozen=True, slots=True)
class VideoRequest:
    scenes: Sequence[VideoScene]
    audio: bytes | None = field(default=None, repr=False)  # any format ffmpeg reads
    language: str = "en"  # of the subtitles (ASS `Language`, helps libass shape the text)
    crossfade: float = CROSSFADE
    seed: int = 0  # shifts the cycle of motions: a regenerated video moves differently
    width: int = WIDTH
    height: int = HEIGHT


@dataclass(frozen=True, slots=True)
class GeneratedVideo:
    data: bytes = field(repr=False)
    poster: bytes = field(repr=False)  # JPEG, same size as the video
    width: int
    height: int
    duration: float  # seconds
    mime: str = "video/mp4"
    poster_mime: str = "image/jpeg"


# ---- timing --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Timeline:
    frames: tuple[int, ...]  # per scene
    overlap: int  # frames shared by neighbouring scenes

    @property
    def total_frames(self) -> int:
        return sum(self.frames) - self.overlap * (len(self.frames) - 1)

    @property
    def duration(self) -> float:
        return self.total_frames / FPS

    def start(self, index: int) -> int:
        """First frame of scene `index` in the finished video."""
        return sum(self.frames[:index]) - self.overlap * index


def _timeline(req: VideoRequest) -> _Timeline:
    if not req.scenes:
        raise ProviderError("A video needs at least one scene.")
    if len(req.scenes) > MAX_SCENES:
        raise ProviderError(f"A video can have at most {MAX_SCENES} scenes, not {len(req.scenes)}.")
    if req.width % 2 or req.height % 2 or not (16 <= req.width <= 2160 and 16 <= req.height <= 3840):
        raise ProviderError(f"Unsupported video size {req.width}x{req.height}.")
    if not 0 <= req.crossfade <= 2:
        raise ProviderError(f"The cross-fade must be between 0 and 2 seconds, not {req.crossfade}.")
    overlap = round(req.crossfade * FPS) if len(req.scenes) > 1 else 0
    frames = []
    for number, scene in enumerate(req.scenes, 1):
        if not (isinstance(scene.duration, int | float) and 0 < scene.duration <= MAX_SCENE_SECONDS):
            raise ProviderError(f"Scene {number}: the duration must be between 0 and {MAX_SCENE_SECONDS:g} s.")
        n = round(scene.duration * FPS)
        # A scene fades in and out: it must last longer than both fades together.
        ends = (number > 1) + (number < len(req.scenes))
        if n <= overlap * ends:
            need = overlap * ends / FPS
            raise ProviderError(
                f"Scene {number} lasts {scene.duration:g} s; with cross-fades it needs over {need:g} s."
            )
        frames.append(n)
    return _Timeline(tuple(frames), overlap)


# ---- scene images and poster ---------------------------------------------------------------


def _load_image(data: bytes, number: int) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise ProviderError(f"Scene {number}: the image is too large ({img.width}x{img.height} pixels).")
            img.draft("RGB", (WIDTH * 2, HEIGHT * 2))  # JPEG: decode big photos at reduced scale
            return ImageOps.exif_transpose(img).convert("RGB")
    except ProviderError:
        raise
    except Exception as exc:  # Pillow raises many types on bad input; the user needs one message
        reason = str(exc) or type(exc).__name__
        raise ProviderError(f"Scene {number}: the image could not be read ({reason}).") from None


def _prepare_images(req: VideoRequest, workdir: Path) -> bytes:
    """Write each scene as a cover-cropped, enlarged BMP; return the poster JPEG."""
    work = (round(req.width * WORK_SCALE / 2) * 2, round(req.height * WORK_SCALE / 2) * 2)
    poster = b""
    for index, scene in enumerate(req.scenes):
        img = _load_image(scene.image, index + 1)
        # Subjects sit above the centre more often than below it.
        big = ImageOps.fit(img, work, Image.Resampling.BICUBIC, centering=(0.5, 0.4))
        del img
        big.save(workdir / f"scene{index}.jpg", "JPEG", quality=JPEG_QUALITY)
        if index == 0:
            # Frame 0 of scene 1 shows the whole prepared image (its motion starts at zoom 1).
            out = io.BytesIO()
            start = _motion(0, req.seed)
            frame = _window(big, start[0][0], start[1][0], start[2][0])
            frame.resize((req.width, req.height), Image.Resampling.LANCZOS).save(out, "JPEG", quality=88)
            poster = out.getvalue()
    return poster


# ---- motion --------------------------------------------------------------------------------

# (zoom from, to), (x from, to), (y from, to): x/y are where the window sits within the margin
# the zoom leaves (0 = left/top edge, 1 = right/bottom). Zoom stays <= 1.1 so that text near a
# card's edges (the branded cards keep ~9% margins) is never cut off.
_Motion = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
_MOTIONS: tuple[_Motion, ...] = (
    ((1.00, 1.10), (0.5, 0.5), (0.5, 0.4)),  # slow zoom in, drifting a little up
    ((1.08, 1.08), (0.1, 0.9), (0.5, 0.5)),  # pan left to right
    ((1.10, 1.00), (0.5, 0.5), (0.4, 0.5)),  # zoom out
    ((1.08, 1.08), (0.5, 0.5), (0.9, 0.1)),  # pan upwards
    ((1.00, 1.10), (0.3, 0.6), (0.5, 0.5)),  # zoom in towards the right
    ((1.08, 1.08), (0.9, 0.1), (0.5, 0.5)),  # pan right to left
)


def _motion(index: int, seed: int) -> _Motion:
    motion = _MOTIONS[(index + seed) % len(_MOTIONS)]
    if index == 0:
        # The opening frame (and the poster) shows the whole picture: the first scene always
        # starts at zoom 1, zooming in.
        (z0, z1), xs, ys = motion
        if z0 != 1.0:
            motion = ((1.0, max(z0, z1)), xs, ys)
    return motion


def _window(img: Image.Image, zoom: float, fx: float, fy: float) -> Image.Image:
    w, h = img.width / zoom, img.height / zoom
    x, y = fx * (img.width - w), fy * (img.height - h)
    return img.crop((round(x), round(y), round(x + w), round(y + h)))


def _lerp(a: float, b: float, last: int) -> str:
    if a == b or last <= 0:
        return f"{a:g}"
    return f"({a:g}+({b - a:g})*on/{last})"


def _zoompan(index: int, frames: int, req: VideoRequest) -> str:
    (z0, z1), (x0, x1), (y0, y1) = _motion(index, req.seed)
    last = frames - 1
    return (
        f"zoompan=z='{_lerp(z0, z1, last)}'"
        f":x='{_lerp(x0, x1, last)}*(iw-iw/zoom)':y='{_lerp(y0, y1, last)}*(ih-ih/zoom)'"
        f":d={frames}:s={req.width}x{req.height}:fps={FPS}"
    )


# ---- subtitles -----------------------------------------------------------------------------


def _ass_time(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def _ass_text(line: str) -> str:
    # Braces open override blocks and a backslash starts a tag in ASS: never let text do that.
    return line.replace("\\", "/").replace("{", "(").replace("}", ")")


def _caption_font(size: int):  # -> ImageFont.FreeTypeFont
    # libass sizes a font by its ascender + descender, Pillow by the em: convert, so the
    # wrapping measured here matches what libass draws.
    probe = _font(SUBTITLE_FONT, 100)
    ascent, descent = probe.getmetrics()
    return _font(SUBTITLE_FONT, max(1, round(size * 100 / (ascent + descent))))


def _captions(text: str, seconds: float, width: int) -> tuple[int, list[list[str]]]:
    """Font size and the captions (lists of lines) for one scene's text."""
    text = renderable(text, SUBTITLE_FONT)
    if not text:
        return SUBTITLE_SIZE, []
    box = width - 2 * SUBTITLE_SIDE_MARGIN
    slots = max(1, int(seconds // SUBTITLE_MIN_SECONDS))  # captions the scene has time for
    size = SUBTITLE_SIZE
    while True:
        font = _caption_font(size)
        lines = wrap(text, font, box)
        if len(lines) <= slots * SUBTITLE_MAX_LINES or size <= SUBTITLE_MIN_SIZE:
            break
        size -= 4
    count = min(slots, math.ceil(len(lines) / SUBTITLE_MAX_LINES))
    lines = clamp_lines(lines, count * SUBTITLE_MAX_LINES, font, box)
    per = math.ceil(len(lines) / count)
    return size, [lines[i : i + per] for i in range(0, len(lines), per)]


def _subtitles(req: VideoRequest, timeline: _Timeline) -> str:
    w, h = req.width, req.height
    scale = w / WIDTH
    margin_v = round(h * SUBTITLE_BOTTOM_MARGIN)
    side = round(SUBTITLE_SIDE_MARGIN * scale)
    header = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {w}",
        f"PlayResY: {h}",
        "WrapStyle: 2",  # lines are broken here, never by libass
        "ScaledBorderAndShadow: yes",
        "YCbCr Matrix: TV.709",
        f"Language: {req.language}",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding",
        # White bold text, a thin dark outline, and (BorderStyle 4, a libass extension) one
        # translucent dark box behind the whole caption: readable on white and on black.
        f"Style: Default,{SUBTITLE_FONT_NAME},{SUBTITLE_SIZE},&H00FFFFFF,&H00FFFFFF,&H40000000,&H60000000,"
        f"-1,0,0,0,100,100,0,0,4,{round(3 * scale)},{round(22 * scale)},2,{side},{side},{margin_v},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    events = []
    half = timeline.overlap / 2 / FPS
    last = len(req.scenes) - 1
    for index, scene in enumerate(req.scenes):
        start = timeline.start(index) / FPS + (half if index else 0)
        end = (timeline.start(index) + timeline.frames[index]) / FPS - (half if index < last else 0)
        size, captions = _captions(scene.text, end - start, round(w / scale))
        if not captions:
            continue
        size_tag = "" if size == SUBTITLE_SIZE else f"\\fs{round(size * scale)}"
        total_chars = sum(len(" ".join(c)) for c in captions)
        t = start
        for n, caption in enumerate(captions):
            share = len(" ".join(caption)) / total_chars
            stop = end if n == len(captions) - 1 else t + (end - start) * share
            text = "\\N".join(_ass_text(line) for line in caption)
            events.append(
                f"Dialogue: 0,{_ass_time(t)},{_ass_time(stop)},Default,,0,0,0,,{{\\fad(120,120){size_tag}}}{text}"
            )
            t = stop
    return "\n".join(header + events) + "\n"


# ---- the ffmpeg command --------------------------------------------------------------------

# The stills are sRGB (BT.709 primaries), converted with the BT.601 matrix (JPEG's, kept by
# ffmpeg's range conversion): say so, or players guess BT.709 for HD and shift the colours.
_COLOUR_TAGS = "setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=smpte170m"


def _command(req: VideoRequest, timeline: _Timeline, has_subtitles: bool) -> list[str]:
    n = len(req.scenes)
    args = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for index in range(n):
        args += ["-i", f"scene{index}.jpg"]
    if req.audio is not None:
        args += ["-i", "audio"]

    graph = []
    for index, frames in enumerate(timeline.frames):
        # zoompan works on yuv420p: the one conversion (JPEG's full range to video range) is
        # made once per scene, on the still, not per frame. On RGB zoompan is 3x slower.
        graph.append(f"[{index}:v]format=yuv420p,{_zoompan(index, frames, req)},setsar=1[s{index}]")
    label = "s0"
    fade = timeline.overlap / FPS
    for index in range(1, n):
        offset = (timeline.start(index)) / FPS
        graph.append(f"[{label}][s{index}]xfade=transition=fade:duration={fade:g}:offset={offset:g}[x{index}]")
        label = f"x{index}"
    if has_subtitles:
        graph.append(f"[{label}]ass=filename=subtitles.ass:fontsdir=fonts,{_COLOUR_TAGS}[vout]")
    else:
        graph.append(f"[{label}]{_COLOUR_TAGS}[vout]")

    seconds = f"{timeline.duration:g}"
    if req.audio is not None:
        fade_start = max(0.0, timeline.duration - AUDIO_FADE_OUT)
        graph.append(
            f"[{n}:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,apad,atrim=end={seconds},"
            f"afade=t=out:st={fade_start:g}:d={min(AUDIO_FADE_OUT, timeline.duration):g}[aout]"
        )
    else:
        # A silent track: some players and upload pipelines reject a video without audio.
        graph.append(f"anullsrc=channel_layout=stereo:sample_rate=48000,atrim=end={seconds}[aout]")

    args += ["-filter_complex", ";".join(graph), "-map", "[vout]", "-map", "[aout]"]
    args += [
        "-c:v", "libx264", "-preset", "superfast", "-profile:v", "high", "-crf", "21",
        # No B-frames: each frame x264 buffers for them costs ~17 MB at 1080x1920, and a
        # slideshow's smooth motion gains little from them (files ~10% larger).
        "-x264-params", "bframes=0", "-threads", "2",
        "-pix_fmt", "yuv420p", "-r", str(FPS), "-g", str(FPS * 2),
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
        "-frames:v", str(timeline.total_frames),
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
        "-movflags", "+faststart", "-f", "mp4", "out.mp4",
    ]  # fmt: skip
    return args


def _ffmpeg_error(returncode: int | None, stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    tail = " | ".join(line[:300] for line in lines[-5:]) or "no error output"
    return f"ffmpeg could not make the video (exit code {returncode}): {tail}"


async def _run(args: list[str], cwd: Path, limit: float) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(limit):
            _, stderr = await proc.communicate()
    except BaseException as exc:  # timeout, or the job was cancelled: never leave ffmpeg running
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.shield(proc.wait())
        if isinstance(exc, TimeoutError):
            raise ProviderError(f"ffmpeg took longer than {limit:g} s and was stopped.", retryable=True) from None
        raise
    if proc.returncode != 0:
        raise ProviderError(_ffmpeg_error(proc.returncode, stderr))


class LocalVideoProvider:
    """Offline slideshow videos; deterministic for the same request."""

    name = "local"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout

    async def generate_video(self, req: VideoRequest) -> GeneratedVideo:
        timeline = _timeline(req)
        workdir = Path(tempfile.mkdtemp(prefix="zavod-video-"))
        try:
            poster = await asyncio.to_thread(_prepare_images, req, workdir)
            ass = _subtitles(req, timeline)
            has_subtitles = "Dialogue:" in ass
            if has_subtitles:
                (workdir / "subtitles.ass").write_text(ass, encoding="utf-8")
                fonts = workdir / "fonts"
                fonts.mkdir()
                # Only our font in libass's font directory: nothing depends on system fonts.
                try:
                    os.symlink(SUBTITLE_FONT, fonts / SUBTITLE_FONT.name)
                except OSError:
                    shutil.copyfile(SUBTITLE_FONT, fonts / SUBTITLE_FONT.name)
            if req.audio is not None:
                (workdir / "audio").write_bytes(req.audio)
            await _run(_command(req, timeline, has_subtitles), workdir, self.timeout)
            data = (workdir / "out.mp4").read_bytes()
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        return GeneratedVideo(data=data, poster=poster, width=req.width, height=req.height, duration=timeline.duration)
