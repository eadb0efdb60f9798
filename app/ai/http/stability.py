"""Stability AI's image API (v2beta "Stable Image" generate), for illustrations.

The contract used (platform.stability.ai API reference):

* `POST {base}/v2beta/stable-image/generate/{core|ultra|sd3}` as `multipart/form-data` (even
  without a file), fields `prompt` (required), `aspect_ratio` (16:9, 1:1, 21:9, 2:3, 3:2, 4:5,
  5:4, 9:16, 9:21), `output_format` (png, jpeg, webp), `seed` (0 = random, up to 4294967294),
  optional `negative_prompt`, `style_preset` (core), `model` (sd3 endpoint);
  headers `Authorization: Bearer <key>` and `Accept: image/*`.
* Success: 200 with the image bytes; headers `finish-reason` (`SUCCESS` or `CONTENT_FILTERED`)
  and `seed`.
* Errors: JSON `{"id", "name", "errors": [...]}`: 400 bad_request, 401 unauthorised,
  402 payment_required (no credits), 403 content_moderation (the prompt was flagged — not a key
  problem), 413 payload_too_large, 422, 429 rate limit (150 requests / 10 s), 500.
* `GET {base}/v1/user/balance` → `{"credits": n}`: the cheap call behind `check_connection()`.

Stability has no free width/height: we pick the closest aspect ratio and scale + centre-crop the
result with Pillow to the exact size asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from app.ai.base import GeneratedImage, ImageRequest, ProviderError
from app.ai.http.common import (
    ApiClient,
    ConnectionCheck,
    Timeouts,
    check_balance,
    fit_image,
    nearest_shape,
    provider_detail,
)
from app.i18n import gettext as _

__all__ = ["ASPECT_RATIOS", "StabilityConfig", "StabilityImageProvider", "stability_image_provider"]

ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "21:9": (21, 9),
    "16:9": (16, 9),
    "3:2": (3, 2),
    "5:4": (5, 4),
    "1:1": (1, 1),
    "4:5": (4, 5),
    "2:3": (2, 3),
    "9:16": (9, 16),
    "9:21": (9, 21),
}
MAX_SEED = 4_294_967_294
PROMPT_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class StabilityConfig:
    api_key: str = field(default="", repr=False)
    base_url: str = "https://api.stability.ai"
    model: str = "core"  # the endpoint: core, ultra or sd3 (then `sd3_model` picks the variant)
    sd3_model: str | None = None  # e.g. "sd3.5-large" for the sd3 endpoint
    name: str = "stability"
    label: str = "Stability AI"
    timeouts: Timeouts = field(default_factory=Timeouts)
    output_format: Literal["png", "jpeg"] = "png"
    style_preset: str | None = None  # e.g. "photographic", "digital-art" (core only)
    negative_prompt: str | None = None
    image_style: str = ""  # appended to every prompt


class StabilityImageProvider:
    def __init__(self, config: StabilityConfig) -> None:
        self.config = config
        self.name = config.name
        self._api = ApiClient(
            provider=config.label, base_url=config.base_url, api_key=config.api_key, timeouts=config.timeouts
        )

    def __repr__(self) -> str:
        return f"StabilityImageProvider(base_url={self.config.base_url!r}, model={self.config.model!r})"

    async def aclose(self) -> None:
        await self._api.aclose()

    async def __aenter__(self) -> StabilityImageProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def prompt_for(self, req: ImageRequest) -> str:
        prompt = (req.prompt or req.text or req.title).strip()
        if self.config.image_style:
            prompt = f"{prompt}\n\n{self.config.image_style.strip()}"
        return prompt[:PROMPT_LIMIT]

    def form_for(self, req: ImageRequest) -> dict[str, Any]:
        form: dict[str, Any] = {
            "prompt": self.prompt_for(req),
            "aspect_ratio": nearest_shape(req.width, req.height, ASPECT_RATIOS),
            "output_format": self.config.output_format,
        }
        if req.seed:
            form["seed"] = str(req.seed % (MAX_SEED + 1))
        if self.config.negative_prompt:
            form["negative_prompt"] = self.config.negative_prompt
        if self.config.style_preset:
            form["style_preset"] = self.config.style_preset
        if self.config.sd3_model:
            form["model"] = self.config.sd3_model
        return form

    async def generate_image(self, req: ImageRequest) -> GeneratedImage:
        provider = self.config.label
        form = self.form_for(req)
        if not form["prompt"]:
            raise ProviderError(_("There is no text to draw a picture from."))
        # Stability wants multipart even without a file; (None, value) parts are plain form fields.
        files = {key: (None, str(value)) for key, value in form.items()}
        response = await self._api.send(
            "POST",
            f"v2beta/stable-image/generate/{self.config.model}",
            files=files,
            headers={"Accept": "image/*"},
            classify=self._classify,
        )
        if response.headers.get("finish-reason", "SUCCESS").upper() == "CONTENT_FILTERED":
            raise ProviderError(
                _("The content filter of %(provider)s blocked this image. Change the scene text.", provider=provider)
            )
        if not response.content_type.startswith("image/"):
            raise ProviderError(
                _(
                    "%(provider)s answered with something that is not the expected image (%(content_type)s).",
                    provider=provider,
                    content_type=response.content_type or "no content type",
                )
            )
        return fit_image(
            response.content, req.width, req.height, provider=provider, output_format=self.config.output_format
        )

    def _classify(self, status: int, headers: httpx.Headers, body: bytes) -> ProviderError | None:
        """Stability answers 403 for a flagged prompt too: that is not a refused key."""
        if status != 403:
            return None
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        if isinstance(data, dict) and data.get("name") == "content_moderation":
            return ProviderError(
                _(
                    "The content filter of %(provider)s refused this prompt: %(detail)s",
                    provider=self.config.label,
                    detail=provider_detail(body, self.config.api_key) or "-",
                ),
                status_code=status,
            )
        return None

    async def check_connection(self) -> ConnectionCheck:
        return await check_balance(
            self._api, self.config.label, "v1/user/balance", "credits", self.config.timeouts.total
        )


def stability_image_provider(
    base_url: str, api_key: str, model: str = "core", **options: Any
) -> StabilityImageProvider:
    return StabilityImageProvider(StabilityConfig(base_url=base_url, api_key=api_key, model=model, **options))
