"""Awards of a call: proposal, four-eyes approval, grant tranches, loans and unspent money.

The rules, in order of the money's path:

- A proposal names the amount (which may differ from the request) and the kind
  (grant or loan, as the call allows). It may not exceed the call's maximum
  award nor what remains of the call's budget (live awards count: proposed,
  approved and closed, less what they released or got back).
- Approval needs a second person: whoever proposed cannot approve (a CHECK on
  the table says the same). On approval the money is reserved in the fund:
  one engine hold per grant tranche, or one hold for a loan, which is then
  opened through the funds domain (`open_loan(hold_id=...)`). A fund that does
  not hold the money refuses the reservation (`FundInsufficientError`) and the
  approval leaves no trace, so a fund never awards more than it holds.
- A grant is paid in one tranche or several, in order. Each tranche is approved
  by one person and paid by another (four-eyes again); tranche n+1 is approved
  and paid only after the proponent reported on tranche n's milestone. Each
  payment posts its tranche's hold (`pay_grant`: Dr grants paid, Cr fund cash).
- Closing an award releases the holds of the tranches never paid (the money is
  available to the fund again); money paid and later given back by the
  proponent is booked with `return_unspent` (Dr fund cash, Cr grants paid).

Engine keys are derived from these rows (``award:{id}:tranche:{id}`` etc.), so
a retried request never reserves or pays twice. Services take the caller's
session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.applications import get_application, move
from ledger.funds.call_errors import (
    ApplicationStateError,
    AwardNotFoundError,
    AwardStateError,
    CallBudgetExceededError,
    FourEyesError,
    InvalidAwardError,
    MilestoneReportMissingError,
    TrancheNotFoundError,
    TrancheStateError,
)
from ledger.funds.call_models import APPLICATION_KINDS, Award, Tranche
from ledger.funds.calls import call_figures, get_call
from ledger.people.models import User

MAX_TRANCHES = 12
DEFAULT_MILESTONE = "Realizzazione dell'idea e relazione finale"


@dataclass(frozen=True, slots=True)
class TrancheSpec:
    amount_minor: int
    milestone: str


def _actor(user_id: int) -> str:
    return f"user:{user_id}"


def get_award(session: Session, award_id: int, *, lock: bool = False) -> Award:
    query = select(Award).where(Award.id == award_id)
    if lock:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none()
    if found is None:
        raise AwardNotFoundError(f"nessun contributo con id {award_id}", award_id=award_id)
    return found


def get_tranche(session: Session, tranche_id: int, *, lock: bool = False) -> Tranche:
    query = select(Tranche).where(Tranche.id == tranche_id)
    if lock:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none()
    if found is None:
        raise TrancheNotFoundError(f"nessuna tranche con id {tranche_id}", tranche_id=tranche_id)
    return found


def live_award(session: Session, application_id: int) -> Award | None:
    """The application's award that is not refused, if any."""
    return session.scalars(
        select(Award).where(Award.application_id == application_id, Award.status != "refused")
    ).first()


def awards_of(session: Session, application_id: int) -> list[Award]:
    return list(
        session.scalars(
            select(Award).where(Award.application_id == application_id).order_by(Award.id)
        )
    )


def tranches_of(session: Session, award_id: int) -> list[Tranche]:
    return list(
        session.scalars(
            select(Tranche).where(Tranche.award_id == award_id).order_by(Tranche.position)
        )
    )


def _check_budget(session: Session, call_id: int, amount_minor: int) -> None:
    figures = call_figures(session, call_id)
    if amount_minor > figures.remaining_minor:
        raise CallBudgetExceededError(
            "l'importo supera quanto resta del budget del bando",
            remaining_minor=figures.remaining_minor,
            requested_minor=amount_minor,
        )


def _within_product(session: Session, product_id: int, amount_minor: int, months: int) -> None:
    """A loan award within its product's limits (checked again when the loan opens)."""
    from ledger.funds.models import LoanProductRow

    product = session.get(LoanProductRow, product_id)
    if product is None:
        raise InvalidAwardError("Il prodotto di prestito del bando non esiste.", field="kind")
    if not product.min_amount_minor <= amount_minor <= product.max_amount_minor:
        raise InvalidAwardError(
            "L'importo è fuori dai limiti del prodotto di prestito.",
            field="amount",
            minimum_minor=product.min_amount_minor,
            maximum_minor=product.max_amount_minor,
        )
    if not product.min_term_months <= months <= product.max_term_months:
        raise InvalidAwardError(
            "La durata è fuori dai limiti del prodotto di prestito.",
            field="term_months",
            minimum=product.min_term_months,
            maximum=product.max_term_months,
        )


def propose_award(
    session: Session,
    application_id: int,
    *,
    amount_minor: int,
    kind: str,
    actor_user_id: int,
    clock: Clock,
    tranches: Sequence[TrancheSpec] = (),
    term_months: int | None = None,
    first_due_on: date | None = None,
) -> Award:
    """in_review -> awarded: a proposal that waits for another person's approval.

    Grants: `tranches` sum to the amount (none: one payment). Loans: a term in
    months and the first due date; the call's loan product applies.
    """
    application = get_application(session, application_id, lock=True)
    if application.status != "in_review":
        raise ApplicationStateError(
            f"la candidatura è {application.status}: si propone un contributo solo se in "
            "valutazione",
            status=application.status,
        )
    call = get_call(session, application.call_id, lock=True)
    if kind not in APPLICATION_KINDS or call.award_kind not in ("either", kind):
        raise InvalidAwardError(
            f"Questo bando non concede il tipo {kind}.", field="kind", allowed=call.award_kind
        )
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise InvalidAwardError("L'importo deve essere maggiore di zero.", field="amount")
    if amount_minor > call.max_award_minor:
        raise InvalidAwardError(
            "L'importo supera il contributo massimo del bando.",
            field="amount",
            maximum_minor=call.max_award_minor,
        )
    _check_budget(session, call.id, amount_minor)
    plan: list[TrancheSpec] = []
    if kind == "grant":
        plan = list(tranches) or [TrancheSpec(amount_minor, DEFAULT_MILESTONE)]
        if len(plan) > MAX_TRANCHES:
            raise InvalidAwardError(f"Al massimo {MAX_TRANCHES} tranche.", field="tranches")
        for part in plan:
            if (
                isinstance(part.amount_minor, bool)
                or not isinstance(part.amount_minor, int)
                or part.amount_minor <= 0
            ):
                raise InvalidAwardError("Ogni tranche è un importo positivo.", field="tranches")
            milestone = " ".join((part.milestone or "").split())
            if not milestone or len(milestone) > 500:
                raise InvalidAwardError(
                    "Ogni tranche ha la sua tappa (massimo 500 caratteri).", field="tranches"
                )
        if sum(p.amount_minor for p in plan) != amount_minor:
            raise InvalidAwardError(
                "La somma delle tranche deve essere uguale all'importo.", field="tranches"
            )
        term_months = None
        first_due_on = None
    else:
        if tranches:
            raise InvalidAwardError("Un prestito non ha tranche.", field="tranches")
        if call.loan_product_id is None:
            raise InvalidAwardError("Il bando non ha un prodotto di prestito.", field="kind")
        if isinstance(term_months, bool) or not isinstance(term_months, int) or term_months <= 0:
            raise InvalidAwardError("La durata è un numero di mesi positivo.", field="term_months")
        if first_due_on is None or first_due_on <= clock.now().date():
            raise InvalidAwardError(
                "La prima scadenza deve essere nel futuro.", field="first_due_on"
            )
        _within_product(session, call.loan_product_id, amount_minor, term_months)
    now = clock.now()
    award = Award(
        application_id=application.id,
        kind=kind,
        amount_minor=amount_minor,
        currency=call.currency,
        status="proposed",
        proposed_by_user_id=actor_user_id,
        proposed_at=now,
        term_months=term_months,
        first_due_on=first_due_on,
        released_minor=0,
        returned_minor=0,
    )
    session.add(award)
    session.flush()
    for position, part in enumerate(plan, start=1):
        session.add(
            Tranche(
                award_id=award.id,
                position=position,
                amount_minor=part.amount_minor,
                currency=call.currency,
                milestone=" ".join(part.milestone.split()),
                status="planned",
            )
        )
    move(
        session,
        application,
        "awarded",
        actor_user_id=actor_user_id,
        now=now,
        note=f"proposta: contributo {award.id}",
    )
    session.flush()
    return award


def approve_award(session: Session, award_id: int, *, actor_user_id: int, clock: Clock) -> Award:
    """proposed -> approved by a second person; the money is reserved in the fund.

    Raises `FourEyesError` when the proposer tries, `CallBudgetExceededError`
    when the call's budget no longer allows it, and the funds domain's
    `FundInsufficientError` when the fund does not hold the money; in every
    case nothing is written.
    """
    award = get_award(session, award_id, lock=True)
    if award.status == "approved" and award.approved_by_user_id == actor_user_id:
        return award
    if award.status != "proposed":
        raise AwardStateError(
            f"il contributo è {award.status}: si approva solo una proposta", status=award.status
        )
    if award.proposed_by_user_id == actor_user_id:
        raise FourEyesError(
            "chi ha proposto il contributo non può approvarlo: serve una seconda persona",
            proposed_by_user_id=actor_user_id,
        )
    application = get_application(session, award.application_id, lock=True)
    call = get_call(session, application.call_id, lock=True)
    # The budget counts this proposal already; approval only re-reads it under the lock.
    figures = call_figures(session, call.id)
    if figures.remaining_minor < 0:
        raise CallBudgetExceededError(
            "il budget del bando è superato", remaining_minor=figures.remaining_minor
        )
    actor = _actor(actor_user_id)
    if award.kind == "grant":
        for tranche in tranches_of(session, award.id):
            tranche.hold_id = funds.reserve(
                session,
                call.fund_id,
                tranche.amount_minor,
                key=f"award:{award.id}:tranche:{tranche.id}",
                clock=clock,
                purpose="grant",
                actor=actor,
                reference=f"award:{award.id}",
            )
    else:
        proponent = session.get(User, application.proponent_user_id)
        assert proponent is not None
        assert call.loan_product_id is not None
        assert award.term_months is not None and award.first_due_on is not None
        award.hold_id = funds.reserve(
            session,
            call.fund_id,
            award.amount_minor,
            key=f"award:{award.id}:loan",
            clock=clock,
            purpose="loan",
            actor=actor,
            reference=f"award:{award.id}",
        )
        loan = lending.open_loan(
            session,
            fund_id=call.fund_id,
            product_id=call.loan_product_id,
            borrower_person_id=proponent.person_id,
            principal_minor=award.amount_minor,
            term_months=award.term_months,
            first_due_on=award.first_due_on,
            hold_id=award.hold_id,
            key=f"award:{award.id}",
            clock=clock,
            actor=actor,
        )
        award.loan_id = loan.id
    now = clock.now()
    award.status = "approved"
    award.approved_by_user_id = actor_user_id
    award.decided_by_user_id = actor_user_id
    award.decided_at = now
    move(
        session,
        application,
        "approved",
        actor_user_id=actor_user_id,
        now=now,
        note=f"approvato: contributo {award.id}",
    )
    session.flush()
    return award


def refuse_award(
    session: Session, award_id: int, *, actor_user_id: int, clock: Clock, note: str | None = None
) -> Award:
    """proposed -> refused: the application goes back to review (nothing was reserved)."""
    award = get_award(session, award_id, lock=True)
    if award.status != "proposed":
        raise AwardStateError(
            f"il contributo è {award.status}: si rifiuta solo una proposta", status=award.status
        )
    application = get_application(session, award.application_id, lock=True)
    now = clock.now()
    award.status = "refused"
    award.decided_by_user_id = actor_user_id
    award.decided_at = now
    move(
        session,
        application,
        "in_review",
        actor_user_id=actor_user_id,
        now=now,
        note=note or f"proposta non approvata: contributo {award.id}",
    )
    session.flush()
    return award


def _grant_award_of(session: Session, tranche: Tranche) -> Award:
    award = get_award(session, tranche.award_id, lock=True)
    if award.status != "approved":
        raise AwardStateError(
            f"il contributo è {award.status}: le tranche si pagano solo se approvato",
            status=award.status,
        )
    return award


def _previous_reported(session: Session, tranche: Tranche) -> None:
    if tranche.position == 1:
        return
    previous = session.scalars(
        select(Tranche).where(
            Tranche.award_id == tranche.award_id, Tranche.position == tranche.position - 1
        )
    ).one()
    if previous.status != "paid":
        raise TrancheStateError(
            f"la tranche {previous.position} non è ancora stata pagata",
            previous_position=previous.position,
        )
    if previous.reported_at is None:
        raise MilestoneReportMissingError(
            f"manca la relazione sulla tappa della tranche {previous.position}: la tranche "
            f"{tranche.position} attende",
            previous_position=previous.position,
        )


def approve_tranche(
    session: Session, tranche_id: int, *, actor_user_id: int, clock: Clock
) -> Tranche:
    """planned -> approved, once the previous milestone was reported on."""
    tranche = get_tranche(session, tranche_id, lock=True)
    _grant_award_of(session, tranche)
    if tranche.status == "approved" and tranche.approved_by_user_id == actor_user_id:
        return tranche
    if tranche.status != "planned":
        raise TrancheStateError(
            f"la tranche è {tranche.status}: si approva solo se prevista", status=tranche.status
        )
    _previous_reported(session, tranche)
    tranche.status = "approved"
    tranche.approved_by_user_id = actor_user_id
    tranche.approved_at = clock.now()
    session.flush()
    return tranche


def pay_tranche(session: Session, tranche_id: int, *, actor_user_id: int, clock: Clock) -> Tranche:
    """approved -> paid by a person other than the approver: posts the tranche's hold."""
    tranche = get_tranche(session, tranche_id, lock=True)
    award = _grant_award_of(session, tranche)
    if tranche.status == "paid":
        return tranche
    if tranche.status != "approved":
        raise TrancheStateError(
            f"la tranche è {tranche.status}: si paga solo se approvata", status=tranche.status
        )
    if tranche.approved_by_user_id == actor_user_id:
        raise FourEyesError(
            "chi ha approvato la tranche non può anche pagarla: serve una seconda persona"
        )
    _previous_reported(session, tranche)
    application = get_application(session, award.application_id, lock=True)
    call = get_call(session, application.call_id)
    assert tranche.hold_id is not None
    payment = funds.pay_grant(
        session,
        call.fund_id,
        tranche.amount_minor,
        hold_id=tranche.hold_id,
        key=f"award:{award.id}:tranche:{tranche.id}",
        clock=clock,
        actor=_actor(actor_user_id),
    )
    now = clock.now()
    tranche.status = "paid"
    tranche.paid_by_user_id = actor_user_id
    tranche.paid_at = now
    tranche.payment_ref = payment.entry_id
    if application.status == "approved":
        move(
            session,
            application,
            "disbursing",
            actor_user_id=actor_user_id,
            now=now,
            note=f"pagata la tranche {tranche.position}",
        )
    session.flush()
    return tranche


def report_milestone(
    session: Session, tranche_id: int, *, proponent_user_id: int, report: str, clock: Clock
) -> Tranche:
    """The proponent's report on the milestone of a paid tranche (once)."""
    tranche = get_tranche(session, tranche_id, lock=True)
    award = get_award(session, tranche.award_id)
    application = get_application(session, award.application_id)
    if application.proponent_user_id != proponent_user_id:
        raise TrancheNotFoundError(f"nessuna tranche con id {tranche_id}", tranche_id=tranche_id)
    if tranche.status != "paid":
        raise TrancheStateError(
            "si relaziona su una tappa dopo aver ricevuto la sua tranche", status=tranche.status
        )
    if tranche.reported_at is not None:
        raise TrancheStateError("la relazione su questa tappa è già stata inviata")
    text = (report or "").strip()
    if not text or len(text) > 10_000:
        raise InvalidAwardError(
            "La relazione è obbligatoria (massimo 10.000 caratteri).", field="report"
        )
    tranche.report = text
    tranche.reported_at = clock.now()
    session.flush()
    return tranche


def close_award(session: Session, award_id: int, *, actor_user_id: int, clock: Clock) -> Award:
    """approved -> closed: tranches never paid are released to the fund.

    A loan award closes when its loan is disbursed (`disburse_award_loan`).
    """
    award = get_award(session, award_id, lock=True)
    if award.status == "closed":
        return award
    if award.status != "approved" or award.kind != "grant":
        raise AwardStateError(
            f"il contributo è {award.status}: si chiude solo un contributo approvato",
            status=award.status,
        )
    application = get_application(session, award.application_id, lock=True)
    released = 0
    for tranche in tranches_of(session, award.id):
        if tranche.status in ("planned", "approved"):
            assert tranche.hold_id is not None
            funds.release_reservation(
                session,
                tranche.hold_id,
                key=f"award:{award.id}:tranche:{tranche.id}",
                clock=clock,
                actor=_actor(actor_user_id),
            )
            tranche.status = "released"
            released += tranche.amount_minor
    now = clock.now()
    award.released_minor += released
    award.status = "closed"
    award.closed_at = now
    move(
        session,
        application,
        "closed",
        actor_user_id=actor_user_id,
        now=now,
        note=f"chiuso; tornano al fondo {released} (unità minime) non erogate"
        if released
        else "chiuso",
    )
    session.flush()
    return award


def paid_minor(session: Session, award_id: int) -> int:
    return sum(t.amount_minor for t in tranches_of(session, award_id) if t.status == "paid")


def return_unspent(
    session: Session, award_id: int, amount_minor: int, *, actor_user_id: int, clock: Clock
) -> Award:
    """Money paid to the proponent and given back unspent goes back into the fund."""
    award = get_award(session, award_id, lock=True)
    if award.kind != "grant" or award.status not in ("approved", "closed"):
        raise AwardStateError(
            "si restituisce solo un contributo approvato e pagato", status=award.status
        )
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise InvalidAwardError("L'importo deve essere maggiore di zero.", field="amount")
    returnable = paid_minor(session, award.id) - award.returned_minor
    if amount_minor > returnable:
        raise InvalidAwardError(
            "Si restituisce al massimo quanto è stato pagato e non ancora restituito.",
            field="amount",
            maximum_minor=returnable,
        )
    application = get_application(session, award.application_id)
    call = get_call(session, application.call_id)
    funds.return_unspent(
        session,
        call.fund_id,
        amount_minor,
        key=f"award:{award.id}:return:{award.returned_minor}",
        clock=clock,
        actor=_actor(actor_user_id),
        reference=f"award:{award.id}",
    )
    award.returned_minor += amount_minor
    session.flush()
    return award


def disburse_award_loan(
    session: Session, award_id: int, *, actor_user_id: int, clock: Clock
) -> Award:
    """A loan award's money leaves the fund (the loan's hold is posted); the call's part
    ends there and the loan is followed in the funds domain."""
    award = get_award(session, award_id, lock=True)
    if award.kind != "loan":
        raise AwardStateError("solo un prestito si eroga così", kind=award.kind)
    if award.status == "closed":
        return award
    if award.status != "approved" or award.loan_id is None:
        raise AwardStateError(
            f"il contributo è {award.status}: si eroga solo un prestito approvato",
            status=award.status,
        )
    if award.approved_by_user_id == actor_user_id:
        raise FourEyesError("chi ha approvato il prestito non può anche erogarlo")
    application = get_application(session, award.application_id, lock=True)
    lending.disburse_loan(
        session,
        award.loan_id,
        key=f"award:{award.id}:disburse",
        clock=clock,
        actor=_actor(actor_user_id),
    )
    now = clock.now()
    award.status = "closed"
    award.closed_at = now
    move(
        session,
        application,
        "disbursing",
        actor_user_id=actor_user_id,
        now=now,
        note=f"prestito {award.loan_id} erogato",
    )
    move(
        session,
        application,
        "closed",
        actor_user_id=actor_user_id,
        now=now,
        note=f"il prestito {award.loan_id} prosegue nel fondo",
    )
    session.flush()
    return award


def tranches_waiting(session: Session) -> tuple[int, int]:
    """Tranches of approved grants waiting for approval (planned) and for payment
    (approved), as two counts."""
    rows = session.execute(
        select(Tranche.status, func.count())
        .join(Award, Award.id == Tranche.award_id)
        .where(Award.status == "approved", Tranche.status.in_(("planned", "approved")))
        .group_by(Tranche.status)
    ).all()
    counts = {str(status): int(count) for status, count in rows}
    return counts.get("planned", 0), counts.get("approved", 0)
