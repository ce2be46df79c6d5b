"""Errors of funds and loans; codes are part of the public contract.

Messages are Italian, for the treasurer who reads them; `details` name the
field or the figures involved. Every one is raised before anything is written,
or inside the unit of work that the caller then rolls back, so a refused
request leaves no trace.
"""

from __future__ import annotations

from ledger.core.errors import LedgerError


class InvalidFundError(LedgerError):
    """A fund field or a fund operation's input is not acceptable (422)."""

    code = "invalid_fund"


class FundNotFoundError(LedgerError):
    code = "fund_not_found"
    http_status = 404


class FundInsufficientError(LedgerError):
    """The fund's available money (cash less open reservations) is short (409)."""

    code = "fund_insufficient"
    http_status = 409


class ReservationError(LedgerError):
    """The reservation (hold) is not this fund's, not open, or too small (409)."""

    code = "fund_reservation"
    http_status = 409


class InvalidLoanError(LedgerError):
    """A loan, product or repayment input is not acceptable (422)."""

    code = "invalid_loan"


class LoanProductNotFoundError(LedgerError):
    code = "loan_product_not_found"
    http_status = 404


class LoanNotFoundError(LedgerError):
    code = "loan_not_found"
    http_status = 404


class LoanStateError(LedgerError):
    """The loan is not in a state that allows this (409)."""

    code = "loan_state"
    http_status = 409
