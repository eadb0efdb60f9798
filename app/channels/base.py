"""The channel seam: one small class per network behind one interface.

`publish()` returns where the post lives or raises `ChannelError` saying whether to retry,
stop and tell the owner, or ask a person (the outcome is unknown). `reconcile()` answers, after a
crash, whether a publication that was under way actually went out.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.net.errors import PicklableError


class FailureKind(enum.StrEnum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    NEEDS_ATTENTION = "needs_attention"


class ChannelError(PicklableError):
    def __init__(self, message: str, kind: FailureKind = FailureKind.RETRYABLE, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retry_after = retry_after


@dataclass(frozen=True)
class PublishRequest:
    client_id: UUID
    client_slug: str
    story_id: UUID
    story_version_id: UUID
    publication_id: UUID


@dataclass(frozen=True)
class PublishResult:
    external_id: str
    external_url: str


class ChannelTransport(abc.ABC):
    kind: str

    @abc.abstractmethod
    async def publish(self, session: AsyncSession, request: PublishRequest) -> PublishResult: ...

    async def reconcile(self, session: AsyncSession, request: PublishRequest) -> PublishResult | None:
        """Did an interrupted publication go out? None means "cannot tell" (a person must look)."""
        return None


_REGISTRY: dict[str, ChannelTransport] = {}


def register(transport: ChannelTransport) -> None:
    _REGISTRY[transport.kind] = transport


def transport_for(kind: str) -> ChannelTransport:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ChannelError(f"No transport for channel kind {kind!r}", FailureKind.PERMANENT) from None
