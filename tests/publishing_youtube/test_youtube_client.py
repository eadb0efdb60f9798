"""The YouTube channel's clients against the local fake of Google: OAuth, channel check, uploads."""

from __future__ import annotations

import logging
import os
import pickle
import socket
import traceback
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.channels.base import ChannelError, FailureKind
from app.channels.youtube import (
    CHUNK_GRANULARITY,
    DESCRIPTION_MAX_BYTES,
    TAGS_MAX_CHARS,
    TITLE_MAX_CHARS,
    AccessToken,
    GoogleOAuthClient,
    Refreshed,
    RefreshFailed,
    RefreshingAccessToken,
    RefreshRevoked,
    UploadIncomplete,
    VideoMetadata,
    YouTubeClient,
    YouTubeError,
    classify_api_error,
    next_quota_reset,
    prepare_metadata,
    shorts_fit,
    tags_length,
)
from app.config import Settings
from tests.fakes.google_youtube import (
    CHANNEL_ID,
    CHANNEL_TITLE,
    CLIENT_ID,
    CLIENT_SECRET,
    READONLY_SCOPE,
    UPLOAD_SCOPE,
    FakeGoogle,
)

REDIRECT_URI = "http://testserver.local/c/alpha/channels/youtube/callback"
CHUNK = CHUNK_GRANULARITY  # the smallest legal chunk keeps the test files small


def video_bytes(size: int) -> bytes:
    return os.urandom(size)


def public_video(title: str = "Fresh rye loaves, out of the oven") -> VideoMetadata:
    return VideoMetadata(
        title=title,
        description="How we bake rye bread every morning.\n#bakery",
        tags=("bakery", "rye bread"),
        privacy_status="public",
    )


def chunk_puts(google: FakeGoogle) -> list[str]:
    """The Content-Range of every PUT to an upload session, in order."""
    return [r.headers.get("content-range", "") for r in google.requests if r.method == "PUT"]


def first_byte(content_range: str) -> int:
    return int(content_range.split(" ")[1].split("-")[0])


def assert_no_secret(exc: BaseException, *secrets_: str) -> None:
    """No secret anywhere in the exception: text, repr, args, traceback, state, chained exceptions."""
    text = "\n".join([str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc)), repr(vars(exc))])
    for secret in secrets_:
        assert secret not in text
    assert exc.__cause__ is None
    chained = exc.__context__
    while chained is not None:  # nothing that holds the request (headers, URL) may hang off it
        assert not isinstance(chained, httpx.HTTPError)
        chained = chained.__context__


async def connected_tokens(oauth: GoogleOAuthClient, google: FakeGoogle):
    """The owner clicks through the consent screen; Zavod exchanges the code."""
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(oauth.consent_url("state-123", REDIRECT_URI))
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    return await oauth.exchange_code(code, REDIRECT_URI)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/token"


# --- settings ----------------------------------------------------------------------------------------


def test_google_settings_have_googles_addresses_and_hide_the_secret():
    settings = Settings(google_client_secret="GOCSPX-do-not-print-me")

    assert settings.google_oauth_authorize_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert settings.google_oauth_token_url == "https://oauth2.googleapis.com/token"
    assert settings.youtube_api_base_url == "https://www.googleapis.com"
    assert settings.google_client_id == ""
    assert "do-not-print-me" not in repr(settings)


# --- consent and code exchange ---------------------------------------------------------------------------


def test_consent_url_asks_for_offline_upload_access(oauth, google):
    url = oauth.consent_url("csrf-state-42", REDIRECT_URI)

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == google.authorize_url
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert params == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": f"{UPLOAD_SCOPE} {READONLY_SCOPE}",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": "csrf-state-42",
    }
    assert CLIENT_SECRET not in url


async def test_consent_screen_redirects_back_with_code_and_state(oauth, google):
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(oauth.consent_url("state-xyz", REDIRECT_URI))

    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    back = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert back["state"] == "state-xyz" and back["code"].startswith("4/")


def test_consent_url_needs_the_oauth_client_configured(google):
    unconfigured = GoogleOAuthClient(client_id="", client_secret="", authorize_url=google.authorize_url)

    with pytest.raises(YouTubeError) as caught:
        unconfigured.consent_url("state", REDIRECT_URI)

    assert caught.value.kind is FailureKind.PERMANENT
    assert "GOOGLE_CLIENT_ID" in caught.value.message


async def test_code_exchange_gives_the_refresh_token_to_store(oauth, google):
    tokens = await connected_tokens(oauth, google)

    assert tokens.refresh_token in google.refresh_tokens
    assert tokens.access_token.value in google.access_tokens
    assert tokens.scopes == {UPLOAD_SCOPE, READONLY_SCOPE}
    assert tokens.access_token.expires_at > datetime.now(UTC) + timedelta(minutes=55)
    exchange = [r for r in google.requests if r.path == "/token"][-1]
    assert exchange.form["grant_type"] == "authorization_code"
    assert exchange.form["redirect_uri"] == REDIRECT_URI
    # repr (what a log line or a traceback would show) masks both tokens.
    assert tokens.refresh_token not in repr(tokens) and tokens.access_token.value not in repr(tokens)


async def test_code_exchange_without_refresh_token_tells_the_owner_to_remove_access_and_reconnect(oauth, google):
    google.omit_refresh_token = True  # what Google does when the account had allowed Zavod before

    with pytest.raises(YouTubeError) as caught:
        await connected_tokens(oauth, google)

    error = caught.value
    assert error.kind is FailureKind.PERMANENT and error.reconnect_needed
    assert error.reason == "no_refresh_token"
    assert "https://myaccount.google.com/permissions" in error.message
    assert "remove Zavod's access" in error.message
    assert_no_secret(error, CLIENT_SECRET, *google.access_tokens)


async def test_code_exchange_refuses_a_grant_without_the_upload_permission(oauth, google):
    google.grant_scopes = (READONLY_SCOPE,)  # the owner unticked "Manage your YouTube videos"

    with pytest.raises(YouTubeError) as caught:
        await connected_tokens(oauth, google)

    assert caught.value.reason == "scope_not_granted"
    assert caught.value.kind is FailureKind.PERMANENT


async def test_a_used_code_is_refused_permanently(oauth, google):
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(oauth.consent_url("s", REDIRECT_URI))
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    await oauth.exchange_code(code, REDIRECT_URI)

    with pytest.raises(YouTubeError) as caught:
        await oauth.exchange_code(code, REDIRECT_URI)

    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.reason == "invalid_grant"
    assert_no_secret(caught.value, code, CLIENT_SECRET)


async def test_code_exchange_while_google_is_down_is_retryable(oauth, google):
    google.server_error("token", 503)

    with pytest.raises(YouTubeError) as caught:
        await oauth.exchange_code("4/whatever", REDIRECT_URI)

    assert caught.value.kind is FailureKind.RETRYABLE and caught.value.status == 503


# --- refresh: only invalid_grant drops the stored token ------------------------------------------------------


async def test_refresh_gives_a_new_access_token_and_keeps_the_refresh_token(oauth, google):
    _, refresh_token = google.issue_tokens()

    outcome = await oauth.refresh_access_token(refresh_token)

    assert isinstance(outcome, Refreshed)
    assert outcome.keeps_refresh_token and not outcome.revoked
    assert outcome.access_token.value in google.access_tokens
    assert outcome.new_refresh_token is None
    assert refresh_token not in repr(outcome) and outcome.access_token.value not in repr(outcome)
    sent = google.requests[-1].form
    assert sent == {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


async def test_a_revoked_refresh_token_means_reconnect(oauth, google):
    _, refresh_token = google.issue_tokens()
    google.revoke(refresh_token)

    outcome = await oauth.refresh_access_token(refresh_token)

    assert isinstance(outcome, RefreshRevoked)
    assert outcome.revoked and not outcome.keeps_refresh_token
    assert outcome.description == "Token has been expired or revoked."
    error = outcome.as_error()
    assert error.kind is FailureKind.PERMANENT and error.reconnect_needed
    assert "connect YouTube again" in error.message
    assert_no_secret(error, refresh_token, CLIENT_SECRET)


@pytest.mark.parametrize(
    "fault",
    ["503 html page", "500 json", "429 with Retry-After", "timeout", "no connection", "garbage 200", "wrong secret"],
)
async def test_a_failed_refresh_that_is_not_invalid_grant_keeps_the_refresh_token(google, fault):
    _, refresh_token = google.issue_tokens()
    token_url, secret, timeout = google.token_url, CLIENT_SECRET, 5.0
    if fault == "503 html page":
        google.server_error("token", 503)
    elif fault == "500 json":
        google.fail("token", 500, {"error": "internal_failure", "error_description": "Backend Error"})
    elif fault == "429 with Retry-After":
        google.fail(
            "token",
            429,
            {"error": "rate_limit_exceeded", "error_description": "Rate Limit Exceeded"},
            headers={"Retry-After": "30"},
        )
    elif fault == "timeout":
        google.token_delay, timeout = 1.0, 0.2
    elif fault == "no connection":
        token_url = closed_port_url()
    elif fault == "garbage 200":
        google.fail("token", 200, "<html>captive portal</html>")
    elif fault == "wrong secret":
        secret = "GOCSPX-rotated-by-someone"

    async with GoogleOAuthClient(
        client_id=CLIENT_ID, client_secret=secret, token_url=token_url, timeout=timeout
    ) as client:
        outcome = await client.refresh_access_token(refresh_token)

    # The type says it all: not Refreshed, and above all not RefreshRevoked.
    assert isinstance(outcome, RefreshFailed)
    assert not isinstance(outcome, RefreshRevoked)
    assert outcome.keeps_refresh_token and not outcome.revoked
    error = outcome.as_error()
    assert not error.reconnect_needed
    expected = FailureKind.PERMANENT if fault == "wrong secret" else FailureKind.RETRYABLE
    assert outcome.kind is expected and error.kind is expected
    if fault == "429 with Retry-After":
        assert outcome.retry_after == 30
    if fault == "timeout":
        assert outcome.reason == "timeout"
    if fault == "wrong secret":
        assert "GOOGLE_CLIENT_SECRET" in outcome.message and "kept" in outcome.message
    assert_no_secret(error, refresh_token, secret)
    assert refresh_token not in repr(outcome)


async def test_refreshing_token_source_raises_reconnect_only_for_a_revoked_token(oauth, google):
    _, refresh_token = google.issue_tokens()

    google.server_error("token", 503)
    transient = RefreshingAccessToken(oauth, refresh_token)
    with pytest.raises(YouTubeError) as caught:
        await transient.token()
    assert caught.value.kind is FailureKind.RETRYABLE and not caught.value.reconnect_needed
    assert isinstance(transient.last_outcome, RefreshFailed)

    google.revoke(refresh_token)
    revoked = RefreshingAccessToken(oauth, refresh_token)
    with pytest.raises(YouTubeError) as caught:
        await revoked.token()
    assert caught.value.kind is FailureKind.PERMANENT and caught.value.reconnect_needed
    assert isinstance(revoked.last_outcome, RefreshRevoked)


async def test_refreshing_token_source_reuses_a_token_that_is_still_fresh(oauth, google):
    access, refresh_token = google.issue_tokens()
    current = AccessToken(access, datetime.now(UTC) + timedelta(minutes=30))
    source = RefreshingAccessToken(oauth, refresh_token, current)

    assert await source.token() == access
    assert source.refreshes == 0 and not [r for r in google.requests if r.path == "/token"]

    stale = RefreshingAccessToken(oauth, refresh_token, AccessToken(access, datetime.now(UTC) + timedelta(seconds=10)))
    assert await stale.token() != access  # about to expire: refreshed first
    assert stale.refreshes == 1


# --- channel check --------------------------------------------------------------------------------------------


async def test_check_channel_names_the_connected_channel(oauth, youtube, google):
    tokens = await connected_tokens(oauth, google)

    channel = await youtube.check_channel(tokens.access_token.value)

    assert channel.channel_id == CHANNEL_ID and channel.title == CHANNEL_TITLE
    request = google.requests[-1]
    assert request.path == "/youtube/v3/channels"
    assert request.params == {"part": "snippet", "mine": "true"}
    assert request.bearer == tokens.access_token.value


async def test_check_channel_of_an_account_without_a_channel(youtube, google):
    access, _ = google.issue_tokens()
    google.has_channel = False

    with pytest.raises(YouTubeError) as caught:
        await youtube.check_channel(access)

    assert caught.value.kind is FailureKind.PERMANENT and caught.value.reason == "noChannel"


async def test_an_expired_access_token_is_refreshed_once_and_the_call_repeated(oauth, youtube, google):
    access, refresh_token = google.issue_tokens()
    source = RefreshingAccessToken(oauth, refresh_token, AccessToken(access, datetime.now(UTC) + timedelta(hours=1)))
    google.expire_access_tokens()

    channel = await youtube.check_channel(source)

    assert channel.channel_id == CHANNEL_ID
    assert source.refreshes == 1
    channel_calls = [r for r in google.requests if r.path == "/youtube/v3/channels"]
    assert [r.bearer for r in channel_calls] == [access, source.current.value]


async def test_an_expired_plain_access_token_is_retryable_not_a_disconnect(youtube, google):
    access, _ = google.issue_tokens()
    google.expire_access_tokens()

    with pytest.raises(YouTubeError) as caught:
        await youtube.check_channel(access)

    assert caught.value.kind is FailureKind.RETRYABLE and not caught.value.reconnect_needed
    assert_no_secret(caught.value, access)


# --- uploads ----------------------------------------------------------------------------------------------------


async def test_multi_chunk_upload_from_a_file_arrives_byte_for_byte(youtube, google, tmp_path: Path):
    access, _ = google.issue_tokens()
    data = video_bytes(3 * CHUNK + 12_345)
    path = tmp_path / "story.mp4"
    path.write_bytes(data)
    seen: list[tuple[int, int]] = []

    result = await youtube.upload_video(
        access, public_video(), path, chunk_size=CHUNK, progress=lambda done, total: seen.append((done, total))
    )

    assert google.video_bytes[result.video_id] == data
    assert result.privacy_status == "public" and result.upload_status == "uploaded"
    assert not result.locked_private and result.warning is None
    assert result.url == f"https://www.youtube.com/watch?v={result.video_id}"
    assert result.bytes_sent == len(data) and result.sessions == 1
    total = len(data)
    assert chunk_puts(google) == [
        f"bytes 0-{CHUNK - 1}/{total}",
        f"bytes {CHUNK}-{2 * CHUNK - 1}/{total}",
        f"bytes {2 * CHUNK}-{3 * CHUNK - 1}/{total}",
        f"bytes {3 * CHUNK}-{total - 1}/{total}",
    ]
    assert seen[-1] == (total, total) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    start = next(r for r in google.requests if r.method == "POST")
    assert start.params == {"uploadType": "resumable", "part": "snippet,status"}
    assert start.headers["x-upload-content-length"] == str(total)
    assert start.headers["x-upload-content-type"] == "video/mp4"
    assert start.headers["content-type"] == "application/json; charset=UTF-8"
    session = next(iter(google.sessions.values()))
    assert session.metadata == {
        "snippet": {
            "title": "Fresh rye loaves, out of the oven",
            "description": "How we bake rye bread every morning.\n#bakery",
            "categoryId": "22",
            "tags": ["bakery", "rye bread"],
        },
        "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": False},
    }


async def test_an_interrupted_upload_resumes_from_the_range_the_server_reports(youtube, google, tmp_path: Path):
    access, _ = google.issue_tokens()
    data = video_bytes(4 * CHUNK + 777)
    path = tmp_path / "story.mp4"
    path.write_bytes(data)
    cut = CHUNK + CHUNK // 2 + 1001  # mid-chunk and not on a 256 KiB boundary
    google.drop_connection_at(cut)

    result = await youtube.upload_video(access, public_video(), path, chunk_size=CHUNK)

    assert google.video_bytes[result.video_id] == data
    puts = chunk_puts(google)
    status_query = puts.index(f"bytes */{len(data)}")
    assert first_byte(puts[status_query - 1]) == CHUNK  # the chunk that was cut
    # The upload goes on exactly where the server said it stopped, not at a chunk boundary.
    assert first_byte(puts[status_query + 1]) == cut
    assert google.bytes_received_total < 2 * len(data)
    assert result.bytes_sent < 2 * len(data)
    assert len(google.videos) == 1


async def test_an_interrupted_upload_from_a_stream_resumes_too(youtube, google):
    access, _ = google.issue_tokens()
    data = video_bytes(3 * CHUNK + 10)
    google.drop_connection_at(2 * CHUNK + 5000)

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 100_000):  # pieces that do not line up with chunks
            yield data[start : start + 100_000]

    result = await youtube.upload_video(access, public_video(), stream(), len(data), chunk_size=CHUNK)

    assert google.video_bytes[result.video_id] == data
    assert f"bytes */{len(data)}" in chunk_puts(google)


async def test_a_503_on_a_chunk_asks_the_session_and_carries_on(youtube, google):
    access, _ = google.issue_tokens()
    data = video_bytes(2 * CHUNK + 1)
    google.server_error("upload_chunk", 503)

    result = await youtube.upload_video(access, public_video(), data, chunk_size=CHUNK)

    assert google.video_bytes[result.video_id] == data
    assert chunk_puts(google)[:3] == [
        f"bytes 0-{CHUNK - 1}/{len(data)}",
        f"bytes */{len(data)}",
        f"bytes 0-{CHUNK - 1}/{len(data)}",
    ]


async def test_an_interruption_of_the_last_chunk_finds_the_video_without_uploading_twice(youtube, google):
    access, _ = google.issue_tokens()
    data = video_bytes(CHUNK + 50)
    google.drop_connection_at(len(data) - 1)  # everything but the last byte arrives

    result = await youtube.upload_video(access, public_video(), data, chunk_size=CHUNK)

    assert google.video_bytes[result.video_id] == data
    assert len(google.videos) == 1 and len(google.sessions) == 1


async def test_retries_run_out_then_the_same_session_is_resumed_later(youtube, google):
    access, _ = google.issue_tokens()
    data = video_bytes(2 * CHUNK + 3)
    stored_sessions: list[str] = []
    google.drop_connection_at(CHUNK + 10)
    google.server_error("upload_status", 503, times=None)  # Google stays down after the cut

    with pytest.raises(UploadIncomplete) as caught:
        await youtube.upload_video(access, public_video(), data, chunk_size=CHUNK, on_session=stored_sessions.append)

    incomplete = caught.value
    assert incomplete.kind is FailureKind.RETRYABLE
    assert incomplete.session_url == stored_sessions[0]
    assert incomplete.bytes_received == CHUNK and not incomplete.final_chunk_sent
    assert "upload_id" not in repr(incomplete) and incomplete.session_url not in str(incomplete)
    assert_no_secret(incomplete, access)  # the session URL is kept on purpose, for the resume, but never shown

    google.clear_faults()  # the next job attempt, with the stored session URL
    result = await youtube.upload_video(access, public_video(), data, chunk_size=CHUNK, session_url=stored_sessions[0])

    assert google.video_bytes[result.video_id] == data
    assert len(google.sessions) == 1 and len(google.videos) == 1


async def test_resuming_a_finished_session_returns_the_video_instead_of_uploading_again(youtube, google):
    access, _ = google.issue_tokens()
    data = video_bytes(CHUNK)
    sessions: list[str] = []
    first = await youtube.upload_video(access, public_video(), data, chunk_size=CHUNK, on_session=sessions.append)

    # A crash lost the answer; the retry resumes the stored session and finds the finished video.
    again = await youtube.upload_video(access, public_video(), data, chunk_size=CHUNK, session_url=sessions[0])

    assert again.video_id == first.video_id and again.bytes_sent == 0
    assert len(google.videos) == 1


async def test_a_stored_session_that_expired_is_started_again_only_when_its_last_byte_never_went_out(youtube, google):
    access, _ = google.issue_tokens()
    data = video_bytes(CHUNK + 10)
    stale = await youtube.start_upload(access, public_video(), total_size=len(data))
    google.expire_session(stale)

    with pytest.raises(YouTubeError) as caught:  # unknown history: the video may exist
        await youtube.upload_video(access, public_video(), data, chunk_size=CHUNK, session_url=stale)
    assert caught.value.kind is FailureKind.NEEDS_ATTENTION

    # UploadIncomplete said the last byte never went out: a new session is safe.
    result = await youtube.upload_video(
        access, public_video(), data, chunk_size=CHUNK, session_url=stale, final_chunk_may_be_sent=False
    )
    assert google.video_bytes[result.video_id] == data
    assert len(google.videos) == 1 and len(google.sessions) == 2


async def test_an_expired_session_is_started_again(youtube, google):
    access, _ = google.issue_tokens()
    data = video_bytes(3 * CHUNK)
    sessions: list[str] = []

    def expire_after_first_chunk(done: int, total: int) -> None:
        if done == CHUNK and len(sessions) == 1:
            google.expire_session(sessions[0])

    result = await youtube.upload_video(
        access, public_video(), data, chunk_size=CHUNK, on_session=sessions.append, progress=expire_after_first_chunk
    )

    assert google.video_bytes[result.video_id] == data
    assert result.sessions == 2 and len(sessions) == 2 and sessions[0] != sessions[1]
    assert len(google.videos) == 1


async def test_a_session_lost_after_the_last_byte_went_out_needs_a_person(google):
    access, _ = google.issue_tokens()
    data = video_bytes(CHUNK + 10)
    google.drop_connection_at(CHUNK + 5)  # the last chunk is cut...

    def backoff(attempt: int) -> float:
        google.expire_session()  # ...and the session is gone when Zavod asks about it
        return 0.0

    async with YouTubeClient(api_base_url=google.base_url, backoff=backoff) as client:
        with pytest.raises(YouTubeError) as caught:
            await client.upload_video(access, public_video(), data, chunk_size=CHUNK)

    assert caught.value.kind is FailureKind.NEEDS_ATTENTION
    assert "YouTube Studio" in caught.value.message
    assert len(google.sessions) == 1  # no second session: that could have made a second video


async def test_an_access_token_expiring_mid_upload_is_refreshed_and_the_upload_goes_on(oauth, youtube, google):
    access, refresh_token = google.issue_tokens()
    source = RefreshingAccessToken(oauth, refresh_token, AccessToken(access, datetime.now(UTC) + timedelta(hours=1)))
    data = video_bytes(3 * CHUNK)

    def expire_after_first_chunk(done: int, total: int) -> None:
        if done == CHUNK:
            google.expire_access_tokens()

    result = await youtube.upload_video(
        source, public_video(), data, chunk_size=CHUNK, progress=expire_after_first_chunk
    )

    assert google.video_bytes[result.video_id] == data
    assert source.refreshes == 1
    statuses = [r.bearer for r in google.requests if r.method == "PUT"]
    assert statuses[0] == access and statuses[-1] == source.current.value


async def test_upload_chunk_size_must_be_a_multiple_of_256_kib(youtube, google):
    with pytest.raises(ValueError, match="256 KiB"):
        await youtube.upload("http://unused", b"x" * 10, auth="token", chunk_size=CHUNK + 1)


# --- privacy -----------------------------------------------------------------------------------------------------


async def test_a_video_locked_to_private_is_reported_not_passed_off_as_public(youtube, google):
    access, _ = google.issue_tokens()
    google.force_private = True  # an API project that has not passed Google's audit

    result = await youtube.upload_video(access, public_video(), video_bytes(1000), chunk_size=CHUNK)

    assert result.locked_private
    assert result.requested_privacy == "public" and result.privacy_status == "private"
    assert "private" in result.warning and "audit" in result.warning and "YouTube Studio" in result.warning


async def test_a_private_upload_asked_as_private_is_not_a_lock(youtube, google):
    access, _ = google.issue_tokens()
    google.force_private = True
    private = VideoMetadata(title="Behind the scenes", privacy_status="private")

    result = await youtube.upload_video(access, private, video_bytes(1000), chunk_size=CHUNK)

    assert not result.locked_private and result.warning is None


async def test_a_later_lock_to_private_shows_in_the_video_status(youtube, google):
    access, _ = google.issue_tokens()
    result = await youtube.upload_video(access, public_video(), video_bytes(1000), chunk_size=CHUNK)
    google.lock_private(result.video_id)

    status = await youtube.video_status(access, result.video_id)

    assert status["privacyStatus"] == "private"
    assert await youtube.video_status(access, "doesNotExist") is None


# --- quota and other API errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "reset", "hours"),
    [
        # An ordinary winter evening (PST, UTC-8).
        ("2026-01-15T20:00:00-08:00", "2026-01-16T08:00:00+00:00", 4),
        # The evening before clocks spring forward (2026-03-08 02:00 PST → 03:00 PDT): midnight is still PST.
        ("2026-03-07T22:00:00-08:00", "2026-03-08T08:00:00+00:00", 2),
        # Noon of that 23-hour day: the next midnight is PDT (UTC-7).
        ("2026-03-08T12:00:00-07:00", "2026-03-09T07:00:00+00:00", 12),
        # Half past midnight on the day clocks fall back (2026-11-01 02:00 PDT → 01:00 PST): a 25-hour day.
        ("2026-11-01T00:30:00-07:00", "2026-11-02T08:00:00+00:00", 24.5),
        # The repeated hour itself, second time round (01:30 PST).
        ("2026-11-01T01:30:00-08:00", "2026-11-02T08:00:00+00:00", 22.5),
        # Just before midnight in summer; UTC has long moved to the next day.
        ("2026-07-04T23:59:00-07:00", "2026-07-05T07:00:00+00:00", 1 / 60),
    ],
)
def test_quota_resets_at_the_next_midnight_in_los_angeles(now, reset, hours):
    moment = datetime.fromisoformat(now).astimezone(UTC)

    assert next_quota_reset(moment) == datetime.fromisoformat(reset)
    assert (next_quota_reset(moment) - moment).total_seconds() == pytest.approx(hours * 3600)


def test_quota_reset_needs_an_aware_time():
    with pytest.raises(ValueError):
        next_quota_reset(datetime(2026, 1, 1, 12, 0))  # naive: the point of the test


async def test_quota_exceeded_means_try_after_the_reset_not_now(google):
    access, _ = google.issue_tokens()
    google.quota_exceeded("upload_start")
    fixed_now = datetime.fromisoformat("2026-03-08T09:30:00+00:00")  # 01:30 PST, the night clocks spring forward

    async with YouTubeClient(api_base_url=google.base_url, now=lambda: fixed_now) as client:
        with pytest.raises(YouTubeError) as caught:
            await client.upload_video(access, public_video(), video_bytes(100), chunk_size=CHUNK)

    error = caught.value
    assert isinstance(error, ChannelError)
    assert error.kind is FailureKind.RETRYABLE and error.reason == "quotaExceeded" and error.status == 403
    assert error.retry_at == datetime.fromisoformat("2026-03-09T07:00:00+00:00")  # midnight PDT
    assert error.retry_after == pytest.approx(21.5 * 3600)  # the rest of a 23-hour day
    assert "midnight Pacific time" in error.message
    assert "<a href" not in (error.description or "") and "quota" in error.description
    assert not google.sessions  # nothing was started


async def test_upload_limit_and_rate_limit_are_retryable_with_their_own_waits(youtube, google):
    access, _ = google.issue_tokens()
    google.upload_limit_exceeded()
    with pytest.raises(YouTubeError) as caught:
        await youtube.upload_video(access, public_video(), video_bytes(100), chunk_size=CHUNK)
    assert caught.value.kind is FailureKind.RETRYABLE and caught.value.retry_after == 24 * 3600

    google.rate_limited("upload_start")
    with pytest.raises(YouTubeError) as caught:
        await youtube.upload_video(access, public_video(), video_bytes(100), chunk_size=CHUNK)
    assert caught.value.kind is FailureKind.RETRYABLE and caught.value.retry_after == 60


async def test_metadata_youtube_refuses_is_permanent_and_says_what_to_fix(youtube, google, monkeypatch):
    access, _ = google.issue_tokens()
    # Past our own check, to see how YouTube's answer is read.
    monkeypatch.setattr(VideoMetadata, "problems", lambda self: [])

    with pytest.raises(YouTubeError) as caught:
        await youtube.upload_video(access, public_video("Bread <3 butter"), video_bytes(100), chunk_size=CHUNK)

    assert caught.value.kind is FailureKind.PERMANENT and caught.value.reason == "invalidTitle"
    assert "100 characters" in caught.value.message and "< or >" in caught.value.message


async def test_metadata_is_checked_before_any_quota_is_spent(youtube, google):
    access, _ = google.issue_tokens()

    with pytest.raises(YouTubeError) as caught:
        await youtube.start_upload(access, public_video("x" * 101), total_size=100)

    assert caught.value.kind is FailureKind.PERMANENT
    assert "101" in caught.value.message
    assert not google.requests


async def test_insufficient_scope_is_a_reconnect(youtube, google):
    access, _ = google.issue_tokens(scopes=(READONLY_SCOPE,))

    with pytest.raises(YouTubeError) as caught:
        await youtube.start_upload(access, public_video(), total_size=100)

    assert caught.value.reason == "insufficientPermissions" and caught.value.reconnect_needed


def test_unknown_google_errors_keep_googles_words_without_html():
    error = classify_api_error(
        403,
        {"error": {"code": 403, "message": "Nope, see <a href='x'>here</a>.", "errors": [{"reason": "forbidden"}]}},
        {},
        datetime.now(UTC),
    )

    assert error.kind is FailureKind.PERMANENT and "Nope, see here." in error.message


def test_youtube_errors_survive_pickling():
    error = YouTubeError(
        "m", FailureKind.RETRYABLE, 5.0, reason="quotaExceeded", retry_at=datetime(2026, 1, 1, tzinfo=UTC)
    )

    copy = pickle.loads(pickle.dumps(error))

    assert copy.reason == "quotaExceeded" and copy.retry_at == error.retry_at and copy.kind is FailureKind.RETRYABLE


async def test_session_urls_are_redacted_from_httpx_logs(youtube, google, caplog):
    access, _ = google.issue_tokens()
    caplog.set_level(logging.INFO, logger="httpx")

    await youtube.upload_video(access, public_video(), video_bytes(1000), chunk_size=CHUNK)

    upload_id = next(iter(google.sessions))
    assert "upload_id=[redacted]" in caplog.text
    assert upload_id not in caplog.text


# --- metadata limits --------------------------------------------------------------------------------------------


def test_prepare_metadata_leaves_what_fits_alone():
    prepared = prepare_metadata("Fresh rye", "Every morning.", ["bakery", "rye"])

    assert (prepared.title, prepared.description, prepared.tags, prepared.notes) == (
        "Fresh rye",
        "Every morning.",
        ("bakery", "rye"),
        (),
    )
    assert prepared.metadata("public").problems() == []


def test_prepare_metadata_shortens_a_long_title_and_says_so():
    title = "The bakery on the corner of Fifth and Main opens a second shop " * 3

    prepared = prepare_metadata(title)

    assert len(prepared.title) <= TITLE_MAX_CHARS and prepared.title.endswith("\u2026")
    assert any("title was shortened" in note for note in prepared.notes)
    assert prepared.metadata().problems() == []


def test_prepare_metadata_replaces_angle_brackets_youtube_refuses():
    prepared = prepare_metadata("Bread <3 butter", "A > B and <b>bold</b>")

    assert "<" not in prepared.title and ">" not in prepared.description
    assert prepared.title == "Bread \u20393 butter"
    assert len(prepared.notes) == 2


def test_prepare_metadata_counts_the_description_in_bytes():
    description = "Хлеб " * 1500  # Cyrillic: 2 bytes a letter, 7500 characters, 13500 bytes

    prepared = prepare_metadata("Хлеб", description)

    assert len(prepared.description.encode("utf-8")) <= DESCRIPTION_MAX_BYTES
    assert prepared.description.endswith("\u2026")
    assert any("bytes" in note for note in prepared.notes)


def test_prepare_metadata_drops_tags_past_500_characters_and_names_them():
    tags = ["#bakery", "rye bread", "bakery", *[f"tag number {n:03d}" for n in range(60)]]

    prepared = prepare_metadata("Bread", tags=tags)

    assert prepared.tags[:2] == ("bakery", "rye bread")  # no #, no repeat
    assert tags_length(prepared.tags) <= TAGS_MAX_CHARS
    assert any("were left out" in note and "tag number 059" in note for note in prepared.notes)
    assert any("no leading #" in note for note in prepared.notes)


def test_prepare_metadata_refuses_an_empty_title():
    with pytest.raises(YouTubeError) as caught:
        prepare_metadata("   \n ")

    assert caught.value.kind is FailureKind.PERMANENT


def test_tags_length_counts_commas_and_quotes_like_youtube():
    assert tags_length([]) == 0
    assert tags_length(["bread"]) == 5
    assert tags_length(["rye bread", "bakery"]) == len('"rye bread",bakery')


def test_video_metadata_lists_every_problem():
    bad = VideoMetadata(title="x" * 101 + "<", description="é" * 2501, tags=("a" * 501,), privacy_status="friends")

    problems = bad.problems()

    assert len(problems) == 5


# --- Shorts ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "seconds", "fits"),
    [
        (1080, 1920, 30, True),  # vertical, short
        (1080, 1080, 59, True),  # square
        (1080, 1920, 180, True),  # exactly three minutes
        (1080, 1920, 181, False),  # a second too long
        (1920, 1080, 30, False),  # horizontal
        (1080, 1920, 0, False),  # length unknown
        (0, 0, 30, False),  # size unknown
    ],
)
def test_shorts_fit(width, height, seconds, fits):
    verdict = shorts_fit(width, height, seconds)

    assert bool(verdict) is fits and verdict.fits is fits
    assert (verdict.reasons == ()) is fits


def test_shorts_fit_says_every_reason():
    verdict = shorts_fit(1920, 1080, 240)

    assert len(verdict.reasons) == 2
    assert any("horizontal" in r for r in verdict.reasons) and any("240" in r for r in verdict.reasons)


# --- no secrets in reprs ---------------------------------------------------------------------------------------------


async def test_clients_and_tokens_do_not_show_secrets(oauth, google):
    access, refresh_token = google.issue_tokens()
    source = RefreshingAccessToken(oauth, refresh_token, AccessToken(access, datetime.now(UTC)))

    shown = " ".join([repr(oauth), repr(source), repr(AccessToken(access, datetime.now(UTC)))])

    for secret in (CLIENT_SECRET, access, refresh_token):
        assert secret not in shown
