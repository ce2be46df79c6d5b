"""Accounts: a hierarchical code, a type, one currency and flags.

Sign convention: postings are signed, debit positive. Asset and expense
accounts are debit-normal (their balance is debits - credits); liability,
equity and income accounts are credit-normal (credits - debits). A
`no_overdraft` account's available balance (normal posted balance minus pending
amounts that would reduce it) may never go below zero (I5).
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.core.errors import AccountExistsError, AccountNotFoundError, InvalidAccountError
from ledger.core.models import ACCOUNT_TYPES, Account, Balance
from ledger.core.money import exponent

CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*(:[a-z0-9][a-z0-9_-]*)*$")
DEBIT_NORMAL = frozenset({"asset", "expense"})


def normal_sign(account_type: str) -> int:
    """+1 for debit-normal account types, -1 for credit-normal ones."""
    return 1 if account_type in DEBIT_NORMAL else -1


class AccountLike(Protocol):
    """What posting needs of an account: the parts that never change."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def no_overdraft(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class AccountRef:
    """An account as the posting path sees it: id, code, type, currency, no-overdraft flag.

    All five are immutable once the account exists (database triggers refuse any
    change, and accounts are never deleted), so they are safe to cache; the name
    is not part of it because it may change.
    """

    id: int
    code: str
    type: str
    currency: str
    no_overdraft: bool


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int
    code: str
    name: str | None
    type: str
    currency: str
    no_overdraft: bool
    created_at: datetime

    @classmethod
    def of(cls, row: Account) -> AccountView:
        return cls(
            row.id, row.code, row.name, row.type, row.currency, row.no_overdraft, row.created_at
        )


def validate_code(code: str) -> str:
    if not isinstance(code, str) or len(code) > 200 or not CODE_PATTERN.match(code):
        raise InvalidAccountError(
            f"account code {code!r} must be lower-case segments separated by ':' "
            "(letters, digits, '_' or '-'), at most 200 characters",
            code=code,
        )
    return code


def create_account(
    session: Session,
    code: str,
    account_type: str,
    *,
    clock: Clock,
    currency: str = "EUR",
    no_overdraft: bool = False,
    name: str | None = None,
) -> AccountView:
    """Open an account with a zero balance. A code is never reused."""
    validate_code(code)
    if account_type not in ACCOUNT_TYPES:
        raise InvalidAccountError(
            f"account type must be one of {', '.join(ACCOUNT_TYPES)}", type=account_type
        )
    exponent(currency)
    if name is not None and len(name) > 200:
        raise InvalidAccountError("account name is longer than 200 characters")
    if session.scalar(select(Account.id).where(Account.code == code)) is not None:
        raise AccountExistsError(f"account {code} already exists", code=code)
    row = Account(
        code=code,
        name=name,
        type=account_type,
        currency=currency,
        no_overdraft=no_overdraft,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    session.add(
        Balance(
            account_id=row.id,
            posted_debits=0,
            posted_credits=0,
            pending_debits=0,
            pending_credits=0,
            version=0,
        )
    )
    session.flush()
    return AccountView.of(row)


def get_account(session: Session, code: str) -> AccountView:
    row = session.scalar(select(Account).where(Account.code == code))
    if row is None:
        raise AccountNotFoundError(f"no account {code}", code=code)
    return AccountView.of(row)


def accounts_by_code(session: Session, codes: set[str]) -> dict[str, AccountView]:
    """Fetch accounts by code; raise naming the first code that does not exist."""
    rows = session.scalars(select(Account).where(Account.code.in_(codes))).all() if codes else []
    found = {row.code: AccountView.of(row) for row in rows}
    missing = sorted(codes - found.keys())
    if missing:
        raise AccountNotFoundError(f"no account {missing[0]}", code=missing[0])
    return found


def list_accounts(session: Session) -> list[AccountView]:
    return [AccountView.of(r) for r in session.scalars(select(Account).order_by(Account.code))]


# --------------------------------------------------------------------------- the cache
# Accounts by code, per engine (one database), for the process. An account read in a
# transaction joins the cache only once that transaction commits, so an account
# created in a transaction that rolls back is never cached; nothing else can make an
# entry stale (the database refuses changes to what is cached and deletions).
_CACHE: weakref.WeakKeyDictionary[Engine, dict[str, AccountRef]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()
_PENDING = "ledger.accounts.pending"
_REF_COLUMNS = (Account.id, Account.code, Account.type, Account.currency, Account.no_overdraft)


def _engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def account_refs(session: Session, codes: set[str]) -> dict[str, AccountRef]:
    """The immutable part of accounts by code, from the process cache when it has them.

    Raises AccountNotFoundError naming the first code that does not exist.
    """
    cache = _CACHE.get(_engine_of(session))
    pending: dict[str, AccountRef] = session.info.get(_PENDING, {})
    found: dict[str, AccountRef] = {}
    missing: list[str] = []
    for code in codes:
        ref = (cache.get(code) if cache is not None else None) or pending.get(code)
        if ref is None:
            missing.append(code)
        else:
            found[code] = ref
    if missing:
        rows = session.connection().execute(select(*_REF_COLUMNS).where(Account.code.in_(missing)))
        fresh = {r.code: AccountRef(r.id, r.code, r.type, r.currency, r.no_overdraft) for r in rows}
        absent = sorted(set(missing) - fresh.keys())
        if absent:
            raise AccountNotFoundError(f"no account {absent[0]}", code=absent[0])
        session.info.setdefault(_PENDING, {}).update(fresh)
        found.update(fresh)
    return found


@event.listens_for(Session, "after_commit")
def _promote(session: Session) -> None:
    # Fired for a savepoint's release too: only the outermost COMMIT makes rows durable.
    if session.get_nested_transaction() is not None:
        return
    pending = session.info.pop(_PENDING, None)
    if pending:
        engine = _engine_of(session)
        with _CACHE_LOCK:
            _CACHE.setdefault(engine, {}).update(pending)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, *_args: Any) -> None:
    # Any rollback, a savepoint's included, may undo an account read since: forget them all.
    session.info.pop(_PENDING, None)
