"""The Telegram Bot API client against the local fake, and the plan of calls for a post."""

from __future__ import annotations

import logging
import pickle
import socket
import traceback
from collections.abc import AsyncIterator

import pytest

from app.channels.base import ChannelError, FailureKind
from app.channels.telegram import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    InputFile,
    MediaItem,
    PlannedCall,
    TelegramBotClient,
    TelegramError,
    message_link,
    plan_telegram_post,
    split_text,
    utf16_len,
)
from tests.fakes.telegram_bot import (
    BOT_ID,
    CHANNEL_ID,
    CHANNEL_USERNAME,
    GROUP_ID,
    PRIVATE_CHANNEL_ID,
    REVOKED_TOKEN,
    VALID_TOKEN,
    FakeTelegramBot,
)

CHANNEL = f"@{CHANNEL_USERNAME}"
PHOTO_URL = "https://media.example.test/clients/1/scene-1.jpg"
PHOTO_URL_2 = "https://media.example.test/clients/1/scene-2.jpg"
VIDEO_URL = "https://media.example.test/clients/1/story.mp4"
EMOJI = "😀"  # outside the BMP: 2 UTF-16 code units, 1 Python character


@pytest.fixture
async def bot(telegram_bot: FakeTelegramBot) -> AsyncIterator[TelegramBotClient]:
    async with TelegramBotClient(VALID_TOKEN, base_url=telegram_bot.base_url, timeout=5.0) as client:
        yield client


def client_with(token: str, base_url: str, timeout: float = 5.0) -> TelegramBotClient:
    return TelegramBotClient(token, base_url=base_url, timeout=timeout)


def assert_no_token(exc: BaseException, *tokens: str) -> None:
    """The token is nowhere in the exception: text, repr, args, traceback, state, chained exceptions."""
    text = "\n".join([str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc)), repr(vars(exc))])
    for token in tokens:
        assert token not in text
        assert token.split(":", 1)[1] not in text
    assert exc.__cause__ is None
    chained = exc.__context__
    while chained is not None:  # nothing that holds the request (and its URL) may hang off it
        for token in tokens:
            assert token not in repr(chained) and token not in repr(getattr(chained, "request", ""))
        chained = chained.__context__


# --- every method against the fake ------------------------------------------------------------------


async def test_get_me_checks_the_token(bot, telegram_bot):
    me = await bot.get_me()

    assert me["id"] == BOT_ID and me["is_bot"] is True and me["username"] == "zavod_test_bot"
    assert telegram_bot.requests[-1].method == "getMe"
    assert telegram_bot.requests[-1].token == VALID_TOKEN


async def test_get_chat_by_username_and_by_id(bot):
    public = await bot.get_chat(CHANNEL)
    private = await bot.get_chat(PRIVATE_CHANNEL_ID)

    assert (public["id"], public["type"], public["username"]) == (CHANNEL_ID, "channel", CHANNEL_USERNAME)
    assert private["id"] == PRIVATE_CHANNEL_ID and "username" not in private


async def test_get_chat_member_says_whether_the_bot_may_post(bot, telegram_bot):
    member = await bot.get_chat_member(CHANNEL, BOT_ID)
    assert (member["status"], member["can_post_messages"]) == ("administrator", True)

    telegram_bot.demote_bot(CHANNEL)
    assert (await bot.get_chat_member(CHANNEL, BOT_ID))["can_post_messages"] is False


async def test_send_message_posts_the_text_and_returns_the_message(bot, telegram_bot):
    message = await bot.send_message(CHANNEL, "Hello, readers!", disable_link_preview=True)

    assert message["message_id"] == 1
    assert message["chat"]["id"] == CHANNEL_ID and message["text"] == "Hello, readers!"
    assert [(m.kind, m.text) for m in telegram_bot.sent_to(CHANNEL)] == [("text", "Hello, readers!")]
    request = telegram_bot.requests[-1]
    assert request.content_type.startswith("application/json")
    assert request.params["link_preview_options"] == {"is_disabled": True}


async def test_send_message_as_a_reply(bot, telegram_bot):
    first = await bot.send_photo(CHANNEL, PHOTO_URL)
    reply = await bot.send_message(CHANNEL, "The full story.", reply_to_message_id=first["message_id"])

    assert reply["message_id"] == 2
    assert reply["reply_to_message"]["message_id"] == first["message_id"]
    assert telegram_bot.requests[-1].params["reply_parameters"] == {
        "message_id": 1,
        "allow_sending_without_reply": True,
    }


async def test_send_photo_by_url_with_caption(bot, telegram_bot):
    message = await bot.send_photo(CHANNEL, PHOTO_URL, caption="A caption")

    assert message["caption"] == "A caption" and message["photo"][-1]["file_id"]
    sent = telegram_bot.sent_to(CHANNEL)[-1]
    assert (sent.kind, sent.media, sent.text) == ("photo", PHOTO_URL, "A caption")
    assert telegram_bot.requests[-1].params["photo"] == PHOTO_URL


async def test_send_photo_uploads_bytes_as_multipart(bot, telegram_bot):
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg-bytes"

    message = await bot.send_photo(PRIVATE_CHANNEL_ID, jpeg, caption="Uploaded — привет 👋")

    request = telegram_bot.requests[-1]
    assert request.content_type.startswith("multipart/form-data")
    assert "photo" not in request.params  # the file is the part named for the parameter
    assert request.files["photo"].data == jpeg
    assert request.files["photo"].filename == "photo.jpg"
    assert request.params["caption"] == "Uploaded — привет 👋"
    assert request.params["chat_id"] == str(PRIVATE_CHANNEL_ID)
    assert message["caption"] == "Uploaded — привет 👋"
    assert telegram_bot.sent_to(PRIVATE_CHANNEL_ID)[-1].upload == jpeg


async def test_send_photo_again_by_file_id(bot, telegram_bot):
    first = await bot.send_photo(CHANNEL, InputFile(b"png-bytes", "card.png", "image/png"))
    file_id = first["photo"][-1]["file_id"]

    again = await bot.send_photo(CHANNEL, file_id)

    assert again["message_id"] == 2
    assert telegram_bot.requests[0].files["photo"].filename == "card.png"
    assert telegram_bot.requests[0].files["photo"].content_type == "image/png"


async def test_send_video_by_url_and_by_upload(bot, telegram_bot):
    by_url = await bot.send_video(CHANNEL, VIDEO_URL, caption="Watch", width=720, height=1280, duration=15)
    uploaded = await bot.send_video(CHANNEL, b"\x00\x00\x00\x18ftypmp42", caption=None)

    assert by_url["video"]["mime_type"] == "video/mp4" and by_url["caption"] == "Watch"
    assert "caption" not in uploaded
    first, second = telegram_bot.requests[-2:]
    assert first.params["supports_streaming"] is True and first.params["width"] == 720
    assert second.files["video"].filename == "video.mp4" and second.params["supports_streaming"] == "true"


async def test_send_media_group_puts_the_caption_on_the_first_item(bot, telegram_bot):
    items = [
        MediaItem("photo", PHOTO_URL),
        MediaItem("photo", b"second-scene-bytes"),
        MediaItem("video", VIDEO_URL),
    ]

    messages = await bot.send_media_group(CHANNEL, items, caption="Three scenes")

    assert [m["message_id"] for m in messages] == [1, 2, 3]
    assert len({m["media_group_id"] for m in messages}) == 1
    assert messages[0]["caption"] == "Three scenes"
    assert all("caption" not in m for m in messages[1:])
    assert [s.kind for s in telegram_bot.sent_to(CHANNEL)] == ["photo", "photo", "video"]
    request = telegram_bot.requests[-1]
    media = request.params["media"]  # multipart: the array travels as JSON text
    assert '"attach://file1"' in media and "file1" in request.files


async def test_send_media_group_of_ten_and_of_two(bot, telegram_bot):
    ten = await bot.send_media_group(CHANNEL, [MediaItem("photo", PHOTO_URL)] * 10, caption="Ten")
    two = await bot.send_media_group(CHANNEL, [MediaItem("photo", PHOTO_URL), MediaItem("photo", PHOTO_URL_2)])

    assert len(ten) == 10 and len(two) == 2
    assert telegram_bot.requests[-1].content_type.startswith("application/json")  # URLs only: JSON


@pytest.mark.parametrize("count", [0, 1, 11])
async def test_album_outside_two_to_ten_is_refused_before_any_call(bot, telegram_bot, count):
    with pytest.raises(ValueError, match="2 to 10"):
        await bot.send_media_group(CHANNEL, [MediaItem("photo", PHOTO_URL)] * count)
    assert telegram_bot.requests == []


async def test_fake_refuses_albums_outside_two_to_ten_itself(bot, telegram_bot):
    # The client never sends these; the fake checks them as Telegram does (see tests/fakes/telegram_bot.py).
    import httpx

    url = f"{telegram_bot.base_url}/bot{VALID_TOKEN}/sendMediaGroup"
    async with httpx.AsyncClient() as http:
        many = await http.post(url, json={"chat_id": CHANNEL, "media": [{"type": "photo", "media": PHOTO_URL}] * 11})
        none = await http.post(url, json={"chat_id": CHANNEL, "media": []})
    assert many.json()["description"] == "Bad Request: too many messages to send as an album"
    assert none.json()["description"] == "Bad Request: there are no messages to send"


# --- limits: Telegram's own answers -----------------------------------------------------------------


async def test_caption_of_1024_utf16_units_with_emoji_goes_through(bot):
    caption = EMOJI * 12 + "a" * 1000  # 1012 characters, 1024 UTF-16 units
    assert utf16_len(caption) == CAPTION_LIMIT

    message = await bot.send_photo(CHANNEL, PHOTO_URL, caption=caption)

    assert message["caption"] == caption


async def test_caption_of_1025_utf16_units_is_refused_as_too_long(bot, telegram_bot):
    caption = EMOJI * 12 + "a" * 1001  # only 1013 characters, but 1025 units
    assert len(caption) < CAPTION_LIMIT < utf16_len(caption)

    with pytest.raises(TelegramError) as caught:
        await bot.send_photo(CHANNEL, PHOTO_URL, caption=caption)

    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.description == "Bad Request: message caption is too long"
    assert telegram_bot.sent == []


async def test_text_over_4096_is_refused_as_too_long(bot):
    with pytest.raises(TelegramError) as caught:
        await bot.send_message(CHANNEL, "a" * 4095 + EMOJI)

    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.description == "Bad Request: message is too long"
    assert "message is too long" in caught.value.message


async def test_upload_over_telegrams_photo_limit_is_refused_before_sending(bot, telegram_bot):
    with pytest.raises(TelegramError) as caught:
        await bot.send_photo(CHANNEL, b"\xff" * (10 * 1024 * 1024 + 1))

    assert caught.value.kind is FailureKind.PERMANENT
    assert "10 MB" in caught.value.message
    assert telegram_bot.requests == []


# --- errors -----------------------------------------------------------------------------------------


async def test_flood_control_is_retryable_after_retry_after_seconds(bot, telegram_bot):
    telegram_bot.flood(retry_after=7)

    with pytest.raises(TelegramError) as caught:
        await bot.send_message(CHANNEL, "Hello")

    error = caught.value
    assert isinstance(error, ChannelError)
    assert (error.kind, error.retry_after, error.error_code) == (FailureKind.RETRYABLE, 7.0, 429)
    assert "7 s" in error.message
    assert telegram_bot.sent == []
    # The next call goes through: the fault was for one call.
    assert (await bot.send_message(CHANNEL, "Hello"))["message_id"] == 1


async def test_retry_after_is_read_from_the_description_when_parameters_lack_it(bot, telegram_bot):
    telegram_bot.fail(429, "Too Many Requests: retry after 12")

    with pytest.raises(TelegramError) as caught:
        await bot.send_message(CHANNEL, "Hello")

    assert (caught.value.kind, caught.value.retry_after) == (FailureKind.RETRYABLE, 12.0)


async def test_unknown_chat_is_permanent_and_names_the_chat(bot):
    with pytest.raises(TelegramError) as caught:
        await bot.send_message("@no_such_channel", "Hello")

    error = caught.value
    assert (error.kind, error.error_code, error.description) == (
        FailureKind.PERMANENT,
        400,
        "Bad Request: chat not found",
    )
    assert "@no_such_channel" in error.message and "Channels" in error.message


async def test_kicked_bot_is_permanent(bot, telegram_bot):
    telegram_bot.kick_bot(CHANNEL)

    with pytest.raises(TelegramError) as caught:
        await bot.send_photo(CHANNEL, PHOTO_URL, caption="Hi")

    error = caught.value
    assert (error.kind, error.error_code) == (FailureKind.PERMANENT, 403)
    assert error.description == "Forbidden: bot was kicked from the channel chat"
    assert "removed" in error.message and "administrator" in error.message


async def test_bot_that_is_not_a_member_is_permanent(bot, telegram_bot):
    telegram_bot.remove_bot(CHANNEL)

    with pytest.raises(TelegramError) as caught:
        await bot.send_message(CHANNEL, "Hello")

    assert (caught.value.kind, caught.value.error_code) == (FailureKind.PERMANENT, 403)
    assert caught.value.description == "Forbidden: bot is not a member of the channel chat"
    assert "not a member" in caught.value.message


async def test_bot_without_the_right_to_post_is_permanent(bot, telegram_bot):
    telegram_bot.demote_bot(CHANNEL)

    with pytest.raises(TelegramError) as caught:
        await bot.send_message(CHANNEL, "Hello")

    assert caught.value.kind is FailureKind.PERMANENT
    assert "administrator allowed to post" in caught.value.message


async def test_private_channel_that_dropped_the_bot_is_not_found(bot, telegram_bot):
    telegram_bot.kick_bot(PRIVATE_CHANNEL_ID)

    with pytest.raises(TelegramError) as caught:
        await bot.get_chat(PRIVATE_CHANNEL_ID)

    assert (caught.value.kind, caught.value.description) == (FailureKind.PERMANENT, "Bad Request: chat not found")


async def test_token_pasted_with_surrounding_whitespace_works(telegram_bot):
    async with client_with(f"  {VALID_TOKEN}\n", telegram_bot.base_url) as client:
        assert (await client.get_me())["id"] == BOT_ID


async def test_revoked_token_is_permanent_and_not_leaked(telegram_bot):
    async with client_with(REVOKED_TOKEN, telegram_bot.base_url) as client:
        with pytest.raises(TelegramError) as caught:
            await client.get_me()

    error = caught.value
    assert (error.kind, error.error_code, error.description) == (FailureKind.PERMANENT, 401, "Unauthorized")
    assert "@BotFather" in error.message
    assert_no_token(error, REVOKED_TOKEN)


async def test_malformed_token_is_permanent(telegram_bot):
    async with client_with("not-a-token", telegram_bot.base_url) as client:
        with pytest.raises(TelegramError) as caught:
            await client.send_message(CHANNEL, "Hello")

    assert (caught.value.kind, caught.value.error_code) == (FailureKind.PERMANENT, 404)
    assert "@BotFather" in caught.value.message


@pytest.mark.parametrize("token", ["", "   ", f"{VALID_TOKEN[:20]}\n{VALID_TOKEN[20:]}", "12#34/x?y"])
async def test_pasted_garbage_as_a_token_is_permanent_and_stays_in_the_path(telegram_bot, token):
    async with client_with(token, telegram_bot.base_url) as client:
        with pytest.raises(TelegramError) as caught:
            await client.get_me()

    assert caught.value.kind is FailureKind.PERMANENT
    assert "@BotFather" in caught.value.message
    assert [r.method for r in telegram_bot.requests] in ([], ["getMe"])  # never another method or URL


async def test_migrated_group_is_permanent_and_carries_the_new_id(bot, telegram_bot):
    supergroup = telegram_bot.migrate(GROUP_ID, new_id=-1001000000777)

    with pytest.raises(TelegramError) as caught:
        await bot.send_message(GROUP_ID, "Hello")

    error = caught.value
    assert error.kind is FailureKind.PERMANENT
    assert error.migrate_to_chat_id == supergroup.id == -1001000000777
    assert "-1001000000777" in error.message
    assert error.description == "Bad Request: group chat was upgraded to a supergroup chat"
    # The new id works.
    assert (await bot.send_message(error.migrate_to_chat_id, "Hello"))["chat"]["id"] == -1001000000777


@pytest.mark.parametrize("html_page", [False, True])
async def test_telegram_outage_is_retryable(bot, telegram_bot, html_page):
    telegram_bot.server_error(502 if html_page else 500, html_page=html_page)

    with pytest.raises(TelegramError) as caught:
        await bot.send_message(CHANNEL, "Hello")

    assert caught.value.kind is FailureKind.RETRYABLE
    assert caught.value.error_code == (502 if html_page else 500)
    assert telegram_bot.sent == []


async def test_gateway_timeout_on_a_post_needs_attention_but_on_a_check_is_retried(bot, telegram_bot):
    telegram_bot.server_error(504, html_page=True, times=2)

    with pytest.raises(TelegramError) as posting:
        await bot.send_message(CHANNEL, "Hello")
    with pytest.raises(TelegramError) as checking:
        await bot.get_me()

    assert posting.value.kind is FailureKind.NEEDS_ATTENTION
    assert checking.value.kind is FailureKind.RETRYABLE


async def test_timeout_after_sending_needs_attention_because_the_post_may_be_out(telegram_bot):
    telegram_bot.delay = 1.0
    async with client_with(VALID_TOKEN, telegram_bot.base_url, timeout=0.3) as client:
        with pytest.raises(TelegramError) as caught:
            await client.send_message(CHANNEL, "Hello")

    error = caught.value
    assert error.kind is FailureKind.NEEDS_ATTENTION
    assert "may or may not have been published" in error.message
    assert_no_token(error, VALID_TOKEN)
    # It was out: retrying would have posted it twice.
    assert [m.text for m in telegram_bot.sent] == ["Hello"]


async def test_timeout_of_a_check_is_simply_retryable(telegram_bot):
    telegram_bot.delay = 1.0
    async with client_with(VALID_TOKEN, telegram_bot.base_url, timeout=0.3) as client:
        with pytest.raises(TelegramError) as caught:
            await client.get_chat(CHANNEL)

    assert caught.value.kind is FailureKind.RETRYABLE
    assert_no_token(caught.value, VALID_TOKEN)


async def test_connection_lost_after_sending_needs_attention(bot, telegram_bot):
    telegram_bot.disconnect(method="sendPhoto")

    with pytest.raises(TelegramError) as caught:
        await bot.send_photo(CHANNEL, PHOTO_URL)

    assert caught.value.kind is FailureKind.NEEDS_ATTENTION
    assert len(telegram_bot.sent) == 1
    assert_no_token(caught.value, VALID_TOKEN)


async def test_no_connection_at_all_is_retryable():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with client_with(VALID_TOKEN, f"http://127.0.0.1:{port}", timeout=2.0) as client:
        with pytest.raises(TelegramError) as caught:
            await client.send_message(CHANNEL, "Hello")

    assert caught.value.kind is FailureKind.RETRYABLE
    assert "ConnectError" in caught.value.message
    assert_no_token(caught.value, VALID_TOKEN)


async def test_unreadable_answer_to_a_post_needs_attention(bot, telegram_bot):
    telegram_bot.server_error(200, html_page=True)

    with pytest.raises(TelegramError) as caught:
        await bot.send_message(CHANNEL, "Hello")

    assert caught.value.kind is FailureKind.NEEDS_ATTENTION


async def test_album_sent_in_part_needs_attention(bot, telegram_bot):
    telegram_bot.fail(
        400,
        'Bad Request: failed to send message #2 with the error message "Too Many Requests: retry after 8"',
        method="sendMediaGroup",
    )

    with pytest.raises(TelegramError) as caught:
        await bot.send_media_group(CHANNEL, [MediaItem("photo", PHOTO_URL), MediaItem("photo", PHOTO_URL_2)])

    assert caught.value.kind is FailureKind.NEEDS_ATTENTION
    assert "part of the album" in caught.value.message


async def test_other_refusals_are_permanent_and_quote_telegram(bot, telegram_bot):
    telegram_bot.fail(400, "Bad Request: wrong file identifier/HTTP URL specified", method="sendPhoto")

    with pytest.raises(TelegramError) as caught:
        await bot.send_photo(CHANNEL, PHOTO_URL)

    assert caught.value.kind is FailureKind.PERMANENT
    assert "wrong file identifier/HTTP URL specified" in caught.value.message


# --- the token never leaks --------------------------------------------------------------------------


FAULTS = {
    "flood": lambda fake: fake.flood(3),
    "kicked": lambda fake: fake.kick_bot(CHANNEL),
    "outage": lambda fake: fake.server_error(500),
    "html": lambda fake: fake.server_error(502, html_page=True),
    "migrated": lambda fake: fake.fail(400, "Bad Request: group chat was upgraded", {"migrate_to_chat_id": -100123}),
    "disconnect": lambda fake: fake.disconnect(),
    "echo": lambda fake: fake.fail(400, f"Bad Request: something about /bot{VALID_TOKEN}/sendMessage"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_token_is_never_in_an_exception(bot, telegram_bot, fault):
    FAULTS[fault](telegram_bot)

    with pytest.raises(TelegramError) as caught:
        await bot.send_message(CHANNEL, "Hello")

    assert_no_token(caught.value, VALID_TOKEN)


async def test_token_is_not_in_the_client_repr_nor_in_httpx_log_lines(bot, telegram_bot, caplog):
    caplog.set_level(logging.INFO, logger="httpx")

    await bot.get_me()

    assert VALID_TOKEN not in repr(bot)
    assert any("/bot[redacted]/getMe" in r.getMessage() for r in caplog.records), caplog.text
    assert VALID_TOKEN not in caplog.text


def test_error_survives_pickling_with_its_state():
    error = TelegramError(
        "moved", FailureKind.PERMANENT, method="sendMessage", error_code=400, migrate_to_chat_id=-100777
    )

    copy = pickle.loads(pickle.dumps(error))

    assert (copy.message, copy.kind, copy.migrate_to_chat_id, copy.error_code) == (
        "moved",
        FailureKind.PERMANENT,
        -100777,
        400,
    )


def test_client_takes_its_base_url_from_the_setting_by_default(settings):
    client = TelegramBotClient(VALID_TOKEN)
    assert client.base_url == settings.telegram_api_base_url


# --- links ------------------------------------------------------------------------------------------


def test_message_links():
    assert message_link({"id": CHANNEL_ID, "username": "zavod_news"}, 42) == "https://t.me/zavod_news/42"
    assert message_link({"id": -1001000000002, "type": "channel"}, 7) == "https://t.me/c/1000000002/7"
    assert message_link({"id": -4000000003, "type": "group"}, 7) is None


# --- planning a post --------------------------------------------------------------------------------


def test_plan_text_only_fits_one_message():
    assert plan_telegram_post("Short news.") == [PlannedCall("text", "Short news.")]


@pytest.mark.parametrize("units", [1023, 1024])
def test_plan_caption_up_to_1024_utf16_units_goes_on_the_photo(units):
    text = EMOJI * 12 + "a" * (units - 24)

    assert plan_telegram_post(text, media_count=1) == [PlannedCall("media", text, (0,))]


def test_plan_caption_of_1025_units_goes_as_media_then_text_even_with_fewer_characters():
    text = EMOJI * 12 + "a" * 1001  # 1013 characters: a character count would wrongly call it a caption
    assert utf16_len(text) == 1025

    assert plan_telegram_post(text, media_count=1) == [PlannedCall("media", None, (0,)), PlannedCall("text", text)]


def test_plan_album_of_two_and_of_ten_with_the_caption_on_the_first_item():
    assert plan_telegram_post("Two scenes.", media_count=2) == [PlannedCall("album", "Two scenes.", (0, 1))]
    assert plan_telegram_post("Ten scenes.", media_count=10) == [PlannedCall("album", "Ten scenes.", tuple(range(10)))]


def test_plan_album_with_a_long_text_sends_the_album_then_the_text():
    text = "word " * 400  # 2000 units

    plan = plan_telegram_post(text, media_count=3)

    assert plan == [PlannedCall("album", None, (0, 1, 2)), PlannedCall("text", text.strip())]


def test_plan_more_than_ten_media_makes_even_albums_of_two_to_ten():
    plan = plan_telegram_post("Eleven.", media_count=11)
    assert plan == [PlannedCall("album", "Eleven.", (0, 1, 2, 3, 4, 5)), PlannedCall("album", None, (6, 7, 8, 9, 10))]

    sizes = [len(call.media) for call in plan_telegram_post("", media_count=23)]
    assert sizes == [8, 8, 7] and all(2 <= size <= 10 for size in sizes)


def test_plan_media_without_text_has_no_caption():
    assert plan_telegram_post("   ", media_count=1) == [PlannedCall("media", None, (0,))]


def test_plan_nothing_to_post_is_an_error():
    with pytest.raises(ValueError):
        plan_telegram_post("  \n ")


def test_plan_with_a_custom_caption_limit():
    # An owner may keep captions shorter than Telegram allows.
    assert plan_telegram_post("x" * 600, media_count=1, caption_limit=500)[1] == PlannedCall("text", "x" * 600)


def _words(text: str) -> list[str]:
    return text.split()


def test_plan_text_over_4096_is_split_at_paragraphs():
    paragraphs = [f"Paragraph {n}. " + "Lorem ipsum dolor sit amet. " * 40 for n in range(10)]  # ~1.1k each
    text = "\n\n".join(p.strip() for p in paragraphs)
    assert utf16_len(text) > 2 * MESSAGE_LIMIT

    plan = plan_telegram_post(text)

    assert all(call.kind == "text" for call in plan)
    chunks = [call.text or "" for call in plan]
    assert [c.count("Paragraph") for c in chunks] == [3, 3, 3, 1]  # as many whole paragraphs as fit
    assert all(utf16_len(c) <= MESSAGE_LIMIT for c in chunks)
    assert all(c.endswith("amet.") for c in chunks)  # each ends where a paragraph ends
    assert all(c.startswith("Paragraph") for c in chunks)
    assert _words(" ".join(chunks)) == _words(text)  # nothing lost, no word cut


def test_split_one_long_paragraph_at_sentence_ends():
    text = " ".join(f"Sentence number {n} says something useful?" for n in range(300))

    chunks = split_text(text)

    assert len(chunks) > 1
    assert all(utf16_len(c) <= MESSAGE_LIMIT for c in chunks)
    assert all(c.endswith("?") for c in chunks)
    assert _words(" ".join(chunks)) == _words(text)


def test_split_without_sentences_cuts_between_words_never_inside():
    text = " ".join(f"слово{n}" for n in range(1500))  # Cyrillic, no punctuation

    chunks = split_text(text, 1000)

    assert all(utf16_len(c) <= 1000 for c in chunks)
    assert _words(" ".join(chunks)) == _words(text)


def test_split_counts_emoji_as_two_units():
    text = " ".join([EMOJI * 3] * 2000)  # 6 units + space per word

    chunks = split_text(text)

    assert all(utf16_len(c) <= MESSAGE_LIMIT for c in chunks)
    assert all(len(c) < MESSAGE_LIMIT for c in chunks)
    assert _words(" ".join(chunks)) == _words(text)


def test_split_a_single_word_longer_than_the_limit_is_the_only_hard_cut():
    url = "https://example.test/" + "a" * 5000

    chunks = split_text(f"See {url} now.")

    assert all(utf16_len(c) <= MESSAGE_LIMIT for c in chunks)
    assert "".join(chunks).replace(" ", "") == f"See{url}now."


def test_split_text_that_fits_is_one_piece_and_caption_limits_are_telegrams():
    assert split_text("Fits.") == ["Fits."]
    assert CAPTION_LIMIT == 1024 and MESSAGE_LIMIT == 4096
