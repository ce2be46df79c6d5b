"""Loan rows name their journal entry by id: `entry_id` replaces `entry_sequence`.

Revision ID: 0030_loan_entry_ids
Revises: 0029_kept_whole
Create Date: 2026-12-08

A repayment, a write-off, a recovery and an overpayment refund now post their
entry when the unit commits (`intents.defer_entry`, docs/journal-writes.md 2.3):
the entry's id is drawn at the call, its sequence only under the journal head at
COMMIT, after the row is written. The rows keep the id; pages and answers read the
number from the journal. Every booked row's sequence becomes the id of the entry
with that sequence (and back on downgrade), so nothing is lost either way.

The rows stay append-only: the triggers of 0004 let a row be updated once, to
record its entry, and they now watch `entry_id`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030_loan_entry_ids"
down_revision = "0029_kept_whole"
branch_labels = None
depends_on = None

# table -> its amount column, as in 0004's APPEND_ONLY
TABLES = {
    "loan_repayments": "amount_minor",
    "loan_write_offs": "principal_minor",
    "loan_recoveries": "amount_minor",
    "loan_overpayment_refunds": "amount_minor",
}

_PG_GUARD = """
    CREATE OR REPLACE FUNCTION ledger_guard_booked_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' OR OLD.{column} IS NOT NULL
           OR (to_jsonb(NEW) - '{column}') <> (to_jsonb(OLD) - '{column}') THEN
            RAISE EXCEPTION 'ledger: % on % refused: a booked row is append-only',
                TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END $$;
"""


def _drop_guards(postgresql: bool) -> None:
    for table in TABLES:
        if postgresql:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER {table}_set_once")


def _create_guards(postgresql: bool, column: str) -> None:
    if postgresql:
        op.execute(_PG_GUARD.format(column=column))
    for table, amount in TABLES.items():
        if postgresql:
            op.execute(f"""
                CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION ledger_guard_booked_row();
            """)
        else:
            op.execute(f"""
                CREATE TRIGGER {table}_set_once BEFORE UPDATE ON {table}
                WHEN OLD.{column} IS NOT NULL OR NEW.id IS NOT OLD.id
                  OR NEW.loan_id IS NOT OLD.loan_id OR NEW.{amount} IS NOT OLD.{amount}
                  OR NEW.request_key IS NOT OLD.request_key
                BEGIN
                    SELECT RAISE(ABORT, 'ledger: UPDATE of {table} refused: a booked row is append-only');
                END;
            """)


def _refuse_dangling(table: str, column: str, key: str) -> None:
    """A booked row whose entry the journal does not hold would lose its link (and its
    guard) silently: the migration stops instead, with the rows named."""
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                f"SELECT id FROM {table} WHERE {column} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM journal_entries WHERE journal_entries.{key} = {table}.{column})"
            )
        )
        .scalars()
        .all()
    )
    if rows:
        raise RuntimeError(
            f"{table} rows {rows} name a journal entry ({column}) the journal does not "
            "hold; nothing was migrated"
        )


# Plain ADD and DROP COLUMN on both backends: a batch operation would recreate the
# tables on SQLite and drop their no-delete triggers with them.
def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        _refuse_dangling(table, "entry_sequence", "sequence")
    _drop_guards(postgresql)
    for table in TABLES:
        op.add_column(table, sa.Column("entry_id", sa.String(36)))
        op.execute(f"""
            UPDATE {table} SET entry_id = (
                SELECT journal_entries.id FROM journal_entries
                WHERE journal_entries.sequence = {table}.entry_sequence
            )
            WHERE entry_sequence IS NOT NULL
        """)
        op.drop_column(table, "entry_sequence")
        op.create_index(f"ix_{table}_entry_id", table, ["entry_id"], unique=True)
    _create_guards(postgresql, "entry_id")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        _refuse_dangling(table, "entry_id", "id")
    _drop_guards(postgresql)
    for table in TABLES:
        op.drop_index(f"ix_{table}_entry_id", table_name=table)
        op.add_column(table, sa.Column("entry_sequence", sa.BigInteger))
        op.execute(f"""
            UPDATE {table} SET entry_sequence = (
                SELECT journal_entries.sequence FROM journal_entries
                WHERE journal_entries.id = {table}.entry_id
            )
            WHERE entry_id IS NOT NULL
        """)
        op.drop_column(table, "entry_id")
    _create_guards(postgresql, "entry_sequence")
