"""The register of volunteers (art. 17 c.1 CTS): `volunteer_enrolments`.

Revision ID: 0027_volunteer_register
Revises: 0026_engine_trigger
Create Date: 2026-12-08

One row per period a person serves as a volunteer of the organisation: from
(`enrolled_on`), to (`ended_on`, empty while open), the service (`activity`).
Volunteer hours count only on a day inside a period of their person
(`ledger.projects.volunteers`). The table holds ids, dates and the service,
never a name: erasing a person keeps their rows, as the register must be kept.

- one open period per person at a time: a partial unique index;
- a period ends on or after it began: a check;
- the register is kept: DELETE is refused, and an UPDATE may only end an open
  period (set `ended_on` and `ended_at`), once; triggers on both backends.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027_volunteer_register"
down_revision = "0026_engine_trigger"
branch_labels = None
depends_on = None

TABLE = "volunteer_enrolments"
# An UPDATE that does anything but end an open period.
NOT_AN_END = (
    "OLD.ended_on IS NOT NULL OR NEW.ended_on IS NULL"
    " OR NEW.id <> OLD.id OR NEW.person_id <> OLD.person_id"
    " OR NEW.enrolled_on <> OLD.enrolled_on OR NEW.created_at <> OLD.created_at"
    " OR {distinct}"
)


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("enrolled_on", sa.Date, nullable=False),
        sa.Column("ended_on", sa.Date),
        sa.Column("activity", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "ended_on IS NULL OR ended_on >= enrolled_on",
            name="ck_volunteer_enrolments_period_ordered",
        ),
    )
    op.create_index("ix_volunteer_enrolments_person_id", TABLE, ["person_id"])
    op.create_index(
        "uq_volunteer_enrolments_open",
        TABLE,
        ["person_id"],
        unique=True,
        sqlite_where=sa.text("ended_on IS NULL"),
        postgresql_where=sa.text("ended_on IS NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        condition = NOT_AN_END.format(distinct="NEW.activity IS DISTINCT FROM OLD.activity")
        op.execute(f"""
            CREATE FUNCTION ledger_guard_volunteer_enrolment() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR {condition} THEN
                    RAISE EXCEPTION
                        'ledger: % on {TABLE} refused: the register is kept, a period ends once',
                        TG_OP USING ERRCODE = 'restrict_violation';
                END IF;
                RETURN NEW;
            END $$;
        """)
        op.execute(f"""
            CREATE TRIGGER {TABLE}_kept BEFORE UPDATE OR DELETE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION ledger_guard_volunteer_enrolment();
        """)
        op.execute(f"""
            CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
        """)
        return
    condition = NOT_AN_END.format(distinct="NEW.activity IS NOT OLD.activity")
    op.execute(f"""
        CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
        BEGIN
            SELECT RAISE(ABORT, 'ledger: DELETE on {TABLE} refused: the register is kept');
        END;
    """)
    op.execute(f"""
        CREATE TRIGGER {TABLE}_ends_once BEFORE UPDATE ON {TABLE}
        WHEN {condition}
        BEGIN
            SELECT RAISE(ABORT, 'ledger: UPDATE on {TABLE} refused: a period ends once');
        END;
    """)


def downgrade() -> None:
    op.drop_index("uq_volunteer_enrolments_open", TABLE)
    op.drop_index("ix_volunteer_enrolments_person_id", TABLE)
    op.drop_table(TABLE)  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ledger_guard_volunteer_enrolment()")
