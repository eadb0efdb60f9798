"""A local fake of the Telegram Bot API, for tests.

It follows the public contract (core.telegram.org/bots/api) as far as publishing needs it:

* `POST /bot<token>/<method>` (GET works too, as on api.telegram.org) with parameters as JSON,
  `application/x-www-form-urlencoded`, `multipart/form-data` (uploads, referenced from `media` as
  `attach://<part>`), or the query string. Method names are case-insensitive.
* Answers `{"ok": true, "result": ...}` or `{"ok": false, "error_code": N, "description": "...",
  "parameters": {...}}` with the HTTP status equal to `error_code`.
* Methods: getMe, getChat, getChatMember, sendMessage, sendPhoto, sendVideo, sendMediaGroup.
  Others answer 404 "Not Found".
* Checks, with Telegram's descriptions: the token (a well-formed unknown one → 401 "Unauthorized",
  a malformed one → 404 "Not Found"); `chat_id` ("Bad Request: chat_id is empty", "Bad Request: chat
  not found", 403 "Forbidden: bot was kicked from the channel chat", 403 "Forbidden: bot is not a
  member of the channel chat", 400 "Bad Request: need administrator rights in the channel chat",
  a migrated group → "Bad Request: group chat was upgraded to a supergroup chat" with
  `parameters.migrate_to_chat_id`); text ≤ 4096 and caption ≤ 1024 in UTF-16 code units ("Bad
  Request: message is too long", "Bad Request: message caption is too long", "Bad Request: message
  text is empty"); media ("Bad Request: there is no photo in the request", "Bad Request: wrong file
  identifier/HTTP URL specified", "Bad Request: can't parse InputMedia: media not found"); albums
  ("Bad Request: there are no messages to send", "Bad Request: too many messages to send as an
  album").

Where it is knowingly simpler or stricter than Telegram:

* An album of one item is refused ("Bad Request: media group must contain 2-10 items", our wording):
  the documented contract is 2–10 (the official server would quietly send a single message).
  Albums hold photos and videos only.
* With `parse_mode=HTML` lengths are counted after removing tags and entities; other parse modes
  are counted raw (never more lenient than Telegram).
* Media URLs are not downloaded: any http(s) URL with a dot in the host is accepted. Uploads are
  kept as sent; photo sizes in answers are made up.
* getChat answers for a public chat (with a @username) even when the bot is not in it, and "chat
  not found" for a private one; getChatMember answers only about the bot itself.

Switches: `flood(retry_after)` (429), `server_error(status)`, `fail(status, description,
parameters)`, `disconnect()` (the call takes effect, then the connection closes unanswered), each
for the next `times` calls (of `method`, if given); `delay` (seconds before
answering, after the call took effect: a client timeout then leaves a real post behind);
`kick_bot(chat)`, `remove_bot(chat)`, `demote_bot(chat)`, `migrate(chat, new_id)`. Every request
is recorded in `requests` (token included, so tests can check what was sent) and every message sent
in `sent`, with its message id.
"""

from __future__ import annotations

import email.parser
import email.policy
import html
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakes.server import ThreadedFakeServer

BOT_ID = 7000000001
BOT_USERNAME = "zavod_test_bot"
# Shaped like real tokens: <bot id>:<35 characters>.
VALID_TOKEN = f"{BOT_ID}:AAFakeZavodBotTokenSECRET0123456789"
REVOKED_TOKEN = f"{BOT_ID}:AAFakeRevokedTokenSECRET9876543210x"

CHANNEL_USERNAME = "zavod_news"  # a public channel where the bot is an administrator that may post
CHANNEL_ID = -1001000000001
PRIVATE_CHANNEL_ID = -1001000000002  # a private channel (no @username), bot an administrator
GROUP_ID = -4000000003  # a basic group the bot is a member of (migrate() turns it into a supergroup)

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
MEDIA_GROUP_MAX = 10

_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")
_PATH_RE = re.compile(r"/bot(?P<token>[^/]*)/(?P<method>[A-Za-z]+)/?")
_TAG_RE = re.compile(r"<[^>]*>")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- state ----------------------------------------------------------------------------------------


@dataclass
class FakeChat:
    id: int
    type: str  # channel | supergroup | group
    title: str
    username: str | None = None
    bot_status: str = "administrator"  # administrator | member | kicked | left
    can_post: bool = True  # an administrator's can_post_messages (channels)
    migrated_to: int | None = None

    def as_chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass
class UploadedFile:
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    http_method: str
    method: str
    token: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    content_type: str


@dataclass
class SentMessage:
    message_id: int
    chat_id: int
    kind: str  # text | photo | video
    text: str | None = None  # the text, or the caption
    media: str | None = None  # the URL or file_id sent, or "upload:<filename>"
    upload: bytes | None = None
    media_group_id: str | None = None
    reply_to_message_id: int | None = None


@dataclass
class Fault:
    status: int  # 0: carry the call out, then close the connection without answering
    body: dict[str, Any] | None  # None: an HTML page, as a proxy in front of the API would send
    method: str | None = None  # lower-cased; None: any method
    remaining: int | None = 1  # None: until cleared


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def error_body(status: int, description: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def default_chats() -> list[FakeChat]:
    return [
        FakeChat(CHANNEL_ID, "channel", "Zavod News", CHANNEL_USERNAME),
        FakeChat(PRIVATE_CHANNEL_ID, "channel", "Zavod Private"),
        FakeChat(GROUP_ID, "group", "Zavod Editors", bot_status="member"),
    ]


# --- the fake -------------------------------------------------------------------------------------


class FakeTelegramBot(ThreadedFakeServer):
    """The fake Bot API's state and behaviour; `start()` serves it on 127.0.0.1 in a thread."""

    thread_name = "fake-telegram-bot"
    display_name = "The fake Bot API"

    bot_id = BOT_ID
    bot_username = BOT_USERNAME
    valid_token = VALID_TOKEN
    revoked_token = REVOKED_TOKEN

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    # -- state --

    def reset(self) -> None:
        with self._lock:
            self.tokens: set[str] = {VALID_TOKEN}
            self.chats: list[FakeChat] = default_chats()
            self.requests: list[RecordedRequest] = []
            self.sent: list[SentMessage] = []
            self.faults: list[Fault] = []
            self.delay: float = 0.0
            self.files: dict[str, str] = {}  # file_id → kind
            self._message_ids: dict[int, itertools.count[int]] = {}
            self._group_ids = itertools.count(13000000000000001)

    def chat(self, ref: int | str) -> FakeChat:
        found = self._find_chat(str(ref))
        if found is None:
            raise KeyError(ref)
        return found

    def add_chat(self, chat: FakeChat) -> FakeChat:
        with self._lock:
            self.chats.append(chat)
        return chat

    def kick_bot(self, ref: int | str = CHANNEL_ID) -> None:
        self.chat(ref).bot_status = "kicked"

    def remove_bot(self, ref: int | str = CHANNEL_ID) -> None:
        self.chat(ref).bot_status = "left"

    def demote_bot(self, ref: int | str = CHANNEL_ID) -> None:
        """The bot stays in the channel, as an administrator no longer allowed to post."""
        self.chat(ref).can_post = False

    def migrate(self, ref: int | str = GROUP_ID, new_id: int = -1001000000099) -> FakeChat:
        """The group becomes a supergroup with `new_id`; the old id answers with migrate_to_chat_id."""
        old = self.chat(ref)
        old.migrated_to = new_id
        return self.add_chat(FakeChat(new_id, "supergroup", old.title, bot_status=old.bot_status))

    def flood(self, retry_after: int = 30, *, times: int | None = 1, method: str | None = None) -> None:
        """429 "Too Many Requests: retry after N" with `parameters.retry_after`, as flood control answers."""
        body = error_body(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        self._add_fault(Fault(429, body, method.lower() if method else None, times))

    def server_error(
        self, status: int = 500, *, html_page: bool = False, times: int | None = 1, method: str | None = None
    ) -> None:
        """An outage: Telegram's error body ("Internal Server Error"), or a proxy's HTML page."""
        body = None if html_page else error_body(status, "Internal Server Error")
        self._add_fault(Fault(status, body, method.lower() if method else None, times))

    def fail(
        self,
        status: int,
        description: str,
        parameters: dict[str, Any] | None = None,
        *,
        times: int | None = 1,
        method: str | None = None,
    ) -> None:
        """Any Telegram error answer, for the next `times` calls (of `method`)."""
        self._add_fault(
            Fault(status, error_body(status, description, parameters), method.lower() if method else None, times)
        )

    def disconnect(self, *, times: int | None = 1, method: str | None = None) -> None:
        """Carry the call out, then close the connection without answering (the post is out, unconfirmed)."""
        self._add_fault(Fault(0, None, method.lower() if method else None, times))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in list(self.faults):
                if fault.method is not None and fault.method != method:
                    continue
                if fault.remaining is None:
                    return fault
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
            return None

    def sent_to(self, ref: int | str) -> list[SentMessage]:
        chat_id = self.chat(ref).id
        with self._lock:
            return [m for m in self.sent if m.chat_id == chat_id]

    # -- serving --

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type", "")
        match = _PATH_RE.fullmatch(parts.path)
        if match is None:
            self._answer(handler, 404, error_body(404, "Not Found"))
            return
        token, method = unquote(match.group("token")), match.group("method")
        try:
            params, files = _read_params(parts.query, raw, content_type)
        except _ApiError as exc:
            self._answer(handler, exc.status, error_body(exc.status, exc.description, exc.parameters))
            return
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, method, token, params, files, content_type))
        fault = self._take_fault(method.lower())
        if fault is not None and fault.status:
            self._answer(handler, fault.status, fault.body)
            return
        try:
            result = self.handle(token, method, params, files)
            status, body = 200, {"ok": True, "result": result}
        except _ApiError as exc:
            status, body = exc.status, error_body(exc.status, exc.description, exc.parameters)
        if fault is not None:  # disconnect(): the call took effect, the answer never leaves
            handler.close_connection = True
            return
        with self._lock:
            delay = self.delay
        if delay:
            time.sleep(delay)  # after the call took effect: the post is out even if the client gave up
        self._answer(handler, status, body)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any] | None) -> None:
        if body is None:
            payload = f"<html><body><h1>{status} Bad Gateway</h1></body></html>".encode()
            content_type = "text/html"
        else:
            payload = json.dumps(body).encode()
            content_type = "application/json"
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer

    # -- the Bot API --

    def handle(self, token: str, method: str, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        if not _TOKEN_RE.fullmatch(token):
            raise _ApiError(404, "Not Found")
        if token not in self.tokens:
            raise _ApiError(401, "Unauthorized")
        handler = {
            "getme": self._get_me,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "sendvideo": self._send_video,
            "sendmediagroup": self._send_media_group,
        }.get(method.lower())
        if handler is None:
            raise _ApiError(404, "Not Found")
        with self._lock:
            return handler(params, files)

    def _get_me(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Zavod Test Bot",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _get_chat(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        chat = self._lookup_chat(params)
        if chat.bot_status in ("kicked", "left") and not chat.username:
            raise _ApiError(400, "Bad Request: chat not found")
        info = chat.as_chat()
        info.update({"accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": {}})
        return info

    def _get_chat_member(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        chat = self._postable_chat(params, need_post_right=False)
        user_id = _int(params.get("user_id"))
        if user_id != BOT_ID:
            raise _ApiError(400, "Bad Request: user not found")
        user = {"id": BOT_ID, "is_bot": True, "first_name": "Zavod Test Bot", "username": BOT_USERNAME}
        if chat.bot_status == "administrator":
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_post_messages": chat.can_post,
                "can_edit_messages": chat.can_post,
            }
        return {"status": chat.bot_status, "user": user}

    def _send_message(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        text = params.get("text")
        text = text if isinstance(text, str) else ""
        visible = _visible(text, params.get("parse_mode"))
        if not visible.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if utf16_len(visible) > MESSAGE_LIMIT:
            raise _ApiError(400, "Bad Request: message is too long")
        chat = self._postable_chat(params)
        message = self._record(chat, "text", text=text, reply_to=_reply_to(params))
        return self._message(chat, message)

    def _send_photo(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        return self._send_single("photo", params, files)

    def _send_video(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        return self._send_single("video", params, files)

    def _send_single(self, kind: str, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        caption = _caption(params)
        media, upload = self._media(
            kind, params.get(kind), files, missing=f"Bad Request: there is no {kind} in the request"
        )
        chat = self._postable_chat(params)
        message = self._record(chat, kind, text=caption, media=media, upload=upload, reply_to=_reply_to(params))
        return self._message(chat, message)

    def _send_media_group(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> list[dict[str, Any]]:
        raw = params.get("media")
        if raw is None or raw == "":
            raise _ApiError(400, 'Bad Request: parameter "media" is required')
        items = raw
        if isinstance(raw, str):
            try:
                items = json.loads(raw)
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse media JSON object") from None
        if not isinstance(items, list):
            raise _ApiError(400, "Bad Request: expected an Array of InputMedia")
        if not items:
            raise _ApiError(400, "Bad Request: there are no messages to send")
        if len(items) > MEDIA_GROUP_MAX:
            raise _ApiError(400, "Bad Request: too many messages to send as an album")
        if len(items) < 2:
            raise _ApiError(400, "Bad Request: media group must contain 2-10 items")
        prepared: list[tuple[str, str | None, str, bytes | None]] = []
        for item in items:
            if not isinstance(item, dict):
                raise _ApiError(400, "Bad Request: can't parse InputMedia: object expected")
            kind = item.get("type")
            if kind not in ("photo", "video"):
                raise _ApiError(400, f'Bad Request: can\'t parse InputMedia: type "{kind}" is unsupported')
            caption = item.get("caption") if isinstance(item.get("caption"), str) else None
            if caption and utf16_len(_visible(caption, item.get("parse_mode"))) > CAPTION_LIMIT:
                raise _ApiError(400, "Bad Request: message caption is too long")
            media, upload = self._media(
                kind, item.get("media"), files, missing="Bad Request: can't parse InputMedia: media not found"
            )
            prepared.append((kind, caption, media, upload))
        chat = self._postable_chat(params)
        group_id = str(next(self._group_ids))
        reply_to = _reply_to(params)
        messages = []
        for kind, caption, media, upload in prepared:
            message = self._record(
                chat, kind, text=caption, media=media, upload=upload, group_id=group_id, reply_to=reply_to
            )
            messages.append(self._message(chat, message))
        return messages

    # -- helpers (called with the lock held) --

    def _find_chat(self, ref: str) -> FakeChat | None:
        ref = ref.strip()
        for chat in self.chats:
            if ref.startswith("@"):
                if chat.username and chat.username.lower() == ref[1:].lower():
                    return chat
            elif ref == str(chat.id):
                return chat
        return None

    def _lookup_chat(self, params: dict[str, Any]) -> FakeChat:
        ref = params.get("chat_id")
        if ref is None or str(ref).strip() == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        chat = self._find_chat(str(ref))
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        if chat.migrated_to is not None:
            raise _ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        return chat

    def _postable_chat(self, params: dict[str, Any], *, need_post_right: bool = True) -> FakeChat:
        chat = self._lookup_chat(params)
        place = "channel chat" if chat.type == "channel" else f"{chat.type} chat"
        if chat.bot_status == "kicked":
            if chat.type == "channel" and not chat.username:
                raise _ApiError(400, "Bad Request: chat not found")  # a private channel it can no longer see
            raise _ApiError(403, f"Forbidden: bot was kicked from the {place}")
        if chat.bot_status == "left":
            if chat.type == "channel" and not chat.username:
                raise _ApiError(400, "Bad Request: chat not found")
            raise _ApiError(403, f"Forbidden: bot is not a member of the {place}")
        if need_post_right and chat.type == "channel" and not (chat.bot_status == "administrator" and chat.can_post):
            raise _ApiError(400, "Bad Request: need administrator rights in the channel chat")
        return chat

    def _media(
        self, kind: str, value: Any, files: dict[str, UploadedFile], *, missing: str
    ) -> tuple[str, bytes | None]:
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
            if upload is None:
                raise _ApiError(400, missing)
            return self._upload(upload), upload.data
        if value is None or value == "":
            upload = files.get(kind)  # sendPhoto/sendVideo: the file in the part named for the parameter
            if upload is None:
                raise _ApiError(400, missing)
            return self._upload(upload), upload.data
        if not isinstance(value, str):
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        url = urlsplit(value)
        if url.scheme in ("http", "https") and "." in (url.hostname or ""):
            return value, None
        if self.files.get(value) == kind:
            return value, None
        raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    @staticmethod
    def _upload(upload: UploadedFile) -> str:
        if not upload.data:
            raise _ApiError(400, "Bad Request: file must be non-empty")
        return f"upload:{upload.filename or 'file'}"

    def _record(
        self,
        chat: FakeChat,
        kind: str,
        *,
        text: str | None = None,
        media: str | None = None,
        upload: bytes | None = None,
        group_id: str | None = None,
        reply_to: int | None = None,
    ) -> SentMessage:
        counter = self._message_ids.setdefault(chat.id, itertools.count(1))
        message = SentMessage(next(counter), chat.id, kind, text, media, upload, group_id, reply_to)
        self.sent.append(message)
        return message

    def _message(self, chat: FakeChat, sent: SentMessage) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": sent.message_id, "date": int(time.time()), "chat": chat.as_chat()}
        if chat.type == "channel":
            message["sender_chat"] = chat.as_chat()
        else:
            message["from"] = {"id": BOT_ID, "is_bot": True, "first_name": "Zavod Test Bot", "username": BOT_USERNAME}
        if sent.media_group_id:
            message["media_group_id"] = sent.media_group_id
        if sent.reply_to_message_id is not None:
            message["reply_to_message"] = {"message_id": sent.reply_to_message_id, "chat": chat.as_chat(), "date": 0}
        if sent.kind == "text":
            message["text"] = sent.text
            return message
        file_id = ("AgAC" if sent.kind == "photo" else "BAAC") + secrets.token_urlsafe(24)
        self.files[file_id] = sent.kind
        unique = secrets.token_urlsafe(8)
        size = len(sent.upload) if sent.upload is not None else 54321
        if sent.kind == "photo":
            message["photo"] = [
                {
                    "file_id": file_id + "s",
                    "file_unique_id": unique + "s",
                    "width": 90,
                    "height": 160,
                    "file_size": 1234,
                },
                {"file_id": file_id, "file_unique_id": unique, "width": 720, "height": 1280, "file_size": size},
            ]
            self.files[file_id + "s"] = "photo"
        else:
            message["video"] = {
                "file_id": file_id,
                "file_unique_id": unique,
                "width": 720,
                "height": 1280,
                "duration": 15,
                "mime_type": "video/mp4",
                "file_size": size,
            }
        if sent.text:
            message["caption"] = sent.text
        return message


# --- reading requests -----------------------------------------------------------------------------


def _read_params(query: str, raw: bytes, content_type: str) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    files: dict[str, UploadedFile] = {}
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise _ApiError(400, "Bad Request: can't parse JSON encoded request") from None
        if not isinstance(body, dict):
            raise _ApiError(400, "Bad Request: can't parse JSON encoded request")
        params.update(body)
    elif kind == "application/x-www-form-urlencoded":
        params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    elif kind == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
        )
        if not message.is_multipart():
            raise _ApiError(400, "Bad Request: can't parse multipart/form-data request")
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            data = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                files[str(name)] = UploadedFile(filename, part.get_content_type(), data)
            else:
                params[str(name)] = data.decode(part.get_content_charset() or "utf-8", "replace")
    # Form fields carry objects as JSON text.
    for name in ("reply_parameters", "link_preview_options"):
        if isinstance(params.get(name), str):
            try:
                params[name] = json.loads(params[name])
            except ValueError:
                raise _ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
    return params, files


def _caption(params: dict[str, Any]) -> str | None:
    caption = params.get("caption")
    if not isinstance(caption, str) or not caption:
        return None
    if utf16_len(_visible(caption, params.get("parse_mode"))) > CAPTION_LIMIT:
        raise _ApiError(400, "Bad Request: message caption is too long")
    return caption


def _visible(text: str, parse_mode: Any) -> str:
    """The text as Telegram counts it: for HTML, without tags and with entities decoded."""
    if isinstance(parse_mode, str) and parse_mode.lower() == "html":
        return html.unescape(_TAG_RE.sub("", text))
    return text


def _reply_to(params: dict[str, Any]) -> int | None:
    reply = params.get("reply_parameters")
    if isinstance(reply, dict):
        return _int(reply.get("message_id"))
    return _int(params.get("reply_to_message_id"))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
