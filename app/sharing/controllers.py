"""Sharing for review: the studio's links and comments, and the guests' public page /s/{token}."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.session import scoped_session
from app.events.bus import publish_event
from app.i18n import gettext as _
from app.sharing import services
from app.sharing.models import ShareLink
from app.storage import MediaStorage
from app.stories import previews
from app.stories.models import Asset, StoryVersion
from app.stories.services import asset_urls, fresh_version, get_story
from app.tenancy.guards import TenantContext, requires
from app.tenancy.models import Client, Role
from app.web.responses import flash, is_htmx, redirect

# The guest's page must not be indexed, nor leak its token to other sites through the Referer.
PUBLIC_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class ReviewController(Controller):
    """The studio side, on the story page: make and revoke links, read the comments."""

    path = "/c/{client_slug:str}/stories/{story_id:uuid}/review"
    guards = [requires(Role.EDITOR)]

    @get("/", name="story_review")
    async def section(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
    ) -> Template:
        """The whole "Share for review" section: loaded by the story page after it renders."""
        await get_story(db_session, tenant.client.id, story_id)
        return Template(
            "sharing/_partials/review.html",
            context=await self._context(db_session, tenant, story_id, comments=True),
        )

    @get("/comments", name="story_comments")
    async def comments(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
    ) -> Template:
        """The comments alone, refetched when a guest comments (SSE "comment-<story id>")."""
        await get_story(db_session, tenant.client.id, story_id)
        return Template(
            "sharing/_partials/comments.html",
            context=await self._context(db_session, tenant, story_id, comments=True),
        )

    @post("/links")
    async def create(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        settings: NamedDependency[Settings],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        await get_story(db_session, tenant.client.id, story_id)
        form = await request.form()
        try:
            new = await services.create_link(
                db_session,
                tenant.client.id,
                story_id,
                created_by=tenant.user,
                expires=str(form.get("expires", "")),
                label=str(form.get("label", "")),
            )
        except services.FormErrors as exc:
            context = await self._context(db_session, tenant, story_id)
            return Template(
                "sharing/_partials/links.html",
                context={**context, "errors": exc.errors, "form": dict(form)},
                status_code=422,
            )
        url = services.share_url(settings, new.token)
        if not is_htmx(request):
            flash(request, _("Share link made (shown only now): %(url)s", url=url), "success")
            return redirect(request, f"/c/{tenant.client.slug}/stories/{story_id}")
        context = await self._context(db_session, tenant, story_id)
        return Template("sharing/_partials/links.html", context={**context, "new_url": url, "new_id": new.link.id})

    @post("/links/{link_id:uuid}/revoke")
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
        link_id: FromPath[UUID],
    ) -> Response[Any]:
        await get_story(db_session, tenant.client.id, story_id)
        await services.revoke(db_session, tenant.client.id, story_id, link_id)
        if not is_htmx(request):
            flash(request, _("Link revoked: it no longer opens."), "success")
            return redirect(request, f"/c/{tenant.client.slug}/stories/{story_id}")
        context = await self._context(db_session, tenant, story_id)
        # The comments' "via" changes too: they refetch themselves on this trigger.
        headers = {"HX-Trigger": "share-revoked"}
        return Template("sharing/_partials/links.html", context={**context, "revoked": True}, headers=headers)

    async def _context(
        self, db_session: AsyncSession, tenant: TenantContext, story_id: UUID, *, comments: bool = False
    ) -> dict[str, Any]:
        return {
            "tenant": tenant,
            "story_id": story_id,
            "links": await services.active_links(db_session, tenant.client.id, story_id),
            "comments": await services.comments_of(db_session, tenant.client.id, story_id) if comments else [],
            "expiry_choices": expiry_choices(),
            "errors": {},
            "form": {},
            "new_url": None,
        }


def expiry_choices() -> list[tuple[str, str]]:
    return [("", _("Never")), ("1", _("In 1 day")), ("7", _("In 7 days")), ("30", _("In 30 days"))]


class SharePageController(Controller):
    """The guest's side: no sign-in, found by the token alone, read-only but for comments."""

    path = "/s/{token:str}"
    opt = {"exclude_from_auth": True}

    @get("/", name="share_page")
    async def show(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
        return await self._page(request, token)

    @post("/comments")
    async def comment(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
        form = await request.form()
        found = await _open_link(request, token)
        if found is None:
            return _gone()
        link, client = found
        settings: Settings = request.app.state.settings
        redis: Redis = request.app.state.redis
        values = {"author_name": str(form.get("author_name", "")), "body": str(form.get("body", ""))}
        # Only a comment that would be stored counts against the limit (a typo costs nothing).
        if not services.comment_errors(" ".join(values["author_name"].split()), values["body"].strip()):
            try:
                await services.check_rate(redis, settings, link.id)
            except services.RateLimited:
                return await self._page(
                    request,
                    token,
                    form=values,
                    problem=_("Too many comments through this link in a minute. Wait a moment and send again."),
                    status_code=429,
                )
        async with scoped_session(request.app.state.session_maker, client_id=client.id) as session:
            try:
                comment = await services.add_comment(session, link, **values)
            except services.FormErrors as exc:
                errors = exc.errors
            else:
                errors = {}
        if errors:
            return await self._page(request, token, form=values, errors=errors, status_code=422)
        await publish_event(redis, settings, client.id, "comment", story_id=link.story_id, comment_id=comment.id)
        return Redirect(f"/s/{token}?sent=1#comments", status_code=HTTP_303_SEE_OTHER, headers=PUBLIC_HEADERS)

    async def _page(
        self,
        request: Request[Any, Any, Any],
        token: str,
        *,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        problem: str | None = None,
        status_code: int = 200,
    ) -> Template:
        found = await _open_link(request, token)
        if found is None:
            return _gone()
        link, client = found
        storage: MediaStorage = request.app.state.storage
        async with scoped_session(request.app.state.session_maker, client_id=client.id) as session:
            story = await get_story(session, client.id, link.story_id)
            version = await fresh_version(session, client.id, story) if story.current_version_id else None
            comments = [
                (comment, link)
                for comment, via in await services.comments_of(session, client.id, story.id)
                if via is not None and via.id == link.id
            ]
        return Template(
            "sharing/page.html",
            status_code=status_code,
            headers=PUBLIC_HEADERS,
            context={
                "token": token,
                "client": client,
                "link": link,
                "version": version,
                **(await _media(storage, version) if version else {"scene_rows": [], "video": None, "urls": {}}),
                "previews": previews.for_version(version) if version else [],
                "comments": comments,
                "form": form or {},
                "errors": errors or {},
                "problem": problem,
                "sent": request.query_params.get("sent") == "1" and not errors,
                "name_max": services.NAME_MAX,
                "body_max": services.BODY_MAX,
            },
        )


async def _open_link(request: Request[Any, Any, Any], token: str) -> tuple[ShareLink, Client] | None:
    # The token is all a guest has, so the lookup spans tenants: a system-scoped transaction, narrowly.
    async with scoped_session(request.app.state.session_maker, system=True) as session:
        link = await services.find_link(session, token)
        if link is None:
            return None
        client = await session.get(Client, link.client_id)
    return (link, client) if client is not None else None


def _gone() -> Template:
    return Template("sharing/gone.html", status_code=404, headers=PUBLIC_HEADERS)


async def _media(storage: MediaStorage, version: StoryVersion) -> dict[str, Any]:
    """Headliners per scene and the newest video: only what the guest sees is signed."""
    images = [a for a in version.assets if a.kind == "image"]
    rows = [{"scene": scene, "headliner": scene.headliner(images)} for scene in version.scenes]
    video = next(
        (a for a in sorted(version.assets, key=lambda a: a.created_at, reverse=True) if a.kind == "video"), None
    )
    poster = next(
        (
            a
            for a in version.assets
            if a.kind == "poster" and video and a.idempotency_key == f"{video.idempotency_key}:poster"
        ),
        None,
    )
    shown: list[Asset] = [row["headliner"] for row in rows if row["headliner"]] + [a for a in (video, poster) if a]
    return {"scene_rows": rows, "video": video, "poster": poster, "urls": await asset_urls(storage, shown)}
