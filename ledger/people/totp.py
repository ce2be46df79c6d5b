"""Time-based one-time passwords (RFC 6238, 30-second steps, 6 digits) via pyotp.

A code is accepted for the current step and one step either side (clock drift),
and each step at most once per user: `totp_last_step` remembers the last one
accepted, so a code seen over a shoulder cannot be replayed.
"""

from __future__ import annotations

from datetime import datetime

import pyotp

ISSUER = "Registro comunitario"
STEP_SECONDS = 30
VALID_WINDOW = 1


def new_secret() -> str:
    """A fresh base32 secret (160 bits)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account_name: str) -> str:
    """The otpauth:// URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=ISSUER)


def code_at(secret: str, when: datetime) -> str:
    """The code an authenticator shows at `when` (used by tests and the CLI)."""
    return pyotp.TOTP(secret).at(when)


def matching_step(secret: str, code: str, when: datetime, after_step: int | None) -> int | None:
    """The step `code` belongs to, within the window and after `after_step`; else None."""
    cleaned = "".join(code.split())
    if len(cleaned) != 6 or not cleaned.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(when.timestamp()) // STEP_SECONDS
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if after_step is not None and step <= after_step:
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), cleaned):
            return step
    return None
