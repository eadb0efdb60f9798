"""Telegram channels: connected on the owner's Channels page (checked with the Bot API, stored
encrypted, shown masked), and stories published to them — against the fake Bot API (tests/fakes)."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import select

from app.db.session import scoped_session
from app.publishing.models import Channel, Publication
from app.secrets import SecretBox
from app.storage import storage_from_settings
from app.stories.models import Asset, Scene, Story, StoryVersion
from tests.conftest import Tenant, World
from tests.fakes.telegram_bot import (
    CHANNEL_ID,
    CHANNEL_USERNAME,
    PRIVATE_CHANNEL_ID,
    REVOKED_TOKEN,
    VALID_TOKEN,
)
from tests.web.publications import due_publication, publish


async def connect(web, tenant: Tenant, chat: str = f"@{CHANNEL_USERNAME}", token: str = VALID_TOKEN):
    await web.sign_in(tenant.owner)
    return await web.post(f"/c/{tenant.client.slug}/channels/telegram", {"token": token, "chat": chat})


async def telegram_channels(session_maker, client_id: UUID) -> list[Channel]:
    async with scoped_session(session_maker, client_id=client_id) as session:
        return list((await session.execute(select(Channel).where(Channel.kind == "telegram"))).scalars())


# --- connecting -------------------------------------------------------------------------------------


async def test_connecting_checks_with_telegram_stores_encrypted_and_shows_masked(
    web, world: World, session_maker, settings, telegram_bot
) -> None:
    response = await connect(web, world.a)
    assert response.status_code == 303
    [channel] = await telegram_channels(session_maker, world.a.client.id)
    assert channel.name == telegram_bot.chat(CHANNEL_ID).title
    assert VALID_TOKEN not in channel.credentials  # encrypted at rest
    assert VALID_TOKEN in SecretBox.from_settings(settings).decrypt(channel.credentials)
    assert [r.method for r in telegram_bot.requests] == ["getMe", "getChat", "getChatMember"]

    page = await web.get(f"/c/{world.a.client.slug}/channels")
    assert page.status_code == 200
    assert VALID_TOKEN not in page.text and VALID_TOKEN[-6:] not in page.text.replace(VALID_TOKEN[-4:], "")
    assert "••••" + VALID_TOKEN[-4:] in page.text
    assert f"@{CHANNEL_USERNAME}" in page.text and "@zavod_test_bot" in page.text

    # The same chat again (a new token, say) updates the channel instead of adding one.
    assert (await connect(web, world.a, chat=f"https://t.me/{CHANNEL_USERNAME}")).status_code == 303
    assert len(await telegram_channels(session_maker, world.a.client.id)) == 1


@pytest.mark.parametrize(
    ("token", "chat", "field", "words"),
    [
        ("not-a-token", f"@{CHANNEL_USERNAME}", "telegram-token-error", "@BotFather"),
        (REVOKED_TOKEN, f"@{CHANNEL_USERNAME}", "telegram-token-error", ""),
        (VALID_TOKEN, "@no_such_channel_here", "telegram-chat-error", ""),
        (VALID_TOKEN, "not a chat!", "telegram-chat-error", "@name"),
    ],
)
async def test_bad_tokens_and_chats_are_told_beside_their_field(
    web, world: World, session_maker, telegram_bot, token, chat, field, words
) -> None:
    response = await connect(web, world.a, chat=chat, token=token)
    assert response.status_code == 422
    assert f'id="{field}"' in response.text and words in response.text
    assert token not in response.text or token == "not-a-token"  # a real token is never echoed
    assert await telegram_channels(session_maker, world.a.client.id) == []


async def test_a_bot_that_may_not_post_is_refused(web, world: World, session_maker, telegram_bot) -> None:
    telegram_bot.demote_bot(CHANNEL_ID)
    response = await connect(web, world.a)
    assert response.status_code == 422 and "administrator with the right to post" in response.text
    assert await telegram_channels(session_maker, world.a.client.id) == []


async def test_only_the_owner_connects_and_removes(web, world: World, session_maker, telegram_bot) -> None:
    await web.sign_in(world.a.editor)
    response = await web.post(
        f"/c/{world.a.client.slug}/channels/telegram", {"token": VALID_TOKEN, "chat": f"@{CHANNEL_USERNAME}"}
    )
    assert response.status_code == 403
    assert (await connect(web, world.a)).status_code == 303
    [channel] = await telegram_channels(session_maker, world.a.client.id)
    await web.sign_in(world.b.owner)
    assert (await web.post(f"/c/{world.b.client.slug}/channels/telegram/{channel.id}/remove")).status_code == 404
    await web.sign_in(world.a.owner)
    assert (await web.post(f"/c/{world.a.client.slug}/channels/telegram/{channel.id}/remove")).status_code == 303
    assert await telegram_channels(session_maker, world.a.client.id) == []


# --- publishing -------------------------------------------------------------------------------------


def jpeg(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 80), color).save(buffer, format="JPEG")
    return buffer.getvalue()


async def story_for_telegram(session_maker, settings, tenant: Tenant, *, scenes: int, caption: str) -> Story:
    """An approved story with `scenes` scenes, each with a real JPEG headliner in the media store."""
    client_id = tenant.client.id
    storage = storage_from_settings(settings)
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = Story(client_id=client_id, status="scheduled")
        session.add(story)
        await session.flush()
        version = StoryVersion(
            client_id=client_id, story_id=story.id, title="Night trams", body="Body.", captions={"telegram": caption}
        )
        session.add(version)
        await session.flush()
        story.current_version_id = version.id
        for position in range(scenes):
            scene = Scene(client_id=client_id, story_version_id=version.id, position=position, text="Scene")
            session.add(scene)
            await session.flush()
            key = f"clients/{client_id}/tg/{version.id}/{position}.jpg"
            await storage.put(key, jpeg((40 * position, 80, 120)), "image/jpeg")
            session.add(
                Asset(
                    client_id=client_id,
                    story_version_id=version.id,
                    scene_id=scene.id,
                    scene_position=position,
                    storage_key=key,
                    mime="image/jpeg",
                    size_bytes=1000,
                    idempotency_key=f"{version.id}:{position}",
                )
            )
    await storage.close()
    return story


@pytest.fixture
async def connected(web, world: World, session_maker, telegram_bot) -> Channel:
    assert (await connect(web, world.a)).status_code == 303
    [channel] = await telegram_channels(session_maker, world.a.client.id)
    telegram_bot.requests.clear()
    return channel


async def test_one_scene_goes_as_a_photo_with_its_caption(
    world: World, session_maker, redis, settings, telegram_bot, connected
) -> None:
    story = await story_for_telegram(session_maker, settings, world.a, scenes=1, caption="Trams are back 🚋")
    publication = await publish(
        session_maker, redis, settings, world.a, await due_publication(session_maker, world.a, story, connected)
    )
    assert publication.status == "published"
    [sent] = telegram_bot.sent_to(CHANNEL_ID)
    assert sent.kind == "photo" and sent.text == "Trams are back 🚋" and sent.upload.startswith(b"\xff\xd8")
    assert publication.external_url == f"https://t.me/{CHANNEL_USERNAME}/{sent.message_id}"


async def test_several_scenes_go_as_an_album_and_a_long_text_follows_uncut(
    world: World, session_maker, redis, settings, telegram_bot, connected
) -> None:
    long_text = "Night trams return to the old town. " * 40  # ~1,480 characters: over a caption
    story = await story_for_telegram(session_maker, settings, world.a, scenes=3, caption=long_text)
    publication = await publish(
        session_maker, redis, settings, world.a, await due_publication(session_maker, world.a, story, connected)
    )
    assert publication.status == "published"
    sent = telegram_bot.sent_to(CHANNEL_ID)
    assert [m.kind for m in sent] == ["photo", "photo", "photo", "text"]
    assert len({m.media_group_id for m in sent[:3]}) == 1 and all(m.text is None for m in sent[:3])
    assert sent[3].text == long_text.strip()  # the whole text, not cut
    assert publication.external_id == ",".join(str(m.message_id) for m in sent)


async def test_a_flood_answer_reschedules_after_retry_after(
    world: World, session_maker, redis, settings, telegram_bot, connected
) -> None:
    story = await story_for_telegram(session_maker, settings, world.a, scenes=1, caption="Later")
    telegram_bot.flood(retry_after=42)
    before = datetime.now(UTC)
    publication = await publish(
        session_maker, redis, settings, world.a, await due_publication(session_maker, world.a, story, connected)
    )
    assert publication.status == "scheduled" and publication.attempts == 1
    assert timedelta(seconds=40) <= publication.scheduled_at - before <= timedelta(seconds=50)
    assert telegram_bot.sent_to(CHANNEL_ID) == []


async def test_a_kicked_bot_fails_with_words_and_marks_the_channel(
    world: World, session_maker, redis, settings, telegram_bot, connected
) -> None:
    story = await story_for_telegram(session_maker, settings, world.a, scenes=1, caption="Nope")
    telegram_bot.kick_bot(CHANNEL_ID)
    publication = await publish(
        session_maker, redis, settings, world.a, await due_publication(session_maker, world.a, story, connected)
    )
    assert publication.status == "failed" and publication.last_error
    assert [c.last_error for c in await telegram_channels(session_maker, world.a.client.id)] == [publication.last_error]


async def test_a_failure_after_part_of_the_post_went_out_is_never_retried(
    world: World, session_maker, redis, settings, telegram_bot, connected
) -> None:
    story = await story_for_telegram(session_maker, settings, world.a, scenes=2, caption="x " * 700)
    telegram_bot.flood(retry_after=5, method="sendMessage")  # the album goes, the text message does not
    publication = await publish(
        session_maker, redis, settings, world.a, await due_publication(session_maker, world.a, story, connected)
    )
    assert publication.status == "needs_attention" and "Part of the post went out" in publication.last_error
    assert [m.kind for m in telegram_bot.sent_to(CHANNEL_ID)] == ["photo", "photo"]


async def test_two_workers_racing_post_once(world: World, session_maker, redis, settings, telegram_bot, connected):
    story = await story_for_telegram(session_maker, settings, world.a, scenes=1, caption="Once")
    publication = await due_publication(session_maker, world.a, story, connected)
    await asyncio.gather(*(publish(session_maker, redis, settings, world.a, publication) for _ in range(2)))
    assert len(telegram_bot.sent_to(CHANNEL_ID)) == 1


async def test_a_private_channel_by_id_gets_a_private_link(
    web, world: World, session_maker, redis, settings, telegram_bot
) -> None:
    assert (await connect(web, world.a, chat=str(PRIVATE_CHANNEL_ID))).status_code == 303
    [channel] = await telegram_channels(session_maker, world.a.client.id)
    story = await story_for_telegram(session_maker, settings, world.a, scenes=0, caption="Text only")
    publication = await publish(
        session_maker, redis, settings, world.a, await due_publication(session_maker, world.a, story, channel)
    )
    [sent] = telegram_bot.sent_to(PRIVATE_CHANNEL_ID)
    assert sent.kind == "text" and sent.text == "Text only"
    assert publication.external_url == f"https://t.me/c/{str(PRIVATE_CHANNEL_ID)[4:]}/{sent.message_id}"


async def test_the_story_panel_schedules_on_a_chosen_channel(
    web, world: World, session_maker, settings, telegram_bot, connected
) -> None:
    story = await story_for_telegram(session_maker, settings, world.a, scenes=1, caption="Pick me")
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        (await session.get_one(Story, story.id)).status = "approved"
    await web.sign_in(world.a.editor)
    base = f"/c/{world.a.client.slug}/stories/{story.id}"
    page = await web.get(base)
    assert f'<option value="{connected.id}"' in page.text and "(Telegram)" in page.text
    when = (datetime.now(UTC) + timedelta(days=1)).astimezone(ZoneInfo(world.a.client.timezone))
    form = {"scheduled_at": when.strftime("%Y-%m-%dT%H:%M"), "channel_id": str(connected.id)}
    assert (await web.post(f"{base}/publications", form)).status_code == 303
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        [publication] = (await session.execute(select(Publication).where(Publication.story_id == story.id))).scalars()
    assert publication.channel_id == connected.id and publication.status == "scheduled"

    again = await web.post(f"{base}/publications", form)
    assert again.status_code == 422 and "already scheduled on" in again.text
    elsewhere = await web.post(f"{base}/publications", {**form, "channel_id": str(UUID(int=7))})
    assert elsewhere.status_code == 422 and "Pick one of this client" in elsewhere.text
