"""Journal entries: validation, idempotency, posting and reversal.

An entry has two or more postings, signed integer minor units with debits
positive, that sum to zero in each currency (I1). Posting one:

1. answers from the stored result when its idempotency key was seen with the
   same canonical request, or refuses with a conflict if the request differs (I4);
2. resolves accounts and refuses a posting whose currency is not its account's;
3. locks the balance rows in ascending account id order, applies the postings
   and refuses any no-overdraft account whose available balance would go below
   zero (I5);
4. locks the journal head (reading the period lock date with it), refuses a date
   in a closed period (I8), and writes the entry with the next gapless sequence
   number and its hash-chain link (I9).

All of it happens in the caller's unit of work, so a refusal leaves nothing (I10).
`post_entry` takes the lean path: accounts from the process cache, the
idempotency record read with the balance locks (steps 1 and 3 in one statement,
a refusal still decided before anything is written), and on PostgreSQL every row
of step 4 written by one statement just before COMMIT.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, bindparam, insert, literal, select, text
from sqlalchemy.orm import Session

from ledger.core.accounts import AccountLike, account_refs
from ledger.core.balances import (
    BALANCE_COLUMNS,
    WorkingBalance,
    store_balances,
    store_balances_on,
)
from ledger.core.chain import canonical_json, chain_hash, entry_canonical, request_hash
from ledger.core.clock import Clock, rome_today
from ledger.core.dbapi import DbapiStatement
from ledger.core.errors import (
    AccountNotFoundError,
    AlreadyReversedError,
    CurrencyMismatchError,
    EntryNotFoundError,
    IdempotencyConflictError,
    InvalidEntryError,
    UnbalancedEntryError,
)
from ledger.core.head import Head, advance_head, advance_head_on, lock_head_for_posting
from ledger.core.models import (
    Account,
    Balance,
    IdempotencyKey,
    JournalEntry,
    LedgerHead,
    Posting,
)
from ledger.core.money import Money
from ledger.core.pending import flush_pending
from ledger.core.periods import check_open
from ledger.core.privacy import check_actor, refuse_personal_metadata, refuse_personal_text
from ledger.core.storage import is_postgresql

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_NARRATION = 500


# --------------------------------------------------------------------------- specs
@dataclass(frozen=True, slots=True)
class PostingSpec:
    """One leg of a requested entry: an account code and a signed amount."""

    account: str
    amount: Money


def check_metadata(metadata: Mapping[str, Any]) -> str:
    """Serialise metadata canonically; only str keys and str/int/bool/None values."""
    if not isinstance(metadata, Mapping):
        raise InvalidEntryError("metadata must be an object")
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise InvalidEntryError("metadata keys are strings")
        if value is not None and not isinstance(value, str | int | bool):
            raise InvalidEntryError(
                f"metadata value of {key!r} must be a string, integer, boolean or null",
                key=key,
            )
    refuse_personal_metadata(metadata)
    return canonical_json(dict(metadata))


def check_key(key: str) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > 255:
        raise InvalidEntryError("an idempotency key of 1 to 255 characters is required")
    return key


def check_text(kind: str, narration: str) -> None:
    if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
        raise InvalidEntryError(
            f"kind {kind!r} must be lower-case letters, digits and '_' (e.g. 'donation')"
        )
    if not isinstance(narration, str) or len(narration) > MAX_NARRATION:
        raise InvalidEntryError(f"narration must be text of at most {MAX_NARRATION} characters")
    refuse_personal_text(narration, "narration")


@dataclass(frozen=True)
class EntrySpec:
    """A request to post one journal entry. Validated on construction (I1)."""

    idempotency_key: str
    kind: str
    postings: Sequence[PostingSpec]
    effective_on: date | None = None
    narration: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None

    def __post_init__(self) -> None:
        check_key(self.idempotency_key)
        check_text(self.kind, self.narration)
        check_actor(self.actor)
        if self.effective_on is not None and (
            not isinstance(self.effective_on, date) or isinstance(self.effective_on, datetime)
        ):
            raise InvalidEntryError("effective_on must be a date")
        object.__setattr__(self, "postings", tuple(self.postings))
        if len(self.postings) < 2:
            raise InvalidEntryError("an entry needs at least two postings")
        sums: dict[str, int] = defaultdict(int)
        for p in self.postings:
            if not isinstance(p, PostingSpec) or not isinstance(p.amount, Money):
                raise InvalidEntryError("postings are PostingSpec(account, Money)")
            if p.amount.is_zero():
                raise InvalidEntryError(f"posting to {p.account} has a zero amount")
            sums[p.amount.currency] += p.amount.minor
        unbalanced = {c: s for c, s in sums.items() if s != 0}
        if unbalanced:
            raise UnbalancedEntryError(
                "postings do not sum to zero in "
                + ", ".join(f"{c} (off by {s})" for c, s in sorted(unbalanced.items())),
                off_by={c: str(s) for c, s in unbalanced.items()},
            )
        object.__setattr__(self, "_metadata_json", check_metadata(self.metadata))

    @property
    def metadata_json(self) -> str:
        return str(object.__getattribute__(self, "_metadata_json"))

    def request(self) -> dict[str, Any]:
        """The canonical request compared for idempotency (as given, defaults unresolved)."""
        return {
            "op": "entry",
            "kind": self.kind,
            "effective_on": self.effective_on.isoformat() if self.effective_on else None,
            "narration": self.narration,
            "metadata": self.metadata_json,
            "postings": [[p.account, p.amount.currency, p.amount.minor] for p in self.postings],
        }


# --------------------------------------------------------------------------- views
@dataclass(frozen=True, slots=True)
class PostingView:
    leg: int
    account: str
    amount: Money


@dataclass(frozen=True, slots=True)
class EntryView:
    id: str
    sequence: int
    idempotency_key: str
    kind: str
    effective_on: date
    recorded_at: datetime
    actor: str | None
    narration: str
    metadata: dict[str, Any]
    reverses_entry_id: str | None
    hold_id: str | None
    hash: str
    postings: tuple[PostingView, ...]


@dataclass(frozen=True, slots=True)
class PostResult:
    """The entry and whether this call created it (False: an idempotent replay)."""

    entry: EntryView
    created: bool


def load_entries(session: Session, entry_ids: Sequence[str]) -> dict[str, EntryView]:
    if not entry_ids:
        return {}
    entries = session.scalars(select(JournalEntry).where(JournalEntry.id.in_(entry_ids))).all()
    legs: dict[str, list[PostingView]] = defaultdict(list)
    rows = session.execute(
        select(Posting.entry_id, Posting.leg, Posting.amount_minor, Posting.currency, Account.code)
        .join(Account, Account.id == Posting.account_id)
        .where(Posting.entry_id.in_(entry_ids))
        .order_by(Posting.entry_id, Posting.leg)
    )
    for r in rows:
        legs[r.entry_id].append(PostingView(r.leg, r.code, Money(r.amount_minor, r.currency)))
    return {
        e.id: EntryView(
            e.id,
            e.sequence,
            e.idempotency_key,
            e.kind,
            e.effective_on,
            e.recorded_at,
            e.actor,
            e.narration,
            json.loads(e.metadata_json),
            e.reverses_entry_id,
            e.hold_id,
            e.hash,
            tuple(legs[e.id]),
        )
        for e in entries
    }


def get_entry(
    session: Session, *, sequence: int | None = None, entry_id: str | None = None
) -> EntryView:
    stmt = select(JournalEntry.id)
    stmt = (
        stmt.where(JournalEntry.sequence == sequence)
        if sequence is not None
        else stmt.where(JournalEntry.id == entry_id)
    )
    found = session.scalar(stmt)
    if found is None:
        raise EntryNotFoundError(
            f"no entry {sequence if sequence is not None else entry_id}",
            sequence=sequence,
            id=entry_id,
        )
    return load_entries(session, [found])[found]


# --------------------------------------------------------------------------- idempotency
def lookup_keys(session: Session, keys: Sequence[str]) -> dict[str, IdempotencyKey]:
    """The stored records of `keys`; a pending intent of the unit under one of them is
    written first (`pending.flush_pending`), so the answer is the unit's own."""
    if not keys:
        return {}
    for key in set(keys):
        flush_pending(session, (), key)
    rows = session.scalars(select(IdempotencyKey).where(IdempotencyKey.key.in_(set(keys))))
    return {r.key: r for r in rows}


_STORED_KEYS = select(
    IdempotencyKey.key,
    IdempotencyKey.operation,
    IdempotencyKey.request_hash,
    IdempotencyKey.entry_id,
    IdempotencyKey.hold_id,
).where(IdempotencyKey.key.in_(bindparam("keys", expanding=True)))


def _stored_keys(session: Session, keys: Sequence[str]) -> dict[str, KeyRecord]:
    """`lookup_keys` through the Connection: the stored records, not ORM objects."""
    if not keys:
        return {}
    rows = session.connection().execute(_STORED_KEYS, {"keys": sorted(set(keys))})
    return {r.key: r for r in rows}


class KeyRecord(Protocol):
    """A stored idempotency key: an `IdempotencyKey` row or a Core row of its columns."""

    @property
    def key(self) -> str: ...
    @property
    def operation(self) -> str: ...
    @property
    def request_hash(self) -> str: ...
    @property
    def entry_id(self) -> str | None: ...
    @property
    def hold_id(self) -> str | None: ...


K = TypeVar("K", bound=KeyRecord)


def check_replay(row: K | None, operation: str, req_hash: str) -> K | None:
    """Return the stored row for an identical retry; raise on a conflicting one."""
    if row is None:
        return None
    if row.operation != operation or row.request_hash != req_hash:
        raise IdempotencyConflictError(
            f"idempotency key {row.key!r} was used for a different request; nothing was written",
            idempotency_key=row.key,
        )
    return row


def record_key(
    session: Session,
    key: str,
    operation: str,
    req_hash: str,
    *,
    created_at: datetime,
    entry_id: str | None = None,
    hold_id: str | None = None,
) -> None:
    """Register an idempotency key with its request hash and the result it produced."""
    session.connection().execute(
        _INSERT_KEYS,
        {
            "key": key,
            "operation": operation,
            "request_hash": req_hash,
            "entry_id": entry_id,
            "hold_id": hold_id,
            "created_at": created_at,
        },
    )


# --------------------------------------------------------------------------- writing
@dataclass
class PreparedEntry:
    """An entry ready to be written: accounts resolved, effective date fixed."""

    key: str
    req_hash: str
    operation: str
    kind: str
    effective_on: date
    narration: str
    metadata_json: str
    actor: str | None
    legs: list[tuple[AccountLike, int]]
    reverses_entry_id: str | None = None
    hold_id: str | None = None
    # Drawn when the entry is decided, so a deferred entry has its id before it is
    # written: domain rows keep it (`EntryRef.id`), and a savepoint that rolls back a
    # written intent writes it again under the same id.
    entry_id: str = field(default_factory=lambda: str(uuid.uuid4()))


# Plain Core statements on the tables: the hot path needs no ORM unit of work.
_INSERT_ENTRIES = insert(JournalEntry.__table__)  # type: ignore[arg-type]
_INSERT_POSTINGS = insert(Posting.__table__)  # type: ignore[arg-type]
_INSERT_KEYS = insert(IdempotencyKey.__table__)  # type: ignore[arg-type]
# SQLite: the same inserts straight through the DB-API cursor (see dbapi.py).
_ENTRY_NAMES = (
    "id",
    "sequence",
    "idempotency_key",
    "request_hash",
    "kind",
    "effective_on",
    "recorded_at",
    "actor",
    "narration",
    "metadata_json",
    "reverses_entry_id",
    "hold_id",
    "hash",
)
_KEY_NAMES = ("key", "operation", "request_hash", "entry_id", "hold_id", "created_at")
_INSERT_ENTRIES_SQLITE = DbapiStatement.insert(
    JournalEntry.__table__,  # type: ignore[arg-type]
    _ENTRY_NAMES,
)
_INSERT_POSTINGS_SQLITE = DbapiStatement.insert(
    Posting.__table__,  # type: ignore[arg-type]
    ("entry_id", "leg", "account_id", "currency", "amount_minor"),
)
_INSERT_KEYS_SQLITE = DbapiStatement.insert(
    IdempotencyKey.__table__,  # type: ignore[arg-type]
    _KEY_NAMES,
)

HeadRead = tuple[Head, date | None]


def write_entries(
    session: Session,
    prepared: Sequence[PreparedEntry],
    balances: dict[int, WorkingBalance],
    *,
    clock: Clock,
    head_read: HeadRead | None = None,
) -> list[EntryView]:
    """Apply and write prepared entries with locked `balances`; return the new entries.

    The caller has locked every balance the entries touch. This applies the
    postings, checks overdrafts after each entry, takes the journal head (unless
    the caller read it already, with its period lock date, in this transaction's
    write lock: `head_read`, SQLite only), checks periods and writes entries,
    postings, idempotency keys, balances and head.
    """
    for p in prepared:
        for account, amount in p.legs:
            balances[account.id].post(amount)
        for account, _amount in p.legs:
            balances[account.id].check_overdraft(p.key)

    head, lock_date = head_read if head_read is not None else lock_head_for_posting(session)
    for p in prepared:
        check_open(p.effective_on, lock_date)

    now = clock.now()
    recorded_at = max(now, head.last_recorded_at) if head.last_recorded_at else now
    sequence, previous = head.last_sequence, head.last_hash
    entry_rows: list[dict[str, Any]] = []
    posting_rows: list[dict[str, Any]] = []
    key_rows: list[dict[str, Any]] = []
    views: list[EntryView] = []
    for p in prepared:
        sequence += 1
        entry_id = p.entry_id
        legs = [(leg, a.id, a.currency, amount) for leg, (a, amount) in enumerate(p.legs)]
        canonical = entry_canonical(
            sequence=sequence,
            entry_id=entry_id,
            idempotency_key=p.key,
            request_hash=p.req_hash,
            kind=p.kind,
            effective_on=p.effective_on,
            recorded_at=recorded_at,
            actor=p.actor,
            narration=p.narration,
            metadata_json=p.metadata_json,
            reverses_entry_id=p.reverses_entry_id,
            hold_id=p.hold_id,
            postings=legs,
        )
        previous = chain_hash(previous, canonical)
        entry_rows.append(
            {
                "id": entry_id,
                "sequence": sequence,
                "idempotency_key": p.key,
                "request_hash": p.req_hash,
                "kind": p.kind,
                "effective_on": p.effective_on,
                "recorded_at": recorded_at,
                "actor": p.actor,
                "narration": p.narration,
                "metadata_json": p.metadata_json,
                "reverses_entry_id": p.reverses_entry_id,
                "hold_id": p.hold_id,
                "hash": previous,
            }
        )
        posting_rows.extend(
            {
                "entry_id": entry_id,
                "leg": leg,
                "account_id": account_id,
                "currency": cur,
                "amount_minor": amount,
            }
            for leg, account_id, cur, amount in legs
        )
        key_rows.append(
            {
                "key": p.key,
                "operation": p.operation,
                "request_hash": p.req_hash,
                "entry_id": entry_id,
                "hold_id": p.hold_id,
                "created_at": now,
            }
        )
        views.append(
            EntryView(
                entry_id,
                sequence,
                p.key,
                p.kind,
                p.effective_on,
                recorded_at,
                p.actor,
                p.narration,
                json.loads(p.metadata_json),
                p.reverses_entry_id,
                p.hold_id,
                previous,
                tuple(
                    PostingView(leg, a.code, Money(amount, a.currency))
                    for leg, (a, amount) in enumerate(p.legs)
                ),
            )
        )

    head = Head(sequence, previous, recorded_at)
    connection = session.connection()
    dialect = connection.dialect.name
    if entry_rows and dialect == "postgresql":
        _write_postgresql(session, entry_rows, posting_rows, key_rows, balances, head)
    elif dialect == "sqlite":
        _INSERT_ENTRIES_SQLITE.run(connection, entry_rows)
        _INSERT_POSTINGS_SQLITE.run(connection, posting_rows)
        _INSERT_KEYS_SQLITE.run(connection, key_rows)
        store_balances_on(connection, balances)
        advance_head_on(connection, head)
    else:
        if entry_rows:
            connection = session.connection()
            connection.execute(_INSERT_ENTRIES, entry_rows)
            connection.execute(_INSERT_POSTINGS, posting_rows)
        if key_rows:
            session.connection().execute(_INSERT_KEYS, key_rows)
        store_balances(session, balances)
        advance_head(session, head)
    session.flush()
    return views


def _columns(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


# PostgreSQL: the entries, their postings and keys, the balances and the head in one
# statement (one round trip whatever the batch size). Rows travel as arrays, so the
# text never changes and the server keeps it prepared. Foreign keys are checked at
# the end of the statement, so postings and keys may refer to the entries it inserts;
# the balance of each entry is still checked at COMMIT by the deferred trigger.
_ENTRY_COLUMNS = (
    ("id", "varchar"),
    ("sequence", "bigint"),
    ("idempotency_key", "varchar"),
    ("request_hash", "varchar"),
    ("kind", "varchar"),
    ("effective_on", "date"),
    ("recorded_at", "timestamptz"),
    ("actor", "varchar"),
    ("narration", "text"),
    ("metadata_json", "text"),
    ("reverses_entry_id", "varchar"),
    ("hold_id", "varchar"),
    ("hash", "varchar"),
)
_POSTING_COLUMNS = (
    ("entry_id", "varchar"),
    ("leg", "smallint"),
    ("account_id", "integer"),
    ("currency", "varchar"),
    ("amount_minor", "bigint"),
)
_KEY_COLUMNS = (
    ("key", "varchar"),
    ("operation", "varchar"),
    ("request_hash", "varchar"),
    ("entry_id", "varchar"),
    ("hold_id", "varchar"),
    ("created_at", "timestamptz"),
)
_BALANCE_COLUMNS = (
    ("account_id", "integer"),
    ("posted_debits", "bigint"),
    ("posted_credits", "bigint"),
    ("pending_debits", "bigint"),
    ("pending_credits", "bigint"),
    ("version", "bigint"),
)


def _insert_from_arrays(table: str, prefix: str, columns: Sequence[tuple[str, str]]) -> str:
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"CAST(:{prefix}_{name} AS {kind}[])" for name, kind in columns)
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"


_WRITE_POSTGRESQL = text(
    f"""
    WITH new_entries AS ({_insert_from_arrays("journal_entries", "e", _ENTRY_COLUMNS)}),
    new_postings AS ({_insert_from_arrays("postings", "p", _POSTING_COLUMNS)}),
    new_keys AS ({_insert_from_arrays("idempotency_keys", "k", _KEY_COLUMNS)}),
    new_balances AS (
        UPDATE balances SET posted_debits = b.posted_debits, posted_credits = b.posted_credits,
            pending_debits = b.pending_debits, pending_credits = b.pending_credits,
            version = b.version
        FROM unnest({", ".join(f"CAST(:b_{n} AS {k}[])" for n, k in _BALANCE_COLUMNS)})
            AS b({", ".join(n for n, _ in _BALANCE_COLUMNS)})
        WHERE balances.account_id = b.account_id
    )
    UPDATE ledger_heads SET last_sequence = :h_sequence, last_hash = :h_hash,
        last_recorded_at = :h_recorded_at
    WHERE id = 1
    """  # table and column names are the constants above; every value is bound
)


def _write_postgresql(
    session: Session,
    entry_rows: Sequence[Mapping[str, Any]],
    posting_rows: Sequence[Mapping[str, Any]],
    key_rows: Sequence[Mapping[str, Any]],
    balances: Mapping[int, WorkingBalance],
    head: Head,
) -> None:
    params: dict[str, Any] = {
        "h_sequence": head.last_sequence,
        "h_hash": head.last_hash,
        "h_recorded_at": head.last_recorded_at,
    }
    for prefix, rows, columns in (
        ("e", entry_rows, _ENTRY_COLUMNS),
        ("p", posting_rows, _POSTING_COLUMNS),
        ("k", key_rows, _KEY_COLUMNS),
    ):
        for name, values in _columns(rows, [n for n, _ in columns]).items():
            params[f"{prefix}_{name}"] = values
    dirty = [b for b in balances.values() if b.dirty]
    params["b_account_id"] = [b.account.id for b in dirty]
    for name, _ in _BALANCE_COLUMNS[1:]:
        params[f"b_{name}"] = [getattr(b, name) for b in dirty]
    session.connection().execute(_WRITE_POSTGRESQL, params)


def _prepare(
    specs: Sequence[tuple[EntrySpec, str]], clock: Clock, accounts: Mapping[str, AccountLike]
) -> list[PreparedEntry]:
    """Resolve accounts and dates of (spec, request hash) pairs."""
    today = rome_today(clock)
    out = []
    for spec, req_hash in specs:
        legs = []
        for p in spec.postings:
            account = accounts[p.account]
            if account.currency != p.amount.currency:
                raise CurrencyMismatchError(
                    f"account {account.code} is in {account.currency}, "
                    f"the posting is in {p.amount.currency}",
                    account=account.code,
                )
            legs.append((account, p.amount.minor))
        out.append(
            PreparedEntry(
                key=spec.idempotency_key,
                req_hash=req_hash,
                operation="entry",
                kind=spec.kind,
                effective_on=spec.effective_on or today,
                narration=spec.narration,
                metadata_json=spec.metadata_json,
                actor=spec.actor,
                legs=legs,
            )
        )
    return out


def post_entries(session: Session, specs: Sequence[EntrySpec], *, clock: Clock) -> list[PostResult]:
    """Post a batch of entries atomically (all or none), in order, in `session`.

    An identical retry of a key returns the stored entry with created=False; a
    key repeated inside the batch is answered the same way.
    """
    stored = _stored_keys(session, [s.idempotency_key for s in specs])
    fresh: list[tuple[int, EntrySpec, str]] = []
    first_in_batch: dict[str, tuple[str, int]] = {}  # key -> (request hash, index)
    replays: dict[int, str] = {}  # index -> stored entry id
    repeats: dict[int, int] = {}  # index -> index of the same request earlier in the batch
    for i, spec in enumerate(specs):
        req = request_hash(spec.request())
        replay = check_replay(stored.get(spec.idempotency_key), "entry", req)
        if replay is not None:
            assert replay.entry_id is not None
            replays[i] = replay.entry_id
            continue
        earlier = first_in_batch.get(spec.idempotency_key)
        if earlier is not None:
            if earlier[0] != req:
                raise IdempotencyConflictError(
                    f"idempotency key {spec.idempotency_key!r} appears twice in the batch "
                    "with different requests",
                    idempotency_key=spec.idempotency_key,
                )
            repeats[i] = earlier[1]
            continue
        first_in_batch[spec.idempotency_key] = (req, i)
        fresh.append((i, spec, req))

    created: dict[int, EntryView] = {}
    if fresh:
        codes = {p.account for _, s, _ in fresh for p in s.postings}
        accounts = account_refs(session, codes)
        prepared = _prepare([(s, req) for _, s, req in fresh], clock, accounts)
        # The keys were read above; the balances and the head are locked in one statement.
        balances, _none, head_read = lock_for_entry(session, None, list(accounts.values()))
        written = write_entries(session, prepared, balances, clock=clock, head_read=head_read)
        created = {i: view for (i, _, _), view in zip(fresh, written, strict=True)}

    stored_views = load_entries(session, list(replays.values()))
    results: list[PostResult] = []
    for i in range(len(specs)):
        if i in created:
            results.append(PostResult(created[i], True))
        elif i in repeats:
            results.append(PostResult(created[repeats[i]], False))
        else:
            results.append(PostResult(stored_views[replays[i]], False))
    return results


def lock_with_key(
    session: Session, key: str, accounts: Sequence[AccountLike]
) -> tuple[dict[int, WorkingBalance], KeyRecord | None]:
    """Lock the balance rows of `accounts` (ascending id) and read `key`'s record with them.

    One statement instead of two: the stored key, if any, comes back on every row.
    The unit's pending journal intents are written first only if one of them posts
    to these rows or uses `key` (`pending.flush_pending`): neither caller writes
    the journal.
    """
    by_id = {a.id: a for a in accounts}
    flush_pending(session, by_id, key)
    stmt = _lock_with_key_statement(len(by_id), for_update=is_postgresql(session))
    balances: dict[int, WorkingBalance] = {}
    stored: KeyRecord | None = None
    for row in session.connection().execute(stmt, _id_params(key, by_id)):
        balances[row.account_id] = WorkingBalance.of(by_id[row.account_id], row)
        if row.key is not None:
            stored = row
    return balances, stored


_LOCKED_ROW_COLUMNS = (
    *BALANCE_COLUMNS,
    IdempotencyKey.key,
    IdempotencyKey.operation,
    IdempotencyKey.request_hash,
    IdempotencyKey.entry_id,
    IdempotencyKey.hold_id,
)


# The account ids are bound one parameter each (id0, id1, ...), one statement per
# number of legs, not as an expanding IN: SQLAlchemy rewrites an expanding IN into
# the SQL text on every execution (`_process_parameters_for_postcompile`), which
# took about a tenth of an entry's time on SQLite (issue 14, cProfile of 2,000
# `Ledger.post`).
def _id_params(key: str | None, by_id: dict[int, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {f"id{i}": account_id for i, account_id in enumerate(sorted(by_id))}
    params["key"] = key
    return params


def _ids(n: int) -> list[Any]:
    return [bindparam(f"id{i}") for i in range(n)]


@functools.lru_cache(maxsize=32)
def _lock_with_key_statement(n: int, *, for_update: bool) -> Select[*tuple[Any, ...]]:
    # Cached with its FOR UPDATE too: a statement built again per call pays for its
    # cache key again (issue 14, a hold of a matched gift).
    stmt = (
        select(*_LOCKED_ROW_COLUMNS)
        .select_from(Balance)
        .outerjoin(IdempotencyKey, IdempotencyKey.key == bindparam("key"))
        .where(Balance.account_id.in_(_ids(n)))
        .order_by(Balance.account_id)
    )
    return stmt.with_for_update(of=Balance) if for_update else stmt


@functools.lru_cache(maxsize=32)
def _lock_with_key_and_head_statement(n: int) -> Select[*tuple[Any, ...]]:
    return (
        select(
            *_LOCKED_ROW_COLUMNS,
            LedgerHead.last_sequence,
            LedgerHead.last_hash,
            LedgerHead.last_recorded_at,
            LedgerHead.locked_through,
        )
        .select_from(Balance)
        .outerjoin(IdempotencyKey, IdempotencyKey.key == bindparam("key"))
        .join(LedgerHead, LedgerHead.id == literal(1))
        .where(Balance.account_id.in_(_ids(n)))
        .order_by(Balance.account_id)
    )


# PostgreSQL: the same read in one round trip. `b` locks the balance rows in ascending
# id; the head's row is locked by `h`'s FOR UPDATE, which only sees the head row once
# the qualification reading `b` to its end has run, so the head is locked after every
# balance row: the order of `head.py` (balances, then the head) holds within the one
# statement. The period lock date is read from the head row itself (written by a close
# under the head lock), so after waiting for a close this sees the close's date.
_LOCK_WITH_KEY_AND_HEAD_POSTGRESQL = text(
    """
    WITH b AS MATERIALIZED (
        SELECT account_id, posted_debits, posted_credits, pending_debits, pending_credits,
            version
        FROM balances WHERE account_id = ANY(CAST(:ids AS integer[]))
        ORDER BY account_id FOR UPDATE
    ), h AS (
        SELECT last_sequence, last_hash, last_recorded_at, locked_through FROM ledger_heads
        WHERE id = 1 AND (SELECT count(*) FROM b) >= 0
        FOR UPDATE
    )
    SELECT b.account_id, b.posted_debits, b.posted_credits, b.pending_debits,
        b.pending_credits, b.version, k.key, k.operation, k.request_hash, k.entry_id,
        k.hold_id, h.last_sequence, h.last_hash, h.last_recorded_at, h.locked_through
    FROM b CROSS JOIN h LEFT OUTER JOIN idempotency_keys AS k ON k.key = :key
    ORDER BY b.account_id
    """
).columns(
    last_recorded_at=LedgerHead.__table__.c.last_recorded_at.type,
    locked_through=LedgerHead.__table__.c.locked_through.type,
)


def lock_for_entry(
    session: Session, key: str | None, accounts: Sequence[AccountLike]
) -> tuple[dict[int, WorkingBalance], KeyRecord | None, HeadRead | None]:
    """`lock_with_key`, and the head and the period lock date, in one statement.

    SQLite's BEGIN IMMEDIATE gave this transaction the database's only write lock
    at its first statement, so the head read here cannot change before COMMIT.
    PostgreSQL locks the balance rows in ascending id, then the head (the lock
    order of `head.py`), in one round trip. A replay or conflict found here is
    answered before anything is written, as before; the head stays locked to the
    unit's end, as it would have been by the write. With `key` None no record
    is read (a batch reads its keys first).
    """
    flush_pending(session)
    connection = session.connection()
    by_id = {a.id: a for a in accounts}
    balances: dict[int, WorkingBalance] = {}
    stored: KeyRecord | None = None
    head_read: HeadRead | None = None
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            _LOCK_WITH_KEY_AND_HEAD_POSTGRESQL, {"key": key, "ids": sorted(by_id)}
        )
    else:
        rows = connection.execute(
            _lock_with_key_and_head_statement(len(by_id)), _id_params(key, by_id)
        )
    for row in rows:
        balances[row.account_id] = WorkingBalance.of(by_id[row.account_id], row)
        if row.key is not None:
            stored = row
        if head_read is None:
            head_read = (
                Head(row.last_sequence, row.last_hash, row.last_recorded_at),
                row.locked_through,
            )
    return balances, stored, head_read


def post_entry(session: Session, spec: EntrySpec, *, clock: Clock) -> PostResult:
    """Post one entry in `session` (see `post_entries`): the lean path of one entry.

    Accounts come from the process cache, the idempotency record is read with the
    balance locks and the period lock date with the head, so an entry costs one
    statement per table it writes plus two reads (one on SQLite, where the head is
    read with the balances).
    """
    req = request_hash(spec.request())
    key = spec.idempotency_key
    try:
        accounts = account_refs(session, {p.account for p in spec.postings})
        [prepared] = _prepare([(spec, req)], clock, accounts)
    except (AccountNotFoundError, CurrencyMismatchError):
        # As in post_entries, a key already used answers (or conflicts) first.
        replay = check_replay(lookup_keys(session, [key]).get(key), "entry", req)
        if replay is None:
            raise
        assert replay.entry_id is not None
        return PostResult(load_entries(session, [replay.entry_id])[replay.entry_id], False)
    balances, stored, head_read = lock_for_entry(session, key, [a for a, _ in prepared.legs])
    replay_row = check_replay(stored, "entry", req)
    if replay_row is not None:
        assert replay_row.entry_id is not None
        return PostResult(load_entries(session, [replay_row.entry_id])[replay_row.entry_id], False)
    [view] = write_entries(session, [prepared], balances, clock=clock, head_read=head_read)
    return PostResult(view, True)


def reverse_entry(
    session: Session,
    *,
    idempotency_key: str,
    clock: Clock,
    sequence: int | None = None,
    entry_id: str | None = None,
    narration: str | None = None,
    effective_on: date | None = None,
    actor: str | None = None,
) -> PostResult:
    """Post the exact opposite of an entry, at most once per entry (I3).

    The reversal is dated `effective_on` (default: today in Europe/Rome), never
    back into the original's date when that period has closed.
    """
    check_key(idempotency_key)
    check_actor(actor)
    original = get_entry(session, sequence=sequence, entry_id=entry_id)
    text = (
        narration
        if narration is not None
        else (f"Storno della registrazione n. {original.sequence}")
    )
    check_text("reversal", text)
    req = {
        "op": "reversal",
        "target": original.id,
        "narration": narration,
        "effective_on": effective_on.isoformat() if effective_on else None,
    }
    req_hash = request_hash(req)
    accounts = account_refs(session, {p.account for p in original.postings})
    # The key is read with the balance locks (and the head, in one statement).
    balances, stored, head_read = lock_for_entry(session, idempotency_key, list(accounts.values()))
    replay = check_replay(stored, "reversal", req_hash)
    if replay is not None:
        assert replay.entry_id is not None
        return PostResult(load_entries(session, [replay.entry_id])[replay.entry_id], False)
    if original.reverses_entry_id is not None:
        raise InvalidEntryError(
            f"entry {original.sequence} is itself a reversal; post a new entry instead",
            sequence=original.sequence,
        )
    # Checked after the locks, so a concurrent reversal that committed first is seen.
    existing = (
        session.connection()
        .execute(select(JournalEntry.sequence).where(JournalEntry.reverses_entry_id == original.id))
        .scalar()
    )
    if existing is not None:
        raise AlreadyReversedError(
            f"entry {original.sequence} was already reversed by entry {existing}",
            sequence=original.sequence,
            reversed_by=existing,
        )
    prepared = PreparedEntry(
        key=idempotency_key,
        req_hash=req_hash,
        operation="reversal",
        kind="reversal",
        effective_on=effective_on or rome_today(clock),
        narration=text,
        metadata_json=canonical_json({"reverses_sequence": original.sequence}),
        actor=actor,
        legs=[(accounts[p.account], -p.amount.minor) for p in original.postings],
        reverses_entry_id=original.id,
    )
    [view] = write_entries(session, [prepared], balances, clock=clock, head_read=head_read)
    return PostResult(view, True)
