"""Stripe payouts and the balance transactions each paid out.

Revision ID: 0014_stripe_payouts
Revises: 0013_transfer_references
Create Date: 2026-12-21

- `stripe_payouts`: one row per payout seen paid or failed (amount, currency,
  status, arrival date, statement descriptor, trace id, the transfer entry's
  and its reversal's sequence, the differences found against the books).
- `stripe_payout_items`: each balance transaction a payout paid out, once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_stripe_payouts"
down_revision = "0013_transfer_references"
branch_labels = None
depends_on = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stripe_payouts",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("arrival_date", sa.Date, index=True),
        sa.Column("statement_descriptor", sa.String(64)),
        sa.Column("trace_id", sa.String(255)),
        sa.Column("entry_sequence", sa.BigInteger),
        sa.Column("reversal_sequence", sa.BigInteger),
        sa.Column("transactions", sa.Integer, nullable=False),
        sa.Column("differences", sa.Text, nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.Column("failed_at", _ts()),
    )
    op.create_table(
        "stripe_payout_items",
        sa.Column("balance_transaction_id", sa.String(255), primary_key=True),
        sa.Column(
            "payout_id",
            sa.String(255),
            sa.ForeignKey("stripe_payouts.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("source", sa.String(255), index=True),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("fee_minor", sa.BigInteger, nullable=False),
        sa.Column("net_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stripe_payout_items")
    op.drop_table("stripe_payouts")
