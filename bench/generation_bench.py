"""Generation benchmark: a 5-scene story with the built-in local providers.

    cd /work/main && uv run python bench/generation_bench.py [--runs 3] [--language ru|en] [--save DIR]

What it measures (issue 4, "Benchmark"), in a child process that does nothing else, so its
memory figures are the work's own:

1. text + images: LocalTextProvider.generate_story (5 scenes) on a long article, then one
   1080x1920 card per scene with LocalImageProvider, the article's photo as background;
2. video: LocalVideoProvider on those 5 cards with the scene texts as subtitles, 15 s long
   (5 scenes x 3.4 s minus 4 cross-fades of 0.5 s), 1080x1920 H.264/AAC;
3. peak memory: the child's VmHWM (/proc/self/status) plus the largest ffmpeg child's maximum
   RSS (getrusage(RUSAGE_CHILDREN)): the worker and its ffmpeg are alive at the same time.

Fonts and imports are warmed up once on another story before the clock runs (a worker process
is long-lived). With --runs N each figure is the median of N runs. The child also reports its CPU
seconds (user + system, its own and ffmpeg's), which vary less than wall time when other
processes share the machine.

Targets: text + images < 2 s, video < 20 s, peak memory < 400 MB. Nothing here asserts them.
The LAST line printed is one JSON object:
{"story_text_images_s", "video_15s_s", "peak_rss_mb", ...}
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SCENES = 5
VIDEO_SECONDS = 15.0
CROSSFADE = 0.5
TARGETS = {"story_text_images_s": 2.0, "video_15s_s": 20.0, "peak_rss_mb": 400.0}

RU_TITLE = "В Казани откроют новый парк на берегу Волги | Новости Татарстана"
RU_PARAGRAPHS = [
    "Власти Казани утвердили проект нового парка на берегу Волги. Работы начнутся весной, а первую "
    "очередь парка откроют летом 2025 г., сообщили в мэрии.",
    "Площадь парка составит 18,5 гектара. По словам главного архитектора города А. В. Смирнова, в парке "
    "появятся велодорожки, детские площадки и набережная длиной 2 км, т.е. почти вдвое больше нынешней.",
    "«Мы хотим, чтобы парк стал местом для всех горожан, а не только для туристов», — сказал Смирнов. "
    "Он добавил, что проект обсуждали с жителями на трёх публичных слушаниях.",
    "Стоимость работ оценивается в 1,2 млрд руб. Большую часть средств выделит федеральный бюджет по "
    "программе благоустройства, остальное — бюджет республики.",
    "Экологи просят сохранить старые деревья на берегу. В мэрии пообещали, что парк спроектируют так, "
    "чтобы сохранить не менее 90% деревьев.",
    "Вдоль набережной поставят павильоны для кафе и проката лодок. Подрядчика выберут на открытом "
    "конкурсе до конца февраля, а ход работ будут показывать на сайте мэрии.",
    "Жители соседних кварталов опасаются шума и нехватки парковок. В мэрии ответили, что у входов "
    "в парк сделают две стоянки, а вечером набережную будут патрулировать.",
    "Вторую очередь парка, с амфитеатром и пляжем, обещают открыть в 2026 году, если позволит бюджет.",
]
EN_TITLE = "City council approves new cycle lanes along the riverside - Riverside Gazette"
EN_PARAGRAPHS = [
    "The city council on Tuesday approved a plan to build 14 km of protected cycle lanes along the "
    "Riverside embankment, ending a debate that had dragged on for almost three years.",
    "The project, estimated at $12.5 million, will be paid for mostly by a regional transport grant. "
    "Work is expected to start in March and to finish before the end of 2026.",
    "“This is not about cyclists versus drivers,” said Dr. Helen Park, who heads the transport "
    "committee. “It is about making the riverside safe for everyone.”",
    "Local businesses were split. Some shop owners fear the loss of 120 parking spaces; others expect "
    "more customers on bikes.",
    "Opponents argued that the lanes would worsen congestion on Bridge Street. The council rejected "
    "their amendment by 9 votes to 4.",
    "The first section, between the old mill and the central bridge, will open in summer. The lanes "
    "will be lit at night, and the council will review traffic data after six months.",
]


def article(language: str, times: int = 4) -> tuple[str, str]:
    """A long article (~4-6 k characters) as feed HTML."""
    title, paragraphs = (RU_TITLE, RU_PARAGRAPHS) if language == "ru" else (EN_TITLE, EN_PARAGRAPHS)
    return title, "\n".join(f"<p>{p}</p>" for _ in range(times) for p in paragraphs)


def source_photo(seed: int = 0) -> bytes:
    """A stand-in for the article's photo: 1600x1200 JPEG with real detail (not flat colour)."""
    from PIL import Image

    size = (1600, 1200)
    detail = Image.effect_mandelbrot(size, (-2.2 + seed * 0.05, -1.2, 1.0, 1.2), 80)
    noise = Image.effect_noise(size, 40)
    sky = Image.linear_gradient("L").resize(size)
    photo = Image.merge("RGB", (detail, Image.blend(sky, noise, 0.3), sky.transpose(Image.Transpose.FLIP_TOP_BOTTOM)))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=88)
    return out.getvalue()


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def _story_and_images(language: str, photo: bytes, title: str, text: str):
    from app.ai.base import ImageRequest, TextRequest
    from app.ai.local_image import LocalImageProvider
    from app.ai.local_text import LocalTextProvider

    draft = await LocalTextProvider().generate_story(
        TextRequest(title=title, text=text, language=language, scene_count=SCENES)
    )
    images = LocalImageProvider()
    cards = []
    for index in range(len(draft.scenes)):
        # The cards carry the headline; the scene texts become the video's subtitles.
        req = ImageRequest(
            title=draft.title,
            text="",
            width=1080,
            height=1920,
            client_name="Zavod News",
            background=photo,
            seed=index,
        )
        cards.append(await images.generate_image(req))
    return draft, cards


def _save(folder: Path, video: bytes, poster: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "story.mp4").write_bytes(video)
    (folder / "poster.jpg").write_bytes(poster)


async def child(runs: int, language: str, save: str | None) -> dict[str, float]:
    from app.ai.local_video import LocalVideoProvider, VideoRequest, VideoScene

    photo = source_photo()
    # Warm-up on another story: imports, fonts, glyph caches (a worker is long-lived).
    other = "en" if language == "ru" else "ru"
    await _story_and_images(other, source_photo(1), *article(other, 1))

    title, text = article(language)
    text_images, video, cpu_video = [], [], []
    duration = (VIDEO_SECONDS + (SCENES - 1) * CROSSFADE) / SCENES
    provider = LocalVideoProvider()
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        draft, cards = await _story_and_images(language, photo, title, text)
        text_images.append(time.perf_counter() - start)

        req = VideoRequest(
            scenes=[
                VideoScene(image=c.data, text=t, duration=duration) for c, t in zip(cards, draft.scenes, strict=True)
            ],
            language=language,
            crossfade=CROSSFADE,
        )
        cpu_before = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = await provider.generate_video(req)
        video.append(time.perf_counter() - start)
        cpu_video.append(_cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - cpu_before)

    assert result is not None
    if save:
        _save(Path(save), result.data, result.poster)
    worker_mb = _vm_hwm_mb()
    ffmpeg_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "story_text_images_s": round(statistics.median(text_images), 3),
        "video_15s_s": round(statistics.median(video), 2),
        "peak_rss_mb": round(worker_mb + ffmpeg_mb, 1),
        "worker_rss_mb": round(worker_mb, 1),
        "ffmpeg_rss_mb": round(ffmpeg_mb, 1),
        "video_cpu_s": round(statistics.median(cpu_video), 2),
        "video_duration_s": result.duration,
        "video_bytes": len(result.data),
        "scenes": SCENES,
        "runs": runs,
        "language": language,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="repeat and report medians (default 1)")
    parser.add_argument("--language", choices=("ru", "en"), default="ru")
    parser.add_argument("--save", metavar="DIR", help="write the video and its poster to DIR, to watch them")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(asyncio.run(child(args.runs, args.language, args.save))))
        return

    cmd = [sys.executable, __file__, "--child", "--runs", str(args.runs), "--language", args.language]
    if args.save:
        cmd += ["--save", str(Path(args.save).resolve())]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"benchmark child failed with exit code {proc.returncode}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    with open("/proc/loadavg") as f:
        figures["load_avg_1m"] = float(f.read().split()[0])  # other work on the machine skews times

    print(f"5-scene story ({args.language}), local providers, {args.runs} run(s), medians:")
    print(f"  text + 5 images (1080x1920): {figures['story_text_images_s']:.3f} s  (target < 2 s)")
    video, cpu = figures["video_15s_s"], figures["video_cpu_s"]
    print(f"  video 15 s 1080x1920:        {video:.2f} s  (target < 20 s; CPU {cpu} s)")
    print(
        f"  peak memory:                 {figures['peak_rss_mb']:.0f} MB  (target < 400 MB; "
        f"worker {figures['worker_rss_mb']:.0f} MB + ffmpeg {figures['ffmpeg_rss_mb']:.0f} MB)"
    )
    missed = [key for key, limit in TARGETS.items() if figures[key] >= limit]
    print("  targets met" if not missed else f"  targets missed: {', '.join(missed)}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
