"""The one shape of our API clients' HTTP life: given an httpx client to share, or owning one."""

from __future__ import annotations

from typing import Self

import httpx


class HttpClientOwner:
    """Clients that may be handed an `httpx.AsyncClient` (shared; not closed here) or make their own
    (closed by `aclose()` / `async with`). Redirects are never followed: API answers are final."""

    _http: httpx.AsyncClient
    _owns_http: bool

    def _use_http(self, http: httpx.AsyncClient | None, timeout: httpx.Timeout | float) -> None:
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
