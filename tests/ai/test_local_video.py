"""The offline video provider: a 9:16 H.264/AAC slideshow with zoom/pan, cross-fades, subtitles."""

from __future__ import annotations

import io
import math
import re
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from app.ai import local_video
from app.ai.base import ProviderError
from app.ai.local_video import FPS, LocalVideoProvider, VideoRequest, VideoScene, _subtitles, _timeline

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def picture(
    size: tuple[int, int] = (800, 600), colour: tuple[int, int, int] = (40, 90, 160), fmt: str = "PNG"
) -> bytes:
    """A photo-like test image: a colour field with stripes and a circle (so motion is visible)."""
    img = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(img)
    for x in range(0, size[0], 40):
        draw.rectangle((x, 0, x + 12, size[1]), fill=(colour[2], colour[0], colour[1]))
    draw.ellipse((size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4), fill=(240, 200, 60))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def probe(data: bytes) -> str:
    """ffmpeg's description of a file (ffmpeg -i prints it on stderr and exits with 1)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.mp4"
        path.write_bytes(data)
        return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def frame_at(data: bytes, seconds: float) -> Image.Image:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.mp4"
        path.write_bytes(data)
        png = subprocess.run(
            [FFMPEG, "-loglevel", "error", "-ss", f"{seconds}", "-i", str(path), "-frames:v", "1", "-f", "image2",
             "-c:v", "png", "-"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
    return Image.open(io.BytesIO(png)).convert("RGB")


def frame_count(data: bytes) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.mp4"
        path.write_bytes(data)
        out = subprocess.run(
            [FFMPEG, "-hide_banner", "-i", str(path), "-map", "0:v", "-c", "copy", "-f", "null", "-"],
            capture_output=True, text=True,
        ).stderr  # fmt: skip
    return int(re.findall(r"frame=\s*(\d+)", out)[-1])


def files_in(path: Path) -> list[Path]:
    return list(path.iterdir())


@pytest.fixture(scope="module")
def tone() -> bytes:
    """A 5 s 440 Hz tone as MP3: an uploaded audio track."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tone.mp3"
        subprocess.run(
            [FFMPEG, "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=5", str(path)], check=True
        )
        return path.read_bytes()


def diff(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


async def make(*scenes: VideoScene, **kw: object):
    return await LocalVideoProvider().generate_video(VideoRequest(scenes=list(scenes), **kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def two_scenes() -> list[VideoScene]:
    return [
        VideoScene(image=picture(), text="Власти Казани утвердили проект нового парка на берегу Волги.", duration=1.0),
        VideoScene(image=picture((600, 900), (150, 40, 60), "JPEG"), text="Work starts in March.", duration=1.0),
    ]


async def test_full_size_video_is_h264_high_aac_1080x1920_30fps(two_scenes: list[VideoScene]) -> None:
    video = await make(*two_scenes, language="ru")
    info = probe(video.data)
    assert re.search(r"Video: h264 \(High\).*yuv420p.*1080x1920.*30 fps", info), info
    assert re.search(r"Audio: aac \(LC\).*(44100|48000) Hz, stereo", info), info
    # 2 x 1 s, overlapping by the 0.5 s cross-fade.
    assert video.duration == pytest.approx(1.5)
    assert frame_count(video.data) == round(1.5 * FPS)
    assert re.search(r"Duration: 00:00:01\.5\d", info), info
    assert (video.width, video.height, video.mime) == (1080, 1920, "video/mp4")
    # +faststart: the index (moov) comes before the media data (mdat).
    assert 0 <= video.data.find(b"moov") < video.data.find(b"mdat")

    poster = Image.open(io.BytesIO(video.poster))
    assert (poster.format, poster.size, video.poster_mime) == ("JPEG", (1080, 1920), "image/jpeg")
    # The poster is the first frame of the first scene (minus the subtitles and the codec).
    first = frame_at(video.data, 0)
    assert diff(poster.convert("RGB").resize((270, 480)), first.resize((270, 480))) < 12


async def test_scenes_move_and_cross_fade(two_scenes: list[VideoScene]) -> None:
    scenes = [VideoScene(image=s.image, duration=1.0) for s in two_scenes]  # no subtitles
    video = await make(*scenes)
    start, later = frame_at(video.data, 0.0), frame_at(video.data, 0.45)
    assert diff(start, later) > 1, "the first scene should zoom/pan, not stand still"
    # Mid cross-fade (0.5..1.0 s) the frame mixes both scenes: unlike the end of either.
    middle = frame_at(video.data, 0.75)
    end = frame_at(video.data, 1.45)
    assert diff(middle, later) > 5 and diff(middle, end) > 5


async def test_subtitles_are_burned_in(two_scenes: list[VideoScene]) -> None:
    plain = await make(VideoScene(image=two_scenes[0].image, duration=1.0), width=540, height=960)
    titled = await make(
        VideoScene(image=two_scenes[0].image, text="Ёжик в тумане", duration=1.0), width=540, height=960
    )
    a, b = frame_at(plain.data, 0.5), frame_at(titled.data, 0.5)
    changed = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 40 else 0)
    box = changed.getbbox()
    assert box is not None, "the subtitle frame should differ from the plain one"
    # Above the middle: clear of the platforms' bottom overlay and of a card's headline.
    assert box[1] > 960 * 0.15 and box[3] < 960 * 0.5, box


def test_long_text_becomes_consecutive_captions_with_escaped_markup() -> None:
    text = " ".join(["Площадь парка {составит} 18,5 гектара \\N и ещё немного слов."] * 6)
    req = VideoRequest(scenes=[VideoScene(image=b"", text=text, duration=6.0)], language="ru")
    ass = _subtitles(req, _timeline(req))
    events = [line for line in ass.splitlines() if line.startswith("Dialogue:")]
    assert len(events) > 1
    for event in events:
        body = event.split(",,", 2)[-1]
        assert body.count("\\N") <= local_video.SUBTITLE_MAX_LINES - 1
        text_part = body.split("}", 1)[1]
        assert "{" not in text_part and "\\N и" not in text_part
    assert "Language: ru" in ass


async def test_silent_track_without_audio_and_uploaded_audio_is_used(two_scenes: list[VideoScene], tone: bytes) -> None:
    scene = VideoScene(image=two_scenes[0].image, duration=1.0)
    silent = await make(scene, width=360, height=640)
    assert re.search(r"Audio: aac.*stereo", probe(silent.data))

    voiced = await make(scene, audio=tone, width=360, height=640)
    info = probe(voiced.data)
    assert re.search(r"Audio: aac.*stereo", info)
    # The 5 s track is cut to the 1 s video.
    assert re.search(r"Duration: 00:00:01\.0\d", info), info
    assert len(voiced.data) > len(silent.data)  # a tone costs more bits than silence


async def test_corrupt_image_gives_a_readable_error(two_scenes: list[VideoScene]) -> None:
    broken = VideoScene(image=b"\x89PNG\r\n\x1a\nthis is not really a png", duration=1.0)
    with pytest.raises(ProviderError, match=r"^Scene 2: the image could not be read") as info:
        await make(two_scenes[0], broken)
    assert not info.value.retryable


async def test_corrupt_audio_gives_ffmpeg_reason_and_leaves_no_files(
    two_scenes: list[VideoScene], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_video.tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ProviderError, match=r"ffmpeg could not make the video \(exit code \d+\): .*audio") as info:
        await make(VideoScene(image=two_scenes[0].image, duration=1.0), audio=b"garbage" * 100, width=360, height=640)
    assert len(str(info.value)) < 1800
    assert files_in(tmp_path) == []


async def test_timeout_kills_ffmpeg(
    two_scenes: list[VideoScene], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_video.tempfile, "tempdir", str(tmp_path))
    provider = LocalVideoProvider(timeout=0.05)
    with pytest.raises(ProviderError, match="longer than") as info:
        await provider.generate_video(VideoRequest(scenes=two_scenes))
    assert info.value.retryable
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    ("scenes", "message"),
    [
        ([], "at least one scene"),
        ([VideoScene(image=b"x", duration=0)], "Scene 1: the duration"),
        ([VideoScene(image=b"x", duration=1), VideoScene(image=b"x", duration=0.4)], "Scene 2 lasts 0.4 s"),
    ],
)
async def test_bad_requests_are_refused_before_ffmpeg(scenes: list[VideoScene], message: str) -> None:
    with pytest.raises(ProviderError, match=re.escape(message)):
        await make(*scenes)


async def test_same_request_same_video(two_scenes: list[VideoScene]) -> None:
    req = VideoRequest(scenes=two_scenes, width=360, height=640, language="ru")
    first = await LocalVideoProvider().generate_video(req)
    second = await LocalVideoProvider().generate_video(req)
    assert first.data == second.data and first.poster == second.poster
    other_seed = await LocalVideoProvider().generate_video(
        VideoRequest(scenes=two_scenes, width=360, height=640, language="ru", seed=1)
    )
    assert other_seed.data != first.data


def test_timeline_length_is_the_sum_minus_overlaps() -> None:
    scenes = [VideoScene(image=b"", duration=3.4) for _ in range(5)]
    timeline = _timeline(VideoRequest(scenes=scenes))
    assert timeline.duration == pytest.approx(15.0)
    assert timeline.total_frames == 450
    assert math.isclose(timeline.start(4) / FPS, 4 * (3.4 - 0.5))
