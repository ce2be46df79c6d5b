"""Committee review: conflict-of-interest declarations, weighted scores and the ranking.

A committee member first declares, for each application, whether they have a
conflict of interest; the declaration is final (append-only). Only a member who
declared no conflict may score, once, every criterion of the rubric with a
whole number from 0 to 10. A review's score is the weighted mean of its
criteria (sum of weight x score over the sum of weights); an application's
score is the mean of its reviews, computed exactly (fractions) and shown to two
decimals (half-even). The ranking orders scored applications by score, then by
submission time; unscored ones follow.

A member who is the application's proponent has a conflict by definition: they
may declare it, never "no conflict", and they never score their own application
(not even with a "no conflict" recorded before this rule). The data holds no
organisation for a person or an application (a proponent is a user id; a
person has a name, an e-mail, a tax code and an address), so "the same
organisation as the proponent" is for the member to declare.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.funds.applications import get_application
from ledger.funds.call_errors import (
    ApplicationStateError,
    ConflictOfInterestError,
    InvalidReviewError,
    NotOnCommitteeError,
)
from ledger.funds.call_models import (
    SCORE_MAX,
    SCORE_MIN,
    Application,
    ConflictDeclaration,
    Review,
    ReviewScore,
)
from ledger.funds.calls import criteria_of, is_reviewer

REVIEWABLE = ("in_review",)
RANKED = ("in_review", "awarded", "approved", "rejected", "disbursing", "closed")


def _member(session: Session, application: Application, reviewer_user_id: int) -> None:
    if not is_reviewer(session, application.call_id, reviewer_user_id):
        raise NotOnCommitteeError(
            "non fai parte della commissione di questo bando",
            call_id=application.call_id,
        )


def _refuse_proponent(application: Application, reviewer_user_id: int, message: str) -> None:
    if application.proponent_user_id == reviewer_user_id:
        raise ConflictOfInterestError(message, proponent=True)


def declaration_of(
    session: Session, application_id: int, reviewer_user_id: int
) -> ConflictDeclaration | None:
    return session.get(ConflictDeclaration, (application_id, reviewer_user_id))


def declare_conflict(
    session: Session,
    application_id: int,
    *,
    reviewer_user_id: int,
    conflicted: bool,
    clock: Clock,
) -> ConflictDeclaration:
    """Record whether the reviewer has a conflict of interest; final once made.

    Declaring the same again returns the first declaration; a different one is
    refused (a conflict cannot be taken back once declared, nor added after
    scoring: the declaration is part of the record).
    """
    application = get_application(session, application_id, lock=True)
    _member(session, application, reviewer_user_id)
    if application.status not in REVIEWABLE:
        raise ApplicationStateError(
            f"la candidatura è {application.status}: non è in valutazione",
            status=application.status,
        )
    if not conflicted:
        _refuse_proponent(
            application,
            reviewer_user_id,
            "sei il proponente di questa candidatura: dichiara il conflitto di interessi",
        )
    existing = declaration_of(session, application_id, reviewer_user_id)
    if existing is not None:
        if existing.conflicted != conflicted:
            raise ConflictOfInterestError(
                "hai già dichiarato per questa candidatura: la dichiarazione non si cambia",
                conflicted=existing.conflicted,
            )
        return existing
    declaration = ConflictDeclaration(
        application_id=application_id,
        reviewer_user_id=reviewer_user_id,
        conflicted=bool(conflicted),
        declared_at=clock.now(),
    )
    session.add(declaration)
    session.flush()
    return declaration


def score_application(
    session: Session,
    application_id: int,
    *,
    reviewer_user_id: int,
    scores: Mapping[int, int],
    comment: str,
    clock: Clock,
) -> Review:
    """The reviewer's scores for every criterion (by criterion id), once.

    Refused with `ConflictOfInterestError` when the reviewer is the proponent,
    declared a conflict or has not declared yet; nothing is written.
    """
    application = get_application(session, application_id, lock=True)
    _member(session, application, reviewer_user_id)
    if application.status not in REVIEWABLE:
        raise ApplicationStateError(
            f"la candidatura è {application.status}: non è in valutazione",
            status=application.status,
        )
    _refuse_proponent(
        application,
        reviewer_user_id,
        "sei il proponente di questa candidatura: non puoi valutarla",
    )
    declaration = declaration_of(session, application_id, reviewer_user_id)
    if declaration is None:
        raise ConflictOfInterestError(
            "dichiara prima se hai un conflitto di interessi", declared=False
        )
    if declaration.conflicted:
        raise ConflictOfInterestError(
            "hai dichiarato un conflitto di interessi: non puoi valutare questa candidatura",
            declared=True,
        )
    existing = session.scalars(
        select(Review).where(
            Review.application_id == application_id, Review.reviewer_user_id == reviewer_user_id
        )
    ).first()
    if existing is not None:
        raise InvalidReviewError(
            "hai già valutato questa candidatura", field="scores", review_id=existing.id
        )
    criteria = criteria_of(session, application.call_id)
    wanted = {c.id for c in criteria}
    if set(scores) != wanted:
        raise InvalidReviewError(
            "Dai un punteggio a ogni criterio, e solo a quelli del bando.",
            field="scores",
            missing=sorted(wanted - set(scores)),
            unknown=sorted(set(scores) - wanted),
        )
    for criterion_id, value in scores.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidReviewError("I punteggi sono numeri interi.", field="scores")
        if not SCORE_MIN <= value <= SCORE_MAX:
            raise InvalidReviewError(
                f"Ogni punteggio va da {SCORE_MIN} a {SCORE_MAX}.",
                field="scores",
                criterion_id=criterion_id,
            )
    text = (comment or "").strip()
    if len(text) > 5_000:
        raise InvalidReviewError("Il commento supera 5.000 caratteri.", field="comment")
    review = Review(
        application_id=application_id,
        reviewer_user_id=reviewer_user_id,
        comment=text,
        submitted_at=clock.now(),
    )
    session.add(review)
    session.flush()
    for criterion_id, value in scores.items():
        session.add(ReviewScore(review_id=review.id, criterion_id=criterion_id, score=value))
    session.flush()
    return review


def _weighted(scores: Mapping[int, int], weights: Mapping[int, int]) -> Fraction:
    total = sum(weights.values())
    return Fraction(sum(weights[c] * s for c, s in scores.items() if c in weights), total)


def shown(value: Fraction | None) -> Decimal | None:
    """A score to two decimals, half-even (for pages and the API)."""
    if value is None:
        return None
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Ranked:
    application: Application
    score: Fraction | None
    reviews: int
    conflicts: int
    rank: int | None

    @property
    def shown_score(self) -> Decimal | None:
        return shown(self.score)


def application_score(session: Session, application_id: int) -> tuple[Fraction | None, int]:
    """(mean weighted score, number of reviews) of one application."""
    application = get_application(session, application_id)
    weights = {c.id: c.weight for c in criteria_of(session, application.call_id)}
    per_review: dict[int, dict[int, int]] = {}
    for review_id, criterion_id, value in session.execute(
        select(ReviewScore.review_id, ReviewScore.criterion_id, ReviewScore.score)
        .join(Review, Review.id == ReviewScore.review_id)
        .where(Review.application_id == application_id)
    ):
        per_review.setdefault(review_id, {})[criterion_id] = value
    if not per_review:
        return None, 0
    means = [_weighted(scores, weights) for scores in per_review.values()]
    return sum(means, Fraction(0)) / len(means), len(means)


def ranking(session: Session, call_id: int) -> list[Ranked]:
    """The call's applications past screening, best score first (unscored last)."""
    applications = list(
        session.scalars(
            select(Application)
            .where(Application.call_id == call_id, Application.status.in_(RANKED))
            .order_by(Application.id)
        )
    )
    rows = []
    for application in applications:
        score, count = application_score(session, application.id)
        conflicts = len(
            list(
                session.scalars(
                    select(ConflictDeclaration).where(
                        ConflictDeclaration.application_id == application.id,
                        ConflictDeclaration.conflicted.is_(True),
                    )
                )
            )
        )
        rows.append((application, score, count, conflicts))

    def order(row: tuple[Application, Fraction | None, int, int]) -> tuple[int, Fraction, str, int]:
        application, score, _count, _conflicts = row
        submitted = application.submitted_at.isoformat() if application.submitted_at else ""
        return (0 if score is not None else 1, -(score or Fraction(0)), submitted, application.id)

    rows.sort(key=order)
    result = []
    rank = 0
    for application, score, count, conflicts in rows:
        if score is not None:
            rank += 1
        result.append(
            Ranked(application, score, count, conflicts, rank if score is not None else None)
        )
    return result


def reviews_of(session: Session, application_id: int) -> list[Review]:
    return list(
        session.scalars(
            select(Review).where(Review.application_id == application_id).order_by(Review.id)
        )
    )


def scores_of(session: Session, review_id: int) -> dict[int, int]:
    return {
        row.criterion_id: row.score
        for row in session.scalars(select(ReviewScore).where(ReviewScore.review_id == review_id))
    }
