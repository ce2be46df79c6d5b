"""The job_runs table (created by migration 0022_job_runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.core.models import Base, BigId, UtcDateTime

OUTCOMES = ("running", "succeeded", "failed", "abandoned")


class JobRun(Base):
    """One attempt of one job: started, finished, outcome, counts, the error's text.

    `interval_seconds` is the job's interval when it ran, so a reader (`stale_jobs`)
    needs no settings to tell that a job stopped running. `error` holds the error's
    type and text with e-mail addresses blanked, never personal data.
    """

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # Which worker ran it: the host and process id (no personal data).
    worker: Mapped[str | None] = mapped_column(String(80))
