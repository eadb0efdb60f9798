"""Signing in: credentials, throttling of failures, and the users table."""

from __future__ import annotations

from uuid import UUID

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.auth.passwords import DUMMY_HASH, MIN_PASSWORD_LENGTH, hash_password, verify_password
from app.config import Settings
from app.i18n import gettext as _


def normalise_email(email: str) -> str:
    return email.strip().lower()


class LoginThrottle:
    """Counts failed sign-ins per email and per address in Redis; too many locks both out."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.max_failures = settings.login_max_failures
        self.window = settings.login_lockout_seconds
        self.prefix = f"{settings.redis_prefix}:login-failures"

    def _keys(self, email: str, ip: str) -> list[str]:
        return [f"{self.prefix}:email:{email}", f"{self.prefix}:ip:{ip}"]

    async def seconds_locked(self, email: str, ip: str) -> int:
        email_key, ip_key = self._keys(email, ip)
        counts = await self.redis.mget(email_key, ip_key)
        # One address may try several accounts, so its limit is wider than one account's.
        if int(counts[0] or 0) >= self.max_failures:
            return max(int(await self.redis.ttl(email_key)), 1)
        if int(counts[1] or 0) >= self.max_failures * 4:
            return max(int(await self.redis.ttl(ip_key)), 1)
        return 0

    async def record_failure(self, email: str, ip: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in self._keys(email, ip):
                pipe.incr(key)
                pipe.expire(key, self.window, nx=True)
            await pipe.execute()

    async def reset(self, email: str) -> None:
        await self.redis.delete(self._keys(email, "-")[0])


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    stmt = select(User).where(func.lower(User.email) == normalise_email(email))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_active_user(session: AsyncSession, user_id: UUID) -> User | None:
    user = await session.get(User, user_id)
    return user if user is not None and user.is_active else None


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    user = await get_user_by_email(session, email)
    if user is None or not user.is_active:
        verify_password(password, DUMMY_HASH)
        return None
    return user if verify_password(password, user.password_hash) else None


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("Use at least %(n)s characters.", n=MIN_PASSWORD_LENGTH)
    return None


async def create_user(
    session: AsyncSession, *, email: str, password: str, name: str = "", is_agency_admin: bool = False
) -> User:
    user = User(
        email=normalise_email(email),
        name=name.strip(),
        password_hash=hash_password(password),
        is_agency_admin=is_agency_admin,
    )
    session.add(user)
    await session.flush()
    return user
