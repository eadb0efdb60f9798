"""The owner connects the client's Instagram account on the Channels page, checked against the (fake) Graph API."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select, text

from app.db.session import scoped_session
from app.publishing.models import Channel
from app.secrets import SecretBox
from tests.conftest import World
from tests.fakes.instagram_graph import EXPIRED_TOKEN, OWNER_IG_USER_ID, OWNER_USERNAME, VALID_TOKEN

WRONG_ID = "17841499999999999"


def channels_url(world: World) -> str:
    return f"/c/{world.a.client.slug}/channels"


async def connect(web, world: World, ig_user_id: str = OWNER_IG_USER_ID, token: str = VALID_TOKEN):
    return await web.post(f"{channels_url(world)}/instagram", {"ig_user_id": ig_user_id, "access_token": token})


async def instagram_rows(session_maker, world: World) -> list[Channel]:
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        return list((await session.execute(select(Channel).where(Channel.kind == "instagram"))).scalars())


async def test_the_owner_connects_instagram_and_sees_the_account_but_never_the_token(
    web, world: World, instagram_graph, session_maker, settings, caplog
) -> None:
    await web.sign_in(world.a.owner)
    page = await web.get(channels_url(world))
    assert page.status_code == 200 and "Connect Instagram" in page.text

    with caplog.at_level(logging.DEBUG):
        # A token pasted with a line break in it still works: whitespace is no part of a token.
        response = await connect(web, world, token=f"  {VALID_TOKEN[:20]}\n{VALID_TOKEN[20:]} ")
    assert response.status_code == 303, response.text
    assert VALID_TOKEN not in caplog.text

    checked = instagram_graph.requests[-1]
    assert checked.path == f"/v21.0/{OWNER_IG_USER_ID}" and checked.fields == "id,username"
    assert checked.access_token == VALID_TOKEN

    page = await web.get(channels_url(world))
    assert f"@{OWNER_USERNAME}" in page.text and OWNER_IG_USER_ID in page.text
    assert "••••" + VALID_TOKEN[-4:] in page.text
    assert VALID_TOKEN not in page.text and VALID_TOKEN[:12] not in page.text
    assert "Instagram connected: @zavod.agency." in page.text  # the flash

    # At rest the pair is one encrypted value: neither the token nor the id is readable in the column.
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        raw = (await session.execute(text("SELECT name, credentials FROM channels WHERE kind = 'instagram'"))).one()
    assert raw.name == f"@{OWNER_USERNAME}"
    assert VALID_TOKEN not in raw.credentials and OWNER_IG_USER_ID not in raw.credentials
    stored = json.loads(SecretBox.from_settings(settings).decrypt(raw.credentials))
    assert stored == {"ig_user_id": OWNER_IG_USER_ID, "access_token": VALID_TOKEN}


async def test_an_expired_token_is_explained_in_the_form_and_nothing_is_saved(
    web, world: World, instagram_graph, session_maker
) -> None:
    await web.sign_in(world.a.owner)
    response = await connect(web, world, token=EXPIRED_TOKEN)
    assert response.status_code == 422
    assert "Instagram did not accept this access token" in response.text
    assert EXPIRED_TOKEN not in response.text  # the typed token is not echoed back into the page
    assert f'value="{OWNER_IG_USER_ID}"' in response.text  # the typed id is
    assert await instagram_rows(session_maker, world) == []


async def test_a_wrong_account_id_is_explained_in_the_form(web, world: World, instagram_graph, session_maker) -> None:
    await web.sign_in(world.a.owner)
    response = await connect(web, world, ig_user_id=WRONG_ID)
    assert response.status_code == 422
    assert f"Instagram has no professional account with the id {WRONG_ID}" in response.text
    assert 'id="ig-user-id-error"' in response.text
    assert await instagram_rows(session_maker, world) == []


async def test_a_malformed_id_or_a_missing_token_is_explained_without_asking_instagram(
    web, world: World, instagram_graph
) -> None:
    await web.sign_in(world.a.owner)
    response = await connect(web, world, ig_user_id="@zavod.agency", token="   ")
    assert response.status_code == 422
    assert "The Instagram account id is a number" in response.text
    assert "Paste the long-lived access token" in response.text
    assert instagram_graph.requests == []


async def test_a_rate_limit_or_an_outage_says_to_try_again_later(web, world: World, instagram_graph) -> None:
    await web.sign_in(world.a.owner)
    instagram_graph.rate_limit(80002, regain_minutes=12, times=1)
    limited = await connect(web, world)
    assert limited.status_code == 422
    assert "Instagram is limiting requests right now" in limited.text and "about 12 min" in limited.text

    instagram_graph.server_error(502, graph_body=False, times=1)
    down = await connect(web, world)
    assert down.status_code == 422 and "Could not reach Instagram to check the connection" in down.text

    # Once Instagram answers again, the same form goes through.
    assert (await connect(web, world)).status_code == 303


async def test_reconnecting_replaces_the_connection_and_removing_deletes_it(
    web, world: World, instagram_graph, session_maker, monkeypatch
) -> None:
    await web.sign_in(world.a.owner)
    assert (await connect(web, world)).status_code == 303
    first = (await instagram_rows(session_maker, world))[0]

    # Instagram moves the owner to a new token: reconnecting updates the one connection.
    new_token = "EAAGfakeSecondToken9876543210zyxwvSECRET"
    monkeypatch.setattr(instagram_graph, "valid_token", new_token)
    assert (await connect(web, world, token=new_token)).status_code == 303
    rows = await instagram_rows(session_maker, world)
    assert [row.id for row in rows] == [first.id]
    assert rows[0].credentials != first.credentials
    page = await web.get(channels_url(world))
    assert "••••" + new_token[-4:] in page.text and "Reconnect with a new token" in page.text

    removed = await web.post(f"{channels_url(world)}/instagram/remove")
    assert removed.status_code == 303
    assert await instagram_rows(session_maker, world) == []
    page = await web.get(channels_url(world))
    assert "Instagram removed." in page.text and "Connect Instagram" in page.text


async def test_another_clients_connection_is_not_seen(web, world: World, instagram_graph) -> None:
    await web.sign_in(world.a.owner)
    assert (await connect(web, world)).status_code == 303
    await web.sign_in(world.b.owner)
    page = await web.get(f"/c/{world.b.client.slug}/channels")
    assert page.status_code == 200
    assert f"@{OWNER_USERNAME}" not in page.text and "Connect Instagram" in page.text


@pytest.mark.parametrize("role", ["editor", "viewer"])
async def test_editors_and_viewers_cannot_open_or_change_channels(
    web, world: World, instagram_graph, session_maker, role: str
) -> None:
    await web.sign_in(getattr(world.a, role))
    assert (await web.get(channels_url(world))).status_code == 403
    assert (await connect(web, world)).status_code == 403
    assert (await web.post(f"{channels_url(world)}/instagram/remove")).status_code == 403
    assert instagram_graph.requests == []
    assert await instagram_rows(session_maker, world) == []
    # Nor does their top bar offer the page.
    home = await web.get(f"/c/{world.a.client.slug}/reader")
    assert f"{channels_url(world)}" not in home.text


async def test_an_outsider_gets_404(web, world: World, instagram_graph) -> None:
    await web.sign_in(world.outsider)
    assert (await web.get(channels_url(world))).status_code == 404
    assert (await connect(web, world)).status_code == 404
    assert instagram_graph.requests == []


async def test_the_owner_finds_channels_in_the_top_bar(web, world: World) -> None:
    await web.sign_in(world.a.owner)
    page = await web.get(f"/c/{world.a.client.slug}/sources")
    assert f'href="{channels_url(world)}"' in page.text
