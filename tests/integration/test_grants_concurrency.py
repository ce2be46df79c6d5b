"""Fifty gifts at once against PostgreSQL: one release, a pool that never goes negative.

Fifty threads, each its own connection, settle a 100 EUR gift to the same
campaign at the same moment. The campaign is covered by a threshold commitment
(40 % of 10,000 releases 6,000) and a 1:1 ratio commitment whose pool holds
1,000, so the gifts both cross the threshold and exhaust the pool. The order
that decides is the database's commit order, read back from the journal's
sequence numbers of the gifts' entries.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from ledger.campaigns.donations import record_offline_donation
from ledger.core.models import JournalEntry
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.core.storage import make_engine
from tests.integration.grants_helpers import Books, eur

pytestmark = pytest.mark.postgres_only

GIFTS = 50


def test_fifty_concurrent_gifts_release_the_top_up_once_and_never_overdraw_the_pool(pg_url, clock):
    ledger = Ledger(make_engine(pg_url, pool_size=GIFTS, max_overflow=0), clock=clock)
    try:
        books = Books(ledger, goal="10000.00")
        threshold = books.commit(
            kind="threshold",
            pool_minor=eur("6000.00"),
            threshold_share="0.4",
            topup_share="0.6",
            topup_policy="fixed",
        )
        ratio = books.commit(ratio="1", pool_minor=eur("1000.00"))
        barrier = threading.Barrier(GIFTS, timeout=30)

        def give(i: int) -> int:
            def work(session: Any) -> int:
                donation, _ = record_offline_donation(
                    session,
                    books.campaign_id,
                    Money.parse("100.00", "EUR"),
                    method="cash",
                    person_id=None,
                    anonymous=True,
                    reference=None,
                    request_key=f"race-{i}",
                    donated_on=None,
                    actor="test",
                    clock=clock,
                )
                return int(donation.id)

            barrier.wait()
            return ledger.run(work)

        with ThreadPoolExecutor(max_workers=GIFTS) as pool:
            donation_ids = list(pool.map(give, range(GIFTS), timeout=120))
        assert len(set(donation_ids)) == GIFTS

        # Commit order: the sequence of each gift's entry in the journal.
        def order(session: Any) -> list[int]:
            keys = {f"donation:{d}:settle": d for d in donation_ids}
            rows = session.execute(
                select(JournalEntry.idempotency_key)
                .where(JournalEntry.idempotency_key.in_(keys))
                .order_by(JournalEntry.sequence)
            ).scalars()
            return [keys[k] for k in rows]

        committed = ledger.read(order)
        assert sorted(committed) == sorted(donation_ids)

        releases = books.entries_of_kind("match_release")
        assert len(releases) == 1, "exactly one release of the top-up"
        release = ledger.entry(releases[0]["sequence"])
        # The 40th gift in commit order brought the crowd to 4,000: it released.
        assert release.metadata["donation_id"] == committed[39]
        assert books.states(threshold)["released"] == eur("6000.00")
        assert [k for k, _ in books.events(threshold)].count("released") == 1

        matched = dict((d, m) for d, m, _ in books.matches(ratio))
        assert [matched[d] for d in committed] == [eur("100.00")] * 10 + [0] * 40
        states = books.states(ratio)
        assert states["pool_available"] == 0
        assert states["reserved"] == eur("1000.00")
        assert ledger.verify().ok
    finally:
        ledger.engine.dispose()
