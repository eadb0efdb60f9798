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


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int


class ProviderError(Exception):
    """A provider failed. `retryable` tells the job runner whether another attempt can help
    (timeouts, 429, 5xx) or not (bad request, bad key): users need the difference spelled out."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class TextProvider(Protocol):
    # Structural (Protocol, not ABC) so adapters need not inherit from anything here.
    name: str

    async def generate_story(self, req: TextRequest) -> StoryDraft: ...


@runtime_checkable
class ImageProvider(Protocol):
    name: str

    async def generate_image(self, req: ImageRequest) -> GeneratedImage: ...


TextFactory = Callable[[], TextProvider]
ImageFactory = Callable[[], ImageProvider]

_text_factories: dict[str, TextFactory] = {}
_image_factories: dict[str, ImageFactory] = {}


def register_text_provider(name: str, factory: TextFactory) -> None:
    """Make `get_text_provider(name)` return `factory()` (HTTP adapters register here)."""
    _text_factories[name] = factory


def register_image_provider(name: str, factory: ImageFactory) -> None:
    _image_factories[name] = factory


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
