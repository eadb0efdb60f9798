"""Encryption of credentials at rest: API keys, bot tokens, OAuth refresh tokens.

Credentials are stored as Fernet tokens (AES-128-CBC + HMAC-SHA256, with a timestamp), never in
plain text. Keys come from the environment variable ``CREDENTIALS_KEYS``: a comma-separated list of
Fernet keys, **newest first**. The newest key encrypts; every listed key may decrypt.

Key rotation, step by step:

1. generate a key: ``python -c "from app.secrets import SecretBox; print(SecretBox.generate_key())"``;
2. put it in front: ``CREDENTIALS_KEYS=<new>,<old>`` and restart web and workers;
3. re-encrypt what is stored with ``SecretBox.rotate(token)`` (a one-off job over every encrypted
   column);
4. remove the old key from the list once nothing uses it.

When ``CREDENTIALS_KEYS`` is not set, one key is derived from ``SECRET_KEY`` with HKDF-SHA256 so
development and tests work with no extra setting. That ties stored credentials to SECRET_KEY
(changing it makes them unreadable), so production should set ``CREDENTIALS_KEYS``; the box says
it fell back through ``SecretBox.derived``. To move data encrypted under the derived key to real
keys, list ``derive_key(SECRET_KEY)`` after the new key (step 2) and rotate (step 3).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.i18n import gettext as _

if TYPE_CHECKING:
    from app.config import Settings

__all__ = ["ENV_VAR", "SecretBox", "SecretError", "derive_key", "mask"]

ENV_VAR = "CREDENTIALS_KEYS"
MASK = "••••"
# Fixed, public domain-separation inputs for HKDF: the secrecy comes from SECRET_KEY alone.
_HKDF_SALT = b"zavod/credentials-at-rest"
_HKDF_INFO = b"fernet key v1"


class SecretError(Exception):
    """Encrypting or decrypting a credential failed; `message` can be shown to a person as is.

    Messages never contain the key or the credential.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def derive_key(secret_key: str) -> str:
    """A Fernet key derived from `secret_key` with HKDF-SHA256 (the development fallback)."""
    if not secret_key:
        raise SecretError(_("No encryption key is configured: set CREDENTIALS_KEYS or SECRET_KEY."))
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret_key.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw).decode("ascii")


def mask(plaintext: str | None) -> str:
    """What a form may show of a stored credential: "••••abcd", never the whole value.

    The last four characters are shown only for values long enough (12+ characters) that four
    characters give nothing useful away; shorter ones become just "••••". Empty stays empty, so a
    form can tell "not set" from "set".
    """
    if not plaintext:
        return ""
    value = plaintext.strip()
    if len(value) < 12:
        return MASK
    return MASK + value[-4:]


def _parse_keys(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


class SecretBox:
    """Encrypts and decrypts credentials with a list of Fernet keys (newest first)."""

    def __init__(self, keys: Sequence[str | bytes], *, derived: bool = False) -> None:
        if not keys:
            raise SecretError(_("No encryption key is configured: set CREDENTIALS_KEYS."))
        fernets: list[Fernet] = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError, binascii.Error) as exc:
                # Say which entry is wrong, never echo it: it is a secret.
                raise SecretError(
                    _(
                        "Key number %(position)s in CREDENTIALS_KEYS is not a valid Fernet key "
                        "(32 bytes in URL-safe base64, as SecretBox.generate_key() makes).",
                        position=position,
                    )
                ) from exc
        self._fernet = MultiFernet(fernets)
        self._newest = fernets[0]
        self.key_count = len(fernets)
        #: True when the key was derived from SECRET_KEY because CREDENTIALS_KEYS was not set.
        self.derived = derived

    # -- construction --

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, fallback_secret: str | None = None) -> SecretBox:
        """Keys from ``CREDENTIALS_KEYS`` in `environ`; else one derived from `fallback_secret`.

        Pass ``fallback_secret=settings.secret_key``. With neither, raises SecretError.
        """
        keys = _parse_keys(environ.get(ENV_VAR, ""))
        if keys:
            return cls(keys)
        if fallback_secret:
            return cls([derive_key(fallback_secret)], derived=True)
        raise SecretError(_("No encryption key is configured: set CREDENTIALS_KEYS or SECRET_KEY."))

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] = os.environ) -> SecretBox:
        """The box for these settings.

        Uses ``settings.credentials_keys`` (a comma-separated string or a list) once Settings has
        that field; until then reads ``CREDENTIALS_KEYS`` from the environment. Falls back to a key
        derived from ``settings.secret_key`` (see the module docstring).
        """
        configured = getattr(settings, "credentials_keys", None)
        if isinstance(configured, str):
            keys = _parse_keys(configured)
        elif configured:
            keys = [str(k).strip() for k in configured if str(k).strip()]
        else:
            keys = []
        if keys:
            return cls(keys)
        return cls.from_env(environ, fallback_secret=settings.secret_key)

    @staticmethod
    def generate_key() -> str:
        """A fresh random Fernet key, as text to paste into CREDENTIALS_KEYS."""
        return Fernet.generate_key().decode("ascii")

    # -- use --

    def encrypt(self, plaintext: str) -> str:
        """Encrypt with the newest key; the token is ASCII text safe to store in a text column."""
        if not isinstance(plaintext, str):
            raise TypeError("SecretBox.encrypt takes a str.")
        return self._newest.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a token made with any configured key; SecretError if that is impossible."""
        try:
            data = self._fernet.decrypt(self._token_bytes(token))
        except InvalidToken as exc:
            raise SecretError(
                _(
                    "A stored credential could not be decrypted: it was encrypted with a key that is "
                    "no longer configured, or it has been altered. Enter the credential again."
                )
            ) from exc
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:  # only if something other than encrypt() made the token
            raise SecretError(_("A stored credential could not be decrypted: it is not text.")) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` with the newest key (it may have been made with any configured key)."""
        try:
            return self._fernet.rotate(self._token_bytes(token)).decode("ascii")
        except InvalidToken as exc:
            raise SecretError(
                _(
                    "A stored credential could not be re-encrypted: it was encrypted with a key that "
                    "is no longer configured, or it has been altered."
                )
            ) from exc

    @staticmethod
    def mask(plaintext: str | None) -> str:
        """Same as the module's `mask`: "••••abcd" for a form, never the whole credential."""
        return mask(plaintext)

    @staticmethod
    def _token_bytes(token: str) -> bytes:
        if not isinstance(token, str) or not token:
            raise SecretError(_("A stored credential is missing or is not an encrypted value."))
        try:
            return token.encode("ascii")
        except UnicodeEncodeError as exc:
            raise SecretError(_("A stored credential is missing or is not an encrypted value.")) from exc

    def __repr__(self) -> str:  # never the keys
        return f"<SecretBox keys={self.key_count} derived={self.derived}>"
