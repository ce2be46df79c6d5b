"""Verified e-mail addresses, pending registrations, the donor as given on gifts and receipts.

Revision ID: 0011_verified_email
Revises: 0010_sign_in_links
Create Date: 2026-12-14

- `users.email_verified_at`: when the account's owner proved they read the
  address's mail (a registration link, a confirmation link, a password-reset
  link). What the registry links to an address is shown to a verified account
  only. Users already in the database count as verified (from their creation):
  nothing changes for them.
- `registrations`: a self-registration waiting for its link. It is no account
  and holds no address of `persons`, so nobody can occupy someone else's
  address by registering it; following the link (with the password chosen)
  makes the account, verified.
- `donations.donor_name`, `donations.donor_codice_fiscale`: the donor as the
  treasurer typed them for an offline gift, never taken from (nor written
  into) the person registered under the address.
- `receipts.donor_name`, `receipts.donor_codice_fiscale`: the donor as printed
  on the receipt, fixed when it is issued (filled here from the persons of the
  receipts already issued, so they print as before). A correction voids the
  receipt and issues a new one; the guard triggers now refuse a change of
  these columns too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_verified_email"
down_revision = "0010_sign_in_links"
branch_labels = None
depends_on = None

_GUARDED = (
    "id",
    "donation_id",
    "amount_minor",
    "currency",
    "organisation_id",
    "year",
    "number",
    "issued_on",
)
_DONOR = ("donor_name", "donor_codice_fiscale")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _postgres_guard(columns: tuple[str, ...]) -> str:
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in columns)
    return f"""
        CREATE OR REPLACE FUNCTION ledger_guard_receipt() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' OR OLD.voided_on IS NOT NULL OR {changed} THEN
                RAISE EXCEPTION 'ledger: % of receipt % refused: a receipt is only ever voided',
                    TG_OP, OLD.id USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END $$;
    """


def _sqlite_guard(columns: tuple[str, ...]) -> str:
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in columns)
    return f"""
        CREATE TRIGGER receipts_only_void BEFORE UPDATE ON receipts
        WHEN OLD.voided_on IS NOT NULL OR {changed}
        BEGIN
            SELECT RAISE(ABORT, 'ledger: UPDATE of receipts refused: a receipt is only ever voided');
        END;
    """


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"

    op.add_column("users", sa.Column("email_verified_at", _ts()))
    op.execute("UPDATE users SET email_verified_at = created_at")

    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("codice_fiscale", sa.String(16)),
        # Cleared once the registration is completed: the user row holds it then.
        sa.Column("password_hash", sa.String(255)),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("locale", sa.String(2), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("completed_at", _ts()),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.CheckConstraint("email = lower(email)", name="ck_registrations_email_lower"),
        sa.CheckConstraint("role IN ('donor','proponent')", name="ck_registrations_role"),
        sa.CheckConstraint("locale IN ('it','en')", name="ck_registrations_locale"),
    )
    op.create_index("ix_registrations_email", "registrations", ["email"])

    op.add_column("donations", sa.Column("donor_name", sa.String(200)))
    op.add_column("donations", sa.Column("donor_codice_fiscale", sa.String(16)))

    # The receipts' guard is lifted while the new columns are filled, then put back
    # covering them.
    if postgres:
        op.execute("ALTER TABLE receipts DISABLE TRIGGER receipts_guard")
    else:
        op.execute("DROP TRIGGER receipts_only_void")
    op.add_column("receipts", sa.Column("donor_name", sa.String(200)))
    op.add_column("receipts", sa.Column("donor_codice_fiscale", sa.String(16)))
    op.execute("""
        UPDATE receipts SET
            donor_name = (
                SELECT persons.full_name FROM donations JOIN persons
                    ON persons.id = donations.person_id
                WHERE donations.id = receipts.donation_id),
            donor_codice_fiscale = (
                SELECT persons.codice_fiscale FROM donations JOIN persons
                    ON persons.id = donations.person_id
                WHERE donations.id = receipts.donation_id)
    """)
    if postgres:
        op.execute(_postgres_guard(_GUARDED + _DONOR))
        op.execute("ALTER TABLE receipts ENABLE TRIGGER receipts_guard")
    else:
        op.execute(_sqlite_guard(_GUARDED + _DONOR))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE receipts DISABLE TRIGGER receipts_guard")
    else:
        op.execute("DROP TRIGGER receipts_only_void")
    op.drop_column("receipts", "donor_codice_fiscale")
    op.drop_column("receipts", "donor_name")
    if postgres:
        op.execute(_postgres_guard(_GUARDED))
        op.execute("ALTER TABLE receipts ENABLE TRIGGER receipts_guard")
    else:
        op.execute(_sqlite_guard(_GUARDED))
    op.drop_column("donations", "donor_codice_fiscale")
    op.drop_column("donations", "donor_name")
    op.drop_index("ix_registrations_email", "registrations")
    op.drop_table("registrations")
    op.drop_column("users", "email_verified_at")
