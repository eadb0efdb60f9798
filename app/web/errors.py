"""Errors answered where the person is.

- htmx requests get a message swapped into the page's flash area (htmx is configured in the
  layout to swap 4xx answers), the rest of the page untouched;
- plain form posts go back to the page they came from, with the message flashed;
- everything else gets a full error page with the right status.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from advanced_alchemy.exceptions import NotFoundError
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_500_INTERNAL_SERVER_ERROR

from app.i18n import gettext as _
from app.web.responses import flash, is_htmx, referer_path

logger = logging.getLogger(__name__)


# Messages carried in the URL (`?notice=...`) for failures that happen before the session is
# loaded (CSRF and body-size checks run outside the session middleware), so no flash is possible.
def notice_message(code: str | None) -> str | None:
    if code == "form-expired":
        return _("This form has expired or was sent from elsewhere. Reload the page and try again.")
    if code == "too-large":
        return _("What you sent is too large. Nothing was saved.")
    return None


def _with_notice(path: str, code: str) -> str:
    separator = "&" if "?" in path else "?"
    return f"{path}{separator}notice={code}"


def _message_for(exc: Exception, status_code: int, request: Request[Any, Any, Any]) -> str:
    detail = getattr(exc, "detail", "") or ""
    if status_code == 403 and "CSRF" in detail:
        return _("This form has expired or was sent from elsewhere. Reload the page and try again.")
    if status_code == 413:
        limit_mb = request.app.state.settings.max_request_body_bytes / (1024 * 1024)
        return _("What you sent is too large (the limit is %(limit)s MB). Nothing was saved.", limit=f"{limit_mb:g}")
    if status_code == 404:
        return _("This page does not exist, or you do not have access to it.")
    if status_code == 403:
        return detail if detail and detail != "Forbidden" else _("You are not allowed to do this.")
    if status_code == 405:
        return _("This action is not available here.")
    if status_code >= 500:
        return _("Something went wrong on our side. The team has been told; please try again.")
    return detail or _("The request could not be handled.")


def _flash_fragment(request: Request[Any, Any, Any], message: str, status_code: int) -> Response[Any]:
    return Template(
        template_name="_partials/flash_message.html",
        context={"message": message, "category": "error"},
        status_code=status_code,
        headers={"HX-Retarget": "#flash-area", "HX-Reswap": "innerHTML"},
    )


def handle_http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, NotFoundError):
        exc = NotFoundException()
    status_code = exc.status_code if isinstance(exc, HTTPException) else HTTP_500_INTERNAL_SERVER_ERROR
    if status_code >= 500:
        logger.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)

    if isinstance(exc, NotAuthorizedException):
        login_url = f"/login?next={quote(request.url.path)}"
        if is_htmx(request):
            return Response(content=b"", status_code=401, headers={"HX-Redirect": login_url})
        return Redirect(login_url, status_code=HTTP_303_SEE_OTHER)

    message = _message_for(exc, status_code, request)
    accept = request.headers.get("accept", "")
    wants_json = "application/json" in accept and "text/html" not in accept
    if request.url.path.startswith(("/health", "/media/")) or wants_json:
        return Response(
            content={"status_code": status_code, "detail": message}, status_code=status_code, media_type=MediaType.JSON
        )
    if is_htmx(request):
        return _flash_fragment(request, message, status_code)

    # A plain form post that failed goes back to its page with the message (nothing was saved).
    came_from = referer_path(request)
    if request.method != "GET" and came_from and status_code in (400, 403, 409, 413, 422):
        detail = getattr(exc, "detail", "") or ""
        if status_code == 403 and "CSRF" in detail:
            return Redirect(_with_notice(came_from, "form-expired"), status_code=HTTP_303_SEE_OTHER)
        if status_code == 413:
            return Redirect(_with_notice(came_from, "too-large"), status_code=HTTP_303_SEE_OTHER)
        if isinstance(request.scope.get("session"), dict):
            flash(request, message, "error")
            return Redirect(came_from, status_code=HTTP_303_SEE_OTHER)

    return Template(
        template_name="errors/error.html",
        context={"status_code": status_code, "message": message},
        status_code=status_code,
    )


EXCEPTION_HANDLERS = {
    HTTPException: handle_http_error,
    ClientException: handle_http_error,
    PermissionDeniedException: handle_http_error,
    NotFoundException: handle_http_error,
    NotFoundError: handle_http_error,
    HTTP_500_INTERNAL_SERVER_ERROR: handle_http_error,
}
