"""`litestar --app app.main:create_app zavod ...`: operator commands."""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime

import click
from litestar.plugins import CLIPluginProtocol
from sqlalchemy import func, select

DEMO_ADMIN = ("admin@zavod.local", "zavod-admin")
DEMO_PASSWORD = "zavod-demo"
DEMO_CLIENTS = (
    # name, slug, time zone, content language, sample feed
    ("Northwind News", "northwind", "Europe/London", "en", "northwind.xml"),
    ("Aurora Media", "aurora", "Europe/Moscow", "ru", "aurora.xml"),
)


async def seed_demo() -> list[tuple[str, str, str]]:
    """Create the demo agency when the database has no users; returns the credentials made."""
    from app.auth.models import User
    from app.auth.services import create_user
    from app.config import get_settings
    from app.db.session import create_engine, create_session_maker, scoped_session
    from app.generation.models import StylePreset
    from app.sources.models import Source
    from app.tenancy.models import Membership, Role
    from app.tenancy.services import create_client

    settings = get_settings()
    engine = create_engine(settings)
    credentials: list[tuple[str, str, str]] = []
    try:
        async with scoped_session(create_session_maker(engine), system=True) as session:
            if (await session.execute(select(func.count()).select_from(User))).scalar_one():
                return []
            await create_user(
                session, email=DEMO_ADMIN[0], password=DEMO_ADMIN[1], name="Agency Admin", is_agency_admin=True
            )
            credentials.append(("agency admin", *DEMO_ADMIN))
            for name, slug, timezone, language, feed in DEMO_CLIENTS:
                client = await create_client(session, name=name, slug=slug, timezone=timezone, language=language)
                for role in (Role.OWNER, Role.EDITOR, Role.VIEWER):
                    email = f"{role.value}@{slug}.local"
                    user = await create_user(
                        session, email=email, password=DEMO_PASSWORD, name=f"{role.value.title()} of {name}"
                    )
                    session.add(Membership(client_id=client.id, user_id=user.id, role=role))
                    credentials.append((f"{name}: {role.value}", email, DEMO_PASSWORD))
                # A house style, so the demo's stories come out in three scenes with the client's hashtag.
                session.add(
                    StylePreset(
                        client_id=client.id,
                        name="House style",
                        is_default=True,
                        scene_count=3,
                        hashtags=[f"#{slug.replace('-', '').title()}"],
                    )
                )
                # The sample feed Zavod serves itself in development; the collection sweep picks it up.
                session.add(
                    Source(
                        client_id=client.id,
                        url=f"{settings.base_url}/dev/feeds/{feed}",
                        title=f"{name} sample feed",
                        next_fetch_at=datetime.now(UTC),
                    )
                )
    finally:
        await engine.dispose()
    return credentials


async def create_admin(email: str, password: str) -> None:
    from app.auth.services import create_user, get_user_by_email, password_problem
    from app.config import get_settings
    from app.db.session import create_engine, create_session_maker, scoped_session

    problem = password_problem(password)
    if problem:
        raise click.ClickException(problem)
    engine = create_engine(get_settings())
    try:
        async with scoped_session(create_session_maker(engine), system=True) as session:
            if await get_user_by_email(session, email):
                raise click.ClickException(f"A user with the email {email} exists already.")
            await create_user(session, email=email, password=password, name="Agency Admin", is_agency_admin=True)
    finally:
        await engine.dispose()


class ZavodCLIPlugin(CLIPluginProtocol):
    def on_cli_init(self, cli: click.Group) -> None:
        @cli.group(name="zavod", help="Zavod operator commands.")
        def zavod() -> None: ...

        @zavod.command(name="seed-demo", help="Create the demo agency if the database has no users.")
        def seed_demo_command() -> None:
            credentials = asyncio.run(seed_demo())
            if not credentials:
                click.echo("The database already has users: demo data not created.")
                return
            click.echo("Demo agency created. Sign in at the app's address with:")
            for who, email, password in credentials:
                click.echo(f"  {who:<28} {email:<26} {password}")

        @zavod.command(name="create-admin", help="Create an agency admin (for a fresh production database).")
        @click.option("--email", required=True)
        @click.option("--password", default=None, help="Prompted for when omitted.")
        def create_admin_command(email: str, password: str | None) -> None:
            if password is None:
                password = getpass.getpass("Password: ")
                if password != getpass.getpass("Repeat: "):
                    raise click.ClickException("The passwords differ.")
            asyncio.run(create_admin(email, password))
            click.echo(f"Agency admin {email} created.")
