"""Outbound networking: every user-supplied URL is fetched through `SafeFetcher`."""

from app.net.fetcher import (
    BlockedAddress,
    FetchError,
    FetchResult,
    SafeFetcher,
    is_blocked_address,
    resolve_host,
)

__all__ = [
    "BlockedAddress",
    "FetchError",
    "FetchResult",
    "SafeFetcher",
    "is_blocked_address",
    "resolve_host",
]
