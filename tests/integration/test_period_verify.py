"""I8 in verify: a close applies to entries written after it, by sequence, not by clock."""

from datetime import UTC, date, datetime

from sqlalchemy import text

from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money


def _book(ledger):
    ledger.create_account("assets:cash", "asset")
    ledger.create_account("income:donations", "income")
    for n, day in enumerate([date(2026, 4, 10), date(2026, 5, 3)], start=1):
        ledger.post(
            EntrySpec(
                f"k{n}",
                "donation",
                [
                    PostingSpec("assets:cash", Money(1000 * n, "EUR")),
                    PostingSpec("income:donations", Money(-1000 * n, "EUR")),
                ],
                effective_on=day,
            )
        )


def test_a_close_at_the_same_instant_as_the_entries_before_it_is_not_a_violation(ledger, clock):
    _book(ledger)  # the fixed clock never moves: entries and close share one instant
    ledger.close_period("2026-04")
    report = ledger.verify()
    assert report.ok, report.violations


def test_an_entry_slipped_into_a_closed_month_behind_the_engine_is_named_by_verify(ledger, db_url):
    _book(ledger)
    # As the database owner, pretend April was closed before entry 1 was written.
    with ledger.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO periods (period, ends_on, closed_at, closed_by, "
                "closed_after_sequence, head_hash) "
                "VALUES ('2026-04', :ends, :at, NULL, 0, :genesis)"
            ),
            {
                "genesis": "0" * 64,
                "ends": date(2026, 4, 30),
                "at": datetime(2026, 5, 1, tzinfo=UTC).replace(tzinfo=None)
                if db_url.startswith("sqlite")
                else datetime(2026, 5, 1, tzinfo=UTC),
            },
        )
    report = ledger.verify()
    assert report.first is not None
    assert (report.first.invariant, report.first.sequence) == ("I8", 1)
    assert [v.sequence for v in report.violations if v.invariant == "I8"] == [1]
