"""An asynchronous image-to-video API of the submit → poll → download kind: Runway's.

The contract used (docs.dev.runwayml.com, API version 2024-11-06):

* Every call carries `Authorization: Bearer <key>` and `X-Runway-Version: 2024-11-06`.
* `POST {base}/v1/image_to_video` with JSON `{"promptImage": <https URL or data URI>,
  "promptText", "model", "ratio": "W:H" (gen4_turbo: 1280:720, 720:1280, 1104:832, 832:1104,
  960:960, 1584:672), "duration": 5 | 10, "seed"?}` → `{"id": <task id>}`.
* `GET {base}/v1/tasks/{id}` → `{"id", "status": PENDING | THROTTLED | RUNNING | SUCCEEDED |
  FAILED | CANCELLED, "progress"?: 0..1, "output"?: [url, ...], "failure"?, "failureCode"?}`.
  Output URLs are short-lived signed links on another host: downloaded at once, without our key.
* `DELETE {base}/v1/tasks/{id}` cancels a running task (or deletes a finished one).
* Errors: `{"error": "...", "issues"?: [...]}` with 400 / 401 / 429 / 5xx.
* `GET {base}/v1/organization` → `{"creditBalance", ...}`: the cheap call behind `check_connection()`.

Polling tolerates a few transient failures (5xx, 429 — honouring Retry-After, timeouts) before
giving up. When the overall time limit passes, or the job running us is cancelled, the remote
task is cancelled too (best effort), so nobody pays for a clip no one will collect.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

from app.ai.base import GeneratedVideo, ProviderError, VideoRequest
from app.ai.http.common import ApiClient, ConnectionCheck, Timeouts, check_balance, format_seconds, nearest_shape
from app.i18n import gettext as _

__all__ = ["RUNWAY_RATIOS", "RunwayConfig", "RunwayVideoProvider", "runway_video_provider"]

logger = logging.getLogger("zavod.ai.http.video")

RUNWAY_RATIOS: tuple[str, ...] = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
API_VERSION = "2024-11-06"
MAX_SEED = 4_294_967_295
DATA_URI_LIMIT = 5 * 1024 * 1024  # Runway's limit for data URIs (the encoded size)
_WAITING = frozenset({"PENDING", "THROTTLED", "RUNNING"})

ProgressCallback = Callable[[float], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class RunwayConfig:
    api_key: str = field(default="", repr=False)
    base_url: str = "https://api.dev.runwayml.com"
    model: str = "gen4_turbo"
    name: str = "runway"
    label: str = "Runway"
    api_version: str = API_VERSION
    ratios: tuple[str, ...] = RUNWAY_RATIOS
    durations: tuple[int, ...] = (5, 10)
    poll_interval_s: float = 5.0
    timeout_s: float = 900.0  # submit to finished task
    max_poll_failures: int = 5  # transient errors in a row while polling before we give up
    max_video_bytes: int = 300 * 1024 * 1024
    timeouts: Timeouts = field(default_factory=Timeouts)


def _ratio_shapes(ratios: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    shapes: dict[str, tuple[int, int]] = {}
    for ratio in ratios:
        w, _sep, h = ratio.partition(":")
        if w.isdigit() and h.isdigit() and int(w) and int(h):
            shapes[ratio] = (int(w), int(h))
    if not shapes:
        raise ValueError(f"no usable ratio in {ratios!r}")
    return shapes


def _looks_like_mp4(data: bytes) -> bool:
    return len(data) > 12 and data[4:8] == b"ftyp"


class RunwayVideoProvider:
    """Image → short video clip through Runway's task API."""

    def __init__(self, config: RunwayConfig) -> None:
        self.config = config
        self.name = config.name
        self._shapes = _ratio_shapes(config.ratios)
        self._api = ApiClient(
            provider=config.label,
            base_url=config.base_url,
            api_key=config.api_key,
            timeouts=config.timeouts,
            headers={"X-Runway-Version": config.api_version},
            max_response_bytes=config.max_video_bytes,
        )

    def __repr__(self) -> str:
        return f"RunwayVideoProvider(base_url={self.config.base_url!r}, model={self.config.model!r})"

    async def aclose(self) -> None:
        await self._api.aclose()

    async def __aenter__(self) -> RunwayVideoProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- request ----------------------------------------------------------------------------------

    def _prompt_image(self, image: bytes) -> str:
        """The still as a data URI; re-encoded as JPEG when it is not JPEG/PNG/WebP or too big."""
        try:
            with Image.open(io.BytesIO(image)) as probe:
                fmt = (probe.format or "").upper()
                if fmt in ("JPEG", "PNG", "WEBP") and len(image) * 4 // 3 + 64 <= DATA_URI_LIMIT:
                    data, mime = image, f"image/{fmt.lower()}"
                else:
                    still = probe.convert("RGB")
                    still.thumbnail((2048, 2048))
                    out = io.BytesIO()
                    still.save(out, "JPEG", quality=88)
                    data, mime = out.getvalue(), "image/jpeg"
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            raise ProviderError(_("The picture for the video is not a readable image.")) from None
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

    def body_for(self, req: VideoRequest) -> dict[str, Any]:
        ratio = nearest_shape(req.width, req.height, self._shapes)
        duration = min(self.config.durations, key=lambda d: (abs(d - req.duration_s), d))
        body: dict[str, Any] = {
            "model": self.config.model,
            "promptImage": self._prompt_image(req.image),
            "promptText": req.prompt.strip()[:1000],
            "ratio": ratio,
            "duration": duration,
        }
        if req.seed:
            body["seed"] = req.seed % (MAX_SEED + 1)
        return body

    # -- the flow ---------------------------------------------------------------------------------

    async def generate_video(self, req: VideoRequest, *, on_progress: ProgressCallback | None = None) -> GeneratedVideo:
        body = self.body_for(req)
        created = await self._api.post_json("v1/image_to_video", body)
        task_id = created.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise ProviderError(_("%(provider)s did not say which task it started.", provider=self.config.label))
        try:
            task = await self._wait(task_id, on_progress)
        except asyncio.CancelledError:
            await self._cancel_quietly(task_id)
            raise
        output = task.get("output")
        url = output[0] if isinstance(output, list) and output and isinstance(output[0], str) else None
        if not url:
            raise ProviderError(
                _("%(provider)s finished the video but gave no address to download it.", provider=self.config.label)
            )
        download = await self._api.download(url, what="video")
        if not (download.content_type.startswith("video/") or _looks_like_mp4(download.content)):
            raise ProviderError(
                _(
                    "%(provider)s returned something that is not a video (%(content_type)s).",
                    provider=self.config.label,
                    content_type=download.content_type or "no content type",
                )
            )
        width, height = self._shapes[body["ratio"]]
        return GeneratedVideo(
            data=download.content,
            mime=download.content_type if download.content_type.startswith("video/") else "video/mp4",
            width=width,
            height=height,
            duration_s=float(body["duration"]),
        )

    async def _wait(self, task_id: str, on_progress: ProgressCallback | None) -> dict[str, Any]:
        provider = self.config.label
        deadline = time.monotonic() + self.config.timeout_s
        failures = 0
        while True:
            delay = self.config.poll_interval_s
            try:
                task = await self._api.get_json(f"v1/tasks/{task_id}")
            except ProviderError as exc:
                failures += 1
                if not exc.retryable or failures > self.config.max_poll_failures:
                    raise
                logger.warning(
                    "%s: polling task %s failed (%s of %s allowed): %s",
                    provider,
                    task_id,
                    failures,
                    self.config.max_poll_failures,
                    exc,
                )
                delay = max(delay, exc.retry_after or 0.0)
            else:
                failures = 0
                status = str(task.get("status", "")).upper()
                if status == "SUCCEEDED":
                    return task
                if status in ("FAILED", "CANCELLED"):
                    raise self._task_failed(task, status)
                if status not in _WAITING:
                    raise ProviderError(
                        _(
                            "%(provider)s reported a task status we do not know: %(status)s",
                            provider=provider,
                            status=status[:40] or "-",
                        )
                    )
                progress = task.get("progress")
                if on_progress is not None and isinstance(progress, int | float) and not isinstance(progress, bool):
                    result = on_progress(min(max(float(progress), 0.0), 1.0))
                    if inspect.isawaitable(result):
                        await result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._cancel_quietly(task_id)
                raise ProviderError(
                    _(
                        "%(provider)s did not finish the video within %(seconds)s seconds; the task was cancelled. "
                        "Trying again later.",
                        provider=provider,
                        seconds=format_seconds(self.config.timeout_s),
                    ),
                    retryable=True,
                )
            await asyncio.sleep(min(delay, remaining))

    def _task_failed(self, task: dict[str, Any], status: str) -> ProviderError:
        code = str(task.get("failureCode") or "")
        reason = self._api.scrub(str(task.get("failure") or code or status))[:300]
        if status == "CANCELLED":
            return ProviderError(_("The video task at %(provider)s was cancelled.", provider=self.config.label))
        if code.upper().startswith("SAFETY"):
            return ProviderError(
                _(
                    "The content filter of %(provider)s refused this video: %(reason)s",
                    provider=self.config.label,
                    reason=reason,
                )
            )
        return ProviderError(
            _("%(provider)s could not make the video: %(reason)s", provider=self.config.label, reason=reason),
            retryable=code.upper().startswith(("INTERNAL", "THROTTLED")),
        )

    async def _cancel_quietly(self, task_id: str) -> None:
        """Best effort DELETE /v1/tasks/{id}; shielded so a cancelled job still gets it out."""
        try:
            await asyncio.shield(self._api.send("DELETE", f"v1/tasks/{task_id}", total_timeout=5.0))
        except ProviderError as exc:
            logger.info("%s: could not cancel task %s: %s", self.config.label, task_id, type(exc).__name__)

    async def check_connection(self) -> ConnectionCheck:
        return await check_balance(
            self._api, self.config.label, "v1/organization", "creditBalance", self.config.timeouts.total
        )


def runway_video_provider(
    base_url: str, api_key: str, model: str = "gen4_turbo", **options: Any
) -> RunwayVideoProvider:
    return RunwayVideoProvider(RunwayConfig(base_url=base_url, api_key=api_key, model=model, **options))
