"""AI providers: the interfaces (app.ai.base), built-in offline providers; HTTP adapters in app.ai.http."""

from app.ai.base import (
    GeneratedImage,
    GeneratedVideo,
    ImageProvider,
    ImageRequest,
    ProviderError,
    StoryDraft,
    TextProvider,
    TextRequest,
    VideoProvider,
    VideoRequest,
    get_image_provider,
    get_text_provider,
    get_video_provider,
    register_image_provider,
    register_text_provider,
    register_video_provider,
)

__all__ = [
    "GeneratedImage",
    "GeneratedVideo",
    "ImageProvider",
    "ImageRequest",
    "ProviderError",
    "StoryDraft",
    "TextProvider",
    "TextRequest",
    "VideoProvider",
    "VideoRequest",
    "get_image_provider",
    "get_text_provider",
    "get_video_provider",
    "register_image_provider",
    "register_text_provider",
    "register_video_provider",
]
