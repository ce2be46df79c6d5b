"""Lines a later file would have split but the treasurer had explained: `kept_whole_line_ids`.

Revision ID: 0029_kept_whole
Revises: 0028_period_totals
Create Date: 2026-12-08

A camt.054 may bring the breakdown of an entry a camt.053 imported earlier; the
import then adds the entry's detail lines, and the entry leaves the lines to
explain (its details explain it). An entry the treasurer has explained in
between keeps its explanation and gets no details (`statements.import_parsed`):
split, its allocation would be hidden and its details would ask to be explained,
and booked, a second time. The import records which lines it kept whole, as it
records which it found already imported (a JSON list of line ids; `[]` for
every import before this one, which split whatever it found).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029_kept_whole"
down_revision = "0028_period_totals"
branch_labels = None
depends_on = None


# A plain ADD COLUMN on both backends: a batch operation would recreate the table on
# SQLite and drop its append-only triggers with it.
def upgrade() -> None:
    op.add_column(
        "statement_imports",
        sa.Column("kept_whole_line_ids", sa.Text, nullable=False, server_default="[]"),
    )


def downgrade() -> None:
    op.drop_column("statement_imports", "kept_whole_line_ids")
