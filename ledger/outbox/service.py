"""Queue messages in the caller's transaction; dispatch them after it commits."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from ledger.core.clock import Clock
from ledger.core.privacy import refuse_personal_metadata
from ledger.core.uow import run_in_transaction
from ledger.outbox.models import OutboxMessage

MAX_ATTEMPTS = 10

CLAIM_SECONDS = 300
_ADDRESS = re.compile(r"[^\s@<>()\[\],;:'\"]+@[^\s@<>()\[\],;:'\"]+")

# Builds a message from the database inside the claiming transaction and returns
# its delivery, run after the commit (or None when there is nothing to deliver).
Sender = Callable[[Session, OutboxMessage], Callable[[], None] | None]


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


def _describe(exc: Exception) -> str:
    """The error kept on a message: its type and text, with e-mail addresses blanked
    (an SMTP refusal quotes the recipient, and the outbox holds no addresses)."""
    return _ADDRESS.sub("<address>", f"{type(exc).__name__}: {exc}")[:500]


def _settle(session: Session, *, message_id: int, error: Exception | None, clock: Clock) -> None:
    """Mark a delivered message sent, or keep the delivery's error on it."""
    message = session.get(OutboxMessage, message_id)
    assert message is not None
    message.claimed_until = None
    if error is None:
        message.sent_at = clock.now()
        message.last_error = None
    else:
        message.last_error = _describe(error)


def dispatch_pending(
    factory: sessionmaker[Session], sender: Sender, clock: Clock, *, limit: int = 50
) -> tuple[int, int]:
    """Send pending messages; return (sent, failed).

    For each message, a short transaction claims it (row locked with `FOR UPDATE
    SKIP LOCKED` on PostgreSQL; SQLite serialises writers), counts the attempt,
    leases it for `CLAIM_SECONDS` and lets `sender` build it from the database.
    `sender` returns the delivery (a function that talks to the outside world),
    which runs after that commit, outside any transaction: a slow mail server
    never holds a database lock. A second short transaction then marks the
    message sent or keeps its error. Another dispatcher skips a leased message,
    so two never send one message twice; a dispatcher that dies mid-send leaves
    the lease to run out and the message to be sent again (at least once).
    A message that fails is tried again by the next call, not by this one.
    """
    sent = failed = 0
    after = 0  # messages are visited in id order, each at most once per call
    for _ in range(limit):

        def claim(
            session: Session, after: int = after
        ) -> tuple[int, Callable[[], None] | None, bool] | None:
            now = clock.now()
            message = session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.attempts < MAX_ATTEMPTS,
                    OutboxMessage.id > after,
                    or_(
                        OutboxMessage.claimed_until.is_(None),
                        OutboxMessage.claimed_until < now,
                    ),
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
                    delivery = sender(session, message)
            except Exception as exc:  # the message stays pending; the error is kept
                message.last_error = _describe(exc)
                return message.id, None, False
            if delivery is None:
                message.sent_at = now
                message.last_error = None
            else:
                message.claimed_until = now + timedelta(seconds=CLAIM_SECONDS)
            return message.id, delivery, True

        claimed = run_in_transaction(factory, claim)
        if claimed is None:
            break
        after, delivery, ok = claimed
        if delivery is not None:
            error: Exception | None = None
            try:
                delivery()
            except Exception as exc:  # kept on the message; retried by a later call
                error = exc
            run_in_transaction(
                factory, partial(_settle, message_id=after, error=error, clock=clock)
            )
            ok = error is None
        if ok:
            sent += 1
        else:
            failed += 1
    return sent, failed
