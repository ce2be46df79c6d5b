"""Holds: two-phase (pending) transfers, resolved exactly once (I6).

A hold reserves `amount` from a debit account to a credit account without
posting it: the debit account's pending debits and the credit account's
pending credits grow by the amount, which lowers the available balance of
whichever side it reduces (a no-overdraft account cannot be over-reserved).
A hold then ends exactly once (a unique index on the resolution's hold id):

- posted, in full or in part: an entry of the posted amount is written and the
  whole hold leaves pending, so the unposted rest is released;
- voided: nothing is posted, the hold leaves pending;
- expired: as voided, at its deadline; posting after the deadline is refused
  and voiding after it records the expiry, even if the expiry job has not run
  yet, so expiry is deterministic.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, literal, select, text
from sqlalchemy.orm import Session

from ledger.core.accounts import AccountRef, AccountView, account_refs
from ledger.core.balances import WorkingBalance, lock_balances, store_balances
from ledger.core.chain import request_hash
from ledger.core.clock import Clock, rome_today
from ledger.core.errors import (
    AccountNotFoundError,
    CurrencyMismatchError,
    HoldAmountError,
    HoldExpiredError,
    HoldNotFoundError,
    HoldResolvedError,
    InvalidEntryError,
)
from ledger.core.head import lock_head
from ledger.core.journal import (
    PreparedEntry,
    check_key,
    check_metadata,
    check_replay,
    check_text,
    load_entries,
    lock_for_entry,
    lock_with_key,
    lookup_keys,
    record_key,
    write_entries,
)
from ledger.core.models import Account, Hold, HoldResolution, IdempotencyKey
from ledger.core.money import Money
from ledger.core.pending import flush_pending
from ledger.core.privacy import check_actor


@dataclass(frozen=True)
class HoldSpec:
    """A request to reserve `amount` from `debit_account` to `credit_account`."""

    idempotency_key: str
    kind: str
    debit_account: str
    credit_account: str
    amount: Money
    expires_at: datetime | None = None
    narration: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None

    def __post_init__(self) -> None:
        check_key(self.idempotency_key)
        check_text(self.kind, self.narration)
        check_actor(self.actor)
        if not isinstance(self.amount, Money) or self.amount.minor <= 0:
            raise InvalidEntryError("a hold amount must be positive Money")
        if self.debit_account == self.credit_account:
            raise InvalidEntryError("a hold moves money between two different accounts")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise InvalidEntryError("expires_at must be timezone-aware")
        object.__setattr__(self, "_metadata_json", check_metadata(self.metadata))

    @property
    def metadata_json(self) -> str:
        return str(object.__getattribute__(self, "_metadata_json"))

    def request(self) -> dict[str, Any]:
        return {
            "op": "hold",
            "kind": self.kind,
            "debit": self.debit_account,
            "credit": self.credit_account,
            "currency": self.amount.currency,
            "amount": self.amount.minor,
            "narration": self.narration,
            "metadata": self.metadata_json,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True, slots=True)
class HoldView:
    id: str
    idempotency_key: str
    kind: str
    debit_account: str
    credit_account: str
    amount: Money
    created_at: datetime
    expires_at: datetime | None
    narration: str
    metadata: dict[str, Any]
    status: str  # open, posted, voided, expired
    posted_amount: Money | None
    entry_id: str | None


@dataclass(frozen=True, slots=True)
class HoldResult:
    hold: HoldView
    created: bool


def get_hold(session: Session, hold_id: str) -> HoldView:
    hold = session.get(Hold, hold_id)
    if hold is None:
        raise HoldNotFoundError(f"no hold {hold_id}", hold_id=hold_id)
    codes = {
        row.id: row.code
        for row in session.execute(
            select(Account.id, Account.code).where(
                Account.id.in_([hold.debit_account_id, hold.credit_account_id])
            )
        )
    }
    res = session.scalar(select(HoldResolution).where(HoldResolution.hold_id == hold_id))
    return HoldView(
        hold.id,
        hold.idempotency_key,
        hold.kind,
        codes[hold.debit_account_id],
        codes[hold.credit_account_id],
        Money(hold.amount_minor, hold.currency),
        hold.created_at,
        hold.expires_at,
        hold.narration,
        json.loads(hold.metadata_json),
        res.outcome if res else "open",
        Money(res.amount_minor, hold.currency) if res and res.outcome == "posted" else None,
        res.entry_id if res else None,
    )


def create_hold(session: Session, spec: HoldSpec, *, clock: Clock) -> HoldResult:
    """Reserve money; refused if a no-overdraft account's available would go below zero.

    The lean path of a hold: accounts from the process cache, the idempotency record
    read with the balance locks, the new hold answered without reading it back.
    """
    req_hash = request_hash(spec.request())
    key = spec.idempotency_key
    try:
        accounts = account_refs(session, {spec.debit_account, spec.credit_account})
        for account in accounts.values():
            if account.currency != spec.amount.currency:
                raise CurrencyMismatchError(
                    f"account {account.code} is in {account.currency}, "
                    f"the hold is in {spec.amount.currency}",
                    account=account.code,
                )
    except (AccountNotFoundError, CurrencyMismatchError):
        # A key already used answers (or conflicts) before anything else is checked.
        earlier = check_replay(lookup_keys(session, [key]).get(key), "hold", req_hash)
        if earlier is None:
            raise
        assert earlier.hold_id is not None
        return HoldResult(get_hold(session, earlier.hold_id), False)
    debit, credit = accounts[spec.debit_account], accounts[spec.credit_account]
    balances, stored = lock_with_key(session, key, [debit, credit])
    replay = check_replay(stored, "hold", req_hash)
    if replay is not None:
        assert replay.hold_id is not None
        return HoldResult(get_hold(session, replay.hold_id), False)
    now = clock.now()
    if spec.expires_at is not None and spec.expires_at <= now:
        raise InvalidEntryError("a hold cannot expire in the past")
    balances[debit.id].hold(spec.amount.minor)
    balances[credit.id].hold(-spec.amount.minor)
    for b in balances.values():
        b.check_overdraft(spec.idempotency_key)
    hold_id = str(uuid.uuid4())
    row = {
        "id": hold_id,
        "idempotency_key": spec.idempotency_key,
        "request_hash": req_hash,
        "kind": spec.kind,
        "debit_account_id": debit.id,
        "credit_account_id": credit.id,
        "currency": spec.amount.currency,
        "amount_minor": spec.amount.minor,
        "narration": spec.narration,
        "metadata_json": spec.metadata_json,
        "actor": spec.actor,
        "created_at": now,
        "expires_at": spec.expires_at,
    }
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _write_hold_postgresql(connection, row, balances)
    else:
        connection.execute(_INSERT_HOLDS, row)
        record_key(session, spec.idempotency_key, "hold", req_hash, hold_id=hold_id, created_at=now)
        store_balances(session, balances)
    view = HoldView(
        hold_id,
        spec.idempotency_key,
        spec.kind,
        debit.code,
        credit.code,
        spec.amount,
        now.astimezone(UTC),
        spec.expires_at.astimezone(UTC) if spec.expires_at is not None else None,
        spec.narration,
        json.loads(spec.metadata_json),
        "open",
        None,
        None,
    )
    return HoldResult(view, True)


_INSERT_HOLDS = insert(Hold.__table__)  # type: ignore[arg-type]

_HOLD_NAMES = tuple(c.name for c in Hold.__table__.columns)
# PostgreSQL: the hold, its key and both balance rows (locked by the caller) in one
# statement, one round trip instead of three, as the journal's `_WRITE_POSTGRESQL`
# writes an entry. The key's foreign key to the hold is checked at the statement's
# end, when the hold's row is there.
_WRITE_HOLD_POSTGRESQL = text(
    f"""
    WITH new_hold AS (
        INSERT INTO holds ({", ".join(_HOLD_NAMES)})
        VALUES ({", ".join(f":{n}" for n in _HOLD_NAMES)})
    ), new_key AS (
        INSERT INTO idempotency_keys (key, operation, request_hash, entry_id, hold_id,
            created_at)
        VALUES (:idempotency_key, 'hold', :request_hash, NULL, :id, :created_at)
    )
    UPDATE balances SET posted_debits = b.posted_debits, posted_credits = b.posted_credits,
        pending_debits = b.pending_debits, pending_credits = b.pending_credits,
        version = b.version
    FROM unnest(CAST(:b_account_id AS integer[]), CAST(:b_posted_debits AS bigint[]),
        CAST(:b_posted_credits AS bigint[]), CAST(:b_pending_debits AS bigint[]),
        CAST(:b_pending_credits AS bigint[]), CAST(:b_version AS bigint[]))
        AS b(account_id, posted_debits, posted_credits, pending_debits, pending_credits,
            version)
    WHERE balances.account_id = b.account_id
    """  # column names are the model's; every value is bound
).bindparams(
    bindparam("created_at", type_=Hold.__table__.c.created_at.type),
    bindparam("expires_at", type_=Hold.__table__.c.expires_at.type),
)


def _write_hold_postgresql(
    connection: Connection, row: dict[str, Any], balances: Mapping[int, WorkingBalance]
) -> None:
    dirty = [b for b in balances.values() if b.dirty]
    params = dict(row)
    params["b_account_id"] = [b.account.id for b in dirty]
    for name in ("posted_debits", "posted_credits", "pending_debits", "pending_credits"):
        params[f"b_{name}"] = [getattr(b, name) for b in dirty]
    params["b_version"] = [b.version for b in dirty]
    connection.execute(_WRITE_HOLD_POSTGRESQL, params)


_HOLDS = Hold.__table__
_RESOLUTIONS = HoldResolution.__table__
_KEYS = IdempotencyKey.__table__
_DEBIT = Account.__table__.alias("debit")
_CREDIT = Account.__table__.alias("credit")
_ONE = select(literal(1).label("one")).subquery("one")

# The key, the hold, its resolution and both accounts in one statement; the outer
# joins from a one-row table answer "no such hold" and a stored key alike.
_HOLD_WITH_KEY = select(
    _KEYS.c.key,
    _KEYS.c.operation,
    _KEYS.c.request_hash,
    _KEYS.c.entry_id,
    _KEYS.c.hold_id,
    _HOLDS.c.id.label("h_id"),
    _HOLDS.c.idempotency_key.label("h_key"),
    _HOLDS.c.kind.label("h_kind"),
    _HOLDS.c.currency.label("h_currency"),
    _HOLDS.c.amount_minor.label("h_amount"),
    _HOLDS.c.narration.label("h_narration"),
    _HOLDS.c.metadata_json.label("h_metadata"),
    _HOLDS.c.created_at.label("h_created_at"),
    _HOLDS.c.expires_at.label("h_expires_at"),
    _RESOLUTIONS.c.outcome.label("resolved"),
    *(c.label(f"d_{c.key}") for c in (_DEBIT.c.id, _DEBIT.c.code, _DEBIT.c.type)),
    *(c.label(f"d_{c.key}") for c in (_DEBIT.c.currency, _DEBIT.c.no_overdraft)),
    *(c.label(f"c_{c.key}") for c in (_CREDIT.c.id, _CREDIT.c.code, _CREDIT.c.type)),
    *(c.label(f"c_{c.key}") for c in (_CREDIT.c.currency, _CREDIT.c.no_overdraft)),
).select_from(
    _ONE.outerjoin(_HOLDS, _HOLDS.c.id == bindparam("hold_id"))
    .outerjoin(_KEYS, _KEYS.c.key == bindparam("key"))
    .outerjoin(_RESOLUTIONS, _RESOLUTIONS.c.hold_id == _HOLDS.c.id)
    .outerjoin(_DEBIT, _DEBIT.c.id == _HOLDS.c.debit_account_id)
    .outerjoin(_CREDIT, _CREDIT.c.id == _HOLDS.c.credit_account_id)
)
_RESOLVED = select(_RESOLUTIONS.c.outcome).where(_RESOLUTIONS.c.hold_id == bindparam("hold_id"))
_INSERT_RESOLUTIONS = insert(HoldResolution)


def _refuse_resolved(hold_id: str, outcome: str | None) -> None:
    if outcome is not None:
        raise HoldResolvedError(
            f"hold {hold_id} is already {outcome}", hold_id=hold_id, outcome=outcome
        )


def resolve_hold(
    session: Session,
    hold_id: str,
    *,
    outcome: str,
    idempotency_key: str,
    clock: Clock,
    amount: Money | None = None,
    effective_on: date | None = None,
    narration: str | None = None,
    actor: str | None = None,
) -> HoldResult:
    """Post (in full or `amount` of it) or void an open hold.

    The lean path: the key, the hold, its resolution and its accounts in one read;
    the balances (and, to post, the head) locked in one more; the resolution
    re-read after the locks on PostgreSQL, where a concurrent resolver may have
    committed meanwhile (SQLite's BEGIN IMMEDIATE already excludes one); the hold
    answered from what was written.
    """
    if outcome not in ("posted", "voided"):
        raise InvalidEntryError("a hold is resolved by posting or voiding it")
    check_key(idempotency_key)
    check_actor(actor)
    if narration is not None:
        check_text("hold", narration)
    req = {
        "op": outcome,
        "hold": hold_id,
        "amount": [amount.currency, amount.minor] if amount is not None else None,
        "effective_on": effective_on.isoformat() if effective_on else None,
        "narration": narration,
    }
    req_hash = request_hash(req)
    operation = "post_hold" if outcome == "posted" else "void_hold"
    # A pending entry of the unit under this key is written first, so the key's answer
    # is the unit's own; the locks below write the unit's other pending entries.
    flush_pending(session, (), idempotency_key)
    connection = session.connection()
    row = connection.execute(_HOLD_WITH_KEY, {"hold_id": hold_id, "key": idempotency_key}).one()
    replay = check_replay(row if row.key is not None else None, operation, req_hash)
    if replay is not None:
        return HoldResult(get_hold(session, hold_id), False)
    if row.h_id is None:
        raise HoldNotFoundError(f"no hold {hold_id}", hold_id=hold_id)
    _refuse_resolved(hold_id, row.resolved)
    debit = AccountRef(row.d_id, row.d_code, row.d_type, row.d_currency, row.d_no_overdraft)
    credit = AccountRef(row.c_id, row.c_code, row.c_type, row.c_currency, row.c_no_overdraft)
    expires_at: datetime | None = row.h_expires_at
    now = clock.now()
    if outcome == "posted":
        if expires_at is not None and now >= expires_at:
            raise HoldExpiredError(
                f"hold {hold_id} expired at {expires_at.isoformat()}", hold_id=hold_id
            )
        posted = amount.minor if amount is not None else row.h_amount
        if amount is not None and amount.currency != row.h_currency:
            raise CurrencyMismatchError("the amount is not in the hold's currency")
        if posted <= 0 or posted > row.h_amount:
            raise HoldAmountError(
                f"a hold of {row.h_amount} minor units can post between 1 and {row.h_amount}",
                hold_id=hold_id,
            )
    else:
        posted = 0
    # A hold past its deadline has expired whether or not the sweep has run yet, so
    # voiding it records the truth; the label never depends on the sweep's timing.
    expired = expires_at is not None and now >= expires_at
    recorded_outcome = "expired" if outcome == "voided" and expired else outcome

    postgresql = connection.dialect.name == "postgresql"
    head_read = None
    if outcome == "posted":
        balances, _stored, head_read = lock_for_entry(session, idempotency_key, [debit, credit])
    else:
        balances = lock_balances(session, [debit, credit])
    if postgresql:
        # Re-read after the locks: a concurrent post or void that committed first wins.
        _refuse_resolved(hold_id, connection.execute(_RESOLVED, {"hold_id": hold_id}).scalar())
    balances[debit.id].release(row.h_amount)
    balances[credit.id].release(-row.h_amount)

    entry_id: str | None = None
    if outcome == "posted":
        prepared = PreparedEntry(
            key=idempotency_key,
            req_hash=req_hash,
            operation=operation,
            kind=row.h_kind,
            effective_on=effective_on or rome_today(clock),
            narration=narration if narration is not None else row.h_narration,
            metadata_json=row.h_metadata,
            actor=actor,
            legs=[(debit, posted), (credit, -posted)],
            hold_id=hold_id,
        )
        [view] = write_entries(session, [prepared], balances, clock=clock, head_read=head_read)
        entry_id = view.id
    else:
        store_balances(session, balances)
        record_key(session, idempotency_key, operation, req_hash, hold_id=hold_id, created_at=now)
    connection.execute(
        _INSERT_RESOLUTIONS,
        {
            "hold_id": hold_id,
            "outcome": recorded_outcome,
            "amount_minor": posted,
            "entry_id": entry_id,
            "resolved_at": now,
            "actor": actor,
        },
    )
    session.flush()
    currency = row.h_currency
    view_of_hold = HoldView(
        hold_id,
        row.h_key,
        row.h_kind,
        debit.code,
        credit.code,
        Money(row.h_amount, currency),
        row.h_created_at,
        expires_at,
        row.h_narration,
        json.loads(row.h_metadata),
        recorded_outcome,
        Money(posted, currency) if recorded_outcome == "posted" else None,
        entry_id,
    )
    return HoldResult(view_of_hold, True)


def expire_holds(session: Session, *, clock: Clock, limit: int = 1000) -> list[str]:
    """Expire open holds whose deadline has passed; returns their ids.

    Running it twice, even at once, expires each hold once: the second run
    finds them resolved (or loses the race on the unique index and retries).
    """
    now = clock.now()
    resolved = select(HoldResolution.hold_id)
    due = session.scalars(
        select(Hold)
        .where(Hold.expires_at.is_not(None), Hold.expires_at <= now, Hold.id.not_in(resolved))
        .order_by(Hold.expires_at, Hold.id)
        .limit(limit)
    ).all()
    if not due:
        return []
    ids = {h.debit_account_id for h in due} | {h.credit_account_id for h in due}
    accounts = [
        AccountView.of(a) for a in session.scalars(select(Account).where(Account.id.in_(ids)))
    ]
    balances = lock_balances(session, accounts)
    # Under the locks, drop any hold that a concurrent call resolved meanwhile.
    done = set(
        session.scalars(
            select(HoldResolution.hold_id).where(HoldResolution.hold_id.in_([h.id for h in due]))
        )
    )
    expired = [h for h in due if h.id not in done]
    for h in expired:
        balances[h.debit_account_id].release(h.amount_minor)
        balances[h.credit_account_id].release(-h.amount_minor)
    if expired:
        lock_head(session)  # expiry is ordered with every other write
        session.execute(
            insert(HoldResolution),
            [
                {
                    "hold_id": h.id,
                    "outcome": "expired",
                    "amount_minor": 0,
                    "entry_id": None,
                    "resolved_at": now,
                    "actor": None,
                }
                for h in expired
            ],
        )
        store_balances(session, balances)
        session.flush()
    return [h.id for h in expired]


def open_holds(session: Session) -> list[HoldView]:
    resolved = select(HoldResolution.hold_id)
    ids = session.scalars(
        select(Hold.id).where(Hold.id.not_in(resolved)).order_by(Hold.created_at)
    ).all()
    return [get_hold(session, i) for i in ids]


__all__ = [
    "HoldResult",
    "HoldSpec",
    "HoldView",
    "create_hold",
    "expire_holds",
    "get_hold",
    "load_entries",
    "open_holds",
    "resolve_hold",
]
