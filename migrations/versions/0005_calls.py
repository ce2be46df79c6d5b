"""Calls for ideas, applications, committee reviews, awards and grant tranches.

Revision ID: 0005_calls
Revises: 0004_funds
Create Date: 2026-11-22

Uniqueness carries the "once" rules: one answer per question, one conflict
declaration and one review per reviewer and application, one score per
criterion. Four-eyes is also a CHECK: an award's approver is not its proposer,
a tranche's payer is not its approver. The history of applications
(`application_events`) and conflict declarations are append-only (triggers on
both backends).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_calls"
down_revision = "0004_funds"
branch_labels = None
depends_on = None

APPEND_ONLY = ("application_events", "conflict_declarations")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _big_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fund_id", sa.Integer, sa.ForeignKey("funds.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description_md", sa.Text, nullable=False),
        sa.Column("budget_minor", sa.BigInteger, nullable=False),
        sa.Column("max_award_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("opens_at", _ts(), nullable=False),
        sa.Column("closes_at", _ts(), nullable=False),
        sa.Column("award_kind", sa.String(8), nullable=False),
        sa.Column("loan_product_id", sa.Integer, sa.ForeignKey("loan_products.id")),
        sa.Column("created_by_user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.CheckConstraint("budget_minor > 0", name="ck_calls_budget_positive"),
        sa.CheckConstraint(
            "max_award_minor > 0 AND max_award_minor <= budget_minor", name="ck_calls_max_award"
        ),
        sa.CheckConstraint("closes_at > opens_at", name="ck_calls_window"),
        sa.CheckConstraint("award_kind IN ('grant','loan','either')", name="ck_calls_award_kind"),
    )
    op.create_index("ix_calls_fund_id", "calls", ["fund_id"])
    op.create_table(
        "call_questions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("required_answer", sa.Boolean, nullable=False),
        sa.UniqueConstraint("call_id", "position", name="uq_call_questions_call_id"),
    )
    op.create_index("ix_call_questions_call_id", "call_questions", ["call_id"])
    op.create_table(
        "call_criteria",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.UniqueConstraint("call_id", "position", name="uq_call_criteria_call_id"),
        sa.CheckConstraint("weight > 0", name="ck_call_criteria_weight_positive"),
    )
    op.create_index("ix_call_criteria_call_id", "call_criteria", ["call_id"])
    op.create_table(
        "call_reviewers",
        sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("added_at", _ts(), nullable=False),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id"), nullable=False),
        sa.Column("proponent_user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("requested_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("public_name_consent", sa.Boolean, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("submitted_at", _ts()),
        sa.CheckConstraint("requested_minor > 0", name="ck_applications_requested_positive"),
        sa.CheckConstraint("kind IN ('grant','loan')", name="ck_applications_kind"),
        sa.CheckConstraint(
            "status IN ('draft','submitted','withdrawn','screened_out','in_review','awarded',"
            "'approved','rejected','disbursing','closed')",
            name="ck_applications_status",
        ),
    )
    op.create_index("ix_applications_call_id", "applications", ["call_id"])
    op.create_index("ix_applications_proponent_user_id", "applications", ["proponent_user_id"])
    op.create_index("ix_applications_status", "applications", ["status"])
    op.create_table(
        "application_answers",
        sa.Column("application_id", sa.Integer, sa.ForeignKey("applications.id"), primary_key=True),
        sa.Column("question_id", sa.Integer, sa.ForeignKey("call_questions.id"), primary_key=True),
        sa.Column("answer", sa.Boolean, nullable=False),
    )
    op.create_table(
        "application_events",
        sa.Column("id", _big_id(), primary_key=True, autoincrement=True),
        sa.Column("application_id", sa.Integer, sa.ForeignKey("applications.id"), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("occurred_at", _ts(), nullable=False),
        sa.Column("note", sa.String(500)),
    )
    op.create_index(
        "ix_application_events_application_id", "application_events", ["application_id"]
    )
    op.create_table(
        "conflict_declarations",
        sa.Column("application_id", sa.Integer, sa.ForeignKey("applications.id"), primary_key=True),
        sa.Column("reviewer_user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("conflicted", sa.Boolean, nullable=False),
        sa.Column("declared_at", _ts(), nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("application_id", sa.Integer, sa.ForeignKey("applications.id"), nullable=False),
        sa.Column("reviewer_user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("submitted_at", _ts(), nullable=False),
        sa.UniqueConstraint("application_id", "reviewer_user_id", name="uq_reviews_application_id"),
    )
    op.create_index("ix_reviews_application_id", "reviews", ["application_id"])
    op.create_table(
        "review_scores",
        sa.Column("review_id", sa.Integer, sa.ForeignKey("reviews.id"), primary_key=True),
        sa.Column("criterion_id", sa.Integer, sa.ForeignKey("call_criteria.id"), primary_key=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.CheckConstraint("score >= 0 AND score <= 10", name="ck_review_scores_score_range"),
    )
    op.create_table(
        "awards",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("application_id", sa.Integer, sa.ForeignKey("applications.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("proposed_by_user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("proposed_at", _ts(), nullable=False),
        sa.Column("decided_by_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("approved_by_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("decided_at", _ts()),
        sa.Column("term_months", sa.Integer),
        sa.Column("first_due_on", sa.Date),
        sa.Column("hold_id", sa.String(64)),
        sa.Column("loan_id", sa.Integer, sa.ForeignKey("loans.id")),
        sa.Column("released_minor", sa.BigInteger, nullable=False),
        sa.Column("returned_minor", sa.BigInteger, nullable=False),
        sa.Column("closed_at", _ts()),
        sa.CheckConstraint("amount_minor > 0", name="ck_awards_amount_positive"),
        sa.CheckConstraint("kind IN ('grant','loan')", name="ck_awards_kind"),
        sa.CheckConstraint(
            "status IN ('proposed','approved','refused','closed')", name="ck_awards_status"
        ),
        sa.CheckConstraint(
            "approved_by_user_id IS NULL OR approved_by_user_id <> proposed_by_user_id",
            name="ck_awards_four_eyes",
        ),
        sa.CheckConstraint(
            "returned_minor >= 0 AND released_minor >= 0 "
            "AND returned_minor + released_minor <= amount_minor",
            name="ck_awards_unspent_within_amount",
        ),
    )
    op.create_index("ix_awards_application_id", "awards", ["application_id"])
    # At most one live award (proposed or approved or closed) per application.
    op.create_index(
        "uq_awards_one_live",
        "awards",
        ["application_id"],
        unique=True,
        sqlite_where=sa.text("status <> 'refused'"),
        postgresql_where=sa.text("status <> 'refused'"),
    )
    op.create_table(
        "tranches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("award_id", sa.Integer, sa.ForeignKey("awards.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("milestone", sa.String(500), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("hold_id", sa.String(64)),
        sa.Column("approved_by_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("approved_at", _ts()),
        sa.Column("paid_by_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("paid_at", _ts()),
        sa.Column("payment_ref", sa.String(64)),
        sa.Column("report", sa.Text),
        sa.Column("reported_at", _ts()),
        sa.UniqueConstraint("award_id", "position", name="uq_tranches_award_id"),
        sa.CheckConstraint("amount_minor > 0", name="ck_tranches_amount_positive"),
        sa.CheckConstraint(
            "status IN ('planned','approved','paid','released')", name="ck_tranches_status"
        ),
        sa.CheckConstraint(
            "paid_by_user_id IS NULL OR paid_by_user_id <> approved_by_user_id",
            name="ck_tranches_four_eyes",
        ),
    )
    op.create_index("ix_tranches_award_id", "tranches", ["award_id"])
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"""
                CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
            """)
            op.execute(f"""
                CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
            """)
    else:
        for table in APPEND_ONLY:
            for operation in ("update", "delete"):
                op.execute(f"""
                    CREATE TRIGGER {table}_no_{operation} BEFORE {operation.upper()}
                    ON {table}
                    BEGIN
                        SELECT RAISE(ABORT, 'ledger: {operation.upper()} on {table} refused: append-only');
                    END;
                """)


def downgrade() -> None:
    for table in (
        "tranches",
        "awards",
        "review_scores",
        "reviews",
        "conflict_declarations",
        "application_events",
        "application_answers",
        "applications",
        "call_reviewers",
        "call_criteria",
        "call_questions",
        "calls",
    ):
        op.drop_table(table)
