"""Foundations, matching-grant commitments and their money states.

Revision ID: 0006_grants
Revises: 0005_calls
Create Date: 2026-11-22
"""

from __future__ import annotations

revision = "0006_grants"
down_revision = "0005_calls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
