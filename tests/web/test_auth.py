"""Signing in and out, throttling, CSRF, oversized forms."""

from __future__ import annotations

from tests.conftest import PASSWORD, World


async def test_sign_in_lands_an_editor_in_the_inbox(web, world: World) -> None:
    response = await web.sign_in(world.a.editor)
    assert response.headers["location"] == "/"
    home = await web.get("/")
    assert home.headers["location"] == f"/c/{world.a.client.slug}/inbox"


async def test_viewer_lands_in_the_reader(web, world: World) -> None:
    await web.sign_in(world.a.viewer)
    home = await web.get("/")
    assert home.headers["location"] == f"/c/{world.a.client.slug}/reader"


async def test_wrong_password_says_so_in_the_form(web, world: World) -> None:
    await web.get("/login")
    response = await web.post("/login", {"email": world.a.editor.email, "password": "nope-nope-nope"})
    assert response.status_code == 400
    assert "The email or the password is wrong." in response.text
    assert world.a.editor.email in response.text  # the typed email is kept
    assert (await web.get("/c/" + world.a.client.slug + "/inbox")).status_code in (302, 303)


async def test_repeated_failures_lock_the_account_even_for_the_right_password(web, world: World) -> None:
    await web.get("/login")
    for _ in range(5):
        await web.post("/login", {"email": world.a.owner.email, "password": "wrong-password-x"})
    response = await web.post("/login", {"email": world.a.owner.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.text


async def test_signed_out_pages_redirect_to_sign_in_with_next(web, world: World) -> None:
    response = await web.get(f"/c/{world.a.client.slug}/inbox")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=/c/{world.a.client.slug}/inbox"


async def test_htmx_requests_of_signed_out_people_get_hx_redirect(web, world: World) -> None:
    response = await web.get(f"/c/{world.a.client.slug}/inbox", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


async def test_post_without_csrf_token_is_refused_and_changes_nothing(web, world: World) -> None:
    await web.sign_in(world.a.owner)
    slug = world.a.client.slug
    response = await web.post(
        f"/c/{slug}/members/invitations",
        {"email": "x@example.test", "role": "editor"},
        csrf=False,
        headers={"referer": f"http://testserver.local/c/{slug}/members"},
    )
    assert response.status_code == 303  # back to the form it came from, with the message
    page = await web.get(response.headers["location"])
    assert "This form has expired" in page.text
    assert "x@example.test" not in page.text


async def test_htmx_post_without_csrf_gets_message_in_flash_area(web, world: World) -> None:
    await web.sign_in(world.a.editor)
    response = await web.post(
        f"/c/{world.a.client.slug}/items/00000000-0000-0000-0000-000000000000/generate", htmx=True, csrf=False
    )
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#flash-area"
    assert "This form has expired" in response.text


async def test_oversized_form_is_refused_with_a_clear_message(web, world: World, settings) -> None:
    await web.sign_in(world.a.owner)
    big = "x" * (settings.max_request_body_bytes + 10)
    response = await web.post(f"/c/{world.a.client.slug}/sources", {"url": big}, htmx=True)
    assert response.status_code == 413
    assert "too large" in response.text


async def test_sign_out_ends_the_session(web, world: World) -> None:
    await web.sign_in(world.a.editor)
    await web.post("/logout")
    response = await web.get(f"/c/{world.a.client.slug}/inbox")
    assert response.status_code == 303


async def test_open_redirects_are_refused(web, world: World) -> None:
    await web.get("/login")
    response = await web.post(
        "/login", {"email": world.a.editor.email, "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.headers["location"] == "/"


async def test_language_choice_wins_over_accept_language(web, world: World) -> None:
    await web.sign_in(world.a.editor)
    page = await web.get("/login", headers={"accept-language": "ru"})
    assert page.status_code in (200, 303)
    await web.post("/language", {"locale": "en", "next": "/clients"})
    page = await web.get("/clients", headers={"accept-language": "ru-RU,ru;q=0.9"})
    assert 'lang="en"' in page.text
