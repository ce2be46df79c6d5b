"""ISO 11649 creditor references of gifts by bank transfer and of loans.

Revision ID: 0013_transfer_references
Revises: 0012_reconcile
Create Date: 2026-12-21

- `donations.transfer_reference`: the RF reference of a gift by bank transfer
  a donor started (`RF` + check digits + `D<id>`), unique; none for the gifts
  already there (card, cash, and transfers a treasurer typed in).
- `loans.transfer_reference`: the RF reference of a loan (`RF` + check digits
  + `L<id>`), unique; filled here for every loan already there.

The body and check digits are those of `ledger.payments.references`, computed
here on their own so the migration never changes with the code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from stdnum.iso7064 import mod_97_10

revision = "0013_transfer_references"
down_revision = "0012_reconcile"
branch_labels = None
depends_on = None


def _reference(kind: str, row_id: int) -> str:
    body = f"{kind}{row_id}"
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"


def upgrade() -> None:
    op.add_column("donations", sa.Column("transfer_reference", sa.String(35)))
    op.create_index(
        "ix_donations_transfer_reference", "donations", ["transfer_reference"], unique=True
    )
    op.add_column("loans", sa.Column("transfer_reference", sa.String(35)))
    bind = op.get_bind()
    loans = sa.table("loans", sa.column("id", sa.Integer), sa.column("transfer_reference"))
    for (loan_id,) in bind.execute(sa.select(loans.c.id)).all():
        bind.execute(
            loans.update()
            .where(loans.c.id == loan_id)
            .values(transfer_reference=_reference("L", int(loan_id)))
        )
    op.create_index("ix_loans_transfer_reference", "loans", ["transfer_reference"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_loans_transfer_reference", table_name="loans")
    op.drop_column("loans", "transfer_reference")
    op.drop_index("ix_donations_transfer_reference", table_name="donations")
    op.drop_column("donations", "transfer_reference")
