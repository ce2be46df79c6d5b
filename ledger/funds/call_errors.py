"""Errors of calls for ideas, applications, reviews and awards; codes are public contract."""

from __future__ import annotations

from ledger.core.errors import LedgerError


class InvalidCallError(LedgerError):
    """A call field is not acceptable (422); `details["field"]` names it."""

    code = "invalid_call"


class CallNotFoundError(LedgerError):
    code = "call_not_found"
    http_status = 404


class CallClosedError(LedgerError):
    """The call is not open for applications at this instant (409)."""

    code = "call_closed"
    http_status = 409


class InvalidApplicationError(LedgerError):
    """An application field is not acceptable (422); `details["field"]` names it."""

    code = "invalid_application"


class ApplicationNotFoundError(LedgerError):
    code = "application_not_found"
    http_status = 404


class ApplicationStateError(LedgerError):
    """The application is not in a state that allows this (409)."""

    code = "application_state"
    http_status = 409


class NotOnCommitteeError(LedgerError):
    """Only members of the call's committee review its applications (403)."""

    code = "not_on_committee"
    http_status = 403


class ConflictOfInterestError(LedgerError):
    """The reviewer declared a conflict of interest, has not declared yet, or is the
    application's proponent (`details["proponent"]`) (409)."""

    code = "conflict_of_interest"
    http_status = 409


class InvalidReviewError(LedgerError):
    code = "invalid_review"


class InvalidAwardError(LedgerError):
    """An award amount or term is not acceptable (422), e.g. above the call's maximum."""

    code = "invalid_award"


class CallBudgetExceededError(LedgerError):
    """The award would take the call beyond its budget (409)."""

    code = "call_budget_exceeded"
    http_status = 409


class AwardNotFoundError(LedgerError):
    code = "award_not_found"
    http_status = 404


class AwardStateError(LedgerError):
    code = "award_state"
    http_status = 409


class FourEyesError(LedgerError):
    """The person who proposed (or approved) cannot also approve (or pay) it (409)."""

    code = "four_eyes"
    http_status = 409


class TrancheNotFoundError(LedgerError):
    code = "tranche_not_found"
    http_status = 404


class TrancheStateError(LedgerError):
    code = "tranche_state"
    http_status = 409


class MilestoneReportMissingError(LedgerError):
    """The previous tranche's milestone has no report yet: the next one waits (409)."""

    code = "milestone_report_missing"
    http_status = 409
