"""Small secrets encrypted at rest under keys from the settings (TOTP secrets).

A `SecretBox` seals text into a Fernet token (AES-128-CBC and HMAC-SHA256, from
the `cryptography` library) and opens it again. It holds one or more keys: the
first seals, every one opens, so a key is rotated by putting the new key first
and keeping the old one second until every secret has been sealed again (a
secret is sealed again under the first key when it is used, or all at once by
`ledger users reseal-totp`). Opening a token no key opens is `SecretKeyError`:
a misconfiguration, never a wrong code.

The keys come from the caller (the web app factory, the `ledger` command, the
tests), never from this module: the domain reads no settings. `DEVELOPMENT_KEY`
is public (it is written here): tests and `make run` use it, and the app warns
when it is used anywhere else.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ledger.core.errors import SecretKeyError

# A valid key anyone can read: for tests and the development server only.
DEVELOPMENT_KEY = base64.urlsafe_b64encode(b"ledger development key: PUBLIC!!").decode()


def new_key() -> str:
    """A fresh random key, as the LEDGER_TOTP_KEY setting takes it."""
    return Fernet.generate_key().decode()


def _fernet(key: str, position: int) -> Fernet:
    try:
        return Fernet(key.encode())
    except ValueError:  # binascii.Error too: not base64, or not 32 bytes
        # Never echo the value: it may be a real key with a typo.
        raise ValueError(
            f"key {position} is not a Fernet key (44 characters of URL-safe base64, "
            "32 bytes; make one with `ledger users new-totp-key`)"
        ) from None


class SecretBox:
    """Seal with the first key, open with any of them."""

    def __init__(self, keys: Sequence[str]) -> None:
        cleaned = [key.strip() for key in keys if key.strip()]
        if not cleaned:
            raise ValueError("no key given")
        self._fernets = [_fernet(key, n) for n, key in enumerate(cleaned, start=1)]
        self._current = self._fernets[0]
        self._all = MultiFernet(self._fernets)
        self.uses_development_key = DEVELOPMENT_KEY in cleaned

    @classmethod
    def from_setting(cls, text: str) -> SecretBox:
        """The box for a setting's value: keys separated by commas, the first one seals."""
        return cls(text.split(","))

    @classmethod
    def development(cls) -> SecretBox:
        """The box of the public development key (tests, `make run`)."""
        return cls([DEVELOPMENT_KEY])

    def seal(self, plain: str) -> str:
        """A new token of `plain` under the first key (a fresh IV each time)."""
        return self._current.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        """The text of a token sealed under any of the keys; SecretKeyError otherwise."""
        try:
            return self._all.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "Un segreto cifrato non si apre con nessuna delle chiavi configurate "
                "(LEDGER_TOTP_KEY): avvisa chi amministra il registro."
            ) from None

    def is_current(self, sealed: str) -> bool:
        """Whether the token is sealed under the first key (nothing to rotate)."""
        try:
            self._current.decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True
