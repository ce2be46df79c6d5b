"""Tables of calls for ideas, applications, reviews, awards and tranches (migration 0005).

A call belongs to a fund and has a budget, a window, a maximum award, eligibility
questions, a scoring rubric and a committee. Applications refer to their
proponent by user id only; identity stays in `persons`. Every change of an
application's state is a row of `application_events` (append-only: triggers
refuse UPDATE and DELETE), so who moved it, when and from where to where is
never lost. Amounts are integer minor units with their currency.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.core.models import Base, BigId, UtcDateTime

AWARD_KINDS = ("grant", "loan", "either")
APPLICATION_KINDS = ("grant", "loan")
APPLICATION_STATES = (
    "draft",
    "submitted",
    "withdrawn",
    "screened_out",
    "in_review",
    "awarded",
    "approved",
    "rejected",
    "disbursing",
    "closed",
)
# An award proposal waits for a second person; a refused one sends the
# application back to review.
AWARD_STATES = ("proposed", "approved", "refused", "closed")
TRANCHE_STATES = ("planned", "approved", "paid", "released")
SCORE_MIN = 0
SCORE_MAX = 10


class Call(Base):
    """A call for ideas (bando) financed by one fund."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint("budget_minor > 0", name="budget_positive"),
        CheckConstraint(
            "max_award_minor > 0 AND max_award_minor <= budget_minor", name="max_award"
        ),
        CheckConstraint("closes_at > opens_at", name="window"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description_md: Mapped[str] = mapped_column(Text)
    budget_minor: Mapped[int] = mapped_column(BigInteger)
    max_award_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    opens_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closes_at: Mapped[datetime] = mapped_column(UtcDateTime())
    award_kind: Mapped[str] = mapped_column(String(8))
    # The loan product a loan award lends under (required unless grants only).
    loan_product_id: Mapped[int | None] = mapped_column(ForeignKey("loan_products.id"))
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now < self.closes_at


class CallQuestion(Base):
    """A yes/no eligibility question and the answer an eligible proponent gives."""

    __tablename__ = "call_questions"
    __table_args__ = (UniqueConstraint("call_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(500))
    required_answer: Mapped[bool] = mapped_column(Boolean)


class CallCriterion(Base):
    """A criterion of the scoring rubric: reviewers score it 0-10; weights are integers."""

    __tablename__ = "call_criteria"
    __table_args__ = (
        UniqueConstraint("call_id", "position"),
        CheckConstraint("weight > 0", name="weight_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    weight: Mapped[int] = mapped_column(Integer)


class CallReviewer(Base):
    """A member of the call's committee."""

    __tablename__ = "call_reviewers"

    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Application(Base):
    """A proponent's idea submitted to a call."""

    __tablename__ = "applications"
    __table_args__ = (CheckConstraint("requested_minor > 0", name="requested_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    proponent_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    requested_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)
    # The proponent agreed to be named in public if the idea is financed.
    public_name_consent: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ApplicationAnswer(Base):
    __tablename__ = "application_answers"

    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("call_questions.id"), primary_key=True)
    answer: Mapped[bool] = mapped_column(Boolean)


class ApplicationEvent(Base):
    """One transition of an application: append-only."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str | None] = mapped_column(String(500))


class ConflictDeclaration(Base):
    """A committee member's declaration on one application: conflicted or not. Final."""

    __tablename__ = "conflict_declarations"

    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    reviewer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    conflicted: Mapped[bool] = mapped_column(Boolean)
    declared_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("application_id", "reviewer_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    reviewer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    comment: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReviewScore(Base):
    __tablename__ = "review_scores"
    __table_args__ = (CheckConstraint("score >= 0 AND score <= 10", name="score_range"),)

    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), primary_key=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("call_criteria.id"), primary_key=True)
    score: Mapped[int] = mapped_column(Integer)


class Award(Base):
    """A decision to finance an application: proposed by one person, approved by another."""

    __tablename__ = "awards"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "approved_by_user_id IS NULL OR approved_by_user_id <> proposed_by_user_id",
            name="four_eyes",
        ),
        CheckConstraint(
            "returned_minor >= 0 AND released_minor >= 0 "
            "AND returned_minor + released_minor <= amount_minor",
            name="unspent_within_amount",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12))
    proposed_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Loans: the terms and what the funds domain made of them.
    term_months: Mapped[int | None] = mapped_column(Integer)
    first_due_on: Mapped[date | None] = mapped_column(Date)
    hold_id: Mapped[str | None] = mapped_column(String(64))
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    # Grants: reserved money never paid (released) and paid money given back.
    released_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    returned_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Tranche(Base):
    """One payment of a grant, tied to the milestone the proponent reports on after it."""

    __tablename__ = "tranches"
    __table_args__ = (
        UniqueConstraint("award_id", "position"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "paid_by_user_id IS NULL OR paid_by_user_id <> approved_by_user_id",
            name="four_eyes",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    milestone: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(12))
    # The fund's hold that keeps this tranche's money for it.
    hold_id: Mapped[str | None] = mapped_column(String(64))
    approved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    paid_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    payment_ref: Mapped[str | None] = mapped_column(String(64))
    report: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
