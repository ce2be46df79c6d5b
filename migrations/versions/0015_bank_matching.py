"""What explains each bank line: `bank_allocations`.

Revision ID: 0015_bank_matching
Revises: 0014_stripe_payouts
Create Date: 2026-12-22

- `bank_allocations`: one row per part of a bank line explained: the line, the
  kind (gift, repayment, entry, payout, booked, ignored), the record it points
  at (donation id, loan repayment id, journal entry sequence, payout id; none
  for an ignored line), the amount (signed like the line), the reason of an
  ignored line, who and when. Append-only, like the bank tables: a line's
  explanation is never edited.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_bank_matching"
down_revision = "0014_stripe_payouts"
branch_labels = None
depends_on = None

KINDS = ("gift", "repayment", "entry", "payout", "booked", "ignored")


def upgrade() -> None:
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    op.create_table(
        "bank_allocations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "line_id", sa.BigInteger, sa.ForeignKey("bank_lines.id"), nullable=False, index=True
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(255), index=True),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"kind IN ({kinds})", name="allocation_kind"),
        sa.CheckConstraint("amount_minor <> 0", name="allocation_amount_not_zero"),
        sa.CheckConstraint(
            "(kind = 'ignored') = (record_id IS NULL)", name="allocation_record_unless_ignored"
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE TRIGGER bank_allocations_append_only BEFORE UPDATE OR DELETE
            ON bank_allocations FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """)
        op.execute("""
            CREATE TRIGGER bank_allocations_no_truncate BEFORE TRUNCATE ON bank_allocations
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
        """)
    else:
        for operation in ("update", "delete"):
            op.execute(f"""
                CREATE TRIGGER bank_allocations_no_{operation} BEFORE {operation.upper()}
                ON bank_allocations
                BEGIN
                    SELECT RAISE(ABORT, 'ledger: {operation.upper()} on bank_allocations refused: allocations are append-only');
                END;
            """)


def downgrade() -> None:
    op.drop_table("bank_allocations")
