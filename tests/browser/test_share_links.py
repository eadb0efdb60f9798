"""Sharing for review in a real browser: an editor makes a link, a guest (no account) comments on the
share page, and the comment appears live (SSE) on the story page the editor still has open."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from app.db.session import scoped_session
from app.storage import storage_from_settings
from app.stories.models import Asset
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import PASSWORD, World
from tests.web.test_share_links import make_story

pytestmark = pytest.mark.browser


@pytest.fixture
async def story_with_picture(world: World, session_maker, settings):
    """A story of client A whose scene headliner is a real image in the media store."""
    story = await make_story(session_maker, world.a.client.id, "Harbour ferry returns after a winter of repairs")
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        asset = (await session.execute(Asset.__table__.select())).first()
    image = Image.new("RGB", (1080, 1350), (31, 78, 121))
    ImageDraw.Draw(image).rectangle((90, 900, 990, 1200), fill=(245, 183, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    storage = storage_from_settings(settings)
    await storage.put(asset.storage_key, buffer.getvalue(), "image/png")
    await storage.close()
    return story


def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def test_a_guest_comment_appears_live_in_the_studio(
    world: World, story_with_picture, live_server, browser_page: Page, screenshot
) -> None:
    studio = browser_page
    story = story_with_picture
    sign_in(studio, world.a.editor.email)
    studio.goto(f"/c/{world.a.client.slug}/stories/{story.id}")
    review = studio.locator("#story-review")
    expect(review.get_by_role("button", name="Make a review link")).to_be_visible()
    review.get_by_label("For whom (optional)").fill("Anna, marketing")
    review.get_by_label("Expires").select_option(label="In 7 days")
    review.get_by_role("button", name="Make a review link").click()
    new_url = studio.locator("#share-new-url")
    expect(new_url).to_be_visible()
    share_url = new_url.input_value()
    assert "/s/" in share_url
    expect(review.locator(".share-table")).to_contain_text("Anna, marketing")
    review.scroll_into_view_if_needed()
    screenshot("share-01-studio-link-made", full_page=False)

    guest_context = studio.context.browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    try:
        guest = guest_context.new_page()
        response = guest.goto(share_url)
        assert response is not None and response.status == 200
        assert response.headers["x-robots-tag"].startswith("noindex")
        expect(guest.get_by_role("heading", name="Harbour ferry returns after a winter of repairs")).to_be_visible()
        picture = guest.locator(".share-scene img").first
        picture.scroll_into_view_if_needed()
        guest.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
        guest.screenshot(path=str(SCREENSHOTS / "share-02-guest-page.png"), full_page=True)

        guest.get_by_role("button", name="Send comment").click()
        expect(guest.locator("#comment-name-error")).to_have_text("Tell us your name.")
        guest.get_by_label("Your name").fill("Maria")
        guest.get_by_label("Comment").fill("Please use the second photo for the cover.")
        guest.get_by_role("button", name="Send comment").click()
        expect(guest.locator(".share-comments")).to_contain_text("your comment was sent")
        expect(guest.locator(".share-comments .comment")).to_contain_text("Please use the second photo")
        guest.screenshot(path=str(SCREENSHOTS / "share-03-guest-sent.png"), full_page=True)
    finally:
        guest_context.close()

    # The studio page was never reloaded: the comment arrived over SSE.
    comments = studio.locator("#story-comments")
    expect(comments).to_contain_text("Please use the second photo for the cover.", timeout=15_000)
    expect(comments).to_contain_text("via Anna, marketing")
    expect(studio.locator("#share-link-rows td").nth(3)).to_have_text("1")  # the link's comment count too
    assert share_url in new_url.input_value()  # the once-shown link is still on screen: nothing reloaded
    comments.scroll_into_view_if_needed()
    screenshot("share-04-studio-comment-arrived", full_page=False)

    # Revoking through the table still answers with the whole links block (no inherited hx-select).
    studio.once("dialog", lambda dialog: dialog.accept())
    studio.locator("#share-link-rows").get_by_role("button", name="Revoke").click()
    expect(studio.locator("#share-links")).to_contain_text("No working review links.")
    expect(comments).to_contain_text("via a link since revoked")  # the comments follow (HX-Trigger)
    assert not studio.js_errors and not studio.server_errors  # type: ignore[attr-defined]
