from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels import services as channels
from app.config import Settings
from app.events.bus import last_event_id
from app.generation import services as generation
from app.generation.models import Job, StylePreset
from app.generation.presets import StylePresetRepository
from app.i18n import gettext as _
from app.i18n import ngettext
from app.net.fetcher import SafeFetcher
from app.secrets import SecretBox
from app.sources import instagram_source, services
from app.sources.inbox import InboxFilters, inbox_page
from app.sources.instagram import InstagramDiscoveryClient
from app.sources.instagram_source import InstagramPreview
from app.sources.json_api import FieldMapping
from app.sources.models import ItemStatus, Source
from app.sources.upload import MAX_UPLOAD_BYTES, UploadError
from app.tenancy.guards import TenantContext, requires
from app.tenancy.models import Role
from app.web.responses import flash, is_htmx, redirect, ticked_ids


def _mapping_from_form(form: dict[str, str]) -> FieldMapping:
    # Mapping inputs are named map_<field>: "url" is the API's own address in this form.
    return FieldMapping.from_dict({key[4:]: value for key, value in form.items() if key.startswith("map_")})


def _json_api_context(form: dict[str, str], errors: dict[str, str], preview: Any = None) -> dict[str, Any]:
    mapping = preview.mapping.to_dict() if preview else _mapping_from_form(form).to_dict()
    return {"form": form, "errors": errors, "preview": preview, "mapping": mapping}


# The file plus the multipart envelope around it.
UPLOAD_BODY_LIMIT = MAX_UPLOAD_BYTES + 256 * 1024


class SourcesController(Controller):
    path = "/c/{client_slug:str}/sources"
    guards = [requires(Role.OWNER)]

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        tenant: TenantContext,
        *,
        form: dict | None = None,
        errors: dict | None = None,
        lookup: services.FeedLookup | None = None,
        instagram_preview: InstagramPreview | None = None,
        status_code: int = 200,
    ) -> Template:
        state = request.app.state
        # Read the stream position before the state: an event in between is then replayed, not lost.
        events_since = await last_event_id(state.redis, state.settings, tenant.client.id)
        sources = await services.SourceRepository(db_session, tenant.client.id).list(order_by=Source.created_at)
        return Template(
            "sources/index.html",
            context={
                "sources": sources,
                "form": form or {},
                "errors": errors or {},
                "lookup": lookup,
                "instagram_connected": await channels.instagram_channel(db_session, tenant.client.id) is not None,
                "instagram_preview": instagram_preview,
                "events_since": events_since,
            },
            status_code=status_code,
        )

    @get("/", name="sources")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
    ) -> Template:
        return await self._page(request, db_session, tenant)

    @post("/")
    async def add(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        """Preview first (the feed's first items, or the feeds a site offers); save on request."""
        form = {key: str(value) for key, value in (await request.form()).items() if isinstance(value, str)}
        url = form.get("url", "")
        async with SafeFetcher.from_settings(settings) as fetcher:
            try:
                if form.get("action") == "preview":
                    lookup = await services.look_up_feed(fetcher, url, youtube_base=settings.youtube_base_url)
                    return await self._page(request, db_session, tenant, form=form, lookup=lookup)
                source, new_count, lookup = await services.add_feed_source(
                    db_session, tenant.client.id, fetcher, url, youtube_base=settings.youtube_base_url
                )
            except services.SourceFormError as exc:
                return await self._page(request, db_session, tenant, form=form, errors=exc.errors, status_code=422)
        if source is None:  # a site offering several feeds: let the owner choose
            return await self._page(request, db_session, tenant, form=form, lookup=lookup)
        flash(
            request,
            ngettext(
                "Source %(title)s added: %(num)s item in the inbox.",
                "Source %(title)s added: %(num)s items in the inbox.",
                new_count,
                title=source.title,
            ),
            "success",
        )
        return redirect(request, f"/c/{tenant.client.slug}/sources")

    @post("/instagram")
    async def add_instagram(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        """Preview the account's recent posts through the client's Instagram connection; save on request."""
        form = {key: str(value) for key, value in (await request.form()).items() if isinstance(value, str)}
        username = form.get("instagram", "")
        box = SecretBox.from_settings(settings)
        async with InstagramDiscoveryClient(base_url=settings.instagram_graph_base_url) as graph:
            try:
                if form.get("action") != "save":
                    preview = await instagram_source.preview_instagram_source(
                        db_session, tenant.client.id, box, graph, username
                    )
                    return await self._page(request, db_session, tenant, form=form, instagram_preview=preview)
                source, new_count = await instagram_source.add_instagram_source(
                    db_session, tenant.client.id, box, graph, username
                )
            except services.SourceFormError as exc:
                return await self._page(request, db_session, tenant, form=form, errors=exc.errors, status_code=422)
        flash(
            request,
            ngettext(
                "Source %(title)s added: %(num)s item in the inbox.",
                "Source %(title)s added: %(num)s items in the inbox.",
                new_count,
                title=source.title,
            ),
            "success",
        )
        return redirect(request, f"/c/{tenant.client.slug}/sources")

    @get("/json-api", name="json_api_source")
    async def json_api_form(self) -> Template:
        return Template("sources/json_api.html", context=_json_api_context({}, {}))

    @post("/json-api")
    async def json_api_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        """Preview the mapping on the API's real answer; save only when asked and it reads well."""
        form = {key: str(value) for key, value in (await request.form()).items() if isinstance(value, str)}
        mapping = _mapping_from_form(form)
        async with SafeFetcher.from_settings(settings) as fetcher:
            try:
                preview = await services.preview_json_api(
                    fetcher, form.get("url", ""), form.get("header_name", ""), form.get("header_value", ""), mapping
                )
            except services.SourceFormError as exc:
                return Template("sources/json_api.html", status_code=422, context=_json_api_context(form, exc.errors))
        if form.get("action") != "save" or preview.problems or not preview.items:
            context = _json_api_context(form, {}, preview=preview)
            return Template("sources/json_api.html", context=context, status_code=422 if preview.problems else 200)
        try:
            source = await services.add_json_api_source(
                db_session,
                tenant.client.id,
                SecretBox.from_settings(settings),
                url=form.get("url", ""),
                title=form.get("title", ""),
                header_name=form.get("header_name", ""),
                header_value=form.get("header_value", ""),
                mapping=preview.mapping,
            )
        except services.SourceFormError as exc:
            return Template("sources/json_api.html", status_code=422, context=_json_api_context(form, exc.errors))
        flash(
            request, _("Source %(title)s added; its items arrive with the next fetch.", title=source.title), "success"
        )
        return redirect(request, f"/c/{tenant.client.slug}/sources")

    @post("/upload", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def upload(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
    ) -> Response[Any]:
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors = {"file": _("Choose a .txt, .md or .docx file to upload.")}
            return await self._page(request, db_session, tenant, errors=errors, status_code=422)
        try:
            item = await services.add_upload(db_session, tenant.client.id, upload.filename, await upload.read())
        except UploadError as exc:
            return await self._page(request, db_session, tenant, errors={"file": exc.message}, status_code=422)
        except services.SourceFormError as exc:
            return await self._page(request, db_session, tenant, errors=exc.errors, status_code=422)
        flash(request, _("“%(title)s” is in the inbox.", title=item.title), "success")
        return redirect(request, f"/c/{tenant.client.slug}/inbox")

    @post("/{source_id:uuid}/fetch")
    async def fetch_now(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        queue: NamedDependency[Queue],
        source_id: FromPath[UUID],
    ) -> Response[Any]:
        """Queue a fetch; the row shows "fetching" and refreshes itself when the worker's event arrives."""
        source = await services.SourceRepository(db_session, tenant.client.id).get(source_id)
        await queue.enqueue(
            "fetch_source",
            source_id=str(source.id),
            client_id=str(tenant.client.id),
            key=f"fetch:{source.id}",
            timeout=120,
        )
        if is_htmx(request):
            return Template(
                "sources/_partials/source_row.html", context={"source": source, "fetching": True, "tenant": tenant}
            )
        flash(request, _("Fetching %(title)s…", title=source.title), "info")
        return redirect(request, f"/c/{tenant.client.slug}/sources")

    @get("/{source_id:uuid}/row", name="source_row")
    async def row(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        source_id: FromPath[UUID],
    ) -> Template:
        source = await services.SourceRepository(db_session, tenant.client.id).get(source_id)
        return Template(
            "sources/_partials/source_row.html", context={"source": source, "fetching": False, "tenant": tenant}
        )

    @post("/{source_id:uuid}/settings")
    async def update_settings(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        source_id: FromPath[UUID],
    ) -> Response[Any]:
        source = await services.SourceRepository(db_session, tenant.client.id).get(source_id, for_update=True)
        form = await request.form()
        try:
            services.apply_settings(
                source,
                interval=str(form.get("interval_minutes", "")),
                include=str(form.get("include_keywords", "")),
                exclude=str(form.get("exclude_keywords", "")),
                auto_draft=form.get("auto_draft") == "on",
                enabled=form.get("enabled") == "on",
            )
        except services.SourceFormError as exc:
            flash(request, " ".join(exc.errors.values()), "error")
        else:
            flash(request, _("Settings of %(title)s saved.", title=source.title), "success")
        return redirect(request, f"/c/{tenant.client.slug}/sources")


def _preset_id(form: Any) -> UUID | None:
    """The style preset an editor chose in the inbox; none (or a stale id) means the default preset."""
    try:
        return UUID(str(form.get("preset_id", "")))
    except ValueError:
        return None


class InboxController(Controller):
    path = "/c/{client_slug:str}"
    guards = [requires(Role.EDITOR)]

    @get("/inbox", name="inbox")
    async def inbox(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        redis: NamedDependency[Redis],
        settings: NamedDependency[Settings],
        after: FromQuery[str | None] = None,
    ) -> Template:
        # Read the stream position before the state: an event in between is then replayed, not lost.
        events_since = await last_event_id(redis, settings, tenant.client.id)
        filters = InboxFilters.from_query(dict(request.query_params))
        page = await inbox_page(db_session, tenant.client.id, filters, timezone=tenant.client.timezone, cursor=after)
        items = page.items
        jobs = (
            await generation.JobRepository(db_session, tenant.client.id).list(
                Job.source_item_id.in_([item.id for item in items])
            )
            if items
            else []
        )
        sources = await services.SourceRepository(db_session, tenant.client.id).list(order_by=Source.title)
        presets = await StylePresetRepository(db_session, tenant.client.id).list(
            order_by=[StylePreset.is_default.desc(), StylePreset.name]
        )
        return Template(
            "inbox/index.html",
            context={
                "items": items,
                "next_cursor": page.next_cursor,
                "first_page": not after,
                "filters": filters,
                "sources": sources,
                "jobs_by_item": {job.source_item_id: job for job in jobs},
                "statuses": list(ItemStatus),
                "events_since": events_since,
                "has_sources": bool(sources),
                "presets": presets,
            },
        )

    @post("/items/bulk")
    async def bulk(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        queue: NamedDependency[Queue],
    ) -> Response[Any]:
        """Generate or ignore the ticked items at once."""
        form = await request.form()
        action = str(form.get("action", ""))
        ids = ticked_ids(form, "item_ids")
        back = f"/c/{tenant.client.slug}/inbox?{str(form.get('back', ''))}".rstrip("?")
        if not ids or action not in {"generate", "ignore"}:
            flash(request, _("Tick some items first, then pick what to do with them."), "error")
            return redirect(request, back)
        if action == "ignore":
            count = await services.ignore_items(db_session, tenant.client.id, ids)
            flash(request, ngettext("%(num)s item ignored.", "%(num)s items ignored.", count), "success")
            return redirect(request, back)
        preset_id = _preset_id(form)
        jobs = []
        for item_id in ids:
            try:
                jobs.append(
                    await generation.request_generation(
                        db_session, tenant.client.id, item_id, requested_by=tenant.user, preset_id=preset_id
                    )
                )
            except generation.GenerationRefused:
                continue
        # Commit before enqueueing: the worker must find the job rows when it starts.
        await db_session.commit()
        for job in jobs:
            if job.status == "QUEUED" and job.attempts == 0:
                await generation.enqueue_generation(queue, job)
        flash(
            request,
            ngettext("%(num)s story is being drafted.", "%(num)s stories are being drafted.", len(jobs)),
            "success",
        )
        return redirect(request, back)

    @post("/items/{item_id:uuid}/generate")
    async def generate(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        queue: NamedDependency[Queue],
        item_id: FromPath[UUID],
    ) -> Response[Any]:
        preset_id = _preset_id(await request.form())
        try:
            job = await generation.request_generation(
                db_session, tenant.client.id, item_id, requested_by=tenant.user, preset_id=preset_id
            )
        except generation.GenerationRefused as exc:
            flash(request, exc.message, "error")
            return redirect(request, f"/c/{tenant.client.slug}/inbox")
        # Commit before enqueueing: the worker must find the job row when it starts.
        await db_session.commit()
        if job.status == "QUEUED" and job.attempts == 0:
            await generation.enqueue_generation(queue, job)
        return Template("inbox/_partials/job_status.html", context={"job": job, "tenant": tenant})

    @post("/items/{item_id:uuid}/ignore")
    async def ignore(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        item_id: FromPath[UUID],
    ) -> Response[Any]:
        item = await services.SourceItemRepository(db_session, tenant.client.id).get(item_id)
        if item.status == ItemStatus.NEW:
            item.status = ItemStatus.IGNORED
        return redirect(request, f"/c/{tenant.client.slug}/inbox")
