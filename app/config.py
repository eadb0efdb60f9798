"""Settings, read once from the environment into one typed object.

Every variable is documented in `.env.example`; bad values fail loudly at start-up instead of
surfacing as odd behaviour later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting is missing or malformed."""


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise SettingsError(f"Environment variable {name} is required (see .env.example).")
    return value


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}.")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}.") from exc


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, not {raw!r}.") from exc


@dataclass(frozen=True)
class Settings:
    env: str = "development"  # development | test | production
    base_url: str = "http://localhost:8000"
    secret_key: str = "dev-insecure-secret-change-me-0123456789abcdef"

    # The application role must not be a superuser: superusers bypass row-level security.
    database_url: str = "postgresql+asyncpg://zavod:zavod@127.0.0.1:5432/zavod"
    # Used only by `python -m app.db.bootstrap` to create the application role and database.
    database_admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database_pool_size: int = 10

    redis_url: str = "redis://127.0.0.1:6379/0"
    # Prefix of every Redis key Zavod writes (sessions, events, throttles) and the SAQ queue name.
    redis_prefix: str = "zavod"

    media_root: Path = field(default_factory=lambda: BASE_DIR / "var" / "media")
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""

    # Outbound fetching of user-supplied URLs.
    fetch_allow_private: bool = False
    fetch_max_bytes: int = 10 * 1024 * 1024
    fetch_connect_timeout: float = 10.0
    fetch_read_timeout: float = 30.0

    # YouTube's web origin (channel pages, video feeds); tests point it at a local server.
    youtube_base_url: str = "https://www.youtube.com"
    # The Instagram Graph API's origin (business discovery, later publishing); tests point it at a fake.
    instagram_graph_base_url: str = "https://graph.facebook.com"
    # The agency's Meta app (developers.facebook.com): long-lived Instagram tokens are renewed
    # through it before they run out. Empty: they are not renewed; the Channels page warns instead.
    instagram_app_id: str = ""
    instagram_app_secret: str = field(default="", repr=False)
    # The Telegram Bot API's origin (publishing to Telegram); tests point it at a fake.
    telegram_api_base_url: str = "https://api.telegram.org"
    # Google's OAuth endpoints (connecting a YouTube channel) and the YouTube Data API's origin
    # (uploads, channel checks); tests point all three at a fake.
    google_oauth_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"
    youtube_api_base_url: str = "https://www.googleapis.com"
    # The agency's OAuth client (Google Cloud console, type "Web application"); empty: YouTube is off.
    google_client_id: str = ""
    google_client_secret: str = field(default="", repr=False)
    sentry_dsn: str = ""
    max_request_body_bytes: int = 2 * 1024 * 1024
    login_max_failures: int = 5
    login_lockout_seconds: int = 15 * 60
    invite_ttl_hours: int = 72
    serve_dev_feed: bool = False

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def media_backend(self) -> str:
        return "s3" if self.s3_bucket else "local"

    @property
    def queue_name(self) -> str:
        return f"{self.redis_prefix}:jobs"


def load_settings() -> Settings:
    env = _env("APP_ENV", "development")
    if env not in {"development", "test", "production"}:
        raise SettingsError(f"APP_ENV must be development, test or production, not {env!r}.")
    defaults = Settings()
    secret_key = _env("SECRET_KEY", "" if env == "production" else defaults.secret_key)
    if len(secret_key) < 32:
        raise SettingsError("SECRET_KEY must be at least 32 characters long.")
    is_dev = env != "production"
    return Settings(
        env=env,
        base_url=_env("BASE_URL", defaults.base_url).rstrip("/"),
        secret_key=secret_key,
        database_url=_env("DATABASE_URL", defaults.database_url),
        database_admin_url=_env("DATABASE_ADMIN_URL", defaults.database_admin_url),
        database_pool_size=_env_int("DATABASE_POOL_SIZE", defaults.database_pool_size),
        redis_url=_env("REDIS_URL", defaults.redis_url),
        redis_prefix=_env("REDIS_PREFIX", defaults.redis_prefix),
        media_root=Path(_env("MEDIA_ROOT", str(defaults.media_root))),
        s3_bucket=_env("S3_BUCKET", ""),
        s3_endpoint_url=_env("S3_ENDPOINT_URL", ""),
        s3_region=_env("S3_REGION", defaults.s3_region),
        s3_access_key_id=_env("S3_ACCESS_KEY_ID", ""),
        s3_secret_access_key=_env("S3_SECRET_ACCESS_KEY", ""),
        fetch_allow_private=_env_bool("FETCH_ALLOW_PRIVATE", False),
        fetch_max_bytes=_env_int("FETCH_MAX_BYTES", defaults.fetch_max_bytes),
        fetch_connect_timeout=_env_float("FETCH_CONNECT_TIMEOUT", defaults.fetch_connect_timeout),
        fetch_read_timeout=_env_float("FETCH_READ_TIMEOUT", defaults.fetch_read_timeout),
        youtube_base_url=_env("YOUTUBE_BASE_URL", defaults.youtube_base_url).rstrip("/"),
        instagram_graph_base_url=_env("INSTAGRAM_GRAPH_BASE_URL", defaults.instagram_graph_base_url).rstrip("/"),
        instagram_app_id=_env("INSTAGRAM_APP_ID", "").strip(),
        instagram_app_secret=_env("INSTAGRAM_APP_SECRET", "").strip(),
        telegram_api_base_url=_env("TELEGRAM_API_BASE_URL", defaults.telegram_api_base_url).rstrip("/"),
        google_oauth_authorize_url=_env("GOOGLE_OAUTH_AUTHORIZE_URL", defaults.google_oauth_authorize_url),
        google_oauth_token_url=_env("GOOGLE_OAUTH_TOKEN_URL", defaults.google_oauth_token_url),
        youtube_api_base_url=_env("YOUTUBE_API_BASE_URL", defaults.youtube_api_base_url).rstrip("/"),
        google_client_id=_env("GOOGLE_CLIENT_ID", "").strip(),
        google_client_secret=_env("GOOGLE_CLIENT_SECRET", "").strip(),
        sentry_dsn=_env("SENTRY_DSN", ""),
        max_request_body_bytes=_env_int("MAX_REQUEST_BODY_BYTES", defaults.max_request_body_bytes),
        login_max_failures=_env_int("LOGIN_MAX_FAILURES", defaults.login_max_failures),
        login_lockout_seconds=_env_int("LOGIN_LOCKOUT_SECONDS", defaults.login_lockout_seconds),
        invite_ttl_hours=_env_int("INVITE_TTL_HOURS", defaults.invite_ttl_hours),
        serve_dev_feed=_env_bool("SERVE_DEV_FEED", is_dev),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
