"""Matching grants through the real services and the engine, with worked figures.

Each test drives a campaign under a foundation's commitment step by step (one
transaction per step, as requests and webhooks do) and asserts the match rows,
the grant log and every money-state account of the commitment in the engine.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ledger.core.clock import ROME
from ledger.grants.errors import InvalidCommitmentError
from ledger.grants.rules import completion_bonus  # noqa: F401  (documented figure below)
from tests.integration.grants_helpers import Books, call_with_campaigns, eur


def test_ten_gifts_of_33_33_at_0_30_are_matched_99_99_in_all_never_over_the_cap(ledger):
    books = Books(ledger)
    c = books.commit(ratio="0.30", campaign_cap_minor=eur("100.00"))
    for _ in range(10):
        books.give("33.33")
    matches = [m for _, m, _ in books.matches(c)]
    assert sum(matches) == eur("99.99")
    assert matches == [999] + [1000] * 9  # floor(0.30 x 33.33 x k) - floor(0.30 x 33.33 x (k-1))
    assert books.states(c)["reserved"] == eur("99.99")
    assert books.close() == "closed"
    states = books.states(c)
    assert states["released"] == eur("99.99") <= eur("100.00")
    assert states["reserved"] == 0 and states["earned"] == 0
    assert states["pool_posted"] == eur("100000.00") - eur("99.99")
    assert ledger.verify().ok


def test_a_donor_capped_at_1000_is_matched_600_then_400_then_nothing(ledger):
    books = Books(ledger)
    c = books.commit(ratio="1", donor_cap_minor=eur("1000.00"))
    anna = books.person("Anna")
    books.give("600.00", person=anna)
    books.give("600.00", person=anna)
    books.give("50.00", person=anna)
    other = books.give("600.00", person=books.person("Bruno"))
    got = books.matches(c)
    assert [(m, r) for _, m, r in got] == [
        (eur("600.00"), "matched"),
        (eur("400.00"), "donor_cap"),
        (0, "donor_cap"),
        (eur("600.00"), "matched"),
    ]
    assert got[3][0] == other
    assert books.states(c)["reserved"] == eur("1600.00")


def test_the_last_10_eur_of_a_pool_go_to_the_first_gift_committed(ledger):
    books = Books(ledger)
    c = books.commit(ratio="1", pool_minor=eur("10.00"))
    first = books.give("20.00")
    second = books.give("20.00")
    assert books.matches(c) == [(first, eur("10.00"), "pool_limit"), (second, 0, "pool_limit")]
    states = books.states(c)
    assert states["pool_available"] == 0 and states["reserved"] == eur("10.00")


def test_gifts_outside_the_rule_are_recorded_with_their_reason_and_no_match(ledger):
    books = Books(ledger)
    c = books.commit(ratio="2", methods=("card",), min_gift_minor=eur("5.00"))
    cash = books.give("50.00")
    small = books.give_card("4.99", "0.30")
    card = books.give_card("10.00", "0.40")
    assert books.matches(c) == [
        (cash, 0, "method_not_eligible"),
        (small, 0, "below_minimum"),
        (card, eur("20.00"), "matched"),
    ]


def test_net_counting_matches_what_reached_the_programme_after_fees(ledger):
    books = Books(ledger)
    c = books.commit(ratio="1", methods=("card",), count_net=True)
    books.give_card("10.00", "0.40")
    assert [m for _, m, _ in books.matches(c)] == [eur("9.60")]


def milano(books: Books, **overrides):  # type: ignore[no-untyped-def]
    """Raise 40 % of the budget and the foundation adds 60 %, up to 48,000."""
    settings = dict(
        kind="threshold",
        pool_minor=eur("48000.00"),
        threshold_share="0.4",
        topup_share="0.6",
        topup_cap_minor=eur("48000.00"),
        topup_policy="fixed",
    )
    settings.update(overrides)
    return books.commit(**settings)


def test_a_0_01_gift_on_19_999_99_crosses_the_40_percent_threshold_and_releases_once(ledger):
    books = Books(ledger, goal="50000.00")
    c = milano(books)
    assert books.states(c)["reserved"] == eur("30000.00")  # reserved on the pool at once
    books.give("19999.99")
    assert books.allocation(c).status == "open"
    crossing = books.give("0.01")
    books.give("100.00")  # a later gift changes nothing
    assert [k for k, _ in books.events(c)].count("released") == 1
    releases = books.entries_of_kind("match_release")
    assert len(releases) == 1
    states = books.states(c)
    assert states["released"] == eur("30000.00")
    assert states["reserved"] == 0
    assert states["pool_posted"] == eur("18000.00")
    assert states["word"] == eur("48000.00")
    entry = ledger.entry(releases[0]["sequence"])
    assert entry.metadata["donation_id"] == crossing
    assert ledger.verify().ok


@pytest.mark.parametrize(
    ("policy", "topup"), [("fixed", "30000.00"), ("remaining_to_goal", "23000.00")]
)
def test_an_overshoot_to_27000_releases_by_the_top_up_policy(ledger, policy, topup):
    books = Books(ledger, goal="50000.00")
    c = milano(books, topup_policy=policy)
    books.give("19000.00")
    books.give("8000.00")
    assert books.states(c)["released"] == eur(topup)
    # What the reservation held beyond the release went back to the pool.
    assert books.states(c)["pool_available"] == eur("48000.00") - eur(topup)


def test_raise_40_percent_and_we_add_60_percent_up_to_48000_on_a_budget_of_80000(ledger):
    books = Books(ledger, goal="80000.00")
    c = milano(books)
    books.give("32000.00")
    assert books.states(c)["released"] == eur("48000.00")
    assert books.states(c)["pool_posted"] == 0


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME)


@pytest.mark.parametrize(
    ("at", "released"),
    [
        (rome(2026, 3, 29, 23, 59, 59), True),  # the last second of the window, after DST
        (rome(2026, 3, 30, 0, 0, 0), False),  # the first second after it
    ],
)
def test_a_window_ends_at_23_59_59_rome_time_across_the_daylight_saving_change(
    ledger, at, released
):
    ledger.clock.instant = rome(2026, 3, 20, 12, 0).astimezone(UTC)
    books = Books(ledger, goal="1000.00")
    c = milano(
        books,
        window_start=rome(2026, 3, 28, 0, 0, 0),  # CET (UTC+1)
        window_end=rome(2026, 3, 29, 23, 59, 59),  # CEST (UTC+2): clocks went forward at 02:00
    )
    books.give("300.00")
    ledger.clock.instant = at.astimezone(UTC)
    books.give("100.00")
    assert (books.allocation(c).status == "released") is released
    assert books.states(c)["released"] == (eur("600.00") if released else 0)


def test_the_threshold_needs_its_minimum_number_of_distinct_donors(ledger):
    books = Books(ledger, goal="1000.00")
    c = milano(books, min_donors=3)
    anna = books.person("Anna")
    books.give("300.00", person=anna)
    books.give("300.00", person=anna)
    assert books.allocation(c).status == "open"  # 600 raised, one donor
    books.give("1.00", person=books.person("Bruno"))
    assert books.allocation(c).status == "open"
    books.give("1.00")  # an anonymous gift is a donor of its own
    assert books.allocation(c).status == "released"


def test_a_refund_after_release_claws_the_top_up_back_and_a_new_crossing_releases_again(ledger):
    books = Books(ledger, goal="50000.00")
    c = milano(books, clawback_policy="claw_back")
    books.give("10000.00")
    big = books.give("10000.00")
    assert books.states(c)["released"] == eur("30000.00")
    books.refund(big, "0.01")
    states = books.states(c)
    assert states["released"] == 0
    assert states["reserved"] == eur("30000.00")  # reserved again for a new crossing
    assert [k for k, _ in books.events(c)][-2:] == ["clawback", "reserved"]
    books.give("0.01")
    assert books.states(c)["released"] == eur("30000.00")
    assert len(books.entries_of_kind("match_release")) == 2
    assert len(books.entries_of_kind("match_clawback")) == 1
    assert ledger.verify().ok


def test_a_refund_after_release_under_keep_leaves_the_top_up_and_says_so(ledger):
    books = Books(ledger, goal="50000.00")
    c = milano(books, clawback_policy="keep")
    books.give("10000.00")
    big = books.give("10000.00")
    books.refund(big, "5000.00")
    assert books.states(c)["released"] == eur("30000.00")
    assert books.events(c)[-1] == ("clawback_kept", eur("30000.00"))
    assert books.entries_of_kind("match_clawback") == []


def test_a_refund_of_a_matched_gift_claws_its_match_back_from_the_reservation(ledger):
    books = Books(ledger)
    c = books.commit(ratio="2", clawback_policy="claw_back")
    first = books.give("10.00")
    books.give("5.00")
    books.refund(first, "4.00")
    assert books.states(c)["reserved"] == eur("22.00")  # 2 x (6 + 5)
    assert books.events(c)[-1] == ("clawback", eur("8.00"))
    books.close()
    assert books.states(c)["released"] == eur("22.00")


def test_a_refund_under_keep_leaves_the_match_and_logs_the_excess(ledger):
    books = Books(ledger)
    c = books.commit(ratio="2", clawback_policy="keep")
    first = books.give("10.00")
    books.refund(first, "4.00")
    assert books.states(c)["reserved"] == eur("20.00")
    assert books.events(c)[-1] == ("clawback_kept", eur("8.00"))


def test_a_refund_after_the_match_was_disbursed_becomes_clawback_due(ledger):
    from ledger.grants.matching import record_disbursement, repay_clawback

    books = Books(ledger)
    c = books.commit(ratio="1", clawback_policy="claw_back")
    gift = books.give("100.00")
    books.close()
    ledger.run(
        lambda s: record_disbursement(
            s,
            c,
            books.campaign_id,
            eur("100.00"),
            key="bonifico-1",
            clock=ledger.clock,
            actor="test",
        )
    )
    assert books.states(c)["disbursed"] == eur("100.00")
    assert ledger.balance(f"liabilities:campaigns:{books.campaign_id}:match").posted == eur(
        "100.00"
    )
    books.refund(gift, "30.00")
    states = books.states(c)
    assert states["disbursed"] == eur("70.00")
    assert states["clawback_due"] == eur("30.00")
    assert ledger.balance(f"liabilities:grants:{c}:clawback").posted == eur("30.00")
    ledger.run(
        lambda s: repay_clawback(
            s,
            c,
            books.campaign_id,
            eur("30.00"),
            key="restituzione-1",
            clock=ledger.clock,
            actor="test",
        )
    )
    states = books.states(c)
    assert states["clawback_due"] == 0
    assert states["pool_posted"] == eur("100000.00") - eur("70.00")
    assert ledger.verify().ok


def test_a_failed_campaign_forfeits_its_reserved_match_back_to_the_pool(ledger):
    books = Books(ledger, goal="1000.00", model="all_or_nothing")
    ratio = books.commit(ratio="1", pool_minor=eur("500.00"))
    threshold = milano(books, pool_minor=eur("600.00"), threshold_share="0.9")
    books.give("100.00")
    books.give("200.00")
    assert books.states(ratio)["reserved"] == eur("300.00")
    assert books.states(threshold)["reserved"] == eur("600.00")
    assert books.close() == "failed"
    for c, word in ((ratio, "500.00"), (threshold, "600.00")):
        states = books.states(c)
        assert states["reserved"] == 0 and states["released"] == 0
        assert states["pool_available"] == eur(word)
    assert [k for k, _ in books.events(ratio)].count("forfeited") == 2
    assert ledger.verify().ok


def test_a_succeeded_campaign_forfeits_a_threshold_it_never_reached(ledger):
    books = Books(ledger, goal="1000.00")
    c = milano(books)
    books.give("100.00")
    books.close()
    assert books.allocation(c).status == "forfeited"
    assert books.states(c)["pool_available"] == eur("48000.00")


def test_the_completion_bonus_replaces_the_top_up_when_the_crowd_alone_reaches_the_goal(ledger):
    books = Books(ledger, goal="30000.00")
    c = books.commit(
        kind="threshold",
        pool_minor=eur("7500.00"),
        threshold_share="0.75",
        topup_share="0.25",
        topup_cap_minor=eur("7500.00"),
        topup_policy="fixed",
        bonus_share="0.05",
    )
    books.give("30000.00")
    assert books.states(c)["released"] == eur("1500.00")  # 5 % of 30,000, not 7,500


def test_every_money_state_sums_to_the_foundations_word(ledger):
    books = Books(ledger, goal="2000.00")
    c = books.commit(ratio="1", pool_minor=eur("1000.00"))
    a = books.give("300.00")
    books.give("200.00")
    books.refund(a, "100.00")
    states = books.states(c)
    assert (
        states["pool_posted"]
        + states["earned"]
        + states["released"]
        + states["disbursed"]
        + states["clawback_due"]
        == states["word"]
        == eur("1000.00")
    )


def test_cancelling_a_commitment_ends_its_reservations_and_returns_the_unreserved_pool(ledger):
    from ledger.grants.service import cancel_commitment

    books = Books(ledger, goal="50000.00")
    c = milano(books)
    books.give("100.00")
    ledger.run(lambda s: cancel_commitment(s, c, clock=ledger.clock, actor="test"))
    states = books.states(c)
    assert states["reserved"] == 0 and states["pool_posted"] == 0 and states["word"] == 0
    books.give("30000.00")  # no longer covered: nothing is released
    assert books.states(c)["released"] == 0


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"ratio": None}, "ratio"),
        ({"ratio": "-1"}, "ratio"),
        ({"ratio": "abc"}, "ratio"),
        ({"pool_minor": 0}, "pool_minor"),
        ({"clawback_policy": "maybe"}, "clawback_policy"),
        ({"methods": ("cheque",)}, "methods"),
        ({"window_end": datetime(2025, 1, 1, tzinfo=UTC)}, "end"),
    ],
)
def test_a_bad_setting_is_refused_with_its_field_and_nothing_is_written(ledger, settings, field):
    books = Books(ledger)
    before = ledger.read(lambda s: len(ledger.accounts()))
    with pytest.raises(InvalidCommitmentError) as refused:
        books.commit(**{"ratio": "1", **settings})
    assert refused.value.details.get("field") == field
    assert ledger.read(lambda s: len(ledger.accounts())) == before


def test_a_retried_settlement_is_matched_once(ledger):
    from ledger.campaigns.donations import get_donation, settle

    books = Books(ledger)
    c = books.commit(ratio="1")
    gift = books.give("10.00")

    def again(session):  # type: ignore[no-untyped-def]
        donation = get_donation(session, gift, lock=True)
        return settle(
            session,
            donation,
            gross_minor=eur("10.00"),
            fee_minor=0,
            clock=ledger.clock,
            actor="test",
        )

    assert ledger.run(again) is False
    assert len(books.matches(c)) == 1
    assert books.states(c)["reserved"] == eur("10.00")


def test_a_ratio_of_decimal_strings_is_exact(ledger):
    books = Books(ledger)
    c = books.commit(ratio=str(Decimal("1") / Decimal("3"))[:12])
    books.give("3.00")
    assert [m for _, m, _ in books.matches(c)] == [99]  # floor(0.3333333333 x 300)


def test_quote_says_what_a_gift_would_add_now(ledger):
    from ledger.grants.queries import quote

    books = Books(ledger, goal="1000.00")
    books.commit(ratio="1", pool_minor=eur("410.00"))
    milano(books)
    books.give("395.00")
    q = ledger.read(lambda s: quote(s, books.campaign_id, eur("10.00"), now=ledger.clock.now()))
    assert q.match_minor == eur("10.00")
    assert q.topup_minor == eur("600.00")  # this gift would reach 40 % of 1,000
    assert q.total_minor == eur("620.00")
    books.give("10.00")
    q = ledger.read(lambda s: quote(s, books.campaign_id, eur("10.00"), now=ledger.clock.now()))
    assert (q.match_minor, q.topup_minor) == (eur("5.00"), 0)  # the pool has 5 left


def test_a_gift_a_second_after_the_window_is_not_matched(ledger):
    books = Books(ledger)
    end = ledger.clock.now() + timedelta(hours=1)
    c = books.commit(ratio="1", window_end=end)
    ledger.clock.instant = end.replace(microsecond=999_999)
    books.give("10.00")
    ledger.clock.instant = end + timedelta(seconds=1)
    books.give("10.00")
    assert [(m, r) for _, m, r in books.matches(c)] == [
        (eur("10.00"), "matched"),
        (0, "outside_window"),
    ]


def test_a_commitment_toward_a_call_matches_every_campaign_of_it_from_one_pool(ledger):
    books = Books(ledger)
    (first, second), c = call_with_campaigns(books, ("500.00", "500.00"), pool_minor=eur("30.00"))
    for campaign_id in (first, second, books.campaign_id):
        books.campaign_id = campaign_id
        books.give("20.00")
    got = books.matches(c)
    assert [m for _, m, _ in got] == [eur("20.00"), eur("10.00")]  # the pool is shared
    assert books.states(c)["pool_available"] == 0


def test_a_threshold_commitment_on_a_campaign_already_past_it_releases_at_once(ledger):
    books = Books(ledger, goal="1000.00")
    books.give("450.00")
    c = milano(books)
    assert books.allocation(c).status == "released"
    assert books.states(c)["released"] == eur("600.00")


def test_a_lost_dispute_on_a_matched_gift_claws_the_match_back(ledger):
    from ledger.campaigns.donations import get_donation
    from ledger.campaigns.refunds import apply_dispute

    books = Books(ledger)
    c = books.commit(ratio="1", methods=("card",))
    gift = books.give_card("100.00", "1.65")
    books.give_card("50.00", "1.00")

    def dispute(session, txs, final, status):  # type: ignore[no-untyped-def]
        donation = get_donation(session, gift, lock=True)
        return apply_dispute(
            session,
            donation,
            dispute_id="dp_1",
            status=status,
            balance_transactions=txs,
            final=final,
            clock=ledger.clock,
            actor="test",
        )

    ledger.run(lambda s: dispute(s, [(-10000, 1500)], False, "needs_response"))
    assert books.states(c)["reserved"] == eur("50.00")
    assert books.events(c)[-1] == ("clawback", eur("100.00"))
    ledger.run(lambda s: dispute(s, [(-10000, 1500), (10000, 0)], True, "won"))
    # Won back: the gift counts again, but a clawed-back match is not re-offered.
    assert books.states(c)["reserved"] == eur("50.00")
    assert ledger.verify().ok


def test_a_retried_disbursement_is_booked_and_counted_once(ledger):
    from ledger.core.errors import IdempotencyConflictError
    from ledger.grants.matching import record_disbursement

    books = Books(ledger)
    c = books.commit(ratio="1")
    books.give("100.00")
    books.close()

    def pay(amount: str, ref: str):  # type: ignore[no-untyped-def]
        return ledger.run(
            lambda s: record_disbursement(
                s, c, books.campaign_id, eur(amount), key=ref, clock=ledger.clock, actor="t"
            )
        )

    first = pay("40.00", "BANK-1")
    assert pay("40.00", "BANK-1") == first  # a retry, also once 40 of 60 would not fit
    allocation = books.allocation(c)
    assert (allocation.released_minor, allocation.disbursed_minor) == (eur("60.00"), eur("40.00"))
    states = books.states(c)
    assert (states["released"], states["disbursed"]) == (eur("60.00"), eur("40.00"))
    with pytest.raises(IdempotencyConflictError):
        pay("50.00", "BANK-1")
    assert [k for k, _ in books.events(c)].count("disbursed") == 1


def test_a_refund_under_a_call_wide_donor_cap_claws_back_what_the_cap_would_not_have_given(
    ledger,
):
    """Donor P used the whole cap on campaign A; on campaign B P's gift got nothing, Q's
    got 50. Refunding Q must take Q's 50 back: replaying B alone would wrongly let P's
    gift take the room."""
    books = Books(ledger)
    (a, b), c = call_with_campaigns(
        books, ("900.00", "900.00"), pool_minor=eur("1000.00"), donor_cap_minor=eur("100.00")
    )
    p, q = books.person("Piera"), books.person("Quinto")
    books.campaign_id = a
    books.give("100.00", person=p)
    books.campaign_id = b
    books.give("100.00", person=p)
    q_gift = books.give("50.00", person=q)
    assert [m for _, m, _ in books.matches(c)] == [eur("100.00"), 0, eur("50.00")]
    books.refund(q_gift)
    assert books.events(c)[-1] == ("clawback", eur("50.00"))
    assert books.states(c)["reserved"] == eur("100.00")


def test_keep_logs_only_what_each_refund_adds_to_the_money_kept(ledger):
    books = Books(ledger, goal="50000.00")
    c = milano(books, clawback_policy="keep")
    books.give("10000.00")
    big = books.give("10000.00")
    books.refund(big, "100.00")
    books.refund(big, "100.00")
    kept = [amount for kind, amount in books.events(c) if kind == "clawback_kept"]
    assert kept == [eur("30000.00")]  # the second refund adds nothing new to report


def test_a_cancelled_commitment_honours_the_matches_it_reserved_and_returns_the_rest(ledger):
    from ledger.grants.service import cancel_commitment

    books = Books(ledger, goal="1000.00", model="all_or_nothing")
    c = books.commit(ratio="1", pool_minor=eur("500.00"))
    gift = books.give("100.00")
    ledger.run(lambda s: cancel_commitment(s, c, clock=ledger.clock, actor="test"))
    states = books.states(c)
    assert (states["reserved"], states["pool_available"]) == (eur("100.00"), 0)
    assert states["word"] == eur("100.00")  # only what donors were shown stays promised
    books.give("50.00")  # not matched any more
    assert books.states(c)["reserved"] == eur("100.00")
    books.refund(gift, "40.00")  # the clawed-back 40 goes back to the foundation
    states = books.states(c)
    assert (states["reserved"], states["pool_available"], states["word"]) == (
        eur("60.00"),
        0,
        eur("60.00"),
    )
    assert books.close() == "failed"  # the campaign fails: the rest goes back too
    states = books.states(c)
    assert (states["reserved"], states["pool_posted"], states["word"]) == (0, 0, 0)
    assert ledger.verify().ok


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"threshold_share": "0.4"}, "threshold_share"),
        ({"bonus_share": "0.05"}, "bonus_share"),
        ({"call_id": 999, "campaign_id": None}, "call_id"),
    ],
)
def test_a_ratio_commitment_refuses_threshold_settings_and_unknown_calls(ledger, settings, field):
    books = Books(ledger)
    with pytest.raises(InvalidCommitmentError) as refused:
        books.commit(**{"ratio": "1", **settings})
    assert refused.value.details.get("field") == field


def test_a_top_up_released_is_never_more_than_the_pool_could_reserve(ledger):
    books = Books(ledger, goal="1000.00")
    c = milano(books, pool_minor=eur("1.00"), topup_cap_minor=None)
    assert books.states(c)["reserved"] == eur("1.00")  # 600 asked, 1 in the pool
    books.give("500.00")
    assert books.states(c)["released"] == eur("1.00")


def test_a_call_wide_threshold_says_once_when_its_pool_has_nothing_left_to_reserve(ledger):
    books = Books(ledger)
    (first, second), c = call_with_campaigns(
        books,
        ("1000.00", "1000.00"),
        kind="threshold",
        ratio=None,
        pool_minor=eur("600.00"),
        threshold_share="0.4",
        topup_share="0.6",
        topup_policy="fixed",
    )
    books.campaign_id = second
    books.give("100.00")
    books.give("500.00")  # past 40 %: nothing was reserved for it, nothing is released
    events = [(kind, amount) for kind, amount in books.events(c) if kind == "reserved"]
    assert events == [("reserved", eur("600.00")), ("reserved", 0)]
    assert books.allocation(c).status == "forfeited"
    books.campaign_id = first
    books.give("400.00")
    assert books.states(c)["released"] == eur("600.00")


def test_a_card_gift_settled_after_success_is_matched_and_released_at_once(ledger):
    """The late match writes its allocation's figures by a statement and hands the same
    allocation object to the release that follows in the unit: the release must start
    from the figures the match wrote, so nothing stays reserved."""
    from ledger.campaigns.donations import Limits, settle, start_online_donation
    from ledger.core.money import Money

    books = Books(ledger, goal="100.00")
    c = books.commit(ratio="1")
    books.give("100.00")

    def start(session):
        donation, _ = start_online_donation(
            session,
            books.campaign_id,
            Money.parse("40.00", "EUR"),
            person_id=None,
            anonymous=True,
            request_key="late-card",
            limits=Limits(),
            clock=ledger.clock,
        )
        return donation.id

    late = ledger.run(start)
    books.close()
    assert books.states(c)["released"] == eur("100.00")

    def pay(session):
        from ledger.campaigns.models import Donation

        settle(
            session,
            session.get(Donation, late),
            gross_minor=eur("40.00"),
            fee_minor=eur("1.00"),
            clock=ledger.clock,
            actor="test",
        )

    ledger.run(pay)
    assert [(d, m) for d, m, _ in books.matches(c)][-1] == (late, eur("40.00"))
    allocation = books.allocation(c)
    assert (allocation.reserved_minor, allocation.released_minor) == (0, eur("140.00"))
    states = books.states(c)
    assert (states["reserved"], states["released"]) == (0, eur("140.00"))
    assert ledger.verify().ok
