"""Calls for ideas: creation by an admin, the committee, and the call's budget figures.

A call belongs to one fund and awards at most its budget: the budget committed
is the sum of the live awards (proposed, approved or closed) less what each
released or got back. The fund's own money is guarded separately by the holds
an approval places on it (`ledger.funds.awards`), so a call can never commit
more than its budget and a fund never more than it holds.
Every service takes the caller's session and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.core.money import exponent
from ledger.funds.call_errors import CallNotFoundError, InvalidCallError
from ledger.funds.call_models import (
    AWARD_KINDS,
    Application,
    Award,
    Call,
    CallCriterion,
    CallQuestion,
    CallReviewer,
)
from ledger.people.models import User

MAX_QUESTIONS = 30
MAX_CRITERIA = 20
MAX_WEIGHT = 100


@dataclass(frozen=True, slots=True)
class NewCall:
    fund_id: int
    title: str
    description_md: str
    budget_minor: int
    max_award_minor: int
    currency: str
    opens_at: datetime
    closes_at: datetime
    award_kind: str
    # (question, the answer an eligible proponent gives)
    questions: Sequence[tuple[str, bool]] = field(default_factory=tuple)
    # (criterion, integer weight)
    criteria: Sequence[tuple[str, int]] = field(default_factory=tuple)
    reviewer_user_ids: Sequence[int] = field(default_factory=tuple)
    loan_product_id: int | None = None


@dataclass(frozen=True, slots=True)
class CallFigures:
    call_id: int
    currency: str
    budget_minor: int
    committed_minor: int

    @property
    def remaining_minor(self) -> int:
        return self.budget_minor - self.committed_minor


def get_call(session: Session, call_id: int, *, lock: bool = False) -> Call:
    """The call, optionally with its row locked (awards lock it to keep to the budget)."""
    query = select(Call).where(Call.id == call_id)
    if lock:
        query = query.with_for_update()
    call = session.scalars(query).one_or_none()
    if call is None:
        raise CallNotFoundError(f"nessun bando con id {call_id}", call_id=call_id)
    return call


def _check_reviewer(session: Session, user_id: int) -> None:
    user = session.get(User, user_id)
    if user is None or not user.active or "reviewer" not in user.roles:
        raise InvalidCallError(
            f"l'utente {user_id} non ha il ruolo di valutatore", field="reviewers", user_id=user_id
        )


def _check_fund(session: Session, fund_id: int, currency: str) -> None:
    from ledger.funds.service import get_fund

    fund = get_fund(session, fund_id)
    if fund.currency != currency:
        raise InvalidCallError(
            f"il fondo è in {fund.currency}, il bando in {currency}", field="currency"
        )


def create_call(session: Session, spec: NewCall, *, actor_user_id: int, clock: Clock) -> Call:
    """A call for ideas with its questions, rubric and committee."""
    now = clock.now()
    title = " ".join((spec.title or "").split())
    if not title or len(title) > 200:
        raise InvalidCallError("Il titolo è obbligatorio (massimo 200 caratteri).", field="title")
    if len(spec.description_md or "") > 20_000:
        raise InvalidCallError("La descrizione supera 20.000 caratteri.", field="description")
    exponent(spec.currency)
    if not isinstance(spec.budget_minor, int) or spec.budget_minor <= 0:
        raise InvalidCallError("Il budget deve essere maggiore di zero.", field="budget")
    if not isinstance(spec.max_award_minor, int) or not 0 < spec.max_award_minor:
        raise InvalidCallError("Il contributo massimo deve essere positivo.", field="max_award")
    if spec.max_award_minor > spec.budget_minor:
        raise InvalidCallError(
            "Il contributo massimo non può superare il budget.", field="max_award"
        )
    if spec.award_kind not in AWARD_KINDS:
        raise InvalidCallError(f"Tipo di contributo sconosciuto: {spec.award_kind}.", field="kind")
    if spec.opens_at.tzinfo is None or spec.closes_at.tzinfo is None:
        raise InvalidCallError("Apertura e chiusura devono avere il fuso orario.", field="window")
    if spec.closes_at <= spec.opens_at:
        raise InvalidCallError("La chiusura deve seguire l'apertura.", field="closes_at")
    if spec.closes_at <= now:
        raise InvalidCallError("La chiusura deve essere nel futuro.", field="closes_at")
    if spec.award_kind in ("loan", "either") and spec.loan_product_id is None:
        raise InvalidCallError(
            "Un bando che concede prestiti indica il prodotto di prestito.",
            field="loan_product_id",
        )
    if len(spec.questions) > MAX_QUESTIONS:
        raise InvalidCallError("Troppe domande di ammissibilità.", field="questions")
    questions = []
    for text, required in spec.questions:
        clean = " ".join((text or "").split())
        if not clean or len(clean) > 500:
            raise InvalidCallError(
                "Ogni domanda ha un testo (massimo 500 caratteri).", field="questions"
            )
        questions.append((clean, bool(required)))
    if not spec.criteria or len(spec.criteria) > MAX_CRITERIA:
        raise InvalidCallError(
            f"La griglia di valutazione ha da 1 a {MAX_CRITERIA} criteri.", field="criteria"
        )
    criteria = []
    for name, weight in spec.criteria:
        clean = " ".join((name or "").split())
        if not clean or len(clean) > 200:
            raise InvalidCallError(
                "Ogni criterio ha un nome (massimo 200 caratteri).", field="criteria"
            )
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 < weight <= MAX_WEIGHT:
            raise InvalidCallError(
                f"Il peso di un criterio è un intero da 1 a {MAX_WEIGHT}.", field="criteria"
            )
        criteria.append((clean, weight))
    reviewers = sorted(set(spec.reviewer_user_ids))
    if not reviewers:
        raise InvalidCallError("La commissione ha almeno un valutatore.", field="reviewers")
    for user_id in reviewers:
        _check_reviewer(session, user_id)
    _check_fund(session, spec.fund_id, spec.currency)
    if spec.loan_product_id is not None:
        _check_product(session, spec.loan_product_id, spec.fund_id)
    call = Call(
        fund_id=spec.fund_id,
        title=title,
        description_md=spec.description_md or "",
        budget_minor=spec.budget_minor,
        max_award_minor=spec.max_award_minor,
        currency=spec.currency,
        opens_at=spec.opens_at,
        closes_at=spec.closes_at,
        award_kind=spec.award_kind,
        loan_product_id=spec.loan_product_id,
        created_by_user_id=actor_user_id,
        created_at=now,
    )
    session.add(call)
    session.flush()
    for position, (text, required) in enumerate(questions, start=1):
        session.add(
            CallQuestion(call_id=call.id, position=position, text=text, required_answer=required)
        )
    for position, (name, weight) in enumerate(criteria, start=1):
        session.add(CallCriterion(call_id=call.id, position=position, name=name, weight=weight))
    for user_id in reviewers:
        session.add(CallReviewer(call_id=call.id, user_id=user_id, added_at=now))
    session.flush()
    return call


def _check_product(session: Session, product_id: int, fund_id: int) -> None:
    from ledger.funds.models import LoanProductRow

    product = session.get(LoanProductRow, product_id)
    if product is None or product.fund_id != fund_id:
        raise InvalidCallError(
            f"il fondo non ha un prodotto di prestito con id {product_id}",
            field="loan_product_id",
        )


def add_reviewer(session: Session, call_id: int, user_id: int, *, clock: Clock) -> bool:
    """Add a reviewer to the committee; False when already a member."""
    get_call(session, call_id, lock=True)
    _check_reviewer(session, user_id)
    if session.get(CallReviewer, (call_id, user_id)) is not None:
        return False
    session.add(CallReviewer(call_id=call_id, user_id=user_id, added_at=clock.now()))
    session.flush()
    return True


def is_reviewer(session: Session, call_id: int, user_id: int) -> bool:
    return session.get(CallReviewer, (call_id, user_id)) is not None


def committee(session: Session, call_id: int) -> list[int]:
    """User ids of the committee, in order."""
    return list(
        session.scalars(
            select(CallReviewer.user_id)
            .where(CallReviewer.call_id == call_id)
            .order_by(CallReviewer.user_id)
        )
    )


def questions_of(session: Session, call_id: int) -> list[CallQuestion]:
    return list(
        session.scalars(
            select(CallQuestion)
            .where(CallQuestion.call_id == call_id)
            .order_by(CallQuestion.position)
        )
    )


def criteria_of(session: Session, call_id: int) -> list[CallCriterion]:
    return list(
        session.scalars(
            select(CallCriterion)
            .where(CallCriterion.call_id == call_id)
            .order_by(CallCriterion.position)
        )
    )


def list_calls(session: Session) -> list[Call]:
    """Every call, the latest closing first."""
    return list(session.scalars(select(Call).order_by(Call.closes_at.desc(), Call.id.desc())))


def calls_of_reviewer(session: Session, user_id: int) -> list[Call]:
    return list(
        session.scalars(
            select(Call)
            .join(CallReviewer, CallReviewer.call_id == Call.id)
            .where(CallReviewer.user_id == user_id)
            .order_by(Call.closes_at.desc(), Call.id.desc())
        )
    )


def call_figures(session: Session, call_id: int) -> CallFigures:
    """Budget, what live awards commit of it, and what remains."""
    call = get_call(session, call_id)
    committed = session.scalar(
        select(
            func.coalesce(
                func.sum(Award.amount_minor - Award.released_minor - Award.returned_minor), 0
            )
        )
        .join(Application, Application.id == Award.application_id)
        .where(Application.call_id == call_id, Award.status != "refused")
    )
    return CallFigures(
        call_id=call.id,
        currency=call.currency,
        budget_minor=call.budget_minor,
        committed_minor=int(committed or 0),
    )
