"""Errors of the engine, each with a stable machine-readable `code`.

The web layer maps them to HTTP in one place; the CLI prints the code. Codes are
part of the public contract: never rename one.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every domain error. `code` is stable; `details` is JSON-safe."""

    code = "ledger_error"
    http_status = 422

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidAmountError(LedgerError):
    code = "invalid_amount"


class UnknownCurrencyError(LedgerError):
    code = "unknown_currency"


class CurrencyMismatchError(LedgerError):
    code = "currency_mismatch"


class InvalidEntryError(LedgerError):
    code = "invalid_entry"


class BalanceOutOfRangeError(InvalidEntryError):
    """The entry (or hold) would take a stored balance total past MAX_MINOR, what a
    BIGINT holds: refused, nothing written (422)."""

    code = "balance_out_of_range"


class UnbalancedEntryError(InvalidEntryError):
    code = "unbalanced_entry"


class PersonalDataError(InvalidEntryError):
    """A narration or metadata would put personal data into the immutable journal."""

    code = "personal_data_in_journal"


class InvalidAccountError(LedgerError):
    code = "invalid_account"


class AccountNotFoundError(LedgerError):
    code = "account_not_found"
    http_status = 404


class AccountExistsError(LedgerError):
    code = "account_exists"
    http_status = 409


class EntryNotFoundError(LedgerError):
    code = "entry_not_found"
    http_status = 404


class HoldNotFoundError(LedgerError):
    code = "hold_not_found"
    http_status = 404


class IdempotencyConflictError(LedgerError):
    """Same idempotency key, different request: nothing was written."""

    code = "idempotency_conflict"
    http_status = 409


class InsufficientFundsError(LedgerError):
    """A no-overdraft account's available balance would go below zero."""

    code = "insufficient_funds"
    http_status = 409


class AlreadyReversedError(LedgerError):
    code = "already_reversed"
    http_status = 409


class HoldResolvedError(LedgerError):
    code = "hold_already_resolved"
    http_status = 409


class HoldExpiredError(LedgerError):
    code = "hold_expired"
    http_status = 409


class HoldAmountError(LedgerError):
    code = "hold_amount_exceeded"


class ClosedPeriodError(LedgerError):
    code = "period_closed"
    http_status = 409


class InvalidPeriodError(LedgerError):
    code = "invalid_period"


class JournalNotWrittenError(LedgerError):
    """A unit's deferred entries were still pending when its connection committed: a
    programming error (a commit around the session), never the caller's."""

    code = "journal_not_written"
    http_status = 500


class ConcurrencyError(LedgerError):
    """Retries of a deadlock or serialization failure were exhausted."""

    code = "concurrency_retry_exhausted"
    http_status = 503


class SecretKeyError(LedgerError):
    """A secret sealed at rest opens with none of the configured keys (LEDGER_TOTP_KEY).

    A misconfiguration of the server (a wrong or missing old key), not bad input.
    """

    code = "secret_key_mismatch"
    http_status = 500


class SecretKeyMissingError(LedgerError):
    """An act needs the key of secrets at rest (LEDGER_TOTP_KEY) and none was given."""

    code = "secret_key_missing"
    http_status = 500
