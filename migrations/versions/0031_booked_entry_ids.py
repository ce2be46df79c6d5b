"""A line booked from the bank names its entry by id: "booked" allocations' `record_id`.

Revision ID: 0031_booked_entry_ids
Revises: 0030_loan_entry_ids
Create Date: 2026-12-08

Booking what is left of a bank line (by hand or by a rule of `apply_references`)
now writes its entry when the unit commits (`intents.defer_entry`): the entry's
id is drawn at the call, its sequence exists only at COMMIT, after the allocation
is written. A "booked" allocation's `record_id` held the entry's sequence; it now
holds the entry's id (and back on downgrade), so nothing is lost either way. Pages,
the API and the CLI print the number, read from the journal
(`matching.records_shown`). An allocation matched by hand to an existing entry
("entry") keeps its number: that entry was written before.

Allocations are append-only: the rewrite sets their guards aside for its one
UPDATE and puts them back as 0015 made them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031_booked_entry_ids"
down_revision = "0030_loan_entry_ids"
branch_labels = None
depends_on = None

# How a "booked" record_id finds its entry before this migration (the number, by the
# journal's unique sequence) and after it (the id, by the primary key).
_BY_SEQUENCE = "journal_entries.sequence = CAST(bank_allocations.record_id AS BIGINT)"
_BY_ID = "journal_entries.id = bank_allocations.record_id"

_SQLITE_NO_UPDATE = """
    CREATE TRIGGER bank_allocations_no_update BEFORE UPDATE
    ON bank_allocations
    BEGIN
        SELECT RAISE(ABORT, 'ledger: UPDATE on bank_allocations refused: allocations are append-only');
    END;
"""


def _refuse_dangling(match: str) -> None:
    """A booked allocation whose entry the journal does not hold would lose its link
    silently: the migration stops instead, with the allocations named."""
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT id FROM bank_allocations WHERE kind = 'booked' AND NOT EXISTS "
                f"(SELECT 1 FROM journal_entries WHERE {match})"
            )
        )
        .scalars()
        .all()
    )
    if rows:
        raise RuntimeError(
            f"bank_allocations rows {rows} are booked to a journal entry the journal does "
            "not hold; nothing was migrated"
        )


def _rewrite(match: str, wanted: str) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("ALTER TABLE bank_allocations DISABLE TRIGGER bank_allocations_append_only")
    else:
        op.execute("DROP TRIGGER bank_allocations_no_update")
    op.execute(f"""
        UPDATE bank_allocations SET record_id = (
            SELECT {wanted} FROM journal_entries WHERE {match}
        )
        WHERE kind = 'booked'
    """)
    if postgresql:
        op.execute("ALTER TABLE bank_allocations ENABLE TRIGGER bank_allocations_append_only")
    else:
        op.execute(_SQLITE_NO_UPDATE)


def upgrade() -> None:
    _refuse_dangling(_BY_SEQUENCE)
    _rewrite(_BY_SEQUENCE, "journal_entries.id")


def downgrade() -> None:
    _refuse_dangling(_BY_ID)
    _rewrite(_BY_ID, "CAST(journal_entries.sequence AS VARCHAR(255))")
