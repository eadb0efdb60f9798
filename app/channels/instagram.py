"""The client's Instagram connection: a professional account id and its long-lived access token.

Instagram sources read public business/creator accounts through it (business discovery needs the
client's own account and token), and stories are published to it (app.channels.instagram_publish).

The pair is stored as one encrypted JSON document in `Channel.credentials`, so the token is never
in the database in the clear and never travels alone. `repr()` masks the token: a credentials
object that ends up in a log line or a traceback does not leak it.

The document also carries what the token refresh learns (app.channels.instagram_publish): when the
token runs out (`expires_at`) and when Zavod last renewed it (`refreshed_at`). Both are absent for a
token the owner pasted in (Meta's answer to the connection check does not say when it expires).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from app.i18n import gettext as _
from app.secrets import SecretBox, SecretError, mask


@dataclass(frozen=True, repr=False)
class InstagramCredentials:
    ig_user_id: str
    access_token: str
    expires_at: datetime | None = None  # aware; None: not known (or, once refreshed, never)
    refreshed_at: datetime | None = None

    def seal(self, box: SecretBox) -> str:
        """The encrypted form stored in `Channel.credentials`."""
        document = {"ig_user_id": self.ig_user_id, "access_token": self.access_token}
        if self.expires_at is not None:
            document["expires_at"] = self.expires_at.isoformat()
        if self.refreshed_at is not None:
            document["refreshed_at"] = self.refreshed_at.isoformat()
        return box.encrypt(json.dumps(document))

    @classmethod
    def unseal(cls, box: SecretBox, sealed: str | None) -> InstagramCredentials:
        """Raises SecretError (a message for people) when they cannot be read back."""
        damaged = SecretError(_("The stored Instagram connection is damaged; connect Instagram again."))
        try:
            document = json.loads(box.decrypt(sealed or ""))
        except ValueError:
            raise damaged from None
        if not isinstance(document, dict):
            raise damaged
        ig_user_id, token = document.get("ig_user_id"), document.get("access_token")
        if not isinstance(ig_user_id, str) or not isinstance(token, str) or not ig_user_id or not token:
            raise damaged
        return cls(
            ig_user_id=ig_user_id,
            access_token=token,
            expires_at=_aware_or_none(document.get("expires_at")),
            refreshed_at=_aware_or_none(document.get("refreshed_at")),
        )

    @property
    def token_mask(self) -> str:
        return mask(self.access_token)

    def __repr__(self) -> str:
        return f"InstagramCredentials(ig_user_id={self.ig_user_id!r}, access_token={self.token_mask!r})"


def _aware_or_none(value: object) -> datetime | None:
    # A date that cannot be read only costs an early refresh; it must not make the connection unusable.
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
