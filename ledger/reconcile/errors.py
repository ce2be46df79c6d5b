"""Refusals of bank accounts and statement imports, each with a stable code.

A refused import writes nothing. Amounts in `details` are decimal strings.
"""

from __future__ import annotations

from ledger.core.errors import LedgerError


class InvalidBankAccountError(LedgerError):
    """A bad IBAN, or a ledger account that cannot mirror a bank account."""

    code = "invalid_bank_account"


class BankAccountExistsError(LedgerError):
    code = "bank_account_exists"
    http_status = 409


class BankAccountNotFoundError(LedgerError):
    code = "bank_account_not_found"
    http_status = 404


class AccountHeldError(LedgerError):
    """The ledger account is mirrored or held by another bank account already
    (details: the account and that bank account's IBAN)."""

    code = "account_held"
    http_status = 409


class StatementAccountMismatchError(LedgerError):
    """The file is the statement of another IBAN than the chosen account's."""

    code = "statement_wrong_account"


class StatementCurrencyMismatchError(LedgerError):
    """The file's statement is in another currency than the chosen account's."""

    code = "statement_wrong_currency"


class StatementUnbalancedError(LedgerError):
    """Opening + booked lines is not the closing balance (details: each statement's figures)."""

    code = "statement_unbalanced"


class StatementDiscontinuousError(LedgerError):
    """The opening balance is not the previous stored statement's closing balance."""

    code = "statement_discontinuous"


class InvalidImportError(LedgerError):
    """The import's request itself is wrong (an acceptance without a reason, a bad preset)."""

    code = "invalid_import"


class BankLineNotFoundError(LedgerError):
    code = "bank_line_not_found"
    http_status = 404


class InvalidAllocationError(LedgerError):
    """An allocation that cannot be: a split batch's parent line, a record that does not
    exist, an amount of the wrong sign, a reason missing."""

    code = "invalid_allocation"


class OverAllocationError(LedgerError):
    """The allocations would explain more than the line's amount (details: the line's
    amount, what is left and what was asked)."""

    code = "over_allocation"
    http_status = 409


class InvalidRuleError(LedgerError):
    """A rule that cannot be: no condition, a regular expression that does not compile or
    could run away, an amount range upside down, an action without its account or record."""

    code = "invalid_rule"


class RuleNotFoundError(LedgerError):
    code = "bank_rule_not_found"
    http_status = 404


class LineRefusedError(LedgerError):
    """A line that cannot become this record: outgoing, another currency than the
    campaign's or the loan's, or more than what is left of it."""

    code = "line_refused"
    http_status = 409
