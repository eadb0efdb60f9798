"""Publishing to Instagram, and keeping the connection's token alive.

The client's Instagram connection (app.channels.instagram: the professional account's id and a
long-lived token, one per client) is also its Instagram publishing channel. A story version goes out
as Meta's content publishing flow has it (Instagram API with Facebook Login, graph.facebook.com):

1. `GET /{ig-user-id}/content_publishing_limit?fields=config,quota_usage` — over the rolling 24 h
   quota nothing is created; the publication waits until the oldest counted post leaves the window.
2. The media: the scenes' headliner images (1 → a feed post; 2–10 → a carousel: children with
   `is_carousel_item=true`, then a `CAROUSEL` container with `children=...`; more than 10 → the
   first 10, and the story's log says so), or the newest video (→ a `REELS` container, its poster
   frame as the cover). Images are first cropped/resized to what Instagram takes (`prepare_image`);
   Meta downloads media from URLs, so they are signed storage URLs that live `MEDIA_URL_TTL`.
3. `GET /{container-id}?fields=status_code,status` until FINISHED, with bounded backoff.
4. `POST /{ig-user-id}/media_publish?creation_id=...` → the media id — the point of no return.
5. `GET /{media-id}?fields=permalink` for the link.

Exactly once. Meta has no idempotency key, but a container's status says PUBLISHED once its post is
out. The container id is written to `Publication.external_id` as
"container:<id>" in a transaction of its own as soon as it exists (the publish transaction rolls
back on failure), so every later look — a retry, `reconcile()` after a crash — first asks that
container: PUBLISHED means the post is out and is looked up among the account's recent media
(`GET /{ig-user-id}/media`, by caption, made after the publication was created); FINISHED means it
is not, and the same container is published (never a second one). A media_publish that got no
answer (timeout, dropped connection) is an unknown outcome: unless the container already says
PUBLISHED, the publication needs attention; nothing is sent again.

Tokens. Our connection holds a Facebook Login token (business discovery, used by Instagram sources,
exists only there), so it is renewed with Facebook's long-lived token exchange
(`GET /oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token`,
developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived), which needs the
agency's Meta app id and secret; Instagram Login's `refresh_access_token` (graph.instagram.com)
does not take these tokens. A daily job renews tokens that run out within `TOKEN_REFRESH_WINDOW`
(and, once, tokens whose expiry is not known yet: the answer tells it). A transient failure keeps
the old token; a token Meta refuses makes the Channels page say "reconnect".

Secrets: the token is decrypted only here, travels in POST bodies or the `access_token` query
parameter (redacted from httpx's log line, as the sources client does), and never appears in our
messages or reprs; httpx's exceptions (which hold the request) are never chained to ours.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import io
import ipaddress
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.services import record as record_audit
from app.channels.base import ChannelError, ChannelTransport, FailureKind, PublishRequest, PublishResult, register
from app.channels.instagram import InstagramCredentials
from app.config import Settings, get_settings
from app.db.session import scoped_session
from app.generation.services import StoryVersionRepository
from app.i18n import gettext as _
from app.publishing.models import Channel, ChannelKind, Publication
from app.publishing.services import PublicationRepository
from app.secrets import SecretBox, SecretError

# The sources client's error reading and classification (token, rate limit, permission, outage)
# applies to every Graph call; publishing adds only its own error codes on top.
from app.sources.instagram import (
    _RATE_LIMIT_CODES,
    GraphApiClient,
    InstagramError,
    _classify,
    _int_or_none,
    _parse_time,
    _read_response,
    _scrub,
    _unreadable,
)
from app.storage import MediaStorage, StorageError, StorageObjectMissing, client_media_key, storage_from_settings
from app.stories.models import Asset, StoryVersion
from app.stories.previews import (
    INSTAGRAM_CAPTION_LIMIT,
    INSTAGRAM_CAROUSEL_MAX,
    INSTAGRAM_HASHTAG_LIMIT,
    measure,
    post_text,
)

__all__ = [
    "IMAGE_MAX_ASPECT",
    "IMAGE_MAX_BYTES",
    "IMAGE_MAX_WIDTH",
    "IMAGE_MIN_ASPECT",
    "IMAGE_MIN_WIDTH",
    "MEDIA_URL_TTL",
    "TOKEN_REFRESH_WINDOW",
    "ContainerStatus",
    "ImageRefused",
    "InstagramPublishingClient",
    "InstagramTransport",
    "MetaApp",
    "PreparedImage",
    "PublishOutcomeUnknown",
    "PublishingLimit",
    "RecentMedia",
    "TokenRefresh",
    "prepare_image",
    "prepared_image_key",
    "refresh_expiring_instagram_tokens",
    "refresh_instagram_token",
    "stage_image",
    "token_due",
]

logger = logging.getLogger("zavod.channels.instagram")

# --- what Instagram takes (shared/PLATFORMS.md; Meta's IG User Media reference) ------------------

# Aspect ratio as width / height: from 4:5 (the tallest portrait) to 1.91:1 (the widest landscape).
IMAGE_MIN_ASPECT = Fraction(4, 5)
IMAGE_MAX_ASPECT = Fraction(191, 100)
IMAGE_MIN_WIDTH = 320
IMAGE_MAX_WIDTH = 1440
IMAGE_MAX_BYTES = 8 * 1024 * 1024  # JPEG only
# Our rule, not Meta's: a narrower image is scaled up to 320 px (Instagram would do the same), but
# never more than twice — below 160 px the result is mush, so the image is refused with words.
IMAGE_MAX_UPSCALE = 2
JPEG_QUALITIES = (90, 85, 80, 75, 70, 60, 50)
# Bumped when the preparation rules change, so derivatives made under the old rules are not reused.
PREPARATION_VERSION = "ig-image-v1"
VIDEO_MIMES = frozenset({"video/mp4", "video/quicktime"})  # Reels: MP4 or MOV

# Meta fetches an image when its container is created and a video while it processes (minutes);
# a retry reuses a FINISHED container, which does not fetch again. Six hours outlive that with room
# for slow processing and Meta's own retries, and stay far below storage's 7-day maximum.
MEDIA_URL_TTL = 6 * 3600

# Status polling. Meta suggests about once a minute for up to 5 minutes; the publish job has 5
# minutes in all (enqueue_publication), so images get ~1 min and videos ~3 min, after which the
# publication is retried later with the same container.
IMAGE_POLL_DELAYS: tuple[float, ...] = (0.5, 1, 2, 3, 5, 8, 10, 10, 10, 10)
VIDEO_POLL_DELAYS: tuple[float, ...] = (2, 3, 5, 8, 10, 15, 15, 20, 20, 20, 20, 20, 20)
STILL_PROCESSING_RETRY = 120.0

DEFAULT_QUOTA_TOTAL = 50  # what the docs show; the live value comes from content_publishing_limit
DEFAULT_QUOTA_DURATION = 86400
RECENT_MEDIA_LIMIT = 50
# Instagram's timestamps come from Meta's clocks, `created_at` from ours.
CLOCK_SLACK = timedelta(minutes=2)

TOKEN_REFRESH_WINDOW = timedelta(days=10)

_CONTAINER_PREFIX = "container:"

# Content publishing error codes (developers.facebook.com/docs/instagram-platform/instagram-graph-api/
# reference/error-codes) that mean something more precise than the generic classification.
_QUOTA_SUBCODE = 2207042  # code 9: the 24 h publishing limit
_MEDIA_FETCH_CODE, _MEDIA_FETCH_SUBCODE = 9004, 2207052  # Meta could not download the media
_NOT_READY_SUBCODE = 2207027  # code 9007: the container is not FINISHED yet
_TRY_AGAIN_SUBCODES = frozenset({2207001, 2207003, 2207020, 2207032, 2207053})  # server error, timeouts, expired
_SPAM_SUBCODE = 2207051
_MEDIA_REFUSED_SUBCODES = frozenset({2207004, 2207005, 2207009, 2207010, 2207026, 2207028})


# --- image preparation ----------------------------------------------------------------------------


class ImageRefused(ValueError):
    """An image that cannot be made into one Instagram takes; `message` says why, for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PreparedImage:
    data: bytes  # JPEG
    width: int
    height: int


def crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The centred box with an allowed aspect ratio: too tall → 4:5, too wide → 1.91:1."""
    ratio = Fraction(width, height)
    if ratio < IMAGE_MIN_ASPECT:
        kept = math.floor(width / IMAGE_MIN_ASPECT)
        top = (height - kept) // 2
        return (0, top, width, top + kept)
    if ratio > IMAGE_MAX_ASPECT:
        kept = math.floor(height * IMAGE_MAX_ASPECT)
        left = (width - kept) // 2
        return (left, 0, left + kept, height)
    return (0, 0, width, height)


def target_size(width: int, height: int) -> tuple[int, int]:
    """The final size of an image whose ratio is already allowed: width within 320–1440 px.

    Raises ImageRefused for an image narrower than 160 px (see IMAGE_MAX_UPSCALE).
    """
    if width > IMAGE_MAX_WIDTH:
        new_width = IMAGE_MAX_WIDTH
    elif width >= IMAGE_MIN_WIDTH:
        return width, height
    elif width * IMAGE_MAX_UPSCALE >= IMAGE_MIN_WIDTH:
        new_width = IMAGE_MIN_WIDTH
    else:
        raise ImageRefused(
            _(
                "The image is only %(width)s px wide. Instagram needs at least %(minimum)s px, and Zavod does not "
                "enlarge an image more than twice: replace it with a larger one.",
                width=width,
                minimum=IMAGE_MIN_WIDTH,
            )
        )
    new_height = round(height * new_width / width)
    # Rounding must not carry the ratio past a limit by a pixel.
    lowest = math.ceil(new_width / IMAGE_MAX_ASPECT)
    highest = math.floor(new_width / IMAGE_MIN_ASPECT)
    return new_width, min(max(new_height, lowest), highest)


def prepare_image(data: bytes) -> PreparedImage:
    """Crop (centred) to 4:5 … 1.91:1, scale to 320–1440 px wide, and encode as a JPEG ≤ 8 MB.

    The EXIF orientation is applied and all metadata (camera, GPS) is dropped; transparency is
    flattened onto white. Raises ImageRefused with a message for a person. CPU-bound: run it in a thread.
    """
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ImageRefused(_("The image cannot be read: the file is damaged or not a picture.")) from None
    icc_profile = image.info.get("icc_profile")
    image = _flatten(image)
    box = crop_box(*image.size)
    if box != (0, 0, *image.size):
        image = image.crop(box)
    size = target_size(*image.size)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    for quality in JPEG_QUALITIES:
        buffer = io.BytesIO()
        options: dict[str, Any] = {"quality": quality, "optimize": True}
        if icc_profile:
            options["icc_profile"] = icc_profile  # keep the colours the picture was made in
        image.save(buffer, "JPEG", **options)
        if buffer.tell() <= IMAGE_MAX_BYTES:
            return PreparedImage(buffer.getvalue(), *image.size)
    raise ImageRefused(_("The image is too detailed to fit Instagram's 8 MB limit even at low quality."))


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image if image.mode == "RGB" else image.convert("RGB")


def prepared_image_key(client_id: UUID | str, source: bytes) -> str:
    """Where the prepared derivative of these source bytes lives: the same source, the same key."""
    digest = hashlib.sha256(PREPARATION_VERSION.encode() + b"\n" + source).hexdigest()[:40]
    return client_media_key(client_id, "instagram", f"{digest}.jpg")


async def stage_image(storage: MediaStorage, client_id: UUID | str, source_key: str) -> str:
    """Prepare the image stored under `source_key` (once: an existing derivative is reused) and
    return the derivative's key. Raises ImageRefused."""
    source = await storage.get(source_key)
    key = prepared_image_key(client_id, source)
    if not await storage.exists(key):
        prepared = await asyncio.to_thread(prepare_image, source)
        await storage.put(key, prepared.data, "image/jpeg")
    return key


# --- the Graph API client -------------------------------------------------------------------------


class PublishOutcomeUnknown(InstagramError):
    """media_publish was sent and no answer came back: the post may or may not be out."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "permanent")


@dataclass(frozen=True)
class ContainerStatus:
    code: str  # IN_PROGRESS | FINISHED | ERROR | EXPIRED | PUBLISHED
    text: str = ""  # Meta's words, e.g. "Error: Media download has failed"


@dataclass(frozen=True)
class PublishingLimit:
    usage: int
    total: int
    duration: int  # seconds

    @property
    def full(self) -> bool:
        return self.usage >= self.total


@dataclass(frozen=True)
class RecentMedia:
    id: str
    caption: str
    timestamp: datetime
    permalink: str | None


@dataclass(frozen=True)
class ExchangedToken:
    access_token: str = field(repr=False)
    expires_in: int | None  # seconds; None: Meta gave none (a token that does not expire)


@dataclass(frozen=True)
class MetaApp:
    """The agency's Meta app, which the long-lived token exchange authenticates with."""

    app_id: str
    app_secret: str = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] = os.environ) -> MetaApp | None:
        """INSTAGRAM_APP_ID / INSTAGRAM_APP_SECRET from Settings, else (tests that set them after the
        settings were read) from the environment. None: not configured, so tokens cannot be renewed."""
        app_id = (settings.instagram_app_id or environ.get("INSTAGRAM_APP_ID", "")).strip()
        secret = (settings.instagram_app_secret or environ.get("INSTAGRAM_APP_SECRET", "")).strip()
        return cls(app_id, secret) if app_id and secret else None


_SECRET_IN_TEXT_RE = re.compile(r"((?:access_token|fb_exchange_token|client_secret)=)[^&\s\"'<>]+", re.IGNORECASE)


class _RedactExchangeSecrets(logging.Filter):
    """The token exchange puts the token and the app secret in the query string, which httpx logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _SECRET_IN_TEXT_RE.sub(r"\1[redacted]", record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                _SECRET_IN_TEXT_RE.sub(r"\1[redacted]", str(a)) if "=" in str(a) and not isinstance(a, Mapping) else a
                for a in args
            )
        return True


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _RedactExchangeSecrets) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_RedactExchangeSecrets())


class InstagramPublishingClient(GraphApiClient):
    """Content publishing calls on the client's own account. Raises InstagramError (kind: retryable,
    needs_owner, permanent), and PublishOutcomeUnknown from `publish_container` when it cannot tell."""

    default_timeout = 30.0

    async def publishing_limit(self, ig_user_id: str, token: str) -> PublishingLimit:
        body = await self._call(
            "GET", f"{ig_user_id}/content_publishing_limit", {"fields": "config,quota_usage"}, token
        )
        data = body.get("data")
        entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        usage = _int_or_none(entry.get("quota_usage"))
        if usage is None:
            # Meta enforces the limit at media_publish anyway: an odd answer here must not stop a post.
            logger.warning("Instagram's content_publishing_limit answer had no quota_usage; publishing anyway")
            usage = 0
        return PublishingLimit(
            usage=usage,
            total=_int_or_none(config.get("quota_total")) or DEFAULT_QUOTA_TOTAL,
            duration=_int_or_none(config.get("quota_duration")) or DEFAULT_QUOTA_DURATION,
        )

    async def create_image_container(
        self, ig_user_id: str, token: str, image_url: str, *, caption: str | None = None, carousel_item: bool = False
    ) -> str:
        params = {"image_url": image_url}
        if carousel_item:
            params["is_carousel_item"] = "true"
        elif caption:
            params["caption"] = caption
        return await self._create(ig_user_id, token, params)

    async def create_carousel_container(
        self, ig_user_id: str, token: str, children: Sequence[str], caption: str
    ) -> str:
        params = {"media_type": "CAROUSEL", "children": ",".join(children)}
        if caption:
            params["caption"] = caption
        return await self._create(ig_user_id, token, params)

    async def create_reel_container(
        self, ig_user_id: str, token: str, video_url: str, caption: str, *, cover_url: str | None = None
    ) -> str:
        params = {"media_type": "REELS", "video_url": video_url, "share_to_feed": "true"}
        if caption:
            params["caption"] = caption
        if cover_url:
            params["cover_url"] = cover_url
        return await self._create(ig_user_id, token, params)

    async def container_status(self, container_id: str, token: str) -> ContainerStatus:
        body = await self._call("GET", container_id, {"fields": "status_code,status"}, token)
        code = body.get("status_code")
        if not isinstance(code, str) or not code:
            raise _unreadable()
        text = body.get("status") if isinstance(body.get("status"), str) else ""
        return ContainerStatus(code.upper(), _scrub(text, token)[:300])

    async def wait_until_finished(self, container_id: str, token: str, delays: Sequence[float]) -> ContainerStatus:
        """Read the status now, then after each delay, until it is no longer IN_PROGRESS (or the delays
        run out: then the last status, still IN_PROGRESS, is returned)."""
        status = await self.container_status(container_id, token)
        for delay in delays:
            if status.code != "IN_PROGRESS":
                break
            await asyncio.sleep(delay)
            status = await self.container_status(container_id, token)
        return status

    async def publish_container(self, ig_user_id: str, token: str, creation_id: str) -> str:
        body = await self._call(
            "POST", f"{ig_user_id}/media_publish", {"creation_id": creation_id}, token, publish=True
        )
        media_id = body.get("id")
        if not isinstance(media_id, str | int) or not str(media_id):
            # Meta answered 2xx: the post is out, but which one is it? A person (or reconcile) finds out.
            raise PublishOutcomeUnknown(_("Instagram accepted the post but did not say which post it made."))
        return str(media_id)

    async def permalink(self, media_id: str, token: str) -> str | None:
        body = await self._call("GET", media_id, {"fields": "permalink"}, token)
        link = body.get("permalink")
        return link if isinstance(link, str) and link else None

    async def recent_media(self, ig_user_id: str, token: str, limit: int = RECENT_MEDIA_LIMIT) -> list[RecentMedia]:
        """The account's newest posts (one page), newest first."""
        params = {"fields": "id,caption,timestamp,permalink", "limit": str(limit)}
        body = await self._call("GET", f"{ig_user_id}/media", params, token)
        found = []
        for raw in body.get("data") if isinstance(body.get("data"), list) else []:
            if not isinstance(raw, dict):
                continue
            media_id, timestamp = raw.get("id"), _parse_time(raw.get("timestamp"))
            if not isinstance(media_id, str | int) or timestamp is None:
                continue
            caption = raw.get("caption") if isinstance(raw.get("caption"), str) else ""
            permalink = raw.get("permalink") if isinstance(raw.get("permalink"), str) else None
            found.append(RecentMedia(str(media_id), caption, timestamp, permalink))
        found.sort(key=lambda m: m.timestamp, reverse=True)
        return found

    async def exchange_token(self, token: str, app: MetaApp) -> ExchangedToken:
        """Facebook Login's long-lived token exchange: a fresh long-lived token for a valid one."""
        params = {
            "grant_type": "fb_exchange_token",
            "client_id": app.app_id,
            "client_secret": app.app_secret,
            "fb_exchange_token": token,
        }
        body = await self._call("GET", "oauth/access_token", params, None, secrets=(token, app.app_secret))
        fresh = body.get("access_token")
        if not isinstance(fresh, str) or not fresh:
            raise _unreadable()
        expires_in = _int_or_none(body.get("expires_in"))
        return ExchangedToken(fresh, expires_in if expires_in and expires_in > 0 else None)

    async def _create(self, ig_user_id: str, token: str, params: dict[str, str]) -> str:
        body = await self._call("POST", f"{ig_user_id}/media", params, token)
        container_id = body.get("id")
        if not isinstance(container_id, str | int) or not str(container_id):
            raise _unreadable()
        return str(container_id)

    async def _call(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        token: str | None,
        *,
        publish: bool = False,
        secrets: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        url = f"{self.base_url}/{self.api_version}/{path}"
        sent = dict(params)
        if token is not None:
            sent["access_token"] = token
        failure: InstagramError | None = None
        response: httpx.Response | None = None
        # The httpx exception is not chained to ours: it holds the request, and so the token.
        try:
            if method == "GET":
                response = await self._http.get(url, params=sent, timeout=self.timeout)
            else:  # POST: parameters in the form body, so the token is not in the logged URL
                response = await self._http.post(url, data=sent, timeout=self.timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached Instagram: safe to try again, even for media_publish.
            failure = InstagramError(
                _(
                    "Could not connect to Instagram (%(reason)s); Zavod will try again later.",
                    reason=type(exc).__name__,
                ),
                "retryable",
            )
        except (httpx.TimeoutException, httpx.RequestError) as exc:
            if publish:
                failure = PublishOutcomeUnknown(
                    _(
                        "Instagram did not answer when asked to publish (%(reason)s), so the post may or may not "
                        "be out.",
                        reason=type(exc).__name__,
                    )
                )
            elif isinstance(exc, httpx.TimeoutException):
                failure = InstagramError(
                    _(
                        "Instagram did not answer within %(seconds)s seconds; Zavod will try again later.",
                        seconds=f"{self.timeout:g}",
                    ),
                    "retryable",
                )
            else:
                failure = InstagramError(
                    _(
                        "Could not connect to Instagram (%(reason)s); Zavod will try again later.",
                        reason=type(exc).__name__,
                    ),
                    "retryable",
                )
        except httpx.InvalidURL:
            failure = InstagramError(
                _("The Instagram API address is not valid (INSTAGRAM_GRAPH_BASE_URL)."), "permanent"
            )
        if failure is not None:
            raise failure
        assert response is not None
        return _read(response, token or "", secrets)


def _read(response: httpx.Response, token: str, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        for secret in secrets:
            error = {k: v.replace(secret, "[redacted]") if isinstance(v, str) else v for k, v in error.items()}
        raise _publishing_error(error, response, token) or _reworded(_classify(error, response, token, ""))
    return _read_response(response, token, "")


def _meta_words(error: Mapping[str, Any], token: str) -> str:
    """Meta's own explanation for a person (`error_user_msg`), else its message; never the token."""
    for key in ("error_user_msg", "message"):
        value = error.get(key)
        if isinstance(value, str) and value.strip():
            return _scrub(value.strip(), token)[:300]
    return _("no reason given")


def _publishing_error(error: Mapping[str, Any], response: httpx.Response, token: str) -> InstagramError | None:
    code, subcode = _int_or_none(error.get("code")), _int_or_none(error.get("error_subcode"))
    trace = error.get("fbtrace_id") if isinstance(error.get("fbtrace_id"), str) else None
    extra = {"code": code, "subcode": subcode, "status_code": response.status_code, "fbtrace_id": trace}
    if subcode == _QUOTA_SUBCODE:
        return InstagramError(
            _("This Instagram account has reached its publishing limit for the last 24 hours; Zavod will try again."),
            "retryable",
            3600.0,
            **extra,
        )
    if code == _MEDIA_FETCH_CODE or subcode == _MEDIA_FETCH_SUBCODE:
        return InstagramError(
            _(
                "Instagram could not download the media from Zavod's storage. Instagram fetches images and videos "
                "from a public web address: make sure this installation's media (BASE_URL, or the S3 bucket) can "
                "be reached from the internet. Zavod will try again."
            ),
            "retryable",
            **extra,
        )
    if subcode == _NOT_READY_SUBCODE:
        return InstagramError(
            _("Instagram has not finished processing the media yet; Zavod will try again in a minute."),
            "retryable",
            60.0,
            **extra,
        )
    if subcode in _TRY_AGAIN_SUBCODES:
        return InstagramError(
            _(
                "Instagram had a problem taking the media (%(reason)s); Zavod will try again.",
                reason=_meta_words(error, token),
            ),
            "retryable",
            **extra,
        )
    if subcode == _SPAM_SUBCODE:
        return InstagramError(
            _(
                "Instagram held the post back as suspected spam (%(reason)s). If it is not spam, tell Instagram "
                "through the account's app, then schedule the post again.",
                reason=_meta_words(error, token),
            ),
            "permanent",
            **extra,
        )
    if subcode in _MEDIA_REFUSED_SUBCODES:
        return InstagramError(
            _("Instagram refused the post: %(reason)s", reason=_meta_words(error, token)), "permanent", **extra
        )
    return None


def _reworded(exc: InstagramError) -> InstagramError:
    """The sources wording speaks of asking for posts; a rate limit on publishing is said so."""
    if exc.code in _RATE_LIMIT_CODES or exc.status_code == 429:
        extra = {"code": exc.code, "subcode": exc.subcode, "status_code": exc.status_code, "fbtrace_id": exc.fbtrace_id}
        if exc.retry_after:
            message = _(
                "Instagram is limiting how often Zavod may call it for this account; Zavod will try again in about "
                "%(minutes)s min.",
                minutes=max(1, round(exc.retry_after / 60)),
            )
        else:
            message = _(
                "Instagram is limiting how often Zavod may call it for this account; Zavod will try again later."
            )
        return InstagramError(message, "retryable", exc.retry_after, **extra)
    return exc


# --- what a story version becomes on Instagram ----------------------------------------------------


@dataclass(frozen=True)
class PostPlan:
    shape: str  # "image" | "carousel" | "reel"
    caption: str
    images: tuple[Asset, ...] = ()
    video: Asset | None = None
    cover: Asset | None = None
    left_out: int = 0  # images past the carousel's 10


def instagram_caption(version: StoryVersion) -> str:
    return post_text((version.captions or {}).get("instagram"))


def plan_post(version: StoryVersion) -> PostPlan:
    """The post the previews promise (app.stories.previews.instagram_preview); ChannelError (PERMANENT)
    when Instagram would refuse it — a caption is never cut."""
    caption = instagram_caption(version)
    length, hashtags = measure("utf16", caption), measure("hashtags", caption)
    if length > INSTAGRAM_CAPTION_LIMIT:
        raise ChannelError(
            _(
                "The Instagram caption is %(length)s characters long and Instagram takes at most %(limit)s. "
                "Shorten the story's Instagram caption, then schedule the post again.",
                length=length,
                limit=INSTAGRAM_CAPTION_LIMIT,
            ),
            FailureKind.PERMANENT,
        )
    if hashtags > INSTAGRAM_HASHTAG_LIMIT:
        raise ChannelError(
            _(
                "The Instagram caption has %(count)s hashtags and Instagram refuses more than %(limit)s. "
                "Remove some from the story's Instagram caption, then schedule the post again.",
                count=hashtags,
                limit=INSTAGRAM_HASHTAG_LIMIT,
            ),
            FailureKind.PERMANENT,
        )
    videos = sorted(
        (a for a in version.assets if a.kind == "video" and not a.stale), key=lambda a: a.created_at, reverse=True
    )
    if videos:
        video = videos[0]
        if (video.mime or "").split(";")[0].strip().lower() not in VIDEO_MIMES:
            raise ChannelError(
                _(
                    "Instagram takes Reels as MP4 or MOV files, and this story's video is %(mime)s: make the "
                    "video again, then schedule the post again.",
                    mime=video.mime or _("of an unknown type"),
                ),
                FailureKind.PERMANENT,
            )
        cover = next(
            (
                a
                for a in version.assets
                if a.kind == "poster" and a.idempotency_key == f"{video.idempotency_key}:poster"
            ),
            None,
        )
        return PostPlan("reel", caption, video=video, cover=cover)
    current = [a for a in version.assets if a.kind == "image"]
    images = [h for h in (scene.headliner(current) for scene in version.scenes) if h is not None]
    if not images:
        raise ChannelError(
            _(
                "Instagram needs an image or a video, and this story has neither: make an image for a scene, "
                "then schedule the post again."
            ),
            FailureKind.PERMANENT,
        )
    if len(images) == 1:
        return PostPlan("image", caption, images=(images[0],))
    kept = tuple(images[:INSTAGRAM_CAROUSEL_MAX])
    return PostPlan("carousel", caption, images=kept, left_out=len(images) - len(kept))


# --- the transport --------------------------------------------------------------------------------


def remembered_container(external_id: str | None) -> str | None:
    if external_id and external_id.startswith(_CONTAINER_PREFIX):
        return external_id[len(_CONTAINER_PREFIX) :] or None
    return None


def _same_caption(a: str | None, b: str | None) -> bool:
    # Instagram keeps the caption as sent, give or take surrounding and repeated whitespace.
    return " ".join((a or "").split()) == " ".join((b or "").split())


def _in_words(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    if minutes < 60:
        return _("%(minutes)s min", minutes=minutes)
    return _("%(hours)s h %(minutes)s min", hours=minutes // 60, minutes=minutes % 60)


def _channel_error(exc: InstagramError) -> ChannelError:
    # "needs_owner" (reconnect, approve a permission) is permanent for the publication: retrying
    # cannot fix it; the message tells the owner what to do, and the Channels page shows it.
    kind = FailureKind.RETRYABLE if exc.kind == "retryable" else FailureKind.PERMANENT
    return ChannelError(exc.message, kind, exc.retry_after)


def _not_public(url: str) -> str | None:
    """The host of a media URL Meta could never download from (this machine, a private network)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return host if address.is_private or address.is_loopback or address.is_link_local else None


def _credentials(settings: Settings, channel: Channel) -> InstagramCredentials:
    try:
        box = SecretBox.from_settings(settings)
        return InstagramCredentials.unseal(box, channel.credentials)
    except SecretError as exc:
        raise ChannelError(exc.message, FailureKind.PERMANENT) from None


async def _remember_container(session: AsyncSession, request: PublishRequest, container_id: str) -> None:
    """Write the container id in a transaction of its own: the publish transaction rolls back on any
    failure, and whatever happens after this, the next look must start from this container."""
    async with AsyncSession(session.bind, expire_on_commit=False) as side:
        side.info.update(session.info)  # the same tenant scope (row-level security)
        await side.execute(
            update(Publication)
            .where(Publication.client_id == request.client_id, Publication.id == request.publication_id)
            .values(external_id=f"{_CONTAINER_PREFIX}{container_id}")
        )
        await side.commit()


class InstagramTransport(ChannelTransport):
    kind = ChannelKind.INSTAGRAM

    request_timeout = 30.0
    image_poll_delays = IMAGE_POLL_DELAYS
    video_poll_delays = VIDEO_POLL_DELAYS

    def _client(self, settings: Settings) -> InstagramPublishingClient:
        return InstagramPublishingClient(base_url=settings.instagram_graph_base_url, timeout=self.request_timeout)

    async def publish(self, session: AsyncSession, request: PublishRequest) -> PublishResult:
        settings = get_settings()
        publication = await PublicationRepository(session, request.client_id).get(request.publication_id)
        credentials = _credentials(settings, publication.channel)
        version = await StoryVersionRepository(session, request.client_id).get(request.story_version_id)
        plan = plan_post(version)
        storage = storage_from_settings(settings)
        try:
            async with self._client(settings) as graph:
                result = await self._publish(session, graph, storage, request, publication, credentials, plan)
        except InstagramError as exc:
            raise _channel_error(exc) from None
        finally:
            await storage.close()
        if plan.left_out:
            note = _(
                "An Instagram carousel holds at most %(limit)s images: the first %(limit)s of %(total)s went out, "
                "the other %(left)s were left out.",
                limit=INSTAGRAM_CAROUSEL_MAX,
                total=len(plan.images) + plan.left_out,
                left=plan.left_out,
            )
            logger.info("Publication %s: %s", request.publication_id, note)
            await record_audit(
                session,
                request.client_id,
                "instagram_carousel_trimmed",
                actor_id=None,
                story_id=request.story_id,
                reason=note,
            )
        return result

    async def _publish(
        self,
        session: AsyncSession,
        graph: InstagramPublishingClient,
        storage: MediaStorage,
        request: PublishRequest,
        publication: Publication,
        credentials: InstagramCredentials,
        plan: PostPlan,
    ) -> PublishResult:
        ig_user_id, token = credentials.ig_user_id, credentials.access_token
        container_id = None
        remembered = remembered_container(publication.external_id)
        if remembered is not None:
            status = await self._status_or_none(graph, remembered, token)
            if status is not None and status.code == "PUBLISHED":
                return await self._settle_published(graph, credentials, publication, plan.caption)
            if status is not None and status.code in ("FINISHED", "IN_PROGRESS"):
                container_id = remembered  # an earlier attempt made it: publish that one, never a second

        limit = await graph.publishing_limit(ig_user_id, token)
        if limit.full:
            wait = await self._quota_frees_in(graph, credentials, limit)
            raise ChannelError(
                _(
                    "This Instagram account has used all %(total)s posts Instagram allows in %(hours)s hours; Zavod "
                    "will try again in about %(wait)s, when the oldest of them leaves that window.",
                    total=limit.total,
                    hours=round(limit.duration / 3600),
                    wait=_in_words(wait),
                ),
                FailureKind.RETRYABLE,
                wait,
            )

        if container_id is None:
            container_id = await self._create_container(graph, storage, request, credentials, plan)
            await _remember_container(session, request, container_id)

        delays = self.video_poll_delays if plan.shape == "reel" else self.image_poll_delays
        status = await graph.wait_until_finished(container_id, token, delays)
        if status.code == "PUBLISHED":
            return await self._settle_published(graph, credentials, publication, plan.caption)
        if status.code == "IN_PROGRESS":
            raise ChannelError(
                _(
                    "Instagram is still processing the %(what)s; Zavod will check again in about %(wait)s.",
                    what=_("video") if plan.shape == "reel" else _("images"),
                    wait=_in_words(STILL_PROCESSING_RETRY),
                ),
                FailureKind.RETRYABLE,
                STILL_PROCESSING_RETRY,
            )
        if status.code == "ERROR":
            if plan.shape == "reel":
                advice = _(
                    "Check that the video meets Instagram's rules for Reels (MP4 or MOV, H.264 or HEVC with AAC "
                    "sound, 3 seconds to 15 minutes), then schedule the post again."
                )
            else:
                advice = _("Replace the image, then schedule the post again.")
            raise ChannelError(
                _(
                    "Instagram could not process the %(what)s (%(reason)s). %(advice)s",
                    what=_("video") if plan.shape == "reel" else _("images"),
                    reason=status.text or _("no reason given"),
                    advice=advice,
                ),
                FailureKind.PERMANENT,
            )
        if status.code == "EXPIRED":
            raise ChannelError(
                _(
                    "The post prepared on Instagram expired before it was published (Instagram keeps it 24 hours): "
                    "schedule the post again."
                ),
                FailureKind.PERMANENT,
            )
        if status.code != "FINISHED":
            raise ChannelError(
                _(
                    "Instagram reports an unknown state (%(state)s) for the post; Zavod will try again.",
                    state=status.code,
                ),
                FailureKind.RETRYABLE,
            )

        try:
            media_id = await graph.publish_container(ig_user_id, token, container_id)
        except PublishOutcomeUnknown as exc:
            return await self._settle_unknown(graph, credentials, publication, plan.caption, container_id, exc.message)
        except InstagramError as exc:
            if exc.retryable:
                # Meta answered with an error, yet a transient one may still have published: look before
                # a retry is planned (the retry would look again, at the same container, anyway).
                status = await self._status_or_none(graph, container_id, token)
                if status is not None and status.code == "PUBLISHED":
                    return await self._settle_published(graph, credentials, publication, plan.caption)
            raise
        return PublishResult(external_id=media_id, external_url=await self._permalink(graph, media_id, token))

    async def _create_container(
        self,
        graph: InstagramPublishingClient,
        storage: MediaStorage,
        request: PublishRequest,
        credentials: InstagramCredentials,
        plan: PostPlan,
    ) -> str:
        ig_user_id, token = credentials.ig_user_id, credentials.access_token
        if plan.shape == "reel":
            assert plan.video is not None
            video_url = await self._media_url(storage, plan.video.storage_key)
            cover_url = await self._media_url(storage, plan.cover.storage_key) if plan.cover else None
            return await graph.create_reel_container(ig_user_id, token, video_url, plan.caption, cover_url=cover_url)
        urls = []
        for position, image in enumerate(plan.images, start=1):
            try:
                key = await stage_image(storage, request.client_id, image.storage_key)
            except ImageRefused as exc:
                raise ChannelError(
                    _("Image %(number)s: %(reason)s", number=position, reason=exc.message), FailureKind.PERMANENT
                ) from None
            except StorageObjectMissing:
                raise ChannelError(
                    _(
                        "Image %(number)s is missing from the media store: make it again for its scene, then "
                        "schedule the post again.",
                        number=position,
                    ),
                    FailureKind.PERMANENT,
                ) from None
            except StorageError:
                raise ChannelError(
                    _(
                        "Zavod could not read image %(number)s from its media store; it will try again.",
                        number=position,
                    ),
                    FailureKind.RETRYABLE,
                ) from None
            urls.append(await self._media_url(storage, key))
        if plan.shape == "image":
            return await graph.create_image_container(ig_user_id, token, urls[0], caption=plan.caption)
        children = [await graph.create_image_container(ig_user_id, token, url, carousel_item=True) for url in urls]
        return await graph.create_carousel_container(ig_user_id, token, children, plan.caption)

    @staticmethod
    async def _media_url(storage: MediaStorage, key: str) -> str:
        try:
            url = await storage.url(key, expires_in=MEDIA_URL_TTL)
        except StorageError:
            raise ChannelError(
                _("Zavod could not make a download address for the media; it will try again."), FailureKind.RETRYABLE
            ) from None
        host = _not_public(url)
        if host is not None:
            raise ChannelError(
                _(
                    "Instagram downloads media from a public web address, and this installation serves media from "
                    "%(host)s, which the internet cannot reach. Set BASE_URL to the public address (or store media "
                    "in S3), then schedule the post again.",
                    host=host,
                ),
                FailureKind.PERMANENT,
            )
        return url

    @staticmethod
    async def _status_or_none(
        graph: InstagramPublishingClient, container_id: str, token: str
    ) -> ContainerStatus | None:
        """The container's status; None when Instagram no longer knows it (gone, never made)."""
        try:
            return await graph.container_status(container_id, token)
        except InstagramError as exc:
            if exc.kind == "permanent":
                return None
            raise

    async def _quota_frees_in(
        self, graph: InstagramPublishingClient, credentials: InstagramCredentials, limit: PublishingLimit
    ) -> float:
        """Seconds until the rolling window lets one more post through: when the oldest counted post
        leaves it. Counted posts are the newest `usage` ones in the window; posts made in the app do not
        count, so this may wait a little longer than needed — never shorter."""
        now = datetime.now(UTC)
        try:
            recent = await graph.recent_media(
                credentials.ig_user_id, credentials.access_token, limit=min(max(limit.total, 1), 100)
            )
        except InstagramError:
            return 3600.0
        window_start = now - timedelta(seconds=limit.duration)
        in_window = [m.timestamp for m in recent if m.timestamp > window_start]  # newest first
        if not in_window:
            return 3600.0
        oldest_counted = in_window[min(limit.usage, len(in_window)) - 1]
        frees = oldest_counted + timedelta(seconds=limit.duration)
        return float(min(max((frees - now).total_seconds() + 60, 300), limit.duration))

    async def _settle_unknown(
        self,
        graph: InstagramPublishingClient,
        credentials: InstagramCredentials,
        publication: Publication,
        caption: str,
        container_id: str,
        reason: str,
    ) -> PublishResult:
        """media_publish got no answer. Only a container that already says PUBLISHED settles it now;
        anything else may still be on its way out, so a person decides (never a second publish)."""
        try:
            status = await graph.container_status(container_id, credentials.access_token)
            if status.code == "PUBLISHED":
                found = await self._find_post(graph, credentials, publication, caption)
                if found is not None:
                    return found
        except InstagramError:
            pass
        raise ChannelError(
            _(
                "%(reason)s Zavod will not publish it again by itself: check the Instagram account, and if the "
                "post is not there, schedule it again.",
                reason=reason,
            ),
            FailureKind.NEEDS_ATTENTION,
        )

    async def _settle_published(
        self,
        graph: InstagramPublishingClient,
        credentials: InstagramCredentials,
        publication: Publication,
        caption: str,
    ) -> PublishResult:
        found = await self._find_post(graph, credentials, publication, caption)
        if found is None:
            raise ChannelError(
                _(
                    "Instagram says this post was published, but Zavod cannot find it among the account's recent "
                    "posts (was its caption changed, or was it deleted?). Check the Instagram account."
                ),
                FailureKind.NEEDS_ATTENTION,
            )
        return found

    async def _find_post(
        self,
        graph: InstagramPublishingClient,
        credentials: InstagramCredentials,
        publication: Publication,
        caption: str,
    ) -> PublishResult | None:
        """The account's post made for this publication: the earliest of its recent posts made after the
        publication was created whose caption is ours. (The claim time is not stored; creation comes
        before it, so nothing of ours is missed.)"""
        since = publication.created_at - CLOCK_SLACK
        recent = await graph.recent_media(credentials.ig_user_id, credentials.access_token)
        matches = [m for m in recent if m.timestamp >= since and _same_caption(m.caption, caption)]
        if not matches:
            return None
        post = min(matches, key=lambda m: m.timestamp)
        link = post.permalink or await self._permalink(graph, post.id, credentials.access_token)
        return PublishResult(external_id=post.id, external_url=link)

    @staticmethod
    async def _permalink(graph: InstagramPublishingClient, media_id: str, token: str) -> str:
        try:
            return await graph.permalink(media_id, token) or ""
        except InstagramError as exc:
            # The post is out: a missing link must not turn it into a failure (and a retry into a repost).
            logger.warning("Instagram media %s is published but its permalink could not be read: %s", media_id, exc)
            return ""

    async def reconcile(self, session: AsyncSession, request: PublishRequest) -> PublishResult | None:
        """After a crash mid-publish: the post if it is on the account, else None (a person decides)."""
        settings = get_settings()
        publication = await PublicationRepository(session, request.client_id).get_one_or_none(
            Publication.id == request.publication_id
        )
        version = await StoryVersionRepository(session, request.client_id).get_one_or_none(
            StoryVersion.id == request.story_version_id
        )
        if publication is None or version is None:
            return None
        try:
            credentials = _credentials(settings, publication.channel)
        except ChannelError:
            return None
        try:
            async with self._client(settings) as graph:
                remembered = remembered_container(publication.external_id)
                if remembered is not None:
                    status = await self._status_or_none(graph, remembered, credentials.access_token)
                    if status is not None and status.code != "PUBLISHED":
                        return None  # the container never went out, so neither did the post
                return await self._find_post(graph, credentials, publication, instagram_caption(version))
        except InstagramError as exc:
            logger.warning("Could not reconcile Instagram publication %s: %s", request.publication_id, exc)
            return None


register(InstagramTransport())


# --- keeping the token alive ----------------------------------------------------------------------


class TokenRefresh(enum.StrEnum):
    REFRESHED = "refreshed"
    KEPT = "kept"  # a failure that may pass: the old token stays, tomorrow's run tries again
    REFUSED = "refused"  # Meta no longer accepts the token: the owner must reconnect
    SKIPPED = "skipped"  # no Meta app configured, unreadable credentials, or reconnected meanwhile


def token_due(credentials: InstagramCredentials, now: datetime) -> bool:
    """Whether the daily job should renew this token now."""
    if credentials.expires_at is None:
        # Never renewed: the exchange's answer tells when it runs out. Renewed and still no expiry:
        # Meta said it does not expire.
        return credentials.refreshed_at is None
    return credentials.expires_at - now <= TOKEN_REFRESH_WINDOW


def _expiry_warning(expires_at: datetime, reason: str) -> str:
    return _(
        "The Instagram access token runs out on %(date)s UTC and %(reason)s: the owner must reconnect Instagram "
        "with a new token before then.",
        date=f"{expires_at.astimezone(UTC):%Y-%m-%d}",
        reason=reason,
    )


async def refresh_instagram_token(
    session: AsyncSession,
    channel: Channel,
    *,
    graph: InstagramPublishingClient | None = None,
    app: MetaApp | None = None,
    box: SecretBox | None = None,
    now: datetime | None = None,
) -> TokenRefresh:
    """Renew the connection's long-lived token and store the new one, encrypted, with its expiry.

    A transient failure keeps the old token (complaint 3 of shared/PLATFORMS.md: a lost token means
    reconnecting). No transaction needs to be open on `session` when this is called: the network call
    comes first, then the row is locked and written only if nobody reconnected in between.
    """
    settings = get_settings()
    now = now or datetime.now(UTC)
    sealed = channel.credentials
    try:
        box = box or SecretBox.from_settings(settings)
        credentials = InstagramCredentials.unseal(box, sealed)
    except SecretError:
        return TokenRefresh.SKIPPED  # the Channels page already says the connection is damaged
    app = app or MetaApp.from_settings(settings)
    if app is None:
        if credentials.expires_at is not None and credentials.expires_at - now <= TOKEN_REFRESH_WINDOW:
            await session.refresh(channel, with_for_update=True)
            if channel.credentials == sealed:
                channel.last_error = _expiry_warning(
                    credentials.expires_at, _("Zavod cannot renew it (no Meta app is configured)")
                )
        return TokenRefresh.SKIPPED
    owned = graph is None
    client = graph or InstagramPublishingClient(base_url=settings.instagram_graph_base_url)
    try:
        fresh = await client.exchange_token(credentials.access_token, app)
    except InstagramError as exc:
        if exc.kind != "needs_owner":
            log = logger.warning if exc.retryable else logger.error
            log("Instagram token of channel %s not renewed, the old one is kept: %s", channel.id, exc)
            return TokenRefresh.KEPT
        await session.refresh(channel, with_for_update=True)
        if channel.credentials != sealed:
            return TokenRefresh.SKIPPED
        channel.last_error = exc.message
        return TokenRefresh.REFUSED
    finally:
        if owned:
            await client.aclose()
    await session.refresh(channel, with_for_update=True)
    if channel.credentials != sealed:
        return TokenRefresh.SKIPPED  # the owner reconnected meanwhile: their new token wins
    expires_at = now + timedelta(seconds=fresh.expires_in) if fresh.expires_in else None
    channel.credentials = InstagramCredentials(
        ig_user_id=credentials.ig_user_id, access_token=fresh.access_token, expires_at=expires_at, refreshed_at=now
    ).seal(box)
    if expires_at is not None and expires_at - now <= TOKEN_REFRESH_WINDOW:
        channel.last_error = _expiry_warning(expires_at, _("Meta did not extend it"))
    return TokenRefresh.REFRESHED


async def refresh_expiring_instagram_tokens(
    *,
    session_maker: async_sessionmaker[AsyncSession],
    settings: Settings | None = None,
    box: SecretBox | None = None,
    graph: InstagramPublishingClient | None = None,
    app: MetaApp | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """The daily job: renew every Instagram connection whose token runs out within 10 days."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    try:
        box = box or SecretBox.from_settings(settings)
    except SecretError:
        logger.error("Instagram tokens not renewed: no encryption key is configured")
        return {"due": 0}
    async with scoped_session(session_maker, system=True) as session:
        rows = (
            await session.execute(
                select(Channel.client_id, Channel.id, Channel.credentials).where(Channel.kind == ChannelKind.INSTAGRAM)
            )
        ).all()
    due = []
    for client_id, channel_id, sealed in rows:
        try:
            credentials = InstagramCredentials.unseal(box, sealed)
        except SecretError:
            continue
        if token_due(credentials, now):
            due.append((client_id, channel_id))
    outcomes: Counter[str] = Counter()
    owned = graph is None
    client = graph or InstagramPublishingClient(base_url=settings.instagram_graph_base_url)
    try:
        for client_id, channel_id in due:
            try:
                async with scoped_session(session_maker, client_id=client_id) as session:
                    channel = await session.get(Channel, channel_id)
                    if channel is None:
                        continue
                    await session.commit()  # no transaction stays open through Meta's answer
                    outcome = await refresh_instagram_token(session, channel, graph=client, app=app, box=box, now=now)
                outcomes[outcome.value] += 1
            except Exception:  # one client's trouble must not stop the others' renewals
                logger.exception("Renewing the Instagram token of channel %s failed", channel_id)
                outcomes["errors"] += 1
    finally:
        if owned:
            await client.aclose()
    return {"due": len(due), **outcomes}
