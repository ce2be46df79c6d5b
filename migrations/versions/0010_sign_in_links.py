"""One-time sign-in links sent by e-mail.

Revision ID: 0010_sign_in_links
Revises: 0009_totp_encrypted
Create Date: 2026-12-20

Past a ceiling of wrong passwords for one account (from every network
together), the password alone no longer signs in: the owner is offered a
one-time sign-in link by e-mail instead of being locked out. A row is one
link: whose, when it was made, when it expires and when it was used. The link
itself (signed with the secret key when the e-mail is built) is stored
nowhere.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_sign_in_links"
down_revision = "0009_totp_encrypted"
branch_labels = None
depends_on = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sign_in_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("used_at", _ts()),
        sa.CheckConstraint("expires_at > created_at", name="ck_sign_in_links_expiry"),
    )
    op.create_index("ix_sign_in_links_user_id", "sign_in_links", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_sign_in_links_user_id", table_name="sign_in_links")
    op.drop_table("sign_in_links")
