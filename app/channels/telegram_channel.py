"""Telegram channels: the client's bot posting to one of its Telegram channels (or groups).

The owner gives the bot's token and the chat (@name, a t.me link or the numeric id). Zavod checks
them with the Bot API before saving (getMe: the token works; getChat: the bot sees the chat;
getChatMember: it may post there), stores them encrypted, and shows back only the bot's name and a
masked token. One client may connect several chats; the same chat twice updates the first.

Publishing turns a story version into the calls `plan_telegram_post` decides: the scenes' headliner
images as a photo or album, the text as their caption when it fits (1024 UTF-16 units), else as
separate messages after them — never cut. Images are uploaded as bytes read through the storage
layer (this machine's media URLs are not public).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.base import ChannelError, ChannelTransport, FailureKind, PublishRequest, PublishResult, register
from app.channels.services import ChannelFormError
from app.channels.telegram import (
    InputFile,
    MediaItem,
    TelegramBotClient,
    TelegramError,
    message_link,
    plan_telegram_post,
)
from app.config import get_settings
from app.generation.services import StoryVersionRepository
from app.i18n import gettext as _
from app.publishing.models import Channel, ChannelKind
from app.publishing.services import ChannelRepository, PublicationRepository
from app.secrets import SecretBox, SecretError, mask
from app.storage import storage_from_settings
from app.stories.models import StoryVersion

# <bot id>:<secret>, as BotFather gives it.
TOKEN_RE = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")
CHAT_LINK_RE = re.compile(r"^(?:https?://)?(?:t\.me|telegram\.me)/(?P<name>[A-Za-z0-9_]{4,})/?$")
CHAT_NAME_RE = re.compile(r"^@?(?P<name>[A-Za-z][A-Za-z0-9_]{3,})$")


@dataclass(frozen=True)
class TelegramCredentials:
    token: str
    chat_id: int
    chat_username: str | None
    bot_username: str

    def seal(self, box: SecretBox) -> str:
        document = {
            "token": self.token,
            "chat_id": self.chat_id,
            "chat_username": self.chat_username,
            "bot_username": self.bot_username,
        }
        return box.encrypt(json.dumps(document))

    @classmethod
    def unseal(cls, box: SecretBox, sealed: str | None) -> TelegramCredentials:
        damaged = SecretError(_("The stored Telegram connection is damaged; connect the channel again."))
        try:
            document = json.loads(box.decrypt(sealed or ""))
        except ValueError:
            raise damaged from None
        if not isinstance(document, dict) or not isinstance(document.get("token"), str):
            raise damaged
        try:
            return cls(
                token=document["token"],
                chat_id=int(document["chat_id"]),
                chat_username=document.get("chat_username"),
                bot_username=str(document.get("bot_username", "")),
            )
        except (KeyError, TypeError, ValueError):
            raise damaged from None

    @property
    def token_mask(self) -> str:
        return mask(self.token)

    def __repr__(self) -> str:
        return f"TelegramCredentials(chat_id={self.chat_id!r}, token={self.token_mask!r})"


@dataclass(frozen=True)
class TelegramConnection:
    """What the Channels page shows of one Telegram channel: never the token itself."""

    channel: Channel
    bot_username: str | None
    chat_username: str | None
    token_mask: str | None
    problem: str | None  # unreadable credentials, or the last error that needs the owner


def describe_telegram(channel: Channel, box: SecretBox | None) -> TelegramConnection:
    if box is None:
        return TelegramConnection(channel, None, None, None, _("No encryption key is configured."))
    try:
        credentials = TelegramCredentials.unseal(box, channel.credentials)
    except SecretError as exc:
        return TelegramConnection(channel, None, None, None, exc.message)
    return TelegramConnection(
        channel, credentials.bot_username, credentials.chat_username, credentials.token_mask, channel.last_error
    )


def parse_chat(value: str) -> int | str:
    """@name, a t.me link or a numeric id (-100…) as the Bot API takes it; ChannelFormError otherwise."""
    value = value.strip()
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    link = CHAT_LINK_RE.match(value)
    name = CHAT_NAME_RE.match(link.group("name") if link else value)
    if name:
        return f"@{name.group('name')}"
    raise ChannelFormError({"chat": _("Enter the channel as @name, as its t.me link, or as its numeric id (-100…).")})


async def connect_telegram(
    session: AsyncSession, client_id: UUID, box: SecretBox, bot: TelegramBotClient, *, token: str, chat: str
) -> Channel:
    """Check the token and the chat with Telegram, then save them (updating the same chat's channel)."""
    token = "".join(token.split())
    errors: dict[str, str] = {}
    if not TOKEN_RE.match(token):
        errors["token"] = _("Paste the bot's token as @BotFather gave it: digits, a colon, then about 35 characters.")
    try:
        chat_ref = parse_chat(chat)
    except ChannelFormError as exc:
        errors.update(exc.errors)
    if errors:
        raise ChannelFormError(errors)
    try:
        me = await bot.get_me()
    except TelegramError as exc:
        raise ChannelFormError({"token": exc.message}) from None
    try:
        found = await bot.get_chat(chat_ref)
        member = await bot.get_chat_member(found["id"], int(me["id"]))
    except TelegramError as exc:
        raise ChannelFormError({"chat": exc.message}) from None
    if not _may_post(found, member):
        raise ChannelFormError(
            {
                "chat": _(
                    "@%(bot)s cannot post in %(chat)s: make it an administrator with the right to post messages.",
                    bot=me.get("username", ""),
                    chat=found.get("title") or chat,
                )
            }
        )
    credentials = TelegramCredentials(
        token=token,
        chat_id=int(found["id"]),
        chat_username=found.get("username"),
        bot_username=str(me.get("username", "")),
    )
    channel = await _channel_for_chat(session, client_id, box, credentials.chat_id)
    if channel is None:
        channel = await ChannelRepository(session, client_id).add(Channel(kind=ChannelKind.TELEGRAM, name=""))
    channel.name = str(found.get("title") or found.get("username") or credentials.chat_id)[:200]
    channel.credentials = credentials.seal(box)
    channel.last_error = None
    channel.last_success_at = datetime.now(UTC)
    return channel


def _may_post(chat: dict[str, Any], member: dict[str, Any]) -> bool:
    status = member.get("status")
    if status == "creator":
        return True
    if chat.get("type") == "channel":
        return status == "administrator" and bool(member.get("can_post_messages"))
    return status in ("administrator", "member")


async def _channel_for_chat(session: AsyncSession, client_id: UUID, box: SecretBox, chat_id: int) -> Channel | None:
    """The client's channel already connected to this chat (a reconnect), if any."""
    repo = ChannelRepository(session, client_id)
    for channel in await repo.list(Channel.kind == ChannelKind.TELEGRAM):
        try:
            if TelegramCredentials.unseal(box, channel.credentials).chat_id == chat_id:
                return channel
        except SecretError:
            continue
    return None


async def remove_telegram(session: AsyncSession, client_id: UUID, channel_id: UUID) -> Channel:
    """Remove a Telegram channel; refused while posts are scheduled on it (they would vanish with it)."""
    repo = ChannelRepository(session, client_id)
    channel = await repo.get(channel_id, for_update=True)
    if channel.kind != ChannelKind.TELEGRAM:
        raise ChannelFormError({"form": _("That is not a Telegram channel.")})
    if await PublicationRepository(session, client_id).pending_on_channel(channel.id):
        raise ChannelFormError(
            {"form": _("Posts are scheduled on %(name)s: cancel them before removing it.", name=channel.name)}
        )
    await repo.delete(channel)
    return channel


# --- publishing -----------------------------------------------------------------------------------


def post_text(version: StoryVersion) -> str:
    """The Telegram caption the editor wrote, else the title and the lead (or the text)."""
    caption = (version.captions or {}).get("telegram", "").strip()
    if caption:
        return caption
    return "\n\n".join(part for part in (version.title, version.lead or version.body) if part and part.strip())


class TelegramTransport(ChannelTransport):
    kind = ChannelKind.TELEGRAM

    async def publish(self, session: AsyncSession, request: PublishRequest) -> PublishResult:
        settings = get_settings()
        box = SecretBox.from_settings(settings)
        publication = await PublicationRepository(session, request.client_id).get(request.publication_id)
        try:
            if box is None:
                raise SecretError(_("No encryption key is configured: set CREDENTIALS_KEYS or SECRET_KEY."))
            credentials = TelegramCredentials.unseal(box, publication.channel.credentials)
        except SecretError as exc:
            raise ChannelError(exc.message, FailureKind.PERMANENT) from None
        version = await StoryVersionRepository(session, request.client_id).get(request.story_version_id)
        images = await self._images(version)
        text = post_text(version)
        if not text and not images:
            raise ChannelError(_("The story has neither text nor images to post."), FailureKind.PERMANENT)
        sent: list[dict[str, Any]] = []
        async with TelegramBotClient(credentials.token, base_url=settings.telegram_api_base_url) as bot:
            for call in plan_telegram_post(text, len(images)):
                try:
                    if call.kind == "text":
                        sent.append(await bot.send_message(credentials.chat_id, call.text or ""))
                    elif call.kind == "media":
                        sent.append(await bot.send_photo(credentials.chat_id, images[call.media[0]], caption=call.text))
                    else:
                        items = [MediaItem("photo", images[n]) for n in call.media]
                        sent.extend(await bot.send_media_group(credentials.chat_id, items, caption=call.text))
                except TelegramError as exc:
                    if sent:
                        # Part of the post is out and Telegram has no idempotency key: retrying would
                        # post that part again. A person finishes it (or deletes it and retries).
                        raise ChannelError(
                            _(
                                "Part of the post went out (%(sent)s messages), then Telegram refused the rest: "
                                "%(reason)s Check the channel, then finish the post there or delete it and retry.",
                                sent=len(sent),
                                reason=exc.message,
                            ),
                            FailureKind.NEEDS_ATTENTION,
                        ) from None
                    raise
        first = sent[0]
        chat = first.get("chat") or {"id": credentials.chat_id, "username": credentials.chat_username}
        link = message_link(chat, int(first["message_id"])) or ""
        return PublishResult(external_id=",".join(str(m["message_id"]) for m in sent)[:200], external_url=link)

    async def _images(self, version: StoryVersion) -> list[InputFile]:
        """The scenes' headliner images in scene order, as uploads (the previews show the same)."""
        storage = storage_from_settings(get_settings())
        try:
            files = []
            for scene in version.scenes:
                asset = scene.headliner(version.assets)
                if asset is not None:
                    data = await storage.get(asset.storage_key)
                    files.append(InputFile(data, f"scene-{scene.position + 1}.jpg", asset.mime or "image/jpeg"))
            return files
        finally:
            await storage.close()


register(TelegramTransport())
