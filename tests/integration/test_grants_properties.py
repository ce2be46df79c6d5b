"""Random sequences of gifts, refunds and a close under a ratio commitment, checked
after every step against the rule's promise: the foundation is never committed a
cent beyond floor(ratio x eligible money), its caps or its pool; every money state
adds up to its word; the books verify.

Each example runs on its own campaign and commitment in the test's database, through
the real services (one transaction per step), so a failing example is a sequence a
treasurer could have produced.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from ledger.grants.rules import _apply_rate
from tests.integration.grants_helpers import Books

RATIOS = ("0.30", "1", "2", "0.5")
examples = itertools.count()

step = st.one_of(
    st.tuples(st.just("give"), st.integers(min_value=1, max_value=60_000), st.integers(0, 3)),
    st.tuples(st.just("refund"), st.integers(min_value=0, max_value=20), st.integers(1, 100)),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ratio=st.sampled_from(RATIOS),
    pool=st.integers(min_value=100, max_value=200_000),
    donor_cap=st.one_of(st.none(), st.integers(min_value=100, max_value=50_000)),
    policy=st.sampled_from(("claw_back", "keep")),
    steps=st.lists(step, min_size=1, max_size=8),
    close=st.booleans(),
)
def test_matching_never_commits_beyond_its_rule_whatever_the_sequence(  # type: ignore[no-untyped-def]
    ledger, ratio, pool, donor_cap, policy, steps, close
):
    books = Books(ledger, goal="100000.00", suffix=f"-{next(examples)}")
    c = books.commit(
        ratio=ratio, pool_minor=pool, donor_cap_minor=donor_cap, clawback_policy=policy
    )
    people = [books.person(f"Donor{i}") for i in range(4)]
    gifts: list[tuple[int, int]] = []  # (donation id, amount still counted)
    donors: dict[int, int] = {}
    for action in steps:
        if action[0] == "give":
            _, amount, who = action
            gift = books.give(f"{amount // 100}.{amount % 100:02d}", person=people[who])
            gifts.append((gift, amount))
            donors[gift] = who
        elif gifts:
            _, index, percent = action
            gift, left = gifts[index % len(gifts)]
            if left <= 0:
                continue
            refund = max(1, left * percent // 100)
            books.refund(gift, f"{refund // 100}.{refund % 100:02d}")
            gifts[index % len(gifts)] = (gift, left - refund)
        check(books, c, ratio, pool, donor_cap, policy, gifts, donors)
    if close:
        books.close()
        check(books, c, ratio, pool, donor_cap, policy, gifts, donors)
    assert ledger.verify().ok


def check(books, c, ratio, pool, donor_cap, policy, gifts, donors) -> None:  # type: ignore[no-untyped-def]
    states = books.states(c)
    held = states["reserved"] + states["released"] + states["disbursed"] + states["earned"]
    assert states["pool_available"] >= 0
    assert held <= pool
    assert (
        states["pool_posted"]
        + states["earned"]
        + states["released"]
        + states["disbursed"]
        + states["clawback_due"]
        == states["word"]
        == pool
    )
    # What the gifts count now bounds the match, unless a refund was kept ("keep").
    counted = sum(left for _, left in gifts)
    if policy == "claw_back":
        assert held <= _apply_rate(counted, Decimal(ratio), rounding="ROUND_FLOOR")
    matches = books.matches(c)
    if donor_cap is not None:
        per_donor: dict[int, int] = {}
        for donation, match, _reason in matches:
            per_donor[donors[donation]] = per_donor.get(donors[donation], 0) + match
        assert all(total <= donor_cap for total in per_donor.values())
    if matches:
        allocation = books.allocation(c)
        if allocation.status != "forfeited":
            assert allocation.matched_minor == held
