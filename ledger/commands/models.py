"""The command_requests table (created by migration 0007_command_requests).

One row per (command, scope, key) a caller sent: the hash of the request it
carried, and the subject and small result of the outcome, so a repeat can be
answered without doing the act again. The scope is the caller (`web:5`,
`api:5`, `cli`): two users' keys never collide.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger.core.models import Base, BigId, UtcDateTime


class CommandRequest(Base):
    __tablename__ = "command_requests"
    __table_args__ = (
        UniqueConstraint("action", "scope", "request_key", name="uq_command_requests_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(64))
    request_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
