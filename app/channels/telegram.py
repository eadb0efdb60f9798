"""Telegram Bot API: an async client for publishing to a channel, and the plan of calls for a post.

The client speaks the public contract (core.telegram.org/bots/api): `POST {base}/bot<token>/<method>`
with JSON, or multipart/form-data when a file is uploaded; the answer is `{"ok": true, "result": ...}`
or `{"ok": false, "error_code": N, "description": "...", "parameters": {"retry_after": s,
"migrate_to_chat_id": id}}`. Every failure becomes a `TelegramError` (a `ChannelError`) whose kind
says what to do:

* RETRYABLE: flood control (429, wait `retry_after` seconds), Telegram's 5xx, or a failure before
  the request left (no connection, connect timeout).
* PERMANENT: a token Telegram does not accept (401/404), a chat it cannot find, a bot that was
  kicked, is not a member or may not post, a group that became a supergroup (the new id is on the
  error as `migrate_to_chat_id`), any other refusal. Retrying cannot help; the message says what
  the owner must change.
* NEEDS_ATTENTION: the post may or may not be out. Telegram has no idempotency key, so when a
  sending method was sent and no answer came back (read timeout, connection lost while waiting,
  a gateway timeout, an answer we cannot read) retrying could post twice: a person must look.
  Read-only methods (getMe, getChat, getChatMember) are simply retried in those cases.

The bot token is part of every URL path. It never appears in our messages, exceptions or reprs:
httpx's exceptions (which hold the request, hence the URL) are never chained to ours, and a
logging filter redacts `/bot<token>/` from httpx's request log line.

`plan_telegram_post()` turns a story's text and media count into the calls to make, within the
limits below, counting length in UTF-16 code units as Telegram does (an emoji costs 2).

The base URL is a setting we control (TELEGRAM_API_BASE_URL), not user input, so these requests do
not go through the SSRF-guarded fetcher. Media sent by URL is fetched by Telegram, not by us.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx

from app.channels.base import ChannelError, FailureKind
from app.config import get_settings
from app.i18n import gettext as _
from app.net.http_client import HttpClientOwner

__all__ = [
    "CAPTION_LIMIT",
    "MEDIA_GROUP_MAX",
    "MEDIA_GROUP_MIN",
    "MESSAGE_LIMIT",
    "InputFile",
    "MediaItem",
    "PlannedCall",
    "TelegramBotClient",
    "TelegramError",
    "message_link",
    "plan_telegram_post",
    "split_text",
    "utf16_len",
]

# --- limits (shared/PLATFORMS.md, "Telegram Bot API") ----------------------------------------------

MESSAGE_LIMIT = 4096  # text message, UTF-16 code units after entities are parsed
CAPTION_LIMIT = 1024  # media caption, after entities are parsed: not the 4096 of a text message
MEDIA_GROUP_MIN = 2  # sendMediaGroup: 2–10 photos/videos, the caption sits on one item
MEDIA_GROUP_MAX = 10
PHOTO_UPLOAD_MAX_BYTES = 10 * 1024 * 1024  # multipart upload: photos 10 MB
FILE_UPLOAD_MAX_BYTES = 50 * 1024 * 1024  # multipart upload: other files 50 MB

_READ_ONLY_METHODS = frozenset({"getMe", "getChat", "getChatMember"})
_TOKEN_IN_PATH_RE = re.compile(r"/bot[^/\s\"'<>]+")
_RETRY_AFTER_IN_TEXT_RE = re.compile(r"retry after (\d+)", re.IGNORECASE)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


# --- errors ---------------------------------------------------------------------------------------


class TelegramError(ChannelError):
    """A Telegram call failed. `message` is written for a person and never holds the token.

    `error_code` and `description` are Telegram's own (None when no Telegram answer came);
    `migrate_to_chat_id` is the new id of a group that became a supergroup.
    """

    def __init__(
        self,
        message: str,
        kind: FailureKind,
        retry_after: float | None = None,
        *,
        method: str | None = None,
        error_code: int | None = None,
        description: str | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(message, kind, retry_after)
        self.method = method
        self.error_code = error_code
        self.description = description
        self.migrate_to_chat_id = migrate_to_chat_id

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, kind={self.kind!r}, retry_after={self.retry_after!r}, "
            f"method={self.method!r}, error_code={self.error_code!r}, description={self.description!r}, "
            f"migrate_to_chat_id={self.migrate_to_chat_id!r})"
        )


# --- the token stays out of logs --------------------------------------------------------------------


class _RedactBotToken(logging.Filter):
    """Removes the bot token from log records (httpx logs each request's full URL at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "/bot" in record.msg:
            record.msg = _TOKEN_IN_PATH_RE.sub("/bot[redacted]", record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            if any("/bot" in str(a) for a in args if not isinstance(a, Mapping)):
                record.args = tuple(
                    _TOKEN_IN_PATH_RE.sub("/bot[redacted]", str(a)) if "/bot" in str(a) else a for a in args
                )
        return True


def _install_log_redaction() -> None:
    # Logger filters only see records logged on that very logger: httpx logs request lines on "httpx".
    target = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactBotToken) for f in target.filters):
        target.addFilter(_RedactBotToken())


_install_log_redaction()


# --- what is sent -----------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class InputFile:
    """Bytes to upload with multipart/form-data (rather than a URL or file_id Telegram already has)."""

    data: bytes
    filename: str
    mime_type: str = "application/octet-stream"

    def __repr__(self) -> str:
        return f"InputFile(filename={self.filename!r}, mime_type={self.mime_type!r}, size={len(self.data)})"


Media = str | bytes | InputFile  # str: an HTTP(S) URL Telegram downloads, or a file_id it already has


@dataclass(frozen=True)
class MediaItem:
    """One photo or video of an album (sendMediaGroup)."""

    kind: Literal["photo", "video"]
    media: Media


# --- the client -------------------------------------------------------------------------------------


class TelegramBotClient(HttpClientOwner):
    """One bot (one token) talking to the Bot API. Methods return Telegram's parsed `result`.

    Pass `http` to share an httpx client (its timeouts are overridden per request); otherwise one
    is created and closed by `aclose()` / `async with`.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self._token = (token or "").strip()
        self.base_url = (base_url or get_settings().telegram_api_base_url).rstrip("/")
        self.timeout = timeout
        self._timeout = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))
        self._use_http(http, self._timeout)

    def __repr__(self) -> str:
        return f"TelegramBotClient(base_url={self.base_url!r}, token='[redacted]')"

    # -- checks --

    async def get_me(self) -> dict[str, Any]:
        """The bot's own User: checks that the token works."""
        return await self._call("getMe", {})

    async def get_chat(self, chat_id: int | str) -> dict[str, Any]:
        """The chat (`@channelusername` or a numeric id) as the bot sees it: checks that it can see it."""
        return await self._call("getChat", {"chat_id": chat_id}, chat=chat_id)

    async def get_chat_member(self, chat_id: int | str, user_id: int) -> dict[str, Any]:
        """A member of the chat (the bot itself, to check it may post)."""
        return await self._call("getChatMember", {"chat_id": chat_id, "user_id": user_id}, chat=chat_id)

    # -- sending --

    async def send_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        parse_mode: str | None = None,
        disable_link_preview: bool = False,
        reply_to_message_id: int | None = None,
        disable_notification: bool = False,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if disable_link_preview:
            params["link_preview_options"] = {"is_disabled": True}
        self._common(params, parse_mode, reply_to_message_id, disable_notification)
        return await self._call("sendMessage", params, chat=chat_id)

    async def send_photo(
        self,
        chat_id: int | str,
        photo: Media,
        *,
        caption: str | None = None,
        parse_mode: str | None = None,
        reply_to_message_id: int | None = None,
        disable_notification: bool = False,
    ) -> dict[str, Any]:
        """A photo by URL / file_id (str) or uploaded (bytes or InputFile), with an optional caption."""
        params: dict[str, Any] = {"chat_id": chat_id}
        files: dict[str, tuple[str, bytes, str]] = {}
        self._single_media(params, files, "photo", photo, "photo.jpg", "image/jpeg")
        if caption:
            params["caption"] = caption
        self._common(params, parse_mode, reply_to_message_id, disable_notification)
        return await self._call("sendPhoto", params, files, chat=chat_id)

    async def send_video(
        self,
        chat_id: int | str,
        video: Media,
        *,
        caption: str | None = None,
        parse_mode: str | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
        reply_to_message_id: int | None = None,
        disable_notification: bool = False,
    ) -> dict[str, Any]:
        """A video (MP4) by URL / file_id (str) or uploaded, streamable, with an optional caption."""
        params: dict[str, Any] = {"chat_id": chat_id, "supports_streaming": True}
        files: dict[str, tuple[str, bytes, str]] = {}
        self._single_media(params, files, "video", video, "video.mp4", "video/mp4")
        for name, value in (("width", width), ("height", height), ("duration", duration)):
            if value is not None:
                params[name] = value
        if caption:
            params["caption"] = caption
        self._common(params, parse_mode, reply_to_message_id, disable_notification)
        return await self._call("sendVideo", params, files, chat=chat_id)

    async def send_media_group(
        self,
        chat_id: int | str,
        items: Sequence[MediaItem],
        *,
        caption: str | None = None,
        parse_mode: str | None = None,
        reply_to_message_id: int | None = None,
        disable_notification: bool = False,
    ) -> list[dict[str, Any]]:
        """An album of 2–10 photos/videos; `caption` goes on the first item (where Telegram shows it).

        Returns the album's messages, in order.
        """
        if not MEDIA_GROUP_MIN <= len(items) <= MEDIA_GROUP_MAX:
            raise ValueError(f"an album holds {MEDIA_GROUP_MIN} to {MEDIA_GROUP_MAX} items, not {len(items)}")
        files: dict[str, tuple[str, bytes, str]] = {}
        media: list[dict[str, Any]] = []
        for position, item in enumerate(items):
            if item.kind not in ("photo", "video"):
                raise ValueError(f"an album item is a photo or a video, not {item.kind!r}")
            default_name, default_type = (
                ("photo.jpg", "image/jpeg") if item.kind == "photo" else ("video.mp4", "video/mp4")
            )
            entry: dict[str, Any] = {
                "type": item.kind,
                "media": self._media_field(f"file{position}", item.media, default_name, default_type, files),
            }
            if item.kind == "video":
                entry["supports_streaming"] = True
            if position == 0 and caption:
                entry["caption"] = caption
                if parse_mode:
                    entry["parse_mode"] = parse_mode
            media.append(entry)
        params: dict[str, Any] = {"chat_id": chat_id, "media": media}
        self._common(params, None, reply_to_message_id, disable_notification)
        result = await self._call("sendMediaGroup", params, files, chat=chat_id)
        if not isinstance(result, list):
            raise _unreadable("sendMediaGroup", chat_id)
        return result

    # -- plumbing --

    @staticmethod
    def _common(
        params: dict[str, Any], parse_mode: str | None, reply_to_message_id: int | None, disable_notification: bool
    ) -> None:
        if parse_mode:
            params["parse_mode"] = parse_mode
        if reply_to_message_id is not None:
            # A reply that Telegram still sends if the replied-to message was deleted meanwhile.
            params["reply_parameters"] = {"message_id": reply_to_message_id, "allow_sending_without_reply": True}
        if disable_notification:
            params["disable_notification"] = True

    @classmethod
    def _single_media(
        cls,
        params: dict[str, Any],
        files: dict[str, tuple[str, bytes, str]],
        name: str,
        media: Media,
        default_name: str,
        default_type: str,
    ) -> None:
        """sendPhoto/sendVideo: a URL/file_id goes in the parameter; an upload in the part named for it."""
        if isinstance(media, str):
            params[name] = cls._media_field(name, media, default_name, default_type, files)
        else:
            cls._media_field(name, media, default_name, default_type, files)

    @staticmethod
    def _media_field(
        part: str, media: Media, default_name: str, default_type: str, files: dict[str, tuple[str, bytes, str]]
    ) -> str:
        """A URL/file_id as is; bytes become the multipart part `part`, referenced as `attach://<part>`."""
        if isinstance(media, str):
            if not media.strip():
                raise ValueError("a media URL or file_id must not be empty")
            return media.strip()
        upload = media if isinstance(media, InputFile) else InputFile(bytes(media), default_name, default_type)
        limit = PHOTO_UPLOAD_MAX_BYTES if default_type.startswith("image/") else FILE_UPLOAD_MAX_BYTES
        if not upload.data:
            raise TelegramError(_("The file to send to Telegram is empty."), FailureKind.PERMANENT)
        if len(upload.data) > limit:
            raise TelegramError(
                _(
                    "The file is %(size)s MB; Telegram accepts uploads of up to %(limit)s MB for this kind of file.",
                    size=f"{len(upload.data) / 1024 / 1024:.1f}",
                    limit=limit // (1024 * 1024),
                ),
                FailureKind.PERMANENT,
            )
        files[part] = (upload.filename, upload.data, upload.mime_type)
        return f"attach://{part}"

    async def _call(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, tuple[str, bytes, str]] | None = None,
        *,
        chat: int | str | None = None,
    ) -> Any:
        # Quoted, so a pasted token with stray characters ("#", "/", a line break) stays one path
        # segment that Telegram refuses, instead of becoming another URL; real tokens are unchanged.
        url = f"{self.base_url}/bot{quote(self._token, safe=':')}/{method}"
        response: httpx.Response | None = None
        failure: TelegramError | None = None
        # The httpx exception is not chained to ours (raised outside the except block): it holds the
        # request, and so the URL with the token.
        try:
            if files:
                response = await self._http.post(url, data=_form_fields(params), files=files, timeout=self._timeout)
            else:
                response = await self._http.post(url, json=params, timeout=self._timeout)
        except httpx.HTTPError as exc:
            failure = self._transport_failure(method, exc, chat)
        except httpx.InvalidURL:
            failure = TelegramError(
                _("Zavod's Telegram address (the TELEGRAM_API_BASE_URL setting) is not a valid web address."),
                FailureKind.PERMANENT,
                method=method,
            )
        if failure is not None:
            raise failure
        assert response is not None
        return _read_response(response, method, chat, self._token)

    def _transport_failure(self, method: str, exc: httpx.HTTPError, chat: int | str | None) -> TelegramError:
        reason = type(exc).__name__
        if isinstance(exc, _NOT_SENT) or method in _READ_ONLY_METHODS:
            if isinstance(exc, httpx.TimeoutException):
                message = _(
                    "Telegram did not answer within %(seconds)s seconds; Zavod will try again later.",
                    seconds=f"{self.timeout:g}",
                )
            else:
                message = _("Could not connect to Telegram (%(reason)s); Zavod will try again later.", reason=reason)
            return TelegramError(message, FailureKind.RETRYABLE, method=method)
        # The request went out and no answer came back: Telegram may have posted it.
        return TelegramError(
            _(
                "Telegram did not confirm the post to %(chat)s (%(reason)s), so it may or may not have been "
                "published. Check the channel: if the post is there, mark it published; if not, publish it again.",
                chat=_chat_label(chat),
                reason=reason,
            ),
            FailureKind.NEEDS_ATTENTION,
            method=method,
        )


# Failures that happen before Telegram can have the whole request: safe to retry even when posting.
# (A write error or write timeout means the body was not fully handed over, and Telegram acts only
# on a complete request.)
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.UnsupportedProtocol,
)


def _form_fields(params: Mapping[str, Any]) -> dict[str, str]:
    """multipart/form-data carries strings: objects and arrays as JSON, booleans as true/false."""
    fields: dict[str, str] = {}
    for name, value in params.items():
        if isinstance(value, bool):
            fields[name] = "true" if value else "false"
        elif isinstance(value, dict | list):
            fields[name] = json.dumps(value, ensure_ascii=False)
        else:
            fields[name] = str(value)
    return fields


# --- answers and errors -----------------------------------------------------------------------------


def _chat_label(chat: int | str | None) -> str:
    return str(chat) if chat not in (None, "") else _("the channel")


def _unreadable(method: str, chat: int | str | None, status: int | None = None) -> TelegramError:
    if method in _READ_ONLY_METHODS:
        return TelegramError(
            _("Telegram sent an answer Zavod could not read; Zavod will try again later."),
            FailureKind.RETRYABLE,
            method=method,
            error_code=status,
        )
    # A sending method answered, but not in Telegram's shape: the post may well be out.
    return TelegramError(
        _(
            "Telegram answered the post to %(chat)s in a way Zavod could not read, so it may or may not have "
            "been published. Check the channel: if the post is there, mark it published; if not, publish it again.",
            chat=_chat_label(chat),
        ),
        FailureKind.NEEDS_ATTENTION,
        method=method,
        error_code=status,
    )


def _read_response(response: httpx.Response, method: str, chat: int | str | None, token: str) -> Any:
    status = response.status_code
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("ok") is True and "result" in body:
        return body["result"]
    if isinstance(body, dict) and body.get("ok") is False:
        code = body.get("error_code")
        description = body.get("description")
        parameters = body.get("parameters")
        error_code = code if isinstance(code, int) and not isinstance(code, bool) else status
        raise _classify(
            method,
            chat,
            error_code,
            _scrub(description, token) if isinstance(description, str) else "",
            parameters if isinstance(parameters, dict) else {},
            response.headers,
        )
    # No Telegram body: a proxy's page, an empty answer, garbage.
    if 200 <= status < 300:
        raise _unreadable(method, chat, status)
    raise _classify(method, chat, status, "", {}, response.headers)


def _classify(
    method: str,
    chat: int | str | None,
    code: int,
    description: str,
    parameters: Mapping[str, Any],
    headers: httpx.Headers,
) -> TelegramError:
    lowered = description.lower()
    telegram_says = description or f"HTTP {code}"
    extra: dict[str, Any] = {"method": method, "error_code": code, "description": description or None}
    label = _chat_label(chat)

    new_chat_id = _int_or_none(parameters.get("migrate_to_chat_id"))
    if new_chat_id is not None:
        return TelegramError(
            _(
                "The Telegram group %(chat)s became a supergroup with the new id %(new_id)s: the owner must "
                "change the chat id to %(new_id)s in Channels, then publish again.",
                chat=label,
                new_id=new_chat_id,
            ),
            FailureKind.PERMANENT,
            migrate_to_chat_id=new_chat_id,
            **extra,
        )
    if code == 429:
        retry_after = _retry_after(parameters, description, headers)
        if retry_after is not None:
            message = _(
                "Telegram asked Zavod to slow down; Zavod will try again in %(seconds)s s.",
                seconds=f"{retry_after:g}",
            )
        else:
            message = _("Telegram asked Zavod to slow down; Zavod will try again later.")
        return TelegramError(message, FailureKind.RETRYABLE, retry_after, **extra)
    if code in (401, 404):
        # 401 for a token Telegram does not know (revoked, mistyped); 404 for one not even shaped like one.
        return TelegramError(
            _(
                "Telegram does not accept the bot token (it was revoked or mistyped): the owner must paste the "
                "bot's current token from @BotFather in Channels."
            ),
            FailureKind.PERMANENT,
            **extra,
        )
    if "chat not found" in lowered:
        return TelegramError(
            _(
                "Telegram cannot find the chat %(chat)s: check its @username or id in Channels, and that the "
                "bot has been added to it.",
                chat=label,
            ),
            FailureKind.PERMANENT,
            **extra,
        )
    if "bot was kicked" in lowered:
        return TelegramError(
            _(
                "The bot was removed from %(chat)s: add it back as an administrator allowed to post messages, "
                "then publish again.",
                chat=label,
            ),
            FailureKind.PERMANENT,
            **extra,
        )
    if "not a member" in lowered:
        return TelegramError(
            _(
                "The bot is not a member of %(chat)s: add it as an administrator allowed to post messages, "
                "then publish again.",
                chat=label,
            ),
            FailureKind.PERMANENT,
            **extra,
        )
    if "administrator rights" in lowered or "not enough rights" in lowered or "have no rights" in lowered:
        return TelegramError(
            _(
                "The bot may not post in %(chat)s: make it an administrator allowed to post messages, then "
                "publish again.",
                chat=label,
            ),
            FailureKind.PERMANENT,
            **extra,
        )
    if method == "sendMediaGroup" and "failed to send message #" in lowered:
        # Telegram sends an album as separate messages: one failed, the ones before it may be out.
        return TelegramError(
            _(
                "Telegram published only part of the album in %(chat)s (Telegram says: “%(description)s”). Check "
                "the channel and delete what arrived before publishing again.",
                chat=label,
                description=telegram_says,
            ),
            FailureKind.NEEDS_ATTENTION,
            **extra,
        )
    if code == 413:
        return TelegramError(
            _("The file is too large for Telegram (up to 50 MB for uploads, 10 MB for photos)."),
            FailureKind.PERMANENT,
            **extra,
        )
    if code == 504 and method not in _READ_ONLY_METHODS:
        # A gateway timeout is a timeout after the request was sent: Telegram may have posted it.
        return TelegramError(
            _(
                "Telegram did not confirm the post to %(chat)s (HTTP 504), so it may or may not have been "
                "published. Check the channel: if the post is there, mark it published; if not, publish it again.",
                chat=label,
            ),
            FailureKind.NEEDS_ATTENTION,
            **extra,
        )
    if code >= 500:
        return TelegramError(
            _("Telegram is having trouble right now (HTTP %(status)s); Zavod will try again later.", status=code),
            FailureKind.RETRYABLE,
            _retry_after(parameters, description, headers),
            **extra,
        )
    if code == 403:
        return TelegramError(
            _(
                "Telegram does not let the bot post in %(chat)s (Telegram says: “%(description)s”).",
                chat=label,
                description=telegram_says,
            ),
            FailureKind.PERMANENT,
            **extra,
        )
    return TelegramError(
        _("Telegram refused the request (Telegram says: “%(description)s”).", description=telegram_says),
        FailureKind.PERMANENT,
        **extra,
    )


def _retry_after(parameters: Mapping[str, Any], description: str, headers: httpx.Headers) -> float | None:
    """Seconds to wait: `parameters.retry_after`, else "retry after N" in the text, else Retry-After."""
    for candidate in (
        parameters.get("retry_after"),
        (m.group(1) if (m := _RETRY_AFTER_IN_TEXT_RE.search(description)) else None),
        headers.get("retry-after"),
    ):
        try:
            seconds = float(candidate) if candidate is not None and not isinstance(candidate, bool) else None
        except (TypeError, ValueError):
            seconds = None
        if seconds is not None and math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _scrub(text: str, token: str) -> str:
    if token:
        text = text.replace(token, "[redacted]")
    return _TOKEN_IN_PATH_RE.sub("/bot[redacted]", text)


def message_link(chat: Mapping[str, Any], message_id: int) -> str | None:
    """The t.me link of a message: public by @username, private channels/supergroups by their id.

    None for chats that have no message links (basic groups, private chats).
    """
    username = chat.get("username")
    if isinstance(username, str) and username:
        return f"https://t.me/{username}/{message_id}"
    chat_id = _int_or_none(chat.get("id"))
    if chat_id is not None and str(chat_id).startswith("-100"):
        # Channel and supergroup ids are -100<internal id>; t.me/c/ links use the internal id.
        return f"https://t.me/c/{str(chat_id)[4:]}/{message_id}"
    return None


# --- planning a post ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedCall:
    """One Bot API call of a post, in order.

    kind "media": sendPhoto or sendVideo (the caller knows which) of the single medium;
    kind "album": sendMediaGroup of the media at `media`, `text` as the first item's caption;
    kind "text": sendMessage of `text`. `media` are positions in the story's list of media.
    """

    kind: Literal["text", "media", "album"]
    text: str | None = None
    media: tuple[int, ...] = ()


def plan_telegram_post(
    text: str,
    media_count: int = 0,
    *,
    caption_limit: int = CAPTION_LIMIT,
    message_limit: int = MESSAGE_LIMIT,
) -> list[PlannedCall]:
    """The calls that post `text` (plain text, no markup) with `media_count` photos/videos.

    * Text that fits a caption goes on the medium, or on the first item of the album.
    * Longer text is never cut: the media go without a caption, then the text as message(s).
    * Text over `message_limit` is split at paragraph, line, sentence or word boundaries.
    * More than 10 media become several albums of 2–10, as even as possible (11 → 6 + 5).

    Lengths are UTF-16 code units, as Telegram counts them. Markup (parse_mode) would be counted
    after parsing by Telegram, so plan with the plain text.
    """
    if media_count < 0:
        raise ValueError("media_count must not be negative")
    if caption_limit <= 0 or message_limit <= 0:
        raise ValueError("limits must be positive")
    body = (text or "").strip()
    if not body and media_count == 0:
        raise ValueError("a post needs text or media")

    fits_caption = utf16_len(body) <= caption_limit
    caption = body if body and fits_caption else None
    calls: list[PlannedCall] = []
    if media_count == 1:
        calls.append(PlannedCall("media", caption, (0,)))
    elif media_count > 1:
        for number, group in enumerate(_album_groups(media_count)):
            calls.append(PlannedCall("album", caption if number == 0 else None, group))
    if body and (media_count == 0 or not fits_caption):
        calls.extend(PlannedCall("text", chunk) for chunk in split_text(body, message_limit))
    return calls


def _album_groups(count: int) -> list[tuple[int, ...]]:
    groups = math.ceil(count / MEDIA_GROUP_MAX)
    size, larger = divmod(count, groups)
    result: list[tuple[int, ...]] = []
    start = 0
    for number in range(groups):
        length = size + (1 if number < larger else 0)
        result.append(tuple(range(start, start + length)))
        start += length
    return result


_PARAGRAPH_BREAK_RE = re.compile(r"\n[ \t]*\n")
_SENTENCE_END_RE = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s)")
_SPACE_RE = re.compile(r"\s")


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` in pieces of at most `limit` UTF-16 units, cut at the best boundary that fits.

    Boundaries, best first: a paragraph break, a line break, the end of a sentence, a space. Only a
    single "word" longer than the limit (a huge URL) is cut inside, and never inside a character.
    Whitespace at the cuts is dropped; nothing else is.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    rest = (text or "").strip()
    pieces: list[str] = []
    while utf16_len(rest) > limit:
        window = _fitting_prefix(rest, limit)
        cut = _best_cut(rest, window)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _fitting_prefix(text: str, limit: int) -> int:
    """How many characters (code points) from the start fit in `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _best_cut(text: str, window: int) -> int:
    # A boundary may sit right after the window (the space that ends a piece that fits exactly).
    span = text[: window + 1]
    for finder in (_last_paragraph_break, _last_line_break, _last_sentence_end, _last_space):
        cut = finder(span)
        if cut is not None and 0 < cut <= window and text[:cut].strip():
            return cut
    return max(window, 1)


def _last_paragraph_break(span: str) -> int | None:
    matches = list(_PARAGRAPH_BREAK_RE.finditer(span))
    return matches[-1].start() if matches else None


def _last_line_break(span: str) -> int | None:
    index = span.rfind("\n")
    return index if index >= 0 else None


def _last_sentence_end(span: str) -> int | None:
    matches = list(_SENTENCE_END_RE.finditer(span))
    return matches[-1].end() if matches else None


def _last_space(span: str) -> int | None:
    matches = list(_SPACE_RE.finditer(span))
    return matches[-1].start() if matches else None
