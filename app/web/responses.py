"""Small response helpers so controllers stay thin and htmx-aware in one place."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from litestar import Request, Response
from litestar.plugins.flash import flash as _flash
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def flash(request: Request[Any, Any, Any], message: str, category: str = "info") -> None:
    """Queue a message shown once on the next page (categories: info, success, error)."""
    _flash(request, message, category)


def redirect(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    """After a successful POST: a 303 for plain forms, an HX-Redirect for htmx."""
    if is_htmx(request):
        return Response(content=b"", status_code=200, headers={"HX-Redirect": url})
    return Redirect(url, status_code=HTTP_303_SEE_OTHER)


def safe_next_url(candidate: str | None, fallback: str = "/") -> str:
    """Only same-site relative paths may be redirect targets (no open redirects)."""
    if not candidate:
        return fallback
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or not candidate.startswith("/") or candidate.startswith("//"):
        return fallback
    return candidate


def referer_path(request: Request[Any, Any, Any]) -> str | None:
    """The path of a same-origin Referer, where the person came from."""
    referer = request.headers.get("referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    host = request.headers.get("host", "")
    if parts.netloc and parts.netloc != host:
        return None
    return safe_next_url(parts.path + (f"?{parts.query}" if parts.query else ""), fallback="") or None


def form_page(template: str, context: dict[str, Any], *, status_code: int = 200) -> Template:
    """Re-render a form with its errors beside the fields (422 when invalid)."""
    return Template(template_name=template, context=context, status_code=status_code)


def ticked_ids(form: Any, name: str) -> list[UUID]:
    """The ids of the ticked rows of a list form; anything that is not a UUID is left out."""
    ids = []
    for raw in form.getall(name, []):
        try:
            ids.append(UUID(str(raw)))
        except ValueError:
            continue
    return ids
