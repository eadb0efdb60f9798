"""Credits: a monthly budget per client, a ledger row per charge, charged only when a job COMPLETES.

"Remaining" counts what is charged this calendar month (in the client's time zone) and what the
jobs already planned will charge when they complete, so two generations started together cannot
both fit into the same last credits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.generation.models import CreditCharge, Job, JobKind, JobStatus
from app.tenancy.models import Client


def month_start(client: Client, now: datetime | None = None) -> datetime:
    """Midnight of the first day of the current month in the client's time zone, as UTC."""
    zone = ZoneInfo(client.timezone or "UTC")
    local = (now or datetime.now(UTC)).astimezone(zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


@dataclass(frozen=True)
class CreditBalance:
    budget: int
    charged: int  # this month
    reserved: int  # planned by jobs not finished yet

    @property
    def remaining(self) -> int:
        return self.budget - self.charged - self.reserved


async def balance(session: AsyncSession, client: Client, now: datetime | None = None) -> CreditBalance:
    charged = (
        await session.execute(
            select(func.coalesce(func.sum(CreditCharge.amount), 0)).where(
                CreditCharge.client_id == client.id, CreditCharge.created_at >= month_start(client, now)
            )
        )
    ).scalar_one()
    # Steps not finished yet, and pipelines whose later steps are not planned yet (their estimate
    # minus what their planned steps already account for).
    reserved_steps = (
        await session.execute(
            select(func.coalesce(func.sum(Job.cost_credits), 0)).where(
                Job.client_id == client.id,
                Job.pipeline_id.is_not(None),
                Job.status.not_in((JobStatus.COMPLETED, JobStatus.FAILED)),
            )
        )
    ).scalar_one()
    # One query, not one per open pipeline: each pipeline's estimate minus what its planned steps
    # already account for.
    step = aliased(Job)
    planned = (
        select(func.coalesce(func.sum(step.cost_credits), 0))
        .where(step.client_id == client.id, step.pipeline_id == Job.id)
        .scalar_subquery()
    )
    unplanned = (
        await session.execute(
            select(func.coalesce(func.sum(func.greatest(Job.cost_credits - planned, 0)), 0)).where(
                Job.client_id == client.id,
                Job.kind == JobKind.GENERATE_STORY,
                Job.status.not_in((JobStatus.COMPLETED, JobStatus.FAILED)),
            )
        )
    ).scalar_one()
    return CreditBalance(budget=client.monthly_credits, charged=int(charged), reserved=int(reserved_steps + unplanned))


async def charge(session: AsyncSession, job: Job, description: str) -> None:
    """Charge a completed job's cost; a second call for the same job charges nothing."""
    if job.cost_credits <= 0:
        return
    await session.execute(
        insert(CreditCharge)
        .values(
            client_id=job.client_id,
            job_id=job.id,
            story_id=job.story_id,
            amount=job.cost_credits,
            description=description[:300],
        )
        .on_conflict_do_nothing(constraint="uq_credit_ledger_job")
    )


async def ledger(session: AsyncSession, client_id: UUID, limit: int = 200) -> list[CreditCharge]:
    return list(
        (
            await session.execute(
                select(CreditCharge)
                .where(CreditCharge.client_id == client_id)
                .order_by(CreditCharge.created_at.desc())
                .limit(limit)
            )
        ).scalars()
    )


def month_bounds(client: Client, year: int, month: int) -> tuple[datetime, datetime]:
    """The first instant of a calendar month in the client's time zone and of the next one, as UTC."""
    zone = ZoneInfo(client.timezone or "UTC")
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def month_ledger(session: AsyncSession, client: Client, year: int, month: int) -> list[CreditCharge]:
    """A month's charges (in the client's time zone), newest first."""
    start, end = month_bounds(client, year, month)
    return list(
        (
            await session.execute(
                select(CreditCharge)
                .where(
                    CreditCharge.client_id == client.id,
                    CreditCharge.created_at >= start,
                    CreditCharge.created_at < end,
                )
                .order_by(CreditCharge.created_at.desc())
            )
        ).scalars()
    )
