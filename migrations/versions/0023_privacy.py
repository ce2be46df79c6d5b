"""Privacy: `persons.erased_at`, and the audit log's one narrow exception to append-only.

Revision ID: 0023_privacy
Revises: 0022_job_runs
Create Date: 2026-12-07

`persons.erased_at` says when an admin erased the person (GDPR art. 17): their
name, e-mail, codice fiscale and address were replaced then (what the law
requires to keep is listed in the erasure's outcome).

The audit log stays append-only, with one exception: an UPDATE may blank
(set to NULL) the client address (`source`) and the user agent of an event,
and nothing else. The retention job blanks them after
LEDGER_AUDIT_IP_RETENTION_DAYS and an erasure blanks those of the erased
person's own events. Every other UPDATE, any DELETE, and on PostgreSQL any
TRUNCATE, is still refused by triggers: an UPDATE that changes another column,
or writes a value other than NULL into these two, aborts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_privacy"
down_revision = "0022_job_runs"
branch_labels = None
depends_on = None

# Every column but `source` and `user_agent`: an UPDATE must leave them as they are.
_KEPT = ("id", "occurred_at", "actor_user_id", "channel", "action", "subject_type", "subject_id")


def upgrade() -> None:
    op.add_column("persons", sa.Column("erased_at", sa.DateTime(timezone=True)))
    if op.get_bind().dialect.name == "postgresql":
        unchanged = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _KEPT)
        op.execute(
            """
            CREATE FUNCTION ledger_guard_audit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF """
            + unchanged
            + """
                   OR NEW.details::text IS DISTINCT FROM OLD.details::text
                   OR (NEW.source IS NOT NULL AND NEW.source IS DISTINCT FROM OLD.source)
                   OR (NEW.user_agent IS NOT NULL AND NEW.user_agent IS DISTINCT FROM OLD.user_agent)
                THEN
                    RAISE EXCEPTION 'ledger: UPDATE on audit_events refused: the audit log is append-only (only its address and user agent may be blanked)'
                        USING ERRCODE = 'restrict_violation';
                END IF;
                RETURN NEW;
            END $$;
        """
        )
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("""
            CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """)
        op.execute("""
            CREATE TRIGGER audit_events_only_blank BEFORE UPDATE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION ledger_guard_audit();
        """)
    else:
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in (*_KEPT, "details"))
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute(f"""
            CREATE TRIGGER audit_events_only_blank BEFORE UPDATE ON audit_events
            WHEN {changed}
              OR (NEW.source IS NOT NULL AND NEW.source IS NOT OLD.source)
              OR (NEW.user_agent IS NOT NULL AND NEW.user_agent IS NOT OLD.user_agent)
            BEGIN
                SELECT RAISE(ABORT, 'ledger: UPDATE on audit_events refused: the audit log is append-only (only its address and user agent may be blanked)');
            END;
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_only_blank ON audit_events")
        op.execute("DROP TRIGGER audit_events_no_delete ON audit_events")
        op.execute("DROP FUNCTION ledger_guard_audit()")
        op.execute("""
            CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """)
    else:
        op.execute("DROP TRIGGER audit_events_only_blank")
        op.execute("""
            CREATE TRIGGER audit_events_no_update BEFORE UPDATE
            ON audit_events
            BEGIN
                SELECT RAISE(ABORT, 'ledger: UPDATE on audit_events refused: the audit log is append-only');
            END;
        """)
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy would drop `persons`, which
    # the foreign keys of users, donations and the rest refuse.
    op.drop_column("persons", "erased_at")
