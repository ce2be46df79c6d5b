"""Maintained balances: reading them, locking them and changing them.

Each account has four non-negative totals in minor units: posted debits,
posted credits, pending debits and pending credits. In the account's normal
orientation (see `accounts.normal_sign`):

    posted    = normal posted balance
    pending   = pending amounts that would reduce it (money on hold going out)
    available = posted - pending

Writers lock the balance rows they touch in ascending account id order
(SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the
write lock), so two writers never deadlock on balances and never lose an update.

Each total only grows (a credit adds to the credits, it does not subtract from
the debits) and is stored as a BIGINT: a leg that would take one past
`MAX_MINOR` is refused with `BalanceOutOfRangeError` before anything is written,
so no total, balance or replayed sum of an account's postings can overflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, union_all, update
from sqlalchemy.orm import Session

from ledger.core.accounts import (
    AccountLike,
    AccountView,
    get_account,
    list_accounts,
    normal_sign,
)
from ledger.core.dbapi import DbapiStatement
from ledger.core.errors import BalanceOutOfRangeError, InsufficientFundsError
from ledger.core.models import Account, Balance, JournalEntry, Period, PeriodTotal, Posting
from ledger.core.money import MAX_MINOR
from ledger.core.pending import flush_pending, pending_nets
from ledger.core.storage import is_postgresql


@dataclass(slots=True)
class WorkingBalance:
    """A locked balance row being changed inside one unit of work."""

    account: AccountLike
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int
    version: int
    dirty: bool = False

    @classmethod
    def of(cls, account: AccountLike, row: Any) -> WorkingBalance:
        """From a `balances` row (ORM object or Core row with the same columns)."""
        return cls(
            account,
            row.posted_debits,
            row.posted_credits,
            row.pending_debits,
            row.pending_credits,
            row.version,
        )

    @property
    def posted(self) -> int:
        return normal_sign(self.account.type) * (self.posted_debits - self.posted_credits)

    @property
    def pending(self) -> int:
        if normal_sign(self.account.type) == 1:
            return self.pending_credits
        return self.pending_debits

    @property
    def available(self) -> int:
        return self.posted - self.pending

    def _within(self, total: int, what: str) -> int:
        if total > MAX_MINOR:
            raise BalanceOutOfRangeError(
                f"account {self.account.code}: its {what} would exceed {MAX_MINOR} minor "
                "units, more than the ledger can store; nothing was written",
                account=self.account.code,
                maximum=MAX_MINOR,
            )
        return total

    def post(self, amount: int) -> None:
        """Apply one posted leg (debit positive); refused past MAX_MINOR."""
        if amount > 0:
            self.posted_debits = self._within(self.posted_debits + amount, "posted debits")
        else:
            self.posted_credits = self._within(self.posted_credits - amount, "posted credits")
        self.version += 1
        self.dirty = True

    def hold(self, amount: int) -> None:
        """Add (amount != 0) or release (negative of the same) a pending leg; refused past
        MAX_MINOR."""
        if amount > 0:
            self.pending_debits = self._within(self.pending_debits + amount, "pending debits")
        else:
            self.pending_credits = self._within(self.pending_credits - amount, "pending credits")
        self.dirty = True

    def release(self, amount: int) -> None:
        if amount > 0:
            self.pending_debits -= amount
        else:
            self.pending_credits += amount
        self.dirty = True

    def check_overdraft(self, reference: str) -> None:
        if self.account.no_overdraft and self.available < 0:
            raise InsufficientFundsError(
                f"account {self.account.code} would have {self.available} minor units "
                "available; it may not go below zero",
                account=self.account.code,
                reference=reference,
            )


# What `WorkingBalance.of` reads of a balance row (also selected by the journal's locks).
BALANCE_COLUMNS = (
    Balance.account_id,
    Balance.posted_debits,
    Balance.posted_credits,
    Balance.pending_debits,
    Balance.pending_credits,
    Balance.version,
)


def lock_balances(session: Session, accounts: Sequence[AccountLike]) -> dict[int, WorkingBalance]:
    """Lock and load the balance rows of `accounts` in ascending id order."""
    flush_pending(session)
    by_id = {a.id: a for a in accounts}
    stmt = (
        select(*BALANCE_COLUMNS)
        .where(Balance.account_id.in_(sorted(by_id)))
        .order_by(Balance.account_id)
    )
    if is_postgresql(session):
        stmt = stmt.with_for_update()
    out: dict[int, WorkingBalance] = {}
    for row in session.connection().execute(stmt):
        out[row.account_id] = WorkingBalance.of(by_id[row.account_id], row)
    return out


_UPDATE = (
    update(Balance)
    .where(Balance.account_id == bindparam("b_account_id"))
    .values(
        posted_debits=bindparam("b_posted_debits"),
        posted_credits=bindparam("b_posted_credits"),
        pending_debits=bindparam("b_pending_debits"),
        pending_credits=bindparam("b_pending_credits"),
        version=bindparam("b_version"),
    )
)


_BALANCE_NAMES = ("posted_debits", "posted_credits", "pending_debits", "pending_credits", "version")
_UPDATE_SQLITE = DbapiStatement.update(
    Balance.__table__,  # type: ignore[arg-type]
    _BALANCE_NAMES,
    "account_id",
)


def store_balances(session: Session, balances: dict[int, WorkingBalance]) -> None:
    """Write the changed rows of `balances` (the caller holds their locks)."""
    store_balances_on(session.connection(), balances)


def store_balances_on(connection: Connection, balances: dict[int, WorkingBalance]) -> None:
    """`store_balances` on the session's connection, when the caller has it at hand."""
    if connection.dialect.name == "sqlite":
        _UPDATE_SQLITE.run(
            connection,
            [
                {
                    "account_id": b.account.id,
                    "posted_debits": b.posted_debits,
                    "posted_credits": b.posted_credits,
                    "pending_debits": b.pending_debits,
                    "pending_credits": b.pending_credits,
                    "version": b.version,
                }
                for b in balances.values()
                if b.dirty
            ],
        )
        return
    rows = [
        {
            "b_account_id": b.account.id,
            "b_posted_debits": b.posted_debits,
            "b_posted_credits": b.posted_credits,
            "b_pending_debits": b.pending_debits,
            "b_pending_credits": b.pending_credits,
            "b_version": b.version,
        }
        for b in balances.values()
        if b.dirty
    ]
    if rows:
        connection.execute(_UPDATE, rows)


@dataclass(frozen=True, slots=True)
class BalanceView:
    """A balance in the account's normal orientation, in minor units."""

    account: AccountView
    posted: int
    pending: int
    available: int
    as_of: date | None = None


def balance(session: Session, code: str, as_of: date | None = None) -> BalanceView:
    """Current balance from the maintained row, or a replay up to `as_of` (inclusive);
    either way with the unit's entries not written yet (`pending.pending_nets`)."""
    account = get_account(session, code)
    sign = normal_sign(account.type)
    unwritten = sign * pending_nets(session, as_of, account.id).get(account.id, 0)
    if as_of is None:
        row = session.execute(select(Balance).where(Balance.account_id == account.id)).scalar_one()
        wb = WorkingBalance.of(account, row)
        return BalanceView(account, wb.posted + unwritten, wb.pending, wb.available + unwritten)
    total = _nets_as_of(session, as_of, account.id).get(account.id, 0)
    posted = sign * total + unwritten
    return BalanceView(account, posted, 0, posted, as_of)


# Built once (a matched gift reads its pools with it; issue 14).
_AVAILABLE_BY_CODE = (
    select(
        Account.id,
        Account.code,
        Account.type,
        Balance.posted_debits,
        Balance.posted_credits,
        Balance.pending_debits,
        Balance.pending_credits,
    )
    .join(Balance, Balance.account_id == Account.id)
    .where(Account.code.in_(bindparam("b_codes", expanding=True)))
)


def available_by_code(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """The available balance of each account of `codes` that exists, in one statement of
    the maintained rows (unlocked), with the unit's entries not written yet."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    # On the connection: plain rows, no ORM entity (every account's balance row is
    # flushed with it when the account is opened).
    rows = session.connection().execute(_AVAILABLE_BY_CODE, {"b_codes": wanted}).all()
    unwritten = pending_nets(session)
    found: dict[str, int] = {}
    for row in rows:
        sign = normal_sign(row.type)
        posted = sign * (row.posted_debits - row.posted_credits + unwritten.get(row.id, 0))
        found[row.code] = posted - (row.pending_credits if sign == 1 else row.pending_debits)
    return found


def _nets_as_of(session: Session, as_of: date, account_id: int | None = None) -> dict[int, int]:
    """Net posted amount (debits minus credits) per account of the postings dated on or
    before `as_of`: the totals of the latest month closed by then (`period_totals`,
    which cannot change) plus the postings dated after that month, or every posting
    when no month had closed. One account's only, when `account_id` is given."""
    p, e, t = Posting.__table__.c, JournalEntry.__table__.c, PeriodTotal.__table__.c
    closed = session.execute(
        select(Period.period, Period.ends_on)
        .where(Period.ends_on <= as_of)
        .order_by(Period.ends_on.desc())
        .limit(1)
    ).first()
    dated = e.effective_on <= as_of
    if closed is not None:
        dated = dated & (e.effective_on > closed.ends_on)
    after = (
        select(p.account_id, p.amount_minor.label("net"))
        .select_from(Posting.__table__.join(JournalEntry.__table__, e.id == p.entry_id))
        .where(dated)
    )
    if account_id is not None:
        after = after.where(p.account_id == account_id)
    if closed is None:
        rows = after.subquery()
    else:
        totals = select(t.account_id, (t.debits - t.credits).label("net")).where(
            t.period == closed.period
        )
        if account_id is not None:
            totals = totals.where(t.account_id == account_id)
        rows = union_all(totals, after).subquery()
    return {
        account: int(net)
        for account, net in session.execute(
            select(rows.c.account_id, func.sum(rows.c.net)).group_by(rows.c.account_id)
        )
    }


@dataclass(frozen=True, slots=True)
class TrialBalanceLine:
    account: AccountView
    debit: int  # net debit balance (>= 0)
    credit: int  # net credit balance (>= 0)


def trial_balance(session: Session, as_of: date | None = None) -> list[TrialBalanceLine]:
    """Net posted balance of every account, split into debit and credit columns (the
    unit's entries not written yet included)."""
    accounts = list_accounts(session)
    if as_of is None:
        nets = {
            row.account_id: row.posted_debits - row.posted_credits
            for row in session.execute(
                select(Balance.account_id, Balance.posted_debits, Balance.posted_credits)
            )
        }
    else:
        nets = _nets_as_of(session, as_of)
    for account_id, net in pending_nets(session, as_of).items():  # the unit's, unwritten
        nets[account_id] = nets.get(account_id, 0) + net
    lines = []
    for account in accounts:
        net = nets.get(account.id, 0)
        lines.append(TrialBalanceLine(account, max(net, 0), max(-net, 0)))
    return lines


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    """The debit and credit column totals of a trial balance in one currency (minor units)."""

    currency: str
    debit: int
    credit: int

    @property
    def balanced(self) -> bool:
        """Whether debits equal credits, as double entry requires of every currency."""
        return self.debit == self.credit


def currency_totals(lines: Iterable[TrialBalanceLine]) -> list[CurrencyTotal]:
    """Per-currency debit and credit totals of trial-balance lines, in currency order.

    Amounts of different currencies are never added together; a currency with
    no line does not appear.
    """
    sums: dict[str, tuple[int, int]] = {}
    for line in lines:
        debit, credit = sums.get(line.account.currency, (0, 0))
        sums[line.account.currency] = (debit + line.debit, credit + line.credit)
    return [CurrencyTotal(cur, debit, credit) for cur, (debit, credit) in sorted(sums.items())]
