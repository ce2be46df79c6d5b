"""Microcredit and microgrant funds, loan products, loans and repayments.

Revision ID: 0004_funds
Revises: 0003_campaigns
Create Date: 2026-11-22
"""

from __future__ import annotations

revision = "0004_funds"
down_revision = "0003_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
