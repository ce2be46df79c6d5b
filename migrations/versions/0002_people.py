"""People, users, roles, API tokens, the audit log and the outbox.

Revision ID: 0002_people
Revises: 0001_engine
Create Date: 2026-11-22

Personal data lives in `persons` only. The audit log is append-only: triggers
refuse UPDATE and DELETE of `audit_events` on both backends (and TRUNCATE on
PostgreSQL), reusing the engine's refusal function there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_people"
down_revision = "0001_engine"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("codice_fiscale", sa.String(16)),
        sa.Column("address", sa.Text),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("email", name="uq_persons_email"),
        sa.CheckConstraint("email = lower(email)", name="ck_persons_email_lower"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("password_changed_at", _ts()),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("locale", sa.String(2), nullable=False),
        sa.Column("totp_secret", sa.String(64)),
        sa.Column("totp_enrolled_at", _ts()),
        sa.Column("totp_last_step", sa.Integer),
        sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("person_id", name="uq_users_person_id"),
        sa.CheckConstraint("locale IN ('it','en')", name="ck_users_locale"),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("role", sa.String(32), primary_key=True),
        sa.CheckConstraint(
            "role IN ('donor','proponent','reviewer','treasurer','foundation_officer','admin')",
            name="ck_user_roles_role",
        ),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("revoked_at", _ts()),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", _ts(), nullable=False),
        sa.Column("actor_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32)),
        sa.Column("subject_id", sa.String(64)),
        sa.Column("source", sa.String(64)),
        sa.Column("user_agent", sa.String(200)),
        sa.Column("details", sa.JSON, nullable=False),
        sa.CheckConstraint("channel IN ('web','api','cli')", name="ck_audit_events_channel"),
    )
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])
    op.create_index("ix_audit_events_actor_user_id", "audit_events", ["actor_user_id"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_table(
        "outbox_messages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("sent_at", _ts()),
        sa.Column("claimed_until", _ts()),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_outbox_messages_sent_at", "outbox_messages", ["sent_at"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """)
        op.execute("""
            CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
        """)
    else:
        for operation in ("update", "delete"):
            op.execute(f"""
                CREATE TRIGGER audit_events_no_{operation} BEFORE {operation.upper()}
                ON audit_events
                BEGIN
                    SELECT RAISE(ABORT, 'ledger: {operation.upper()} on audit_events refused: the audit log is append-only');
                END;
            """)


def downgrade() -> None:
    for table in (
        "outbox_messages",
        "audit_events",
        "api_tokens",
        "user_roles",
        "users",
        "persons",
    ):
        op.drop_table(table)
