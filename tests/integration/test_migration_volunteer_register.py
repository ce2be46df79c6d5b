"""Migration 0027_volunteer_register goes down and up again on a book that holds
enrolments: the table and its guards go with the downgrade and come back with the
upgrade, and the register works again after it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.migrate import downgrade, upgrade
from ledger.core.service import Ledger
from ledger.people.service import NewPerson, create_user
from ledger.projects import commands
from ledger.projects.errors import VolunteerRegisterError


def _person(ledger: Ledger, email: str) -> int:
    return int(
        ledger.run(
            lambda s: (
                create_user(
                    s,
                    NewPerson(email=email, full_name="Volontaria"),
                    roles=["donor"],
                    password=None,
                    now=ledger.clock.now(),
                ).person_id
            )
        )
    )


def _enrol(ledger: Ledger, person: int, day: date) -> int:
    return int(
        ledger.run(
            lambda s: (
                commands.enrol_volunteer(
                    s,
                    person_id=person,
                    enrolled_on=day,
                    origin=Origin.command_line(),
                    clock=ledger.clock,
                ).value.id
            )
        )
    )


def test_the_register_goes_down_and_up_with_its_guards(db_url: str, clock: FixedClock) -> None:
    ledger = Ledger.from_url(db_url, clock=clock)
    person = _person(ledger, "uno@example.org")
    _enrol(ledger, person, date(2026, 2, 1))
    ledger.engine.dispose()

    downgrade(db_url, "0026_engine_trigger")
    ledger = Ledger.from_url(db_url, clock=clock)
    assert "volunteer_enrolments" not in inspect(ledger.engine).get_table_names()
    ledger.engine.dispose()
    upgrade(db_url)

    ledger = Ledger.from_url(db_url, clock=clock)
    assert _enrol(ledger, person, date(2026, 3, 1)) == 1
    with pytest.raises(VolunteerRegisterError):
        _enrol(ledger, person, date(2026, 4, 1))
    with pytest.raises(DatabaseError):  # the guards came back with the table
        ledger.run(lambda s: s.execute(text("DELETE FROM volunteer_enrolments")))
    ledger.engine.dispose()
