"""Projects, budgets, expenses with their documents, money in, volunteer time and in-kind.

Revision ID: 0021_projects
Revises: 0018_bank_holdings
Create Date: 2027-01-10

The tables of `ledger.projects` (see `ledger/projects/models.py` for each):
organisations a project works with, projects with their partners and funders
(a funder is a foundation of `foundations` with its reporting settings), budget
versions of lines x funding sources, expense documents with their files and
allocation rows, money in (advances, partner cash, campaign payouts), the
campaigns linked to a project, the volunteer rate table and figurative items
(volunteer hours, in-kind at fair value).

`project_files`, `expense_allocations` and `figurative_items` are append-only:
UPDATE and DELETE are refused by triggers on both backends.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_projects"
down_revision = "0018_bank_holdings"
branch_labels = None
depends_on = None

APPEND_ONLY = ("project_files", "expense_allocations", "figurative_items")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "project_organisations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tax_code", sa.String(16)),
        sa.Column("vat_number", sa.String(16)),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column(
            "lead_organisation_id",
            sa.Integer,
            sa.ForeignKey("project_organisations.id"),
            nullable=False,
        ),
        sa.Column("programme", sa.String(200)),
        sa.Column("call_reference", sa.String(120)),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", _ts(), nullable=False),
        sa.CheckConstraint("ends_on >= starts_on", name="ck_projects_period_ordered"),
    )
    op.create_table(
        "project_partners",
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column(
            "organisation_id",
            sa.Integer,
            sa.ForeignKey("project_organisations.id"),
            primary_key=True,
        ),
        sa.Column("role", sa.String(12), primary_key=True),
    )
    op.create_table(
        "project_funders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False, index=True
        ),
        sa.Column(
            "foundation_id",
            sa.Integer,
            sa.ForeignKey("foundations.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("grant_minor", sa.BigInteger, nullable=False),
        sa.Column("max_grant_pct", sa.String(12)),
        sa.Column("min_cofinancing_pct", sa.String(12)),
        sa.Column("max_overheads_pct", sa.String(12)),
        sa.Column("variance_pct", sa.String(12), nullable=False),
        sa.Column("volunteer_counts", sa.Boolean, nullable=False),
        sa.Column("in_kind_counts", sa.Boolean, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("project_id", "foundation_id"),
        sa.CheckConstraint("grant_minor > 0", name="ck_project_funders_grant_positive"),
    )
    op.create_table(
        "budget_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False, index=True
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("note", sa.String(500)),
        sa.Column("proposed_by_user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("proposed_at", _ts(), nullable=False),
        sa.Column("approved_by_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("approved_at", _ts()),
        sa.UniqueConstraint("project_id", "number"),
        sa.CheckConstraint(
            "approved_by_user_id IS NULL OR approved_by_user_id <> proposed_by_user_id",
            name="ck_budget_versions_four_eyes",
        ),
    )
    op.create_table(
        "budget_lines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey("budget_versions.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.UniqueConstraint("version_id", "code"),
    )
    op.create_table(
        "budget_amounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "line_id", sa.Integer, sa.ForeignKey("budget_lines.id"), nullable=False, index=True
        ),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("source_ref", sa.Integer, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("line_id", "source", "source_ref"),
        sa.CheckConstraint("amount_minor >= 0", name="ck_budget_amounts_amount_not_negative"),
    )
    op.create_table(
        "project_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_table(
        "project_documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False, index=True
        ),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column(
            "supplier_id", sa.Integer, sa.ForeignKey("project_organisations.id"), nullable=False
        ),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("issued_on", sa.Date, nullable=False),
        sa.Column("net_minor", sa.BigInteger, nullable=False),
        sa.Column("vat_minor", sa.BigInteger, nullable=False),
        sa.Column("vat_recoverable", sa.Boolean, nullable=False),
        sa.Column("eligible_minor", sa.BigInteger, nullable=False),
        sa.Column("paid_by", sa.String(8), nullable=False),
        sa.Column("partner_id", sa.Integer, sa.ForeignKey("project_organisations.id")),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("project_files.id")),
        sa.Column("payment_line_id", sa.BigInteger),
        sa.Column("payment_sequence", sa.BigInteger),
        sa.Column("entry_sequence", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("project_id", "supplier_id", "kind", "number"),
        sa.CheckConstraint("net_minor > 0 AND vat_minor >= 0", name="ck_project_documents_amounts"),
    )
    op.create_table(
        "expense_allocations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "document_id",
            sa.Integer,
            sa.ForeignKey("project_documents.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("line_code", sa.String(16), nullable=False),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("source_ref", sa.Integer, nullable=False),
        sa.Column("partner_id", sa.Integer, sa.ForeignKey("project_organisations.id")),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("entry_sequence", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_expense_allocations_amount_positive"),
    )
    op.create_table(
        "project_campaigns",
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column(
            "project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False, index=True
        ),
        sa.Column("linked_at", _ts(), nullable=False),
    )
    op.create_table(
        "project_receipts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False, index=True
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("funder_id", sa.Integer, sa.ForeignKey("project_funders.id")),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("project_organisations.id")),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id")),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("escrow_minor", sa.BigInteger, nullable=False),
        sa.Column("match_minor", sa.BigInteger, nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("entry_sequence", sa.BigInteger),
        sa.Column("proposed_by_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("paid_by_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("campaign_id", name="uq_project_receipts_campaign"),
        sa.CheckConstraint("amount_minor > 0", name="ck_project_receipts_amount_positive"),
        sa.CheckConstraint(
            "paid_by_user_id IS NULL OR paid_by_user_id <> proposed_by_user_id",
            name="ck_project_receipts_four_eyes",
        ),
    )
    op.create_table(
        "volunteer_rates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("hourly_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("basis", sa.String(200)),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("role", "valid_from"),
        sa.CheckConstraint("hourly_minor > 0", name="ck_volunteer_rates_rate_positive"),
    )
    op.create_table(
        "figurative_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False, index=True
        ),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("persons.id")),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("project_organisations.id")),
        sa.Column("activity", sa.String(200), nullable=False),
        sa.Column("role", sa.String(64)),
        sa.Column("minutes", sa.Integer),
        sa.Column("rate_id", sa.Integer, sa.ForeignKey("volunteer_rates.id")),
        sa.Column("value_minor", sa.BigInteger, nullable=False),
        sa.Column("done_on", sa.Date, nullable=False),
        sa.Column("entry_sequence", sa.BigInteger, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.CheckConstraint("value_minor > 0", name="ck_figurative_items_value_positive"),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        if postgresql:
            op.execute(f"""
                CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE
                ON {table} FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
            """)
            op.execute(f"""
                CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE
                ON {table} FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
            """)
        else:
            for operation in ("update", "delete"):
                op.execute(f"""
                    CREATE TRIGGER {table}_no_{operation} BEFORE {operation.upper()}
                    ON {table}
                    BEGIN
                        SELECT RAISE(ABORT, 'ledger: {operation.upper()} on {table} refused: append-only');
                    END;
                """)


def downgrade() -> None:
    for table in (
        "figurative_items",
        "volunteer_rates",
        "project_receipts",
        "project_campaigns",
        "expense_allocations",
        "project_documents",
        "project_files",
        "budget_amounts",
        "budget_lines",
        "budget_versions",
        "project_funders",
        "project_partners",
        "projects",
        "project_organisations",
    ):
        op.drop_table(table)
