"""Totals per closed month (`period_totals`, migration 0028): what a balance or a trial
balance as of a date reads instead of summing the whole journal (issue 14).

The answer must be the one the whole journal gives: every date of a book with
closed and open months is compared with the postings summed by plain SQL.
"""

from __future__ import annotations

import calendar
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from ledger.core.journal import EntrySpec, PostingSpec, post_entry
from ledger.core.migrate import downgrade, upgrade
from ledger.core.money import Money
from ledger.core.service import Ledger

ACCOUNTS = ("assets:bank", "assets:cash", "income:donations", "expenses:grants")
_SUMMED = text(
    "SELECT a.code, SUM(p.amount_minor) FROM postings p "
    "JOIN journal_entries e ON e.id = p.entry_id JOIN accounts a ON a.id = p.account_id "
    "WHERE e.effective_on <= :d GROUP BY a.code"
)


def _post(ledger: Ledger, key: str, debit: str, credit: str, minor: int, on: date) -> None:
    ledger.post(
        EntrySpec(
            key,
            "test",
            [PostingSpec(debit, Money(minor, "EUR")), PostingSpec(credit, Money(-minor, "EUR"))],
            effective_on=on,
        )
    )


def _summed(ledger: Ledger, day: date) -> dict[str, int]:
    with ledger.engine.connect() as conn:
        return {code: int(net) for code, net in conn.execute(_SUMMED, {"d": day})}


def _nets(ledger: Ledger, day: date) -> dict[str, int]:
    """The trial balance as of `day`, as signed nets (debit positive)."""
    return {
        line.account.code: line.debit - line.credit
        for line in ledger.trial_balance(day)
        if line.debit or line.credit
    }


def _totals(ledger: Ledger) -> dict[tuple[str, str], tuple[int, int]]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.period, a.code, t.debits, t.credits FROM period_totals t "
                "JOIN accounts a ON a.id = t.account_id"
            )
        )
        return {(period, code): (int(d), int(c)) for period, code, d, c in rows}


def _open_book(ledger: Ledger) -> None:
    for code in ACCOUNTS:
        ledger.create_account(code, code.split(":")[0].rstrip("s"))


def _months(ledger: Ledger, clock, months: list[int], rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    """Entries on random days of each month of 2026 in `months` and on its first and
    last days, each odd month closed once it has ended (the clock moved to the 2nd
    of the next month)."""
    n = 0
    for month in months:
        last = calendar.monthrange(2026, month)[1]
        for day in [1, last] + [rng.randint(1, last) for _ in range(5)]:
            n += 1
            debit, credit = rng.sample(ACCOUNTS, 2)
            _post(ledger, f"e{month}-{n}", debit, credit, rng.randint(1, 50_000),
                  date(2026, month, day))  # fmt: skip
        clock.instant = datetime(2026, month + 1, 2, 9, 0, tzinfo=UTC)
        if month % 2:  # the odd months are closed, the even ones left to the next close
            ledger.close_period(f"2026-{month:02d}")


def test_closes_write_each_accounts_turnover_through_the_months_end(ledger, clock):
    _open_book(ledger)
    _post(ledger, "a", "assets:bank", "income:donations", 10_000, date(2026, 1, 10))
    _post(ledger, "b", "expenses:grants", "assets:bank", 2_500, date(2026, 1, 20))
    clock.instant = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)
    ledger.close_period("2026-01")
    _post(ledger, "c", "assets:bank", "income:donations", 700, date(2026, 2, 5))
    _post(ledger, "d", "assets:cash", "assets:bank", 300, date(2026, 3, 1))
    clock.instant = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    ledger.close_period("2026-02")  # the entry of March stays out of February's totals
    assert _totals(ledger) == {
        ("2026-01", "assets:bank"): (10_000, 2_500),
        ("2026-01", "income:donations"): (0, 10_000),
        ("2026-01", "expenses:grants"): (2_500, 0),
        ("2026-02", "assets:bank"): (10_700, 2_500),
        ("2026-02", "income:donations"): (0, 10_700),
        ("2026-02", "expenses:grants"): (2_500, 0),
    }
    assert ledger.verify().ok


def test_a_close_that_closes_earlier_months_too_counts_everything_before_its_end(ledger, clock):
    _open_book(ledger)
    _post(ledger, "a", "assets:bank", "income:donations", 1_000, date(2026, 1, 10))
    _post(ledger, "b", "assets:bank", "income:donations", 2_000, date(2026, 3, 10))
    clock.instant = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
    ledger.close_period("2026-03")  # January and February were never closed on their own
    assert _totals(ledger)[("2026-03", "assets:bank")] == (3_000, 0)
    assert ledger.balance("assets:bank", date(2026, 3, 31)).posted == 3_000
    assert ledger.balance("assets:bank", date(2026, 2, 28)).posted == 1_000


def test_balances_as_of_every_day_of_the_year_agree_with_the_whole_journal(ledger, clock):
    _open_book(ledger)
    rng = random.Random(14)
    _months(ledger, clock, list(range(1, 11)), rng)
    assert {p for p, _code in _totals(ledger)} == {f"2026-{m:02d}" for m in (1, 3, 5, 7, 9)}
    day = date(2025, 12, 30)
    while day <= date(2026, 11, 2):
        assert _nets(ledger, day) == {k: v for k, v in _summed(ledger, day).items() if v}, day
        for code in ("assets:bank", "income:donations"):
            sign = -1 if code.startswith("income") else 1
            assert ledger.balance(code, day).posted == sign * _summed(ledger, day).get(code, 0)
        day += timedelta(days=1)
    assert ledger.verify().ok


def test_a_rewritten_total_is_reported_by_verify_naming_the_account_and_the_month(
    ledger, clock, backend
):
    _open_book(ledger)
    _months(ledger, clock, [1, 2, 3], random.Random(3))
    assert ledger.verify().ok
    with ledger.engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("ALTER TABLE period_totals DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER period_totals_no_update"))
        conn.execute(
            text(
                "UPDATE period_totals SET debits = debits + 1 WHERE period = '2026-03' "
                "AND account_id = (SELECT id FROM accounts WHERE code = 'assets:bank')"
            )
        )
        if backend == "postgresql":
            conn.execute(text("ALTER TABLE period_totals ENABLE TRIGGER USER"))
    report = ledger.verify()
    messages = [v.message for v in report.violations if v.invariant == "I7"]
    assert len(messages) == 1, report.violations
    assert messages[0].startswith("account assets:bank: the totals recorded when 2026-03 closed")
    if backend == "postgresql":  # the trigger is back: only the rewritten row is reported
        assert {v.invariant for v in report.violations} == {"I7"}


def test_the_migration_fills_in_the_months_closed_before_it_and_goes_down_and_up(db_url, clock):
    ledger = Ledger.from_url(db_url, clock=clock)
    _open_book(ledger)
    _months(ledger, clock, [1, 2, 3, 4, 5], random.Random(5))
    written = _totals(ledger)
    assert written
    ledger.engine.dispose()

    downgrade(db_url, "0027_volunteer_register")
    upgrade(db_url)  # the totals of the closes made at 0027 are computed by the migration

    ledger = Ledger.from_url(db_url, clock=clock)
    assert _totals(ledger) == written
    report = ledger.verify()
    assert report.ok, report.violations
    # The book goes on: the next close adds to the migrated totals.
    clock.instant = datetime(2026, 7, 2, 9, 0, tzinfo=UTC)
    _post(ledger, "june", "assets:bank", "income:donations", 99, date(2026, 6, 30))
    ledger.close_period("2026-06")
    assert _nets(ledger, date(2026, 6, 30)) == {
        k: v for k, v in _summed(ledger, date(2026, 6, 30)).items() if v
    }
    assert ledger.verify().ok
    ledger.engine.dispose()


@pytest.mark.postgres_only
def test_an_entry_of_the_month_committed_while_the_close_waits_is_in_its_totals(pg_ledger):
    """The close computes the totals under the head lock: an entry holding the head
    when the close starts commits first, and the close counts it."""
    ledger = pg_ledger  # the clock is at 2026-06-15: May has ended
    _open_book(ledger)
    _post(ledger, "early", "assets:bank", "income:donations", 1_000, date(2026, 5, 2))
    with ThreadPoolExecutor(1) as pool, ledger.sessions() as writing:
        with writing.begin():
            post_entry(
                writing,
                EntrySpec(
                    "late",
                    "test",
                    [
                        PostingSpec("assets:bank", Money(250, "EUR")),
                        PostingSpec("income:donations", Money(-250, "EUR")),
                    ],
                    effective_on=date(2026, 5, 31),
                ),
                clock=ledger.clock,
            )
            closing = pool.submit(ledger.close_period, "2026-05")
            deadline = time.monotonic() + 30
            with ledger.engine.connect() as conn:
                while not conn.execute(_LOCK_WAITS).scalar_one():
                    conn.rollback()
                    assert time.monotonic() < deadline, "the close never waited for the head"
                    time.sleep(0.01)
        assert closing.result(timeout=60).created
    assert _totals(ledger)[("2026-05", "assets:bank")] == (1_250, 0)
    assert ledger.balance("assets:bank", date(2026, 5, 31)).posted == 1_250
    assert ledger.verify().ok


_LOCK_WAITS = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)
