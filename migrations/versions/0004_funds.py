"""Microcredit and microgrant funds, loan products, loans and repayments.

Revision ID: 0004_funds
Revises: 0003_campaigns
Create Date: 2026-11-22

A fund's money lives in the engine (its accounts are opened by the service);
these tables hold what explains it. Uniqueness carries the "exactly once"
rules: a request key makes one loan, repayment, write-off, recovery or
overpayment refund; a loan has one write-off and one reservation (hold).
Repayments, write-offs, recoveries and overpayment refunds are append-only:
never deleted, and updated only to set their entry's sequence once (triggers
on both backends).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_funds"
down_revision = "0003_campaigns"
branch_labels = None
depends_on = None

# table -> its amount column
APPEND_ONLY = {
    "loan_repayments": "amount_minor",
    "loan_write_offs": "principal_minor",
    "loan_recoveries": "amount_minor",
    "loan_overpayment_refunds": "amount_minor",
}


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _booked_row_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("request_key", sa.String(255), nullable=False, unique=True),
        sa.Column("entry_sequence", sa.BigInteger),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("recorded_by", sa.String(255)),
    ]


def upgrade() -> None:
    op.create_table(
        "funds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.CheckConstraint("kind IN ('microgrant','revolving')", name="ck_funds_kind"),
    )
    op.create_table(
        "loan_products",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fund_id", sa.Integer, sa.ForeignKey("funds.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("min_amount_minor", sa.BigInteger, nullable=False),
        sa.Column("max_amount_minor", sa.BigInteger, nullable=False),
        sa.Column("annual_rate", sa.String(24), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("min_term_months", sa.Integer, nullable=False),
        sa.Column("max_term_months", sa.Integer, nullable=False),
        sa.Column("grace_months", sa.Integer, nullable=False),
        sa.Column("day_count", sa.String(12), nullable=False),
        sa.Column("rounding", sa.String(20), nullable=False),
        sa.Column("fee_per_instalment_minor", sa.BigInteger, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.CheckConstraint(
            "min_amount_minor > 0 AND max_amount_minor >= min_amount_minor",
            name="ck_loan_products_amounts",
        ),
        sa.CheckConstraint(
            "min_term_months >= 1 AND max_term_months >= min_term_months "
            "AND grace_months >= 0 AND grace_months < min_term_months",
            name="ck_loan_products_terms",
        ),
        sa.CheckConstraint(
            "method IN ('declining_equal_instalments','equal_principal','flat')",
            name="ck_loan_products_method",
        ),
    )
    op.create_index("ix_loan_products_fund_id", "loan_products", ["fund_id"])
    op.create_table(
        "loans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fund_id", sa.Integer, sa.ForeignKey("funds.id"), nullable=False),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("loan_products.id"), nullable=False),
        sa.Column("borrower_person_id", sa.Integer, sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("principal_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("term_months", sa.Integer, nullable=False),
        sa.Column("annual_rate", sa.String(24), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("grace_months", sa.Integer, nullable=False),
        sa.Column("day_count", sa.String(12), nullable=False),
        sa.Column("rounding", sa.String(20), nullable=False),
        sa.Column("fee_per_instalment_minor", sa.BigInteger, nullable=False),
        sa.Column("first_due_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("hold_id", sa.String(36), sa.ForeignKey("holds.id")),
        sa.Column("request_key", sa.String(255), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.Column("disbursed_on", sa.Date),
        sa.Column("disbursement_sequence", sa.BigInteger),
        sa.Column("closed_on", sa.Date),
        sa.UniqueConstraint("hold_id", name="uq_loans_hold_id"),
        sa.UniqueConstraint("request_key", name="uq_loans_request_key"),
        sa.CheckConstraint("principal_minor > 0", name="ck_loans_principal_positive"),
        sa.CheckConstraint(
            "status IN ('approved','disbursed','repaid','written_off','cancelled')",
            name="ck_loans_status",
        ),
    )
    op.create_index("ix_loans_fund_id", "loans", ["fund_id"])
    op.create_index("ix_loans_borrower_person_id", "loans", ["borrower_person_id"])
    op.create_index("ix_loans_status", "loans", ["status"])
    op.create_table(
        "loan_instalments",
        sa.Column("loan_id", sa.Integer, sa.ForeignKey("loans.id"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("principal_minor", sa.BigInteger, nullable=False),
        sa.Column("interest_minor", sa.BigInteger, nullable=False),
        sa.Column("fee_minor", sa.BigInteger, nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=False),
        sa.Column("balance_after_minor", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "loan_repayments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("loan_id", sa.Integer, sa.ForeignKey("loans.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("fees_minor", sa.BigInteger, nullable=False),
        sa.Column("interest_minor", sa.BigInteger, nullable=False),
        sa.Column("principal_minor", sa.BigInteger, nullable=False),
        sa.Column("overpayment_minor", sa.BigInteger, nullable=False),
        sa.Column("paid_off_early", sa.Boolean, nullable=False),
        sa.Column("waived_interest_minor", sa.BigInteger, nullable=False),
        sa.Column("waived_fees_minor", sa.BigInteger, nullable=False),
        *_booked_row_columns(),
        sa.CheckConstraint("amount_minor > 0", name="ck_loan_repayments_amount_positive"),
        sa.CheckConstraint(
            "fees_minor + interest_minor + principal_minor + overpayment_minor = amount_minor",
            name="ck_loan_repayments_allocated_in_full",
        ),
    )
    op.create_index("ix_loan_repayments_loan_id", "loan_repayments", ["loan_id"])
    op.create_table(
        "loan_write_offs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("loan_id", sa.Integer, sa.ForeignKey("loans.id"), nullable=False, unique=True),
        sa.Column("written_off_on", sa.Date, nullable=False),
        sa.Column("principal_minor", sa.BigInteger, nullable=False),
        sa.Column("interest_minor", sa.BigInteger, nullable=False),
        sa.Column("fees_minor", sa.BigInteger, nullable=False),
        sa.Column("from_provision_minor", sa.BigInteger, nullable=False),
        *_booked_row_columns(),
    )
    op.create_table(
        "loan_recoveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("loan_id", sa.Integer, sa.ForeignKey("loans.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("principal_minor", sa.BigInteger, nullable=False),
        sa.Column("interest_minor", sa.BigInteger, nullable=False),
        sa.Column("fees_minor", sa.BigInteger, nullable=False),
        sa.Column("excess_minor", sa.BigInteger, nullable=False),
        *_booked_row_columns(),
        sa.CheckConstraint("amount_minor > 0", name="ck_loan_recoveries_amount_positive"),
    )
    op.create_index("ix_loan_recoveries_loan_id", "loan_recoveries", ["loan_id"])
    op.create_table(
        "loan_overpayment_refunds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("loan_id", sa.Integer, sa.ForeignKey("loans.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("refunded_on", sa.Date, nullable=False),
        *_booked_row_columns(),
        sa.CheckConstraint("amount_minor > 0", name="ck_loan_overpayment_refunds_amount_positive"),
    )
    op.create_index("ix_loan_overpayment_refunds_loan_id", "loan_overpayment_refunds", ["loan_id"])
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("""
            CREATE FUNCTION ledger_guard_booked_row() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR OLD.entry_sequence IS NOT NULL
                   OR (to_jsonb(NEW) - 'entry_sequence') <> (to_jsonb(OLD) - 'entry_sequence') THEN
                    RAISE EXCEPTION 'ledger: % on % refused: a booked row is append-only',
                        TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
                END IF;
                RETURN NEW;
            END $$;
        """)
    for table, amount in APPEND_ONLY.items():
        if postgresql:
            op.execute(f"""
                CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION ledger_guard_booked_row();
            """)
        else:
            op.execute(f"""
                CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
                BEGIN
                    SELECT RAISE(ABORT, 'ledger: DELETE on {table} refused: a booked row is append-only');
                END;
            """)
            op.execute(f"""
                CREATE TRIGGER {table}_set_once BEFORE UPDATE ON {table}
                WHEN OLD.entry_sequence IS NOT NULL OR NEW.id IS NOT OLD.id
                  OR NEW.loan_id IS NOT OLD.loan_id OR NEW.{amount} IS NOT OLD.{amount}
                  OR NEW.request_key IS NOT OLD.request_key
                BEGIN
                    SELECT RAISE(ABORT, 'ledger: UPDATE of {table} refused: a booked row is append-only');
                END;
            """)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in (
        "loan_overpayment_refunds",
        "loan_recoveries",
        "loan_write_offs",
        "loan_repayments",
        "loan_instalments",
        "loans",
        "loan_products",
        "funds",
    ):
        op.drop_table(table)
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS ledger_guard_booked_row()")
