"""Money in: a funder's advances, partners' cash, and a succeeded campaign paid out once,
by a second person."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ledger.campaigns import accounts as campaign_accounts
from ledger.campaigns import commands as campaign_commands
from ledger.core.journal import get_entry
from ledger.projects import accounts, commands
from ledger.projects.errors import FourEyesError, InvalidProjectError, PayoutError
from tests.integration.commands_helpers import assert_once, footprint
from tests.integration.projects_world import build_world, eur
from tests.integration.test_campaign_commands import TREASURER, cash_gift, new_campaign


def test_a_funders_advance_is_booked_once_per_key_to_the_projects_cash(ledger, clock):
    world = build_world(ledger, clock)

    def act(session, key):
        return commands.receive_grant(
            session,
            world.project,
            world.funder,
            eur("24000.00"),
            received_on=date(2026, 2, 1),
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    def conflicting(session, key):
        return commands.receive_grant(
            session,
            world.project,
            world.funder,
            eur("24000.01"),
            received_on=date(2026, 2, 1),
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    first = assert_once(ledger, act, conflicting)
    entry = ledger.read(lambda s: get_entry(s, sequence=first.value.sequence))
    assert entry.metadata["funder_id"] == world.funder
    assert ledger.balance(accounts.cash(world.project)).posted == eur("24000.00")
    assert ledger.balance(accounts.grants(world.project, world.funder)).posted == eur("24000.00")


def test_a_partners_cash_contribution_is_booked_and_an_outsider_is_refused(ledger, clock):
    world = build_world(ledger, clock)
    ledger.run(
        lambda s: commands.receive_contribution(
            s,
            world.project,
            world.partner,
            eur("5000.00"),
            origin=world.origin(),
            clock=clock,
            key="c1",
        )
    )
    assert ledger.balance(accounts.partners(world.project, world.partner)).posted == eur("5000.00")
    before = footprint(ledger)
    with pytest.raises(InvalidProjectError):
        ledger.run(
            lambda s: commands.receive_contribution(
                s,
                world.project,
                world.partner + 100,
                eur("5.00"),
                origin=world.origin(),
                clock=clock,
                key="c2",
            )
        )
    assert footprint(ledger) == before


def _succeeded_campaign(ledger, clock, amount="150.00"):
    campaign_id = new_campaign(ledger, goal="100.00")
    cash_gift(ledger, campaign_id, amount, "gift-1")
    clock.instant += timedelta(days=31)
    ledger.run(
        lambda s: campaign_commands.close_campaign(
            s, campaign_id, origin=TREASURER, clock=ledger.clock
        )
    )
    return campaign_id


def test_a_succeeded_campaign_pays_its_escrow_out_once_and_by_a_second_person(ledger, clock):
    world = build_world(ledger, clock)
    campaign_id = _succeeded_campaign(ledger, clock)
    p = world.project
    ledger.run(
        lambda s: commands.link_campaign(s, p, campaign_id, origin=world.origin(), clock=clock)
    )
    receipt = ledger.run(
        lambda s: commands.propose_payout(s, p, campaign_id, origin=world.origin(), clock=clock)
    ).value
    with pytest.raises(FourEyesError):
        ledger.run(lambda s: commands.pay_payout(s, receipt, origin=world.origin(), clock=clock))
    paid = ledger.run(
        lambda s: commands.pay_payout(s, receipt, origin=world.origin(world.second), clock=clock)
    ).value
    assert paid.amount_minor == eur("150.00")
    assert ledger.balance(campaign_accounts.escrow(campaign_id)).posted == 0
    assert ledger.balance(accounts.fundraising(p)).posted == eur("150.00")
    assert ledger.balance(accounts.cash(p)).posted == eur("150.00")
    with pytest.raises(PayoutError):
        ledger.run(
            lambda s: commands.pay_payout(
                s, receipt, origin=world.origin(world.second), clock=clock
            )
        )
    with pytest.raises(PayoutError):
        ledger.run(
            lambda s: commands.propose_payout(s, p, campaign_id, origin=world.origin(), clock=clock)
        )
    assert ledger.verify().ok


def test_a_campaign_that_is_still_live_or_not_linked_is_not_paid_out(ledger, clock):
    world = build_world(ledger, clock)
    campaign_id = new_campaign(ledger, goal="100.00")
    cash_gift(ledger, campaign_id, "150.00", "g")
    with pytest.raises(PayoutError):
        ledger.run(
            lambda s: commands.propose_payout(
                s, world.project, campaign_id, origin=world.origin(), clock=clock
            )
        )
    ledger.run(
        lambda s: commands.link_campaign(
            s, world.project, campaign_id, origin=world.origin(), clock=clock
        )
    )
    before = footprint(ledger)
    with pytest.raises(PayoutError):
        ledger.run(
            lambda s: commands.propose_payout(
                s, world.project, campaign_id, origin=world.origin(), clock=clock
            )
        )
    assert footprint(ledger) == before


def test_a_partners_contribution_twice_with_one_key_is_booked_once(ledger, clock):
    world = build_world(ledger, clock)

    def act(session, key):
        return commands.receive_contribution(
            session,
            world.project,
            world.partner,
            eur("100.00"),
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    def conflicting(session, key):
        return commands.receive_contribution(
            session,
            world.project,
            world.partner,
            eur("200.00"),
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    assert_once(ledger, act, conflicting)


def test_released_matching_money_is_paid_out_with_the_escrow_in_one_entry(ledger, clock):
    from ledger.core.journal import EntrySpec, PostingSpec
    from ledger.core.money import Money
    from ledger.grants import accounts as grant_accounts

    world = build_world(ledger, clock)
    campaign_id = _succeeded_campaign(ledger, clock)
    match = grant_accounts.campaign_match(campaign_id)
    # The foundation's disbursement of a released match reaching the bank (as
    # grants' record_disbursement books it): Dr bank, Cr the campaign's match.
    ledger.create_account(match, "liability")
    ledger.post(
        EntrySpec(
            idempotency_key="match-disbursed",
            kind="match_disbursement",
            postings=[
                PostingSpec(campaign_accounts.BANK, Money(eur("75.00"), "EUR")),
                PostingSpec(match, Money(-eur("75.00"), "EUR")),
            ],
        )
    )
    p = world.project
    ledger.run(
        lambda s: commands.link_campaign(s, p, campaign_id, origin=world.origin(), clock=clock)
    )
    receipt = ledger.run(
        lambda s: commands.propose_payout(s, p, campaign_id, origin=world.origin(), clock=clock)
    ).value
    paid = ledger.run(
        lambda s: commands.pay_payout(s, receipt, origin=world.origin(world.second), clock=clock)
    ).value
    assert paid.amount_minor == eur("225.00")
    entry = ledger.read(lambda s: get_entry(s, sequence=paid.sequence))
    assert {(leg.account, leg.amount.minor) for leg in entry.postings} == {
        (campaign_accounts.escrow(campaign_id), eur("150.00")),
        (accounts.fundraising(p), -eur("150.00")),
        (match, eur("75.00")),
        (accounts.matching(p), -eur("75.00")),
        (accounts.cash(p), eur("225.00")),
        (campaign_accounts.BANK, -eur("225.00")),
    }
    assert ledger.balance(match).posted == 0
    assert entry.metadata == {"project_id": p, "campaign_id": campaign_id, "receipt_id": receipt}


def test_a_projects_own_staff_cannot_link_a_campaign_or_pay_it_out(ledger, clock):
    """The attack of the security review (2026-12-07): two project staff of the lead
    organisation linked any campaign of the instance to their project, proposed its
    payout and paid it to themselves. Linking and paying are the treasury's acts; a
    project's staff may only propose. Refused with nothing written."""
    from ledger.commands import Origin
    from ledger.people.errors import NotAllowedError
    from tests.integration.projects_world import user

    world = build_world(ledger, clock)
    p = world.project
    campaign_id = _succeeded_campaign(ledger, clock)

    def staff_of_the_lead(session, email):
        member = user(session, email, ["project_staff"], clock.now())
        commands.add_organisation_member(
            session,
            organisation_id=world.lead,
            user_id=member,
            origin=Origin.command_line(),
            clock=clock,
        )
        return Origin(channel="web", user_id=member)

    one = ledger.run(lambda s: staff_of_the_lead(s, "uno@progetto.example.org"))
    two = ledger.run(lambda s: staff_of_the_lead(s, "due@progetto.example.org"))
    before = footprint(ledger)
    with pytest.raises(NotAllowedError):
        ledger.run(lambda s: commands.link_campaign(s, p, campaign_id, origin=one, clock=clock))
    assert footprint(ledger) == before
    ledger.run(
        lambda s: commands.link_campaign(s, p, campaign_id, origin=world.origin(), clock=clock)
    )
    receipt = ledger.run(
        lambda s: commands.propose_payout(s, p, campaign_id, origin=one, clock=clock)
    ).value
    before = footprint(ledger)
    with pytest.raises(NotAllowedError):
        ledger.run(lambda s: commands.pay_payout(s, receipt, origin=two, clock=clock))
    assert footprint(ledger) == before
    assert ledger.balance(campaign_accounts.escrow(campaign_id)).posted == eur("150.00")
    paid = ledger.run(
        lambda s: commands.pay_payout(s, receipt, origin=world.origin(), clock=clock)
    ).value
    assert paid.amount_minor == eur("150.00")
    with pytest.raises(NotAllowedError):
        ledger.run(
            lambda s: commands.set_volunteer_rate(
                s,
                role="cuoco",
                hourly_minor=eur("999.00"),
                valid_from=date(2026, 1, 1),
                origin=two,
                clock=clock,
            )
        )
    assert ledger.verify().ok
