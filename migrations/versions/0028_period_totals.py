"""Per-account totals of each closed month: `period_totals` (issue 14, the trial balance).

Revision ID: 0028_period_totals
Revises: 0027_volunteer_register
Create Date: 2026-12-07

A close (`ledger.core.periods.close_period`) writes, for every account with a
posting dated on or before the month's last day, the sum of those postings'
debits and credits. Nothing may be dated on or before a closed month's end
afterwards (I8), so these sums never change: a balance or trial balance as of
a date adds the postings after the latest close to them instead of summing the
whole journal. `verify()` recomputes every row from the journal (I7).

- one row per closed month and account, amounts non-negative;
- append-only like `periods`: UPDATE, DELETE and TRUNCATE refused by triggers
  on both backends;
- existing closes are filled in here from the journal.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028_period_totals"
down_revision = "0027_volunteer_register"
branch_labels = None
depends_on = None

TABLE = "period_totals"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("period", sa.String(7), sa.ForeignKey("periods.period"), primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("debits", sa.BigInteger, nullable=False),
        sa.Column("credits", sa.BigInteger, nullable=False),
        sa.CheckConstraint("debits >= 0 AND credits >= 0", name="ck_period_totals_non_negative"),
    )
    # The closes made before this revision, from the journal as it stands.
    op.execute(f"""
        INSERT INTO {TABLE} (period, account_id, debits, credits)
        SELECT pe.period, p.account_id,
               SUM(CASE WHEN p.amount_minor > 0 THEN p.amount_minor ELSE 0 END),
               SUM(CASE WHEN p.amount_minor < 0 THEN -p.amount_minor ELSE 0 END)
        FROM periods pe
        JOIN journal_entries e ON e.effective_on <= pe.ends_on
        JOIN postings p ON p.entry_id = e.id
        GROUP BY pe.period, p.account_id
    """)
    if op.get_bind().dialect.name == "postgresql":
        # ledger_refuse_change() is the engine's (0001): "posted records are append-only".
        op.execute(f"""
            CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """)
        op.execute(f"""
            CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
        """)
        return
    for operation in ("update", "delete"):
        op.execute(f"""
            CREATE TRIGGER {TABLE}_no_{operation} BEFORE {operation.upper()} ON {TABLE}
            BEGIN
                SELECT RAISE(ABORT, 'ledger: {operation.upper()} on {TABLE} refused: posted records are append-only');
            END;
        """)


def downgrade() -> None:
    op.drop_table(TABLE)  # its triggers go with it
