"""Per-network previews on the story page and on the guests' share page: the post each network
would get, counters against its limits, and warnings said in words."""

from __future__ import annotations

from lxml import html as lxml_html

from app.db.session import scoped_session
from app.stories.models import Asset, Scene, Story, StoryVersion
from app.stories.previews import fold
from tests.conftest import World
from tests.web.test_share_links import as_guest, make_link

LONG_TELEGRAM = ("Harbour ferry returns. " * 45).strip()  # 1034 characters: over a caption, within a message
TOO_MANY_TAGS = "Ferry news " + " ".join(f"#tag{n}" for n in range(31))


async def make_story(
    session_maker,
    client_id,
    *,
    title: str = "Harbour ferry returns",
    images: int = 3,
    video: bool = False,
    captions: dict[str, str] | None = None,
) -> Story:
    """A draft with one scene per image (each image its scene's headliner) and, if asked, a video."""
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = Story(client_id=client_id, status="draft")
        session.add(story)
        await session.flush()
        version = StoryVersion(
            client_id=client_id,
            story_id=story.id,
            number=1,
            title=title,
            body="The ferry is back after a winter of repairs.",
            captions=captions
            if captions is not None
            else {"telegram": LONG_TELEGRAM, "instagram": TOO_MANY_TAGS, "youtube": "Watch the ferry come back."},
        )
        session.add(version)
        await session.flush()
        story.current_version_id = version.id
        for n in range(images):
            scene = Scene(client_id=client_id, story_version_id=version.id, position=n, text=f"Scene {n}")
            session.add(scene)
            await session.flush()
            session.add(
                Asset(
                    client_id=client_id,
                    story_version_id=version.id,
                    scene_id=scene.id,
                    scene_position=n,
                    storage_key=f"clients/{client_id}/previews/scene-{n}.png",
                    mime="image/png",
                    size_bytes=1,
                    width=1080,
                    height=1350,
                    idempotency_key=f"{version.id}:scene-{n}",
                )
            )
        if video:
            key = f"{version.id}:video"
            for kind, mime, suffix, idempotency in (
                ("video", "video/mp4", "mp4", key),
                ("poster", "image/jpeg", "jpg", f"{key}:poster"),
            ):
                session.add(
                    Asset(
                        client_id=client_id,
                        story_version_id=version.id,
                        kind=kind,
                        storage_key=f"clients/{client_id}/previews/video.{suffix}",
                        mime=mime,
                        size_bytes=1,
                        width=1080,
                        height=1920,
                        idempotency_key=idempotency,
                    )
                )
        return story


def previews_of(page_html: str):
    tree = lxml_html.fromstring(page_html)
    (section,) = tree.xpath('//section[@id="story-previews"]')
    return section


def article(section, network: str):
    (found,) = section.xpath(f'.//article[@data-network="{network}"]')
    return found


def counter(node, key: str):
    (found,) = node.xpath(f'.//*[@data-counter="{key}"]')
    return found


def shape_label(node) -> str:
    """The shape in words, as shown: the labels for other text lengths are hidden."""
    return " ".join(span.text_content().strip() for span in node.xpath(".//p[@data-shape]/span[not(@hidden)]"))


def visible_messages(node, level: str) -> list[str]:
    return [
        li.text_content().strip()
        for li in node.xpath(f'.//li[contains(@class, "np-{level}")]')
        if li.get("hidden") is None
    ]


async def test_the_story_page_previews_each_network_with_counters_and_warnings(web, world: World, session_maker):
    story = await make_story(session_maker, world.a.client.id)
    await web.sign_in(world.a.editor)
    page = await web.get(f"/c/{world.a.client.slug}/stories/{story.id}")
    assert page.status_code == 200
    assert "Captions per network" not in page.text  # the old raw list is replaced
    assert '<script src="/static/js/previews.js" defer></script>' in page.text
    section = previews_of(page.text)
    assert section.get("data-previews-form") == "#story-edit form"  # live: the edit form is on this page

    telegram = article(section, "telegram")
    assert shape_label(telegram) == "Album of 3 images, then the text as a separate message"
    assert len(telegram.xpath('.//div[contains(@class, "np-tg-album")]/img')) == 3
    assert all("/media/" in img.get("src") for img in telegram.xpath(".//img"))  # signed media URLs
    caption = counter(telegram, "telegram-caption")
    assert caption.xpath("string(./output)") == "1034" and "1024" in caption.text_content()
    assert "is-over" in caption.get("class") and caption.get("data-measure") == "utf16"
    assert any("separate message" in w for w in visible_messages(telegram, "warning"))
    (follow,) = telegram.xpath('.//div[contains(@class, "np-tg-follow")]')
    assert follow.get("hidden") is None and "Harbour ferry returns." in follow.text_content()
    assert telegram.xpath('string(.//*[@data-status="ok"]/@hidden)') == ""  # a warning, not a problem: ready

    instagram = article(section, "instagram")
    assert shape_label(instagram) == "Carousel of 3 images"
    hashtags = counter(instagram, "instagram-hashtags")
    assert hashtags.xpath("string(./output)") == "31" and "is-over" in hashtags.get("class")
    assert any("more than 30 hashtags" in w for w in visible_messages(instagram, "problem"))
    assert instagram.xpath('.//*[@data-status="problem"]')[0].get("hidden") is None

    youtube = article(section, "youtube")
    assert shape_label(youtube) == "Cannot post"
    assert any("needs the story's video" in w for w in visible_messages(youtube, "problem"))
    assert youtube.xpath('string(.//*[@data-preview-text="title"])') == "Harbour ferry returns"
    assert "bytes" in counter(youtube, "youtube-description").text_content()


async def test_a_story_with_a_video_is_a_reel_and_a_short(web, world: World, session_maker):
    story = await make_story(
        session_maker,
        world.a.client.id,
        images=1,
        video=True,
        captions={"telegram": "Short and sweet", "instagram": "Ferry #back", "youtube": "The ferry <3"},
    )
    await web.sign_in(world.a.editor)
    section = previews_of((await web.get(f"/c/{world.a.client.slug}/stories/{story.id}")).text)

    telegram = article(section, "telegram")
    assert shape_label(telegram) == "Photo with a caption"
    assert not visible_messages(telegram, "problem")
    assert counter(telegram, "telegram-message").get("hidden") is not None  # no separate message needed

    instagram = article(section, "instagram")
    assert shape_label(instagram) == "Reel"
    assert instagram.xpath('.//div[@class="np-ig-frame"]//img/@src')[0].count("/media/") == 1  # the poster

    youtube = article(section, "youtube")
    assert shape_label(youtube) == "Short"
    assert "/media/" in youtube.xpath("string(.//video/source/@src)")
    assert any("“<” or “>”" in w for w in visible_messages(youtube, "problem"))  # "<3" in the description


async def test_eleven_images_make_two_telegram_albums_and_a_carousel_of_ten(web, world: World, session_maker):
    story = await make_story(session_maker, world.a.client.id, images=11, captions={"telegram": "Eleven"})
    await web.sign_in(world.a.editor)
    section = previews_of((await web.get(f"/c/{world.a.client.slug}/stories/{story.id}")).text)
    telegram = article(section, "telegram")
    albums = telegram.xpath('.//div[contains(@class, "np-tg-media-bubble")]')
    assert [len(album.xpath(".//img")) for album in albums] == [6, 5]
    assert "Eleven" in albums[0].text_content() and "Eleven" not in albums[1].text_content()
    assert any("2 albums (6 + 5)" in w for w in visible_messages(telegram, "warning"))
    instagram = article(section, "instagram")
    assert len(instagram.xpath(".//div[@data-carousel]/img")) == 10
    assert instagram.xpath("string(.//*[@data-carousel-index])") == "1/10"
    assert any("first 10 of 11" in w for w in visible_messages(instagram, "warning"))


async def test_previews_survive_a_refused_save(web, world: World, session_maker):
    """The edit form's error page is the story page again: the previews are there, from the saved text."""
    story = await make_story(session_maker, world.a.client.id, images=0, captions={"telegram": "Plain text"})
    await web.sign_in(world.a.editor)
    page = await web.get(f"/c/{world.a.client.slug}/stories/{story.id}")
    stamp = lxml_html.fromstring(page.text).xpath('string(//input[@name="stamp"]/@value)')
    response = await web.post(
        f"/c/{world.a.client.slug}/stories/{story.id}/edit", {"stamp": stamp, "title": "", "caption_telegram": "x"}
    )
    assert response.status_code == 422
    section = previews_of(response.text)
    telegram = article(section, "telegram")
    assert shape_label(telegram) == "Text message"
    assert counter(telegram, "telegram-message").xpath("string(./output)") == "10"
    instagram = article(section, "instagram")
    assert any("needs an image or a video" in w for w in visible_messages(instagram, "problem"))


async def test_the_guest_page_shows_the_same_previews_read_only(web, world: World, session_maker):
    story = await make_story(session_maker, world.a.client.id)
    token = await make_link(web, world.a, story)
    as_guest(web)
    page = await web.get(f"/s/{token}")
    assert page.status_code == 200
    section = previews_of(page.text)
    assert section.get("data-previews-form") is None  # nothing to type in: no live counters
    assert "Captions per network" not in page.text

    telegram = article(section, "telegram")
    assert counter(telegram, "telegram-caption").xpath("string(./output)") == "1034"
    assert any("separate message" in w for w in visible_messages(telegram, "warning"))
    assert all("/media/" in src for src in telegram.xpath(".//img/@src"))
    instagram = article(section, "instagram")
    assert "is-over" in counter(instagram, "instagram-hashtags").get("class")
    assert any("more than 30 hashtags" in w for w in visible_messages(instagram, "problem"))
    # The feed shows the caption folded, the rest behind "… more".
    (caption,) = instagram.xpath('.//span[@data-preview-text="caption_instagram"]')
    assert caption.text_content() == fold(TOO_MANY_TAGS) and len(caption.text_content()) <= 125
    assert caption.get("data-full") == TOO_MANY_TAGS
    assert instagram.xpath(".//button[@data-unfold]")[0].get("hidden") is None
    assert "Sign out" not in page.text and '<textarea name="caption_telegram"' not in page.text
