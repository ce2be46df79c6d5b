"""A bank account's own CSV/XLSX column preset: `bank_accounts.csv_preset`.

Revision ID: 0017_bank_presets
Revises: 0016_bank_rules
Create Date: 2026-12-07

The JSON settings of the columns of the account's bank export (date, value
date, amount or debit and credit columns, text columns, decimal style, rows to
skip, delimiter, sheet), set once by the treasurer. NULL: none set.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_bank_presets"
down_revision = "0016_bank_rules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bank_accounts") as batch:
        batch.add_column(sa.Column("csv_preset", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bank_accounts") as batch:
        batch.drop_column("csv_preset")
