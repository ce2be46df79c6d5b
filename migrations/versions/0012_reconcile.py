"""Bank accounts, statement imports, statements and their lines (append-only).

Revision ID: 0012_reconcile
Revises: 0011_verified_email
Create Date: 2026-12-20

- `bank_accounts`: IBAN (compact, unique), name, currency and the ledger
  account it mirrors.
- `statement_imports`: one row per imported file (SHA-256, format, who, when,
  counts, an explicit acceptance of unbalanced statements with who and why).
- `bank_statements`: each statement of an import, stated and computed balances.
- `bank_lines`: the lines as they came. Identity per account: (fingerprint,
  occurrence) unique, and (bank_ref, booked_on, amount_minor, ref_occurrence)
  unique where the bank gives an id. A split batch's details are child lines.

`statement_imports`, `bank_statements` and `bank_lines` are append-only:
UPDATE and DELETE are refused by triggers on both backends.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_reconcile"
down_revision = "0011_verified_email"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("statement_imports", "bank_statements", "bank_lines")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bank_accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("iban", sa.String(34), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column(
            "account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True
        ),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.String(64)),
    )
    op.create_table(
        "statement_imports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "bank_account_id",
            sa.Integer,
            sa.ForeignKey("bank_accounts.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("preset", sa.String(64)),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("imported_at", _ts(), nullable=False),
        sa.Column("accepted_unbalanced", sa.Boolean, nullable=False),
        sa.Column("accepted_by", sa.String(64)),
        sa.Column("accepted_reason", sa.Text),
        sa.Column("statement_count", sa.Integer, nullable=False),
        sa.Column("line_count", sa.Integer, nullable=False),
        sa.Column("new_count", sa.Integer, nullable=False),
        sa.Column("already_count", sa.Integer, nullable=False),
        sa.Column("already_line_ids", sa.Text, nullable=False),
        sa.CheckConstraint(
            "NOT accepted_unbalanced OR (accepted_by IS NOT NULL AND accepted_reason IS NOT NULL)",
            name="acceptance_says_who_and_why",
        ),
    )
    op.create_table(
        "bank_statements",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "import_id",
            sa.Integer,
            sa.ForeignKey("statement_imports.id"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "bank_account_id",
            sa.Integer,
            sa.ForeignKey("bank_accounts.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("statement_id", sa.String(140)),
        sa.Column("balance_kind", sa.String(9)),
        sa.Column("opening_minor", sa.BigInteger),
        sa.Column("closing_minor", sa.BigInteger),
        sa.Column("computed_closing_minor", sa.BigInteger),
        sa.Column("opening_on", sa.Date),
        sa.Column("closing_on", sa.Date, index=True),
        sa.Column("first_booked_on", sa.Date),
        sa.Column("balanced", sa.Boolean),
        sa.Column("difference_minor", sa.BigInteger),
        sa.Column("continuity_minor", sa.BigInteger),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("line_count", sa.Integer, nullable=False),
    )
    op.create_table(
        "bank_lines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "bank_account_id",
            sa.Integer,
            sa.ForeignKey("bank_accounts.id"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "import_id",
            sa.Integer,
            sa.ForeignKey("statement_imports.id"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "statement_id",
            sa.Integer,
            sa.ForeignKey("bank_statements.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("parent_line_id", BigId, sa.ForeignKey("bank_lines.id"), index=True),
        sa.Column("booked_on", sa.Date, nullable=False, index=True),
        sa.Column("value_on", sa.Date),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("normalized_text", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("bank_ref", sa.String(140)),
        sa.Column("ref_occurrence", sa.Integer),
        sa.Column("end_to_end_id", sa.String(140)),
        sa.Column("reference", sa.String(140), index=True),
        sa.Column("counterparty_name", sa.String(200)),
        sa.Column("counterparty_iban", sa.String(34)),
        sa.Column("bank_code", sa.String(64)),
        sa.Column("reason_code", sa.String(35)),
        sa.Column("reversal", sa.Boolean, nullable=False),
        sa.Column("batch_count", sa.Integer),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("occurrence", sa.Integer, nullable=False),
        sa.UniqueConstraint(
            "bank_account_id", "fingerprint", "occurrence", name="uq_bank_lines_fingerprint"
        ),
        sa.UniqueConstraint(
            "bank_account_id",
            "bank_ref",
            "booked_on",
            "amount_minor",
            "ref_occurrence",
            name="uq_bank_lines_bank_ref",
        ),
        sa.CheckConstraint("occurrence >= 1", name="occurrence_positive"),
        sa.CheckConstraint(
            "(bank_ref IS NULL) = (ref_occurrence IS NULL)", name="ref_occurrence_with_ref"
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"""
                CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
            """)
            op.execute(f"""
                CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
            """)
    else:
        for table in APPEND_ONLY:
            for operation in ("update", "delete"):
                op.execute(f"""
                    CREATE TRIGGER {table}_no_{operation} BEFORE {operation.upper()}
                    ON {table}
                    BEGIN
                        SELECT RAISE(ABORT, 'ledger: {operation.upper()} on {table} refused: imported statements are append-only');
                    END;
                """)


def downgrade() -> None:
    for table in ("bank_lines", "bank_statements", "statement_imports", "bank_accounts"):
        op.drop_table(table)
