"""A Stripe payout names its entry by id: `stripe_payouts.entry_id` replaces `entry_sequence`.

Revision ID: 0032_payout_entry_ids
Revises: 0031_booked_entry_ids
Create Date: 2026-12-08

Recording a paid payout (Stripe's webhook or the sync) now writes its entry
(Stripe balance -> money in transit) when the unit commits
(`intents.defer_entry`): the entry's id is drawn at the call, its sequence
exists only at COMMIT, after the row is written. The row keeps the id. Every
stored sequence becomes the id of the entry with that sequence (and back on
downgrade), so nothing is lost either way; a row naming an entry the journal
does not hold stops the migration. `reversal_sequence` (a failed payout's
reversal, still posted at once) is unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032_payout_entry_ids"
down_revision = "0031_booked_entry_ids"
branch_labels = None
depends_on = None


def _refuse_dangling(column: str, key: str) -> None:
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                f"SELECT id FROM stripe_payouts WHERE {column} IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM journal_entries "
                f"WHERE journal_entries.{key} = stripe_payouts.{column})"
            )
        )
        .scalars()
        .all()
    )
    if rows:
        raise RuntimeError(
            f"stripe_payouts rows {rows} name a journal entry ({column}) the journal does "
            "not hold; nothing was migrated"
        )


# Plain ADD and DROP COLUMN on both backends, as 0030 (the table has no triggers).
def upgrade() -> None:
    _refuse_dangling("entry_sequence", "sequence")
    op.add_column("stripe_payouts", sa.Column("entry_id", sa.String(36)))
    op.execute("""
        UPDATE stripe_payouts SET entry_id = (
            SELECT journal_entries.id FROM journal_entries
            WHERE journal_entries.sequence = stripe_payouts.entry_sequence
        )
        WHERE entry_sequence IS NOT NULL
    """)
    op.drop_column("stripe_payouts", "entry_sequence")
    op.create_index("ix_stripe_payouts_entry_id", "stripe_payouts", ["entry_id"], unique=True)


def downgrade() -> None:
    _refuse_dangling("entry_id", "id")
    op.drop_index("ix_stripe_payouts_entry_id", table_name="stripe_payouts")
    op.add_column("stripe_payouts", sa.Column("entry_sequence", sa.BigInteger))
    op.execute("""
        UPDATE stripe_payouts SET entry_sequence = (
            SELECT journal_entries.sequence FROM journal_entries
            WHERE journal_entries.id = stripe_payouts.entry_id
        )
        WHERE entry_id IS NOT NULL
    """)
    op.drop_column("stripe_payouts", "entry_id")
