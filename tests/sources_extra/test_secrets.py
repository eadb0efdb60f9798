"""Credentials at rest: round trip, key rotation, tampering, masking, configuration errors."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet

from app.config import get_settings
from app.secrets import SecretBox, SecretError, derive_key, mask

API_KEY = "sk-live-4f9a2c7e1b8d3a6f0e5c9b2a7d4e1f8c"


def test_round_trip_and_tokens_differ() -> None:
    box = SecretBox([SecretBox.generate_key()])
    token = box.encrypt(API_KEY)
    assert API_KEY not in token
    assert box.decrypt(token) == API_KEY
    assert box.encrypt(API_KEY) != token  # random IV: equal secrets do not give equal tokens
    assert box.decrypt(box.encrypt("пароль – ключ ✓")) == "пароль – ключ ✓"


def test_rotation_with_two_keys() -> None:
    old_key, new_key = SecretBox.generate_key(), SecretBox.generate_key()
    old_box = SecretBox.from_env({"CREDENTIALS_KEYS": old_key})
    old_token = old_box.encrypt(API_KEY)

    # Rotation: the new key goes in front, the old one stays for decrypting.
    box = SecretBox.from_env({"CREDENTIALS_KEYS": f" {new_key} , {old_key} "})
    assert box.key_count == 2 and not box.derived
    assert box.decrypt(old_token) == API_KEY

    rotated = box.rotate(old_token)
    assert rotated != old_token
    new_only = SecretBox([new_key])
    assert new_only.decrypt(rotated) == API_KEY
    with pytest.raises(SecretError):
        old_box.decrypt(rotated)
    # New encryptions use the newest key.
    assert new_only.decrypt(box.encrypt("fresh")) == "fresh"


def test_token_from_a_removed_key_is_refused_in_plain_words() -> None:
    token = SecretBox([SecretBox.generate_key()]).encrypt(API_KEY)
    with pytest.raises(SecretError) as caught:
        SecretBox([SecretBox.generate_key()]).decrypt(token)
    assert "could not be decrypted" in caught.value.message
    assert API_KEY not in caught.value.message


def test_tampering_is_refused() -> None:
    box = SecretBox([SecretBox.generate_key()])
    token = box.encrypt(API_KEY)
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-40] ^= 0x01  # flip one bit of the ciphertext
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode()
    for bad in (tampered, token[:-4], token + "x", "not-a-token", "", "ключ"):
        with pytest.raises(SecretError):
            box.decrypt(bad)
    with pytest.raises(SecretError):
        box.rotate(tampered)


def test_fallback_derives_a_key_from_secret_key() -> None:
    settings = get_settings()
    box = SecretBox.from_env({}, fallback_secret=settings.secret_key)
    assert box.derived
    again = SecretBox.from_settings(settings, environ={})
    assert again.derived
    assert again.decrypt(box.encrypt(API_KEY)) == API_KEY  # deterministic derivation
    # The derived key is a normal Fernet key, so it can be listed as an old key when moving to
    # real keys.
    Fernet(derive_key(settings.secret_key))
    other = SecretBox.from_env({}, fallback_secret="another-secret-key-0123456789-abcdefgh")
    with pytest.raises(SecretError):
        other.decrypt(box.encrypt(API_KEY))


def test_from_settings_prefers_the_environment_keys() -> None:
    key = SecretBox.generate_key()
    box = SecretBox.from_settings(get_settings(), environ={"CREDENTIALS_KEYS": key})
    assert not box.derived
    assert SecretBox([key]).decrypt(box.encrypt("x")) == "x"


def test_configuration_errors_are_plain_and_do_not_echo_keys() -> None:
    with pytest.raises(SecretError) as caught:
        SecretBox.from_env({"CREDENTIALS_KEYS": f"{SecretBox.generate_key()},not-a-valid-key"})
    assert "Key number 2" in caught.value.message
    assert "not-a-valid-key" not in caught.value.message
    with pytest.raises(SecretError):
        SecretBox.from_env({}, fallback_secret=None)
    box = SecretBox([SecretBox.generate_key()])
    assert "derived=False" in repr(box) and "keys=1" in repr(box)


def test_mask() -> None:
    assert mask(API_KEY) == "••••" + API_KEY[-4:]
    assert SecretBox.mask(API_KEY) == mask(API_KEY)
    assert API_KEY[:-4] not in mask(API_KEY)
    assert mask("short-key") == "••••"  # too short to show any part of it
    assert mask("") == "" and mask(None) == ""
