"""Who is asking, and in which language to answer.

Runs inside the session middleware: loads the signed-in user (None when signed out) into
`scope["user"]`, refuses signed-out requests to any route not marked public
(`opt={"exclude_from_auth": True}`), and sets the request's UI locale.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.exceptions import NotAuthorizedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.auth.services import get_active_user
from app.db.session import scoped_session
from app.i18n import negotiate_locale, set_locale
from app.tenancy.guards import PRELOADED_TENANT, load_client_and_role

PUBLIC_PREFIXES = ("/static/", "/health", "/media/", "/dev/")
# Files: never about who asks (media URLs are signed), so no session or database work at all.
ANONYMOUS_PREFIXES = ("/static/", "/media/")


class SessionUserMiddleware(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope.get("path", "")
        if path.startswith(ANONYMOUS_PREFIXES):
            scope["user"] = None
            await next_app(scope, receive, send)
            return
        session: dict[str, Any] = scope.get("session") or {}
        if not isinstance(session, dict):
            session = {}
        user = None
        raw_user_id = session.get("user_id")
        if raw_user_id:
            try:
                user_id = UUID(str(raw_user_id))
            except ValueError:
                user_id = None
            if user_id is not None:
                slug = (scope.get("path_params") or {}).get("client_slug")
                async with scoped_session(scope["litestar_app"].state.session_maker, user_id=user_id) as db:
                    user = await get_active_user(db, user_id)
                    if user is not None and slug:
                        # The route's client and the user's role in it, in the same transaction:
                        # resolve_tenant (the guards) then needs no second one.
                        preloaded = (slug, await load_client_and_role(db, slug, user.id))
                        scope.setdefault("state", {})[PRELOADED_TENANT] = preloaded
        scope["user"] = user

        headers = dict(scope.get("headers") or [])
        accept_language = headers.get(b"accept-language", b"").decode("latin-1")
        choice = user.locale if user is not None else session.get("locale")
        set_locale(negotiate_locale(choice, accept_language))

        handler = scope.get("route_handler")
        is_public = path.startswith(PUBLIC_PREFIXES) or (handler is not None and handler.opt.get("exclude_from_auth"))
        if user is None and not is_public:
            raise NotAuthorizedException()
        await next_app(scope, receive, send)
