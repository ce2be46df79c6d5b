"""API tokens get scopes, an expiry and their last use.

Revision ID: 0008_token_scopes
Revises: 0007_command_requests
Create Date: 2026-12-10

`scopes` is `read`, `money` or both (`money read`): reads need `read`, anything
that moves money or changes state needs `money`. `expires_at` ends a token.
`last_used_at` and `last_used_from` tell its owner when and from where it was
last used.

Tokens issued before this migration could do everything and never expired: so
that nothing breaks abruptly, each becomes `read` + `money` and expires 90 days
after the migration ran (its owner or the operator issues a scoped one by then).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0008_token_scopes"
down_revision = "0007_command_requests"
branch_labels = None
depends_on = None

EXISTING_TOKENS_DAYS = 90


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("api_tokens", sa.Column("scopes", sa.String(16)))
    op.add_column("api_tokens", sa.Column("expires_at", _ts()))
    op.add_column("api_tokens", sa.Column("last_used_at", _ts()))
    op.add_column("api_tokens", sa.Column("last_used_from", sa.String(64)))

    expires = datetime.now(UTC) + timedelta(days=EXISTING_TOKENS_DAYS)
    if bind.dialect.name == "sqlite":
        expires = expires.replace(tzinfo=None)  # SQLite keeps naive UTC, as the models do
    tokens = sa.table("api_tokens", sa.column("scopes", sa.String), sa.column("expires_at", _ts()))
    bind.execute(sa.update(tokens).values(scopes="money read", expires_at=expires))

    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("scopes", existing_type=sa.String(16), nullable=False)
        batch.alter_column("expires_at", existing_type=_ts(), nullable=False)
        batch.create_check_constraint(
            "ck_api_tokens_scopes", "scopes IN ('read','money','money read')"
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint("ck_api_tokens_scopes", type_="check")
        batch.drop_column("last_used_from")
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
        batch.drop_column("scopes")
