"""HTTP adapters for the AI provider seam (app.ai.base): OpenAI-compatible chat + images,
Stability's image API, Runway's image-to-video task API.

Nothing is registered at import: the admin-managed provider registry builds adapters explicitly
from a stored provider row through the factories below (base URL, key, model, options).
"""

from app.ai.http.common import ConnectionCheck, Timeouts
from app.ai.http.openai_compatible import (
    OpenAICompatibleConfig,
    OpenAICompatibleImageProvider,
    OpenAICompatibleTextProvider,
    openai_image_provider,
    openai_text_provider,
)
from app.ai.http.stability import StabilityConfig, StabilityImageProvider, stability_image_provider
from app.ai.http.video_api import RunwayConfig, RunwayVideoProvider, runway_video_provider

__all__ = [
    "ConnectionCheck",
    "OpenAICompatibleConfig",
    "OpenAICompatibleImageProvider",
    "OpenAICompatibleTextProvider",
    "RunwayConfig",
    "RunwayVideoProvider",
    "StabilityConfig",
    "StabilityImageProvider",
    "Timeouts",
    "openai_image_provider",
    "openai_text_provider",
    "runway_video_provider",
    "stability_image_provider",
]
