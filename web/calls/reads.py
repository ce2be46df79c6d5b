"""What the pages of calls for ideas read: a call's page, an application's page, names.

Reads only, inside the caller's unit of work; the API reads `financed_ideas`
too (the ideas a call financed, the proponent named only with consent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.funds import applications as apps
from ledger.funds import awards as award_rules
from ledger.funds import reviews as review_rules
from ledger.funds.call_models import (
    Application,
    ApplicationEvent,
    Award,
    Call,
    CallCriterion,
    CallQuestion,
    ConflictDeclaration,
    Review,
    Tranche,
)
from ledger.funds.calls import CallFigures, call_figures, criteria_of, get_call, questions_of
from ledger.funds.models import Fund, LoanProductRow
from ledger.people.models import Person, User, UserRole
from web import views


@dataclass(frozen=True, slots=True)
class FinancedIdea:
    application: Application
    award: Award
    proponent_name: str | None


@dataclass(frozen=True, slots=True)
class CallPage:
    call: Call
    figures: CallFigures
    questions: list[CallQuestion]
    criteria: list[CallCriterion]
    financed: list[FinancedIdea]
    now: datetime


def financed_ideas(db: Session, call_id: int) -> list[FinancedIdea]:
    """Ideas of the call with an approved (or closed) award; a name only with consent."""
    rows = db.execute(
        select(Application, Award)
        .join(Award, Award.application_id == Application.id)
        .where(
            Application.call_id == call_id,
            Application.status.in_(apps.FINANCED),
            Award.status.in_(("approved", "closed")),
        )
        .order_by(Application.id)
    ).all()
    result = []
    for application, award in rows:
        name = None
        if application.public_name_consent:
            name = db.scalar(
                select(Person.full_name)
                .join(User, User.person_id == Person.id)
                .where(User.id == application.proponent_user_id)
            )
        result.append(FinancedIdea(application, award, name))
    return result


def call_page_data(db: Session, call_id: int) -> CallPage:
    """A call's page: its rules, figures, questions, rubric and the ideas it financed."""
    call = get_call(db, call_id)
    return CallPage(
        call=call,
        figures=call_figures(db, call_id),
        questions=questions_of(db, call_id),
        criteria=criteria_of(db, call_id),
        financed=financed_ideas(db, call_id),
        now=views.clock().now(),
    )


@dataclass(frozen=True, slots=True)
class ApplicationPage:
    application: Application
    call: Call
    questions: list[CallQuestion]
    answers: dict[int, bool]
    history: list[ApplicationEvent]
    awards: list[Award]
    tranches: dict[int, list[Tranche]]
    now: datetime
    ranked: review_rules.Ranked | None = None
    reviews: list[tuple[Review, dict[int, int]]] = field(default_factory=list)
    criteria: list[CallCriterion] = field(default_factory=list)
    declarations: list[ConflictDeclaration] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)


def names(db: Session, user_ids: set[int]) -> dict[int, str]:
    """The full names of these users, by user id."""
    if not user_ids:
        return {}
    rows = db.execute(
        select(User.id, Person.full_name)
        .join(Person, Person.id == User.person_id)
        .where(User.id.in_(user_ids))
    ).all()
    return {int(user_id): str(name) for user_id, name in rows}


def application_page_data(db: Session, found: Application, *, staff: bool) -> ApplicationPage:
    """An application's page; the staff also see its reviews, declarations and names."""
    awards = award_rules.awards_of(db, found.id)
    history = apps.history(db, found.id)
    page = ApplicationPage(
        application=found,
        call=get_call(db, found.call_id),
        questions=questions_of(db, found.call_id),
        answers=apps.answers_of(db, found.id),
        history=history,
        awards=awards,
        tranches={a.id: award_rules.tranches_of(db, a.id) for a in awards},
        now=views.clock().now(),
    )
    if not staff:
        return page
    score, count = review_rules.application_score(db, found.id)
    reviews = review_rules.reviews_of(db, found.id)
    declarations = list(
        db.scalars(
            select(ConflictDeclaration).where(ConflictDeclaration.application_id == found.id)
        )
    )
    people = {found.proponent_user_id}
    people |= {e.actor_user_id for e in history if e.actor_user_id is not None}
    people |= {r.reviewer_user_id for r in reviews}
    people |= {d.reviewer_user_id for d in declarations}
    for award in awards:
        people |= {
            u for u in (award.proposed_by_user_id, award.approved_by_user_id) if u is not None
        }
    return ApplicationPage(
        application=page.application,
        call=page.call,
        questions=page.questions,
        answers=page.answers,
        history=page.history,
        awards=page.awards,
        tranches=page.tranches,
        now=page.now,
        ranked=review_rules.Ranked(found, score, count, 0, None),
        reviews=[(r, review_rules.scores_of(db, r.id)) for r in reviews],
        criteria=criteria_of(db, found.call_id),
        declarations=declarations,
        names=names(db, people),
    )


def new_call_choices(db: Session) -> tuple[list[Fund], list[LoanProductRow], list[tuple[int, str]]]:
    """What the form of a new call offers: the funds, their loan products, the active reviewers."""
    funds = list(db.scalars(select(Fund).order_by(Fund.id)))
    products = list(db.scalars(select(LoanProductRow).order_by(LoanProductRow.id)))
    reviewers = db.execute(
        select(User.id, Person.full_name)
        .join(Person, Person.id == User.person_id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "reviewer", User.active.is_(True))
        .order_by(Person.full_name)
    ).all()
    return funds, products, [(int(i), str(n)) for i, n in reviewers]
