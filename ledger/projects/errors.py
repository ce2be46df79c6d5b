"""Errors of projects; codes are part of the public contract.

Messages are Italian, for the staff who read them; `details` name the field or
the figures involved. Each is raised before anything is written, or inside the
unit of work the caller then rolls back, so a refused request leaves no trace.
"""

from __future__ import annotations

from ledger.core.errors import LedgerError


class InvalidProjectError(LedgerError):
    """A project's, organisation's or funder's input is not acceptable (422)."""

    code = "invalid_project"


class ProjectNotFoundError(LedgerError):
    code = "project_not_found"
    http_status = 404


class BudgetRuleError(LedgerError):
    """A budget breaks a funder's settings (grant share, co-financing, overheads) (422)."""

    code = "budget_rule"


class BudgetStateError(LedgerError):
    """The budget version is not in a state that allows this (409)."""

    code = "budget_state"
    http_status = 409


class FourEyesError(LedgerError):
    """The same person may not propose and approve (or approve and pay) (409)."""

    code = "project_four_eyes"
    http_status = 409


class InvalidExpenseError(LedgerError):
    """An expense document or its allocations are not acceptable (422)."""

    code = "invalid_expense"


class OverAllocatedError(LedgerError):
    """The allocations would charge a document beyond its eligible amount (409)."""

    code = "expense_over_allocated"
    http_status = 409


class InvalidFileError(LedgerError):
    """An uploaded file is too large, empty or not a PDF, JPEG or PNG (422)."""

    code = "invalid_file"


class ProofOfPaymentError(LedgerError):
    """The proof of payment is not a reconciled outgoing bank line or a known entry (422)."""

    code = "proof_of_payment"


class PayoutError(LedgerError):
    """A campaign payout is not possible (not linked, not succeeded, paid already) (409)."""

    code = "project_payout"
    http_status = 409


class VolunteerRegisterError(LedgerError):
    """The register of volunteers refuses the act: the person has an open enrolment, the
    period would overlap another of theirs, the enrolment is ended already, or hours are
    recorded after the day it would end (409)."""

    code = "volunteer_register"
    http_status = 409


class EnrolmentNotFoundError(LedgerError):
    """No such enrolment in the register of volunteers (or no open one for the person)."""

    code = "volunteer_enrolment_not_found"
    http_status = 404
