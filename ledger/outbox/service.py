"""Queue messages in the caller's transaction; dispatch them after it commits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.core.privacy import refuse_personal_metadata
from ledger.core.uow import run_in_transaction
from ledger.outbox.models import OutboxMessage

MAX_ATTEMPTS = 10

Sender = Callable[[Session, OutboxMessage], None]


def enqueue(
    session: Session, kind: str, payload: Mapping[str, Any], *, now: datetime
) -> OutboxMessage:
    """Add a pending message to the caller's transaction."""
    data = dict(payload)
    refuse_personal_metadata(data)
    message = OutboxMessage(kind=kind, payload=data, created_at=now, attempts=0)
    session.add(message)
    session.flush()
    return message


def dispatch_pending(
    factory: Any, sender: Sender, clock: Clock, *, limit: int = 50
) -> tuple[int, int]:
    """Send pending messages one transaction each; return (sent, failed).

    Each message is claimed with its row locked (PostgreSQL `FOR UPDATE SKIP
    LOCKED`; SQLite serialises writers), so two dispatchers never send one
    message twice. A sender that raises leaves the message pending with its error;
    it is tried again by the next call, not by this one, so a mail server that is
    down costs each message one attempt per dispatch rather than all of them.
    """
    sent = failed = 0
    after = 0  # messages are visited in id order, each at most once per call
    for _ in range(limit):

        def one(session: Session, after: int = after) -> tuple[int, str] | None:
            message = session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.attempts < MAX_ATTEMPTS,
                    OutboxMessage.id > after,
                )
                .order_by(OutboxMessage.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if message is None:
                return None
            message.attempts += 1
            try:
                # A savepoint: whatever a failing sender wrote is undone, while the
                # attempt and its error are kept.
                with session.begin_nested():
                    sender(session, message)
            except Exception as exc:  # the message stays pending; the error is kept
                message.last_error = f"{type(exc).__name__}: {exc}"[:500]
                return message.id, "failed"
            message.sent_at = clock.now()
            message.last_error = None
            return message.id, "sent"

        outcome = run_in_transaction(factory, one)
        if outcome is None:
            break
        after, result = outcome
        if result == "sent":
            sent += 1
        else:
            failed += 1
    return sent, failed
