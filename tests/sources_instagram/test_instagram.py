"""The Instagram source (business discovery) against the local fake of the Graph API."""

from __future__ import annotations

import logging
import pickle
import socket
import traceback
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from app.sources.instagram import (
    InstagramChild,
    InstagramDiscoveryClient,
    InstagramError,
    InstagramPost,
    InvalidInstagramUsername,
    normalize_username,
    post_title,
    post_to_item,
)
from tests.fakes.instagram_graph import (
    EXPIRED_TOKEN,
    OWNER_IG_USER_ID,
    VALID_TOKEN,
    FakeInstagramGraph,
    parse_fields,
)

BAKERY = "northwind.bakery"
NEWS = "city_news.daily"


@pytest.fixture
async def client(instagram_graph: FakeInstagramGraph) -> AsyncIterator[InstagramDiscoveryClient]:
    async with InstagramDiscoveryClient(base_url=instagram_graph.base_url, timeout=5.0) as instance:
        yield instance


def assert_no_token(exc: BaseException, *tokens: str) -> None:
    """The token is nowhere in the exception: text, repr, args, chained exceptions, traceback."""
    text = "\n".join([str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc)), repr(vars(exc))])
    for token in tokens:
        assert token not in text
    assert exc.__cause__ is None
    chained = exc.__context__
    while chained is not None:  # nothing that holds the request (and its URL) may hang off it
        for token in tokens:
            assert token not in repr(chained) and token not in repr(getattr(chained, "request", ""))
        chained = chained.__context__


# --- the happy path -------------------------------------------------------------------------------


async def test_recent_posts_become_items_with_images_links_dates_and_titles(client, instagram_graph):
    posts = await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY)

    assert [p.id for p in posts] == [f"1790000000000000{n}" for n in (6, 5, 4, 3, 2, 1)]
    assert [p.media_type for p in posts] == ["IMAGE", "VIDEO", "CAROUSEL_ALBUM", "CAROUSEL_ALBUM", "IMAGE", "VIDEO"]
    assert all(p.timestamp.tzinfo is not None and p.timestamp.utcoffset().total_seconds() == 0 for p in posts)
    assert posts[2].children_media_urls == [
        "https://cdn.fake-instagram.test/bakery/spring-1.jpg",
        "https://cdn.fake-instagram.test/bakery/spring-2.mp4",
        "https://cdn.fake-instagram.test/bakery/spring-3.jpg",
    ]

    items = [post_to_item(p) for p in posts]
    rye, croissant, spring, night, bread, hiring = items

    assert rye == {
        "guid": "instagram:17900000000000006",
        "url": "https://www.instagram.com/p/RyeLoaves1/",
        "title": "Fresh rye loaves are out of the oven!",
        "content_text": "Fresh rye loaves are out of the oven!\nCome early: we open at 7.\n#bakery #rye",
        "content_html": "Fresh rye loaves are out of the oven!<br>Come early: we open at 7.<br>#bakery #rye",
        "image_url": "https://cdn.fake-instagram.test/bakery/rye.jpg",
        "published_at": datetime(2025, 3, 14, 9, 30, tzinfo=UTC),
    }
    # A video shows its thumbnail, never the mp4.
    assert croissant["image_url"] == "https://cdn.fake-instagram.test/bakery/croissant-thumb.jpg"
    assert croissant["url"] == "https://www.instagram.com/reel/Croissant1/"
    # A carousel shows its first picture, even when a video comes first.
    assert spring["image_url"] == "https://cdn.fake-instagram.test/bakery/spring-1.jpg"
    assert night["image_url"] == "https://cdn.fake-instagram.test/bakery/night-2.jpg"
    # No caption: the title says what it is and when.
    assert bread["title"] == "Instagram post 2025-03-08"
    assert bread["content_text"] == "" and bread["content_html"] == ""
    assert bread["published_at"] == datetime(2025, 3, 8, 16, 45, tzinfo=UTC)
    # A reel without media_url (licensed audio) still has its thumbnail; a long first line is cut
    # at a word boundary; the caption's markup characters are escaped, not interpreted.
    assert hiring["image_url"] == "https://cdn.fake-instagram.test/bakery/hiring-thumb.jpg"
    assert len(hiring["title"]) <= 120 and hiring["title"].endswith("…")
    assert hiring["title"].startswith("We are hiring bakers & baristas <apply in store>! Full-time")
    assert hiring["title"][:-1] == hiring["title"][:-1].rstrip()
    assert hiring["content_text"].endswith("\nDetails in bio.")
    assert "&lt;apply in store&gt;" in hiring["content_html"] and "&amp; baristas" in hiring["content_html"]
    assert "<apply" not in hiring["content_html"]

    [request] = instagram_graph.requests
    assert request.path == f"/v21.0/{OWNER_IG_USER_ID}"
    assert request.access_token == VALID_TOKEN
    assert request.fields.startswith("business_discovery.username(northwind.bakery){")
    assert "media.limit(25){" in request.fields
    [spec] = parse_fields(request.fields)
    media = spec.child("media")
    assert {c.name for c in media.children} >= {
        "id",
        "caption",
        "media_type",
        "media_url",
        "thumbnail_url",
        "permalink",
        "timestamp",
        "children",
    }
    assert {c.name for c in media.child("children").children} >= {"media_type", "media_url"}


async def test_account_gives_public_counters_for_a_preview(client):
    account = await client.account(OWNER_IG_USER_ID, VALID_TOKEN, "@Northwind.Bakery", limit=3)
    assert account.username == BAKERY
    assert account.followers_count == 12840
    assert account.media_count == 6
    assert len(account.posts) == 3


# --- limits and paging ----------------------------------------------------------------------------


async def test_limit_is_honoured_in_one_request(client, instagram_graph):
    posts = await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY, limit=2)
    assert [p.id for p in posts] == ["17900000000000006", "17900000000000005"]
    [request] = instagram_graph.requests
    assert "media.limit(2){" in request.fields


async def test_pages_follow_the_after_cursor_up_to_the_limit(client, instagram_graph):
    instagram_graph.max_page_size = 10
    posts = await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, NEWS, limit=25)

    assert len(posts) == 25 and len({p.id for p in posts}) == 25
    assert [p.caption for p in posts[:2]] == [
        "City news #60: headline of the day",
        "City news #59: headline of the day",
    ]
    assert posts == sorted(posts, key=lambda p: p.timestamp, reverse=True)
    fields = [r.fields for r in instagram_graph.requests]
    assert len(fields) == 3
    assert "media.limit(25){" in fields[0]
    assert ".after(" in fields[1] and ".limit(15){" in fields[1]
    assert ".after(" in fields[2] and ".limit(5){" in fields[2]


async def test_paging_stops_at_media_count_without_an_extra_call(client, instagram_graph):
    posts = await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, NEWS, limit=100)
    assert len(posts) == 60
    assert len(instagram_graph.requests) == 2  # pages of 50 and 10; media_count says that is all

    instagram_graph.requests.clear()
    posts = await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY, limit=100)
    assert len(posts) == 6
    assert len(instagram_graph.requests) == 1


async def test_a_limit_out_of_range_is_a_programming_error(client):
    with pytest.raises(ValueError):
        await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY, limit=0)
    with pytest.raises(ValueError):
        await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY, limit=101)


# --- usernames ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "northwind.bakery",
        "@northwind.bakery",
        "  @Northwind.Bakery  ",
        "https://www.instagram.com/northwind.bakery/",
        "https://www.instagram.com/northwind.bakery",
        "http://instagram.com/northwind.bakery/?igsh=MXh2cnd4",
        "https://m.instagram.com/northwind.bakery/",
        "instagram.com/northwind.bakery",
        "www.instagram.com/@northwind.bakery",
    ],
)
def test_username_forms_accepted(typed):
    assert normalize_username(typed) == BAKERY


@pytest.mark.parametrize("typed", ["a", "_", "a_b.c_1", "x" * 30])
def test_usernames_at_the_edges_of_the_rules(typed):
    assert normalize_username(typed) == typed


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "@",
        "x" * 31,
        "north wind",
        "bakery!",
        "пекарня",
        "name-with-dash",
        "https://www.instagram.com/",
        "https://www.instagram.com/p/C4xYz12AbCd/",
        "https://www.instagram.com/reel/C4xYz12AbCd/",
        "https://www.instagram.com/stories/northwind.bakery/123/",
        "https://www.instagram.com/northwind.bakery/tagged/",
        "https://example.com/northwind.bakery",
        "https://instagram.com.evil.test/northwind.bakery",
        "ftp://instagram.com/northwind.bakery",
    ],
)
async def test_username_forms_refused_with_a_message_and_no_request(typed, client, instagram_graph):
    with pytest.raises(InvalidInstagramUsername) as caught:
        normalize_username(typed)
    assert caught.value.kind == "permanent"
    assert caught.value.message and "Traceback" not in caught.value.message
    with pytest.raises(InvalidInstagramUsername):
        await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, typed)
    assert instagram_graph.requests == []


# --- errors ---------------------------------------------------------------------------------------

RECONNECT = "The client's Instagram connection has expired; the owner must reconnect Instagram in Channels."


@pytest.mark.parametrize("token", [EXPIRED_TOKEN, "EAAGsomeoneElsesRevokedTokenSECRET"])
async def test_an_expired_or_invalid_token_needs_the_owner(client, token):
    with pytest.raises(InstagramError) as caught:
        await client.recent_posts(OWNER_IG_USER_ID, token, BAKERY)
    error = caught.value
    assert error.kind == "needs_owner"
    assert error.message == RECONNECT
    assert error.retry_after is None
    assert error.code == 190
    assert_no_token(error, token)


@pytest.mark.parametrize("username", ["nobody.here.at.all", "private.person"])
async def test_an_unknown_or_personal_account_is_permanent(client, username):
    with pytest.raises(InstagramError) as caught:
        await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, username)
    error = caught.value
    assert error.kind == "permanent"
    assert error.message == (
        f"@{username} is not a public business or creator account, so Instagram does not share its posts."
    )
    assert (error.code, error.subcode) == (110, 2207013)
    assert error.fbtrace_id
    assert_no_token(error, VALID_TOKEN)


async def test_an_account_id_the_token_cannot_read_needs_the_owner(client):
    with pytest.raises(InstagramError) as caught:
        await client.recent_posts("17841499999999999", VALID_TOKEN, BAKERY)
    assert caught.value.kind == "needs_owner"
    assert "reconnect" in caught.value.message


async def test_a_connection_without_account_id_or_token_needs_the_owner_and_sends_nothing(client, instagram_graph):
    for ig_user_id, token in [("", VALID_TOKEN), ("../me", VALID_TOKEN), (OWNER_IG_USER_ID, "")]:
        with pytest.raises(InstagramError) as caught:
            await client.recent_posts(ig_user_id, token, BAKERY)
        assert caught.value.kind == "needs_owner"
    assert instagram_graph.requests == []


@pytest.mark.parametrize(("code", "status"), [(4, 403), (17, 400), (32, 403), (613, 400), (80002, 400)])
async def test_rate_limits_are_retryable(client, instagram_graph, code, status):
    instagram_graph.rate_limit(code, status=status)
    with pytest.raises(InstagramError) as caught:
        await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY)
    error = caught.value
    assert error.kind == "retryable"
    assert error.code == code and error.status_code == status
    assert error.retry_after is None  # no usage headers, no estimate
    assert error.message == "Instagram is limiting how often Zavod may ask for posts; Zavod will try again later."
    assert_no_token(error, VALID_TOKEN)


async def test_a_rate_limit_waits_as_long_as_the_business_use_case_header_says(client, instagram_graph):
    instagram_graph.rate_limit(80002, regain_minutes=7)
    with pytest.raises(InstagramError) as caught:
        await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY)
    assert caught.value.kind == "retryable"
    assert caught.value.retry_after == 7 * 60
    assert "about 7 min" in caught.value.message


async def test_a_rate_limit_estimates_the_wait_from_app_usage(client, instagram_graph):
    instagram_graph.rate_limit(4, status=403, app_usage_percent=120)
    with pytest.raises(InstagramError) as caught:
        await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY)
    # 20 of 120 points of a rolling hour must roll off: a sixth of an hour.
    assert caught.value.retry_after == pytest.approx(600)

    instagram_graph.clear_faults()
    instagram_graph.rate_limit(4, status=403, app_usage_percent=100)
    with pytest.raises(InstagramError) as caught:
        await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY)
    assert caught.value.retry_after == 300  # never less than five minutes


@pytest.mark.parametrize(("status", "graph_body"), [(500, True), (503, True), (502, False)])
async def test_outages_are_retryable(client, instagram_graph, status, graph_body):
    instagram_graph.server_error(status, graph_body=graph_body)
    with pytest.raises(InstagramError) as caught:
        await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY)
    error = caught.value
    assert error.kind == "retryable"
    assert error.status_code == status
    assert error.message.startswith("Instagram is having trouble right now")
    assert_no_token(error, VALID_TOKEN)


async def test_a_passing_outage_then_success(client, instagram_graph):
    instagram_graph.server_error(500, times=1)
    with pytest.raises(InstagramError):
        await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY)
    assert len(await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY)) == 6


async def test_a_timeout_is_retryable_and_says_how_long_it_waited(instagram_graph):
    instagram_graph.delay = 1.0
    async with InstagramDiscoveryClient(base_url=instagram_graph.base_url, timeout=0.2) as slow:
        with pytest.raises(InstagramError) as caught:
            await slow.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY)
    error = caught.value
    assert error.kind == "retryable"
    assert error.message == "Instagram did not answer within 0.2 seconds; Zavod will try again later."
    assert_no_token(error, VALID_TOKEN)


async def test_an_unreachable_api_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request: connection refused
    async with InstagramDiscoveryClient(base_url=f"http://127.0.0.1:{port}", timeout=2.0) as nowhere:
        with pytest.raises(InstagramError) as caught:
            await nowhere.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY)
    assert caught.value.kind == "retryable"
    assert caught.value.message.startswith("Could not connect to Instagram")
    assert_no_token(caught.value, VALID_TOKEN)


async def test_the_token_stays_out_of_the_logs(client, caplog):
    caplog.set_level(logging.INFO)
    await client.recent_posts(OWNER_IG_USER_ID, VALID_TOKEN, BAKERY, limit=1)
    with pytest.raises(InstagramError):
        await client.recent_posts(OWNER_IG_USER_ID, EXPIRED_TOKEN, BAKERY, limit=1)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "HTTP Request: GET" in logged  # httpx did log the requests ...
    assert "access_token=[redacted]" in logged  # ... with the token taken out
    assert VALID_TOKEN not in logged and EXPIRED_TOKEN not in logged
    assert VALID_TOKEN not in repr(client)


# --- converting posts -----------------------------------------------------------------------------


def _post(**changes) -> InstagramPost:
    values = {
        "id": "1",
        "caption": None,
        "media_type": "IMAGE",
        "media_url": "https://cdn.example/1.jpg",
        "thumbnail_url": None,
        "permalink": "https://www.instagram.com/p/One/",
        "timestamp": datetime(2025, 1, 2, 3, 4, tzinfo=UTC),
    }
    values.update(changes)
    return InstagramPost(**values)


def test_captions_become_safe_html():
    item = post_to_item(_post(caption='<script>alert("x")</script>\n<img src=x onerror=alert(1)>\nline 3'))
    assert "<script" not in item["content_html"] and "<img" not in item["content_html"]
    assert item["content_html"].count("<br>") == 2
    assert item["content_text"].startswith("<script>")
    assert item["title"] == '<script>alert("x")</script>'  # plain text; templates escape it


def test_titles_skip_blank_lines_and_cut_at_a_word_boundary():
    assert post_title(_post(caption="\n\n   Spring   is here  \nmore")) == "Spring is here"
    long_line = "word " * 40
    title = post_title(_post(caption=long_line))
    assert len(title) <= 120 and title.endswith("word…")
    unbroken = "x" * 200
    assert post_title(_post(caption=unbroken)) == "x" * 119 + "…"


def test_carousel_images_without_children_fall_back_to_the_cover():
    album = _post(media_type="CAROUSEL_ALBUM", media_url="https://cdn.example/cover.jpg")
    assert post_to_item(album)["image_url"] == "https://cdn.example/cover.jpg"
    only_videos = _post(
        media_type="CAROUSEL_ALBUM",
        media_url=None,
        children=(InstagramChild("VIDEO", "https://cdn.example/v.mp4", "https://cdn.example/v.jpg"),),
    )
    assert post_to_item(only_videos)["image_url"] == "https://cdn.example/v.jpg"
    assert post_to_item(_post(media_type="VIDEO", media_url="https://cdn.example/v.mp4"))["image_url"] is None


def test_errors_survive_pickling_with_their_kind_and_wait():
    error = InstagramError("Slow down.", "retryable", 420.0, code=80002, status_code=400)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.kind, copy.retry_after, copy.code, str(copy)) == (
        "Slow down.",
        "retryable",
        420.0,
        80002,
        "Slow down.",
    )
    invalid = pickle.loads(pickle.dumps(InvalidInstagramUsername("Bad name.")))
    assert isinstance(invalid, InvalidInstagramUsername) and invalid.kind == "permanent"
