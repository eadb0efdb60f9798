"""Network previews in a real browser: an editor types a Telegram caption past 1024 characters and
the counter, the warning and the preview follow as they type; the guest's page shows the same
previews read-only."""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.db.session import scoped_session
from app.sharing.services import create_link
from app.storage import storage_from_settings
from app.stories.models import Asset
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_share_links import sign_in
from tests.conftest import World
from tests.web.test_story_previews import make_story

pytestmark = pytest.mark.browser

CAPTION = (
    "Harbour ferry returns after a winter of repairs 🚢\n\n"
    "The old ferry is back on the morning run from the harbour to the island. Engineers replaced the "
    "engine and the deck over the winter, and the first crossing sold out in an hour.\n\n"
    "#Harbour #Ferry #Island"
)
OVER = re.compile(r"\bis-over\b")
# What an editor might write for Telegram when the whole story should go there: too long for a
# caption (1035 UTF-16 units), fine for a message.
LONG_CAPTION = (
    "Harbour ferry returns after a winter of repairs 🚢\n\n"
    "The old ferry is back on the morning run from the harbour to the island. Engineers replaced the "
    "engine and most of the deck over the winter, and the first crossing on Monday sold out in an hour.\n\n"
    "Islanders had relied on a smaller boat since November, which took twice as long and could not carry "
    "cars. Deliveries to the island shop came twice a week instead of every day, and the school moved its "
    "start to ten so that children from the harbour side could make it in time.\n\n"
    "The operator says the ferry will run every two hours from seven in the morning until nine at night, "
    "with an extra late crossing on Fridays and Saturdays through the summer. Tickets cost the same as last "
    "year; season passes bought before the repairs are extended by four months.\n\n"
    "The mayor thanked the shipyard crew, who worked through the storms in January to finish on time, and "
    "promised a small celebration on the pier next Sunday with music and free coffee for the first "
    "passengers.\n\n"
    "#Harbour #Ferry #Island"
)
SCENE_COLOURS = [(31, 78, 121), (196, 92, 38), (46, 125, 84)]


def picture(size: tuple[int, int], colour: tuple[int, int, int], label: str, fmt: str = "PNG") -> bytes:
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w // 5, h // 5, w * 4 // 5, h * 4 // 5 - h // 10), fill=(245, 183, 0))
    draw.rectangle((0, h * 3 // 4, w, h), fill=(colour[0] // 2, colour[1] // 2, colour[2] // 2))
    draw.text((w // 12, h // 12), label, fill=(255, 255, 255), font_size=w // 10)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def short_video() -> bytes:
    """Two seconds of 9:16 H.264, made by the ffmpeg that imageio-ffmpeg bundles."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "short.mp4"
        subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                *("-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=360x640:rate=25:duration=2"),
                *("-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path)),
            ],
            check=True,
            timeout=60,
        )
        return path.read_bytes()


def loaded(page: Page, region) -> None:
    """Every image of the region shown (they load lazily: bring each into view first)."""
    for img in region.locator("img").all():
        img.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    region.scroll_into_view_if_needed()


@pytest.fixture
async def story_with_media(world: World, session_maker, settings):
    """A draft of client A: three scenes with real images, a video with its poster, and a share link."""
    story = await make_story(
        session_maker,
        world.a.client.id,
        title="Harbour ferry returns after a winter of repairs",
        images=3,
        video=True,
        captions={"telegram": CAPTION, "instagram": CAPTION, "youtube": CAPTION.replace("🚢", "")},
    )
    storage = storage_from_settings(settings)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assets = (await session.execute(select(Asset).order_by(Asset.scene_position))).scalars().all()
        for asset in assets:
            if asset.kind == "image":
                n = asset.scene_position
                data = picture((1080, 1350), SCENE_COLOURS[n % 3], f"Scene {n + 1}")
            elif asset.kind == "poster":
                data = picture((540, 960), (20, 20, 20), "Short", fmt="JPEG")
            else:
                data = short_video()
            await storage.put(asset.storage_key, data, asset.mime)
        link = await create_link(
            session, world.a.client.id, story.id, created_by=world.a.editor, expires="7", label="Anna"
        )
    await storage.close()
    return story, link.token


def test_typing_past_1024_moves_the_telegram_preview_live(
    world: World, story_with_media, live_server, browser_page: Page, screenshot
) -> None:
    page = browser_page
    story, token = story_with_media
    sign_in(page, world.a.editor.email)
    page.goto(f"/c/{world.a.client.slug}/stories/{story.id}")

    telegram = page.locator("#np-telegram")
    caption_counter = telegram.locator('[data-counter="telegram-caption"]')
    separate = telegram.locator(".np-tg-follow")
    warning = telegram.locator("li.np-warning", has_text="separate message")
    split = telegram.locator("li.np-warning", has_text="several messages")
    expect(caption_counter.locator("output")).to_have_text(str(len(CAPTION) + 1))  # the ship emoji counts 2
    expect(caption_counter).not_to_have_class(OVER)
    expect(separate).to_be_hidden()
    expect(warning).to_be_hidden()
    expect(telegram.locator(".np-tg-album img")).to_have_count(3)
    expect(telegram.get_by_text("Album of 3 images, the caption on the first image")).to_be_visible()

    page.get_by_text("Edit the text").click()
    field = page.locator('#story-edit textarea[name="caption_telegram"]')
    field.fill("x" * 1024)  # exactly at the limit: still a caption
    expect(caption_counter.locator("output")).to_have_text("1024")
    expect(caption_counter).not_to_have_class(OVER)
    mirror = page.locator('[data-counts-for="caption_telegram"]')
    expect(mirror).to_contain_text("Telegram caption 1024 / 1024")

    field.press("End")
    field.press_sequentially("!")  # one more, typed: 1025
    expect(caption_counter.locator("output")).to_have_text("1025")
    expect(caption_counter).to_have_class(OVER)
    expect(warning).to_be_visible()
    expect(separate).to_be_visible()
    expect(telegram.get_by_text("Album of 3 images, then the text as a separate message")).to_be_visible()
    expect(telegram.locator('[data-status="ok"]')).to_be_visible()  # handled by Zavod: not a problem
    expect(mirror).to_contain_text("Telegram caption 1025 / 1024")
    expect(mirror).to_contain_text("Telegram message 1025 / 4096")
    expect(mirror.locator("a.is-over")).to_have_count(1)

    # Over what even a message holds: split between messages, still nothing cut, still ready.
    field.fill("y" * 4097)
    expect(split).to_be_visible()
    expect(telegram.locator('[data-status="ok"]')).to_be_visible()
    # Emptied with images: the album goes alone.
    field.fill("")
    expect(telegram.get_by_text("Album of 3 images, no caption")).to_be_visible()
    expect(warning).to_be_hidden()

    # Back to a real caption that needs the separate message, for the picture a person looks at.
    field.fill(LONG_CAPTION)
    expect(split).to_be_hidden()
    expect(warning).to_be_visible()
    youtube_title = page.locator('#story-edit input[name="title"]')
    youtube_title.fill("Harbour ferry <returns>")
    expect(page.locator("#np-youtube .np-yt-title")).to_have_text("Harbour ferry <returns>")
    expect(page.locator("#np-youtube li.np-problem", has_text="The title has")).to_be_visible()
    youtube_title.fill("Harbour ferry returns after a winter of repairs")
    expect(page.locator("#np-youtube li.np-problem", has_text="The title has")).to_be_hidden()
    # Instagram's feed folds the caption after its first line until "… more" is clicked.
    instagram_caption = page.locator("#np-instagram .np-ig-caption")
    expect(instagram_caption).not_to_contain_text("Engineers replaced")
    instagram_caption.get_by_role("button", name="more").click()
    expect(instagram_caption).to_contain_text("Engineers replaced")

    section = page.locator("#story-previews")
    section.scroll_into_view_if_needed()
    loaded(page, section)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    section.screenshot(path=str(SCREENSHOTS / "previews-01-editor-typing.png"))
    page.locator("#story-edit").screenshot(path=str(SCREENSHOTS / "previews-02-edit-form-counters.png"))

    # The Short plays on a tap and its overlay steps aside; another tap pauses it.
    short = page.locator("#np-youtube [data-short]")
    short.get_by_role("button", name="Play or pause the video").click()
    expect(short).to_have_class(re.compile(r"\bis-playing\b"))
    short.locator("video").click()
    expect(short).not_to_have_class(re.compile(r"\bis-playing\b"))
    assert not page.js_errors and not page.server_errors  # type: ignore[attr-defined]

    # The guest's page: the same previews from the saved text, nothing to type in, no script errors.
    guest_context = page.context.browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    try:
        guest = guest_context.new_page()
        errors: list[str] = []
        guest.on("pageerror", lambda error: errors.append(str(error)))
        guest.goto(f"{live_server.url}/s/{token}")
        guest_telegram = guest.locator("#np-telegram")
        expect(guest_telegram.locator('[data-counter="telegram-caption"] output')).to_have_text(str(len(CAPTION) + 1))
        expect(guest_telegram.locator(".np-tg-follow")).to_be_hidden()
        expect(guest.locator("#np-youtube video")).to_have_count(1)
        carousel = guest.locator("#np-instagram [data-carousel]")
        expect(carousel).to_have_count(0)  # a video makes a Reel: no carousel
        previews = guest.locator("#story-previews")
        previews.scroll_into_view_if_needed()
        loaded(guest, previews)
        previews.screenshot(path=str(SCREENSHOTS / "previews-03-guest.png"))
        assert not errors
    finally:
        guest_context.close()
