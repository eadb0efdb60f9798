"""What every HTTP adapter shares: the client, timeouts, error classification, Retry-After, images.

One `ApiClient` per configured provider wraps an `httpx.AsyncClient` and turns every way a call
can fail into a `ProviderError` a person can read, with `retryable` set the way the job runner
needs it:

* timeouts (connect / read / the whole call) and broken connections → retryable;
* 429 → retryable, with `retry_after` from `Retry-After` (seconds or an HTTP date) or
  `retry-after-ms`; except OpenAI's "insufficient_quota", which no retry fixes;
* 408 / 409 / 425 and 5xx → retryable;
* 401 / 403 → not retryable: "the API key was refused";
* 402 → not retryable: the provider account has no credits left;
* other 4xx → not retryable, quoting the provider's own message (trimmed, scrubbed of keys);
* a success whose body is not what was promised (HTML, garbage) → not retryable.

The API key travels only in the `Authorization` header of calls to the configured API's own
origin (never to a download URL elsewhere), is kept out of reprs, and is scrubbed from any text
quoted from an answer. Logs carry method, URL, status and time, never headers.

The base URL is an admin setting, not a user-supplied address, so these calls do not go through
the SSRF-guarded fetcher (app.net): a self-hosted vLLM or Ollama on the local network is a
legitimate target.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError

from app.ai.base import GeneratedImage, ProviderError
from app.i18n import gettext as _

__all__ = [
    "ApiClient",
    "ApiResponse",
    "ConnectionCheck",
    "Timeouts",
    "error_from_response",
    "fit_image",
    "format_seconds",
    "nearest_shape",
    "parse_retry_after",
    "provider_detail",
    "scrub",
]

logger = logging.getLogger("zavod.ai.http")

DETAIL_LIMIT = 300  # characters of a provider's own error message we quote
MAX_RETRY_AFTER = 24 * 3600.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. `read` is the longest silence between bytes; `total` bounds the whole call."""

    connect: float = 10.0
    read: float = 120.0
    write: float = 60.0
    total: float = 300.0

    def for_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.connect)


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """A successful answer, read in full (under the size cap)."""

    status_code: int
    headers: httpx.Headers
    content: bytes = field(repr=False)
    url: str

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """What the admin's "test connection" button shows."""

    ok: bool
    message: str
    models: tuple[str, ...] = ()


# --- scrubbing and quoting ------------------------------------------------------------------------

# Things that look like keys even when they are not ours (a provider echoing a masked key, say).
_KEYLIKE_RE = re.compile(r"\b(?:sk|pk|rk|key|sess)-[A-Za-z0-9_\-*.]{6,}|\bBearer\s+\S+", re.IGNORECASE)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TAG_RE = re.compile(r"<[^>]{0,500}>")
_SPACE_RE = re.compile(r"\s+")


def scrub(text: str, secret: str | None) -> str:
    """`text` without the key (or anything key-like), control characters or runs of whitespace."""
    if secret:
        text = text.replace(secret, "[redacted]")
    text = _KEYLIKE_RE.sub("[redacted]", text)
    return _SPACE_RE.sub(" ", _CONTROL_RE.sub(" ", text)).strip()


def _trim(text: str, limit: int = DETAIL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _strings(value: Any) -> list[str]:
    """Error texts from the shapes providers use: a string, {"message": ...}, a list of those."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Mapping):
        for key in ("message", "msg", "detail", "error", "description"):
            if key in value:
                found = _strings(value[key])
                if found:
                    return found
        return []
    if isinstance(value, list):
        return [text for item in value[:5] for text in _strings(item)]
    return []


def provider_detail(body: bytes, secret: str | None = None) -> str:
    """The provider's own words about a failure, trimmed and scrubbed; "" when there are none.

    Knows OpenAI's `{"error": {"message"}}`, Stability's `{"name", "errors": [...]}`, Runway's
    `{"error": "...", "issues": [...]}`, FastAPI/vLLM's `{"detail": ...}` and Ollama's
    `{"error": "..."}`; otherwise quotes the start of a text body (tags stripped).
    """
    if not body:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body[:2000].decode("utf-8", "replace")
        return _trim(scrub(_TAG_RE.sub(" ", text), secret))
    parts: list[str] = []
    if isinstance(data, Mapping):
        for key in ("error", "errors", "message", "detail", "failure", "issues"):
            for text in _strings(data.get(key)):
                if text not in parts:
                    parts.append(text)
        name = data.get("name")
        if isinstance(name, str) and name and parts:
            parts.append(f"({name})")
        elif isinstance(name, str) and name:
            parts.append(name)
    else:
        parts = _strings(data)
    return _trim(scrub(" ".join(parts), secret))


def _error_code(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    error = data.get("error") if isinstance(data, Mapping) else None
    if isinstance(error, Mapping):
        code = error.get("code") or error.get("type")
        return code if isinstance(code, str) else ""
    return ""


# --- status classification ------------------------------------------------------------------------


def parse_retry_after(headers: Mapping[str, str] | httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (delta-seconds or an HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return min(max(value, 0.0), MAX_RETRY_AFTER)
    raw = (lowered.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        value = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(value):
        return None
    return min(max(value, 0.0), MAX_RETRY_AFTER)


def format_seconds(value: float) -> str:
    """7 → "7", 0.3 → "0.3", 12.6 → "13": short, never rounded down to a misleading "0"."""
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def error_from_response(
    provider: str, status: int, headers: Mapping[str, str] | httpx.Headers, body: bytes, secret: str | None = None
) -> ProviderError:
    """The ProviderError for an unsuccessful HTTP answer (see the module docstring)."""
    detail = provider_detail(body, secret)
    if status == 401 or (status == 403 and not detail):
        return ProviderError(
            _(
                "%(provider)s refused the API key (HTTP %(status)s). Check the key in the provider settings.",
                provider=provider,
                status=status,
            ),
            status_code=status,
        )
    if status == 403:
        return ProviderError(
            _(
                "%(provider)s refused the API key or this request (HTTP 403): %(detail)s",
                provider=provider,
                detail=detail,
            ),
            status_code=status,
        )
    if status == 402 or (status == 429 and _error_code(body) == "insufficient_quota"):
        return ProviderError(
            _(
                "The %(provider)s account has run out of credits or quota (HTTP %(status)s): %(detail)s",
                provider=provider,
                status=status,
                detail=detail or "-",
            ),
            status_code=status,
        )
    if status == 429:
        retry_after = parse_retry_after(headers)
        if retry_after is not None:
            message = _(
                "%(provider)s is limiting how often we may call it (HTTP 429). Trying again in %(seconds)s seconds.",
                provider=provider,
                seconds=format_seconds(retry_after),
            )
        else:
            message = _(
                "%(provider)s is limiting how often we may call it (HTTP 429). Trying again later.",
                provider=provider,
            )
        return ProviderError(message, retryable=True, retry_after=retry_after, status_code=status)
    if status >= 500 or status in (408, 409, 425):
        return ProviderError(
            _(
                "%(provider)s had a temporary problem (HTTP %(status)s). Trying again later.",
                provider=provider,
                status=status,
            ),
            retryable=True,
            retry_after=parse_retry_after(headers),
            status_code=status,
        )
    if status == 404:
        return ProviderError(
            _(
                "%(provider)s does not know this address or model (HTTP 404). Check the base URL and the model "
                "name. %(detail)s",
                provider=provider,
                detail=detail,
            ).strip(),
            status_code=status,
        )
    return ProviderError(
        _(
            "%(provider)s refused the request (HTTP %(status)s): %(detail)s",
            provider=provider,
            status=status,
            detail=detail or "-",
        ),
        status_code=status,
    )


# --- the client -----------------------------------------------------------------------------------


Classifier = Callable[[int, httpx.Headers, bytes], ProviderError | None]


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class ApiClient:
    """One provider's HTTP side. Use as an async context manager or call `aclose()`."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        api_key: str | None,
        timeouts: Timeouts,
        headers: Mapping[str, str] | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/") + "/"
        self._api_key = api_key or None
        self.timeouts = timeouts
        self.max_response_bytes = max_response_bytes
        self._headers = dict(headers or {})
        self._client = httpx.AsyncClient(
            timeout=timeouts.for_httpx(),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "Zavod/0.1 (+ai-adapter)"},
        )

    def __repr__(self) -> str:
        return f"ApiClient(provider={self.provider!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    def scrub(self, text: str) -> str:
        return scrub(text, self._api_key)

    def _auth_headers(self, url: str) -> dict[str, str]:
        # The key goes only to the configured API's own origin, never to a CDN or file host.
        if self._api_key and _origin(url) == _origin(self.base_url):
            return {"Authorization": f"Bearer {self._api_key}"}
        return {}

    async def send(
        self,
        method: str,
        path_or_url: str,
        *,
        json_body: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        authorize: bool = True,
        total_timeout: float | None = None,
        classify: Classifier | None = None,
    ) -> ApiResponse:
        """Make one call; return the (fully read) response when it is a 2xx, raise ProviderError otherwise.

        `classify(status, headers, body)` may return the adapter's own error for an unsuccessful
        answer (e.g. Stability's 403 for a flagged prompt); None falls back to the common rules.
        """
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        all_headers = {**self._headers, **(headers or {})}
        if authorize:
            all_headers.update(self._auth_headers(url))
        else:
            all_headers = {k: v for k, v in all_headers.items() if k.lower() != "authorization"}
        total = self.timeouts.total if total_timeout is None else total_timeout
        started = time.monotonic()
        try:
            async with asyncio.timeout(total):
                request = self._client.build_request(method, url, json=json_body, files=files, headers=all_headers)
                response = await self._client.send(request, stream=True)
                try:
                    body = await self._read_capped(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise ProviderError(
                _(
                    "%(provider)s took longer than %(seconds)s seconds to answer. Trying again later.",
                    provider=self.provider,
                    seconds=format_seconds(total),
                ),
                retryable=True,
            ) from None
        except httpx.ConnectTimeout:
            raise ProviderError(
                _(
                    "Could not connect to %(provider)s within %(seconds)s seconds. Trying again later.",
                    provider=self.provider,
                    seconds=format_seconds(self.timeouts.connect),
                ),
                retryable=True,
            ) from None
        except httpx.TimeoutException:
            raise ProviderError(
                _(
                    "%(provider)s stopped answering for more than %(seconds)s seconds. Trying again later.",
                    provider=self.provider,
                    seconds=format_seconds(self.timeouts.read),
                ),
                retryable=True,
            ) from None
        except httpx.ConnectError:
            raise ProviderError(
                _(
                    "Could not connect to %(provider)s at %(host)s. Check the base URL, or try again later.",
                    provider=self.provider,
                    host=urlsplit(url).netloc,
                ),
                retryable=True,
            ) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            raise ProviderError(
                _("The address configured for %(provider)s is not a valid URL.", provider=self.provider)
            ) from None
        except httpx.TransportError:
            raise ProviderError(
                _(
                    "The connection to %(provider)s broke off before the answer was complete. Trying again later.",
                    provider=self.provider,
                ),
                retryable=True,
            ) from None
        elapsed = time.monotonic() - started
        # Without the query: result links are signed URLs, short-lived credentials of their own.
        logged_url = url.split("?", 1)[0]
        logger.info("%s %s %s -> %s in %.2fs", self.provider, method, logged_url, response.status_code, elapsed)
        if response.is_redirect:
            raise ProviderError(
                _(
                    "%(provider)s answered with a redirect (HTTP %(status)s). Check the base URL.",
                    provider=self.provider,
                    status=response.status_code,
                )
            )
        if not response.is_success:
            special = classify(response.status_code, response.headers, body) if classify else None
            if special is not None:
                raise special
            raise error_from_response(self.provider, response.status_code, response.headers, body, self._api_key)
        return ApiResponse(response.status_code, response.headers, body, url)

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise self._too_large()
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> ProviderError:
        return ProviderError(
            _(
                "The answer from %(provider)s is larger than the allowed %(megabytes)s MB.",
                provider=self.provider,
                megabytes=self.max_response_bytes // (1024 * 1024),
            )
        )

    def json_of(self, response: ApiResponse) -> dict[str, Any]:
        """The body as a JSON object, or a not-retryable ProviderError saying it is not one."""
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise ProviderError(
                _(
                    "%(provider)s answered with something that is not the expected JSON (HTTP %(status)s, "
                    "%(content_type)s). Check the base URL: it must point to the API itself.",
                    provider=self.provider,
                    status=response.status_code,
                    content_type=response.content_type or "no content type",
                ),
                status_code=response.status_code,
            )
        return data

    async def get_json(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.json_of(await self.send("GET", path, **kwargs))

    async def post_json(self, path: str, body: Any, **kwargs: Any) -> dict[str, Any]:
        return self.json_of(await self.send("POST", path, json_body=body, **kwargs))

    async def download(self, url: str, *, what: str) -> ApiResponse:
        """GET a result file by URL (http/https only; the key is sent only to the API's own origin)."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise ProviderError(
                _(
                    "%(provider)s gave a %(what)s address we cannot download.",
                    provider=self.provider,
                    what=what,
                )
            )
        return await self.send("GET", url)


# --- images ---------------------------------------------------------------------------------------


def nearest_shape(width: int, height: int, shapes: Mapping[str, tuple[int, int]]) -> str:
    """The key of `shapes` ({name: (w, h)}) whose aspect ratio is closest to width×height."""
    if width <= 0 or height <= 0:
        raise ValueError("width and height must be positive")
    target = math.log(width / height)
    return min(shapes, key=lambda k: (abs(math.log(shapes[k][0] / shapes[k][1]) - target), k))


_MAX_PIXELS = 64_000_000  # far above any generator's output; refuses decompression bombs


def fit_image(data: bytes, width: int, height: int, *, provider: str, output_format: str = "png") -> GeneratedImage:
    """Decode a provider's image and scale + centre-crop it to exactly width×height."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > _MAX_PIXELS:
                raise ProviderError(_("%(provider)s returned an image that is far too large.", provider=provider))
            probe.load()
            image = ImageOps.exif_transpose(probe)
    except ProviderError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ProviderError(
            _("%(provider)s returned something that is not a readable image.", provider=provider)
        ) from None
    fmt = "JPEG" if output_format.lower() in ("jpg", "jpeg") else "PNG"
    if fmt == "JPEG":
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    if image.size != (width, height):
        image = ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=92, optimize=True)
    else:
        image.save(out, "PNG", optimize=False)
    return GeneratedImage(
        data=out.getvalue(), mime="image/jpeg" if fmt == "JPEG" else "image/png", width=width, height=height
    )


async def check_balance(api: ApiClient, label: str, path: str, field: str, total_timeout: float) -> ConnectionCheck:
    """The "test connection" of an API whose cheapest authenticated call reports a credit balance."""
    try:
        data = await api.get_json(path, total_timeout=min(total_timeout, 30.0))
    except ProviderError as exc:
        return ConnectionCheck(ok=False, message=str(exc))
    credits = data.get(field)
    if isinstance(credits, int | float) and not isinstance(credits, bool):
        return ConnectionCheck(
            ok=True,
            message=_("Connected to %(provider)s: %(credits)s credits left.", provider=label, credits=f"{credits:g}"),
        )
    return ConnectionCheck(ok=True, message=_("Connected to %(provider)s.", provider=label))
