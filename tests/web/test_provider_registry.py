"""The agency admin's AI provider registry: providers, keys at rest, models, checks, rotation, defaults."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import delete, select, text

from app.config import get_settings
from app.db.session import scoped_session
from app.generation.models import StylePreset
from app.providers.models import AiModel, AiProvider, Capability
from app.providers.services import resolve_model
from app.secrets import SecretBox, derive_key
from app.tenancy.models import Client
from tests.ai_http.fakes import OPENAI_KEY, FakeOpenAI
from tests.conftest import World, free_port

PAGE = "/admin/providers"
PREFIX = "t-registry-"


@pytest.fixture(autouse=True)
async def _forget_test_providers(session_maker) -> AsyncIterator[None]:
    """Providers made here are agency-wide rows: remove them so no other test sees them."""
    yield
    async with scoped_session(session_maker, system=True) as session:
        await session.execute(
            text(
                "UPDATE clients SET text_model_id = NULL, image_model_id = NULL, video_model_id = NULL "
                "WHERE text_model_id IN (SELECT m.id FROM ai_models m JOIN ai_providers p ON p.id = m.provider_id "
                "WHERE p.name LIKE :prefix)"
            ),
            {"prefix": PREFIX + "%"},
        )
        await session.execute(delete(AiProvider).where(AiProvider.name.like(PREFIX + "%")))


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


def provider_form(**overrides: str) -> dict[str, str]:
    form = {
        "name": PREFIX + secrets.token_hex(3),
        "kind": "openai_compatible",
        "base_url": "https://api.openai.example/v1",
        "api_key": OPENAI_KEY,
        "enabled": "on",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


async def add_provider(web, session_maker, **overrides: str) -> AiProvider:
    form = provider_form(**overrides)
    response = await web.post(f"{PAGE}/", form)
    assert response.status_code == 303, response.text
    return await provider_named(session_maker, form["name"])


async def provider_named(session_maker, name: str) -> AiProvider:
    async with scoped_session(session_maker) as session:
        return (await session.execute(select(AiProvider).where(AiProvider.name == name))).scalar_one()


async def add_model(web, session_maker, provider: AiProvider, **overrides: str) -> AiModel:
    form = {"model": "gpt-test", "label": "GPT test", "capability": "text", "cost_credits": "2", "enabled": "on"}
    form.update(overrides)
    response = await web.post(f"{PAGE}/{provider.id}/models", form)
    assert response.status_code == 303, response.text
    async with scoped_session(session_maker) as session:
        return (
            await session.execute(
                select(AiModel).where(
                    AiModel.provider_id == provider.id,
                    AiModel.model == form["model"],
                    AiModel.capability == form["capability"],
                )
            )
        ).scalar_one()


# --- who gets in ---------------------------------------------------------------------------------


async def test_signed_out_people_are_sent_to_sign_in(web) -> None:
    response = await web.get(PAGE)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


@pytest.mark.parametrize("role", ["owner", "editor"])
async def test_client_owners_and_editors_get_403(web, world: World, role: str) -> None:
    await web.sign_in(getattr(world.a, role))
    assert (await web.get(PAGE)).status_code == 403
    assert (await web.get(f"{PAGE}/new")).status_code == 403
    assert (await web.post(f"{PAGE}/", provider_form())).status_code == 403
    assert (await web.post(f"{PAGE}/rotate-keys")).status_code == 403


async def test_the_agency_admin_sees_the_built_in_provider_and_a_nav_link(web, world: World) -> None:
    await web.sign_in(world.admin)
    page = await web.get(PAGE)
    assert page.status_code == 200
    assert 'href="/admin/providers"' in page.text
    assert "Built-in (offline)" in page.text and "local-text" in page.text and "local-video" in page.text
    assert "built-in" in page.text
    clients = await web.get("/clients")
    assert 'href="/admin/providers"' in clients.text

    await web.sign_in(world.a.owner)
    assert 'href="/admin/providers"' not in (await web.get("/clients")).text


# --- providers and their keys --------------------------------------------------------------------


async def test_a_key_is_stored_encrypted_and_shown_only_masked(web, world: World, session_maker, caplog) -> None:
    await web.sign_in(world.admin)
    with caplog.at_level(logging.DEBUG):
        provider = await add_provider(web, session_maker)
    assert provider.api_key and OPENAI_KEY not in provider.api_key
    async with scoped_session(session_maker) as session:
        raw = (
            await session.execute(text("SELECT api_key FROM ai_providers WHERE id = :id"), {"id": provider.id})
        ).one()
    assert OPENAI_KEY not in raw.api_key
    assert SecretBox.from_settings(get_settings()).decrypt(raw.api_key) == OPENAI_KEY

    page = await web.get(PAGE)
    assert "••••" + OPENAI_KEY[-4:] in page.text
    assert OPENAI_KEY not in page.text and OPENAI_KEY[:12] not in page.text
    edit = await web.get(f"{PAGE}/{provider.id}/edit")
    assert OPENAI_KEY not in edit.text and "••••" + OPENAI_KEY[-4:] in edit.text
    assert OPENAI_KEY not in caplog.text


async def test_editing_with_an_empty_key_keeps_it_and_remove_key_clears_it(web, world: World, session_maker) -> None:
    await web.sign_in(world.admin)
    provider = await add_provider(web, session_maker)
    token = provider.api_key

    form = provider_form(name=provider.name, base_url="https://openrouter.example/api/v1", api_key="")
    response = await web.post(f"{PAGE}/{provider.id}", form)
    assert response.status_code == 303, response.text
    kept = await provider_named(session_maker, provider.name)
    assert kept.api_key == token and kept.base_url == "https://openrouter.example/api/v1"

    response = await web.post(f"{PAGE}/{provider.id}", {**form, "remove_key": "on"})
    assert response.status_code == 303
    assert (await provider_named(session_maker, provider.name)).api_key is None
    assert "no key" in (await web.get(PAGE)).text


async def test_provider_form_errors_are_shown_beside_the_fields(web, world: World, session_maker) -> None:
    await web.sign_in(world.admin)
    response = await web.post(f"{PAGE}/", provider_form(name="", base_url="ftp://files.example/"))
    assert response.status_code == 422
    assert "Give the provider a name." in response.text
    assert "must start with http:// or https://" in response.text
    assert OPENAI_KEY not in response.text  # a refused form never echoes the key

    response = await web.post(f"{PAGE}/", provider_form(base_url=""))
    assert response.status_code == 422 and "Enter the API&#39;s base URL" in response.text

    response = await web.post(f"{PAGE}/", provider_form(kind="local"))
    assert response.status_code == 422 and "Pick the kind of API" in response.text

    existing = await add_provider(web, session_maker)
    response = await web.post(f"{PAGE}/", provider_form(name=existing.name.upper()))
    assert response.status_code == 422 and "Another provider already has this name." in response.text


async def test_the_built_in_provider_cannot_be_deleted_but_its_costs_can_change(
    web, world: World, session_maker
) -> None:
    await web.sign_in(world.admin)
    async with scoped_session(session_maker) as session:
        local = (await session.execute(select(AiModel).where(AiModel.model == "local-video"))).scalar_one()
        before = local.cost_credits
    response = await web.post(f"{PAGE}/{local.provider_id}/delete")
    assert response.status_code == 303
    assert "cannot be deleted" in (await web.get(PAGE)).text

    hacked = {"cost_credits": "7", "model": "hacked", "capability": "text"}
    response = await web.post(f"{PAGE}/models/{local.id}", hacked)
    assert response.status_code == 303, response.text
    async with scoped_session(session_maker) as session:
        changed = await session.get(AiModel, local.id)
        assert (changed.cost_credits, changed.model, changed.capability) == (7, "local-video", "video")
        changed.cost_credits = before


# --- models ----------------------------------------------------------------------------------------


async def test_models_are_added_and_duplicates_or_wrong_capabilities_refused(web, world: World, session_maker) -> None:
    await web.sign_in(world.admin)
    provider = await add_provider(web, session_maker)
    model = await add_model(web, session_maker, provider)
    assert (model.label, model.capability, model.cost_credits, model.enabled) == ("GPT test", "text", 2, True)
    image = await add_model(web, session_maker, provider, model="gpt-test", label="", capability="image")
    assert image.label == "gpt-test"  # the same id may serve another capability; the label defaults to it

    page = await web.get(PAGE)
    assert "GPT test" in page.text and "gpt-test" in page.text

    dup = await web.post(
        f"{PAGE}/{provider.id}/models", {"model": "gpt-test", "capability": "text", "cost_credits": "1"}
    )
    assert dup.status_code == 422
    assert f"{provider.name} already has the model gpt-test for text." in dup.text

    sora = {"model": "sora", "capability": "video", "cost_credits": "1"}
    video = await web.post(f"{PAGE}/{provider.id}/models", sora)
    assert video.status_code == 422 and "OpenAI-compatible providers can make only: text, image." in video.text

    cost = await web.post(f"{PAGE}/{provider.id}/models", {"model": "x", "capability": "text", "cost_credits": "-1"})
    assert cost.status_code == 422 and "whole number of credits" in cost.text

    edited = await web.post(
        f"{PAGE}/models/{model.id}", {"model": "gpt-test", "label": "Writer", "capability": "text", "cost_credits": "0"}
    )
    assert edited.status_code == 303
    async with scoped_session(session_maker) as session:
        saved = await session.get(AiModel, model.id)
        assert (saved.label, saved.cost_credits, saved.enabled) == ("Writer", 0, False)

    assert (await web.post(f"{PAGE}/models/{image.id}/delete")).status_code == 303
    async with scoped_session(session_maker) as session:
        assert await session.get(AiModel, image.id) is None


async def test_a_kind_that_cannot_serve_its_models_is_refused(web, world: World, session_maker) -> None:
    await web.sign_in(world.admin)
    provider = await add_provider(web, session_maker)
    await add_model(web, session_maker, provider)
    response = await web.post(f"{PAGE}/{provider.id}", provider_form(name=provider.name, kind="stability", api_key=""))
    assert response.status_code == 422 and "This kind cannot serve the model GPT test" in response.text


# --- test connection -------------------------------------------------------------------------------


async def test_test_connection_against_a_fake_openai_server_stores_success(
    web, world: World, session_maker, openai_fake: FakeOpenAI
) -> None:
    await web.sign_in(world.admin)
    provider = await add_provider(web, session_maker, base_url=f"{openai_fake.base_url}/v1")
    await add_model(web, session_maker, provider)

    response = await web.post(f"{PAGE}/{provider.id}/check", htmx=True)
    assert response.status_code == 200
    assert f'id="check-{provider.id}"' in response.text and "works" in response.text
    assert "<html" not in response.text  # only the fragment is swapped in
    checked = await provider_named(session_maker, provider.name)
    assert checked.last_check_ok is True and checked.last_checked_at is not None
    assert "2 models available" in checked.last_check_message
    assert openai_fake.requests_to("/v1/models")[-1].headers["authorization"] == f"Bearer {OPENAI_KEY}"


async def test_a_refused_key_is_reported_without_the_key(
    web, world: World, session_maker, openai_fake: FakeOpenAI, caplog
) -> None:
    await web.sign_in(world.admin)
    wrong = "sk-wrong-0123456789abcdefWRONGKEY"
    provider = await add_provider(web, session_maker, base_url=f"{openai_fake.base_url}/v1", api_key=wrong)
    with caplog.at_level(logging.DEBUG):
        response = await web.post(f"{PAGE}/{provider.id}/check", htmx=True)
    assert "failed" in response.text
    checked = await provider_named(session_maker, provider.name)
    assert checked.last_check_ok is False and checked.last_check_message
    for where in (response.text, checked.last_check_message, caplog.text, (await web.get(PAGE)).text):
        assert wrong not in where


async def test_test_connection_to_a_dead_port_stores_the_failure(web, world: World, session_maker) -> None:
    await web.sign_in(world.admin)
    provider = await add_provider(web, session_maker, base_url=f"http://127.0.0.1:{free_port()}/v1")
    response = await web.post(f"{PAGE}/{provider.id}/check")  # without htmx: a redirect and a flash
    assert response.status_code == 303
    checked = await provider_named(session_maker, provider.name)
    assert checked.last_check_ok is False and checked.last_checked_at is not None
    assert checked.last_check_message and OPENAI_KEY not in checked.last_check_message
    assert checked.last_check_message in (await web.get(PAGE)).text.replace("&#39;", "'").replace("&#34;", '"')


async def test_the_built_in_provider_works_offline(web, world: World, session_maker) -> None:
    await web.sign_in(world.admin)
    async with scoped_session(session_maker) as session:
        local = (await session.execute(select(AiProvider).where(AiProvider.kind == "local"))).scalar_one()
    response = await web.post(f"{PAGE}/{local.id}/check", htmx=True)
    assert "works" in response.text and "Works offline" in response.text


# --- key rotation ----------------------------------------------------------------------------------


async def test_rotation_re_encrypts_every_key_with_the_newest_key(
    web, world: World, session_maker, monkeypatch
) -> None:
    old_key, new_key = SecretBox.generate_key(), SecretBox.generate_key()
    monkeypatch.setenv("CREDENTIALS_KEYS", old_key)
    await web.sign_in(world.admin)
    first = await add_provider(web, session_maker)
    second = await add_provider(web, session_maker, api_key="sk-second-0123456789abcdef")
    assert SecretBox([old_key]).decrypt(first.api_key) == OPENAI_KEY
    # A client's channel credentials are encrypted with the same keys: they rotate too.
    from app.publishing.models import Channel

    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        channel = Channel(
            client_id=world.a.client.id, kind="telegram", name="News", credentials=SecretBox([old_key]).encrypt("tg")
        )
        session.add(channel)
        await session.flush()
        channel_id = channel.id

    # Step 2 of the procedure: the new key goes first; the old one (and the development key any
    # other test stored with) still decrypt.
    derived = derive_key(get_settings().secret_key)
    monkeypatch.setenv("CREDENTIALS_KEYS", f"{new_key},{old_key},{derived}")
    response = await web.post(f"{PAGE}/rotate-keys")
    assert response.status_code == 303
    page = await web.get(PAGE)
    assert "re-encrypted with the newest key" in page.text

    only_new = SecretBox([new_key])
    rotated_first = await provider_named(session_maker, first.name)
    rotated_second = await provider_named(session_maker, second.name)
    assert rotated_first.api_key != first.api_key and rotated_second.api_key != second.api_key
    assert only_new.decrypt(rotated_first.api_key) == OPENAI_KEY
    assert only_new.decrypt(rotated_second.api_key) == "sk-second-0123456789abcdef"
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert only_new.decrypt((await session.get(Channel, channel_id)).credentials) == "tg"

    # Step 4: with the old key gone, the page still shows the masked key (it decrypts).
    monkeypatch.setenv("CREDENTIALS_KEYS", f"{new_key},{derived}")
    assert "••••" + OPENAI_KEY[-4:] in (await web.get(PAGE)).text


# --- client defaults and deleting what is in use ----------------------------------------------------


async def test_client_defaults_are_saved_and_resolve_to_that_model(web, world: World, session_maker) -> None:
    await web.sign_in(world.admin)
    provider = await add_provider(web, session_maker)
    model = await add_model(web, session_maker, provider)
    client_id = world.a.client.id
    assert f'name="{client_id}.text"' in (await web.get(PAGE)).text

    response = await web.post(f"{PAGE}/client-defaults", {f"{client_id}.text": str(model.id), f"{client_id}.image": ""})
    assert response.status_code == 303
    async with scoped_session(session_maker) as session:
        client = await session.get(Client, client_id)
        assert client.text_model_id == model.id and client.image_model_id is None
        choice = await resolve_model(session, Capability.TEXT, client.text_model_id)
    assert choice.model_id == model.id and choice.model == "gpt-test" and choice.cost_credits == 2
    assert "Client defaults saved." in (await web.get(PAGE)).text

    # A model of the wrong capability is refused, and the previous choice stays.
    refused = await web.post(f"{PAGE}/client-defaults", {f"{client_id}.video": str(model.id)})
    assert refused.status_code == 303
    async with scoped_session(session_maker) as session:
        assert (await session.get(Client, client_id)).video_model_id is None
    assert "were not saved" in (await web.get(PAGE)).text


async def test_deleting_a_provider_in_use_is_refused(web, world: World, session_maker) -> None:
    await web.sign_in(world.admin)
    provider = await add_provider(web, session_maker)
    model = await add_model(web, session_maker, provider)
    await web.post(f"{PAGE}/client-defaults", {f"{world.a.client.id}.text": str(model.id)})

    response = await web.post(f"{PAGE}/{provider.id}/delete")
    assert response.status_code == 303
    page = await web.get(PAGE)
    assert f"{provider.name} is still in use by {world.a.client.name} (client default)" in page.text
    assert (await web.post(f"{PAGE}/models/{model.id}/delete")).status_code == 303
    assert await provider_named(session_maker, provider.name)
    async with scoped_session(session_maker) as session:
        assert await session.get(AiModel, model.id) is not None

    # A style preset's override counts too (a tenant row, read across clients by the check).
    await web.post(f"{PAGE}/client-defaults", {f"{world.a.client.id}.text": ""})
    async with scoped_session(session_maker, client_id=world.b.client.id) as session:
        session.add(StylePreset(client_id=world.b.client.id, name="Loud", text_model_id=model.id))
    await web.post(f"{PAGE}/{provider.id}/delete")
    assert f"{world.b.client.name} · preset Loud" in (await web.get(PAGE)).text

    async with scoped_session(session_maker, client_id=world.b.client.id) as session:
        await session.execute(delete(StylePreset).where(StylePreset.name == "Loud"))
    assert (await web.post(f"{PAGE}/{provider.id}/delete")).status_code == 303
    assert f"Provider {provider.name} deleted." in (await web.get(PAGE)).text
    async with scoped_session(session_maker) as session:
        assert await session.get(AiProvider, provider.id) is None
        assert await session.get(AiModel, model.id) is None  # its models go with it
