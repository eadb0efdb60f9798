"""create_app(): the one place the Litestar application is assembled."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from babel.dates import format_datetime as babel_format_datetime
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.plugins.flash import FlashConfig, FlashPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig
from redis.asyncio import Redis
from saq import Queue

import app.db.models  # noqa: F401 - every table on the metadata before anything queries
from app.auth.controllers import AuthController
from app.auth.middleware import SessionUserMiddleware
from app.channels.controllers import ChannelsController
from app.cli import ZavodCLIPlugin
from app.config import BASE_DIR, Settings, get_settings
from app.db.session import create_session_maker
from app.dev.controllers import DevFeedController
from app.events.controllers import KEEPALIVE_MS, EventsController
from app.generation.controllers import CreditsController, PresetsController
from app.health import HealthController
from app.i18n import LOCALE_NAMES, get_locale, gettext, ngettext
from app.providers.controllers import ProvidersController
from app.publishing.controllers import ScheduleController
from app.publishing.schedule_controllers import CalendarController, ScheduleSettingsController, StoryQueueController
from app.reader.controllers import ReaderController
from app.sharing.controllers import ReviewController, SharePageController
from app.smartedit.controllers import SmartEditController, SmartEditSettingsController
from app.sources.controllers import InboxController, SourcesController
from app.storage import storage_from_settings
from app.storage.controllers import serve_local_media
from app.stories.controllers import StoriesController
from app.stories.workflow_controllers import AuditController, StoryWorkflowController
from app.tenancy.controllers import (
    ClientHomeController,
    HomeController,
    InvitationController,
    MembersController,
)
from app.web.dependencies import DEPENDENCIES
from app.web.errors import EXCEPTION_HANDLERS, notice_message

logger = logging.getLogger("zavod")


# Day-month-year and a 24-hour clock read the same to everyone (no 11/12/26 ambiguity).
DATETIME_PATTERNS = {"short": "d MMM yyyy, HH:mm", "medium": "d MMM yyyy, HH:mm", "long": "d MMMM yyyy, HH:mm"}


def _format_datetime(value: datetime | None, timezone: str = "UTC", format: str = "medium") -> str:
    if value is None:
        return ""
    pattern = DATETIME_PATTERNS.get(format, format)
    return babel_format_datetime(value, format=pattern, tzinfo=ZoneInfo(timezone), locale=get_locale())


def build_template_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(BASE_DIR / "templates"),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(get_locale=get_locale, locale_names=LOCALE_NAMES, notice_message=notice_message)
    env.filters["datetime"] = _format_datetime
    return env


def _init_sentry(settings: Settings) -> None:
    if not settings.sentry_dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.litestar import LitestarIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.env,
        integrations=[LitestarIntegration()],
        send_default_pii=False,
        traces_sample_rate=0.0,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    _init_sentry(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    alchemy_config = SQLAlchemyAsyncConfig(
        connection_string=settings.database_url,
        engine_config=EngineConfig(
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_pool_size,
            pool_pre_ping=True,
        ),
        alembic_config=AlembicAsyncConfig(
            script_location=str(BASE_DIR / "migrations"),
            version_table_name="alembic_version",
        ),
        # Requests use app.web.dependencies.provide_db_session, which scopes RLS; this key is unused.
        session_dependency_key="unscoped_db_session",
        create_all=False,
    )
    redis = Redis.from_url(settings.redis_url)
    # SSE blocks on XREAD for up to KEEPALIVE_MS: its client must wait longer than that before
    # calling the socket dead, while every other Redis call keeps the short default timeout.
    event_redis = Redis.from_url(settings.redis_url, socket_timeout=KEEPALIVE_MS / 1000 + 10)
    session_store = RedisStore(redis, namespace=f"{settings.redis_prefix}:sessions")
    session_config = ServerSideSessionConfig(
        store="sessions",
        key="zavod_session",
        max_age=14 * 24 * 3600,
        secure=settings.base_url.startswith("https://"),
        samesite="lax",
        httponly=True,
        # Files need no session: no Redis read and write for each image of a page.
        exclude=["/static/", "/media/", "/health"],
    )
    template_config = TemplateConfig(
        engine=JinjaTemplateEngine.from_environment(build_template_environment()),
    )

    async def on_startup(app: Litestar) -> None:
        app.state.settings = settings
        app.state.redis = redis
        app.state.event_redis = event_redis
        app.state.session_maker = create_session_maker(alchemy_config.get_engine())
        app.state.storage = storage_from_settings(settings)
        queue = Queue.from_url(settings.redis_url, name=settings.queue_name)
        await queue.connect()
        app.state.queue = queue

    async def on_shutdown(app: Litestar) -> None:
        await app.state.queue.disconnect()
        await app.state.storage.close()
        await redis.aclose()
        await event_redis.aclose()

    route_handlers: list[Any] = [
        AuthController,
        HomeController,
        ClientHomeController,
        MembersController,
        InvitationController,
        SourcesController,
        ChannelsController,
        PresetsController,
        CreditsController,
        InboxController,
        StoriesController,
        StoryWorkflowController,
        AuditController,
        ScheduleController,
        ScheduleSettingsController,
        CalendarController,
        StoryQueueController,
        ReaderController,
        ReviewController,
        SharePageController,
        EventsController,
        ProvidersController,
        SmartEditController,
        SmartEditSettingsController,
        HealthController,
        serve_local_media,
        create_static_files_router(path="/static", directories=[BASE_DIR / "static"], opt={"exclude_from_auth": True}),
    ]
    if settings.serve_dev_feed:
        route_handlers.append(DevFeedController)

    return Litestar(
        route_handlers=route_handlers,
        dependencies=DEPENDENCIES,
        plugins=[
            SQLAlchemyPlugin(config=alchemy_config),
            HTMXPlugin(),
            FlashPlugin(config=FlashConfig(template_config=template_config)),
            ZavodCLIPlugin(),
        ],
        stores={"sessions": session_store},
        middleware=[session_config.middleware, SessionUserMiddleware()],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_secure=settings.base_url.startswith("https://"),
            exclude=["/static/", "/health", "/media/", "/dev/"],
        ),
        template_config=template_config,
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_request_body_bytes,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        debug=False,
        openapi_config=None,
    )
