"""Errors of foundations and commitments; codes are part of the public contract."""

from __future__ import annotations

from ledger.core.errors import LedgerError


class InvalidCommitmentError(LedgerError):
    """A commitment setting is not acceptable (422); `details["field"]` names it."""

    code = "invalid_commitment"


class CommitmentNotFoundError(LedgerError):
    code = "commitment_not_found"
    http_status = 404


class FoundationNotFoundError(LedgerError):
    code = "foundation_not_found"
    http_status = 404


class CommitmentStateError(LedgerError):
    """The commitment is not in a state that allows this (409)."""

    code = "commitment_state"
    http_status = 409


class DisbursementError(LedgerError):
    """A disbursement or a clawback repayment asks more than is due (409)."""

    code = "grant_disbursement"
    http_status = 409


class GrantStateError(LedgerError):
    """The grant's records and the journal disagree (a bug, never bad input): nothing is
    written (409)."""

    code = "grant_state"
    http_status = 409


class OfficerRoleError(LedgerError):
    """The user cannot act for a foundation: they lack the foundation_officer role (409)."""

    code = "role_missing"
    http_status = 409
