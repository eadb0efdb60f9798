"""The OpenAI-compatible story writer, end to end against the fake Chat Completions API."""

from __future__ import annotations

import json
import logging
import socket

import pytest

from app.ai.base import NETWORKS, ProviderError, StoryDraft, TextRequest
from app.ai.http import OpenAICompatibleConfig, OpenAICompatibleTextProvider, Timeouts, openai_text_provider
from app.ai.local_text import utf8_len, utf16_len
from tests.ai_http.fakes import OPENAI_KEY, FakeOpenAI, story_json

REQ = TextRequest(
    title="Solar park opens - City News",
    text="<p>The city opened a solar park on Monday.</p><p>It powers ten thousand homes.</p>",
    language="en",
    scene_count=4,
    source_url="https://news.example/solar",
)
LIMITS = {"telegram": (1024, utf16_len), "instagram": (2200, utf16_len), "youtube": (5000, utf8_len)}


def provider(fake: FakeOpenAI, **options: object) -> OpenAICompatibleTextProvider:
    options.setdefault("timeouts", Timeouts(connect=2, read=2, write=2, total=5))
    return openai_text_provider(f"{fake.base_url}/v1", OPENAI_KEY, "gpt-test", **options)  # type: ignore[arg-type]


def assert_publishable(draft: StoryDraft, scene_count: int) -> None:
    assert draft.title and len(draft.title) <= 100 and "<" not in draft.title
    assert draft.body and draft.lead
    assert len(draft.scenes) == scene_count and all(s.strip() for s in draft.scenes)
    assert set(draft.captions) == set(NETWORKS)
    for network, (limit, measure) in LIMITS.items():
        assert draft.captions[network].strip()
        assert measure(draft.captions[network]) <= limit, network
    assert "<" not in draft.captions["youtube"] and ">" not in draft.captions["youtube"]
    assert draft.captions["instagram"].count("#") <= 30
    assert all(t.startswith("#") and " " not in t for t in draft.hashtags)


async def test_a_story_from_a_well_behaved_model(openai_fake: FakeOpenAI) -> None:
    async with provider(openai_fake, system_prompt="You write for Agency X.", temperature=0.3) as writer:
        draft = await writer.generate_story(REQ)
    assert_publishable(draft, 4)
    assert draft.title == "City opens a new solar park"
    assert draft.scenes[0].startswith("Scene 1")
    assert draft.hashtags == ["#Solar", "#Energy", "#City"]
    assert draft.captions["telegram"].endswith("#Solar #Energy #City")

    (request,) = openai_fake.requests_to("/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["model"] == "gpt-test"
    assert body["temperature"] == 0.3
    assert body["response_format"] == {"type": "json_object"}
    system, user = body["messages"]
    assert system["role"] == "system" and system["content"].startswith("You write for Agency X.")
    assert "exactly 4 strings" in system["content"]
    assert user["role"] == "user"
    assert "Number of scenes: 4" in user["content"]
    assert "The city opened a solar park on Monday." in user["content"]
    assert "<p>" not in user["content"]  # the source is cleaned before it is sent


async def test_json_inside_fences_and_prose_is_found(openai_fake: FakeOpenAI) -> None:
    openai_fake.chat_content = lambda n: "Sure! Here is the story:\n```json\n" + story_json(n) + "\n```\nEnjoy."
    async with provider(openai_fake) as writer:
        draft = await writer.generate_story(REQ)
    assert_publishable(draft, 4)


@pytest.mark.parametrize("given", [1, 2, 9])
async def test_the_scene_count_is_always_the_one_asked_for(openai_fake: FakeOpenAI, given: int) -> None:
    openai_fake.chat_content = lambda n: story_json(
        n, scenes=[f"Part {i} of the story. It has two sentences here." for i in range(given)]
    )
    async with provider(openai_fake) as writer:
        draft = await writer.generate_story(REQ)
    assert_publishable(draft, 4)
    assert " ".join(draft.scenes).startswith("Part 0 of the story.")


async def test_captions_too_long_are_cut_at_sentences_keeping_the_hashtags(openai_fake: FakeOpenAI) -> None:
    sentence = "Солнечный парк даёт энергию десяти тысячам домов 🌞. "
    tags = " ".join(f"#tag{i}" for i in range(40))
    captions = {
        "telegram": sentence * 60 + "\n\n#Solar #Energy",
        "instagram": sentence * 100 + f"\n\n{tags}",
        "youtube": "Watch: 5 > 3. " + sentence * 200,
    }
    openai_fake.chat_content = lambda n: story_json(n, captions=captions, title="<b>Парк</b> " + "очень " * 40)
    async with provider(openai_fake) as writer:
        draft = await writer.generate_story(REQ)
    assert_publishable(draft, 4)
    assert draft.captions["telegram"].endswith("…\n\n#Solar #Energy")
    assert draft.captions["instagram"].count("#") == 30
    assert draft.captions["youtube"].startswith("Watch: 5 › 3.")
    assert draft.captions["youtube"].endswith("…\n\n#Solar #Energy #City")  # tags added when missing


async def test_missing_fields_are_filled_from_what_is_there(openai_fake: FakeOpenAI) -> None:
    openai_fake.chat_content = json.dumps(
        {
            "headline": "Solar park",
            "text": "The park opened. It powers homes. Everyone is happy.",
            "tags": "solar, green energy",
        }
    )
    async with provider(openai_fake) as writer:
        draft = await writer.generate_story(REQ)
    assert_publishable(draft, 4)
    assert draft.title == "Solar park"
    assert draft.lead == "The park opened."
    assert draft.hashtags == ["#Solar", "#GreenEnergy"]
    assert draft.captions["youtube"].startswith("The park opened.")
    assert "https://news.example/solar" in draft.captions["youtube"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("I cannot help with that, sorry.", "no JSON object"),
        ('{"title": "Only a title"}', "story text is missing"),
        ("[1, 2, 3]", "no JSON object"),
    ],
)
async def test_unusable_answers_fail_readably(openai_fake: FakeOpenAI, content: str, words: str) -> None:
    openai_fake.chat_content = content
    async with provider(openai_fake) as writer:
        with pytest.raises(ProviderError) as info:
            await writer.generate_story(REQ)
    assert words in str(info.value)
    assert info.value.retryable is False


async def test_a_refusal_and_a_cut_off_answer(openai_fake: FakeOpenAI) -> None:
    openai_fake.chat_content = ""
    openai_fake.refusal = "I can't write about this topic."
    async with provider(openai_fake) as writer:
        with pytest.raises(ProviderError, match="declined to write this: I can't write about this topic"):
            await writer.generate_story(REQ)
        openai_fake.refusal = None
        openai_fake.chat_content = story_json(4)[:120]
        openai_fake.finish_reason = "length"
        with pytest.raises(ProviderError, match="cut off"):
            await writer.generate_story(REQ)


async def test_servers_without_response_format_get_asked_again_without_it(openai_fake: FakeOpenAI) -> None:
    openai_fake.accepts_response_format = False
    async with provider(openai_fake) as writer:
        draft = await writer.generate_story(REQ)
    assert_publishable(draft, 4)
    first, second = openai_fake.requests_to("/v1/chat/completions")
    assert "response_format" in first.json() and "response_format" not in second.json()


async def test_json_mode_can_be_switched_off(openai_fake: FakeOpenAI) -> None:
    async with provider(openai_fake, json_mode=False, max_tokens=900) as writer:
        await writer.generate_story(REQ)
    body = openai_fake.requests_to("/v1/chat/completions")[0].json()
    assert "response_format" not in body and body["max_tokens"] == 900


async def test_rewrite(openai_fake: FakeOpenAI) -> None:
    openai_fake.chat_content = "  A shorter text.  "
    async with provider(openai_fake) as writer:
        assert await writer.rewrite("A long text that goes on.", "make it shorter", language="en") == "A shorter text."
    body = openai_fake.requests_to("/v1/chat/completions")[0].json()
    assert "response_format" not in body
    assert "Instruction: make it shorter" in body["messages"][1]["content"]


# --- failures ---------------------------------------------------------------------------------------


async def test_a_refused_key_is_not_retryable_and_never_quoted(
    openai_fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-9876543210zyxwvuSECRETKEY"
    writer = openai_text_provider(f"{openai_fake.base_url}/v1", wrong, "gpt-test")
    try:
        with pytest.raises(ProviderError) as info:
            await writer.generate_story(REQ)
    finally:
        await writer.aclose()
    error = info.value
    assert error.retryable is False and error.status_code == 401
    assert "refused the API key" in str(error)
    for text in (str(error), repr(error), repr(writer), repr(writer.config), caplog.text):
        assert wrong not in text and "SECRETKEY" not in text


async def test_429_is_retryable_and_carries_retry_after(openai_fake: FakeOpenAI) -> None:
    openai_fake.fail(
        429,
        {"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}},
        headers={"Retry-After": "7"},
    )
    async with provider(openai_fake) as writer:
        with pytest.raises(ProviderError) as info:
            await writer.generate_story(REQ)
        assert info.value.retryable is True and info.value.retry_after == 7
        assert "7 seconds" in str(info.value)
        # The limit has passed: the next attempt works.
        assert_publishable(await writer.generate_story(REQ), 4)


async def test_out_of_quota_is_not_retryable(openai_fake: FakeOpenAI) -> None:
    openai_fake.fail(
        429,
        {
            "error": {
                "message": "You exceeded your current quota.",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            }
        },
    )
    async with provider(openai_fake) as writer:
        with pytest.raises(ProviderError) as info:
            await writer.generate_story(REQ)
    assert info.value.retryable is False and "quota" in str(info.value)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(openai_fake: FakeOpenAI, status: int) -> None:
    openai_fake.fail(status, b"<html><h1>Bad Gateway</h1></html>", content_type="text/html")
    async with provider(openai_fake) as writer:
        with pytest.raises(ProviderError) as info:
            await writer.generate_story(REQ)
    assert info.value.retryable is True and info.value.status_code == status
    assert f"HTTP {status}" in str(info.value)


async def test_a_bad_request_quotes_the_provider(openai_fake: FakeOpenAI) -> None:
    async with provider(openai_fake, temperature=5.0) as writer:
        with pytest.raises(ProviderError) as info:
            await writer.generate_story(REQ)
    assert info.value.retryable is False
    assert "Invalid 'temperature': must be between 0 and 2." in str(info.value)


async def test_an_unknown_model(openai_fake: FakeOpenAI) -> None:
    writer = openai_text_provider(f"{openai_fake.base_url}/v1", OPENAI_KEY, "gpt-nope")
    with pytest.raises(ProviderError) as info:
        await writer.generate_story(REQ)
    await writer.aclose()
    assert info.value.retryable is False and "HTTP 404" in str(info.value) and "gpt-nope" in str(info.value)


async def test_a_slow_answer_times_out_retryably(openai_fake: FakeOpenAI) -> None:
    openai_fake.delay = 1.5
    async with provider(openai_fake, timeouts=Timeouts(connect=1, read=0.3, write=1, total=5)) as writer:
        with pytest.raises(ProviderError) as info:
            await writer.generate_story(REQ)
    assert info.value.retryable is True
    assert "stopped answering" in str(info.value)


async def test_the_total_time_limit(openai_fake: FakeOpenAI) -> None:
    openai_fake.delay = 1.5
    async with provider(openai_fake, timeouts=Timeouts(connect=1, read=5, write=1, total=0.4)) as writer:
        with pytest.raises(ProviderError) as info:
            await writer.generate_story(REQ)
    assert info.value.retryable is True
    assert "took longer than 0.4 seconds" in str(info.value)


async def test_nobody_listening_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    writer = openai_text_provider(f"http://127.0.0.1:{port}/v1", OPENAI_KEY, "gpt-test")
    with pytest.raises(ProviderError) as info:
        await writer.generate_story(REQ)
    await writer.aclose()
    assert info.value.retryable is True and f"127.0.0.1:{port}" in str(info.value)


async def test_a_web_page_instead_of_the_api_is_not_retryable(openai_fake: FakeOpenAI) -> None:
    openai_fake.fail(200, b"<!doctype html><html><body>Welcome to nginx!</body></html>", content_type="text/html")
    async with provider(openai_fake) as writer:
        with pytest.raises(ProviderError) as info:
            await writer.generate_story(REQ)
    assert info.value.retryable is False
    assert "not the expected JSON" in str(info.value) and "text/html" in str(info.value)


async def test_json_without_choices(openai_fake: FakeOpenAI) -> None:
    openai_fake.fail(200, {"object": "chat.completion", "choices": []})
    async with provider(openai_fake) as writer:
        with pytest.raises(ProviderError, match="without a message"):
            await writer.generate_story(REQ)


# --- test connection, keyless servers ------------------------------------------------------------


async def test_check_connection(openai_fake: FakeOpenAI) -> None:
    async with provider(openai_fake) as writer:
        check = await writer.check_connection()
    assert check.ok and "gpt-test" in check.models and "2 models" in check.message
    assert openai_fake.requests_to("/v1/models")[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"

    writer = openai_text_provider(f"{openai_fake.base_url}/v1", OPENAI_KEY, "llama-3-70b")
    check = await writer.check_connection()
    await writer.aclose()
    assert not check.ok and "llama-3-70b" in check.message

    writer = openai_text_provider(f"{openai_fake.base_url}/v1", "sk-bad-000000000000", "gpt-test")
    check = await writer.check_connection()
    await writer.aclose()
    assert not check.ok and "refused the API key" in check.message and "sk-bad" not in check.message


async def test_a_keyless_server_gets_no_authorization_header(cdn: object) -> None:
    fake = FakeOpenAI(key=None).start()
    try:
        writer = OpenAICompatibleTextProvider(
            OpenAICompatibleConfig(base_url=f"{fake.base_url}/v1", model="gpt-test", label="Ollama")
        )
        draft = await writer.generate_story(REQ)
        check = await writer.check_connection()
        await writer.aclose()
    finally:
        fake.stop()
    assert_publishable(draft, 4)
    assert check.ok and "Ollama" in check.message
    assert all("authorization" not in r.headers for r in fake.requests)
