"""The AI provider seam: request/response types, provider interfaces and a tiny registry.

Everything that generates content (text, images; video later) goes through these small
interfaces so that the built-in offline providers and the HTTP adapters (OpenAI-compatible,
Stability, ...) are interchangeable. Jobs only ever see these types.

The registry is deliberately a plain dict of factories: the admin-managed provider table in the
database will decide *which* name to ask for; this module only maps a name to an instance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

# The three networks a StoryDraft carries captions for (keys of StoryDraft.captions).
NETWORKS: tuple[str, ...] = ("telegram", "instagram", "youtube")


@dataclass(frozen=True, slots=True)
class TextRequest:
    """Source material for one story. `text` may be HTML (feeds) or plain text (uploads)."""

    title: str
    text: str
    language: str = "en"
    scene_count: int = 1
    source_url: str | None = None


@dataclass(slots=True)
class StoryDraft:
    """A generated story: headline, texts, per-network captions that fit each network's limits."""

    title: str
    body: str
    lead: str
    captions: dict[str, str]  # keys: "telegram", "instagram", "youtube"
    hashtags: list[str]  # formatted, e.g. "#Climate"
    scenes: list[str]


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """One image to produce. `background` is the source photo's bytes, when the item had one."""

    title: str
    text: str
    width: int
    height: int
    brand_color: str = "#1f4e79"
    accent_color: str = "#f5b700"
    client_name: str = ""
    background: bytes | None = field(default=None, repr=False)  # bytes are noise in logs
    seed: int = 0
    # A picture description for image models (the pipeline's PROMPTS step); cards draw `text`.
    prompt: str = ""


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int


class ProviderError(Exception):
    """A provider failed. `retryable` tells the job runner whether another attempt can help
    (timeouts, 429, 5xx) or not (bad request, bad key): users need the difference spelled out.

    `retry_after` is the number of seconds the provider asked us to wait (a 429's Retry-After),
    when it said; `status_code` the HTTP status behind the failure, when there was one. The message
    is written for a person and never holds an API key.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status_code = status_code

    @property
    def message(self) -> str:
        """For a person, like every other error that reaches a job's or a form's message."""
        return str(self)

    def __reduce__(self) -> tuple[object, ...]:
        # Exceptions pickle as cls(*args); the keyword state must survive too (e.g. across a job queue).
        return (_rebuild_provider_error, (type(self), str(self), dict(self.__dict__)))


def _rebuild_provider_error(cls: type[ProviderError], message: str, state: dict[str, object]) -> ProviderError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """A short clip made from one still image: `prompt` describes the motion."""

    image: bytes = field(repr=False)
    prompt: str
    width: int = 1080
    height: int = 1920
    duration_s: float = 5.0
    seed: int = 0


@dataclass(frozen=True, slots=True)
class GeneratedVideo:
    """A finished clip. `width`/`height` are what the provider made (it may only offer a few
    shapes); fitting it to the exact format is the video pipeline's job."""

    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    duration_s: float


@runtime_checkable
class TextProvider(Protocol):
    # Structural (Protocol, not ABC) so adapters need not inherit from anything here.
    name: str

    async def generate_story(self, req: TextRequest) -> StoryDraft: ...


@runtime_checkable
class ImageProvider(Protocol):
    name: str

    async def generate_image(self, req: ImageRequest) -> GeneratedImage: ...


@runtime_checkable
class VideoProvider(Protocol):
    name: str

    async def generate_video(self, req: VideoRequest) -> GeneratedVideo: ...


TextFactory = Callable[[], TextProvider]
ImageFactory = Callable[[], ImageProvider]
VideoFactory = Callable[[], VideoProvider]

_text_factories: dict[str, TextFactory] = {}
_image_factories: dict[str, ImageFactory] = {}
_video_factories: dict[str, VideoFactory] = {}


def register_text_provider(name: str, factory: TextFactory) -> None:
    """Make `get_text_provider(name)` return `factory()` (HTTP adapters register here)."""
    _text_factories[name] = factory


def register_image_provider(name: str, factory: ImageFactory) -> None:
    _image_factories[name] = factory


def register_video_provider(name: str, factory: VideoFactory) -> None:
    _video_factories[name] = factory


# The built-ins are imported lazily: they import this module (a top-level import would be
# circular), and a caller that only needs the text provider should not pay for Pillow.


def _builtin_text(name: str) -> None:
    if name == "local" and name not in _text_factories:
        from app.ai.local_text import LocalTextProvider

        _text_factories[name] = LocalTextProvider


def _builtin_image(name: str) -> None:
    if name == "local" and name not in _image_factories:
        from app.ai.local_image import LocalImageProvider

        _image_factories[name] = LocalImageProvider


def get_text_provider(name: str = "local") -> TextProvider:
    _builtin_text(name)
    try:
        factory = _text_factories[name]
    except KeyError:
        known = ", ".join(sorted(_text_factories))
        raise LookupError(f"Unknown text provider {name!r} (known: {known})") from None
    return factory()


def get_image_provider(name: str = "local") -> ImageProvider:
    _builtin_image(name)
    try:
        factory = _image_factories[name]
    except KeyError:
        known = ", ".join(sorted(_image_factories))
        raise LookupError(f"Unknown image provider {name!r} (known: {known})") from None
    return factory()


def get_video_provider(name: str) -> VideoProvider:
    try:
        factory = _video_factories[name]
    except KeyError:
        known = ", ".join(sorted(_video_factories))
        raise LookupError(f"Unknown video provider {name!r} (known: {known})") from None
    return factory()
