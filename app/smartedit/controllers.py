"""Smart Edit on the story page (editors) and its settings page (the agency admin).

The story page's form posts an instruction; the answer is the proposal fragment: the difference,
what was done and what could not be, and Apply / Discard. Apply carries the proposed text and the
stamp in hidden fields, so the server keeps nothing between the two requests.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.config import Settings
from app.events.bus import last_event_id
from app.i18n import gettext as _
from app.providers.controllers import secret_box
from app.providers.services import FormErrors, is_builtin, model_options
from app.smartedit import services
from app.storage import MediaStorage
from app.stories import services as stories
from app.stories.controllers import story_page
from app.stories.models import Story
from app.tenancy.guards import TenantContext, requires, requires_agency_admin
from app.tenancy.models import Role
from app.web.responses import flash, form_page, is_htmx, redirect

PROPOSAL = "smartedit/_partials/proposal.html"
SETTINGS_PAGE = "/admin/smart-edit"


def _form(raw: Any) -> dict[str, str]:  # noqa: ANN401 - Litestar's FormMultiDict
    return {key: str(value) for key, value in dict(raw).items() if isinstance(value, str)}


class SmartEditController(Controller):
    path = "/c/{client_slug:str}/stories/{story_id:uuid}/smart-edit"
    guards = [requires(Role.EDITOR)]

    async def _story(self, db_session: AsyncSession, tenant: TenantContext, story_id: UUID, **kw: bool) -> Story:
        story = await stories.get_story(db_session, tenant.client.id, story_id, **kw)  # another client's: 404
        if story.current_version_id is None:
            raise NotFoundException()
        return story

    async def _answer(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        tenant: TenantContext,
        storage: MediaStorage,
        redis: Redis,
        settings: Settings,
        story: Story,
        context: dict[str, Any],
        status_code: int = 200,
    ) -> Response[Any]:
        """The proposal fragment for htmx; without JavaScript, the story page with it in place."""
        context = {"proposal": None, "problem": None, "conflict": None, **context}
        if is_htmx(request):
            return Template(PROPOSAL, context={"tenant": tenant, "story": story, **context}, status_code=status_code)
        page = await story_page(
            db_session,
            tenant,
            storage,
            story,
            events_since=await last_event_id(redis, settings, tenant.client.id),
            status_code=status_code,
        )
        page.context["smart_edit"] = context
        return page

    @post("/", name="smart_edit_propose")
    async def propose(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        redis: NamedDependency[Redis],
        settings: NamedDependency[Settings],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        form = _form(await request.form())
        story = await self._story(db_session, tenant, story_id)
        version = await stories.fresh_version(db_session, tenant.client.id, story)
        asked = {"target": form.get("target", ""), "instruction": form.get("instruction", "")}
        try:
            proposal = await services.propose(
                db_session,
                tenant.client,
                version,
                asked["target"],
                asked["instruction"],
                box=secret_box(settings),
            )
        except services.SmartEditError as exc:
            return await self._answer(
                request,
                db_session,
                tenant,
                storage,
                redis,
                settings,
                story,
                {"problem": exc.message, "asked": asked},
                status_code=422,
            )
        return await self._answer(
            request, db_session, tenant, storage, redis, settings, story, {"proposal": proposal, "asked": asked}
        )

    @post("/apply", name="smart_edit_apply")
    async def apply(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        redis: NamedDependency[Redis],
        settings: NamedDependency[Settings],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        form = _form(await request.form())
        # Locked like the edit form's save, so two saves of the story take turns.
        story = await self._story(db_session, tenant, story_id, for_update=True)
        asked = {"target": form.get("target", ""), "instruction": form.get("instruction", "")}
        page_url = f"/c/{tenant.client.slug}/stories/{story.id}"
        try:
            applied = await services.apply(
                db_session,
                tenant.client,
                story,
                tenant.user.id,
                target=asked["target"],
                instruction=asked["instruction"],
                proposed=form.get("proposed", ""),
                stamp=form.get("stamp", ""),
            )
        except (stories.EditConflict, services.SmartEditConflict) as exc:
            # Nothing saved: the editor reads why, sees the proposal once more and can propose again.
            return await self._answer(
                request,
                db_session,
                tenant,
                storage,
                redis,
                settings,
                story,
                {"conflict": exc.message, "proposed": form.get("proposed", ""), "asked": asked},
                status_code=409,
            )
        except (stories.WorkflowError, services.SmartEditError) as exc:
            return await self._answer(
                request,
                db_session,
                tenant,
                storage,
                redis,
                settings,
                story,
                {"problem": exc.message, "asked": asked},
                status_code=422,
            )
        if not applied.changed:
            flash(request, _("Nothing to change: the %(field)s already says that.", field=applied.label), "info")
        elif applied.images_stale:
            flash(
                request,
                _(
                    "Smart Edit applied to the %(field)s (version %(n)s). The scene's images are out of date: "
                    "make new ones.",
                    field=applied.label,
                    n=applied.version.number,
                ),
                "success",
            )
        else:
            flash(
                request,
                _(
                    "Smart Edit applied to the %(field)s: saved as version %(n)s.",
                    field=applied.label,
                    n=applied.version.number,
                ),
                "success",
            )
        return redirect(request, page_url)

    @get("/discard", name="smart_edit_discard")
    async def discard(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        """Nothing was stored, so discarding only clears the fragment (or goes back to the page)."""
        story = await self._story(db_session, tenant, story_id)
        if is_htmx(request):
            return Response(content="", media_type="text/html")
        return redirect(request, f"/c/{tenant.client.slug}/stories/{story.id}")


class SmartEditSettingsController(Controller):
    path = SETTINGS_PAGE
    guards = [requires_agency_admin]

    async def _page(
        self,
        db_session: AsyncSession,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        current = await services.load_settings(db_session)
        options = (await model_options(db_session))["text"]
        chosen = await services.settings_model(db_session, current)
        if form is None:
            form = {
                "text_model_id": str(current.text_model_id) if current and current.text_model_id else "",
                "system_prompt": services.system_prompt_of(current),
            }
        updated_by = await db_session.get(User, current.updated_by_id) if current and current.updated_by_id else None
        return form_page(
            "smartedit/settings.html",
            {
                "form": form,
                "errors": errors or {},
                "settings_row": current,
                "updated_by": updated_by,
                "options": options,
                "is_builtin": is_builtin,
                # Chosen, but disabled since (or its provider is): offered so that saving keeps it.
                "stale_choice": chosen if chosen and chosen not in options else None,
                "default_prompt": services.DEFAULT_SYSTEM_PROMPT,
                "max_prompt": services.MAX_SYSTEM_PROMPT,
            },
            status_code=status_code,
        )

    @get("/", name="smart_edit_settings")
    async def index(self, db_session: NamedDependency[AsyncSession]) -> Template:
        return await self._page(db_session)

    @post("/")
    async def save(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        form = _form(await request.form())
        user: User | None = request.scope.get("user")
        try:
            await services.save_settings(db_session, form, user.id if user else None)
        except FormErrors as exc:
            return await self._page(db_session, form, exc.errors, status_code=422)
        flash(request, _("Smart Edit settings saved."), "success")
        return redirect(request, SETTINGS_PAGE)
