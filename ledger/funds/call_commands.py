"""Use cases of calls for ideas, applications, reviews, awards and tranches: the one command shape.

Each function here is one act of a person: an admin creates a call; a
proponent creates, changes, submits or withdraws an application and reports on
a milestone; the staff screen or reject it, propose, approve or refuse an
award, approve and pay its tranches, close it, book money given back or
disburse a loan; a committee member declares a conflict of interest and
scores. Each takes the act's arguments and an `Origin` (the acting user, the
channel, the address); it checks and writes through the rule modules
(`calls`, `applications`, `reviews`, `awards`), records its own audit event
under the action declared below, and returns an `Outcome`. Pages, the API and
the CLI call these and only translate.

The acts that can be repeated take the caller's request key: creating a call
or an application, and the acts that reserve or move money (approve, pay,
close, return, disburse). The same key and request answer the first outcome;
the same key on another award, tranche or amount is `IdempotencyConflictError`
and writes nothing. The engine keys underneath stay derived from the rows
(``award:{id}:tranche:{id}``...), as `ledger.funds.awards` writes them, so a
retry never reserves or pays twice even without a key. The other acts
(submit, withdraw, screen...: a second one is refused by the state, or finds
the act already done) take no key; they still open with `begin`, so every act
is audited the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from ledger.commands import Origin, Outcome, begin, command
from ledger.core.clock import Clock
from ledger.core.money import format_minor
from ledger.funds import applications, awards, calls, reviews
from ledger.funds.call_models import (
    Application,
    Award,
    Call,
    ConflictDeclaration,
    Review,
    Tranche,
)
from ledger.funds.calls import NewCall

CREATE_CALL = command("call.create", "call")
CREATE_APPLICATION = command("application.create", "application")
UPDATE_APPLICATION = command("application.update", "application")
SUBMIT_APPLICATION = command("application.submit", "application")
WITHDRAW_APPLICATION = command("application.withdraw", "application")
SCREEN_APPLICATION = command("application.screen", "application")
REJECT_APPLICATION = command("application.reject", "application")
DECLARE_CONFLICT = command("application.conflict", "application")
SCORE_APPLICATION = command("application.review", "application")
PROPOSE_AWARD = command("award.propose", "award")
APPROVE_AWARD = command("award.approve", "award")
REFUSE_AWARD = command("award.refuse", "award")
CLOSE_AWARD = command("award.close", "award")
RETURN_UNSPENT = command("award.return", "award")
DISBURSE_LOAN = command("award.disburse", "award")
APPROVE_TRANCHE = command("tranche.approve", "tranche")
PAY_TRANCHE = command("tranche.pay", "tranche")
REPORT_MILESTONE = command("tranche.report", "tranche")


def acting_user(origin: Origin) -> int:
    """The user who acts: every act on a call for ideas is some person's, never the system's."""
    if origin.user_id is None:
        raise ValueError("an act on a call for ideas needs the acting user in its origin")
    return origin.user_id


def create_call(
    session: Session,
    spec: NewCall,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Call]:
    """Create a call for ideas (questions, rubric, committee) once per request key."""
    claim = begin(
        session,
        CREATE_CALL,
        origin,
        clock=clock,
        key=key,
        request={
            "fund": spec.fund_id,
            "title": spec.title,
            "description": spec.description_md,
            "budget": spec.budget_minor,
            "max_award": spec.max_award_minor,
            "currency": spec.currency,
            "opens_at": spec.opens_at,
            "closes_at": spec.closes_at,
            "award_kind": spec.award_kind,
            "questions": [[text, required] for text, required in spec.questions],
            "criteria": [[name, weight] for name, weight in spec.criteria],
            "reviewers": sorted(spec.reviewer_user_ids),
            "loan_product": spec.loan_product_id,
        },
    )
    if claim.earlier is not None:
        return claim.replay(calls.get_call(session, claim.earlier.id))
    call = calls.create_call(session, spec, actor_user_id=acting_user(origin), clock=clock)
    return claim.done(
        call,
        subject_id=call.id,
        details={
            "fund_id": call.fund_id,
            "budget": format_minor(call.budget_minor, call.currency),
            "max_award": format_minor(call.max_award_minor, call.currency),
            "award_kind": call.award_kind,
        },
    )


def _draft_request(draft: applications.ApplicationDraft) -> dict[str, object]:
    return {
        "title": draft.title,
        "summary": draft.summary,
        "requested": draft.requested_minor,
        "kind": draft.kind,
        "answers": {str(q): bool(a) for q, a in sorted(draft.answers.items())},
        "public_name_consent": bool(draft.public_name_consent),
    }


def create_application(
    session: Session,
    call_id: int,
    draft: applications.ApplicationDraft,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Application]:
    """A draft application of the acting proponent, once per request key."""
    claim = begin(
        session,
        CREATE_APPLICATION,
        origin,
        clock=clock,
        key=key,
        request={"call": call_id, **_draft_request(draft)},
    )
    if claim.earlier is not None:
        return claim.replay(applications.get_application(session, claim.earlier.id))
    found = applications.create_application(
        session, call_id, draft, proponent_user_id=acting_user(origin), clock=clock
    )
    return claim.done(found, subject_id=found.id, details={"call_id": call_id})


def update_application(
    session: Session,
    application_id: int,
    draft: applications.ApplicationDraft,
    *,
    origin: Origin,
    clock: Clock,
) -> Outcome[Application]:
    """Change a draft of the acting proponent (before the call closes)."""
    claim = begin(session, UPDATE_APPLICATION, origin, clock=clock)
    found = applications.update_application(
        session, application_id, draft, proponent_user_id=acting_user(origin), clock=clock
    )
    return claim.done(found, subject_id=found.id)


def submit_application(
    session: Session, application_id: int, *, origin: Origin, clock: Clock
) -> Outcome[Application]:
    """draft -> submitted while the call is open (after it closes nothing changes)."""
    claim = begin(session, SUBMIT_APPLICATION, origin, clock=clock)
    found = applications.submit_application(
        session, application_id, proponent_user_id=acting_user(origin), clock=clock
    )
    return claim.done(found, subject_id=application_id)


def withdraw_application(
    session: Session, application_id: int, *, origin: Origin, clock: Clock
) -> Outcome[Application]:
    """The proponent withdraws the application (final)."""
    claim = begin(session, WITHDRAW_APPLICATION, origin, clock=clock)
    found = applications.withdraw_application(
        session, application_id, proponent_user_id=acting_user(origin), clock=clock
    )
    return claim.done(found, subject_id=application_id)


def screen_application(
    session: Session, application_id: int, *, origin: Origin, clock: Clock
) -> Outcome[Application]:
    """Screen a submitted application: in review, or screened out when an answer differs."""
    claim = begin(session, SCREEN_APPLICATION, origin, clock=clock)
    found = applications.screen_application(
        session, application_id, actor_user_id=acting_user(origin), clock=clock
    )
    return claim.done(found, subject_id=application_id, details={"status": found.status})


def reject_application(
    session: Session,
    application_id: int,
    *,
    note: str | None = None,
    origin: Origin,
    clock: Clock,
) -> Outcome[Application]:
    """in_review -> rejected: the idea is not financed (the note is kept in its history)."""
    claim = begin(session, REJECT_APPLICATION, origin, clock=clock)
    found = applications.reject_application(
        session, application_id, actor_user_id=acting_user(origin), clock=clock, note=note
    )
    return claim.done(found, subject_id=application_id)


def declare_conflict(
    session: Session,
    application_id: int,
    *,
    conflicted: bool,
    origin: Origin,
    clock: Clock,
) -> Outcome[ConflictDeclaration]:
    """A committee member declares, once, whether they have a conflict of interest."""
    claim = begin(session, DECLARE_CONFLICT, origin, clock=clock)
    found = reviews.declare_conflict(
        session,
        application_id,
        reviewer_user_id=acting_user(origin),
        conflicted=conflicted,
        clock=clock,
    )
    return claim.done(found, subject_id=application_id, details={"conflicted": conflicted})


def score_application(
    session: Session,
    application_id: int,
    *,
    scores: Mapping[int, int],
    comment: str,
    origin: Origin,
    clock: Clock,
) -> Outcome[Review]:
    """A committee member's scores for every criterion of the rubric, once."""
    claim = begin(session, SCORE_APPLICATION, origin, clock=clock)
    found = reviews.score_application(
        session,
        application_id,
        reviewer_user_id=acting_user(origin),
        scores=scores,
        comment=comment,
        clock=clock,
    )
    return claim.done(found, subject_id=application_id, details={"review_id": found.id})


# ------------------------------------------------------------------ awards and tranches


def propose_award(
    session: Session,
    application_id: int,
    *,
    amount_minor: int,
    kind: str,
    tranches: Sequence[awards.TrancheSpec] = (),
    term_months: int | None = None,
    first_due_on: date | None = None,
    origin: Origin,
    clock: Clock,
) -> Outcome[Award]:
    """Propose an award (a grant in tranches, or a loan); another person approves it.

    A second proposal is refused by the application's state, so the act takes no key.
    """
    claim = begin(session, PROPOSE_AWARD, origin, clock=clock)
    award = awards.propose_award(
        session,
        application_id,
        amount_minor=amount_minor,
        kind=kind,
        tranches=tranches,
        term_months=term_months,
        first_due_on=first_due_on,
        actor_user_id=acting_user(origin),
        clock=clock,
    )
    return claim.done(
        award,
        subject_id=award.id,
        details={
            "application_id": application_id,
            "amount": format_minor(award.amount_minor, award.currency),
            "kind": award.kind,
        },
    )


def approve_award(
    session: Session,
    award_id: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Award]:
    """Approve a proposal (not its proposer): the money is reserved in the fund."""
    claim = begin(session, APPROVE_AWARD, origin, clock=clock, key=key, request={"award": award_id})
    if claim.earlier is not None:
        return claim.replay(awards.get_award(session, claim.earlier.id))
    award = awards.approve_award(session, award_id, actor_user_id=acting_user(origin), clock=clock)
    details: dict[str, Any] = {"amount": format_minor(award.amount_minor, award.currency)}
    if award.loan_id is not None:
        details["loan_id"] = award.loan_id
    return claim.done(award, subject_id=award_id, details=details)


def refuse_award(
    session: Session,
    award_id: int,
    *,
    note: str | None = None,
    origin: Origin,
    clock: Clock,
) -> Outcome[Award]:
    """Refuse a proposal: the application goes back to review (nothing was reserved)."""
    claim = begin(session, REFUSE_AWARD, origin, clock=clock)
    award = awards.refuse_award(
        session, award_id, actor_user_id=acting_user(origin), clock=clock, note=note
    )
    return claim.done(award, subject_id=award_id)


def approve_tranche(
    session: Session, tranche_id: int, *, origin: Origin, clock: Clock
) -> Outcome[Tranche]:
    """Approve a tranche for payment, once the previous milestone was reported on."""
    claim = begin(session, APPROVE_TRANCHE, origin, clock=clock)
    tranche = awards.approve_tranche(
        session, tranche_id, actor_user_id=acting_user(origin), clock=clock
    )
    return claim.done(tranche, subject_id=tranche_id, details={"award_id": tranche.award_id})


def pay_tranche(
    session: Session,
    tranche_id: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Tranche]:
    """Pay an approved tranche (not its approver): the fund's entry is booked."""
    claim = begin(
        session, PAY_TRANCHE, origin, clock=clock, key=key, request={"tranche": tranche_id}
    )
    if claim.earlier is not None:
        return claim.replay(awards.get_tranche(session, claim.earlier.id))
    tranche = awards.pay_tranche(
        session, tranche_id, actor_user_id=acting_user(origin), clock=clock
    )
    return claim.done(
        tranche,
        subject_id=tranche_id,
        details={
            "award_id": tranche.award_id,
            "amount": format_minor(tranche.amount_minor, tranche.currency),
            "entry_id": tranche.payment_ref,
        },
    )


def report_milestone(
    session: Session, tranche_id: int, *, report: str, origin: Origin, clock: Clock
) -> Outcome[Tranche]:
    """The proponent's report on the milestone of a paid tranche (once)."""
    claim = begin(session, REPORT_MILESTONE, origin, clock=clock)
    tranche = awards.report_milestone(
        session, tranche_id, proponent_user_id=acting_user(origin), report=report, clock=clock
    )
    return claim.done(tranche, subject_id=tranche_id)


def close_award(
    session: Session,
    award_id: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Award]:
    """Close a grant: tranches never paid are released to the fund."""
    claim = begin(session, CLOSE_AWARD, origin, clock=clock, key=key, request={"award": award_id})
    if claim.earlier is not None:
        return claim.replay(awards.get_award(session, claim.earlier.id))
    award = awards.close_award(session, award_id, actor_user_id=acting_user(origin), clock=clock)
    return claim.done(
        award,
        subject_id=award_id,
        details={"released": format_minor(award.released_minor, award.currency)},
    )


def return_unspent(
    session: Session,
    award_id: int,
    amount_minor: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Award]:
    """Book money the proponent gave back unspent: it returns to the fund."""
    claim = begin(
        session,
        RETURN_UNSPENT,
        origin,
        clock=clock,
        key=key,
        request={"award": award_id, "amount": amount_minor},
    )
    if claim.earlier is not None:
        return claim.replay(awards.get_award(session, claim.earlier.id))
    award = awards.return_unspent(
        session, award_id, amount_minor, actor_user_id=acting_user(origin), clock=clock
    )
    return claim.done(
        award,
        subject_id=award_id,
        details={"amount": format_minor(amount_minor, award.currency)},
    )


def disburse_award_loan(
    session: Session,
    award_id: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Award]:
    """Disburse an approved loan award (not its approver); the loan goes on in the fund."""
    claim = begin(session, DISBURSE_LOAN, origin, clock=clock, key=key, request={"award": award_id})
    if claim.earlier is not None:
        return claim.replay(awards.get_award(session, claim.earlier.id))
    award = awards.disburse_award_loan(
        session, award_id, actor_user_id=acting_user(origin), clock=clock
    )
    return claim.done(award, subject_id=award_id, details={"loan_id": award.loan_id})
