from __future__ import annotations

from uuid import UUID

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.reader import services
from app.storage import MediaStorage
from app.stories.services import asset_urls
from app.tenancy.guards import TenantContext, requires
from app.tenancy.models import Role


class ReaderController(Controller):
    path = "/c/{client_slug:str}/reader"
    guards = [requires(Role.VIEWER)]

    @get("/", name="reader")
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
    ) -> Template:
        rows = await services.published_stories(db_session, tenant.client.id)
        covers = [version.cover for _, version in rows if version.cover]
        return Template("reader/index.html", context={"rows": rows, "cover_urls": await asset_urls(storage, covers)})

    @get("/{story_id:uuid}", name="reader_story")
    async def story(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        story_id: FromPath[UUID],
    ) -> Template:
        story, version = await services.published_story(db_session, tenant.client.id, story_id)
        return Template(
            "reader/story.html",
            context={
                "story": story,
                "version": version,
                "asset_urls": await asset_urls(storage, version.assets),
                "published_at": await services.published_at(db_session, tenant.client.id, version.id),
            },
        )
