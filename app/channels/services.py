"""The client's channels (connected accounts): listing them, connecting and removing Instagram.

Only Instagram can be connected so far; the built-in Reader is always there. Credentials are
checked against the network before they are saved, stored encrypted, and shown back only masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.instagram import InstagramCredentials
from app.i18n import gettext as _
from app.publishing.models import Channel, ChannelKind
from app.publishing.services import ChannelRepository, PublicationRepository
from app.secrets import SecretBox, SecretError
from app.sources.instagram import InstagramDiscoveryClient, InstagramError
from app.sources.models import Source, SourceKind


class ChannelFormError(Exception):
    """What to fix in the connect form, by field ("ig_user_id", "access_token", or "form")."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class InstagramConnection:
    """What the Channels page shows of the Instagram connection: never the token itself."""

    channel: Channel
    username: str
    ig_user_id: str | None
    token_mask: str | None
    problem: str | None  # why it does not work (unreadable credentials, token expired during collection)


async def list_channels(session: AsyncSession, client_id: UUID) -> list[Channel]:
    return await ChannelRepository(session, client_id).list(order_by=[Channel.kind, Channel.created_at])


async def instagram_channel(session: AsyncSession, client_id: UUID, *, for_update: bool = False) -> Channel | None:
    repo = ChannelRepository(session, client_id)
    stmt = repo.select().where(Channel.kind == ChannelKind.INSTAGRAM)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def describe_instagram(channel: Channel, box: SecretBox) -> InstagramConnection:
    username = channel.name.removeprefix("@")
    try:
        credentials = InstagramCredentials.unseal(box, channel.credentials)
    except SecretError as exc:
        return InstagramConnection(channel, username, None, None, exc.message)
    return InstagramConnection(channel, username, credentials.ig_user_id, credentials.token_mask, channel.last_error)


async def instagram_credentials(session: AsyncSession, client_id: UUID, box: SecretBox | None) -> InstagramCredentials:
    """The credentials Instagram sources read with; InstagramError ("needs_owner") when there are none."""
    channel = await instagram_channel(session, client_id)
    if channel is None:
        raise InstagramError(
            _("This client has no Instagram connection; the owner must connect Instagram in Channels."),
            "needs_owner",
        )
    if box is None:
        raise SecretError(_("No encryption key is configured: set CREDENTIALS_KEYS or SECRET_KEY."))
    return InstagramCredentials.unseal(box, channel.credentials)


def _form_credentials(ig_user_id: str, access_token: str) -> InstagramCredentials:
    errors = {}
    ig_user_id = ig_user_id.strip()
    # Tokens are long and get pasted with line breaks or spaces; none of them belong to it.
    access_token = "".join(access_token.split())
    if not ig_user_id:
        errors["ig_user_id"] = _("Enter the id of the client's Instagram professional account.")
    elif not ig_user_id.isdigit():
        errors["ig_user_id"] = _("The Instagram account id is a number, such as 17841400000000001 (not the @username).")
    if not access_token:
        errors["access_token"] = _("Paste the long-lived access token of that account.")
    if errors:
        raise ChannelFormError(errors)
    return InstagramCredentials(ig_user_id=ig_user_id, access_token=access_token)


async def connect_instagram(
    session: AsyncSession,
    client_id: UUID,
    box: SecretBox,
    graph: InstagramDiscoveryClient,
    *,
    ig_user_id: str,
    access_token: str,
) -> Channel:
    """Check the account id and token with Instagram, then save them (replacing an earlier connection)."""
    credentials = _form_credentials(ig_user_id, access_token)
    try:
        account = await graph.connected_account(credentials.ig_user_id, credentials.access_token)
    except InstagramError as exc:
        if exc.code in (100, 110):
            field = "ig_user_id"
        elif exc.kind == "needs_owner":
            field = "access_token"
        else:
            field = "form"
        raise ChannelFormError({field: exc.message}) from None
    now = datetime.now(UTC)
    channel = await instagram_channel(session, client_id, for_update=True)
    if channel is None:
        try:
            async with session.begin_nested():
                channel = await ChannelRepository(session, client_id).add(
                    Channel(kind=ChannelKind.INSTAGRAM, name=f"@{account.username}")
                )
        except IntegrityError:
            # Someone connected Instagram for this client at the same moment: this one replaces it.
            channel = await instagram_channel(session, client_id, for_update=True)
            assert channel is not None
    channel.name = f"@{account.username}"
    channel.credentials = credentials.seal(box)
    channel.last_error = None
    channel.last_success_at = now
    channel.is_paused = False
    # Instagram sources that failed on the old connection may have backed off for hours: fetch them now.
    await session.execute(
        update(Source)
        .where(
            Source.client_id == client_id,
            Source.kind == SourceKind.INSTAGRAM,
            Source.enabled.is_(True),
            Source.last_error.is_not(None),
        )
        .values(next_fetch_at=now)
        .execution_options(synchronize_session=False)
    )
    return channel


async def disconnect_instagram(session: AsyncSession, client_id: UUID) -> int:
    """Remove the connection; returns how many Instagram sources now wait for a new one."""
    channel = await instagram_channel(session, client_id, for_update=True)
    if channel is None:
        raise ChannelFormError({"form": _("Instagram is not connected.")})
    if await PublicationRepository(session, client_id).pending_on_channel(channel.id):
        # Deleting the channel would delete those publications with it, silently.
        raise ChannelFormError(
            {"form": _("Posts are scheduled on this Instagram account: cancel them before removing it.")}
        )
    await ChannelRepository(session, client_id).delete(channel)
    waiting = await session.scalar(
        select(func.count())
        .select_from(Source)
        .where(Source.client_id == client_id, Source.kind == SourceKind.INSTAGRAM, Source.enabled.is_(True))
    )
    return int(waiting or 0)


async def note_instagram_problem(session: AsyncSession, client_id: UUID, message: str | None) -> None:
    """Show on the Channels page that the connection stopped working (or works again).

    Written only when it changes: every Instagram source of the client passes here on each fetch,
    and rewriting the one channel row each time would make their transactions queue on its lock.
    """
    channel = await instagram_channel(session, client_id)
    if channel is not None and channel.last_error != message:
        channel.last_error = message
