"""Foundations, their officers, matching-grant commitments and their money states.

Revision ID: 0006_grants
Revises: 0005_calls
Create Date: 2026-11-22

A commitment's money is in the engine; these tables hold its rule settings,
the running totals its rules read under the commitment's row lock, one match
row per (commitment, donation) (unique: a retried settlement never matches
twice) and one allocation per (commitment, campaign) (unique: one top-up
reservation). `grant_events` logs every money-state transition and is
append-only (triggers on both backends). Campaigns may belong to a call for
ideas (`campaigns.call_id`): a commitment toward a call covers them all.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_grants"
down_revision = "0005_calls"
branch_labels = None
depends_on = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("campaigns", sa.Column("call_id", sa.Integer, nullable=True))
        op.create_foreign_key("fk_campaigns_call_id", "campaigns", "calls", ["call_id"], ["id"])
    else:
        # SQLite adds a NULL column with its reference in place, without copying
        # the table (a batch copy would drop a table that donations refer to).
        op.execute("ALTER TABLE campaigns ADD COLUMN call_id INTEGER REFERENCES calls (id)")
    op.create_index("ix_campaigns_call_id", "campaigns", ["call_id"])
    op.create_table(
        "foundations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("tax_code", sa.String(16)),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_table(
        "foundation_officers",
        sa.Column("foundation_id", sa.Integer, sa.ForeignKey("foundations.id"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_table(
        "commitments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "foundation_id", sa.Integer, sa.ForeignKey("foundations.id"), nullable=False, index=True
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), index=True),
        sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id"), index=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("pool_minor", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("count_net", sa.Boolean, nullable=False),
        sa.Column("clawback_policy", sa.String(12), nullable=False),
        sa.Column("window_start", _ts(), nullable=False),
        sa.Column("window_end", _ts(), nullable=False),
        sa.Column("ratio", sa.String(20)),
        sa.Column("methods", sa.String(64)),
        sa.Column("min_gift_minor", sa.BigInteger),
        sa.Column("max_gift_minor", sa.BigInteger),
        sa.Column("donor_cap_minor", sa.BigInteger),
        sa.Column("campaign_cap_minor", sa.BigInteger),
        sa.Column("threshold_minor", sa.BigInteger),
        sa.Column("threshold_share", sa.String(20)),
        sa.Column("topup_minor", sa.BigInteger),
        sa.Column("topup_share", sa.String(20)),
        sa.Column("topup_policy", sa.String(20)),
        sa.Column("topup_cap_minor", sa.BigInteger),
        sa.Column("min_donors", sa.Integer),
        sa.Column("bonus_share", sa.String(20)),
        sa.Column("bonus_cap_minor", sa.BigInteger),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("request_key", sa.String(255), unique=True),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("cancelled_at", _ts()),
        sa.Column("cancelled_by", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("cancel_request_key", sa.String(255)),
        sa.CheckConstraint("pool_minor > 0", name="pool_positive"),
        sa.CheckConstraint("kind IN ('ratio', 'threshold')", name="kind_known"),
        sa.CheckConstraint("status IN ('active', 'cancelled')", name="status_known"),
        sa.CheckConstraint("clawback_policy IN ('keep', 'claw_back')", name="policy_known"),
        sa.CheckConstraint("(campaign_id IS NULL) <> (call_id IS NULL)", name="one_scope"),
    )
    op.create_table(
        "grant_allocations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "commitment_id", sa.Integer, sa.ForeignKey("commitments.id"), nullable=False, index=True
        ),
        sa.Column(
            "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False, index=True
        ),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("eligible_minor", sa.BigInteger, nullable=False),
        sa.Column("matched_minor", sa.BigInteger, nullable=False),
        sa.Column("hold_id", sa.String(36)),
        sa.Column("reserved_minor", sa.BigInteger, nullable=False),
        sa.Column("released_minor", sa.BigInteger, nullable=False),
        sa.Column("disbursed_minor", sa.BigInteger, nullable=False),
        sa.Column("clawback_due_minor", sa.BigInteger, nullable=False),
        sa.Column("releases", sa.Integer, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("released_at", _ts()),
        sa.UniqueConstraint("commitment_id", "campaign_id"),
        sa.CheckConstraint(
            "eligible_minor >= 0 AND matched_minor >= 0 AND reserved_minor >= 0 "
            "AND released_minor >= 0 AND disbursed_minor >= 0 AND clawback_due_minor >= 0",
            name="amounts_not_negative",
        ),
    )
    op.create_table(
        "grant_matches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "commitment_id", sa.Integer, sa.ForeignKey("commitments.id"), nullable=False, index=True
        ),
        sa.Column(
            "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False, index=True
        ),
        sa.Column(
            "donation_id", sa.Integer, sa.ForeignKey("donations.id"), nullable=False, index=True
        ),
        sa.Column("donor_key", sa.String(40), nullable=False),
        sa.Column("eligible_minor", sa.BigInteger, nullable=False),
        sa.Column("match_minor", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("hold_id", sa.String(36)),
        sa.Column("holds", sa.Integer, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("commitment_id", "donation_id"),
        sa.CheckConstraint("eligible_minor >= 0 AND match_minor >= 0", name="amounts_not_negative"),
    )
    # A donor's match so far is summed at every gift of theirs (per-donor caps).
    op.create_index("ix_grant_matches_donor", "grant_matches", ["commitment_id", "donor_key"])
    op.create_table(
        "grant_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "commitment_id", sa.Integer, sa.ForeignKey("commitments.id"), nullable=False, index=True
        ),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), index=True),
        sa.Column("donation_id", sa.Integer, sa.ForeignKey("donations.id")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("entry_sequence", sa.BigInteger),
        sa.Column("hold_id", sa.String(36)),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("actor", sa.String(64)),
        sa.Column("created_at", _ts(), nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE TRIGGER grant_events_append_only BEFORE UPDATE OR DELETE ON grant_events
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """)
    else:
        for operation in ("update", "delete"):
            op.execute(f"""
                CREATE TRIGGER grant_events_no_{operation} BEFORE {operation.upper()}
                ON grant_events
                BEGIN
                    SELECT RAISE(ABORT, 'ledger: {operation.upper()} on grant_events refused: the grant log is append-only');
                END;
            """)


def downgrade() -> None:
    for table in (
        "grant_events",
        "grant_matches",
        "grant_allocations",
        "commitments",
        "foundation_officers",
        "foundations",
    ):
        op.drop_table(table)
    op.drop_index("ix_campaigns_call_id", "campaigns")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_campaigns_call_id", "campaigns", type_="foreignkey")
        op.drop_column("campaigns", "call_id")
    else:
        with op.batch_alter_table("campaigns", recreate="always") as batch:
            batch.drop_column("call_id")
