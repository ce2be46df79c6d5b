"""Volunteer time and in-kind: figurative cost and income, valued by the rate table,
kept out of every cash balance."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.core.accounts import list_accounts
from ledger.core.balances import balance
from ledger.projects import accounts, commands
from ledger.projects.errors import InvalidProjectError
from ledger.projects.figurative import value_of
from tests.integration.commands_helpers import assert_once, footprint
from tests.integration.projects_world import build_world, eur


def test_hours_are_valued_at_the_rate_in_force_for_the_role_on_the_day(ledger, clock):
    world = build_world(ledger, clock)
    for hourly, valid_from in (("18.50", date(2026, 1, 1)), ("19.20", date(2026, 7, 1))):
        ledger.run(
            lambda s, h=hourly, v=valid_from: commands.set_volunteer_rate(
                s,
                role="educatore",
                hourly_minor=eur(h),
                valid_from=v,
                basis="CCNL cooperative sociali, livello C1",
                origin=world.origin(),
                clock=clock,
            )
        )
    person = world.volunteer()

    def hours(day, minutes, key):
        return ledger.run(
            lambda s: commands.record_volunteer_hours(
                s,
                world.project,
                person_id=person,
                activity="Doposcuola",
                role="educatore",
                minutes=minutes,
                done_on=day,
                origin=world.origin(),
                clock=clock,
                key=key,
            )
        ).value

    assert hours(date(2026, 3, 2), 90, "h1").value_minor == eur("27.75")
    assert hours(date(2026, 7, 2), 60, "h2").value_minor == eur("19.20")
    p = world.project
    assert ledger.balance(accounts.figurative_cost(p, "volunteer")).posted == eur("46.95")
    assert ledger.balance(accounts.figurative_income(p, "volunteer")).posted == eur("46.95")


def test_the_value_of_hours_is_rounded_half_up_to_the_cent():
    assert value_of(1001, 30) == 501  # 500.5 -> 501
    assert value_of(1000, 1) == 17  # 16.67 -> 17
    assert value_of(1850, 90) == 2775


def test_in_kind_is_recorded_once_per_key_and_no_cash_account_moves(ledger, clock):
    world = build_world(ledger, clock)

    def act(session, key):
        return commands.record_in_kind(
            session,
            world.project,
            description="Uso gratuito della sala civica",
            fair_value_minor=eur("1200.00"),
            received_on=date(2026, 4, 1),
            organisation_id=world.partner,
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    def conflicting(session, key):
        return commands.record_in_kind(
            session,
            world.project,
            description="Uso gratuito della sala civica",
            fair_value_minor=eur("1300.00"),
            received_on=date(2026, 4, 1),
            organisation_id=world.partner,
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    assert_once(ledger, act, conflicting)

    def moved(session):
        return {
            a.code: balance(session, a.code).posted
            for a in list_accounts(session)
            if balance(session, a.code).posted
        }

    assert ledger.read(moved) == {
        accounts.figurative_cost(world.project, "in_kind"): eur("1200.00"),
        accounts.figurative_income(world.project, "in_kind"): eur("1200.00"),
    }


def test_hours_of_someone_not_registered_or_a_role_without_a_rate_are_refused(ledger, clock):
    world = build_world(ledger, clock)
    enrolled = world.volunteer()
    before = footprint(ledger)
    for person, role in ((999, "educatore"), (enrolled, "nessuno")):
        with pytest.raises(InvalidProjectError):
            ledger.run(
                lambda s, p=person, r=role: commands.record_volunteer_hours(
                    s,
                    world.project,
                    person_id=p,
                    activity="x",
                    role=r,
                    minutes=60,
                    done_on=date(2026, 3, 1),
                    origin=world.origin(),
                    clock=clock,
                    key="k",
                )
            )
    assert footprint(ledger) == before


def test_volunteer_hours_twice_with_one_key_are_recorded_once(ledger, clock):
    world = build_world(ledger, clock)
    ledger.run(
        lambda s: commands.set_volunteer_rate(
            s,
            role="educatore",
            hourly_minor=eur("18.50"),
            valid_from=date(2026, 1, 1),
            origin=world.origin(),
            clock=clock,
        )
    )
    person = world.volunteer()

    def hours(minutes):
        return lambda session, key: commands.record_volunteer_hours(
            session,
            world.project,
            person_id=person,
            activity="Doposcuola",
            role="educatore",
            minutes=minutes,
            done_on=date(2026, 3, 2),
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    assert_once(ledger, hours(60), hours(90))
