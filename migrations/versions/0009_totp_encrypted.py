"""TOTP secrets sealed at rest under LEDGER_TOTP_KEY.

Revision ID: 0009_totp_encrypted
Revises: 0008_token_scopes
Create Date: 2026-12-10

Until now `users.totp_secret` held each secret in clear: a copy of the table
gave the codes of every treasurer and admin. The secret now lives in
`totp_secret_sealed`, a Fernet token under the first key of LEDGER_TOTP_KEY
(`ledger.core.sealing`), and the old column is renamed `totp_secret_clear`.

Existing secrets: when LEDGER_TOTP_KEY is set in the environment of the
upgrade, every one is sealed here, in the migration's transaction, and the
clear column is emptied. When it is not, they stay in `totp_secret_clear`
(nothing is lost, nobody is locked out): the application seals each at its
next use, and `ledger users reseal-totp` seals all the rest at once. The
migration never invents a key: a secret sealed under a key the application
does not have would lock its owner out.

Downgrade puts the secrets back in clear and needs the key for that; it
refuses, changing nothing, when a sealed secret exists and no key opens it.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

revision = "0009_totp_encrypted"
down_revision = "0008_token_scopes"
branch_labels = None
depends_on = None

KEY_VARIABLE = "LEDGER_TOTP_KEY"


def _keys() -> list[str]:
    raw = os.environ.get(KEY_VARIABLE, "")
    return [key.strip() for key in raw.split(",") if key.strip()]


def _fernets(keys: list[str]) -> tuple[Fernet, MultiFernet]:
    try:
        fernets = [Fernet(key.encode()) for key in keys]
    except ValueError:
        raise RuntimeError(f"{KEY_VARIABLE} holds a value that is not a Fernet key") from None
    return fernets[0], MultiFernet(fernets)


def upgrade() -> None:
    op.alter_column("users", "totp_secret", new_column_name="totp_secret_clear")
    op.add_column("users", sa.Column("totp_secret_sealed", sa.String(255)))
    keys = _keys()
    if not keys:
        return  # sealed at first use, or by `ledger users reseal-totp`
    current, _ = _fernets(keys)
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, totp_secret_clear FROM users WHERE totp_secret_clear IS NOT NULL")
    ).all()
    for user_id, secret in rows:
        bind.execute(
            sa.text(
                "UPDATE users SET totp_secret_sealed = :sealed, totp_secret_clear = NULL "
                "WHERE id = :id"
            ),
            {"sealed": current.encrypt(secret.encode()).decode(), "id": user_id},
        )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, totp_secret_sealed FROM users WHERE totp_secret_sealed IS NOT NULL")
    ).all()
    if rows:
        keys = _keys()
        if not keys:
            raise RuntimeError(
                f"{KEY_VARIABLE} is not set: the sealed TOTP secrets cannot be put back in clear"
            )
        _, every = _fernets(keys)
        opened = []
        for user_id, sealed in rows:  # every one opened before anything is written
            try:
                opened.append({"secret": every.decrypt(sealed.encode()).decode(), "id": user_id})
            except InvalidToken:
                raise RuntimeError(
                    f"no key of {KEY_VARIABLE} opens the TOTP secret of user {user_id}"
                ) from None
        bind.execute(sa.text("UPDATE users SET totp_secret_clear = :secret WHERE id = :id"), opened)
    if bind.dialect.name == "sqlite":
        # SQLite drops a column in place (3.35+), without copying the table that
        # other tables refer to.
        op.execute("ALTER TABLE users DROP COLUMN totp_secret_sealed")
    else:
        op.drop_column("users", "totp_secret_sealed")
    op.alter_column("users", "totp_secret_clear", new_column_name="totp_secret")
