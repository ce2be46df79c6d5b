"""Errors of people and credentials; codes are part of the public contract."""

from __future__ import annotations

from ledger.core.errors import LedgerError


class InvalidPersonError(LedgerError):
    """A field of a person or user is not acceptable (422); `details["field"]` names it."""

    code = "invalid_person"


class WeakPasswordError(LedgerError):
    code = "weak_password"


class EmailTakenError(LedgerError):
    code = "email_taken"
    http_status = 409


class EmailNotVerifiedError(LedgerError):
    """The account's owner has not yet proved they read the address's mail."""

    code = "email_not_verified"
    http_status = 403


class NotAllowedError(LedgerError):
    """The caller may not do this act on this person."""

    code = "not_allowed"
    http_status = 403


class PersonNotFoundError(LedgerError):
    code = "person_not_found"
    http_status = 404


class UserNotFoundError(LedgerError):
    code = "user_not_found"
    http_status = 404


class UserInactiveError(LedgerError):
    """The user was deactivated: nothing new (a token) may be issued to them."""

    code = "user_inactive"
    http_status = 409


class TokenNotFoundError(LedgerError):
    code = "token_not_found"
    http_status = 404


class InvalidTotpCodeError(LedgerError):
    code = "invalid_totp_code"


class TwoFactorRequiredError(LedgerError):
    """The act needs a second factor the user has not enrolled (a money token)."""

    code = "two_factor_required"
    http_status = 403


class WrongPasswordError(LedgerError):
    code = "wrong_password"
