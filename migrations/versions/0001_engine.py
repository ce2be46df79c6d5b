"""The double-entry engine: accounts, balances, journal, holds, idempotency, periods.

Revision ID: 0001_engine
Revises:
Create Date: 2026-11-21

Besides the tables this installs the database's own guards, so that even raw
SQL cannot break the books:
- on both backends, triggers refuse UPDATE and DELETE of posted records (I2),
  DELETE of accounts and balance rows, and any change to what an account is
  (its code, type, currency or no-overdraft flag; its name may change);
- on PostgreSQL, a deferred constraint trigger refuses at COMMIT an entry whose
  postings do not sum to zero per currency or that has fewer than two (I1), and
  TRUNCATE of posted records is refused too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_engine"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = (
    "journal_entries",
    "postings",
    "holds",
    "hold_resolutions",
    "idempotency_keys",
    "periods",
)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("no_overdraft", sa.Boolean, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("code", name="uq_accounts_code"),
        sa.UniqueConstraint("id", "currency", name="uq_accounts_id_currency"),
        sa.CheckConstraint(
            "type IN ('asset','liability','equity','income','expense')", name="ck_accounts_type"
        ),
    )
    op.create_table(
        "balances",
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("posted_debits", sa.BigInteger, nullable=False),
        sa.Column("posted_credits", sa.BigInteger, nullable=False),
        sa.Column("pending_debits", sa.BigInteger, nullable=False),
        sa.Column("pending_credits", sa.BigInteger, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "posted_debits >= 0 AND posted_credits >= 0 AND pending_debits >= 0 "
            "AND pending_credits >= 0",
            name="ck_balances_non_negative",
        ),
    )
    op.create_table(
        "ledger_heads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("last_recorded_at", _ts()),
        sa.CheckConstraint("id = 1", name="ck_ledger_heads_single_row"),
    )
    op.execute(
        f"INSERT INTO ledger_heads (id, last_sequence, last_hash) VALUES (1, 0, '{'0' * 64}')"
    )
    op.create_table(
        "holds",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("debit_account_id", sa.Integer, nullable=False),
        sa.Column("credit_account_id", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("narration", sa.Text, nullable=False),
        sa.Column("metadata_json", sa.Text, nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts()),
        sa.UniqueConstraint("idempotency_key", name="uq_holds_idempotency_key"),
        sa.CheckConstraint("amount_minor > 0", name="ck_holds_positive"),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="ck_holds_two_accounts"),
        sa.ForeignKeyConstraint(
            ["debit_account_id", "currency"],
            ["accounts.id", "accounts.currency"],
            name="fk_holds_debit_account_currency",
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id", "currency"],
            ["accounts.id", "accounts.currency"],
            name="fk_holds_credit_account_currency",
        ),
    )
    op.create_index("ix_holds_debit_account_id", "holds", ["debit_account_id"])
    op.create_index("ix_holds_credit_account_id", "holds", ["credit_account_id"])
    op.create_index("ix_holds_expires_at", "holds", ["expires_at"])
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("effective_on", sa.Date, nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("narration", sa.Text, nullable=False),
        sa.Column("metadata_json", sa.Text, nullable=False),
        sa.Column("reverses_entry_id", sa.String(36), sa.ForeignKey("journal_entries.id")),
        sa.Column("hold_id", sa.String(36), sa.ForeignKey("holds.id")),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("sequence", name="uq_journal_entries_sequence"),
        sa.UniqueConstraint("idempotency_key", name="uq_journal_entries_idempotency_key"),
        sa.UniqueConstraint("reverses_entry_id", name="uq_journal_entries_reverses_entry_id"),
        sa.UniqueConstraint("hold_id", name="uq_journal_entries_hold_id"),
        sa.CheckConstraint("sequence > 0", name="ck_journal_entries_sequence_positive"),
    )
    op.create_index("ix_journal_entries_effective_on", "journal_entries", ["effective_on"])
    op.create_table(
        "postings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(36), sa.ForeignKey("journal_entries.id"), nullable=False),
        sa.Column("leg", sa.SmallInteger, nullable=False),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount_minor <> 0", name="ck_postings_non_zero"),
        sa.UniqueConstraint("entry_id", "leg", name="uq_postings_entry_leg"),
        sa.ForeignKeyConstraint(
            ["account_id", "currency"],
            ["accounts.id", "accounts.currency"],
            name="fk_postings_account_currency",
        ),
    )
    op.create_index("ix_postings_entry_id", "postings", ["entry_id"])
    op.create_index("ix_postings_account_id", "postings", ["account_id"])
    op.create_table(
        "hold_resolutions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("hold_id", sa.String(36), sa.ForeignKey("holds.id"), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("entry_id", sa.String(36), sa.ForeignKey("journal_entries.id")),
        sa.Column("resolved_at", _ts(), nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.UniqueConstraint("hold_id", name="uq_hold_resolutions_hold_id"),
        sa.UniqueConstraint("entry_id", name="uq_hold_resolutions_entry_id"),
        sa.CheckConstraint(
            "outcome IN ('posted','voided','expired')", name="ck_hold_resolutions_outcome"
        ),
        sa.CheckConstraint("amount_minor >= 0", name="ck_hold_resolutions_amount"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.String(36), sa.ForeignKey("journal_entries.id")),
        sa.Column("hold_id", sa.String(36), sa.ForeignKey("holds.id")),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_table(
        "periods",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("closed_at", _ts(), nullable=False),
        sa.Column("closed_by", sa.String(255)),
        sa.Column("closed_after_sequence", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("ends_on", name="uq_periods_ends_on"),
    )

    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guards()
    else:
        _sqlite_guards()


def _postgresql_guards() -> None:
    op.execute("""
        CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger: % on % refused: posted records are append-only',
                TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
        END $$;
    """)
    for table in APPEND_ONLY:
        op.execute(f"""
            CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """)
        op.execute(f"""
            CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
        """)
    op.execute("""
        CREATE FUNCTION ledger_guard_account() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' OR NEW.id <> OLD.id OR NEW.code <> OLD.code
               OR NEW.type <> OLD.type OR NEW.currency <> OLD.currency
               OR NEW.no_overdraft <> OLD.no_overdraft THEN
                RAISE EXCEPTION 'ledger: % of account % refused: an account is what the journal says it is',
                    TG_OP, OLD.code USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END $$;
    """)
    op.execute("""
        CREATE TRIGGER accounts_guard BEFORE UPDATE OR DELETE ON accounts
        FOR EACH ROW EXECUTE FUNCTION ledger_guard_account();
    """)
    op.execute("""
        CREATE TRIGGER balances_no_delete BEFORE DELETE ON balances
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
    """)
    for table in ("accounts", "balances"):
        op.execute(f"""
            CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
        """)
    op.execute("""
        CREATE FUNCTION ledger_assert_balanced(eid varchar) RETURNS void
        LANGUAGE plpgsql AS $$
        DECLARE
            n integer;
            bad text;
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM journal_entries WHERE id = eid) THEN
                RETURN;  -- the entry itself is gone; its own guards apply
            END IF;
            SELECT count(*) INTO n FROM postings WHERE entry_id = eid;
            IF n < 2 THEN
                RAISE EXCEPTION 'ledger: entry % has % postings; an entry needs two or more',
                    eid, n USING ERRCODE = 'check_violation';
            END IF;
            SELECT string_agg(currency || ' ' || total::text, ', ') INTO bad FROM (
                SELECT currency, sum(amount_minor) AS total FROM postings
                WHERE entry_id = eid GROUP BY currency HAVING sum(amount_minor) <> 0
            ) AS off;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION 'ledger: entry % does not balance (%)', eid, bad
                    USING ERRCODE = 'check_violation';
            END IF;
        END $$;
    """)
    op.execute("""
        CREATE FUNCTION ledger_check_posting() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                PERFORM ledger_assert_balanced(OLD.entry_id);
            ELSE
                PERFORM ledger_assert_balanced(NEW.entry_id);
                IF TG_OP = 'UPDATE' AND OLD.entry_id <> NEW.entry_id THEN
                    PERFORM ledger_assert_balanced(OLD.entry_id);
                END IF;
            END IF;
            RETURN NULL;
        END $$;
    """)
    op.execute("""
        CREATE FUNCTION ledger_check_entry() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM ledger_assert_balanced(NEW.id);
            RETURN NULL;
        END $$;
    """)
    op.execute("""
        CREATE CONSTRAINT TRIGGER postings_balanced
        AFTER INSERT OR UPDATE OR DELETE ON postings
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION ledger_check_posting();
    """)
    op.execute("""
        CREATE CONSTRAINT TRIGGER journal_entries_balanced
        AFTER INSERT ON journal_entries
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION ledger_check_entry();
    """)


def _sqlite_guards() -> None:
    op.execute("""
        CREATE TRIGGER accounts_no_rewrite
        BEFORE UPDATE OF id, code, type, currency, no_overdraft ON accounts
        WHEN NEW.id IS NOT OLD.id OR NEW.code IS NOT OLD.code OR NEW.type IS NOT OLD.type
          OR NEW.currency IS NOT OLD.currency OR NEW.no_overdraft IS NOT OLD.no_overdraft
        BEGIN
            SELECT RAISE(ABORT, 'ledger: changing what an account is is refused');
        END;
    """)
    for table in ("accounts", "balances"):
        op.execute(f"""
            CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN
                SELECT RAISE(ABORT, 'ledger: DELETE on {table} refused');
            END;
        """)
    for table in APPEND_ONLY:
        for operation in ("update", "delete"):
            op.execute(f"""
                CREATE TRIGGER {table}_no_{operation} BEFORE {operation.upper()} ON {table}
                BEGIN
                    SELECT RAISE(ABORT, 'ledger: {operation.upper()} on {table} refused: posted records are append-only');
                END;
            """)


def downgrade() -> None:
    for table in (
        "periods",
        "idempotency_keys",
        "hold_resolutions",
        "postings",
        "journal_entries",
        "holds",
        "ledger_heads",
        "balances",
        "accounts",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        for fn in (
            "ledger_guard_account()",
            "ledger_check_entry()",
            "ledger_check_posting()",
            "ledger_assert_balanced(varchar)",
            "ledger_refuse_change()",
        ):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}")
