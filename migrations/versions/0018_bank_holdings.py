"""Which ledger accounts a bank account holds: `bank_account_holdings`.

Revision ID: 0018_bank_holdings
Revises: 0017_bank_presets
Create Date: 2026-12-28

A bank account mirrors one ledger account (`bank_accounts.account_id`), but the
money sitting in it may be booked on further asset accounts (a fund's cash,
assets:funds:N:cash, whose loans are disbursed and repaid through the same
bank account). `bank_account_holdings` lists them: one row per further account
held, who added it and when. An account is held by at most one bank account
(`account_id` unique). Append-only, like the other bank tables: the
reconciliation report of a past date must read what was held then and now alike.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_bank_holdings"
down_revision = "0017_bank_presets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bank_account_holdings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "bank_account_id",
            sa.Integer,
            sa.ForeignKey("bank_accounts.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account_id", name="uq_bank_account_holdings_account"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE TRIGGER bank_account_holdings_append_only BEFORE UPDATE OR DELETE
            ON bank_account_holdings FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """)
        op.execute("""
            CREATE TRIGGER bank_account_holdings_no_truncate BEFORE TRUNCATE
            ON bank_account_holdings FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
        """)
    else:
        for operation in ("update", "delete"):
            op.execute(f"""
                CREATE TRIGGER bank_account_holdings_no_{operation} BEFORE {operation.upper()}
                ON bank_account_holdings
                BEGIN
                    SELECT RAISE(ABORT, 'ledger: {operation.upper()} on bank_account_holdings refused: holdings are append-only');
                END;
            """)


def downgrade() -> None:
    op.drop_table("bank_account_holdings")
