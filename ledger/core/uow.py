"""Unit of work: one database transaction per service call, retried on contention.

A caller (a CLI command, a web request, a webhook) opens one unit of work; every
engine function it calls writes through the same session, and the unit commits
once at the end or rolls back entirely, so a rejected request leaves no trace
(I10). Deadlocks, serialization failures and a lost race on a unique key (two
requests with the same idempotency key) roll back and run the whole callable
again, a bounded number of times.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from ledger.core.errors import ConcurrencyError
from ledger.core.storage import READ_ONLY_OPTION

T = TypeVar("T")
log = logging.getLogger(__name__)

# Contention: serialization_failure, deadlock_detected, lock_not_available, and
# SQLite's busy lock. Retried up to the attempt limit, then ConcurrencyError.
_CONTENTION_SQLSTATES = {"40001", "40P01", "55P03"}
# A lost race on a unique index (PostgreSQL only: two requests with the same
# idempotency key). One retry finds the winner's row and answers from it; a
# violation that persists is a real conflict and is raised as it is.
_RACE_RETRIES = 2
DEFAULT_ATTEMPTS = 8
# A connection the server ended under the unit (a restart, an administrator, a crash;
# the pool drops it): the unit runs once more on a new connection, but only when it
# died before COMMIT was sent, so nothing of the first run can have been committed.
# A death during COMMIT leaves the outcome unknown and is raised; a command run again
# with the same request key answers as a repeat.
DEAD_CONNECTION_RETRIES = 1


def _classify(exc: DBAPIError) -> str | None:
    """'contention', 'race' or None (not worth retrying)."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in _CONTENTION_SQLSTATES:
        return "contention"
    if sqlstate == "23505":
        return "race"
    if isinstance(exc, OperationalError) and sqlstate is None:
        message = str(orig).lower()
        if "database is locked" in message or "database is busy" in message:
            return "contention"
    return None


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception."""
    session = factory()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def run_read_only(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Run `work(session)` in a read-only transaction that sees one snapshot.

    PostgreSQL: REPEATABLE READ, READ ONLY (a write raises). SQLite: a deferred
    BEGIN, which in WAL mode reads one snapshot without taking the write lock.
    """
    for retry in range(DEAD_CONNECTION_RETRIES + 1):
        session = factory()
        try:
            session.connection(execution_options={READ_ONLY_OPTION: True})
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            return work(session)
        except DBAPIError as exc:
            if not exc.connection_invalidated or retry == DEAD_CONNECTION_RETRIES:
                raise
            log.warning("a read's connection died under it; reading again on a new one")
        finally:
            session.rollback()
            session.close()
    raise AssertionError("unreachable")


def run_in_transaction(
    factory: sessionmaker[Session],
    work: Callable[[Session], T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
) -> T:
    """Run `work(session)` in its own transaction, retrying transient conflicts.

    `work` must have no effect outside the session: it may run more than once.
    """
    races = dead = 0
    for attempt in range(1, attempts + 1):
        committing = False
        try:
            with unit_of_work(factory) as session:
                result = work(session)
                session.flush()  # a dead connection here is still before COMMIT
                committing = True
            return result
        except DBAPIError as exc:
            kind = _classify(exc)
            if (
                exc.connection_invalidated
                and not committing
                and dead < DEAD_CONNECTION_RETRIES
                and attempt < attempts
            ):
                dead += 1
                kind = "a dead connection"
                log.warning("a unit's connection died under it; running it again on a new one")
            elif kind == "race" and races < _RACE_RETRIES and attempt < attempts:
                races += 1
            elif kind == "contention" and attempt < attempts:
                pass
            elif kind == "contention":
                raise ConcurrencyError(
                    "the database stayed contended; try again", attempts=attempts
                ) from exc
            else:
                raise
            log.debug("retrying after %s (attempt %d): %s", kind, attempt, exc.orig)
            time.sleep(random.uniform(0, 0.002 * 2**attempt))  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")


# --------------------------------------------------------------------- rows written by statements

_WRITTEN = "ledger.core.uow.written"


def set_as_written(session: Session, obj: object, values: Mapping[str, Any]) -> None:
    """Bring a loaded ORM object in line with what a Core statement just wrote to its row.

    The attributes take `values` as their committed state: nothing is dirty, nothing
    is flushed again. SQLAlchemy expires on a savepoint's rollback only the objects
    the ORM itself changed inside it, so these are remembered and expired (read
    again when next used) at any rollback of the unit, a savepoint's included:
    the statement's write may be among what was undone.
    """
    for name, value in values.items():
        set_committed_value(obj, name, value)
    written: list[tuple[object, tuple[str, ...]]] = session.info.setdefault(_WRITTEN, [])
    written.append((obj, tuple(values)))


@event.listens_for(Session, "after_soft_rollback")
def _expire_written(session: Session, _previous: Any) -> None:
    for obj, names in session.info.pop(_WRITTEN, []):
        if obj in session:
            session.expire(obj, list(names))


@event.listens_for(Session, "after_commit")
def _forget_written(session: Session) -> None:
    session.info.pop(_WRITTEN, None)
