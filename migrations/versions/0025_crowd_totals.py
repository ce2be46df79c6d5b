"""A running crowd total per campaign: `campaigns.crowd_*`.

Revision ID: 0025_crowd_totals
Revises: 0024_project_members
Create Date: 2026-12-07

The settled money a campaign's crowd has given, as the matching grants' threshold
check counts it, kept on the campaign's row by the use cases that settle, refund
or dispute a gift (under the campaign's row lock), instead of being summed over
every gift of the campaign on every gift:

- `crowd_gross_minor`: the sum over settled gifts of what each still counts
  (amount less refunds and disputes), gifts counting nothing left out;
- `crowd_net_minor`: the same less each gift's fee, never below zero per gift;
- `crowd_donors`: distinct people among those gifts, each gift without a person
  counting as one donor.

Existing campaigns are filled from their gifts here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025_crowd_totals"
down_revision = "0024_project_members"
branch_labels = None
depends_on = None

_COUNTED = "(d.amount_minor - d.refunded_minor - d.withdrawn_minor)"
_LIVE = f"d.campaign_id = campaigns.id AND d.status = 'settled' AND {_COUNTED} > 0"


def upgrade() -> None:
    for name in ("crowd_gross_minor", "crowd_net_minor"):
        op.add_column(
            "campaigns",
            sa.Column(name, sa.BigInteger, nullable=False, server_default=sa.text("0")),
        )
    op.add_column(
        "campaigns",
        sa.Column("crowd_donors", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    op.execute(f"""
        UPDATE campaigns SET
          crowd_gross_minor = COALESCE(
            (SELECT SUM({_COUNTED}) FROM donations d WHERE {_LIVE}), 0),
          crowd_net_minor = COALESCE(
            (SELECT SUM(CASE WHEN {_COUNTED} - d.fee_minor > 0
                             THEN {_COUNTED} - d.fee_minor ELSE 0 END)
             FROM donations d WHERE {_LIVE}), 0),
          crowd_donors =
            (SELECT COUNT(DISTINCT d.person_id) FROM donations d WHERE {_LIVE})
            + (SELECT COUNT(*) FROM donations d WHERE {_LIVE} AND d.person_id IS NULL)
    """)


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy would drop `campaigns`, which
    # the donations' foreign keys refuse.
    for name in ("crowd_donors", "crowd_net_minor", "crowd_gross_minor"):
        op.execute(f"ALTER TABLE campaigns DROP COLUMN {name}")
