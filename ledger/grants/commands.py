"""Use cases of grants: what an officer, a treasurer or an operator does, in one shape.

Each function here is one act. It takes the act's arguments, an `Origin` and,
when the act can be repeated, the caller's request key; it checks, writes
through `service` (foundations, officers, commitments) and `matching` (the
foundation's real money), records its own audit event under the action
declared below, and returns an `Outcome` saying whether this call did it.
Pages, the API and the CLI call these and only translate input and output.

Who may act for which foundation (an officer only for their own, an admin for
any) is the caller's access rule, checked by the page or API view before it
calls; what the act itself requires is checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from sqlalchemy.orm import Session

from ledger.commands import Command, Origin, Outcome, begin, command
from ledger.core.clock import Clock
from ledger.core.money import format_minor
from ledger.grants import matching, service
from ledger.grants.errors import OfficerRoleError
from ledger.grants.getters import get_commitment, get_foundation
from ledger.grants.models import Commitment, Foundation
from ledger.people.errors import UserNotFoundError
from ledger.people.service import find_user_by_email

OFFICER_ROLE = "foundation_officer"

CREATE_FOUNDATION = command("foundation.create", "foundation")
ADD_OFFICER = command("foundation.add_officer", "foundation")
CREATE_COMMITMENT = command("commitment.create", "commitment")
CANCEL_COMMITMENT = command("commitment.cancel", "commitment")
RECORD_DISBURSEMENT = command("commitment.disbursement", "commitment")
REPAY_CLAWBACK = command("commitment.clawback_repaid", "commitment")


@dataclass(frozen=True, slots=True)
class Payment:
    """Real money of a commitment toward one campaign, booked as journal entry `sequence`."""

    commitment_id: int
    campaign_id: int
    amount_minor: int
    sequence: int


# --------------------------------------------------------------------- foundations


def create_foundation(
    session: Session,
    name: str,
    *,
    tax_code: str | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Foundation]:
    """Register a foundation; its name is required and unique (InvalidCommitmentError)."""
    claim = begin(
        session,
        CREATE_FOUNDATION,
        origin,
        clock=clock,
        key=key,
        request={"name": name, "tax_code": tax_code},
    )
    if claim.earlier is not None:
        return claim.replay(get_foundation(session, claim.earlier.id))
    foundation = service.create_foundation(session, name=name, tax_code=tax_code, now=clock.now())
    return claim.done(foundation, subject_id=foundation.id)


def add_officer(
    session: Session,
    foundation_id: int,
    email: str,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[int]:
    """Let the user with this e-mail act for the foundation; the value is their user id.

    The user must exist (UserNotFoundError) and hold the foundation_officer
    role already (OfficerRoleError): the role says what a user may do, this
    says for which foundation. Adding an officer twice changes nothing.
    """
    claim = begin(
        session,
        ADD_OFFICER,
        origin,
        clock=clock,
        key=key,
        request={"foundation": foundation_id, "email": email.strip().lower()},
    )
    if claim.earlier is not None:
        return claim.replay(int(claim.earlier.result["user_id"]))
    user = find_user_by_email(session, email)
    if user is None:
        raise UserNotFoundError(f"no user with e-mail {email.strip().lower()}", field="email")
    if OFFICER_ROLE not in user.roles:
        raise OfficerRoleError(f"user {user.id} needs the {OFFICER_ROLE} role first", field="email")
    service.add_officer(session, foundation_id, user.id, now=clock.now())
    return claim.done(
        user.id,
        subject_id=foundation_id,
        details={"user_id": user.id},
        result={"user_id": user.id},
    )


# --------------------------------------------------------------------- commitments


def create_commitment(
    session: Session,
    spec: service.CommitmentSpec,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Commitment]:
    """Record a foundation's commitment and book its word (a threshold's top-up is
    reserved at once); a setting the rules refuse is InvalidCommitmentError and
    writes nothing."""
    claim = begin(session, CREATE_COMMITMENT, origin, clock=clock, key=key, request=asdict(spec))
    if claim.earlier is not None:
        return claim.replay(get_commitment(session, claim.earlier.id))
    row = service.create_commitment(
        session, spec, clock=clock, created_by=origin.user_id, actor=origin.actor
    )
    return claim.done(
        row,
        subject_id=row.id,
        details={
            "foundation_id": row.foundation_id,
            "kind": row.kind,
            "pool": format_minor(row.pool_minor, row.currency),
        },
    )


def cancel_commitment(
    session: Session,
    commitment_id: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Commitment]:
    """Stop a commitment: top-ups not reached end, the unreserved pool goes back to the
    foundation, what was earned stays owed. A commitment already cancelled is
    CommitmentStateError (409), unless this is a repeat of the request that did it."""
    claim = begin(
        session,
        CANCEL_COMMITMENT,
        origin,
        clock=clock,
        key=key,
        request={"commitment": commitment_id},
    )
    if claim.earlier is not None:
        return claim.replay(get_commitment(session, commitment_id))
    row = service.cancel_commitment(
        session, commitment_id, clock=clock, cancelled_by=origin.user_id, actor=origin.actor
    )
    return claim.done(row, subject_id=row.id)


# --------------------------------------------------------------------- real money


def record_disbursement(
    session: Session,
    commitment_id: int,
    campaign_id: int,
    amount_minor: int,
    *,
    reference: str,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Payment]:
    """The foundation's payment of released match for a campaign reached the bank.

    More than is released and not yet paid in is DisbursementError (409). A
    page keys it by its form, the CLI by the bank transfer's reference.
    """
    return _book(
        session,
        RECORD_DISBURSEMENT,
        matching.record_disbursement,
        commitment_id,
        campaign_id,
        amount_minor,
        reference=reference,
        origin=origin,
        clock=clock,
        key=key,
    )


def repay_clawback(
    session: Session,
    commitment_id: int,
    campaign_id: int,
    amount_minor: int,
    *,
    reference: str,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Payment]:
    """Money due back to the foundation (a refund after the match was paid in) left the
    bank; the pool regains it. More than is due is DisbursementError (409)."""
    return _book(
        session,
        REPAY_CLAWBACK,
        matching.repay_clawback,
        commitment_id,
        campaign_id,
        amount_minor,
        reference=reference,
        origin=origin,
        clock=clock,
        key=key,
    )


def _book(
    session: Session,
    act: Command,
    book: Callable[..., int],
    commitment_id: int,
    campaign_id: int,
    amount_minor: int,
    *,
    reference: str,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Payment]:
    """A payment in or a clawback repaid: the two differ only in what `book` books."""
    reference = " ".join(reference.split())
    claim = begin(
        session,
        act,
        origin,
        clock=clock,
        key=key,
        request={
            "commitment": commitment_id,
            "campaign": campaign_id,
            "amount": amount_minor,
            "reference": reference,
        },
    )
    if claim.earlier is not None:
        sequence = int(claim.earlier.result["sequence"])
        return claim.replay(Payment(commitment_id, campaign_id, amount_minor, sequence))
    # The engine's key is the caller's own key, unscoped, as these entries were always
    # keyed: a payment booked before request keys were kept is still recognised.
    sequence = book(
        session, commitment_id, campaign_id, amount_minor, key=key, clock=clock, actor=origin.actor
    )
    payment = Payment(commitment_id, campaign_id, amount_minor, sequence)
    if claim.existed(sequence):  # booked under this key before request keys were kept
        return claim.known(payment, subject_id=commitment_id, result={"sequence": sequence})
    currency = get_commitment(session, commitment_id).currency
    return claim.done(
        payment,
        subject_id=commitment_id,
        details={
            "campaign_id": campaign_id,
            "amount": format_minor(amount_minor, currency),
            "reference": reference,
            "entry_sequence": sequence,
        },
        result={"sequence": sequence},
    )
