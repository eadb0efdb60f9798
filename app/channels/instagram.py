"""The client's Instagram connection: a professional account id and its long-lived access token.

Instagram sources read public business/creator accounts through it (business discovery needs the
client's own account and token); publishing to Instagram will use it too (issue 6).

The pair is stored as one encrypted JSON document in `Channel.credentials`, so the token is never
in the database in the clear and never travels alone. `repr()` masks the token: a credentials
object that ends up in a log line or a traceback does not leak it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from app.i18n import gettext as _
from app.secrets import SecretBox, SecretError, mask


@dataclass(frozen=True, repr=False)
class InstagramCredentials:
    ig_user_id: str
    access_token: str

    def seal(self, box: SecretBox) -> str:
        """The encrypted form stored in `Channel.credentials`."""
        return box.encrypt(json.dumps({"ig_user_id": self.ig_user_id, "access_token": self.access_token}))

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
        return cls(ig_user_id=ig_user_id, access_token=token)

    @property
    def token_mask(self) -> str:
        return mask(self.access_token)

    def __repr__(self) -> str:
        return f"InstagramCredentials(ig_user_id={self.ig_user_id!r}, access_token={self.token_mask!r})"
