"""The engine writes last (issue 14, part 2, first step): `intents.defer_entry`.

An entry is decided at the call (replay, conflict, overdraft of a checked account,
closed period) and written with the head just before the unit's COMMIT. Whatever
fails at that last moment rolls the whole unit back (I10), the domain's rows
included, and a month closed while the unit ran is refused at its COMMIT.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from ledger.commands import Origin, begin
from ledger.core.accounts import create_account
from ledger.core.balances import balance, trial_balance
from ledger.core.errors import (
    BalanceOutOfRangeError,
    ClosedPeriodError,
    IdempotencyConflictError,
    InsufficientFundsError,
    JournalNotWrittenError,
)
from ledger.core.holds import HoldSpec, create_hold
from ledger.core.intents import (
    EARLY_FLUSHES,
    LOCK_FLUSHES,
    EntryRef,
    before_journal,
    defer_entry,
    pending,
    pending_steps,
)
from ledger.core.journal import EntrySpec, PostingSpec, lookup_keys, post_entry
from ledger.core.models import Account
from ledger.core.money import MAX_MINOR, Money
from ledger.core.service import Ledger
from ledger.core.storage import READ_ONLY_OPTION
from ledger.core.uow import unit_of_work
from ledger.funds import commands as fund_commands
from tests.journal_reads import StaleJournalRead

CASH = "assets:cash"
GIFTS = "income:gifts"
FUND = "assets:fund:cash"  # no overdraft: a checked (class C) row
POOL = "liabilities:pool"
ACT = Origin(channel="api", user_id=None, source="127.0.0.1")


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


def move(key: str, debit: str, credit: str, minor: int, day: date | None = None) -> EntrySpec:
    return EntrySpec(
        key,
        "transfer",
        [PostingSpec(debit, eur(minor)), PostingSpec(credit, eur(-minor))],
        effective_on=day,
    )


@pytest.fixture
def book(ledger: Ledger) -> Iterator[Ledger]:
    ledger.create_account(CASH, "asset")
    ledger.create_account(GIFTS, "income")
    ledger.create_account(FUND, "asset", no_overdraft=True)
    ledger.post(move("seed", FUND, GIFTS, 1000, date(2026, 6, 1)))
    yield ledger


def entries(ledger: Ledger) -> list[tuple[int, str]]:
    # Read-only (a deferred BEGIN on SQLite), so it may read while a unit writes.
    with ledger.engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as conn:
        rows = conn.execute(
            text("SELECT sequence, idempotency_key FROM journal_entries ORDER BY sequence")
        )
        return [(r.sequence, r.idempotency_key) for r in rows]


def has_account(ledger: Ledger, code: str) -> bool:
    with ledger.engine.connect() as conn:
        return conn.execute(select(Account.id).where(Account.code == code)).first() is not None


def test_deferred_entries_are_written_at_commit_in_call_order_and_verify(book: Ledger) -> None:
    with unit_of_work(book.sessions) as session:
        create_account(
            session, "expenses:rent", "expense", clock=book.clock
        )  # the domain's own row
        first = defer_entry(session, move("a", CASH, GIFTS, 300), clock=book.clock)
        second = defer_entry(session, move("b", "expenses:rent", FUND, 200), clock=book.clock)
        assert [i.prepared.key for i in pending(session)] == ["a", "b"]
        assert entries(book) == [(1, "seed")]  # nothing of the journal written yet
    assert entries(book) == [(1, "seed"), (2, "a"), (3, "b")]
    assert (first.entry.sequence, second.entry.sequence) == (2, 3)
    assert book.balance(FUND).available == 800
    assert book.balance(CASH).posted == 300
    assert book.verify().ok


def test_a_replay_and_a_conflict_are_answered_at_the_call(book: Ledger) -> None:
    with unit_of_work(book.sessions) as session:
        made = defer_entry(session, move("k", CASH, GIFTS, 300), clock=book.clock)
        again = defer_entry(session, move("k", CASH, GIFTS, 300), clock=book.clock)
        assert made.created and not again.created
        with pytest.raises(IdempotencyConflictError):
            defer_entry(session, move("k", CASH, GIFTS, 301), clock=book.clock)
        with pytest.raises(IdempotencyConflictError):
            defer_entry(session, move("seed", CASH, GIFTS, 5), clock=book.clock)
        stored = defer_entry(
            session, move("seed", FUND, GIFTS, 1000, date(2026, 6, 1)), clock=book.clock
        )
        assert not stored.created and stored.entry.sequence == 1
    assert entries(book) == [(1, "seed"), (2, "k")]
    assert book.verify().ok


def test_a_call_on_unchecked_accounts_reads_its_key_and_the_lock_date_in_one_statement(
    book: Ledger,
) -> None:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()[:2]))

    with unit_of_work(book.sessions) as session:  # the accounts join the process's cache
        defer_entry(session, move("warm", CASH, GIFTS, 100), clock=book.clock)
    with unit_of_work(book.sessions) as session:
        session.connection()  # the unit's BEGIN (and SQLite's pragmas) outside the count
        event.listen(book.engine, "before_cursor_execute", before)
        try:
            defer_entry(session, move("one-read", CASH, GIFTS, 300), clock=book.clock)
        finally:
            event.remove(book.engine, "before_cursor_execute", before)
    assert seen == ["SELECT ledger_heads.locked_through,"], seen
    assert [k for _, k in entries(book)] == ["seed", "warm", "one-read"]


def test_an_overdraft_of_a_checked_account_counts_the_unit_s_earlier_intents(book: Ledger) -> None:
    with unit_of_work(book.sessions) as session:
        defer_entry(session, move("out-1", CASH, FUND, 600), clock=book.clock)
        with pytest.raises(InsufficientFundsError):
            defer_entry(session, move("out-2", CASH, FUND, 401), clock=book.clock)
        defer_entry(session, move("out-3", CASH, FUND, 400), clock=book.clock)
    assert [k for _, k in entries(book)] == ["seed", "out-1", "out-3"]
    assert book.balance(FUND).available == 0
    assert book.verify().ok


def test_a_closed_month_is_refused_at_the_call(book: Ledger) -> None:
    book.clock.instant += timedelta(minutes=1)  # type: ignore[attr-defined]
    book.close_period("2026-05")
    with unit_of_work(book.sessions) as session:
        with pytest.raises(ClosedPeriodError):
            defer_entry(session, move("may", CASH, GIFTS, 5, date(2026, 5, 31)), clock=book.clock)
        defer_entry(session, move("june", CASH, GIFTS, 5, date(2026, 6, 2)), clock=book.clock)
    assert [k for _, k in entries(book)] == ["seed", "june"]


def _at_most(book: Ledger) -> None:
    most = Money(MAX_MINOR, "EUR")
    book.create_account("assets:big", "asset")
    book.create_account("income:big", "income")
    book.post(
        EntrySpec(
            "max", "donation", [PostingSpec("assets:big", most), PostingSpec("income:big", -most)]
        )
    )


def test_an_error_raised_by_the_write_before_commit_rolls_the_whole_unit_back(
    book: Ledger,
) -> None:
    _at_most(book)
    before = entries(book)
    # assets:big is a deferred (class D) row: its range is checked only when it is
    # written, by the hook before COMMIT, after the domain's row was already flushed.
    with pytest.raises(BalanceOutOfRangeError), unit_of_work(book.sessions) as session:
        create_account(session, "expenses:never", "expense", clock=book.clock)
        defer_entry(session, move("one-cent-more", "assets:big", GIFTS, 1), clock=book.clock)
        defer_entry(session, move("fine", "expenses:never", FUND, 5), clock=book.clock)
    assert entries(book) == before  # I10: nothing of the unit, neither entry ...
    assert not has_account(book, "expenses:never")  # ... nor the domain's row
    assert book.balance(FUND).available == 1000
    assert book.verify().ok


def test_a_write_that_fails_inside_a_savepoint_leaves_the_intents_pending(book: Ledger) -> None:
    """A lock inside a savepoint writes the unit's earlier intents, and the write fails
    (a class D total past MAX_MINOR): the savepoint's rollback puts them back as
    pending, so the unit's COMMIT tries them again and fails whole, rather than
    commit the unit without them."""
    _at_most(book)
    before = entries(book)
    with pytest.raises(BalanceOutOfRangeError), unit_of_work(book.sessions) as session:
        defer_entry(session, move("one-cent-more", "assets:big", GIFTS, 1), clock=book.clock)
        with pytest.raises(BalanceOutOfRangeError), session.begin_nested():
            post_entry(session, move("inside", CASH, GIFTS, 5), clock=book.clock)
        assert [i.prepared.key for i in pending(session)] == ["one-cent-more"]
    assert entries(book) == before
    assert book.verify().ok


def test_a_unit_whose_journal_write_failed_does_not_commit(book: Ledger) -> None:
    """The same failure outside a savepoint, caught by the caller: the unit's COMMIT is
    refused, with nothing of it written."""
    _at_most(book)
    before = entries(book)
    with pytest.raises(JournalNotWrittenError), unit_of_work(book.sessions) as session:
        defer_entry(session, move("one-cent-more", "assets:big", GIFTS, 1), clock=book.clock)
        with pytest.raises(BalanceOutOfRangeError):
            post_entry(session, move("after", CASH, GIFTS, 5), clock=book.clock)
    assert entries(book) == before
    assert book.verify().ok


def test_a_savepoint_rolled_back_takes_its_intents_with_it(book: Ledger) -> None:
    with unit_of_work(book.sessions) as session:
        defer_entry(session, move("kept", CASH, GIFTS, 100), clock=book.clock)
        nested = session.begin_nested()
        defer_entry(session, move("dropped", CASH, FUND, 900), clock=book.clock)
        nested.rollback()
        # The savepoint's reservation of the fund is gone with it.
        defer_entry(session, move("after", CASH, FUND, 1000), clock=book.clock)
    assert [k for _, k in entries(book)] == ["seed", "kept", "after"]
    assert book.balance(FUND).available == 0
    assert book.verify().ok


def test_intents_written_inside_a_savepoint_rolled_back_are_pending_again(book: Ledger) -> None:
    with unit_of_work(book.sessions) as session:
        before = defer_entry(session, move("before", CASH, GIFTS, 100), clock=book.clock)
        nested = session.begin_nested()
        # An engine lock inside the savepoint writes the unit's pending intent ...
        post_entry(session, move("inside", CASH, GIFTS, 5), clock=book.clock)
        assert not pending(session) and before.entry.sequence == 2
        defer_entry(session, move("inside-later", CASH, FUND, 900), clock=book.clock)
        nested.rollback()
        # ... and the rollback undid that write: "before" waits for COMMIT again, the
        # savepoint's own entries are gone, and so is its reservation of the fund.
        assert [i.prepared.key for i in pending(session)] == ["before"]
        defer_entry(session, move("after", CASH, FUND, 1000), clock=book.clock)
    assert [k for _, k in entries(book)] == ["seed", "before", "after"]
    assert before.entry.sequence == 2
    assert book.balance(CASH).posted == 1100
    assert book.verify().ok


def test_the_immediate_path_in_the_same_unit_writes_the_intents_first(book: Ledger) -> None:
    with unit_of_work(book.sessions) as session:
        deferred = defer_entry(session, move("deferred", CASH, FUND, 700), clock=book.clock)
        now = post_entry(session, move("now", CASH, FUND, 300), clock=book.clock)
        assert not pending(session)
        assert now.entry.sequence == 3
        assert session.info.get(EARLY_FLUSHES, 0) == 0
        assert session.info[LOCK_FLUSHES] == 1
        assert deferred.entry.sequence == 2  # written already: no flush needed
        with pytest.raises(InsufficientFundsError):
            defer_entry(session, move("one-more", CASH, FUND, 1), clock=book.clock)
    assert book.balance(FUND).available == 0
    assert book.verify().ok


def test_a_command_begun_after_a_deferred_entry_leaves_it_to_commit_and_knows_it(
    book: Ledger,
) -> None:
    """A unit of many acts (a bank statement's run) writes its journal once: a keyed
    command's claim does not write the unit's pending entries to read the head, and
    still tells an entry that was there before it began from one it made."""
    probe = fund_commands.CREATE_FUND
    with unit_of_work(book.sessions) as session:
        earlier = defer_entry(session, move("earlier-act", CASH, GIFTS, 300), clock=book.clock)
        claim = begin(session, probe, ACT, clock=book.clock, key="k-1", request={"n": 1})
        assert [i.prepared.key for i in pending(session)] == ["earlier-act"]
        assert session.info.get(LOCK_FLUSHES, 0) == 0
        assert entries(book) == [(1, "seed")]
        # This act posts at once: the earlier entry is written first, then its own.
        own = post_entry(session, move("this-act", CASH, GIFTS, 200), clock=book.clock)
        assert (earlier.entry.sequence, own.entry.sequence) == (2, 3)
        assert claim.existed(1)  # committed before the unit began
        assert claim.existed(2)  # deferred by an earlier act of the unit
        assert not claim.existed(3)  # this act's own
        assert not claim.existed(None)
    assert entries(book) == [(1, "seed"), (2, "earlier-act"), (3, "this-act")]
    assert book.verify().ok


def test_a_hold_on_rows_no_intent_posts_to_leaves_the_intents_to_commit(book: Ledger) -> None:
    book.create_account(POOL, "liability")
    with unit_of_work(book.sessions) as session:
        defer_entry(session, move("gift", CASH, GIFTS, 500), clock=book.clock)
        held = create_hold(
            session, HoldSpec("match", "grant", POOL, FUND, eur(400)), clock=book.clock
        )
        assert [i.prepared.key for i in pending(session)] == ["gift"]
        assert session.info.get(LOCK_FLUSHES, 0) == 0
    assert [k for _, k in entries(book)] == ["seed", "gift"]
    assert book.balance(CASH).posted == 500
    assert book.balance(FUND).available == 600
    assert book.get_hold(held.hold.id).status == "open"
    assert book.verify().ok


def test_a_hold_on_a_row_an_intent_posts_to_writes_the_intents_first(book: Ledger) -> None:
    book.create_account(POOL, "liability")
    with unit_of_work(book.sessions) as session:
        defer_entry(session, move("out", CASH, FUND, 700), clock=book.clock)
        # The fund's row is the intent's (class C, read at its call): the hold must see
        # the 700 already gone, and must not be overwritten by the intent's write.
        with pytest.raises(InsufficientFundsError):
            create_hold(session, HoldSpec("big", "grant", POOL, FUND, eur(301)), clock=book.clock)
        assert not pending(session) and session.info[LOCK_FLUSHES] == 1
        create_hold(session, HoldSpec("fits", "grant", POOL, FUND, eur(300)), clock=book.clock)
    assert book.balance(FUND).available == 0
    assert book.balance(FUND).posted == 300
    assert book.verify().ok


def test_a_hold_under_a_key_an_intent_uses_is_refused_at_the_call(book: Ledger) -> None:
    book.create_account(POOL, "liability")
    with unit_of_work(book.sessions) as session:
        defer_entry(session, move("same-key", CASH, GIFTS, 500), clock=book.clock)
        with pytest.raises(IdempotencyConflictError):
            create_hold(
                session, HoldSpec("same-key", "grant", POOL, FUND, eur(10)), clock=book.clock
            )
        assert not pending(session)  # written first, so the key's use is known
    assert [k for _, k in entries(book)] == ["seed", "same-key"]
    assert book.verify().ok


def test_reading_the_sequence_before_commit_writes_the_intents_then(book: Ledger) -> None:
    with unit_of_work(book.sessions) as session:
        ref = defer_entry(session, move("early", CASH, GIFTS, 100), clock=book.clock)
        assert ref.entry.sequence == 2
        assert session.info[EARLY_FLUSHES] == 1
        later = defer_entry(session, move("later", CASH, GIFTS, 100), clock=book.clock)
    assert later.entry.sequence == 3
    assert book.verify().ok


# --------------------------------------------------------------------------- PostgreSQL
def _other_unit(book: Ledger, work: Any) -> threading.Thread:
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the other unit waited for the deferring one"
    return thread


@pytest.mark.postgres_only
def test_a_unit_with_a_deferred_entry_does_not_hold_the_head_until_its_commit(
    pg_ledger: Ledger,
) -> None:
    book = pg_ledger
    book.create_account(CASH, "asset")
    book.create_account(GIFTS, "income")
    done: list[int] = []
    with unit_of_work(book.sessions) as session:
        ref: EntryRef = defer_entry(session, move("slow", CASH, GIFTS, 5), clock=book.clock)
        # Another writer, on the same accounts, posts and commits meanwhile: neither
        # the head nor the deferred (class D) rows are locked before this COMMIT.
        _other_unit(
            book, lambda: done.append(book.post(move("fast", CASH, GIFTS, 7)).entry.sequence)
        )
    assert done == [1]
    assert ref.entry.sequence == 2
    assert book.balance(CASH).posted == 12
    assert book.verify().ok


@pytest.mark.postgres_only
def test_a_month_closed_while_a_unit_runs_refuses_its_entry_and_its_rows_at_commit(
    pg_ledger: Ledger,
) -> None:
    book = pg_ledger
    book.create_account(CASH, "asset")
    book.create_account(GIFTS, "income")
    closed: list[object] = []
    session: Session
    with pytest.raises(ClosedPeriodError), unit_of_work(book.sessions) as session:
        create_account(session, "expenses:may", "expense", clock=book.clock)
        defer_entry(session, move("may", CASH, GIFTS, 5, date(2026, 5, 20)), clock=book.clock)
        # May is still open at the call; another unit closes it before this COMMIT.
        _other_unit(book, lambda: closed.append(book.close_period("2026-05")))
    assert closed
    assert entries(book) == []
    assert not has_account(book, "expenses:may")
    assert book.verify().ok


def test_steps_run_before_the_journal_in_order_and_a_bypassing_commit_is_refused(
    book: Ledger,
) -> None:
    """`before_journal` steps run at COMMIT, in the order registered, before the unit's
    entries are written (the unit's entry is still pending); a commit around the
    session with a step pending is refused like one with an intent pending."""
    seen: list[tuple[str, int]] = []

    def step(name: str) -> Callable[[Session], None]:
        def run(s: Session) -> None:
            seen.append((name, len(pending(s))))

        return run

    with unit_of_work(book.sessions) as session:
        defer_entry(session, move("after-steps", CASH, GIFTS, 100), clock=book.clock)
        before_journal(session, "first", step("first"))
        before_journal(session, "second", step("second"))
        assert pending_steps(session) == ["first", "second"] and seen == []
    assert seen == [("first", 1), ("second", 1)]
    assert entries(book) == [(1, "seed"), (2, "after-steps")]
    session = book.sessions()
    try:
        session.begin()
        create_account(session, "expenses:stepped", "expense", clock=book.clock)
        before_journal(session, "a-step", step("never"))
        session.flush()
        with pytest.raises(JournalNotWrittenError, match="a-step"):
            session.connection().commit()
    finally:
        session.close()
    assert not has_account(book, "expenses:stepped")
    assert [name for name, _ in seen] == ["first", "second"]


def test_a_commit_around_the_session_is_refused_and_commits_nothing(book: Ledger) -> None:
    """`session.connection().commit()` skips the before-commit hook that writes the
    intents: without the guard the domain row would commit without its entry."""
    session = book.sessions()
    try:
        session.begin()
        create_account(session, "expenses:rent", "expense", clock=book.clock)
        defer_entry(session, move("around", CASH, GIFTS, 300), clock=book.clock)
        session.flush()
        with pytest.raises(JournalNotWrittenError, match="around"):
            session.connection().commit()
    finally:
        session.close()
    assert not has_account(book, "expenses:rent")
    assert entries(book) == [(1, "seed")]
    # The unit ended: its intent does not follow the session into its next unit.
    with unit_of_work(book.sessions) as session:
        assert pending(session) == ()
        defer_entry(session, move("next", CASH, GIFTS, 100), clock=book.clock)
    assert entries(book) == [(1, "seed"), (2, "next")]
    assert book.verify().ok


def test_intents_end_with_a_unit_closed_without_a_rollback(book: Ledger) -> None:
    session = book.sessions()
    session.begin()
    defer_entry(session, move("dropped", CASH, GIFTS, 300), clock=book.clock)
    session.close()  # no commit, no rollback: the unit ends with its intents
    with session.begin():  # the same Session object, a new unit
        assert pending(session) == ()
    assert entries(book) == [(1, "seed")]
    with book.engine.begin() as conn:  # a bare unit on a pooled connection commits
        conn.execute(text("SELECT 1"))


def test_reads_of_balances_in_the_unit_count_its_unwritten_entries(book: Ledger) -> None:
    """`balance` and `trial_balance` add the unit's pending legs to the rows they read,
    without writing the journal (the head stays free)."""
    day = book.clock.now().date()
    with unit_of_work(book.sessions) as session:
        before = balance(session, CASH).posted
        defer_entry(session, move("seen", CASH, GIFTS, 300, day), clock=book.clock)
        defer_entry(session, move("seen-2", FUND, CASH, 50, day), clock=book.clock)
        now = balance(session, CASH)
        assert (now.posted, now.available) == (before + 250, before + 250)
        assert balance(session, GIFTS).posted == 1000 + 300
        assert balance(session, CASH, as_of=day).posted == 250
        assert balance(session, CASH, as_of=day - timedelta(days=1)).posted == 0
        lines = {line.account.code: line for line in trial_balance(session)}
        assert (lines[CASH].debit, lines[GIFTS].credit, lines[FUND].debit) == (250, 1300, 1050)
        assert sum(x.debit for x in lines.values()) == sum(x.credit for x in lines.values())
        dated = {line.account.code: line for line in trial_balance(session, day)}
        assert dated[CASH].debit == 250
        assert entries(book) == [(1, "seed")]  # read, not written
        assert session.info.get(LOCK_FLUSHES, 0) == 0
    assert book.balance(CASH).posted == 250
    assert book.verify().ok


def test_a_key_looked_up_in_the_unit_is_its_own_pending_entry(book: Ledger) -> None:
    with unit_of_work(book.sessions) as session:
        defer_entry(session, move("mine", CASH, GIFTS, 300), clock=book.clock)
        defer_entry(session, move("other", CASH, GIFTS, 1), clock=book.clock)
        assert lookup_keys(session, ["unknown"]) == {}
        assert [i.prepared.key for i in pending(session)] == ["mine", "other"]
        found = lookup_keys(session, ["mine"])
        assert found["mine"].operation == "entry"
        assert pending(session) == ()  # written first, in call order, with the other
        assert session.info[LOCK_FLUSHES] == 1
    assert entries(book) == [(1, "seed"), (2, "mine"), (3, "other")]
    assert book.verify().ok


def test_a_read_of_the_journal_past_the_units_own_entries_fails_the_test(book: Ledger) -> None:
    """The suite's listener (tests/journal_reads.py): code outside the engine functions
    that know a unit's pending entries may not read the journal's tables meanwhile."""
    with unit_of_work(book.sessions) as session:
        session.execute(text("SELECT posted_debits FROM balances")).all()  # nothing pending
        defer_entry(session, move("unseen", CASH, GIFTS, 300), clock=book.clock)
        with pytest.raises(StaleJournalRead, match="unseen"):
            session.execute(text("SELECT posted_debits FROM balances")).all()
        with pytest.raises(StaleJournalRead):
            session.execute(text("SELECT count(*) FROM journal_entries")).all()
        assert balance(session, CASH).posted == 300  # the engine's read knows it
        session.execute(text("SELECT count(*) FROM accounts")).all()  # not the journal's
        session.rollback()


def test_a_commit_statement_sent_in_the_unit_is_refused_and_commits_nothing(
    book: Ledger,
) -> None:
    with pytest.raises(JournalNotWrittenError, match="COMMIT statement"):
        with unit_of_work(book.sessions) as session:
            create_account(session, "expenses:rent", "expense", clock=book.clock)
            defer_entry(session, move("stated", CASH, GIFTS, 300), clock=book.clock)
            session.flush()
            session.execute(text("COMMIT"))
    assert not has_account(book, "expenses:rent")
    assert entries(book) == [(1, "seed")]


def test_a_connection_back_in_the_pool_belongs_to_no_unit(book: Ledger) -> None:
    """A session's next unit with pending entries does not stop another user of the
    connection its last unit had from committing."""
    session = book.sessions()
    with session.begin():
        session.execute(text("SELECT 1"))
    # The connection that unit used, back from the pool (read-only: a plain BEGIN on
    # SQLite, so the session's next unit can take the write lock beside it).
    with book.engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as bare:
        with session.begin():  # the same session's next unit, on another connection
            defer_entry(session, move("later", CASH, GIFTS, 300), clock=book.clock)
            bare.execute(text("SELECT count(*) FROM accounts")).all()
            bare.commit()  # not this unit's: not refused
    session.close()
    assert entries(book) == [(1, "seed"), (2, "later")]
