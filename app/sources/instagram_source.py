"""Instagram accounts as sources: preview and add one, and collect its recent posts.

A source names a public business or creator account by username; its posts are read through
business discovery on the client's own Instagram connection (Channels), so every Instagram source
of a client stops together when that connection's token expires, and works again once the owner
reconnects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_object_session

from app.channels import services as channels
from app.config import get_settings
from app.i18n import gettext as _
from app.secrets import SecretBox, SecretError
from app.sources.instagram import (
    InstagramDiscoveryClient,
    InstagramError,
    InstagramPost,
    normalize_username,
    post_to_entry,
)
from app.sources.models import DEFAULT_INTERVAL_MINUTES, Source, SourceKind
from app.sources.parsing import FeedEntry

# _jittered: Instagram sources get the same ±10% spread of fetch times as feeds.
from app.sources.services import Fetched, SourceFormError, SourceItemRepository, SourceRepository, _jittered

PREVIEW_POSTS = 5
COLLECT_POSTS = 25  # one page of business discovery: what an account posts between two fetches


def profile_url(username: str) -> str:
    """The source's address: readable, unique per account, and a link that opens the profile."""
    return f"https://www.instagram.com/{username}/"


@dataclass(frozen=True)
class InstagramPreview:
    username: str
    followers_count: int | None
    media_count: int | None
    posts: list[InstagramPost]
    entries: list[FeedEntry]


async def fetch_instagram_entries(
    source: Source, box: SecretBox | None, *, graph_base_url: str | None = None
) -> Fetched:
    """The source's newest posts as entries. Raises InstagramError / SecretError with plain-words messages.

    `collect_source` hands every kind the same (source, fetcher, box); the client's connection is
    read in the source's own session and transaction, and the Graph API's base URL, a deployment
    setting, from the process settings unless given.
    """
    session = async_object_session(source)
    if session is None:
        raise RuntimeError("An Instagram source is collected inside its session.")
    credentials = await channels.instagram_credentials(session, source.client_id, box)
    username = source.settings.get("username") or source.title.removeprefix("@")
    async with InstagramDiscoveryClient(base_url=graph_base_url or get_settings().instagram_graph_base_url) as graph:
        try:
            posts = await graph.recent_posts(
                credentials.ig_user_id, credentials.access_token, username, limit=COLLECT_POSTS
            )
        except InstagramError as exc:
            if exc.kind == "needs_owner":
                await channels.note_instagram_problem(session, source.client_id, exc.message)
            raise
    await channels.note_instagram_problem(session, source.client_id, None)
    return Fetched(200, [post_to_entry(post) for post in posts])


async def preview_instagram_source(
    session: AsyncSession,
    client_id: UUID,
    box: SecretBox,
    graph: InstagramDiscoveryClient,
    raw_username: str,
    *,
    limit: int = PREVIEW_POSTS,
) -> InstagramPreview:
    """Read the account's newest posts now, before anything is saved; form errors as SourceFormError."""
    try:
        username = normalize_username(raw_username)
        credentials = await channels.instagram_credentials(session, client_id, box)
        account = await graph.account(credentials.ig_user_id, credentials.access_token, username, limit=limit)
    except (InstagramError, SecretError) as exc:
        raise SourceFormError({"instagram": exc.message}) from None
    return InstagramPreview(
        username=account.username,
        followers_count=account.followers_count,
        media_count=account.media_count,
        posts=account.posts,
        entries=[post_to_entry(post) for post in account.posts],
    )


async def add_instagram_source(
    session: AsyncSession, client_id: UUID, box: SecretBox, graph: InstagramDiscoveryClient, raw_username: str
) -> tuple[Source, int]:
    """Check the account again, save it as a source and put its recent posts in the inbox."""
    repo = SourceRepository(session, client_id)
    try:
        username = normalize_username(raw_username)
    except InstagramError as exc:
        raise SourceFormError({"instagram": exc.message}) from None
    if await repo.get_one_or_none(Source.url == profile_url(username)):
        raise SourceFormError({"instagram": _("@%(name)s is already a source of this client.", name=username)})
    # As many posts as a collection reads, so the next fetch does not bring a burst of old ones.
    preview = await preview_instagram_source(session, client_id, box, graph, username, limit=COLLECT_POSTS)
    now = datetime.now(UTC)
    source = await repo.add(
        Source(
            kind=SourceKind.INSTAGRAM,
            url=profile_url(username),
            title=f"@{username}",
            settings={"username": username},
            last_fetched_at=now,
            last_status_code=200,
            items_found_last=len(preview.entries),
            next_fetch_at=now + _jittered(DEFAULT_INTERVAL_MINUTES),
        )
    )
    new_ids = await SourceItemRepository(session, client_id).insert_new(source, preview.entries)
    source.items_new_last = len(new_ids)
    return source, len(new_ids)
