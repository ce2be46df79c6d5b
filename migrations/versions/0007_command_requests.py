"""Request keys of commands: the one idempotency rule of every use case.

Revision ID: 0007_command_requests
Revises: 0006_grants
Create Date: 2026-12-07

One row per (command, caller scope, key): the request's hash and what the
first request did (subject and a small result), so a repeat answers the
original outcome and the same key with another request is a conflict. Rows are
written in the act's own transaction; the unique index makes two concurrent
requests with one key produce one effect.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_command_requests"
down_revision = "0006_grants"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "command_requests",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("request_key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(64)),
        sa.Column("result", sa.JSON),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("action", "scope", "request_key", name="uq_command_requests_key"),
    )


def downgrade() -> None:
    op.drop_table("command_requests")
