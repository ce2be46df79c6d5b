"""Project staff and partners' users: two roles, and the organisations a user acts for.

Revision ID: 0024_project_members
Revises: 0023_privacy
Create Date: 2026-12-07

`user_roles.role` admits `project_staff` (acts on the projects its organisation
leads: budget, expenses, money in, volunteer time; two-factor like the other
roles that move money) and `partner` (reads its organisation's own contributions
and costs). `project_organisation_members` says which organisations a user acts
for (`ledger.projects.getters.projects_visible_to`, `may_act_on_project`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_project_members"
down_revision = "0023_privacy"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('donor','proponent','reviewer','treasurer','foundation_officer','admin')"
NEW_ROLES = (
    "role IN ('donor','proponent','reviewer','treasurer','foundation_officer','admin',"
    "'project_staff','partner')"
)


def _roles(check: str) -> None:
    with op.batch_alter_table("user_roles", recreate="always") as batch:
        batch.drop_constraint("ck_user_roles_role", type_="check")
        batch.create_check_constraint("ck_user_roles_role", check)


def upgrade() -> None:
    _roles(NEW_ROLES)
    op.create_table(
        "project_organisation_members",
        sa.Column(
            "organisation_id",
            sa.Integer,
            sa.ForeignKey("project_organisations.id"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_project_organisation_members_user", "project_organisation_members", ["user_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_project_organisation_members_user", "project_organisation_members")
    op.drop_table("project_organisation_members")
    op.execute("DELETE FROM user_roles WHERE role IN ('project_staff','partner')")
    _roles(OLD_ROLES)
