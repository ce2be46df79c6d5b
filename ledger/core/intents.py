"""The engine writes last (issue 14, part 2; docs/journal-writes.md section 2): a first,
opt-in step.

`defer_entry` decides at the call everything a caller may want to catch (the spec's
validation, a replay or a conflict of its key, an overdraft of a no-overdraft
account, a closed period as of the call) and registers a **journal intent**; the
entry, its postings and key, the balances and the head are written by a hook just
before the unit's COMMIT, so the head and the shared (class D) balance rows are
held for the last statements only, not for the rest of the unit.

- **Class C rows** (accounts flagged `no_overdraft`) are locked at the call, in
  ascending id, and kept locked to COMMIT: the overdraft is decided there, against
  the rows as locked plus the unit's earlier intents.
- **Class D rows** (all others) are neither read nor locked at the call; at the
  flush they are locked in ascending id, then the head (one statement,
  `journal.lock_for_entry`), and everything is written as by `write_entries`,
  which checks the period under the head lock again and every range.
- A refusal found only at the flush (a month closed by a concurrent unit between
  the call and COMMIT, a total past `MAX_MINOR`, a key taken by a concurrent unit)
  is raised by the COMMIT and rolls the whole unit back (I10); a unit of work
  retries the last one as before (`uow.py`).
- Any other engine write or lock in the unit (`post_entry`, holds, balances)
  first flushes the pending intents (counted in `session.info[LOCK_FLUSHES]`),
  so the two paths never overwrite each other (a new hold, which writes no
  journal, only when an intent posts to one of its two rows or uses its key);
  so does `EntryRef.entry`, the
  `EntryView` with its sequence and hash (an "early flush", counted in
  `session.info[EARLY_FLUSHES]`). Either way the unit holds the head from then on.
- A savepoint rolled back drops the intents registered inside it and forgets the
  class C rows it locked (their locks went with it). Intents registered before it
  but written inside it (an engine lock in the savepoint flushed them) were undone
  by its rollback: they become pending again, to be written at COMMIT.

- **Steps before the journal** (`before_journal`): a domain write decided at its call
  but done just before the journal is written (at COMMIT, or at an earlier flush of
  the intents), because it locks a row every unit of its kind shares: a settled
  gift's receipt, numbered on its organisation's counter
  (`campaigns.receipts.issue_last`). The counter is then taken just before the
  head, in every unit in that order, and held for the last statements only. A read
  of what a step writes runs it first (`run_before_journal`); savepoints treat
  steps as they treat intents.

- A commit that bypasses the session while intents are pending
  (`session.connection().commit()`, which skips the before-commit hook, or a
  `COMMIT` statement) raises before the database commits (`JournalNotWrittenError`)
  and the unit is rolled back, instead of committing its domain rows without their
  entries. Each connection names the unit using it (`OWNER`, set when a session
  begins on it, dropped when it goes back to the pool); intents never outlive the
  unit's transaction, however it ends. Not caught: a commit on the raw DBAPI
  connection, and a unit left with a savepoint open when it commits (the hook
  waits for the savepoint, so the guard refuses that unit: an error, not a loss).

The settled gift's entry (`campaigns.donations._book`) is the first domain caller;
the other hot paths move to it one at a time (docs/journal-writes.md 2.3). Not
built yet: the shared period lock that would surface a concurrent close at the
call rather than at COMMIT.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, Pool, bindparam, event, select
from sqlalchemy.orm import Session, SessionTransaction

from ledger.core.accounts import AccountLike, account_refs
from ledger.core.balances import WorkingBalance
from ledger.core.chain import request_hash
from ledger.core.clock import Clock
from ledger.core.errors import IdempotencyConflictError, JournalNotWrittenError
from ledger.core.journal import (
    EntrySpec,
    EntryView,
    PreparedEntry,
    _prepare,
    check_replay,
    load_entries,
    lock_for_entry,
    lock_with_key,
    write_entries,
)
from ledger.core.models import IdempotencyKey, JournalEntry, LedgerHead
from ledger.core.pending import FLUSH_JOURNAL, INTENTS
from ledger.core.periods import check_open

CHECKED = "ledger.journal.checked_rows"
MARKS = "ledger.journal.intent_marks"
KEYS = "ledger.journal.intent_keys"  # (the intents' list, its length, key -> intent)
FAILED = "ledger.journal.write_failed"  # a write outside a savepoint raised: roll back
EARLY_FLUSHES = "ledger.journal.early_flushes"  # flushes asked by EntryRef.entry
LOCK_FLUSHES = "ledger.journal.lock_flushes"  # flushes asked by another engine lock
SERIAL = "ledger.journal.intent_serial"  # intents registered in the unit so far
FLUSHES = "ledger.journal.flushes"  # flushes in the unit so far
WRITTEN = "ledger.journal.written"  # intents written in the unit, with their flush
OWNER = "ledger.journal.owner"  # on a connection's info: the `session.info` of its unit
STEPS = "ledger.journal.steps"  # (key, step, serial): domain writes to run before the journal
RAN = "ledger.journal.steps_ran"  # (key, step, serial, ran at): steps run inside a savepoint


@dataclass
class JournalIntent:
    """An entry decided at its call, written just before COMMIT."""

    prepared: PreparedEntry
    clock: Clock
    view: EntryView | None = None
    serial: int = 0  # registration order in the unit (savepoint marks compare it)
    flush: int = 0  # the unit's flush that wrote it (0: not written)


@dataclass
class EntryRef:
    """What `defer_entry` returns: the entry's key and whether the call created it.

    `entry` is the written entry (sequence, hash, time); reading it before COMMIT
    writes the unit's pending intents at once (an early flush).
    """

    idempotency_key: str
    created: bool
    _session: Session | None = field(default=None, repr=False)
    _intent: JournalIntent | None = field(default=None, repr=False)
    _stored: EntryView | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        """The entry's id, known at the call: domain rows keep it, not the sequence."""
        if self._stored is not None:
            return self._stored.id
        assert self._intent is not None
        return self._intent.prepared.entry_id

    @property
    def entry(self) -> EntryView:
        if self._stored is not None:
            return self._stored
        assert self._intent is not None and self._session is not None
        if self._intent.view is None:
            self._session.info[EARLY_FLUSHES] = self._session.info.get(EARLY_FLUSHES, 0) + 1
            flush_journal(self._session)
        assert self._intent.view is not None, "the unit rolled back before its entry was written"
        return self._intent.view


_LOCK_DATE = select(LedgerHead.locked_through).where(LedgerHead.id == 1)
# The head row always exists: its lock date, and the stored key's record if any.
_KEY_AND_LOCK_DATE = (
    select(
        LedgerHead.locked_through,
        IdempotencyKey.key,
        IdempotencyKey.operation,
        IdempotencyKey.request_hash,
        IdempotencyKey.entry_id,
        IdempotencyKey.hold_id,
    )
    .select_from(LedgerHead)
    .outerjoin(IdempotencyKey, IdempotencyKey.key == bindparam("key"))
    .where(LedgerHead.id == 1)
)


def defer_entry(session: Session, spec: EntrySpec, *, clock: Clock) -> EntryRef:
    """Decide an entry now and write it just before the unit's COMMIT (see the module)."""
    # This call's own locks must not write the unit's earlier intents.
    session.info.pop(FLUSH_JOURNAL, None)
    try:
        return _defer(session, spec, clock)
    finally:
        if session.info.get(INTENTS):
            session.info[FLUSH_JOURNAL] = _flush_for_lock


def _defer(session: Session, spec: EntrySpec, clock: Clock) -> EntryRef:
    req = request_hash(spec.request())
    key = spec.idempotency_key
    intents: list[JournalIntent] = session.info.setdefault(INTENTS, [])
    by_key = _by_key(session, intents)
    earlier = by_key.get(key)
    if earlier is not None:
        if earlier.prepared.req_hash != req or earlier.prepared.operation != "entry":
            raise IdempotencyConflictError(
                f"idempotency key {key!r} was used in this unit for a different request; "
                "nothing was written",
                idempotency_key=key,
            )
        return EntryRef(key, False, session, earlier)
    accounts = account_refs(session, {p.account for p in spec.postings})
    [prepared] = _prepare([(spec, req)], clock, accounts)
    checked: dict[int, WorkingBalance] = session.info.setdefault(CHECKED, {})
    to_lock = [a for a in accounts.values() if a.no_overdraft and a.id not in checked]
    connection = session.connection()
    lock_date: date | None
    if to_lock:
        locked, stored = lock_with_key(session, key, to_lock)
        lock_date = connection.execute(_LOCK_DATE).scalar()
    else:
        # The stored key and the period lock date in one statement (one round trip).
        row = connection.execute(_KEY_AND_LOCK_DATE, {"key": key}).one()
        locked, stored, lock_date = {}, (row if row.key is not None else None), row.locked_through
    replay = check_replay(stored, "entry", req)
    if replay is not None:
        assert replay.entry_id is not None
        view = load_entries(session, [replay.entry_id])[replay.entry_id]
        checked.update(locked)
        return EntryRef(key, False, _stored=view)
    check_open(prepared.effective_on, lock_date)
    # The overdraft of this entry's checked rows, on copies: each row as locked, plus
    # every intent of the unit that posts to it, plus this entry. (An entry on no
    # checked row, most of a month's bank run, reads no earlier intent.)
    rows = {**checked, **locked}
    projected = {a.id: replace(rows[a.id]) for a, _amount in prepared.legs if a.id in rows}
    if projected:
        for legs in (*(i.prepared.legs for i in intents), prepared.legs):
            for account, amount in legs:
                if account.id in projected:
                    projected[account.id].post(amount)
        for balance in projected.values():
            balance.check_overdraft(key)
    checked.update(locked)
    serial = session.info.get(SERIAL, 0) + 1
    session.info[SERIAL] = serial
    intent = JournalIntent(prepared, clock, serial=serial)
    intents.append(intent)
    by_key[key] = intent
    session.info[KEYS] = (intents, len(intents), by_key)
    return EntryRef(key, True, session, intent)


def _by_key(session: Session, intents: list[JournalIntent]) -> dict[str, JournalIntent]:
    """The unit's pending intents by key, kept beside the list while `_defer` only
    appends to it; a list replaced (a flush, a savepoint's rollback) is indexed again."""
    index: tuple[list[JournalIntent], int, dict[str, JournalIntent]] | None = session.info.get(KEYS)
    if index is None or index[0] is not intents or index[1] != len(intents):
        index = (intents, len(intents), {i.prepared.key: i for i in intents})
        session.info[KEYS] = index
    return index[2]


Step = Callable[[Session], object]


def before_journal(session: Session, key: str, step: Step) -> None:
    """Run `step(session)` just before the unit's journal is written (at its COMMIT, or
    at an earlier flush of its intents), not now: a domain write that takes a row every
    unit of a kind shares (an organisation's receipt counter) then holds it for the
    last statements only, and always before the head, so units take the two in one
    order. Steps run in the order registered; `run_before_journal` runs one now (a
    read of what it writes). A step registered inside a savepoint rolled back is
    dropped; one registered before it and run inside it runs again later."""
    serial = session.info.get(SERIAL, 0) + 1
    session.info[SERIAL] = serial
    session.info.setdefault(STEPS, []).append((key, step, serial))


def pending_steps(session: Session) -> list[str]:
    """The keys of the unit's steps not run yet, in the order they will run."""
    return [s[0] for s in session.info.get(STEPS) or ()]


def run_before_journal(session: Session, key: str | None = None) -> None:
    """Run now the pending step registered under `key` (every pending step if None)."""
    steps: list[tuple[str, Step, int]] = session.info.get(STEPS) or []
    due = [s for s in steps if key is None or s[0] == key]
    if not due:
        return
    session.info[STEPS] = [s for s in steps if s not in due]
    for name, step, serial in due:
        if session.get_nested_transaction() is not None:
            # Its rollback would undo the step's write (see `_drop`).
            ran_at = session.info.get(SERIAL, 0) + 1
            session.info[SERIAL] = ran_at
            session.info.setdefault(RAN, []).append((name, step, serial, ran_at))
        step(session)


def flush_journal(session: Session) -> None:
    """Write the unit's pending intents now: class D rows, then the head, then the rest
    (the domain's steps registered with `before_journal` first)."""
    if session.info.get(FAILED):
        raise JournalNotWrittenError(
            "writing this unit's journal failed earlier in the unit: it must roll back; "
            "nothing of it was committed"
        )
    run_before_journal(session)
    session.info.pop(FLUSH_JOURNAL, None)
    intents: list[JournalIntent] = session.info.get(INTENTS, [])
    if not intents:
        return
    session.info[INTENTS] = []
    checked: dict[int, WorkingBalance] = session.info.setdefault(CHECKED, {})
    deferred: dict[int, AccountLike] = {}
    for intent in intents:
        for account, _amount in intent.prepared.legs:
            if account.id not in checked:
                deferred[account.id] = account
    flush = session.info.get(FLUSHES, 0) + 1
    session.info[FLUSHES] = flush
    try:
        locked, _none, head_read = lock_for_entry(session, None, list(deferred.values()))
        balances = {**checked, **locked}
        views = write_entries(
            session,
            [i.prepared for i in intents],
            balances,
            clock=intents[-1].clock,
            head_read=head_read,
        )
    except BaseException:
        _write_failed(session, intents, flush)
        raise
    for intent, view in zip(intents, views, strict=True):
        intent.view = view
        intent.flush = flush
    if session.get_nested_transaction() is not None:
        # Written inside a savepoint: its rollback would undo them (see `_drop`).
        session.info.setdefault(WRITTEN, []).extend(intents)
    # The rows stay locked to COMMIT; a later call reads them again (the immediate
    # path may change them meanwhile).
    session.info.pop(CHECKED, None)


def _write_failed(session: Session, intents: list[JournalIntent], flush: int) -> None:
    """The intents a failed write took are not lost with it.

    Inside a savepoint they count as written by a flush of it, so its rollback puts
    them back as pending (`_drop`), with the checked rows forgotten (the write may
    have moved their working balances). Outside one the unit cannot commit: they are
    pending again, and the unit's journal refuses to be written (`FAILED`), so a
    caller that catches the error and commits gets `JournalNotWrittenError`, not a
    unit without its entries.
    """
    for intent in intents:
        intent.flush = flush
    if session.get_nested_transaction() is not None:
        session.info.setdefault(WRITTEN, []).extend(intents)
        return
    session.info[INTENTS] = [*intents, *session.info.get(INTENTS, [])]
    session.info[FAILED] = True
    session.info.pop(CHECKED, None)


def _flush_for_lock(
    session: Session, touching: Collection[int] | None = None, key: str | None = None
) -> None:
    """`flush_journal` as `pending.flush_pending` calls it, before another engine lock.

    With `touching` (a lock that writes no journal: a new hold), only when a pending
    intent posts to one of those rows or uses `key`."""
    if touching is not None and not any(
        intent.prepared.key == key
        or any(account.id in touching for account, _ in intent.prepared.legs)
        for intent in pending(session)
    ):
        return
    session.info[LOCK_FLUSHES] = session.info.get(LOCK_FLUSHES, 0) + 1
    flush_journal(session)


def sequences(session: Session, entry_ids: Collection[str | None]) -> dict[str, int]:
    """The journal sequence of each entry id given that has one (`None` ids are skipped).

    An entry still pending in the unit gets its sequence only when written: asking
    for one writes the unit's intents at once (an early flush, counted), as reading
    `EntryRef.entry` does. Pages and answers that print an entry's number read it
    here, by the id the domain's row keeps.
    """
    ids = sorted({i for i in entry_ids if i is not None})
    if not ids:
        return {}
    asked = set(ids)
    if any(intent.prepared.entry_id in asked for intent in pending(session)):
        session.info[EARLY_FLUSHES] = session.info.get(EARLY_FLUSHES, 0) + 1
        flush_journal(session)
    found: dict[str, int] = {}
    connection = session.connection()
    for start in range(0, len(ids), 500):
        rows = connection.execute(
            select(JournalEntry.id, JournalEntry.sequence).where(
                JournalEntry.id.in_(ids[start : start + 500])
            )
        )
        found.update((entry_id, sequence) for entry_id, sequence in rows)
    return found


def pending(session: Session) -> Sequence[JournalIntent]:
    """The intents not written yet."""
    intents: list[JournalIntent] = session.info.get(INTENTS, [])
    return tuple(intents)


@event.listens_for(Session, "before_commit")
def _write_last(session: Session) -> None:
    # A savepoint's release is not the unit's COMMIT.
    if session.get_nested_transaction() is not None:
        return
    if session.info.get(INTENTS) or session.info.get(STEPS):
        session.flush()  # the domain's own rows first
        flush_journal(session)


@event.listens_for(Session, "after_transaction_create")
def _mark(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks: dict[int, tuple[int, int, int]] = session.info.setdefault(MARKS, {})
        marks[id(transaction)] = (
            session.info.get(SERIAL, 0),
            session.info.get(FLUSHES, 0),
            len(session.info.get(CHECKED, {})),
        )


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous: SessionTransaction) -> None:
    marks: dict[int, tuple[int, int, int]] = session.info.get(MARKS, {})
    mark = marks.pop(id(previous), None) if previous.nested else None
    if mark is None:
        if not previous.nested:
            _clear(session)
        return
    serial, flushes, checked_count = mark
    # Steps: those registered inside the savepoint are gone; those registered before it
    # and run inside it were undone by its rollback, so they are pending again.
    ran: list[tuple[str, Step, int, int]] = session.info.get(RAN, [])
    session.info[RAN] = [r for r in ran if r[3] <= serial]
    again = [(name, step, at) for name, step, at, ran_at in ran if ran_at > serial and at <= serial]
    steps: list[tuple[str, Step, int]] = session.info.get(STEPS, [])
    session.info[STEPS] = sorted(
        [*(s for s in steps if s[2] <= serial), *again], key=lambda s: s[2]
    )
    # Registered inside the savepoint: gone with it, written or not.
    kept = [i for i in session.info.get(INTENTS, []) if i.serial <= serial]
    # Registered before it but written inside it (an engine lock in the savepoint
    # flushed them): the rollback undid the write, so they are pending again.
    written: list[JournalIntent] = session.info.get(WRITTEN, [])
    undone = [i for i in written if i.flush > flushes]
    session.info[WRITTEN] = [i for i in written if i.flush <= flushes]
    for intent in undone:
        intent.view, intent.flush = None, 0
    intents = sorted([*kept, *(i for i in undone if i.serial <= serial)], key=lambda i: i.serial)
    session.info[INTENTS] = intents
    if intents:
        session.info[FLUSH_JOURNAL] = _flush_for_lock
    checked: dict[int, WorkingBalance] = session.info.get(CHECKED, {})
    if session.info.get(FLUSHES, 0) > flushes:
        # A flush inside the savepoint forgot the rows locked before it: forget them
        # all, so the next call locks and reads them again (the unit holds them).
        checked.clear()
        return
    for account_id in list(checked)[checked_count:]:
        del checked[account_id]  # locked inside the savepoint: its locks are gone


@event.listens_for(Session, "after_commit")
def _done(session: Session) -> None:
    if session.get_nested_transaction() is None:
        _clear(session)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    # However the unit ended (a close without a rollback too), its intents end with it.
    if transaction.parent is None and not transaction.nested:
        _clear(session)


@event.listens_for(Session, "after_begin")
def _own(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    connection.info[OWNER] = session.info


@event.listens_for(Pool, "checkin")
def _disown(_dbapi_connection: Any, record: Any) -> None:
    # `Connection.info` is the pooled connection's and outlives the checkout: a unit
    # that ended is no longer the owner of whoever checks the connection out next.
    if record is not None:
        record.info.pop(OWNER, None)


def pending_on(connection: Connection) -> Sequence[JournalIntent]:
    """The intents not written yet of the unit using `connection` (none if no unit)."""
    owner: dict[str, Any] | None = connection.info.get(OWNER)
    return tuple(owner.get(INTENTS, ())) if owner is not None else ()


def _left_on(connection: Connection) -> list[str]:
    """What the unit using `connection` has still to write at its COMMIT: the keys of
    its intents and of its steps."""
    owner: dict[str, Any] | None = connection.info.get(OWNER)
    if owner is None:
        return []
    return [i.prepared.key for i in owner.get(INTENTS, ())] + [s[0] for s in owner.get(STEPS, ())]


@event.listens_for(Engine, "commit")
def _guard(connection: Connection) -> None:
    """Refuse a COMMIT that would leave the unit's intents unwritten (it bypassed the
    session's before-commit hook): the unit is rolled back instead."""
    left = _left_on(connection)
    if left:
        # SQLAlchemy takes the transaction for ended either way and hands the connection
        # back without a reset: end it here, so nothing of the unit is kept.
        try:
            connection.connection.rollback()
        except BaseException:
            connection.invalidate()  # closed: the server rolls the unit back
            raise
        raise _not_written(left, "committed around its session")


@event.listens_for(Engine, "before_cursor_execute")
def _guard_statement(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    """The same guard against a COMMIT sent as a statement (no commit event fires)."""
    if statement[:8].lstrip().upper().startswith(("COMMIT", "END")):
        left = _left_on(connection)
        if left:
            raise _not_written(left, "sent a COMMIT statement; it was not sent")


def _not_written(left: Sequence[str], how: str) -> JournalNotWrittenError:
    return JournalNotWrittenError(
        f"this unit's journal entries and the writes kept for just before them "
        f"({', '.join(left)}) are not written yet: the unit {how}; nothing of it was "
        "committed"
    )


def _clear(session: Session) -> None:
    for name in (
        INTENTS,
        CHECKED,
        MARKS,
        FLUSH_JOURNAL,
        SERIAL,
        FLUSHES,
        WRITTEN,
        STEPS,
        RAN,
        FAILED,
        KEYS,
    ):
        session.info.pop(name, None)
