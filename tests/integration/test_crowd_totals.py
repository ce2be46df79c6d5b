"""The running crowd total of a campaign (`ledger.campaigns.crowd`, migration 0020).

The threshold check reads the campaign's running totals instead of summing every
gift; they must always equal that sum. Random sequences of cash and card gifts
(named donors, repeat donors, anonymous ones, fees), partial and full refunds and
dispute withdrawals and reinstatements, each step in its own transaction through
the real services, are compared after every step with the sum the threshold check
used to compute, written here as the SQL it was.
"""

from __future__ import annotations

import itertools
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from sqlalchemy import case, func, select

from ledger.campaigns.crowd import recount
from ledger.campaigns.getters import get_donation
from ledger.campaigns.models import Campaign, Donation
from ledger.campaigns.refunds import apply_dispute
from ledger.core.migrate import upgrade
from ledger.grants.matching import crowd
from tests.integration.grants_helpers import Books

examples = itertools.count()

step = st.one_of(
    st.tuples(st.just("cash"), st.integers(1, 60_000), st.integers(0, 3)),
    st.tuples(st.just("card"), st.integers(200, 60_000), st.integers(0, 3)),
    st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 100)),
    st.tuples(st.just("dispute"), st.integers(0, 20), st.integers(1, 100)),
)


def summed(session: Any, campaign_id: int, *, count_net: bool) -> tuple[int, int]:
    """What the threshold check summed over every gift before the running totals."""
    counted = Donation.amount_minor - Donation.refunded_minor - Donation.withdrawn_minor
    if count_net:
        counted = counted - Donation.fee_minor
    live = (Donation.campaign_id == campaign_id) & (Donation.status == "settled")
    positive = Donation.amount_minor - Donation.refunded_minor - Donation.withdrawn_minor > 0
    raised, people, strangers = session.execute(
        select(
            func.coalesce(func.sum(case((counted > 0, counted), else_=0)), 0),
            func.count(func.distinct(Donation.person_id)),
            func.coalesce(func.sum(case((Donation.person_id.is_(None), 1), else_=0)), 0),
        ).where(live, positive)
    ).one()
    return int(raised), int(people) + int(strangers)


def assert_totals_equal_the_sum(books: Books) -> None:
    def work(session: Any) -> None:
        for count_net in (False, True):
            expected = summed(session, books.campaign_id, count_net=count_net)
            assert crowd(session, books.campaign_id, count_net=count_net) == expected
        row = session.get(Campaign, books.campaign_id)
        assert (row.crowd_gross_minor, row.crowd_net_minor, row.crowd_donors) == tuple(
            recount(session, books.campaign_id)
        )

    books.ledger.read(work)


def dispute(books: Books, donation_id: int, number: int, withdrawn: int, back: bool) -> None:
    """Stripe withdraws `withdrawn` of a card gift; with `back`, the dispute is won."""
    txs = [(-withdrawn, 1500)] + ([(withdrawn, 0)] if back else [])

    def work(session: Any) -> None:
        donation = get_donation(session, donation_id, lock=True)
        apply_dispute(
            session,
            donation,
            dispute_id=f"dp_{books.suffix}_{number}",
            status="won" if back else "needs_response",
            balance_transactions=txs,
            final=back,
            clock=books.ledger.clock,
            actor="test",
        )

    books.ledger.run(work)


def money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=10))
def test_the_running_crowd_total_equals_the_sum_of_the_gifts_after_any_sequence(  # type: ignore[no-untyped-def]
    ledger, steps
):
    books = Books(ledger, goal="100000.00", suffix=f"-crowd-{next(examples)}")
    people: list[int | None] = [books.person(f"Donor{i}") for i in range(3)] + [None]
    gifts: list[tuple[int, int, bool]] = []  # (donation id, amount still counted, by card)
    for number, action in enumerate(steps):
        kind, first, second = action
        if kind == "cash":
            gifts.append((books.give(money(first), person=people[second]), first, False))
        elif kind == "card":
            fee = min(first - 1, 35 + first // 50)
            gift = books.give_card(money(first), money(fee), person=people[second])
            gifts.append((gift, first, True))
        elif gifts:
            index = first % len(gifts)
            gift, left, by_card = gifts[index]
            if left <= 0:
                continue
            amount = max(1, left * second // 100)
            if kind == "refund":
                books.refund(gift, money(amount))
                gifts[index] = (gift, left - amount, by_card)
            elif by_card:
                back = second % 3 == 0  # now and then the dispute is won at once
                dispute(books, gift, number, amount, back)
                gifts[index] = (gift, left if back else left - amount, by_card)
        assert_totals_equal_the_sum(books)


def test_the_migration_fills_the_totals_of_campaigns_that_have_gifts(ledger, db_url):
    books = Books(ledger, goal="1000.00")
    anna, bruno = books.person("Anna"), books.person("Bruno")
    books.give("10.00", person=anna)
    books.give("20.00", person=anna)
    books.give_card("30.00", "1.00", person=bruno)
    books.give("5.00")
    refunded = books.give("7.00", person=bruno)
    books.refund(refunded)
    expected = ledger.read(lambda s: tuple(recount(s, books.campaign_id)))
    assert expected == (eur_minor("65.00"), eur_minor("64.00"), 3)

    ledger.engine.dispose()
    from ledger.core.migrate import downgrade

    downgrade(db_url, "0024_project_members")
    upgrade(db_url)
    after = ledger.read(
        lambda s: s.execute(
            select(
                Campaign.crowd_gross_minor, Campaign.crowd_net_minor, Campaign.crowd_donors
            ).where(Campaign.id == books.campaign_id)
        ).one()
    )
    assert tuple(after) == expected


def eur_minor(text: str) -> int:
    whole, cents = text.split(".")
    return int(whole) * 100 + int(cents)
