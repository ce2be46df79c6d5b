"""Real parallel connections against PostgreSQL: no lost update, no double effect.

Every test starts its threads together on a barrier; each call opens its own
pooled connection through the shared `Ledger`, so the database sees truly
concurrent transactions contending for the same balance rows, journal head,
idempotency keys, reversals and holds. Row locks, deferred triggers and
deadlock detection are PostgreSQL mechanisms, so these tests need it (SQLite
serialises every writer with BEGIN IMMEDIATE and has nothing to race).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.core.errors import (
    AlreadyReversedError,
    ClosedPeriodError,
    ConcurrencyError,
    HoldResolvedError,
    InsufficientFundsError,
)
from ledger.core.holds import HoldSpec
from ledger.core.journal import EntrySpec, PostingSpec, post_entry
from ledger.core.money import Money
from ledger.core.periods import close_period
from ledger.core.service import Ledger
from ledger.core.storage import make_session_factory
from ledger.core.uow import run_in_transaction

pytestmark = pytest.mark.postgres_only

WORKERS = 8
# Generous bounds: a healthy run takes a few seconds; these only stop a hang.
BARRIER_TIMEOUT = 15
RESULT_TIMEOUT = 60


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def in_parallel(n: int, work: Callable[[int], Any]) -> list[Outcome]:
    """Run work(0..n-1) in n threads released together; collect results and errors."""
    barrier = threading.Barrier(n, timeout=BARRIER_TIMEOUT)

    def call(i: int) -> Outcome:
        barrier.wait()
        try:
            return Outcome(value=work(i))
        except Exception as exc:  # every failure is collected and judged by the test
            return Outcome(error=exc)

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(call, i) for i in range(n)]
        return [f.result(timeout=RESULT_TIMEOUT) for f in futures]


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


def transfer(key: str, source: str, target: str, minor: int) -> EntrySpec:
    return EntrySpec(
        key,
        "transfer",
        [
            PostingSpec(target, eur(minor)),
            PostingSpec(source, eur(-minor)),
        ],
    )


def scalar(ledger: Ledger, sql: str, **params: Any) -> Any:
    with ledger.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def replayed_posted(ledger: Ledger, code: str) -> int:
    """An asset account's posted balance recomputed from its postings alone."""
    return int(
        scalar(
            ledger,
            "SELECT coalesce(sum(p.amount_minor), 0) FROM postings p "
            "JOIN accounts a ON a.id = p.account_id WHERE a.code = :c",
            c=code,
        )
    )


def assert_gapless(ledger: Ledger, expected_entries: int) -> None:
    with ledger.engine.connect() as conn:
        sequences = (
            conn.execute(text("SELECT sequence FROM journal_entries ORDER BY sequence"))
            .scalars()
            .all()
        )
        head = conn.execute(text("SELECT last_sequence FROM ledger_heads")).scalar_one()
    assert sequences == list(range(1, expected_entries + 1))
    assert head == expected_entries


@pytest.fixture
def uow_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture the unit of work's retry messages from every thread."""
    caplog.set_level(logging.DEBUG, logger="ledger.core.uow")
    return caplog


def retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "ledger.core.uow" and "retrying" in r.getMessage()
    ]


# --------------------------------------------------------------------------- hot accounts
HOT = ("assets:pool:a", "assets:pool:b", "assets:pool:c")
GUARDED = ("assets:pool:a", "assets:pool:b")  # no_overdraft; c may go below zero
SEED = 2000


def test_parallel_transfers_among_hot_accounts_lose_no_update_and_never_overdraw(pg_ledger):
    ledger = pg_ledger
    ledger.create_account("equity:opening", "equity")
    for code in HOT:
        ledger.create_account(code, "asset", no_overdraft=code in GUARDED)
        ledger.post(transfer(f"seed-{code}", "equity:opening", code, SEED))
    per_worker = 25

    def worker(i: int) -> list[tuple[EntrySpec, Outcome]]:
        rng = random.Random(7919 * (i + 1))
        done = []
        for n in range(per_worker):
            source, target = rng.sample(HOT, 2)
            # Amounts near the seed make overdraft refusals common, so the
            # check under lock is exercised while balances move under it.
            spec = transfer(f"w{i}-{n}", source, target, rng.randint(100, 1500))
            try:
                done.append((spec, Outcome(value=ledger.post(spec))))
            except Exception as exc:
                done.append((spec, Outcome(error=exc)))
        return done

    outcomes = in_parallel(WORKERS, worker)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    attempts = [pair for o in outcomes for pair in o.value]
    accepted = [spec for spec, out in attempts if out.ok]
    refused = [out.error for _spec, out in attempts if not out.ok]

    # The only acceptable refusal is the overdraft guard; it did fire.
    assert {type(e) for e in refused} <= {InsufficientFundsError}, refused
    assert refused, "no transfer was refused: the overdraft guard was never tested"
    assert all(out.value.created for _spec, out in attempts if out.ok)

    # No lost update: a model built from the accepted requests alone agrees
    # with the maintained balances and with a replay of the postings.
    model: dict[str, int] = defaultdict(int)
    for code in HOT:
        model[code] = SEED
    for spec in accepted:
        for leg in spec.postings:
            model[leg.account] += leg.amount.minor
    for code in HOT:
        assert ledger.balance(code).posted == model[code] == replayed_posted(ledger, code)
    assert sum(model[c] for c in HOT) == SEED * len(HOT)
    for code in GUARDED:
        assert ledger.balance(code).available >= 0

    assert_gapless(ledger, len(HOT) + len(accepted))
    report = ledger.verify()
    assert report.ok, report.violations


# --------------------------------------------------------------------------- idempotency
def test_one_idempotency_key_sent_by_eight_threads_makes_exactly_one_entry(pg_ledger):
    ledger = pg_ledger
    ledger.create_account("assets:bank:intesa", "asset")
    ledger.create_account("income:donations", "income")
    spec = transfer("donation-stripe-pi_123", "income:donations", "assets:bank:intesa", 2500)

    outcomes = in_parallel(WORKERS, lambda _i: ledger.post(spec))

    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    assert len({o.value.entry.id for o in outcomes}) == 1
    assert [o.value.created for o in outcomes].count(True) == 1
    assert scalar(ledger, "SELECT count(*) FROM journal_entries") == 1
    assert ledger.balance("assets:bank:intesa").posted == 2500
    assert ledger.verify().ok


def test_one_idempotency_key_with_different_requests_in_parallel_lets_exactly_one_win(pg_ledger):
    ledger = pg_ledger
    ledger.create_account("assets:bank:intesa", "asset")
    ledger.create_account("income:donations", "income")

    outcomes = in_parallel(
        WORKERS,
        lambda i: ledger.post(
            transfer("shared-key", "income:donations", "assets:bank:intesa", 100 * (i + 1))
        ),
    )

    winners = [o for o in outcomes if o.ok]
    assert len(winners) == 1
    assert {type(o.error).__name__ for o in outcomes if not o.ok} == {"IdempotencyConflictError"}
    assert (
        ledger.balance("assets:bank:intesa").posted
        == winners[0].value.entry.postings[0].amount.minor
    )
    assert ledger.verify().ok


# --------------------------------------------------------------------------- reversals
def test_the_same_reversal_fired_in_parallel_reverses_exactly_once(pg_ledger):
    ledger = pg_ledger
    ledger.create_account("assets:bank:intesa", "asset")
    ledger.create_account("income:donations", "income")
    original = ledger.post(transfer("d1", "income:donations", "assets:bank:intesa", 4200))

    outcomes = in_parallel(
        WORKERS,
        lambda i: ledger.reverse(
            idempotency_key=f"reverse-d1-by-{i}", sequence=original.entry.sequence
        ),
    )

    winners = [o for o in outcomes if o.ok]
    assert len(winners) == 1
    assert all(isinstance(o.error, AlreadyReversedError) for o in outcomes if not o.ok)
    assert (
        scalar(
            ledger,
            "SELECT count(*) FROM journal_entries WHERE reverses_entry_id = :e",
            e=original.entry.id,
        )
        == 1
    )
    assert ledger.balance("assets:bank:intesa").posted == 0
    assert_gapless(ledger, 2)
    assert ledger.verify().ok


# --------------------------------------------------------------------------- holds
def test_post_and_void_of_one_hold_in_parallel_resolve_it_exactly_once(pg_ledger):
    ledger = pg_ledger
    ledger.create_account("liabilities:pool", "liability", no_overdraft=True)
    ledger.create_account("liabilities:grantee", "liability")
    ledger.create_account("assets:bank:intesa", "asset")
    ledger.post(transfer("fund", "liabilities:pool", "assets:bank:intesa", 10_000))
    wins: Counter[str] = Counter()
    rounds = 12
    for n in range(rounds):
        hold = ledger.hold(
            HoldSpec(f"h{n}", "grant_payment", "liabilities:pool", "liabilities:grantee", eur(500))
        ).hold
        assert ledger.balance("liabilities:pool").pending == 500

        def race(i: int, hold_id: str = hold.id, n: int = n) -> str:
            if i == 0:
                ledger.post_hold(hold_id, idempotency_key=f"h{n}-post")
                return "posted"
            ledger.void_hold(hold_id, idempotency_key=f"h{n}-void")
            return "voided"

        outcomes = in_parallel(2, race)
        winners = [o.value for o in outcomes if o.ok]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o.error, HoldResolvedError) for o in outcomes if not o.ok)
        assert ledger.get_hold(hold.id).status == winners[0]
        wins[winners[0]] += 1
        assert ledger.balance("liabilities:pool").pending == 0

    assert sum(wins.values()) == rounds
    assert scalar(ledger, "SELECT count(*) FROM hold_resolutions") == rounds
    assert ledger.balance("liabilities:pool").posted == 10_000 - 500 * wins["posted"]
    assert scalar(ledger, "SELECT count(*) FROM journal_entries") == 1 + wins["posted"]
    assert ledger.verify().ok


def test_expire_holds_run_by_two_threads_at_once_expires_each_hold_once(pg_ledger, clock):
    ledger = pg_ledger
    ledger.create_account("liabilities:pool", "liability", no_overdraft=True)
    ledger.create_account("liabilities:grantee", "liability")
    ledger.create_account("assets:bank:intesa", "asset")
    ledger.post(transfer("fund", "liabilities:pool", "assets:bank:intesa", 10_000))
    deadline = clock.now() + timedelta(hours=1)
    holds = {
        ledger.hold(
            HoldSpec(
                f"h{n}",
                "grant_payment",
                "liabilities:pool",
                "liabilities:grantee",
                eur(100 + n),
                expires_at=deadline,
            )
        ).hold.id
        for n in range(20)
    }
    assert ledger.balance("liabilities:pool").pending == sum(100 + n for n in range(20))
    clock.instant = deadline + timedelta(seconds=1)

    outcomes = in_parallel(2, lambda _i: ledger.expire_holds())

    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    first, second = (set(o.value) for o in outcomes)
    assert first | second == holds
    assert not first & second
    assert scalar(ledger, "SELECT count(*) FROM hold_resolutions WHERE outcome = 'expired'") == len(
        holds
    )
    assert ledger.balance("liabilities:pool").pending == 0
    assert ledger.balance("liabilities:grantee").pending == 0
    assert ledger.expire_holds() == []
    assert ledger.verify().ok


# --------------------------------------------------------------------------- deadlocks
def test_multi_leg_entries_touching_accounts_in_opposite_orders_never_deadlock(pg_ledger, uow_log):
    ledger = pg_ledger
    codes = [f"assets:ring:{n}" for n in range(4)]
    for code in codes:
        ledger.create_account(code, "asset")
    per_worker = 15

    def worker(i: int) -> int:
        # Even workers list the legs in ascending order, odd ones descending: an
        # engine that locked in leg order would deadlock here.
        order = codes if i % 2 == 0 else list(reversed(codes))
        for n in range(per_worker):
            ledger.post(
                EntrySpec(
                    f"ring-{i}-{n}",
                    "transfer",
                    [
                        PostingSpec(order[0], eur(100)),
                        PostingSpec(order[1], eur(200)),
                        PostingSpec(order[2], eur(-200)),
                        PostingSpec(order[3], eur(-100)),
                    ],
                )
            )
        return per_worker

    outcomes = in_parallel(WORKERS, worker)

    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    # Ascending-id locking means no deadlock at all, not deadlocks retried away.
    assert retries(uow_log) == []
    assert_gapless(ledger, WORKERS * per_worker)
    assert sum(ledger.balance(c).posted for c in codes) == 0
    assert ledger.verify().ok


def _lock_balance(session: Session, account_id: int) -> None:
    session.execute(
        text("SELECT 1 FROM balances WHERE account_id = :a FOR UPDATE"), {"a": account_id}
    )


def test_a_real_deadlock_inside_a_unit_of_work_is_retried_and_then_succeeds(pg_ledger, uow_log):
    ledger = pg_ledger
    first = ledger.create_account("assets:bank:intesa", "asset").id
    second = ledger.create_account("income:donations", "income").id
    meet = threading.Barrier(2, timeout=BARRIER_TIMEOUT)
    attempts: dict[int, list[str | None]] = {0: [], 1: []}

    def make_work(i: int) -> Callable[[Session], int]:
        # Thread 0 locks the balances first->second, thread 1 second->first: a
        # textbook deadlock on the first attempt, which PostgreSQL breaks by
        # aborting one of them.
        order = (first, second) if i == 0 else (second, first)

        def work(session: Session) -> int:
            attempts[i].append(None)
            session.execute(text("SET LOCAL deadlock_timeout = '100ms'"))
            _lock_balance(session, order[0])
            if len(attempts[i]) == 1:
                meet.wait()
            try:
                _lock_balance(session, order[1])
            except DBAPIError as exc:
                attempts[i][-1] = getattr(exc.orig, "sqlstate", None)
                raise
            spec = transfer(
                f"after-deadlock-{i}", "income:donations", "assets:bank:intesa", 100 * (i + 1)
            )
            return post_entry(session, spec, clock=ledger.clock).entry.sequence

        return work

    outcomes = in_parallel(2, lambda i: run_in_transaction(ledger.sessions, make_work(i)))

    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    failures = [code for runs in attempts.values() for code in runs if code is not None]
    assert failures == ["40P01"], attempts  # exactly one victim, of a real deadlock
    assert sorted(len(runs) for runs in attempts.values()) == [1, 2]
    assert len(retries(uow_log)) == 1
    assert sorted(o.value for o in outcomes) == [1, 2]
    # The victim's aborted attempt left nothing behind: both entries, once each.
    assert ledger.balance("assets:bank:intesa").posted == 300
    assert_gapless(ledger, 2)
    assert ledger.verify().ok


def _serialization_conflict(
    ledger: Ledger, account_id: int, every_attempt: bool, seen: list[str | None]
) -> Callable[[Session], int]:
    """Work that reads a balance in REPEATABLE READ, then loses it to a concurrent commit."""

    def work(session: Session) -> int:
        seen.append(None)
        # The snapshot is taken here, before the other transaction changes the row.
        session.execute(
            text("SELECT version FROM balances WHERE account_id = :a"), {"a": account_id}
        ).scalar_one()
        if every_attempt or len(seen) == 1:
            with ledger.engine.begin() as other:
                other.execute(
                    text("UPDATE balances SET version = version WHERE account_id = :a"),
                    {"a": account_id},
                )
        try:
            spec = transfer(f"rr-{len(seen)}", "income:donations", "assets:bank:intesa", 700)
            return post_entry(session, spec, clock=ledger.clock).entry.sequence
        except DBAPIError as exc:
            seen[-1] = getattr(exc.orig, "sqlstate", None)
            raise

    return work


def test_a_serialization_failure_inside_a_unit_of_work_is_retried_and_then_succeeds(
    pg_ledger, uow_log
):
    ledger = pg_ledger
    bank = ledger.create_account("assets:bank:intesa", "asset").id
    ledger.create_account("income:donations", "income")
    repeatable = make_session_factory(
        ledger.engine.execution_options(isolation_level="REPEATABLE READ")
    )
    seen: list[str | None] = []

    sequence = run_in_transaction(repeatable, _serialization_conflict(ledger, bank, False, seen))

    assert seen == ["40001", None]
    assert sequence == 1
    assert len(retries(uow_log)) == 1
    assert ledger.balance("assets:bank:intesa").posted == 700
    assert_gapless(ledger, 1)
    assert ledger.verify().ok


def test_retries_that_stay_contended_give_up_with_a_concurrency_error_and_no_trace(
    pg_ledger, uow_log
):
    ledger = pg_ledger
    bank = ledger.create_account("assets:bank:intesa", "asset").id
    ledger.create_account("income:donations", "income")
    repeatable = make_session_factory(
        ledger.engine.execution_options(isolation_level="REPEATABLE READ")
    )
    seen: list[str | None] = []

    with pytest.raises(ConcurrencyError) as caught:
        run_in_transaction(
            repeatable, _serialization_conflict(ledger, bank, True, seen), attempts=3
        )

    assert seen == ["40001", "40001", "40001"]
    assert caught.value.code == "concurrency_retry_exhausted"
    assert len(retries(uow_log)) == 2
    assert scalar(ledger, "SELECT count(*) FROM journal_entries") == 0
    assert ledger.balance("assets:bank:intesa").posted == 0
    assert ledger.verify().ok


def _wait_for_a_lock_wait(ledger: Ledger) -> None:
    """Return once a backend of this database waits for a lock (the poster behind the close)."""
    deadline = time.monotonic() + BARRIER_TIMEOUT
    with ledger.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("the entry never waited for the close")


@pytest.mark.parametrize("kind", ["entry", "batch", "hold_post"])
def test_an_entry_waiting_for_a_month_being_closed_is_refused_once_the_close_commits(
    pg_ledger, kind
):
    ledger = pg_ledger
    ledger.create_account("assets:bank:intesa", "asset")
    ledger.create_account("income:donations", "income")
    ledger.post(transfer("before", "income:donations", "assets:bank:intesa", 1000))
    hold = None
    if kind == "hold_post":
        hold = ledger.hold(
            HoldSpec("h", "grant", "assets:bank:intesa", "income:donations", Money(300, "EUR"))
        ).hold
    in_may = date(2026, 5, 20)  # the clock is at 2026-06-15: May has ended

    late = replace(
        transfer("late", "income:donations", "assets:bank:intesa", 5), effective_on=in_may
    )

    def post() -> Any:
        if kind == "entry":
            return ledger.post(late)
        if kind == "batch":
            return ledger.post_batch([late])
        assert hold is not None
        return ledger.post_hold(hold.id, idempotency_key="late", effective_on=in_may)

    with ThreadPoolExecutor(1) as pool, ledger.sessions() as closing:
        with closing.begin():
            close_period(closing, "2026-05", clock=ledger.clock)
            waiting = pool.submit(post)
            _wait_for_a_lock_wait(ledger)
        with pytest.raises(ClosedPeriodError):
            waiting.result(timeout=RESULT_TIMEOUT)
    # Nothing dated into the closed month: the one entry is the one posted before.
    assert (
        scalar(ledger, "SELECT count(*) FROM journal_entries WHERE effective_on <= :d", d=in_may)
        == 0
    )
    assert_gapless(ledger, 1)
    assert ledger.verify().ok
