"""Calls for ideas, applications, committee reviews, awards and grant tranches.

Revision ID: 0005_calls
Revises: 0004_funds
Create Date: 2026-11-22
"""

from __future__ import annotations

revision = "0005_calls"
down_revision = "0004_funds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
