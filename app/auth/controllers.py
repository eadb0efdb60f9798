from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import services
from app.config import Settings
from app.i18n import SUPPORTED_LOCALES, negotiate_locale, set_locale
from app.i18n import gettext as _
from app.web.responses import flash, redirect, safe_next_url

PUBLIC = {"exclude_from_auth": True}


def _client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


class AuthController(Controller):
    tags = ["auth"]

    @get("/login", opt=PUBLIC, name="login")
    async def login_page(self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Response[Any]:
        if request.scope.get("user") is not None:
            return redirect(request, safe_next_url(next))
        return Template("auth/login.html", context={"next": safe_next_url(next, ""), "email": "", "error": None})

    @post("/login", opt=PUBLIC)
    async def login(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        redis: NamedDependency[Redis],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        form = await request.form()
        email = services.normalise_email(str(form.get("email", "")))
        password = str(form.get("password", ""))
        next_url = safe_next_url(str(form.get("next", "")), "/")
        throttle = services.LoginThrottle(redis, settings)
        ip = _client_ip(request)

        def again(error: str, status_code: int) -> Template:
            return Template(
                "auth/login.html",
                context={"next": next_url, "email": email, "error": error},
                status_code=status_code,
            )

        locked_for = await throttle.seconds_locked(email, ip)
        if locked_for:
            minutes = max(1, round(locked_for / 60))
            return again(_("Too many failed attempts. Try again in %(minutes)s min.", minutes=minutes), 429)
        user = await services.authenticate(db_session, email, password) if email and password else None
        if user is None:
            await throttle.record_failure(email, ip)
            return again(_("The email or the password is wrong."), 400)
        await throttle.reset(email)
        # A fresh session on sign-in: a session id planted before sign-in is worthless after it.
        request.clear_session()
        request.set_session({"user_id": str(user.id)})
        return redirect(request, next_url)

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Response[Any]:
        request.clear_session()
        return redirect(request, "/login")

    @post("/language", opt=PUBLIC)
    async def set_language(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        form = await request.form()
        locale = str(form.get("locale", ""))
        if locale not in SUPPORTED_LOCALES:
            locale = ""
        user = request.scope.get("user")
        if user is not None:
            db_user = await services.get_active_user(db_session, user.id)
            if db_user is not None:
                db_user.locale = locale or None
        else:
            request.session["locale"] = locale
        # The confirmation is already in the language just chosen.
        set_locale(negotiate_locale(locale or None, request.headers.get("accept-language")))
        flash(request, _("Language saved.") if locale else _("Language follows your browser."), "success")
        return redirect(request, safe_next_url(str(form.get("next", "")), "/"))
