"""Password hashing with Argon2id (memory-hard), via argon2-cffi.

The parameters are argon2-cffi's defaults (RFC 9106 "low memory" profile:
64 MiB, 3 passes, 4 lanes). Tests may lower them through `configure` so that a
suite which signs in hundreds of times stays fast; production never does.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a sign-in takes as long
# whether or not the account exists; made on first use, with the current parameters.
_dummy_hash: str | None = None


def _dummy() -> str:
    global _dummy_hash  # noqa: PLW0603 - cached per hasher
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("not a password of anyone")
    return _dummy_hash


def configure(*, memory_cost: int, time_cost: int, parallelism: int = 1) -> None:
    """Change the cost parameters (for tests; existing hashes still verify)."""
    global _hasher, _dummy_hash  # noqa: PLW0603 - one process-wide hasher
    _hasher = PasswordHasher(memory_cost=memory_cost, time_cost=time_cost, parallelism=parallelism)
    _dummy_hash = None


def restore_defaults() -> None:
    """Go back to argon2-cffi's default parameters (after `configure`)."""
    global _hasher, _dummy_hash  # noqa: PLW0603 - one process-wide hasher
    _hasher = PasswordHasher()
    _dummy_hash = None


def hash_password(password: str) -> str:
    """An Argon2id hash string (salt and parameters included)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; False for a mismatch or an unusable hash."""
    try:
        return _hasher.verify(password_hash or _dummy(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)
