"""The treasurer's rules of a bank account: `bank_rules`.

Revision ID: 0016_bank_rules
Revises: 0015_bank_matching
Create Date: 2026-12-23

- `bank_rules`: the rules a treasurer orders per bank account (first match
  wins): a name, its place (`position`, from 1), the conditions (counterparty
  IBAN, compact; text that the normalised line text contains; a regular
  expression, checked when the rule is made; an absolute amount range in minor
  units; the direction: in, out or any) and the action: `book` (to the ledger
  account `account_id` with a narration) or `propose` (a campaign's gift or a
  loan's repayment, `propose_kind` and `propose_id`, never applied by itself).
  A rule is never deleted: it is disabled (`active` false, who and when).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_bank_rules"
down_revision = "0015_bank_matching"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bank_rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "bank_account_id",
            sa.Integer,
            sa.ForeignKey("bank_accounts.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("counterparty_iban", sa.String(34)),
        sa.Column("text_contains", sa.String(200)),
        sa.Column("text_regex", sa.String(200)),
        sa.Column("amount_min_minor", sa.BigInteger),
        sa.Column("amount_max_minor", sa.BigInteger),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id")),
        sa.Column("narration", sa.Text),
        sa.Column("propose_kind", sa.String(16)),
        sa.Column("propose_id", sa.Integer),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_by", sa.String(64)),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("position >= 1", name="bank_rule_position"),
        sa.CheckConstraint("direction IN ('in', 'out', 'any')", name="bank_rule_direction"),
        sa.CheckConstraint(
            "(action = 'book' AND account_id IS NOT NULL AND narration IS NOT NULL"
            " AND propose_kind IS NULL AND propose_id IS NULL)"
            " OR (action = 'propose' AND account_id IS NULL"
            " AND propose_kind IN ('campaign', 'loan') AND propose_id IS NOT NULL)",
            name="bank_rule_action",
        ),
        sa.CheckConstraint(
            "amount_min_minor IS NULL OR amount_min_minor >= 0", name="bank_rule_amount_min"
        ),
        sa.CheckConstraint(
            "amount_max_minor IS NULL OR amount_min_minor IS NULL"
            " OR amount_max_minor >= amount_min_minor",
            name="bank_rule_amount_range",
        ),
    )


def downgrade() -> None:
    op.drop_table("bank_rules")
