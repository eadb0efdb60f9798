"""Sharing for review: editors make and revoke links; guests read the story and comment."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update

from app.db.session import scoped_session
from app.sharing.models import Comment, ShareLink
from app.sharing.services import COMMENTS_PER_MINUTE
from app.stories.models import Asset, Scene, Story, StoryVersion
from tests.conftest import World

TOKEN_RE = re.compile(r"http://testserver\.local/s/([A-Za-z0-9_-]{40,})")
GONE = "This review link has expired or was revoked."


async def make_story(session_maker, client_id, title: str) -> Story:
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = Story(client_id=client_id, status="draft")
        session.add(story)
        await session.flush()
        version = StoryVersion(
            client_id=client_id,
            story_id=story.id,
            number=1,
            title=title,
            body=f"The body of {title}.\nA second paragraph.",
            captions={"telegram": f"{title} on Telegram", "instagram": f"{title} on Instagram"},
        )
        session.add(version)
        await session.flush()
        story.current_version_id = version.id
        scene = Scene(client_id=client_id, story_version_id=version.id, position=0, text="The opening scene")
        session.add(scene)
        await session.flush()
        session.add(
            Asset(
                client_id=client_id,
                story_version_id=version.id,
                scene_id=scene.id,
                storage_key=f"clients/{client_id}/scene-0.png",
                mime="image/png",
                size_bytes=1,
                width=1080,
                height=1350,
                idempotency_key=f"{version.id}:scene-0",
            )
        )
        return story


async def make_link(web, tenant, story, expires: str = "7") -> str:
    """Sign in as the editor, make a link through the studio, return the raw token it showed once."""
    await web.sign_in(tenant.editor)
    response = await web.post(
        f"/c/{tenant.client.slug}/stories/{story.id}/review/links", {"expires": expires, "label": "Anna"}, htmx=True
    )
    assert response.status_code == 200, response.text
    assert "cannot be shown again" in response.text
    match = TOKEN_RE.search(response.text)
    assert match, response.text
    return match.group(1)


def as_guest(web) -> None:
    web.client.cookies.clear()


async def guest_comment(web, token: str, name: str, body: str):
    as_guest(web)
    assert (await web.get(f"/s/{token}")).status_code == 200  # sets the CSRF cookie, as a browser would
    return await web.post(f"/s/{token}/comments", {"author_name": name, "body": body})


async def test_an_editor_makes_a_link_and_a_guest_reads_the_story(web, world: World, session_maker) -> None:
    story = await make_story(session_maker, world.a.client.id, "Bridge reopens")
    token = await make_link(web, world.a, story)
    section = await web.get(f"/c/{world.a.client.slug}/stories/{story.id}/review")
    assert "Anna" in section.text and token not in section.text  # listed, but the token is never shown again

    as_guest(web)
    page = await web.get(f"/s/{token}")
    assert page.status_code == 200
    assert "Bridge reopens" in page.text and "A second paragraph." in page.text
    assert "Bridge reopens on Instagram" in page.text and "The opening scene" in page.text
    assert "/media/" in page.text  # the scene's headliner, through a signed media URL
    assert page.headers["x-robots-tag"].startswith("noindex")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<textarea" in page.text and "Sign out" not in page.text


async def test_the_story_page_loads_the_review_section(web, world: World, session_maker) -> None:
    story = await make_story(session_maker, world.a.client.id, "Quiet week")
    await web.sign_in(world.a.editor)
    page = await web.get(f"/c/{world.a.client.slug}/stories/{story.id}")
    assert page.status_code == 200
    assert f'hx-get="/c/{world.a.client.slug}/stories/{story.id}/review"' in page.text
    section = await web.get(f"/c/{world.a.client.slug}/stories/{story.id}/review")
    assert "Share for review" in section.text and f'hx-trigger="sse:comment-{story.id}' in section.text


async def test_the_token_is_stored_only_as_its_hash(web, world: World, session_maker) -> None:
    story = await make_story(session_maker, world.a.client.id, "Hashed")
    token = await make_link(web, world.a, story, expires="")
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        link = (await session.execute(select(ShareLink).where(ShareLink.story_id == story.id))).scalar_one()
        dump = (await session.execute(text("SELECT share_links::text FROM share_links"))).scalars().all()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert link.expires_at is None
    assert not any(token in row for row in dump)


async def test_viewers_may_not_share_and_outsiders_do_not_see_the_story(web, world: World, session_maker) -> None:
    story = await make_story(session_maker, world.a.client.id, "Members only")
    url = f"/c/{world.a.client.slug}/stories/{story.id}/review"
    await web.sign_in(world.a.viewer)
    assert (await web.post(f"{url}/links", {"expires": "1"})).status_code == 403
    assert (await web.get(url)).status_code == 403
    await web.sign_in(world.outsider)
    assert (await web.post(f"{url}/links", {"expires": "1"})).status_code == 404
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert (await session.execute(select(ShareLink))).scalars().all() == []


async def test_a_guest_comments_and_the_studio_hears_of_it(web, world: World, session_maker, redis, settings) -> None:
    story = await make_story(session_maker, world.a.client.id, "Open day")
    token = await make_link(web, world.a, story)

    response = await guest_comment(web, token, "  ", "Looks good")
    assert response.status_code == 422 and "Tell us your name." in response.text
    assert "Looks good" in response.text  # what they wrote is kept
    response = await guest_comment(web, token, "Maria", "x" * 2001)
    assert response.status_code == 422 and "Keep the comment under 2000 characters" in response.text
    response = await guest_comment(web, token, "M" * 81, "Fine")
    assert response.status_code == 422 and "Keep your name under 80 characters" in response.text
    response = await guest_comment(web, token, "", "")
    assert "Write a comment." in response.text

    response = await guest_comment(web, token, "Maria", "Please use the second photo.")
    assert response.status_code == 303 and response.headers["location"].startswith(f"/s/{token}")
    page = await web.get(response.headers["location"])
    assert "Please use the second photo." in page.text and "your comment was sent" in page.text

    entries = await redis.xrange(f"{settings.redis_prefix}:events:{world.a.client.id}")
    kinds = [{k.decode(): v.decode() for k, v in data.items()} for _id, data in entries]
    assert {"kind": "comment", "story_id": str(story.id)}.items() <= kinds[-1].items()

    await web.sign_in(world.a.editor)
    comments = await web.get(f"/c/{world.a.client.slug}/stories/{story.id}/review/comments")
    assert "Maria" in comments.text and "Please use the second photo." in comments.text
    assert "via Anna" in comments.text
    section = await web.get(f"/c/{world.a.client.slug}/stories/{story.id}/review")
    assert re.search(r"<td>Anna</td>.*?<td>1</td>", section.text, re.S)  # one comment through that link


async def test_an_expired_link_is_gone(web, world: World, session_maker) -> None:
    story = await make_story(session_maker, world.a.client.id, "Yesterday's news")
    token = await make_link(web, world.a, story, expires="1")
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        await session.execute(update(ShareLink).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    as_guest(web)
    page = await web.get(f"/s/{token}")
    assert page.status_code == 404 and GONE in page.text
    assert "Yesterday's news" not in page.text
    assert (await web.post(f"/s/{token}/comments", {"author_name": "A", "body": "B"})).status_code == 404


async def test_revoking_stops_the_page_at_once_and_keeps_the_comments(web, world: World, session_maker) -> None:
    story = await make_story(session_maker, world.a.client.id, "Revoked")
    token = await make_link(web, world.a, story)
    await guest_comment(web, token, "Ivan", "Shorter title?")
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        link = (await session.execute(select(ShareLink))).scalar_one()

    await web.sign_in(world.a.editor)
    base = f"/c/{world.a.client.slug}/stories/{story.id}/review"
    response = await web.post(f"{base}/links/{link.id}/revoke", htmx=True)
    assert response.status_code == 200 and "No working review links." in response.text
    assert response.headers["hx-trigger"] == "share-revoked"
    comments = await web.get(f"{base}/comments")
    assert "Shorter title?" in comments.text and "via a link since revoked" in comments.text

    as_guest(web)
    page = await web.get(f"/s/{token}")
    assert page.status_code == 404 and GONE in page.text
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert (await session.execute(select(ShareLink))).scalars().all() == []
        assert (await session.execute(select(Comment.share_link_id))).scalar_one() is None


async def test_unknown_tokens_are_gone(web) -> None:
    page = await web.get("/s/not-a-real-token-at-all-0123456789abcdefghijk")
    assert page.status_code == 404 and GONE in page.text
    assert page.headers["x-robots-tag"].startswith("noindex")


async def test_a_link_of_client_a_never_shows_client_b(web, world: World, session_maker) -> None:
    story_a = await make_story(session_maker, world.a.client.id, "Alpha story")
    story_b = await make_story(session_maker, world.b.client.id, "Beta secret")
    token = await make_link(web, world.a, story_a)
    as_guest(web)
    page = await web.get(f"/s/{token}")
    assert "Alpha story" in page.text and "Beta secret" not in page.text and world.b.client.name not in page.text

    # A forged row of client A that points at B's story: the story is read in A's scope, so nothing shows.
    forged = "forged-token-" + "x" * 40
    async with scoped_session(session_maker, system=True) as session:
        session.add(
            ShareLink(
                client_id=world.a.client.id, story_id=story_b.id, token_hash=hashlib.sha256(forged.encode()).hexdigest()
            )
        )
    page = await web.get(f"/s/{forged}")
    assert page.status_code == 404 and "Beta secret" not in page.text

    # An editor of B cannot list, revoke or read A's links and comments through B's pages.
    await web.sign_in(world.b.editor)
    assert (await web.get(f"/c/{world.b.client.slug}/stories/{story_a.id}/review")).status_code == 404


async def test_comments_through_one_link_are_rate_limited(web, world: World, session_maker) -> None:
    story = await make_story(session_maker, world.a.client.id, "Busy")
    token = await make_link(web, world.a, story)
    as_guest(web)
    await web.get(f"/s/{token}")
    for n in range(COMMENTS_PER_MINUTE):
        response = await web.post(f"/s/{token}/comments", {"author_name": "Bot", "body": f"Comment {n}"})
        assert response.status_code == 303, response.text
    response = await web.post(f"/s/{token}/comments", {"author_name": "Bot", "body": "One too many"})
    assert response.status_code == 429 and "Too many comments through this link" in response.text
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert len((await session.execute(select(Comment))).scalars().all()) == COMMENTS_PER_MINUTE
