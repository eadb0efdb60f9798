"""The content plan: a .docx table of stories for a client to read, print and sign off.

One row per story: number, thumbnails, title and text, captions per network, channels, scheduled
time (the client's time zone) and status. The data is read from the database and storage first;
the document is then built off the event loop (python-docx and Pillow are plain CPU work).
"""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Inches, Pt, RGBColor
from docx.table import _Cell, _Row
from docx.text.paragraph import Paragraph
from PIL import Image, UnidentifiedImageError
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.ai.base import NETWORKS
from app.i18n import get_locale, ngettext
from app.i18n import gettext as _
from app.publishing.models import Publication, PublicationStatus
from app.storage import MediaStorage, StorageError
from app.stories.models import Asset, Story, StoryStatus, StoryVersion
from app.tenancy.models import Client

Variants = Literal["headliners", "all"]
DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# One document should stay something a person reads; a wider plan is split by date range.
MAX_STORIES = 300
# Same reading as the pages: day-month-year and a 24-hour clock.
DATETIME_PATTERN = "d MMM yyyy, HH:mm"
DATE_PATTERN = "d MMM yyyy"

# A4 landscape with half-inch margins leaves 10.69 in; the columns share it.
PAGE_WIDTH, PAGE_HEIGHT, MARGIN = Inches(11.69), Inches(8.27), Inches(0.5)
COLUMN_WIDTHS = (Inches(0.4), Inches(1.5), Inches(3.2), Inches(2.8), Inches(0.9), Inches(1.1), Inches(0.79))
HEADLINER_WIDTH = Inches(1.2)  # one per scene, stacked
VARIANT_WIDTH = Inches(0.6)  # every variant: two side by side
THUMB_PIXELS = 360  # wide enough for 1.2 in at 300 dpi, small enough to keep the file light


class ExportError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class PlanRow:
    story: Story
    version: StoryVersion | None
    plan_at: datetime
    publications: list[Publication]
    # Per scene: (its position, the thumbnails as JPEG bytes or None when the image is missing).
    images: list[tuple[int, list[bytes | None]]] = field(default_factory=list)


@dataclass
class ContentPlan:
    data: bytes
    first: date  # the plan dates the document covers (client's zone), for the file name
    last: date
    count: int


def status_words(status: str) -> str:
    words = {
        StoryStatus.GENERATING: _("Generating"),
        StoryStatus.DRAFT: _("Draft"),
        StoryStatus.APPROVED: _("Approved"),
        StoryStatus.SCHEDULED: _("Scheduled"),
        StoryStatus.PUBLISHED: _("Published"),
        StoryStatus.REJECTED: _("Rejected"),
    }
    return words.get(status, status)  # type: ignore[call-overload]


def publication_words(status: str) -> str:
    words = {
        PublicationStatus.SCHEDULED: _("Scheduled"),
        PublicationStatus.PUBLISHING: _("Publishing"),
        PublicationStatus.PUBLISHED: _("Published"),
        PublicationStatus.FAILED: _("Failed"),
        PublicationStatus.NEEDS_ATTENTION: _("Needs attention"),
        PublicationStatus.CANCELED: _("Canceled"),
    }
    return words.get(status, status)  # type: ignore[call-overload]


def network_name(network: str) -> str:
    return {"telegram": "Telegram", "instagram": "Instagram", "youtube": "YouTube"}.get(network, network.title())


def _local_day_bounds(day_from: date, day_to: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of day_from, start of the day after day_to) in the client's zone, as UTC."""
    start = datetime.combine(day_from, time.min, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return start, end


async def _select_rows(
    session: AsyncSession,
    client: Client,
    *,
    story_ids: list[UUID] | None,
    date_from: date | None,
    date_to: date | None,
) -> list[PlanRow]:
    # The date a story belongs to in the plan: when it goes (or went) out — its earliest live
    # publication, published_at if published else scheduled_at — and, for a story not scheduled
    # anywhere yet, the day it was created. Days are the client's, not UTC's.
    live = and_(
        Publication.client_id == client.id,
        Publication.story_id == Story.id,
        Publication.status != PublicationStatus.CANCELED,
    )
    planned = (
        select(func.min(func.coalesce(Publication.published_at, Publication.scheduled_at)))
        .where(live)
        .correlate(Story)
        .scalar_subquery()
    )
    plan_at = func.coalesce(planned, Story.created_at).label("plan_at")
    stmt = (
        select(Story, plan_at)
        .where(Story.client_id == client.id, Story.status != StoryStatus.GENERATING)
        .options(
            selectinload(Story.current_version).selectinload(StoryVersion.scenes),
            selectinload(Story.current_version).selectinload(StoryVersion.assets),
        )
        .order_by(plan_at, Story.created_at, Story.id)
        .limit(MAX_STORIES + 1)
    )
    if story_ids is not None:
        # Only this client's stories: another client's id is simply not found (left out).
        stmt = stmt.where(Story.id.in_(story_ids))
    else:
        if date_from is None or date_to is None:
            raise ExportError(_("Pick a date range or select stories to export."))
        start, end = _local_day_bounds(date_from, date_to, ZoneInfo(client.timezone or "UTC"))
        stmt = stmt.where(plan_at >= start, plan_at < end)
    found = (await session.execute(stmt)).all()
    if len(found) > MAX_STORIES:
        raise ExportError(_("More than %(max)s stories match: export a shorter date range.", max=MAX_STORIES))
    if not found:
        raise ExportError(
            _("None of the selected stories were found.")
            if story_ids is not None
            else _("No stories in this date range.")
        )
    stories = [story for story, _at in found]
    publications: dict[UUID, list[Publication]] = defaultdict(list)
    for publication in (
        await session.execute(
            select(Publication)
            .where(
                Publication.client_id == client.id,
                Publication.story_id.in_([s.id for s in stories]),
                Publication.status != PublicationStatus.CANCELED,
            )
            .order_by(Publication.scheduled_at)
        )
    ).scalars():
        publications[publication.story_id].append(publication)
    return [
        PlanRow(story=story, version=story.current_version, plan_at=at, publications=publications[story.id])
        for story, at in found
    ]


def _thumbnail(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((THUMB_PIXELS, THUMB_PIXELS * 2))
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=80, optimize=True)
    return out.getvalue()


async def _load_images(storage: MediaStorage, row: PlanRow, variants: Variants) -> None:
    version = row.version
    if version is None:
        return
    for scene in version.scenes:
        chosen: list[Asset]
        if variants == "all":
            chosen = scene.variants(version.assets)
        else:
            headliner = scene.headliner(version.assets)
            chosen = [headliner] if headliner else []
        thumbs: list[bytes | None] = []
        for asset in chosen:
            try:
                thumbs.append(await asyncio.to_thread(_thumbnail, await storage.get(asset.storage_key)))
            except (StorageError, UnidentifiedImageError, OSError, ValueError):
                thumbs.append(None)  # said in the cell; one lost file must not cost the whole plan
        row.images.append((scene.position, thumbs))


# --- the document -------------------------------------------------------------------------------


def _set_repeat_header(row: _Row) -> None:
    """Word and LibreOffice repeat a row marked tblHeader at the top of every page."""
    tr_pr = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    tr_pr.append(header)


def _shade(cell: _Cell, fill: str) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    tc_pr.append(shading)


def _write(
    cell: _Cell, text: str, *, bold: bool = False, italic: bool = False, muted: bool = False, first: bool = False
) -> Paragraph:
    """A paragraph in a cell; the first one reuses the empty paragraph every new cell has."""
    paragraph = cell.paragraphs[0] if first else cell.add_paragraph()
    run = paragraph.add_run(text)
    run.bold, run.italic = bold, italic
    if muted:
        run.font.color.rgb = RGBColor(0x66, 0x66, 0x66)
    return paragraph


def _fill_images(cell: _Cell, row: PlanRow, variants: Variants) -> None:
    width = VARIANT_WIDTH if variants == "all" else HEADLINER_WIDTH
    first = True
    if not row.images or not any(thumbs for _pos, thumbs in row.images):
        _write(cell, _("(no images)"), muted=True, italic=True, first=True)
        return
    for position, thumbs in row.images:
        if variants == "all":
            _write(cell, _("Scene %(n)s", n=position + 1), muted=True, first=first)
            first = False
        paragraph = cell.paragraphs[0] if first else cell.add_paragraph()
        first = False
        for n, thumb in enumerate(thumbs):
            if thumb is None:
                missing = paragraph.add_run(_("(image missing)") + " ")
                missing.italic = True
                missing.font.color.rgb = RGBColor(0x99, 0x33, 0x33)
                continue
            if n:
                paragraph.add_run(" ")
            paragraph.add_run().add_picture(io.BytesIO(thumb), width=width)


def _words(text: str) -> list[str]:
    return text.split()


def _fill_text(cell: _Cell, version: StoryVersion | None) -> None:
    if version is None:
        _write(cell, _("(no content yet)"), italic=True, muted=True, first=True)
        return
    _write(cell, version.title, bold=True, first=True)
    if version.lead.strip():
        _write(cell, version.lead.strip(), italic=True)
    scenes = [scene for scene in version.scenes if scene.text.strip()]
    # The body is often the scene texts run together: then the numbered scenes alone say it once.
    if _words(version.body) != _words(" ".join(scene.text for scene in scenes)):
        for paragraph in version.body.split("\n"):
            if paragraph.strip():
                _write(cell, paragraph.strip())
    if scenes:
        _write(cell, _("Scenes"), bold=True, muted=True)
        for scene in scenes:
            _write(cell, f"{scene.position + 1}. {scene.text.strip()}")


def _fill_captions(cell: _Cell, version: StoryVersion | None) -> None:
    captions = dict(version.captions or {}) if version else {}
    order = [n for n in NETWORKS if captions.get(n)] + sorted(n for n in captions if n not in NETWORKS and captions[n])
    first = True
    for network in order:
        _write(cell, network_name(network), bold=True, first=first)
        first = False
        for line in str(captions[network]).split("\n"):
            if line.strip():
                _write(cell, line.strip())
    tags = [str(tag) for tag in version.hashtags] if version is not None and version.hashtags else []
    written = " ".join(str(captions[network]) for network in order)
    if any(tag not in written for tag in tags):  # the captions usually carry them already
        _write(cell, " ".join(tags), muted=True, first=first)
        first = False
    if first:
        _write(cell, "—", muted=True, first=True)


def _when(value: datetime, zone: ZoneInfo) -> str:
    return format_datetime(value, format=DATETIME_PATTERN, tzinfo=zone, locale=get_locale())


def _build_document(client: Client, rows: list[PlanRow], heading: str, variants: Variants) -> bytes:
    zone = ZoneInfo(client.timezone or "UTC")
    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, MARGIN)
    normal = document.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(9)
    normal.paragraph_format.space_after = Pt(2)

    document.add_heading(_("Content plan: %(client)s", client=client.name), level=1)
    info = document.add_paragraph()
    info.add_run(heading).bold = True
    generated = _("Generated %(when)s (%(tz)s)", when=_when(datetime.now(UTC), zone), tz=client.timezone)
    info.add_run(f"\n{generated}")
    shown = _("All variants of every scene") if variants == "all" else _("Headliner of every scene")
    info.add_run(f"\n{shown} · " + ngettext("%(num)s story", "%(num)s stories", len(rows)))

    headers = (_("No."), _("Images"), _("Title and text"), _("Captions"), _("Channels"), _("Scheduled"), _("Status"))
    table = document.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for n, title in enumerate(headers):
        cell = table.rows[0].cells[n]
        _write(cell, title, bold=True, first=True)
        _shade(cell, "D9E2F3")
    _set_repeat_header(table.rows[0])

    for number, row in enumerate(rows, start=1):
        cells = table.add_row().cells
        _write(cells[0], str(number), first=True)
        _fill_images(cells[1], row, variants)
        _fill_text(cells[2], row.version)
        _fill_captions(cells[3], row.version)
        if row.publications:
            for n, publication in enumerate(row.publications):
                _write(cells[4], publication.channel.name, first=not n)
                when = publication.published_at or publication.scheduled_at
                _write(cells[5], _when(when, zone), first=not n)
        else:
            _write(cells[4], "—", muted=True, first=True)
            _write(cells[5], _("Not scheduled"), muted=True, italic=True, first=True)
        _write(cells[6], status_words(row.story.status), bold=True, first=True)
        for publication in row.publications:
            if publication.status != row.story.status:  # e.g. a failed attempt on one channel
                _write(cells[6], f"{publication.channel.name}: {publication_words(publication.status)}", muted=True)

    # Word reads each cell's width, LibreOffice the grid: set both.
    for n, width in enumerate(COLUMN_WIDTHS):
        table.columns[n].width = width
        for cell in table.columns[n].cells:
            cell.width = width

    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@dataclass
class ExportQuery:
    """What the export form asks for, checked: selected ids win over a date range."""

    story_ids: list[UUID] | None
    date_from: date | None
    date_to: date | None
    variants: Variants

    @classmethod
    def parse(
        cls,
        ids: list[str],
        date_from: str | None,
        date_to: str | None,
        variants: str | None,
        *,
        selected: bool = False,
    ) -> ExportQuery:
        chosen: Variants = "all" if variants == "all" else "headliners"
        if variants not in (None, "", "headliners", "all"):
            raise ExportError(_("Choose headliners only or all variants."))
        ids = [i.strip() for i in ids if i.strip()]
        if selected and not ids:
            raise ExportError(_("Tick the stories to export first."))
        if ids:
            try:
                return cls([UUID(i) for i in ids], None, None, chosen)
            except ValueError as exc:
                raise ExportError(_("The selection has a story that does not exist.")) from exc
        raw_from, raw_to = (date_from or "").strip(), (date_to or "").strip()
        if not raw_from or not raw_to:
            raise ExportError(_("Pick a date range or select stories to export."))
        try:
            start, end = date.fromisoformat(raw_from), date.fromisoformat(raw_to)
        except ValueError as exc:
            raise ExportError(_("Enter the dates as YYYY-MM-DD, e.g. 2026-12-01.")) from exc
        if start > end:
            raise ExportError(_("The start date is after the end date."))
        if (end - start).days > 366:
            raise ExportError(_("Export at most one year at a time."))
        return cls(None, start, end, chosen)


def file_name(client: Client, plan: ContentPlan) -> str:
    # Slugs are [a-z0-9-]: safe inside a quoted Content-Disposition filename.
    return f"content-plan-{client.slug}-{plan.first.isoformat()}-{plan.last.isoformat()}.docx"


async def content_plan(
    session: AsyncSession,
    storage: MediaStorage,
    client: Client,
    *,
    story_ids: list[UUID] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    variants: Variants = "headliners",
) -> ContentPlan:
    """The plan of the chosen stories (by ids, else by date range); ExportError says what is wrong."""
    if variants not in ("headliners", "all"):
        raise ExportError(_("Choose headliners only or all variants."))
    if story_ids is None and date_from is not None and date_to is not None and date_from > date_to:
        raise ExportError(_("The start date is after the end date."))
    if story_ids is not None and not story_ids:
        raise ExportError(_("Select at least one story to export."))
    rows = await _select_rows(session, client, story_ids=story_ids, date_from=date_from, date_to=date_to)
    for row in rows:
        await _load_images(storage, row, variants)
    zone = ZoneInfo(client.timezone or "UTC")
    days = [row.plan_at.astimezone(zone).date() for row in rows]
    first, last = (date_from, date_to) if story_ids is None else (min(days), max(days))
    assert first is not None and last is not None
    locale = get_locale()
    span = format_date(first, DATE_PATTERN, locale=locale)
    if last != first:
        span += " – " + format_date(last, DATE_PATTERN, locale=locale)
    heading = _("Stories of %(span)s", span=span) if story_ids is None else _("Selected stories, %(span)s", span=span)
    data = await asyncio.to_thread(_build_document, client, rows, heading, variants)
    return ContentPlan(data=data, first=first, last=last, count=len(rows))


async def content_plan_docx(
    session: AsyncSession,
    storage: MediaStorage,
    client: Client,
    *,
    story_ids: list[UUID] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    variants: Variants = "headliners",
) -> bytes:
    plan = await content_plan(
        session, storage, client, story_ids=story_ids, date_from=date_from, date_to=date_to, variants=variants
    )
    return plan.data
