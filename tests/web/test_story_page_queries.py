"""The story page costs the same number of queries for a small story and a big one (no N+1)."""

from __future__ import annotations

from uuid import UUID

from app.audit.services import record
from app.db.session import scoped_session
from app.sharing.models import Comment
from app.stories.models import Asset, Scene, Story, StoryVersion
from tests.conftest import World


async def make_story(session_maker, world: World, *, scenes: int, variants: int, events: int) -> UUID:
    tenant = world.a
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        story = Story(client_id=tenant.client.id, status="draft")
        session.add(story)
        await session.flush()
        version = StoryVersion(
            client_id=tenant.client.id,
            story_id=story.id,
            title=f"A story of {scenes} scenes",
            body="Text.",
            captions={"telegram": "Caption"},
        )
        session.add(version)
        await session.flush()
        story.current_version_id = version.id
        for position in range(scenes):
            scene = Scene(client_id=tenant.client.id, story_version_id=version.id, position=position, text="Scene")
            session.add(scene)
            await session.flush()
            for variant in range(variants):
                session.add(
                    Asset(
                        client_id=tenant.client.id,
                        story_version_id=version.id,
                        scene_id=scene.id,
                        scene_position=position,
                        variant=variant,
                        storage_key=f"clients/{tenant.client.id}/s/{version.id}/{position}-{variant}.jpg",
                        mime="image/jpeg",
                        size_bytes=1000,
                        width=1080,
                        height=1350,
                        idempotency_key=f"{version.id}:{position}:{variant}",
                    )
                )
        for n in range(events):
            await record(session, tenant.client.id, "edited", actor_id=tenant.editor.id, story_id=story.id, fields=[n])
            session.add(Comment(client_id=tenant.client.id, story_id=story.id, author_name=f"Guest {n}", body="Nice"))
        return story.id


async def test_story_page_query_count_does_not_grow_with_scenes_variants_and_history(
    web, world: World, session_maker, statements
) -> None:
    small = await make_story(session_maker, world, scenes=1, variants=1, events=0)
    big = await make_story(session_maker, world, scenes=8, variants=3, events=12)
    await web.sign_in(world.a.editor)
    base = f"/c/{world.a.client.slug}/stories"
    await web.get(f"{base}/{small}")  # warm caches (locale, templates)
    counts = {}
    for name, story_id in (("small", small), ("big", big)):
        with statements:
            page = await web.get(f"{base}/{story_id}")
        assert page.status_code == 200
        counts[name] = list(statements.seen)
    assert page.text.count('<figure class="variant') == 24
    assert 0 < len(counts["big"]) == len(counts["small"]), "\n\n".join(counts["big"])
    # The scenes section alone (refetched over SSE) too.
    with statements:
        assert (await web.get(f"{base}/{small}/scenes")).status_code == 200
    scenes_small = len(statements.seen)
    with statements:
        assert (await web.get(f"{base}/{big}/scenes")).status_code == 200
    assert len(statements.seen) == scenes_small, "\n\n".join(statements.seen)
