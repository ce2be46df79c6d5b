"""Tampering with the books as the database owner: `verify()` must name the first bad sequence.

The database refuses changes to posted rows, but its owner can switch those
guards off. These tests do exactly that, on both backends: they turn the
append-only triggers off, rewrite history by hand, turn the triggers back on,
and check that `verify()` names the first sequence that no longer matches the
hash chain or the journal (`report.first`), with a sensible invariant.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from ledger.core.clock import FixedClock
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.core.verify import VerifyReport

GUARDED = ("journal_entries", "postings", "idempotency_keys")


def eur(amount: str) -> Money:
    return Money.parse(amount, "EUR")


@dataclass(frozen=True)
class Book:
    """A ledger holding six entries: 1-5 in order, 6 reversing 5."""

    ledger: Ledger
    entries: int = 6


def _post(
    ledger: Ledger,
    clock: FixedClock,
    key: str,
    kind: str,
    debit: str,
    credit: str,
    amount: str,
    on: date,
) -> None:
    clock.instant += timedelta(minutes=1)
    ledger.post(
        EntrySpec(
            key,
            kind,
            [
                PostingSpec(debit, eur(amount)),
                PostingSpec(credit, eur(f"-{amount}")),
            ],
            effective_on=on,
            narration=f"{kind} {key}",
        )
    )


@pytest.fixture
def book(ledger: Ledger, clock: FixedClock) -> Book:
    """Six entries including a reversal, each recorded a minute after the one before."""
    ledger.create_account("assets:bank:intesa", "asset", no_overdraft=True)
    ledger.create_account("income:donations", "income")
    ledger.create_account("expenses:grants", "expense")
    bank, income, grants = "assets:bank:intesa", "income:donations", "expenses:grants"
    _post(ledger, clock, "don-1", "donation", bank, income, "100.00", date(2026, 6, 1))
    _post(ledger, clock, "don-2", "donation", bank, income, "50.00", date(2026, 6, 2))
    _post(ledger, clock, "grant-1", "grant_payment", grants, bank, "30.00", date(2026, 6, 3))
    _post(ledger, clock, "don-3", "donation", bank, income, "20.00", date(2026, 6, 4))
    _post(ledger, clock, "don-4", "donation", bank, income, "10.00", date(2026, 6, 5))
    clock.instant += timedelta(minutes=1)
    ledger.reverse(idempotency_key="rev-don-4", sequence=5)
    return Book(ledger)


@contextmanager
def as_owner(ledger: Ledger, tables: Sequence[str] = GUARDED) -> Iterator[Connection]:
    """One transaction with the append-only triggers of `tables` off, back on at the end.

    PostgreSQL: ALTER TABLE ... DISABLE TRIGGER USER (which also silences the
    deferred balance trigger); SQLite: drop the triggers and recreate them from
    their stored SQL. Either way the guards are in place again after the tamper.
    """
    with ledger.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for table in tables:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            yield conn
            for table in tables:
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        else:
            names = ", ".join(f"'{t}'" for t in tables)
            saved = conn.execute(
                text(
                    f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                    f"AND tbl_name IN ({names})"
                )
            ).all()
            assert saved, "the migrations installed no triggers to switch off"
            for name, _sql in saved:
                conn.execute(text(f"DROP TRIGGER {name}"))
            yield conn
            for _name, sql in saved:
                conn.exec_driver_sql(sql)


def entry_id(conn: Connection, sequence: int) -> str:
    return str(
        conn.execute(
            text("SELECT id FROM journal_entries WHERE sequence = :s"), {"s": sequence}
        ).scalar_one()
    )


def delete_entry(conn: Connection, sequence: int) -> None:
    """Remove an entry with its postings and idempotency record (children first)."""
    target = entry_id(conn, sequence)
    conn.execute(text("DELETE FROM idempotency_keys WHERE entry_id = :e"), {"e": target})
    conn.execute(text("DELETE FROM postings WHERE entry_id = :e"), {"e": target})
    conn.execute(text("DELETE FROM journal_entries WHERE id = :e"), {"e": target})


def assert_first(report: VerifyReport, invariant: str, sequence: int | None) -> None:
    first = report.first
    assert first is not None, "verify found nothing wrong with a tampered book"
    assert (first.invariant, first.sequence) == (invariant, sequence), report.violations


def assert_guards_back(report: VerifyReport) -> None:
    """The tamper put the triggers back, so verify has no I2 to report."""
    assert not [v for v in report.violations if v.invariant == "I2"], report.violations


# --------------------------------------------------------------------------- the control
def test_an_untouched_book_verifies_ok(book):
    report = book.ledger.verify()
    assert report.ok, report.violations
    assert report.first is None
    assert report.entries_checked == book.entries
    assert report.last_sequence == book.entries
    assert report.head_hash == book.ledger.entry(book.entries).hash


def test_switching_the_guards_off_and_on_again_leaves_the_book_verifiable(book):
    with as_owner(book.ledger) as conn:
        assert conn.execute(text("SELECT count(*) FROM postings")).scalar_one() == 12
    assert book.ledger.verify().ok


# --------------------------------------------------------------------------- amounts
def test_one_posting_amount_changed_is_reported_as_unbalanced_at_its_sequence(book):
    with as_owner(book.ledger) as conn:
        conn.execute(
            text(
                "UPDATE postings SET amount_minor = 2001 WHERE amount_minor = 2000 "
                "AND entry_id = :e"
            ),
            {"e": entry_id(conn, 4)},
        )
    report = book.ledger.verify()
    assert_first(report, "I1", 4)
    assert any(v.invariant == "I9" and v.sequence == 4 for v in report.violations)
    # The maintained balances never saw the extra cent.
    assert any(v.invariant == "I7" for v in report.violations)
    assert_guards_back(report)


def test_both_legs_changed_to_keep_the_entry_balanced_still_break_the_chain(book):
    with as_owner(book.ledger) as conn:
        conn.execute(
            text("UPDATE postings SET amount_minor = amount_minor * 100 WHERE entry_id = :e"),
            {"e": entry_id(conn, 2)},
        )
    report = book.ledger.verify()
    assert_first(report, "I9", 2)
    assert not [v for v in report.violations if v.invariant == "I1"]
    assert_guards_back(report)


def test_a_posting_moved_to_another_account_breaks_the_chain_at_its_sequence(book):
    with as_owner(book.ledger) as conn:
        conn.execute(
            text(
                "UPDATE postings SET account_id = (SELECT id FROM accounts "
                "WHERE code = 'income:donations') WHERE entry_id = :e AND amount_minor > 0"
            ),
            {"e": entry_id(conn, 3)},
        )
    report = book.ledger.verify()
    assert_first(report, "I9", 3)
    assert_guards_back(report)


# --------------------------------------------------------------------------- entry fields
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("narration", "donation don-3 (rettifica)"),
        ("effective_on", date(2026, 6, 9)),
        ("kind", "refund"),
        ("actor", "mallory"),
    ],
    ids=["narration", "effective_on", "kind", "actor"],
)
def test_a_changed_entry_field_is_reported_at_its_sequence(book, column, value):
    with as_owner(book.ledger) as conn:
        changed = conn.execute(
            text(f"UPDATE journal_entries SET {column} = :v WHERE sequence = 4"), {"v": value}
        )
        assert changed.rowcount == 1
    report = book.ledger.verify()
    assert_first(report, "I9", 4)
    # Only that link is bad: the chain resumes from the stored hash after it.
    assert [v.sequence for v in report.violations if v.invariant == "I9"] == [4]
    assert_guards_back(report)


# --------------------------------------------------------------------------- rows
def test_an_entry_deleted_from_the_middle_is_reported_at_its_sequence(book):
    with as_owner(book.ledger) as conn:
        delete_entry(conn, 3)
    report = book.ledger.verify()
    assert_first(report, "I9", 3)
    assert "missing" in report.first.message
    assert report.entries_checked == book.entries - 1
    assert_guards_back(report)


def test_postings_left_behind_by_a_deleted_entry_are_reported_as_i10(book):
    """An owner who also switches the foreign keys off (PostgreSQL: replica role;
    SQLite: the pragma, outside a transaction) deletes an entry but not its postings.
    The count of orphan postings is an anti-join: the NOT IN it replaces re-scanned
    the million entry ids for every posting on PostgreSQL (verify of a 1M book never
    finished)."""
    ledger = book.ledger
    if ledger.engine.dialect.name == "sqlite":
        # A connection of sqlite3's own: foreign keys are off unless asked for.
        raw = sqlite3.connect(str(ledger.engine.url.database))
        try:
            saved = raw.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name IN ('journal_entries', 'idempotency_keys')"
            ).fetchall()
            for name, _sql in saved:
                raw.execute(f"DROP TRIGGER {name}")
            (target,) = raw.execute("SELECT id FROM journal_entries WHERE sequence = 3").fetchone()
            raw.execute("DELETE FROM idempotency_keys WHERE entry_id = ?", (target,))
            raw.execute("DELETE FROM journal_entries WHERE id = ?", (target,))
            for _name, sql in saved:
                raw.execute(sql)
            raw.commit()
        finally:
            raw.close()
    else:
        with as_owner(ledger) as owner:
            owner.execute(text("SET LOCAL session_replication_role = replica"))
            target = entry_id(owner, 3)
            owner.execute(text("DELETE FROM idempotency_keys WHERE entry_id = :e"), {"e": target})
            owner.execute(text("DELETE FROM journal_entries WHERE id = :e"), {"e": target})
    report = ledger.verify()
    assert [v.message for v in report.violations if v.invariant == "I10"] == [
        "2 postings belong to no entry"
    ]
    assert_first(report, "I9", 3)


def test_two_entries_with_swapped_sequence_numbers_are_reported_at_the_lower(book):
    with as_owner(book.ledger) as conn:
        # A detour through a free number, since sequence is unique at every row.
        conn.execute(text("UPDATE journal_entries SET sequence = 1000 WHERE sequence = 2"))
        conn.execute(text("UPDATE journal_entries SET sequence = 2 WHERE sequence = 4"))
        conn.execute(text("UPDATE journal_entries SET sequence = 4 WHERE sequence = 1000"))
    report = book.ledger.verify()
    assert_first(report, "I9", 2)
    # The balances are unchanged by a reordering: only the chain can tell.
    assert {v.invariant for v in report.violations} == {"I9"}
    assert_guards_back(report)


def test_a_cut_tail_is_reported_at_the_first_missing_sequence(book):
    with as_owner(book.ledger) as conn:
        delete_entry(conn, 6)
        delete_entry(conn, 5)
    report = book.ledger.verify()
    assert_first(report, "I9", 5)
    assert "tail" in report.first.message
    assert report.last_sequence == 4
    assert_guards_back(report)


def test_a_cut_tail_with_the_head_rewound_is_still_caught_by_the_balances(book):
    # A more careful forger also rewinds the head to the new last entry; the
    # chain is then consistent, but the maintained balances still remember.
    with as_owner(book.ledger) as conn:
        delete_entry(conn, 6)
        delete_entry(conn, 5)
        last = conn.execute(text("SELECT hash FROM journal_entries WHERE sequence = 4")).one()
        conn.execute(
            text("UPDATE ledger_heads SET last_sequence = 4, last_hash = :h"), {"h": last.hash}
        )
    report = book.ledger.verify()
    assert_first(report, "I7", None)
    assert_guards_back(report)


def test_a_changed_maintained_balance_is_reported_as_i7_without_a_sequence(book):
    # Balances are the one table the engine updates, so no trigger guards them.
    with book.ledger.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE balances SET posted_debits = posted_debits + 1 "
                "WHERE account_id = (SELECT id FROM accounts "
                "WHERE code = 'assets:bank:intesa')"
            )
        )
    report = book.ledger.verify()
    assert_first(report, "I7", None)
    assert "assets:bank:intesa" in report.first.message
    assert {v.invariant for v in report.violations} == {"I7"}


# --------------------------------------------------------------------------- I2
DROPPABLE = {
    "postgresql": [
        "postings_append_only",
        "journal_entries_append_only",
        "postings_join_new_entries",
        "postings_no_truncate",
    ],
    "sqlite": [
        "postings_no_update",
        "postings_no_delete",
        "journal_entries_no_update",
        "journal_entries_no_delete",
    ],
}


@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_a_dropped_trigger_is_reported_as_i2(book, backend, which):
    trigger = DROPPABLE[backend][which]
    table = "postings" if trigger.startswith("postings") else "journal_entries"
    with book.ledger.engine.begin() as conn:
        on = f" ON {table}" if backend == "postgresql" else ""
        conn.execute(text(f"DROP TRIGGER {trigger}{on}"))
    report = book.ledger.verify()
    assert_first(report, "I2", None)
    assert trigger in report.first.message
    assert {v.invariant for v in report.violations} == {"I2"}


@pytest.mark.postgres_only
def test_a_trigger_left_disabled_is_reported_as_i2(pg_ledger):
    # A disabled trigger is still listed in pg_trigger but guards nothing.
    with pg_ledger.engine.begin() as conn:
        conn.execute(text("ALTER TABLE postings DISABLE TRIGGER postings_append_only"))
    report = pg_ledger.verify()
    assert_first(report, "I2", None)
    assert "postings_append_only" in report.first.message


def test_a_tamper_hidden_by_dropping_a_trigger_reports_both_the_sequence_and_i2(book, backend):
    trigger = "postings_append_only" if backend == "postgresql" else "postings_no_update"
    with book.ledger.engine.begin() as conn:
        if backend == "postgresql":
            # The balance trigger is silenced too, or COMMIT would refuse the change.
            conn.execute(text(f"DROP TRIGGER {trigger} ON postings"))
            conn.execute(
                text("ALTER TABLE postings DISABLE TRIGGER postings_stay_balanced_on_update")
            )
        else:
            conn.execute(text(f"DROP TRIGGER {trigger}"))
        conn.execute(
            text("UPDATE postings SET amount_minor = -amount_minor WHERE entry_id = :e"),
            {"e": entry_id(conn, 3)},
        )
    report = book.ledger.verify()
    assert_first(report, "I9", 3)
    assert any(v.invariant == "I2" and trigger in v.message for v in report.violations)


def forge_away_the_last_two_entries(book: Book) -> None:
    """Entries 5 and 6 (a donation and its reversal) cancel out: remove both, rewind
    the head and fix the balance rows, leaving a self-consistent book."""
    with as_owner(book.ledger) as conn:
        delete_entry(conn, 6)
        delete_entry(conn, 5)
        last = conn.execute(text("SELECT hash FROM journal_entries WHERE sequence = 4")).one()
        conn.execute(
            text("UPDATE ledger_heads SET last_sequence = 4, last_hash = :h"), {"h": last.hash}
        )
        conn.execute(
            text(
                "UPDATE balances SET version = version - 2, posted_debits = posted_debits - 1000, "
                "posted_credits = posted_credits - 1000 WHERE account_id IN "
                "(SELECT id FROM accounts WHERE code IN "
                "('assets:bank:intesa', 'income:donations'))"
            )
        )


def test_a_perfect_forgery_of_an_unanchored_tail_passes_verify_which_is_why_heads_are_published(
    book,
):
    # The limit of any self-contained chain: without an outside anchor, an owner
    # who rewrites the tail consistently is not detectable from inside the book.
    forge_away_the_last_two_entries(book)
    report = book.ledger.verify()
    assert report.ok and report.last_sequence == 4


def test_a_perfect_forgery_of_the_tail_is_caught_by_the_hash_a_period_close_recorded(book, clock):
    clock.instant = datetime(2026, 7, 2, 9, 0, tzinfo=UTC)
    book.ledger.close_period("2026-06")
    forge_away_the_last_two_entries(book)
    report = book.ledger.verify()
    assert_first(report, "I9", 6)
    assert "anchored by a period close" in report.first.message
    # The totals the close wrote per account count the removed pair's debits and
    # credits (their nets cancel, their turnover does not): caught a second time.
    assert {v.invariant for v in report.violations} == {"I9", "I7"}
    totals = [v for v in report.violations if v.invariant == "I7"]
    assert {v.message.split(": the totals")[0] for v in totals} == {
        "account assets:bank:intesa",
        "account income:donations",
    }
    assert all("when 2026-06 closed" in v.message for v in totals), totals
