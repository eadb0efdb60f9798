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

PUBLIC_PREFIXES = ("/static/", "/health", "/media/", "/dev/")


class SessionUserMiddleware(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
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
                async with scoped_session(scope["litestar_app"].state.session_maker) as db:
                    user = await get_active_user(db, user_id)
        scope["user"] = user

        headers = dict(scope.get("headers") or [])
        accept_language = headers.get(b"accept-language", b"").decode("latin-1")
        choice = user.locale if user is not None else session.get("locale")
        set_locale(negotiate_locale(choice, accept_language))

        path: str = scope.get("path", "")
        handler = scope.get("route_handler")
        is_public = path.startswith(PUBLIC_PREFIXES) or (handler is not None and handler.opt.get("exclude_from_auth"))
        if user is None and not is_public:
            raise NotAuthorizedException()
        await next_app(scope, receive, send)
