"""The engine's service API: one unit of work per call.

Domain packages that must write a ledger entry together with their own rows in
one transaction call the functions of `ledger.core.journal`, `holds` and
`periods` with their own session instead; this facade is for callers whose
whole request is one engine operation (the CLI, the API, tests, scripts).

    ledger = Ledger.from_url("sqlite:///instance/ledger.sqlite3")
    ledger.create_account("assets:bank:intesa", "asset")
    ledger.post(EntrySpec(idempotency_key="k1", kind="donation", postings=[...]))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledger.core import accounts as _accounts
from ledger.core import balances as _balances
from ledger.core import holds as _holds
from ledger.core import journal as _journal
from ledger.core import periods as _periods
from ledger.core.clock import Clock, SystemClock
from ledger.core.errors import SecretKeyMissingError
from ledger.core.money import Money
from ledger.core.sealing import SecretBox
from ledger.core.storage import make_engine, make_session_factory
from ledger.core.uow import run_in_transaction, run_read_only
from ledger.core.verify import VerifyReport, verify

T = TypeVar("T")


class Ledger:
    """Engine operations, each in its own retried transaction.

    `secret_box` seals the secrets kept at rest (TOTP secrets) under the keys of
    LEDGER_TOTP_KEY; its maker (the web app factory, the CLI, the tests) reads
    the setting, and a Ledger without one refuses the acts that need it.
    """

    def __init__(
        self, engine: Engine, *, clock: Clock | None = None, secret_box: SecretBox | None = None
    ) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.clock: Clock = clock or SystemClock()
        self.secret_box = secret_box

    @classmethod
    def from_url(
        cls,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        secret_box: SecretBox | None = None,
    ) -> Ledger:
        return cls(make_engine(url), clock=clock, secret_box=secret_box)

    def require_secret_box(self) -> SecretBox:
        """The box of secrets at rest; SecretKeyMissingError when none was configured."""
        if self.secret_box is None:
            raise SecretKeyMissingError(
                "LEDGER_TOTP_KEY is not set: TOTP secrets cannot be sealed or opened."
            )
        return self.secret_box

    def run(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` as one unit of work (retried on transient conflicts)."""
        return run_in_transaction(self.sessions, work)

    def read(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` in a read-only transaction over one snapshot."""
        return run_read_only(self.sessions, work)

    # accounts -------------------------------------------------------------
    def create_account(
        self,
        code: str,
        account_type: str,
        *,
        currency: str = "EUR",
        no_overdraft: bool = False,
        name: str | None = None,
    ) -> _accounts.AccountView:
        return self.run(
            lambda s: _accounts.create_account(
                s,
                code,
                account_type,
                clock=self.clock,
                currency=currency,
                no_overdraft=no_overdraft,
                name=name,
            )
        )

    def accounts(self) -> list[_accounts.AccountView]:
        return self.read(_accounts.list_accounts)

    # journal --------------------------------------------------------------
    def post(self, spec: _journal.EntrySpec) -> _journal.PostResult:
        """Post one entry; an identical retry returns the original (created=False)."""
        return self.run(lambda s: _journal.post_entry(s, spec, clock=self.clock))

    def post_batch(self, specs: Sequence[_journal.EntrySpec]) -> list[_journal.PostResult]:
        """Post several entries in one transaction: all or none."""
        return self.run(lambda s: _journal.post_entries(s, specs, clock=self.clock))

    def reverse(
        self,
        *,
        idempotency_key: str,
        sequence: int | None = None,
        entry_id: str | None = None,
        narration: str | None = None,
        effective_on: date | None = None,
        actor: str | None = None,
    ) -> _journal.PostResult:
        return self.run(
            lambda s: _journal.reverse_entry(
                s,
                idempotency_key=idempotency_key,
                clock=self.clock,
                sequence=sequence,
                entry_id=entry_id,
                narration=narration,
                effective_on=effective_on,
                actor=actor,
            )
        )

    def entry(self, sequence: int) -> _journal.EntryView:
        return self.read(lambda s: _journal.get_entry(s, sequence=sequence))

    # holds ----------------------------------------------------------------
    def hold(self, spec: _holds.HoldSpec) -> _holds.HoldResult:
        return self.run(lambda s: _holds.create_hold(s, spec, clock=self.clock))

    def post_hold(
        self,
        hold_id: str,
        *,
        idempotency_key: str,
        amount: Money | None = None,
        effective_on: date | None = None,
        narration: str | None = None,
        actor: str | None = None,
    ) -> _holds.HoldResult:
        return self.run(
            lambda s: _holds.resolve_hold(
                s,
                hold_id,
                outcome="posted",
                idempotency_key=idempotency_key,
                clock=self.clock,
                amount=amount,
                effective_on=effective_on,
                narration=narration,
                actor=actor,
            )
        )

    def void_hold(
        self, hold_id: str, *, idempotency_key: str, actor: str | None = None
    ) -> _holds.HoldResult:
        return self.run(
            lambda s: _holds.resolve_hold(
                s,
                hold_id,
                outcome="voided",
                idempotency_key=idempotency_key,
                clock=self.clock,
                actor=actor,
            )
        )

    def expire_holds(self) -> list[str]:
        return self.run(lambda s: _holds.expire_holds(s, clock=self.clock))

    def get_hold(self, hold_id: str) -> _holds.HoldView:
        return self.read(lambda s: _holds.get_hold(s, hold_id))

    # periods and reads ----------------------------------------------------
    def close_period(self, period: str, *, actor: str | None = None) -> _periods.PeriodClose:
        return self.run(lambda s: _periods.close_period(s, period, clock=self.clock, actor=actor))

    def balance(self, code: str, as_of: date | None = None) -> _balances.BalanceView:
        return self.read(lambda s: _balances.balance(s, code, as_of))

    def trial_balance(self, as_of: date | None = None) -> list[_balances.TrialBalanceLine]:
        return self.read(lambda s: _balances.trial_balance(s, as_of))

    def verify(self, progress: Callable[[int], None] | None = None) -> VerifyReport:
        """Check I1-I10 over the whole book (read-only)."""
        return self.read(lambda s: verify(s, progress=progress))
