"""The one idempotency rule for commands: a key per (command, caller), with its request's hash.

`begin` inserts the key's row before the act is done, in the act's own
transaction (INSERT ... ON CONFLICT DO NOTHING, which also reads the journal
head). A repeat finds the row: the same request hash answers the earlier
outcome, another hash is a conflict. Two concurrent requests with one key meet
on the row's unique index: on PostgreSQL the second waits until the first
commits, then finds its row and answers the replay; on SQLite the write lock
taken at BEGIN serialises them. A refused act rolls back with its row, so a key is
spent only by an act that was done.

The engine's own idempotency keys (I4) stay underneath as a second guard: a
use case derives them from the caller's scoped key, exactly as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ledger.audit.service import EVENT_CTE, INSERT_EVENT, Origin, event_cte_params, event_params
from ledger.commands.declare import Command
from ledger.commands.models import CommandRequest
from ledger.commands.outcome import Outcome
from ledger.core.clock import Clock
from ledger.core.errors import IdempotencyConflictError, InvalidEntryError
from ledger.core.intents import JournalIntent, pending, sequences
from ledger.core.models import LedgerHead

T = TypeVar("T")

MAX_KEY = 255  # the key column; each domain keeps its own, shorter limit for engine keys

# The journal's last sequence, read in the statement that claims a key.
_HEAD = select(LedgerHead.last_sequence).limit(1).scalar_subquery()
_REQUESTS = cast(Table, CommandRequest.__table__)
# The claim and the outcome are plain Core statements built once, run on the
# session's connection: no ORM row is loaded or kept for them, and building and
# routing them through the ORM cost a gift more than the server did (issue 14).
_CLAIM_VALUES: dict[str, Any] = {
    "action": bindparam("action"),
    "scope": bindparam("scope"),
    "request_key": bindparam("request_key"),
    "request_hash": bindparam("request_hash"),
    "created_at": bindparam("created_at"),
}
_CLAIM = {
    dialect: insert(_REQUESTS)
    .values(_CLAIM_VALUES)
    .on_conflict_do_nothing(index_elements=["action", "scope", "request_key"])
    .returning(_REQUESTS.c.id, _HEAD)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_REMEMBER = (
    update(_REQUESTS)
    .where(_REQUESTS.c.id == bindparam("row_id"))
    .values(subject_id=bindparam("subject_id"), result=bindparam("result"))
)
# PostgreSQL: the act's audit event written by the same statement (`Claim.done`).
_EVENT_AND_REMEMBER = _REMEMBER.add_cte(EVENT_CTE)


def _plain(value: Any) -> Any:
    """A request value as canonical JSON data; a float is refused (money is never float)."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        raise TypeError("a command's request may not hold a float")
    if isinstance(value, Decimal | date | datetime):
        return value.isoformat() if isinstance(value, date | datetime) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    raise TypeError(f"a command's request may not hold {type(value).__name__}")


def request_hash(request: Mapping[str, Any]) -> str:
    """SHA-256 of the request's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(_plain(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Earlier:
    """What an earlier request with this key did: its subject and small result."""

    subject_id: str | None
    result: Mapping[str, Any]

    @property
    def id(self) -> int:
        """The subject id as an integer (most subjects are rows with integer ids)."""
        if self.subject_id is None:
            raise ValueError("the earlier request recorded no subject")
        return int(self.subject_id)


class Claim(Generic[T]):
    """A use case under way: either a repeat (`earlier` set) or a first request."""

    def __init__(
        self,
        session: Session,
        command: Command,
        origin: Origin,
        clock: Clock,
        row_id: int | None,
        earlier: Earlier | None,
        head: int | None = None,
        unwritten: tuple[JournalIntent, ...] = (),
    ) -> None:
        self.session = session
        self.command = command
        self.origin = origin
        self.clock = clock
        self.row_id = row_id  # the key's `command_requests` row this request claimed
        self.earlier = earlier
        self.head = head  # the journal's last written sequence when the act began
        # Entries an earlier act of this unit deferred, not written when this one began:
        # they were there before it, and take their sequences (above `head`) later.
        self.unwritten = unwritten

    def existed(self, sequence: int | None) -> bool:
        """Whether the journal entry `sequence` was there before this act began.

        A key first sent before request keys were kept (or a key the domain
        already holds) is answered by the domain's own guard with the entry it
        wrote then: that is a repeat, not a new act. An entry is there before the act
        when it was written by then (at or below `head`) or deferred by an earlier
        act of the unit (`unwritten`, whatever sequence it was given since).
        """
        if sequence is None or self.head is None:
            return False
        return sequence <= self.head or any(
            intent.view is not None and intent.view.sequence == sequence
            for intent in self.unwritten
        )

    def existed_entry(self, entry_id: str | None) -> bool:
        """`existed` for an entry named by its id, as domain rows keep it now.

        One of the unit's intents still pending is this act's own (an earlier act's
        would be in `unwritten`); any other entry is read for its sequence.
        """
        if entry_id is None or self.head is None:
            return False
        if any(intent.prepared.entry_id == entry_id for intent in self.unwritten):
            return True
        if any(intent.prepared.entry_id == entry_id for intent in pending(self.session)):
            return False
        return self.existed(sequences(self.session, [entry_id]).get(entry_id))

    def replay(self, value: T) -> Outcome[T]:
        """Answer a repeat with the earlier outcome's value (nothing is written)."""
        if self.earlier is None:
            raise RuntimeError("replay() answers a repeat; this request is the first")
        return Outcome(value=value, created=False)

    def known(
        self,
        value: T,
        *,
        subject_id: int | str | None,
        result: Mapping[str, Any] | None = None,
    ) -> Outcome[T]:
        """A first request whose act the domain had already done under its own key:
        remember its outcome under this key, write no audit event, answer a repeat."""
        if self.earlier is not None:
            raise RuntimeError("known() ends a first request; a repeat is answered by replay()")
        self._remember(subject_id, result)
        return Outcome(value=value, created=False)

    def done(
        self,
        value: T,
        *,
        subject_id: int | str | None,
        details: Mapping[str, Any] | None = None,
        result: Mapping[str, Any] | None = None,
        user_id: int | None = None,
        subject_type: str | None = None,
    ) -> Outcome[T]:
        """Record the act's audit event and remember its outcome under the key.

        `user_id` names the event's user when the origin does not know it yet: a
        person who registers or signs in becomes known only during the act.
        `subject_type` overrides the declared one for a command about two kinds
        of subject (a Stripe sync looks at a gift or at a refund).
        """
        if self.earlier is not None:
            raise RuntimeError("done() ends a first request; a repeat is answered by replay()")
        event = event_params(
            self.origin,
            self.command.action,
            now=self.clock.now(),
            subject_type=subject_type or self.command.subject,
            subject_id=subject_id,
            details=details,
            user_id=user_id,
        )
        connection = self.session.connection()
        if self.row_id is not None and connection.dialect.name == "postgresql":
            # The event and the key's outcome in one round trip.
            connection.execute(
                _EVENT_AND_REMEMBER,
                {**event_cte_params(event), **self._outcome(subject_id, result)},
            )
        else:
            connection.execute(INSERT_EVENT, event)
            self._remember(subject_id, result)
        return Outcome(value=value, created=True)

    def _outcome(
        self, subject_id: int | str | None, result: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "row_id": self.row_id,
            "subject_id": None if subject_id is None else str(subject_id),
            "result": dict(_plain(result or {})),
        }

    def _remember(self, subject_id: int | str | None, result: Mapping[str, Any] | None) -> None:
        """Write the outcome on the key's row (one UPDATE; the row is not read back)."""
        if self.row_id is None:
            return
        self.session.connection().execute(_REMEMBER, self._outcome(subject_id, result))


def begin(
    session: Session,
    command: Command,
    origin: Origin,
    *,
    clock: Clock,
    key: str | None = None,
    request: Mapping[str, Any] | None = None,
) -> Claim[Any]:
    """Start `command` for `origin`; with a key, claim it or find its earlier request.

    Raises IdempotencyConflictError (nothing written) when the key was used by
    this caller for this command with another request.
    """
    if key is None:
        return Claim(session, command, origin, clock, None, None)
    if not key or len(key) > MAX_KEY:
        raise InvalidEntryError(
            f"a request key has 1 to {MAX_KEY} characters", field="idempotency_key"
        )
    hashed = request_hash(request or {})
    scope = origin.scope
    # The head read below does not count the entries an earlier act of this unit
    # deferred and are still to be written: the claim keeps them (`existed`), and they
    # stay pending, so a unit of many acts (a bank statement's run) writes its
    # journal once, at COMMIT, and takes the head there.
    unwritten = tuple(pending(session))
    # One statement claims the key and reads the journal head: the row is inserted
    # unless the key's row exists. On PostgreSQL a concurrent request with this key
    # waits here until the first commits (then finds its row and answers the replay)
    # or rolls back (then claims the key itself); SQLite's write lock, taken at
    # BEGIN, serialises them.
    connection = session.connection()
    claimed = connection.execute(
        _CLAIM[connection.dialect.name],
        {
            "action": command.action,
            "scope": scope,
            "request_key": key,
            "request_hash": hashed,
            "created_at": clock.now(),
        },
    ).first()
    if claimed is not None:
        return Claim(session, command, origin, clock, int(claimed[0]), None, claimed[1], unwritten)
    found = session.execute(
        select(CommandRequest.request_hash, CommandRequest.subject_id, CommandRequest.result).where(
            CommandRequest.action == command.action,
            CommandRequest.scope == scope,
            CommandRequest.request_key == key,
        )
    ).one()
    if found.request_hash != hashed:
        raise IdempotencyConflictError(
            f"idempotency key {key!r} was used for a different request; nothing was written",
            idempotency_key=key,
            action=command.action,
        )
    earlier = Earlier(subject_id=found.subject_id, result=dict(found.result or {}))
    return Claim(session, command, origin, clock, None, earlier)
