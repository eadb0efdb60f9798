"""Share links and comments.

A link's token is shown once to the editor who made it; only its sha256 is stored, so a database
leak gives no working links. Guests find the link by that hash in a system-scoped transaction (the
token is all they have), and everything after that runs in the link's client scope.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from advanced_alchemy.exceptions import NotFoundError
from redis.asyncio import Redis
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.config import Settings
from app.db.repository import TenantRepository
from app.i18n import gettext as _
from app.sharing.models import Comment, ShareLink

# Choices of the "expires" field: days, or "" for never.
EXPIRY_DAYS = {"": None, "1": 1, "7": 7, "30": 30}
NAME_MAX = 80
LABEL_MAX = 80
BODY_MAX = 2000
# Comments through one link per minute: generous for a reviewer, a wall for a script.
COMMENTS_PER_MINUTE = 20


class ShareLinkRepository(TenantRepository[ShareLink]):
    model_type = ShareLink


class CommentRepository(TenantRepository[Comment]):
    model_type = Comment


class FormErrors(Exception):
    """Field name → message, shown beside the fields."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


class RateLimited(Exception):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class NewLink:
    link: ShareLink
    token: str


def share_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/s/{token}"


async def create_link(
    session: AsyncSession, client_id: UUID, story_id: UUID, *, created_by: User, expires: str, label: str = ""
) -> NewLink:
    if expires not in EXPIRY_DAYS:
        raise FormErrors({"expires": _("Pick when the link expires.")})
    label = " ".join(label.split())
    if len(label) > LABEL_MAX:
        raise FormErrors({"label": _("Keep it under %(max)s characters.", max=LABEL_MAX)})
    days = EXPIRY_DAYS[expires]
    token = secrets.token_urlsafe(32)
    link = ShareLink(
        story_id=story_id,
        token_hash=hash_token(token),
        label=label,
        expires_at=datetime.now(UTC) + timedelta(days=days) if days else None,
        created_by_id=created_by.id,
    )
    await ShareLinkRepository(session, client_id).add(link)
    return NewLink(link=link, token=token)


def _active():
    return or_(ShareLink.expires_at.is_(None), ShareLink.expires_at > func.now())


async def active_links(session: AsyncSession, client_id: UUID, story_id: UUID) -> list[tuple[ShareLink, int]]:
    """The story's working links, newest first, each with how many comments came through it."""
    counts = (
        select(Comment.share_link_id, func.count().label("n"))
        .where(Comment.client_id == client_id, Comment.story_id == story_id)
        .group_by(Comment.share_link_id)
        .subquery()
    )
    rows = await session.execute(
        select(ShareLink, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.share_link_id == ShareLink.id)
        .where(ShareLink.client_id == client_id, ShareLink.story_id == story_id, _active())
        .order_by(ShareLink.created_at.desc())
    )
    return [(link, int(n)) for link, n in rows]


async def revoke(session: AsyncSession, client_id: UUID, story_id: UUID, link_id: UUID) -> None:
    """Delete the link: its page stops working at once. Its comments stay (their link becomes empty)."""
    repo = ShareLinkRepository(session, client_id)
    link = await repo.get(link_id)
    if link.story_id != story_id:
        raise NotFoundError("ShareLink not found")
    await repo.delete(link)


async def find_link(session: AsyncSession, token: str) -> ShareLink | None:
    """The working link with this token, or None (unknown, revoked or expired). Run in system scope."""
    if not token or len(token) > 200:
        return None
    return (
        await session.execute(select(ShareLink).where(ShareLink.token_hash == hash_token(token), _active()))
    ).scalar_one_or_none()


async def comments_of(session: AsyncSession, client_id: UUID, story_id: UUID) -> list[tuple[Comment, ShareLink | None]]:
    """The story's comments, oldest first, each with the link it came through (None once revoked)."""
    rows = await session.execute(
        select(Comment, ShareLink)
        .outerjoin(ShareLink, ShareLink.id == Comment.share_link_id)
        .where(Comment.client_id == client_id, Comment.story_id == story_id)
        .order_by(Comment.created_at, Comment.id)
    )
    return [(comment, link) for comment, link in rows]


def comment_errors(name: str, body: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not name:
        errors["author_name"] = _("Tell us your name.")
    elif len(name) > NAME_MAX:
        errors["author_name"] = _("Keep your name under %(max)s characters.", max=NAME_MAX)
    if not body:
        errors["body"] = _("Write a comment.")
    elif len(body) > BODY_MAX:
        errors["body"] = _(
            "Keep the comment under %(max)s characters (it has %(count)s).", max=BODY_MAX, count=len(body)
        )
    return errors


async def check_rate(redis: Redis, settings: Settings, link_id: UUID) -> None:
    """At most COMMENTS_PER_MINUTE comments through one link in a minute (the window opens with the first)."""
    key = f"{settings.redis_prefix}:share-comments:{link_id}"
    count = await redis.incr(key)
    if count == 1:
        await redis.expire(key, 60)
    if count > COMMENTS_PER_MINUTE:
        raise RateLimited()


async def add_comment(session: AsyncSession, link: ShareLink, *, author_name: str, body: str) -> Comment:
    author_name = " ".join(author_name.split())
    body = body.strip().replace("\r\n", "\n")
    errors = comment_errors(author_name, body)
    if errors:
        raise FormErrors(errors)
    comment = Comment(story_id=link.story_id, share_link_id=link.id, author_name=author_name, body=body)
    await CommentRepository(session, link.client_id).add(comment)
    return comment
