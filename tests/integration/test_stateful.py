"""Random sequences of ledger operations checked against an in-memory model.

A hypothesis state machine drives the engine through accounts, entries (some
overdrawing a no-overdraft account, some dated into a closed month), holds
(posted in full or in part, voided, expired by moving the clock), reversals
(including second attempts and reversals of reversals), idempotent retries
with identical and with changed payloads, and period closes. The model knows
what each call must do; after every step the database must agree with it on
every balance, the open holds, the recorded keys and the journal length, and
`verify()` must report no violation of I1-I10.

Each run of the machine gets a fresh database made by the conftest's
`make_database` (SQLite, and PostgreSQL when LEDGER_TEST_POSTGRES_URL is set).
The number of runs and steps comes from the hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from ledger.core.balances import balance
from ledger.core.clock import FixedClock, rome_today
from ledger.core.errors import (
    AccountExistsError,
    AccountNotFoundError,
    AlreadyReversedError,
    ClosedPeriodError,
    CurrencyMismatchError,
    HoldAmountError,
    HoldExpiredError,
    HoldResolvedError,
    IdempotencyConflictError,
    InsufficientFundsError,
    InvalidEntryError,
    InvalidPeriodError,
    LedgerError,
    UnbalancedEntryError,
)
from ledger.core.holds import HoldSpec
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.models import Account, Hold, HoldResolution, IdempotencyKey, LedgerHead
from ledger.core.money import Money
from ledger.core.service import Ledger
from tests.conftest import make_database

START = datetime(2026, 2, 10, 11, 0, tzinfo=UTC)
FIRST_DAY = date(2026, 1, 1)
LAST_INSTANT = datetime(2026, 12, 15, tzinfo=UTC)

# code: (type, currency, no_overdraft)
ACCOUNTS: dict[str, tuple[str, str, bool]] = {
    "assets:bank:eur": ("asset", "EUR", True),
    "income:donations:eur": ("income", "EUR", False),
    "assets:cash:eur": ("asset", "EUR", False),
    "liabilities:escrow:eur": ("liability", "EUR", True),
    "expense:grants:eur": ("expense", "EUR", False),
    "assets:bank:jpy": ("asset", "JPY", True),
    "income:donations:jpy": ("income", "JPY", False),
    "liabilities:loans:jpy": ("liability", "JPY", True),
}
AMOUNTS = st.integers(min_value=1, max_value=3000)


# --------------------------------------------------------------------------- the model


@dataclass
class ModelAccount:
    type: str
    currency: str
    no_overdraft: bool
    net: int = 0  # posted debits - posted credits
    pending_debits: int = 0
    pending_credits: int = 0

    @property
    def debit_normal(self) -> bool:
        return self.type in ("asset", "expense")

    def view(self) -> tuple[int, int, int]:
        """(posted, pending, available) in the account's normal orientation."""
        posted = self.net if self.debit_normal else -self.net
        pending = self.pending_credits if self.debit_normal else self.pending_debits
        return posted, pending, posted - pending


@dataclass
class ModelEntry:
    sequence: int
    id: str
    legs: list[tuple[str, int]]
    reverses: str | None = None
    reversed_by: int | None = None


@dataclass
class ModelHold:
    id: str
    debit: str
    credit: str
    amount: int
    currency: str
    expires_at: datetime | None
    status: str = "open"


@dataclass
class Request:
    """A successful request, kept so it can be replayed exactly."""

    operation: str  # entry, hold, post_hold, void_hold, reversal
    call: Callable[[], Any]
    result_id: str  # entry id for entry/reversal/post_hold, hold id for hold/void_hold


@dataclass
class Model:
    accounts: dict[str, ModelAccount] = field(default_factory=dict)
    entries: list[ModelEntry] = field(default_factory=list)
    holds: dict[str, ModelHold] = field(default_factory=dict)
    keys: dict[str, Request] = field(default_factory=dict)
    failed_keys: set[str] = field(default_factory=set)
    lock_date: date | None = None

    def codes(self, currency: str) -> list[str]:
        return sorted(c for c, a in self.accounts.items() if a.currency == currency)

    def currencies_with_two_accounts(self) -> list[str]:
        return sorted(c for c in ("EUR", "JPY") if len(self.codes(c)) >= 2)

    def apply(
        self,
        legs: list[tuple[str, int]],
        reserve: list[tuple[str, int]] | None = None,
        release: list[tuple[str, int]] | None = None,
    ) -> tuple[dict[str, ModelAccount], set[type[LedgerError]]]:
        """Accounts after posting `legs`, reserving and releasing pending legs, and the
        overdrafts that makes.

        A pending leg is (code, amount): positive is a pending debit, negative a
        pending credit; `release` takes back legs that `reserve` once added.
        """
        reserve, release = reserve or [], release or []
        touched = {c for c, _ in legs} | {c for c, _ in reserve} | {c for c, _ in release}
        changed = {c: ModelAccount(**vars(self.accounts[c])) for c in touched}
        for sign, pending in ((1, reserve), (-1, release)):
            for code, amount in pending:
                if amount > 0:
                    changed[code].pending_debits += sign * amount
                else:
                    changed[code].pending_credits += sign * -amount
        for code, amount in legs:
            changed[code].net += amount
        refusals: set[type[LedgerError]] = set()
        if any(a.no_overdraft and a.view()[2] < 0 for a in changed.values()):
            refusals.add(InsufficientFundsError)
        return changed, refusals

    def closed(self, on: date) -> bool:
        return self.lock_date is not None and on <= self.lock_date


# --------------------------------------------------------------------------- the machine


class LedgerMachine(RuleBasedStateMachine):
    """Drives one fresh database; `backend`, `templates` and `tmp_path` are set per test."""

    backend: ClassVar[str] = "sqlite"
    templates: ClassVar[dict[str, str]] = {}
    tmp_path: ClassVar[Path] = Path()

    def __init__(self) -> None:
        super().__init__()
        self._database: Iterator[str] = make_database(self.backend, self.templates, self.tmp_path)
        self.url = next(self._database)
        self.clock = FixedClock(START)
        self.ledger = Ledger.from_url(self.url, clock=self.clock)
        self.model = Model()
        self.counter = 0

    def teardown(self) -> None:
        self.ledger.engine.dispose()
        # Runs make_database's clean-up (drops the PostgreSQL database).
        self._database.close()
        if self.backend == "sqlite":
            path = Path(self.url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()

    # ----------------------------------------------------------------- helpers
    def today(self) -> date:
        return rome_today(self.clock)

    def new_key(self, data: st.DataObject) -> str:
        """A fresh key, or sometimes one whose earlier request was refused (it stays free)."""
        if self.model.failed_keys and data.draw(st.integers(0, 3), label="reuse") == 0:
            return data.draw(st.sampled_from(sorted(self.model.failed_keys)), label="key")
        self.counter += 1
        return f"k{self.counter}"

    def hold_ids(self) -> list[str]:
        """Hold ids in creation order: they are random UUIDs, so sorting them would make
        the same draws pick different holds from one run to the next."""
        return list(self.model.holds)

    def pick_hold(self, data: st.DataObject) -> ModelHold:
        """Mostly an open hold (to resolve it), sometimes any hold (to be refused)."""
        open_ids = [i for i in self.hold_ids() if self.model.holds[i].status == "open"]
        use_open = bool(open_ids) and data.draw(st.integers(0, 3), label="open") > 0
        pool = open_ids if use_open else self.hold_ids()
        return self.model.holds[data.draw(st.sampled_from(pool), label="hold")]

    def pick_entry(self, data: st.DataObject) -> ModelEntry:
        """Mostly an entry that can still be reversed, sometimes any entry."""
        fresh = [e for e in self.model.entries if e.reverses is None and e.reversed_by is None]
        use_fresh = bool(fresh) and data.draw(st.integers(0, 3), label="fresh") > 0
        pool = fresh if use_fresh else self.model.entries
        return data.draw(st.sampled_from(pool), label="target")

    def draw_date(self, data: st.DataObject) -> date:
        return data.draw(st.dates(FIRST_DAY, self.today()), label="effective_on")

    def expect(
        self, refusals: set[type[LedgerError]], key: str | None, call: Callable[[], Any]
    ) -> Any:
        """Run `call`; it must raise one of `refusals` if there are any, else succeed."""
        if refusals:
            with pytest.raises(tuple(refusals)):
                call()
            if key is not None:
                self.model.failed_keys.add(key)
            return None
        result = call()
        if key is not None:
            self.model.failed_keys.discard(key)
        return result

    def record_entry(
        self, entry: Any, legs: list[tuple[str, int]], reverses: str | None = None
    ) -> None:
        assert entry.sequence == len(self.model.entries) + 1
        assert [(p.account, p.amount.minor) for p in entry.postings] == legs
        self.model.entries.append(ModelEntry(entry.sequence, entry.id, legs, reverses))

    # ----------------------------------------------------------------- accounts
    @initialize()
    def open_the_first_two_accounts(self) -> None:
        for code in ("assets:bank:eur", "income:donations:eur"):
            self.create_account(code)

    @precondition(lambda self: len(self.model.accounts) < len(ACCOUNTS))
    @rule(data=st.data())
    def open_an_account(self, data: st.DataObject) -> None:
        code = data.draw(
            st.sampled_from([c for c in sorted(ACCOUNTS) if c not in self.model.accounts]),
            label="code",
        )
        self.create_account(code)

    def create_account(self, code: str) -> None:
        account_type, currency, no_overdraft = ACCOUNTS[code]
        view = self.ledger.create_account(
            code, account_type, currency=currency, no_overdraft=no_overdraft
        )
        assert (view.code, view.currency, view.no_overdraft) == (code, currency, no_overdraft)
        self.model.accounts[code] = ModelAccount(account_type, currency, no_overdraft)

    # ----------------------------------------------------------------- entries
    @precondition(lambda self: self.model.currencies_with_two_accounts())
    @rule(data=st.data())
    def post_entry(self, data: st.DataObject) -> None:
        currency = data.draw(st.sampled_from(self.model.currencies_with_two_accounts()))
        codes = data.draw(
            st.lists(
                st.sampled_from(self.model.codes(currency)), min_size=2, max_size=3, unique=True
            ),
            label="accounts",
        )
        # The last account pays for the others, so the entry balances by construction.
        debits = [data.draw(AMOUNTS, label="amount") for _ in codes[:-1]]
        self.post_legs(
            data, currency, [*zip(codes[:-1], debits, strict=True), (codes[-1], -sum(debits))]
        )

    @rule(data=st.data())
    def fund_a_no_overdraft_account(self, data: st.DataObject) -> None:
        # Money flowing in keeps the no-overdraft accounts spendable, so later
        # entries, holds and reversals succeed as well as fail.
        funded = [c for c, a in self.model.accounts.items() if a.no_overdraft]
        target = data.draw(st.sampled_from(sorted(funded)), label="account")
        account = self.model.accounts[target]
        sources = [
            c for c in self.model.codes(account.currency) if not self.model.accounts[c].no_overdraft
        ]
        if not sources:
            return
        source = data.draw(st.sampled_from(sources), label="source")
        amount = data.draw(AMOUNTS, label="amount")
        inflow = amount if account.debit_normal else -amount
        self.post_legs(data, account.currency, [(target, inflow), (source, -inflow)])

    def post_legs(self, data: st.DataObject, currency: str, legs: list[tuple[str, int]]) -> None:
        on = self.draw_date(data)
        key = self.new_key(data)
        spec = EntrySpec(
            key, "transfer", [PostingSpec(c, Money(m, currency)) for c, m in legs], effective_on=on
        )
        changed, refusals = self.model.apply(legs)
        if self.model.closed(on):
            refusals.add(ClosedPeriodError)
        result = self.expect(refusals, key, lambda: self.ledger.post(spec))
        if result is None:
            return
        assert result.created and result.entry.effective_on == on
        self.record_entry(result.entry, legs)
        self.model.accounts.update(changed)
        self.model.keys[key] = Request("entry", lambda: self.ledger.post(spec), result.entry.id)

    @rule(
        data=st.data(),
        fault=st.sampled_from(["currency", "unknown_account", "duplicate_account", "unbalanced"]),
    )
    def make_a_request_refused_before_any_write(self, data: st.DataObject, fault: str) -> None:
        created = sorted(self.model.accounts)
        first = data.draw(st.sampled_from(created), label="account")
        if fault == "duplicate_account":
            account_type, currency, _ = ACCOUNTS[first]
            self.expect(
                {AccountExistsError},
                None,
                lambda: self.ledger.create_account(first, account_type, currency=currency),
            )
            return
        if fault == "unbalanced":
            currency = self.model.accounts[first].currency
            debit = data.draw(AMOUNTS)
            credit = data.draw(AMOUNTS.filter(lambda c: c != debit))
            with pytest.raises(UnbalancedEntryError):
                EntrySpec(
                    "never-used",
                    "transfer",
                    [
                        PostingSpec(first, Money(debit, currency)),
                        PostingSpec(first, Money(-credit, currency)),
                    ],
                )
            return
        if fault == "currency":
            # USD is a real currency but no account holds it.
            legs = [
                (first, Money(100, "USD")),
                (
                    data.draw(st.sampled_from([c for c in created if c != first])),
                    Money(-100, "USD"),
                ),
            ]
            refusal: type[LedgerError] = CurrencyMismatchError
        else:
            missing = [c for c in ACCOUNTS if c not in self.model.accounts]
            currency = self.model.accounts[first].currency
            legs = [
                (first, Money(100, currency)),
                (
                    data.draw(st.sampled_from([*missing, "assets:never:opened"])),
                    Money(-100, currency),
                ),
            ]
            refusal = AccountNotFoundError
        key = self.new_key(data)
        spec = EntrySpec(
            key, "transfer", [PostingSpec(c, m) for c, m in legs], effective_on=self.today()
        )
        self.expect({refusal}, key, lambda: self.ledger.post(spec))

    # ----------------------------------------------------------------- idempotency
    @precondition(lambda self: self.model.keys)
    @rule(data=st.data())
    def retry_a_request_with_its_key(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model.keys)), label="key")
        request = self.model.keys[key]
        result = request.call()
        assert result.created is False
        if request.operation in ("entry", "reversal"):
            assert result.entry.id == request.result_id
        elif request.operation == "post_hold":
            assert result.hold.entry_id == request.result_id
            assert result.hold.status == "posted"
        else:
            assert result.hold.id == request.result_id
            if request.operation == "void_hold":
                assert result.hold.status == self.model.holds[result.hold.id].status

    @precondition(lambda self: self.model.keys and self.model.currencies_with_two_accounts())
    @rule(data=st.data(), as_=st.sampled_from(["entry", "hold", "post_hold", "reversal"]))
    def reuse_a_key_with_a_changed_request(self, data: st.DataObject, as_: str) -> None:
        key = data.draw(st.sampled_from(sorted(self.model.keys)), label="key")
        currency = data.draw(st.sampled_from(self.model.currencies_with_two_accounts()))
        a, b = data.draw(st.permutations(self.model.codes(currency)))[:2]
        one = Money(1, currency)

        # Kind or narration "conflict" is never used by a successful request, so each
        # of these differs from whatever the key was first used for.
        def call() -> Any:
            if as_ == "hold" or (as_ == "post_hold" and not self.model.holds):
                return self.ledger.hold(HoldSpec(key, "conflict", a, b, one))
            if as_ == "post_hold":
                hold_id = data.draw(st.sampled_from(self.hold_ids()), label="hold")
                return self.ledger.post_hold(hold_id, idempotency_key=key, narration="conflict")
            if as_ == "reversal" and self.model.entries:
                target = data.draw(st.sampled_from(self.model.entries), label="target")
                return self.ledger.reverse(
                    idempotency_key=key, sequence=target.sequence, narration="conflict"
                )
            spec = EntrySpec(
                key,
                "conflict",
                [PostingSpec(a, one), PostingSpec(b, -one)],
                effective_on=self.today(),
            )
            return self.ledger.post(spec)

        self.expect({IdempotencyConflictError}, None, call)

    # ----------------------------------------------------------------- holds
    @precondition(lambda self: self.model.currencies_with_two_accounts())
    @rule(data=st.data())
    def create_hold(self, data: st.DataObject) -> None:
        currency = data.draw(st.sampled_from(self.model.currencies_with_two_accounts()))
        debit, credit = data.draw(st.permutations(self.model.codes(currency)))[:2]
        amount = data.draw(AMOUNTS, label="amount")
        hours = data.draw(st.sampled_from([None, 1, 24, 72]), label="expires_in_hours")
        expires_at = None if hours is None else self.clock.now() + timedelta(hours=hours)
        key = self.new_key(data)
        spec = HoldSpec(key, "grant", debit, credit, Money(amount, currency), expires_at=expires_at)
        changed, refusals = self.model.apply([], reserve=[(debit, amount), (credit, -amount)])
        result = self.expect(refusals, key, lambda: self.ledger.hold(spec))
        if result is None:
            return
        assert result.created and result.hold.status == "open"
        self.model.accounts.update(changed)
        hold_id = result.hold.id
        self.model.holds[hold_id] = ModelHold(hold_id, debit, credit, amount, currency, expires_at)
        self.model.keys[key] = Request("hold", lambda: self.ledger.hold(spec), hold_id)

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data())
    def post_hold(self, data: st.DataObject) -> None:
        hold = self.pick_hold(data)
        # One past the hold's amount sometimes, to be refused.
        how = data.draw(st.sampled_from(["full", "full", "part", "part", "over"]))
        # "over" is one unit past the hold, to be refused.
        partial: int | None = None
        if how == "over":
            partial = hold.amount + 1
        elif how == "part":
            partial = data.draw(st.integers(1, hold.amount), label="amount")
        on = data.draw(
            st.one_of(st.none(), st.dates(FIRST_DAY, self.today())), label="effective_on"
        )
        key = self.new_key(data)
        amount = None if partial is None else Money(partial, hold.currency)
        posted = hold.amount if partial is None else partial
        release = [(hold.debit, hold.amount), (hold.credit, -hold.amount)]
        legs = [(hold.debit, posted), (hold.credit, -posted)]
        changed: dict[str, ModelAccount] = {}
        refusals: set[type[LedgerError]]
        if hold.status != "open":
            refusals = {HoldResolvedError}
        elif hold.expires_at is not None and self.clock.now() >= hold.expires_at:
            refusals = {HoldExpiredError}
        elif posted > hold.amount:
            refusals = {HoldAmountError}
        else:
            changed, refusals = self.model.apply(legs, release=release)
            if on is not None and self.model.closed(on):
                refusals.add(ClosedPeriodError)

        def call() -> Any:
            return self.ledger.post_hold(
                hold.id, idempotency_key=key, amount=amount, effective_on=on
            )

        result = self.expect(refusals, key, call)
        if result is None:
            return
        assert result.created and result.hold.status == "posted"
        assert result.hold.posted_amount == Money(posted, hold.currency)
        entry = self.ledger.entry(len(self.model.entries) + 1)
        assert entry.hold_id == hold.id and entry.id == result.hold.entry_id
        assert entry.effective_on == (on or self.today())
        self.record_entry(entry, legs)
        self.model.accounts.update(changed)
        hold.status = "posted"
        self.model.keys[key] = Request("post_hold", call, entry.id)

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data())
    def void_hold(self, data: st.DataObject) -> None:
        hold = self.pick_hold(data)
        key = self.new_key(data)
        changed: dict[str, ModelAccount] = {}
        if hold.status != "open":
            refusals: set[type[LedgerError]] = {HoldResolvedError}
        else:
            # Releasing a reservation only ever raises what is available.
            changed, refusals = self.model.apply(
                [], release=[(hold.debit, hold.amount), (hold.credit, -hold.amount)]
            )
            assert not refusals

        def call() -> Any:
            return self.ledger.void_hold(hold.id, idempotency_key=key)

        result = self.expect(refusals, key, call)
        if result is None:
            return
        # Past its deadline a hold has expired, swept or not: the void records that.
        past_deadline = hold.expires_at is not None and self.clock.now() >= hold.expires_at
        expected = "expired" if past_deadline else "voided"
        assert result.created and result.hold.status == expected
        self.model.accounts.update(changed)
        hold.status = expected
        self.model.keys[key] = Request("void_hold", call, hold.id)

    @precondition(
        lambda self: any(
            h.status == "open" and h.expires_at is not None for h in self.model.holds.values()
        )
    )
    @rule(data=st.data(), move=st.sampled_from(["stay", "earliest", "latest"]))
    def expire_holds_twice(self, data: st.DataObject, move: str) -> None:
        deadlines = [
            h.expires_at
            for h in self.model.holds.values()
            if h.status == "open" and h.expires_at is not None
        ]
        # Jumping to the earliest or the latest open deadline makes one hold, or
        # several at once, expire in most runs.
        if move != "stay":
            target = min(deadlines) if move == "earliest" else max(deadlines)
            self.clock.instant = max(self.clock.now(), target)
        now = self.clock.now()
        due = [
            h
            for h in self.model.holds.values()
            if h.status == "open" and h.expires_at is not None and h.expires_at <= now
        ]
        if due:
            # Past its deadline a hold cannot be posted, even before the sweep.
            hold = data.draw(st.sampled_from(due), label="due hold")
            key = self.new_key(data)
            self.expect(
                {HoldExpiredError}, key, lambda: self.ledger.post_hold(hold.id, idempotency_key=key)
            )
        assert set(self.ledger.expire_holds()) == {h.id for h in due}
        for hold in due:
            changed, _ = self.model.apply(
                [], release=[(hold.debit, hold.amount), (hold.credit, -hold.amount)]
            )
            self.model.accounts.update(changed)
            hold.status = "expired"
        assert self.ledger.expire_holds() == []

    # ----------------------------------------------------------------- time and periods
    @precondition(lambda self: self.clock.now() < LAST_INSTANT)
    # A few fixed steps rather than st.integers, which favours tiny moves: an hour
    # (holds expire), a day, a week, a month (periods can close).
    @rule(hours=st.sampled_from([1, 25, 24 * 7, 24 * 31]))
    def move_the_clock_forward(self, hours: int) -> None:
        self.clock.instant = min(self.clock.now() + timedelta(hours=hours), LAST_INSTANT)

    @rule(data=st.data())
    def close_a_month(self, data: st.DataObject) -> None:
        today = self.today()
        months = [f"2026-{m:02d}" for m in range(1, today.month + 1)]
        period = data.draw(st.sampled_from(months), label="period")
        month = int(period[5:])
        ends_on = (date(2026, month + 1, 1) if month < 12 else date(2027, 1, 1)) - timedelta(1)
        if ends_on >= today:
            self.expect({InvalidPeriodError}, None, lambda: self.ledger.close_period(period))
            return
        result = self.ledger.close_period(period)
        assert result.ends_on == ends_on
        if self.model.closed(ends_on):
            assert result.created is False
        else:
            assert result.created is True
            self.model.lock_date = ends_on

    # ----------------------------------------------------------------- reversals
    @precondition(lambda self: self.model.entries)
    @rule(data=st.data())
    def reverse_an_entry(self, data: st.DataObject) -> None:
        target = self.pick_entry(data)
        on = data.draw(
            st.one_of(st.none(), st.dates(FIRST_DAY, self.today())), label="effective_on"
        )
        key = self.new_key(data)
        legs = [(code, -amount) for code, amount in target.legs]
        changed: dict[str, ModelAccount] = {}
        if target.reverses is not None:
            refusals: set[type[LedgerError]] = {InvalidEntryError}
        elif target.reversed_by is not None:
            refusals = {AlreadyReversedError}
        else:
            changed, refusals = self.model.apply(legs)
            if on is not None and self.model.closed(on):
                refusals.add(ClosedPeriodError)

        def call() -> Any:
            return self.ledger.reverse(
                idempotency_key=key, sequence=target.sequence, effective_on=on
            )

        result = self.expect(refusals, key, call)
        if result is None:
            return
        assert result.created and result.entry.reverses_entry_id == target.id
        assert result.entry.effective_on == (on or self.today())
        self.record_entry(result.entry, legs, reverses=target.id)
        self.model.accounts.update(changed)
        target.reversed_by = result.entry.sequence
        self.model.keys[key] = Request("reversal", call, result.entry.id)

    # ----------------------------------------------------------------- after every step
    @invariant()
    def the_database_agrees_with_the_model(self) -> None:
        codes = sorted(self.model.accounts)

        def read(s):  # type: ignore[no-untyped-def]
            resolved = select(HoldResolution.hold_id)
            return {
                "accounts": sorted(s.scalars(select(Account.code))),
                "balances": {c: balance(s, c) for c in codes},
                "open_holds": set(s.scalars(select(Hold.id).where(Hold.id.not_in(resolved)))),
                "keys": set(s.scalars(select(IdempotencyKey.key))),
                "last_sequence": s.scalar(select(LedgerHead.last_sequence)),
            }

        db = self.ledger.run(read)
        assert db["accounts"] == codes
        for code in codes:
            view = db["balances"][code]
            assert (view.posted, view.pending, view.available) == (
                self.model.accounts[code].view()
            ), code
        assert db["open_holds"] == {h.id for h in self.model.holds.values() if h.status == "open"}
        assert db["keys"] == set(self.model.keys)
        assert db["last_sequence"] == len(self.model.entries)
        report = self.ledger.verify()
        assert report.ok, report.violations
        assert report.last_sequence == len(self.model.entries)


def test_random_operations_keep_the_database_equal_to_the_model(
    backend: str, _templates: dict[str, str], tmp_path: Path
) -> None:
    machine = type(
        f"LedgerMachine_{backend}",
        (LedgerMachine,),
        {"backend": backend, "templates": _templates, "tmp_path": tmp_path},
    )
    run_state_machine_as_test(machine)
