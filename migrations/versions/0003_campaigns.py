"""Campaigns, donations, refunds, disputes, receipts and the Stripe event log.

Revision ID: 0003_campaigns
Revises: 0002_people
Create Date: 2026-11-22

Uniqueness carries the "exactly once" rules: a Stripe event id, a Checkout
Session, a PaymentIntent, a charge, a refund id, an offline request key and a
receipt number each appear once; a campaign-failure refund exists at most once
per donation (partial unique index). Receipts and the event log are append-only
except for a receipt's void date and reason, set once (triggers on both backends).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_campaigns"
down_revision = "0002_people"
branch_labels = None
depends_on = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tax_code", sa.String(16), nullable=False),
        sa.Column("qualification", sa.String(32), nullable=False),
        sa.Column("runts_number", sa.String(64)),
        sa.Column("address", sa.Text),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description_md", sa.Text, nullable=False),
        sa.Column("goal_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("deadline_at", _ts(), nullable=False),
        sa.Column("funding_model", sa.String(24), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("published_at", _ts()),
        sa.Column("decided_at", _ts()),
        sa.Column("outcome", sa.String(12)),
        sa.Column("closed_at", _ts()),
        sa.CheckConstraint("goal_minor > 0", name="ck_campaigns_goal_positive"),
        sa.CheckConstraint(
            "funding_model IN ('keep_what_you_raise','all_or_nothing')",
            name="ck_campaigns_funding_model",
        ),
        sa.CheckConstraint(
            "status IN ('draft','live','succeeded','failed','closed')", name="ck_campaigns_status"
        ),
    )
    op.create_table(
        "donations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("persons.id")),
        sa.Column("anonymous", sa.Boolean, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("fee_minor", sa.BigInteger, nullable=False),
        sa.Column("refunded_minor", sa.BigInteger, nullable=False),
        sa.Column("withdrawn_minor", sa.BigInteger, nullable=False),
        sa.Column("stripe_session_id", sa.String(255)),
        sa.Column("stripe_payment_intent_id", sa.String(255)),
        sa.Column("stripe_charge_id", sa.String(255)),
        sa.Column("checkout_url", sa.Text),
        sa.Column("reference", sa.String(140)),
        sa.Column("request_key", sa.String(255)),
        sa.Column("flagged_reason", sa.String(255)),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("settled_at", _ts()),
        sa.Column("donated_on", sa.Date),
        sa.UniqueConstraint("stripe_session_id", name="uq_donations_stripe_session_id"),
        sa.UniqueConstraint(
            "stripe_payment_intent_id", name="uq_donations_stripe_payment_intent_id"
        ),
        sa.UniqueConstraint("stripe_charge_id", name="uq_donations_stripe_charge_id"),
        sa.UniqueConstraint("request_key", name="uq_donations_request_key"),
        sa.CheckConstraint("amount_minor > 0", name="ck_donations_amount_positive"),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND withdrawn_minor >= 0 "
            "AND refunded_minor + withdrawn_minor <= amount_minor",
            name="ck_donations_returned_within_amount",
        ),
        sa.CheckConstraint("method IN ('card','bank_transfer','cash')", name="ck_donations_method"),
        sa.CheckConstraint(
            "status IN ('pending','settled','failed','expired')", name="ck_donations_status"
        ),
    )
    op.create_index("ix_donations_campaign_id", "donations", ["campaign_id"])
    op.create_index("ix_donations_person_id", "donations", ["person_id"])
    op.create_index("ix_donations_status", "donations", ["status"])
    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("donation_id", sa.Integer, sa.ForeignKey("donations.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("stripe_refund_id", sa.String(255)),
        sa.Column("requested_by_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("confirmed_at", _ts()),
        sa.Column("entry_sequence", sa.BigInteger),
        sa.UniqueConstraint("stripe_refund_id", name="uq_refunds_stripe_refund_id"),
        sa.CheckConstraint("amount_minor > 0", name="ck_refunds_amount_positive"),
        sa.CheckConstraint("status IN ('pending','succeeded','failed')", name="ck_refunds_status"),
    )
    op.create_index("ix_refunds_donation_id", "refunds", ["donation_id"])
    # One refund of a failed all-or-nothing campaign per donation, whatever runs twice;
    # one pending refund per donation at a time.
    op.create_index(
        "uq_refunds_campaign_failed",
        "refunds",
        ["donation_id"],
        unique=True,
        sqlite_where=sa.text("reason = 'campaign_failed' AND status <> 'failed'"),
        postgresql_where=sa.text("reason = 'campaign_failed' AND status <> 'failed'"),
    )
    op.create_index(
        "uq_refunds_one_pending",
        "refunds",
        ["donation_id"],
        unique=True,
        # Refunds made elsewhere (the Stripe dashboard) are recorded as Stripe
        # reports them, whatever is pending here.
        sqlite_where=sa.text("status = 'pending' AND reason <> 'provider'"),
        postgresql_where=sa.text("status = 'pending' AND reason <> 'provider'"),
    )
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("donation_id", sa.Integer, sa.ForeignKey("donations.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("fee_minor", sa.BigInteger, nullable=False),
        sa.Column("escrow_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.Column("closed_at", _ts()),
    )
    op.create_index("ix_disputes_donation_id", "disputes", ["donation_id"])
    op.create_table(
        "receipts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("donation_id", sa.Integer, sa.ForeignKey("donations.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("issued_on", sa.Date, nullable=False),
        sa.Column("voided_on", sa.Date),
        sa.Column("void_reason", sa.String(200)),
        sa.UniqueConstraint(
            "organisation_id", "year", "number", name="uq_receipts_organisation_id"
        ),
    )
    op.create_index("ix_receipts_donation_id", "receipts", ["donation_id"])
    # One valid receipt per donation at a time.
    op.create_index(
        "uq_receipts_one_valid",
        "receipts",
        ["donation_id"],
        unique=True,
        sqlite_where=sa.text("voided_on IS NULL"),
        postgresql_where=sa.text("voided_on IS NULL"),
    )
    op.create_table(
        "receipt_counters",
        sa.Column(
            "organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), primary_key=True
        ),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last_number", sa.Integer, nullable=False),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("received_at", _ts(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("donation_id", sa.Integer, sa.ForeignKey("donations.id")),
        sa.Column("detail", sa.String(255)),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION ledger_guard_receipt() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR OLD.voided_on IS NOT NULL
                   OR NEW.id <> OLD.id OR NEW.donation_id <> OLD.donation_id
                   OR NEW.amount_minor <> OLD.amount_minor OR NEW.currency <> OLD.currency
                   OR NEW.organisation_id <> OLD.organisation_id OR NEW.year <> OLD.year
                   OR NEW.number <> OLD.number OR NEW.issued_on <> OLD.issued_on THEN
                    RAISE EXCEPTION 'ledger: % of receipt % refused: a receipt is only ever voided',
                        TG_OP, OLD.id USING ERRCODE = 'restrict_violation';
                END IF;
                RETURN NEW;
            END $$;
        """)
        op.execute("""
            CREATE TRIGGER receipts_guard BEFORE UPDATE OR DELETE ON receipts
            FOR EACH ROW EXECUTE FUNCTION ledger_guard_receipt();
        """)
        op.execute("""
            CREATE TRIGGER stripe_events_append_only BEFORE UPDATE OR DELETE ON stripe_events
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """)
    else:
        op.execute("""
            CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts
            BEGIN
                SELECT RAISE(ABORT, 'ledger: DELETE on receipts refused: a receipt is only ever voided');
            END;
        """)
        op.execute("""
            CREATE TRIGGER receipts_only_void BEFORE UPDATE ON receipts
            WHEN OLD.voided_on IS NOT NULL OR NEW.id IS NOT OLD.id
              OR NEW.donation_id IS NOT OLD.donation_id OR NEW.amount_minor IS NOT OLD.amount_minor
              OR NEW.currency IS NOT OLD.currency OR NEW.organisation_id IS NOT OLD.organisation_id
              OR NEW.year IS NOT OLD.year OR NEW.number IS NOT OLD.number
              OR NEW.issued_on IS NOT OLD.issued_on
            BEGIN
                SELECT RAISE(ABORT, 'ledger: UPDATE of receipts refused: a receipt is only ever voided');
            END;
        """)
        for operation in ("update", "delete"):
            op.execute(f"""
                CREATE TRIGGER stripe_events_no_{operation} BEFORE {operation.upper()}
                ON stripe_events
                BEGIN
                    SELECT RAISE(ABORT, 'ledger: {operation.upper()} on stripe_events refused: the event log is append-only');
                END;
            """)


def downgrade() -> None:
    for table in (
        "stripe_events",
        "receipt_counters",
        "receipts",
        "disputes",
        "refunds",
        "donations",
        "campaigns",
        "organisations",
    ):
        op.drop_table(table)
