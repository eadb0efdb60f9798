"""OpenAI-compatible adapters: Chat Completions for stories, Images for illustrations.

The same contract is served by OpenAI, OpenRouter, vLLM, Ollama (`/v1`), LM Studio and others, so
the base URL decides who answers:

* `POST {base_url}/chat/completions` with `model`, `messages`, `temperature`, optionally
  `max_tokens` and `response_format: {"type": "json_object"}` → `choices[0].message.content`
  (`refusal` when the model declines, `finish_reason: "length"` when it ran out of tokens).
  Servers that do not know `response_format` answer 400 naming it; we then ask once more without
  it (the prompt asks for JSON anyway).
* `POST {base_url}/images/generations` with `model`, `prompt`, `size`, `n: 1` and (unless turned
  off, e.g. for gpt-image-1 which always answers base64) `response_format: "b64_json"` →
  `data[0].b64_json` or `data[0].url`, which we download.
* `GET {base_url}/models` → `data[].id`, used by `check_connection()`.

An empty API key sends no `Authorization` header (local Ollama / vLLM need none).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from app.ai.base import GeneratedImage, ImageRequest, ProviderError, StoryDraft, TextRequest
from app.ai.http.common import ApiClient, ConnectionCheck, Timeouts, fit_image, nearest_shape
from app.ai.http.drafts import format_instructions, parse_story
from app.ai.local_text import clean_paragraphs
from app.i18n import gettext as _

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "OpenAICompatibleConfig",
    "OpenAICompatibleImageProvider",
    "OpenAICompatibleTextProvider",
    "openai_image_provider",
    "openai_text_provider",
]

DEFAULT_SYSTEM_PROMPT = (
    "You are an editor at a content agency. You turn collected source material into a short, accurate "
    "story for social networks and a vertical video. Write clearly and vividly for a general audience."
)
SOURCE_LIMIT = 12_000  # characters of source text sent to the model
IMAGE_PROMPT_LIMIT = 4_000  # dall-e-3's limit; other models allow more
DEFAULT_IMAGE_SIZES = ("1024x1024", "1024x1536", "1536x1024")  # gpt-image-1; dall-e-3 has 1792 sides


@dataclass(frozen=True, slots=True)
class OpenAICompatibleConfig:
    """One configured OpenAI-compatible endpoint + model. `label` names it in messages
    (default: the base URL's host)."""

    base_url: str
    api_key: str = field(default="", repr=False)
    model: str = ""
    name: str = "openai"
    label: str = ""
    timeouts: Timeouts = field(default_factory=Timeouts)
    extra_headers: dict[str, str] = field(default_factory=dict)  # e.g. OpenRouter's HTTP-Referer, X-Title
    # text
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: float = 0.7
    max_tokens: int | None = None
    json_mode: bool = True
    # images
    image_sizes: tuple[str, ...] = DEFAULT_IMAGE_SIZES
    image_response_format: Literal["b64_json"] | None = "b64_json"
    image_quality: str | None = None
    image_style: str = ""  # appended to every image prompt, e.g. "flat illustration, no text"
    output_format: Literal["png", "jpeg"] = "png"

    @property
    def display_name(self) -> str:
        return self.label or urlsplit(self.base_url).netloc or self.name


class _OpenAIBase:
    def __init__(self, config: OpenAICompatibleConfig) -> None:
        self.config = config
        self.name = config.name
        self._api = ApiClient(
            provider=config.display_name,
            base_url=config.base_url,
            api_key=config.api_key,
            timeouts=config.timeouts,
            headers=config.extra_headers,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.config.base_url!r}, model={self.config.model!r})"

    async def aclose(self) -> None:
        await self._api.aclose()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def check_connection(self) -> ConnectionCheck:
        """GET /models: is the key accepted, and does the server offer the configured model?"""
        provider = self.config.display_name
        try:
            data = await self._api.get_json("models", total_timeout=min(self.config.timeouts.total, 30.0))
        except ProviderError as exc:
            return ConnectionCheck(ok=False, message=str(exc))
        items = data.get("data")
        models = tuple(
            sorted(str(m["id"]) for m in items if isinstance(m, dict) and m.get("id"))
            if isinstance(items, list)
            else ()
        )
        model = self.config.model
        if model and models and model not in models:
            return ConnectionCheck(
                ok=False,
                message=_(
                    "Connected to %(provider)s, but it does not offer the model “%(model)s”.",
                    provider=provider,
                    model=model,
                ),
                models=models,
            )
        return ConnectionCheck(
            ok=True,
            message=_(
                "Connected to %(provider)s: %(count)s models available.",
                provider=provider,
                count=len(models),
            ),
            models=models,
        )


class OpenAICompatibleTextProvider(_OpenAIBase):
    """Stories (and rewrites) through Chat Completions."""

    async def generate_story(self, req: TextRequest) -> StoryDraft:
        if req.scene_count < 1:
            raise ValueError("scene_count must be at least 1")
        source = "\n\n".join(clean_paragraphs(req.text))[:SOURCE_LIMIT]
        if not source.strip() and not req.title.strip():
            raise ProviderError(_("Nothing to write about: both the title and the text are empty."))
        user = "\n".join(
            [
                f"Language: {req.language}",
                f"Number of scenes: {req.scene_count}",
                *([f"Source URL: {req.source_url}"] if req.source_url else []),
                f"Title: {req.title.strip()}",
                "Source text:",
                source,
            ]
        )
        system = f"{self.config.system_prompt.strip()}\n\n{format_instructions(req.scene_count, req.language)}"
        content = await self._chat(system, user, json_answer=True)
        return parse_story(content, req, provider=self.config.display_name)

    async def rewrite(self, text: str, instruction: str, *, language: str | None = None) -> str:
        """ "Smart Edit": `text` rewritten following `instruction` (e.g. "shorter", "more formal")."""
        system = (
            f"{self.config.system_prompt.strip()}\n\nRewrite the user's text following the instruction. "
            "Keep the facts. Answer with the rewritten text only, without quotes or comments."
        )
        if language:
            system += f" Write in the language with the code {language!r}."
        content = (await self._chat(system, f"Instruction: {instruction}\n\nText:\n{text}", json_answer=False)).strip()
        if not content:
            raise ProviderError(_("%(provider)s returned an empty text.", provider=self.config.display_name))
        return content

    async def _chat(self, system: str, user: str, *, json_answer: bool) -> str:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": self.config.temperature,
        }
        if self.config.max_tokens:
            body["max_tokens"] = self.config.max_tokens
        if json_answer and self.config.json_mode:
            body["response_format"] = {"type": "json_object"}
        try:
            data = await self._api.post_json("chat/completions", body)
        except ProviderError as exc:
            # Older vLLM / Ollama / some OpenRouter models refuse response_format: ask again without it.
            if "response_format" in body and exc.status_code in (400, 422) and "response_format" in str(exc):
                del body["response_format"]
                data = await self._api.post_json("chat/completions", body)
            else:
                raise
        return self._content(data)

    def _content(self, data: dict[str, Any]) -> str:
        provider = self.config.display_name
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        message = choice.get("message") if choice else None
        if not isinstance(message, dict):
            raise ProviderError(
                _("%(provider)s answered without a message (no “choices”).", provider=provider),
            )
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal.strip():
            raise ProviderError(
                _(
                    "The model at %(provider)s declined to write this: %(reason)s",
                    provider=provider,
                    reason=self._api.scrub(refusal)[:300],
                )
            )
        content = message.get("content")
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str) or not content.strip():
            if choice and choice.get("finish_reason") == "content_filter":
                raise ProviderError(
                    _("The content filter of %(provider)s blocked the answer.", provider=provider),
                )
            raise ProviderError(_("%(provider)s returned an empty text.", provider=provider))
        if choice and choice.get("finish_reason") == "length" and "}" not in content[-50:]:
            raise ProviderError(
                _(
                    "The answer from %(provider)s was cut off before the end: raise the model's token limit "
                    "or shorten the source.",
                    provider=provider,
                )
            )
        return content


class OpenAICompatibleImageProvider(_OpenAIBase):
    """Illustrations through /images/generations, scaled and cropped to the exact size asked."""

    def _size(self, req: ImageRequest) -> str:
        shapes: dict[str, tuple[int, int]] = {}
        for size in self.config.image_sizes:
            w, _sep, h = size.partition("x")
            if w.isdigit() and h.isdigit():
                shapes[size] = (int(w), int(h))
        if not shapes:
            raise ValueError(f"no usable image size in {self.config.image_sizes!r}")
        return nearest_shape(req.width, req.height, shapes)

    def prompt_for(self, req: ImageRequest) -> str:
        prompt = (req.prompt or req.text or req.title).strip()
        if self.config.image_style:
            prompt = f"{prompt}\n\n{self.config.image_style.strip()}"
        return prompt[:IMAGE_PROMPT_LIMIT]

    async def generate_image(self, req: ImageRequest) -> GeneratedImage:
        provider = self.config.display_name
        prompt = self.prompt_for(req)
        if not prompt:
            raise ProviderError(_("There is no text to draw a picture from."))
        body: dict[str, Any] = {"model": self.config.model, "prompt": prompt, "size": self._size(req), "n": 1}
        if self.config.image_response_format:
            body["response_format"] = self.config.image_response_format
        if self.config.image_quality:
            body["quality"] = self.config.image_quality
        data = await self._api.post_json("images/generations", body)
        items = data.get("data")
        item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else None
        if item is None:
            raise ProviderError(_("%(provider)s answered without an image.", provider=provider))
        if isinstance(item.get("b64_json"), str) and item["b64_json"]:
            try:
                raw = base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                raise ProviderError(
                    _("%(provider)s returned something that is not a readable image.", provider=provider)
                ) from None
        elif isinstance(item.get("url"), str) and item["url"]:
            raw = (await self._api.download(item["url"], what="image")).content
        else:
            raise ProviderError(_("%(provider)s answered without an image.", provider=provider))
        return fit_image(raw, req.width, req.height, provider=provider, output_format=self.config.output_format)


# --- factories (the admin-managed registry will call these) ---------------------------------------


def openai_text_provider(base_url: str, api_key: str, model: str, **options: Any) -> OpenAICompatibleTextProvider:
    return OpenAICompatibleTextProvider(
        OpenAICompatibleConfig(base_url=base_url, api_key=api_key, model=model, **options)
    )


def openai_image_provider(base_url: str, api_key: str, model: str, **options: Any) -> OpenAICompatibleImageProvider:
    return OpenAICompatibleImageProvider(
        OpenAICompatibleConfig(base_url=base_url, api_key=api_key, model=model, **options)
    )
