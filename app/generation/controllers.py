"""The client owner's Style presets page, and the Credits page (budget, ledger).

Presets are the owner's (like sources and channels). Credits: editors may look (they spend them),
the owner reads the ledger, and only the agency admin sets the monthly budget: it is the agency's money.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.generation import credits
from app.generation.models import StylePreset
from app.generation.presets import (
    ASPECT_SIZES,
    LENGTHS,
    MAX_AUDIO_BYTES,
    MAX_SCENES,
    TONES,
    PresetFormError,
    StylePresetRepository,
    attach_audio,
    model_choices,
    save_preset_form,
)
from app.i18n import gettext as _
from app.i18n import ngettext
from app.storage import MediaStorage
from app.tenancy.guards import TenantContext, requires, requires_agency_admin
from app.tenancy.models import Client, Role
from app.web.responses import flash, form_page, redirect

MAX_MONTHLY_CREDITS = 10_000_000


def _labels() -> dict[str, dict[str, str]]:
    """Words for the stored codes, in the request's language."""
    return {
        "tone": {
            "neutral": _("Neutral"),
            "formal": _("Formal"),
            "friendly": _("Friendly"),
            "energetic": _("Energetic"),
        },
        "length": {"short": _("Short"), "medium": _("Medium"), "long": _("Long")},
        "aspect": {
            "square": _("Square"),
            "portrait": _("Portrait"),
            "vertical": _("Vertical"),
        },
        "language": {"": _("The client's language"), "en": "English", "ru": "Русский"},
    }


def _form_of(preset: StylePreset, client: Client) -> dict[str, str]:
    """A preset as the form shows it (the same shape the form posts back)."""
    return {
        "name": preset.name or "",
        "is_default": "on" if preset.is_default else "",
        "language": preset.language or "",
        "tone": preset.tone or "neutral",
        "length": preset.length or "medium",
        "scene_count": str(preset.scene_count or 3),
        "image_style": preset.image_style or "",
        "aspect": preset.aspect or "portrait",
        "hashtags": " ".join(preset.hashtags or ()),
        "use_client_colors": "on" if not preset.brand_color and not preset.accent_color else "",
        "brand_color": preset.brand_color or client.brand_color,
        "accent_color": preset.accent_color or client.accent_color,
        "with_video": "on" if preset.with_video else "",
        "max_variants_per_scene": str(preset.max_variants_per_scene or 6),
        "text_model_id": str(preset.text_model_id or ""),
        "image_model_id": str(preset.image_model_id or ""),
        "video_model_id": str(preset.video_model_id or ""),
    }


async def _posted(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = {key: str(value) for key, value in (await request.form()).items() if isinstance(value, str)}
    if form.get("use_client_colors") == "on":
        # Colour inputs always send a colour: the switch is what says "none of our own".
        form["brand_color"] = form["accent_color"] = ""
    return form


# A music track (20 MB at most) travels with the preset form.
PRESET_BODY_LIMIT = MAX_AUDIO_BYTES + 512 * 1024


async def _music(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    storage: MediaStorage,
    tenant: TenantContext,
    preset: StylePreset,
    form: dict[str, str],
) -> None:
    """The preset's video music: a new upload replaces it, the switch removes it."""
    upload = (await request.form()).get("audio")
    if isinstance(upload, UploadFile) and upload.filename:
        await db_session.flush()  # a new preset gets its id, which names the file
        await attach_audio(storage, tenant.client.id, preset, upload.filename, await upload.read())
    elif form.get("remove_audio") == "on":
        preset.audio_key = preset.audio_name = None


class PresetsController(Controller):
    path = "/c/{client_slug:str}/presets"
    guards = [requires(Role.OWNER)]

    async def _list(self, db_session: AsyncSession, tenant: TenantContext) -> Template:
        presets = await StylePresetRepository(db_session, tenant.client.id).list(
            order_by=[StylePreset.is_default.desc(), StylePreset.name]
        )
        choices = await model_choices(db_session)
        models = {model.id: model for group in choices.values() for model in group}
        return Template(
            "generation/presets.html",
            context={"presets": presets, "models": models, "labels": _labels(), "sizes": ASPECT_SIZES},
        )

    async def _form(
        self,
        db_session: AsyncSession,
        tenant: TenantContext,
        preset: StylePreset | None,
        form: dict[str, str],
        errors: dict[str, str] | None = None,
    ) -> Template:
        return form_page(
            "generation/preset_form.html",
            {
                "preset": preset,
                "form": form,
                "errors": errors or {},
                "labels": _labels(),
                "tones": TONES,
                "lengths": LENGTHS,
                "sizes": ASPECT_SIZES,
                "max_scenes": MAX_SCENES,
                "choices": await model_choices(db_session),
            },
            status_code=422 if errors else 200,
        )

    @get("/", name="presets")
    async def index(
        self, db_session: NamedDependency[AsyncSession], tenant: NamedDependency[TenantContext]
    ) -> Template:
        return await self._list(db_session, tenant)

    @get("/new", name="preset_new")
    async def new(self, db_session: NamedDependency[AsyncSession], tenant: NamedDependency[TenantContext]) -> Template:
        blank = StylePreset(
            name="",
            tone="neutral",
            length="medium",
            scene_count=3,
            aspect="portrait",
            hashtags=[],
            with_video=False,
            max_variants_per_scene=6,
            is_default=not await StylePresetRepository(db_session, tenant.client.id).count(),
        )
        return await self._form(db_session, tenant, None, _form_of(blank, tenant.client))

    @post("/", request_max_body_size=PRESET_BODY_LIMIT)
    async def create(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
    ) -> Response[Any]:
        form = await _posted(request)
        try:
            preset = await save_preset_form(db_session, tenant.client.id, StylePreset(), form)
            await _music(request, db_session, storage, tenant, preset, form)
        except PresetFormError as exc:
            await db_session.rollback()
            return await self._form(db_session, tenant, None, form, exc.errors)
        flash(request, _("Preset %(name)s created.", name=preset.name), "success")
        return redirect(request, f"/c/{tenant.client.slug}/presets")

    @get("/{preset_id:uuid}", name="preset")
    async def edit(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        preset_id: FromPath[UUID],
    ) -> Template:
        preset = await StylePresetRepository(db_session, tenant.client.id).get(preset_id)
        return await self._form(db_session, tenant, preset, _form_of(preset, tenant.client))

    @post("/{preset_id:uuid}", request_max_body_size=PRESET_BODY_LIMIT)
    async def update(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        preset_id: FromPath[UUID],
    ) -> Response[Any]:
        form = await _posted(request)
        preset = await StylePresetRepository(db_session, tenant.client.id).get(preset_id)
        try:
            preset = await save_preset_form(db_session, tenant.client.id, preset, form)
            await _music(request, db_session, storage, tenant, preset, form)
        except PresetFormError as exc:
            # Nothing of a refused edit may reach the database: the preset comes back as stored.
            await db_session.rollback()
            preset = await StylePresetRepository(db_session, tenant.client.id).get(preset_id)
            return await self._form(db_session, tenant, preset, form, exc.errors)
        message = _("Preset %(name)s saved as revision %(revision)s.", name=preset.name, revision=preset.revision)
        flash(request, message, "success")
        return redirect(request, f"/c/{tenant.client.slug}/presets")

    @post("/{preset_id:uuid}/delete")
    async def delete(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        preset_id: FromPath[UUID],
    ) -> Response[Any]:
        presets = StylePresetRepository(db_session, tenant.client.id)
        preset = await presets.get(preset_id)
        name = preset.name
        await presets.delete(preset)
        flash(request, _("Preset %(name)s deleted. Stories made with it keep their content.", name=name), "success")
        return redirect(request, f"/c/{tenant.client.slug}/presets")


def _parse_month(raw: str | None, client: Client) -> tuple[int, int]:
    """`2026-11` → (2026, 11); anything else → this month in the client's time zone."""
    if raw:
        try:
            year, month = (int(part) for part in raw.split("-", 1))
            if 2000 <= year <= 2100 and 1 <= month <= 12:
                return year, month
        except ValueError:
            pass
    now = datetime.now(UTC).astimezone(ZoneInfo(client.timezone or "UTC"))
    return now.year, now.month


def _shift(year: int, month: int, by: int) -> str:
    index = year * 12 + (month - 1) + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


class CreditsController(Controller):
    path = "/c/{client_slug:str}/credits"
    guards = [requires(Role.EDITOR)]

    async def _page(
        self,
        db_session: AsyncSession,
        tenant: TenantContext,
        month: str | None = None,
        *,
        budget_form: str | None = None,
        errors: dict[str, str] | None = None,
    ) -> Template:
        client = await db_session.get_one(Client, tenant.client.id)
        year, number = _parse_month(month, client)
        this_year, this_month = _parse_month(None, client)
        current = await credits.balance(db_session, client)
        entries = await credits.month_ledger(db_session, client, year, number)
        selected = f"{year:04d}-{number:02d}"
        return form_page(
            "generation/credits.html",
            {
                "balance": current,
                "entries": entries,
                "month_total": sum(entry.amount for entry in entries),
                "month": selected,
                "month_label": datetime(year, number, 1),
                "is_this_month": (year, number) == (this_year, this_month),
                "previous_month": _shift(year, number, -1),
                "next_month": _shift(year, number, 1) if (year, number) < (this_year, this_month) else None,
                "budget_form": budget_form if budget_form is not None else str(client.monthly_credits),
                "errors": errors or {},
            },
            status_code=422 if errors else 200,
        )

    @get("/", name="credits")
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        month: FromQuery[str | None] = None,
    ) -> Template:
        return await self._page(db_session, tenant, month)

    @post("/budget", guards=[requires_agency_admin])
    async def set_budget(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
    ) -> Response[Any]:
        raw = str((await request.form()).get("monthly_credits", "")).strip()
        try:
            budget = int(raw)
            if not 0 <= budget <= MAX_MONTHLY_CREDITS:
                raise ValueError
        except ValueError:
            message = _("The budget is a whole number of credits from 0 to %(max)s.", max=f"{MAX_MONTHLY_CREDITS:,}")
            return await self._page(db_session, tenant, budget_form=raw, errors={"monthly_credits": message})
        client = await db_session.get_one(Client, tenant.client.id)
        client.monthly_credits = budget
        message = ngettext("Monthly budget set to %(num)s credit.", "Monthly budget set to %(num)s credits.", budget)
        flash(request, message, "success")
        return redirect(request, f"/c/{tenant.client.slug}/credits")
