"""Use cases of microloans: what a treasurer does to a loan product or a loan, as commands.

Each function here is one act. It takes the act's arguments, an `Origin` and,
when the act can be repeated, the caller's request key; it opens with
`ledger.commands.begin` (the same key and request answer the earlier outcome,
another request under that key is a conflict that writes nothing), books
through `ledger.funds.lending`, records its own audit event under the action
declared below, and returns an `Outcome` saying whether this call did it.
Pages, the API and the CLI call these and only translate input and output.

Lending keeps its own guard underneath: each row it creates stores the
caller's scoped key (``web:5:<key>``, see `Origin.scoped`) in its
`request_key`, exactly as before these use cases existed.

Disbursing and cancelling happen once per loan whatever the key: a loan
already paid out (or already cancelled) is answered unchanged, as a repeat
(`created` false, no audit event).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.commands import Earlier, Origin, Outcome, begin, command
from ledger.core.clock import Clock
from ledger.core.models import Base
from ledger.core.money import format_minor
from ledger.funds import lending
from ledger.funds.errors import InvalidLoanError
from ledger.funds.models import (
    Loan,
    LoanProductRow,
    LoanRecovery,
    LoanRepayment,
    LoanWriteOff,
    OverpaymentRefund,
)
from ledger.people.models import Person
from ledger.people.service import normalise_email

CREATE_LOAN_PRODUCT = command("loan_product.create", "loan_product")
OPEN_LOAN = command("loan.open", "loan")
DISBURSE_LOAN = command("loan.disburse", "loan")
CANCEL_LOAN = command("loan.cancel", "loan")
RECORD_REPAYMENT = command("loan.repayment", "loan")
WRITE_OFF_LOAN = command("loan.write_off", "loan")
RECORD_RECOVERY = command("loan.recovery", "loan")
REFUND_OVERPAYMENT = command("loan.overpayment_refund", "loan")

R = TypeVar("R", bound=Base)


def _stored(session: Session, model: type[R], earlier: Earlier, name: str) -> R:
    """The row an earlier request with this key made, by the id its outcome kept."""
    row = session.get(model, int(earlier.result[name]))
    if row is None:  # rows of the ledger are never deleted
        raise RuntimeError(f"{model.__name__} {earlier.result[name]} of an earlier request is gone")
    return row


# --------------------------------------------------------------------------- products
def create_loan_product(
    session: Session,
    fund_id: int,
    *,
    name: str,
    min_amount_minor: int,
    max_amount_minor: int,
    annual_rate: Decimal | str,
    method: str,
    min_term_months: int,
    max_term_months: int,
    grace_months: int = 0,
    day_count: str = "30/360",
    rounding: str = "ROUND_HALF_EVEN",
    fee_per_instalment_minor: int = 0,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[LoanProductRow]:
    """Create a loan product of fund `fund_id` (the terms its loans are granted on).

    Every field is checked by `lending.create_loan_product` (InvalidLoanError,
    422); `annual_rate` is a Decimal or decimal string fraction, never a float.
    """
    claim = begin(
        session,
        CREATE_LOAN_PRODUCT,
        origin,
        clock=clock,
        key=key,
        request={
            "fund": fund_id,
            "name": name,
            "min_amount": min_amount_minor,
            "max_amount": max_amount_minor,
            # As text: a float given by mistake is refused by lending, not by the hash.
            "annual_rate": str(annual_rate),
            "method": method,
            "min_term_months": min_term_months,
            "max_term_months": max_term_months,
            "grace_months": grace_months,
            "day_count": day_count,
            "rounding": rounding,
            "fee_per_instalment": fee_per_instalment_minor,
        },
    )
    if claim.earlier is not None:
        return claim.replay(lending.get_loan_product(session, claim.earlier.id))
    product = lending.create_loan_product(
        session,
        fund_id=fund_id,
        name=name,
        min_amount_minor=min_amount_minor,
        max_amount_minor=max_amount_minor,
        annual_rate=annual_rate,
        method=method,
        min_term_months=min_term_months,
        max_term_months=max_term_months,
        grace_months=grace_months,
        day_count=day_count,
        rounding=rounding,
        fee_per_instalment_minor=fee_per_instalment_minor,
        clock=clock,
    )
    return claim.done(
        product,
        subject_id=product.id,
        details={"fund_id": fund_id, "annual_rate": product.annual_rate},
    )


# --------------------------------------------------------------------------- loans
def _borrower(session: Session, email: str | None, person_id: int | None) -> int:
    """The borrower's person id: found by e-mail when one is given, else `person_id`."""
    if email is not None:
        found = session.scalar(select(Person.id).where(Person.email == email))
        if found is None:
            raise InvalidLoanError(
                "Nessuna persona registrata con questa e-mail.", field="borrower_email"
            )
        return int(found)
    if person_id is None:
        raise InvalidLoanError("Indica il beneficiario.", field="borrower")
    return person_id


def open_loan(
    session: Session,
    fund_id: int,
    product_id: int,
    *,
    borrower_email: str | None = None,
    borrower_person_id: int | None = None,
    principal_minor: int,
    term_months: int,
    first_due_on: date,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Loan]:
    """Grant a loan (status "approved") to a registered person; no money moves yet.

    The borrower is named by e-mail (a page's form: the person must be
    registered, else InvalidLoanError on `borrower_email`) or by person id
    (the API); the e-mail wins when both are given. The terms, limits and
    schedule are `lending.open_loan`'s.
    """
    email = normalise_email(borrower_email) if borrower_email is not None else None
    claim = begin(
        session,
        OPEN_LOAN,
        origin,
        clock=clock,
        key=key,
        request={
            "fund": fund_id,
            "product": product_id,
            "borrower_email": email,
            "borrower_person_id": borrower_person_id,
            "principal": principal_minor,
            "term_months": term_months,
            "first_due_on": first_due_on,
        },
    )
    if claim.earlier is not None:
        return claim.replay(lending.get_loan(session, claim.earlier.id))
    earlier = lending.loan_under_key(session, fund_id, origin.scoped(key))
    loan = lending.open_loan(
        session,
        fund_id=fund_id,
        product_id=product_id,
        borrower_person_id=_borrower(session, email, borrower_person_id),
        principal_minor=principal_minor,
        term_months=term_months,
        first_due_on=first_due_on,
        key=origin.scoped(key),
        clock=clock,
        actor=origin.actor,
    )
    if earlier is not None:  # opened under this key before request keys were kept
        return claim.known(loan, subject_id=loan.id)
    return claim.done(
        loan,
        subject_id=loan.id,
        details={
            "fund_id": fund_id,
            "product_id": product_id,
            "principal": format_minor(loan.principal_minor, loan.currency),
            "term_months": loan.term_months,
        },
    )


def disburse_loan(
    session: Session,
    loan_id: int,
    *,
    disbursed_on: date | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Loan]:
    """Pay an approved loan out (Dr loans receivable, Cr fund cash); see `lending.disburse_loan`.

    A loan is disbursed once: one already paid out is answered unchanged
    (`created` false, nothing written). A short fund is FundInsufficientError.
    """
    claim = begin(
        session,
        DISBURSE_LOAN,
        origin,
        clock=clock,
        key=key,
        request={"loan": loan_id, "disbursed_on": disbursed_on},
    )
    if claim.earlier is not None:
        return claim.replay(lending.get_loan(session, loan_id))
    before = lending.get_loan(session, loan_id, lock=True).status
    loan = lending.disburse_loan(
        session, loan_id, clock=clock, actor=origin.actor, disbursed_on=disbursed_on
    )
    if before != "approved":
        # lending answers a loan already paid out unchanged; it is a repeat, not an act.
        return claim.known(loan, subject_id=loan.id)
    return claim.done(
        loan,
        subject_id=loan.id,
        details={
            "amount": format_minor(loan.principal_minor, loan.currency),
            "sequence": loan.disbursement_sequence,
        },
    )


def cancel_loan(
    session: Session,
    loan_id: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Loan]:
    """Cancel a loan granted and never disbursed; its reservation (if any) is released.

    A loan already cancelled is answered unchanged (`created` false); one
    already disbursed is LoanStateError (409).
    """
    claim = begin(session, CANCEL_LOAN, origin, clock=clock, key=key, request={"loan": loan_id})
    if claim.earlier is not None:
        return claim.replay(lending.get_loan(session, loan_id))
    before = lending.get_loan(session, loan_id, lock=True).status
    loan = lending.cancel_loan(session, loan_id, clock=clock, actor=origin.actor)
    if before != "approved":
        return claim.known(loan, subject_id=loan.id)
    return claim.done(loan, subject_id=loan.id, details={})


# --------------------------------------------------------------------------- money on a loan
def record_repayment(
    session: Session,
    loan_id: int,
    amount_minor: int,
    *,
    received_on: date,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[LoanRepayment]:
    """Record and book money received from the borrower, allocated as `lending.record_repayment`
    says (fees, interest, principal; any excess is an overpayment owed back)."""
    claim = begin(
        session,
        RECORD_REPAYMENT,
        origin,
        clock=clock,
        key=key,
        request={"loan": loan_id, "amount": amount_minor, "received_on": received_on},
    )
    if claim.earlier is not None:
        return claim.replay(_stored(session, LoanRepayment, claim.earlier, "repayment_id"))
    row = lending.record_repayment(
        session,
        loan_id,
        amount_minor,
        received_on=received_on,
        key=origin.scoped(key),
        clock=clock,
        actor=origin.actor,
    )
    if claim.existed_entry(row.entry_id):  # booked under this key before keys were kept
        return claim.known(row, subject_id=loan_id, result={"repayment_id": row.id})
    return claim.done(
        row,
        subject_id=loan_id,
        details={
            "repayment_id": row.id,
            "amount": format_minor(row.amount_minor, row.currency),
            "overpayment": format_minor(row.overpayment_minor, row.currency),
            "entry_id": row.entry_id,
        },
        result={"repayment_id": row.id},
    )


def write_off_loan(
    session: Session,
    loan_id: int,
    *,
    on: date | None = None,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[LoanWriteOff]:
    """Write a disbursed loan off on `on` (default today); see `lending.write_off_loan`.

    One write-off per loan: another key on a loan already written off is
    IdempotencyConflictError (409).
    """
    claim = begin(
        session,
        WRITE_OFF_LOAN,
        origin,
        clock=clock,
        key=key,
        request={"loan": loan_id, "on": on},
    )
    if claim.earlier is not None:
        return claim.replay(_stored(session, LoanWriteOff, claim.earlier, "write_off_id"))
    row = lending.write_off_loan(
        session, loan_id, key=origin.scoped(key), clock=clock, actor=origin.actor, on=on
    )
    loan = lending.get_loan(session, loan_id)
    if claim.existed_entry(row.entry_id):  # booked under this key before keys were kept
        return claim.known(row, subject_id=loan_id, result={"write_off_id": row.id})
    return claim.done(
        row,
        subject_id=loan_id,
        details={
            "principal": format_minor(row.principal_minor, loan.currency),
            "entry_id": row.entry_id,
        },
        result={"write_off_id": row.id},
    )


def record_recovery(
    session: Session,
    loan_id: int,
    amount_minor: int,
    *,
    received_on: date,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[LoanRecovery]:
    """Record money received on a written-off loan; see `lending.record_recovery`."""
    claim = begin(
        session,
        RECORD_RECOVERY,
        origin,
        clock=clock,
        key=key,
        request={"loan": loan_id, "amount": amount_minor, "received_on": received_on},
    )
    if claim.earlier is not None:
        return claim.replay(_stored(session, LoanRecovery, claim.earlier, "recovery_id"))
    row = lending.record_recovery(
        session,
        loan_id,
        amount_minor,
        received_on=received_on,
        key=origin.scoped(key),
        clock=clock,
        actor=origin.actor,
    )
    loan = lending.get_loan(session, loan_id)
    if claim.existed_entry(row.entry_id):  # booked under this key before keys were kept
        return claim.known(row, subject_id=loan_id, result={"recovery_id": row.id})
    return claim.done(
        row,
        subject_id=loan_id,
        details={
            "recovery_id": row.id,
            "amount": format_minor(row.amount_minor, loan.currency),
            "entry_id": row.entry_id,
        },
        result={"recovery_id": row.id},
    )


def refund_overpayment(
    session: Session,
    loan_id: int,
    amount_minor: int,
    *,
    refunded_on: date | None = None,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[OverpaymentRefund]:
    """Pay back to the borrower money paid beyond what the loan owed (Dr overpayments, Cr
    cash); more than is owed is InvalidLoanError, a short fund FundInsufficientError."""
    claim = begin(
        session,
        REFUND_OVERPAYMENT,
        origin,
        clock=clock,
        key=key,
        request={"loan": loan_id, "amount": amount_minor, "refunded_on": refunded_on},
    )
    if claim.earlier is not None:
        return claim.replay(_stored(session, OverpaymentRefund, claim.earlier, "refund_id"))
    row = lending.refund_overpayment(
        session,
        loan_id,
        amount_minor,
        key=origin.scoped(key),
        clock=clock,
        actor=origin.actor,
        refunded_on=refunded_on,
    )
    loan = lending.get_loan(session, loan_id)
    if claim.existed_entry(row.entry_id):  # booked under this key before keys were kept
        return claim.known(row, subject_id=loan_id, result={"refund_id": row.id})
    return claim.done(
        row,
        subject_id=loan_id,
        details={
            "refund_id": row.id,
            "amount": format_minor(row.amount_minor, loan.currency),
            "entry_id": row.entry_id,
        },
        result={"refund_id": row.id},
    )
