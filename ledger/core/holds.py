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

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ledger.core.accounts import AccountView, account_refs
from ledger.core.balances import lock_balances, store_balances
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
    lock_with_key,
    lookup_keys,
    record_key,
    write_entries,
)
from ledger.core.models import Account, Hold, HoldResolution
from ledger.core.money import Money
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
    session.connection().execute(
        _INSERT_HOLDS,
        {
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
        },
    )
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


def _open_hold(session: Session, hold_id: str) -> tuple[Hold, AccountView, AccountView]:
    hold = session.get(Hold, hold_id)
    if hold is None:
        raise HoldNotFoundError(f"no hold {hold_id}", hold_id=hold_id)
    rows = session.scalars(
        select(Account).where(Account.id.in_([hold.debit_account_id, hold.credit_account_id]))
    ).all()
    by_id = {r.id: AccountView.of(r) for r in rows}
    return hold, by_id[hold.debit_account_id], by_id[hold.credit_account_id]


def _refuse_if_resolved(session: Session, hold: Hold) -> None:
    outcome = session.scalar(
        select(HoldResolution.outcome).where(HoldResolution.hold_id == hold.id)
    )
    if outcome is not None:
        raise HoldResolvedError(
            f"hold {hold.id} is already {outcome}", hold_id=hold.id, outcome=outcome
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
    """Post (in full or `amount` of it) or void an open hold."""
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
    replay = check_replay(
        lookup_keys(session, [idempotency_key]).get(idempotency_key), operation, req_hash
    )
    if replay is not None:
        return HoldResult(get_hold(session, hold_id), False)

    hold, debit, credit = _open_hold(session, hold_id)
    _refuse_if_resolved(session, hold)
    now = clock.now()
    if outcome == "posted":
        if hold.expires_at is not None and now >= hold.expires_at:
            raise HoldExpiredError(
                f"hold {hold.id} expired at {hold.expires_at.isoformat()}", hold_id=hold.id
            )
        posted = amount.minor if amount is not None else hold.amount_minor
        if amount is not None and amount.currency != hold.currency:
            raise CurrencyMismatchError("the amount is not in the hold's currency")
        if posted <= 0 or posted > hold.amount_minor:
            raise HoldAmountError(
                f"a hold of {hold.amount_minor} minor units can post between 1 and "
                f"{hold.amount_minor}",
                hold_id=hold.id,
            )
    else:
        posted = 0
    # A hold past its deadline has expired whether or not the sweep has run yet, so
    # voiding it records the truth; the label never depends on the sweep's timing.
    expired = hold.expires_at is not None and now >= hold.expires_at
    recorded_outcome = "expired" if outcome == "voided" and expired else outcome

    balances = lock_balances(session, [debit, credit])
    # Re-checked under the locks: a concurrent post or void that committed first wins.
    _refuse_if_resolved(session, hold)
    balances[debit.id].release(hold.amount_minor)
    balances[credit.id].release(-hold.amount_minor)

    entry_id: str | None = None
    if outcome == "posted":
        prepared = PreparedEntry(
            key=idempotency_key,
            req_hash=req_hash,
            operation=operation,
            kind=hold.kind,
            effective_on=effective_on or rome_today(clock),
            narration=narration if narration is not None else hold.narration,
            metadata_json=hold.metadata_json,
            actor=actor,
            legs=[(debit, posted), (credit, -posted)],
            hold_id=hold.id,
        )
        [view] = write_entries(session, [prepared], balances, clock=clock)
        entry_id = view.id
    else:
        store_balances(session, balances)
        record_key(session, idempotency_key, operation, req_hash, hold_id=hold.id, created_at=now)
    session.execute(
        insert(HoldResolution),
        [
            {
                "hold_id": hold.id,
                "outcome": recorded_outcome,
                "amount_minor": posted,
                "entry_id": entry_id,
                "resolved_at": now,
                "actor": actor,
            }
        ],
    )
    session.flush()
    return HoldResult(get_hold(session, hold_id), True)


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
