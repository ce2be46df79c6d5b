"""The job runner's record: `job_runs`.

Revision ID: 0022_job_runs
Revises: 0021_projects
Create Date: 2026-12-07

One row per attempt of a periodic job (`ledger worker`): the job's name, when it
started and finished, its outcome (running, succeeded, failed, abandoned), the
attempt's number, the job's interval then (so /readyz can tell a stale job
without the worker's settings), its counts (JSON), the error's text (codes and
ids, never personal data) and which worker ran it. Rows are updated once, when
the run finishes; nothing else writes them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_job_runs"
down_revision = "0021_projects"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("interval_seconds", sa.Integer, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("worker", sa.String(80)),
        sa.CheckConstraint(
            "outcome IN ('running','succeeded','failed','abandoned')",
            name="ck_job_runs_outcome",
        ),
        sa.CheckConstraint("interval_seconds > 0", name="ck_job_runs_interval"),
    )
    op.create_index("ix_job_runs_job_started", "job_runs", ["job", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_job_runs_job_started", table_name="job_runs")
    op.drop_table("job_runs")
