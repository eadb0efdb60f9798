"""AI providers: the interfaces (app.ai.base), built-in offline providers, later HTTP adapters."""

from app.ai.base import (
    GeneratedImage,
    ImageProvider,
    ImageRequest,
    ProviderError,
    StoryDraft,
    TextProvider,
    TextRequest,
    get_image_provider,
    get_text_provider,
    register_image_provider,
    register_text_provider,
)

__all__ = [
    "GeneratedImage",
    "ImageProvider",
    "ImageRequest",
    "ProviderError",
    "StoryDraft",
    "TextProvider",
    "TextRequest",
    "get_image_provider",
    "get_text_provider",
    "register_image_provider",
    "register_text_provider",
]
