"""The register of volunteers (art. 17 c.1 CTS): enrolment and its end as use cases (once
per key, audited by ids), one open period per person, periods that never overlap, and
volunteer hours counted only on a day the person was enrolled; a refusal writes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DatabaseError

from ledger.audit.models import AuditEvent
from ledger.people.models import User
from ledger.projects import commands
from ledger.projects.errors import (
    EnrolmentNotFoundError,
    InvalidProjectError,
    VolunteerRegisterError,
)
from ledger.projects.models import FigurativeItem, VolunteerEnrolment
from tests.integration.commands_helpers import assert_once, footprint
from tests.integration.projects_world import ProjectWorld, build_world, eur
from tests.integration.test_concurrency import in_parallel

D = date


def _world(ledger, clock) -> tuple[ProjectWorld, int]:
    world = build_world(ledger, clock)
    world.run(
        lambda s: commands.set_volunteer_rate(
            s,
            role="educatore",
            hourly_minor=eur("18.50"),
            valid_from=D(2026, 1, 1),
            origin=world.origin(),
            clock=clock,
        )
    )
    person = world.read(lambda s: s.get(User, world.staff).person_id)
    return world, person


def _enrol(world, person, day, *, key=None, activity=None):
    return world.run(
        lambda s: commands.enrol_volunteer(
            s,
            person_id=person,
            enrolled_on=day,
            activity=activity,
            origin=world.origin(),
            clock=world.clock,
            key=key,
        )
    )


def _end(world, day, *, enrolment=None, person=None, key=None):
    return world.run(
        lambda s: commands.end_volunteer(
            s,
            enrolment_id=enrolment,
            person_id=person,
            ended_on=day,
            origin=world.origin(),
            clock=world.clock,
            key=key,
        )
    )


def _hours(world, person, day, key, minutes=60):
    return world.run(
        lambda s: commands.record_volunteer_hours(
            s,
            world.project,
            person_id=person,
            activity="Doposcuola",
            role="educatore",
            minutes=minutes,
            done_on=day,
            origin=world.origin(),
            clock=world.clock,
            key=key,
        )
    )


def _rows(world):
    return world.read(
        lambda s: [
            (r.person_id, r.enrolled_on, r.ended_on, r.activity)
            for r in s.scalars(select(VolunteerEnrolment).order_by(VolunteerEnrolment.id))
        ]
    )


def test_a_person_is_enrolled_and_ended_once_per_key_audited_by_ids_only(ledger, clock):
    world, person = _world(ledger, clock)

    def enrol(session, key):
        return commands.enrol_volunteer(
            session,
            person_id=person,
            enrolled_on=D(2026, 2, 1),
            activity="  Doposcuola   e studio ",
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    def enrol_other_day(session, key):
        return commands.enrol_volunteer(
            session,
            person_id=person,
            enrolled_on=D(2026, 2, 2),
            activity="Doposcuola e studio",
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    enrolment = assert_once(ledger, enrol, enrol_other_day, key="enrol-1").value.id

    def end(session, key):
        return commands.end_volunteer(
            session,
            enrolment_id=enrolment,
            ended_on=D(2026, 5, 31),
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    def end_other_day(session, key):
        return commands.end_volunteer(
            session,
            enrolment_id=enrolment,
            ended_on=D(2026, 6, 1),
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    assert assert_once(ledger, end, end_other_day, key="end-1").value.id == enrolment
    assert _rows(world) == [(person, D(2026, 2, 1), D(2026, 5, 31), "Doposcuola e studio")]
    events = world.read(
        lambda s: [
            (e.action, e.subject_type, e.subject_id, e.details)
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.in_(["project.enrol_volunteer", "project.end_volunteer"]))
                .order_by(AuditEvent.id)
            )
        ]
    )
    assert events == [
        (
            "project.enrol_volunteer",
            "volunteer_enrolment",
            str(enrolment),
            {"person": person, "from": "2026-02-01"},
        ),
        (
            "project.end_volunteer",
            "volunteer_enrolment",
            str(enrolment),
            {"person": person, "to": "2026-05-31"},
        ),
    ]
    name = world.read(lambda s: s.get(User, world.staff).person.full_name)
    assert name not in repr(events)


def test_a_second_open_enrolment_of_one_person_is_refused_and_nothing_is_written(ledger, clock):
    world, person = _world(ledger, clock)
    _enrol(world, person, D(2026, 1, 10))
    before = footprint(ledger)
    with pytest.raises(VolunteerRegisterError) as refused:
        _enrol(world, person, D(2026, 3, 1), key="again")
    assert refused.value.http_status == 409
    assert refused.value.details["field"] == "person"
    assert "già iscritta" in refused.value.message
    assert footprint(ledger) == before


def test_the_periods_of_a_person_never_overlap(ledger, clock):
    world, person = _world(ledger, clock)
    _enrol(world, person, D(2026, 1, 10))
    _end(world, D(2026, 3, 31), person=person)
    before = footprint(ledger)
    for day in (D(2026, 3, 31), D(2026, 2, 1), D(2025, 12, 1)):
        with pytest.raises(VolunteerRegisterError) as refused:
            _enrol(world, person, day)
        assert refused.value.details["field"] == "enrolled_on"
    assert footprint(ledger) == before
    _enrol(world, person, D(2026, 4, 1))
    assert [r[1:3] for r in _rows(world)] == [
        (D(2026, 1, 10), D(2026, 3, 31)),
        (D(2026, 4, 1), None),
    ]


def test_an_end_before_the_first_day_twice_or_of_nobody_is_refused_and_writes_nothing(
    ledger, clock
):
    world, person = _world(ledger, clock)
    enrolment = _enrol(world, person, D(2026, 2, 1)).value.id
    before = footprint(ledger)
    with pytest.raises(InvalidProjectError) as refused:
        _end(world, D(2026, 1, 31), enrolment=enrolment)
    assert refused.value.details["field"] == "ended_on"
    with pytest.raises(EnrolmentNotFoundError):
        _end(world, D(2026, 3, 1), enrolment=enrolment + 100)
    with pytest.raises(InvalidProjectError):  # neither or both of enrolment and person
        _end(world, D(2026, 3, 1))
    with pytest.raises(InvalidProjectError):
        _end(world, D(2026, 3, 1), enrolment=enrolment, person=person)
    assert footprint(ledger) == before
    _end(world, D(2026, 2, 1), enrolment=enrolment)  # a one-day period
    before = footprint(ledger)
    with pytest.raises(VolunteerRegisterError):
        _end(world, D(2026, 3, 1), enrolment=enrolment)
    with pytest.raises(EnrolmentNotFoundError):  # no open enrolment left
        _end(world, D(2026, 3, 1), person=person)
    assert footprint(ledger) == before


def test_an_unknown_or_erased_person_or_a_long_service_is_not_enrolled(ledger, clock):
    world, person = _world(ledger, clock)
    before = footprint(ledger)
    with pytest.raises(InvalidProjectError) as refused:
        _enrol(world, 9999, D(2026, 2, 1))
    assert refused.value.details["field"] == "person"
    with pytest.raises(InvalidProjectError) as refused:
        _enrol(world, person, D(2026, 2, 1), activity="x" * 201)
    assert refused.value.details["field"] == "activity"
    assert footprint(ledger) == before

    from ledger.commands import Origin
    from ledger.privacy.commands import erase_person

    officer = world.read(lambda s: s.get(User, world.officer).person_id)
    world.run(lambda s: erase_person(s, officer, origin=Origin.command_line(), clock=clock))
    before = footprint(ledger)
    with pytest.raises(InvalidProjectError) as refused:
        _enrol(world, officer, D(2026, 2, 1))
    assert "cancellati" in refused.value.message
    assert footprint(ledger) == before


def test_hours_of_a_person_never_enrolled_are_refused_and_nothing_is_written(ledger, clock):
    world, person = _world(ledger, clock)
    before = footprint(ledger)
    with pytest.raises(InvalidProjectError) as refused:
        _hours(world, person, D(2026, 3, 2), "h")
    assert refused.value.details["field"] == "person"
    assert "non era iscritta al registro" in refused.value.message
    assert footprint(ledger) == before


def test_hours_count_only_inside_the_period_of_enrolment_both_ends_included(ledger, clock):
    world, person = _world(ledger, clock)
    _enrol(world, person, D(2026, 2, 1))
    _end(world, D(2026, 4, 30), person=person)
    _enrol(world, person, D(2026, 6, 1))
    before = footprint(ledger)
    for i, day in enumerate((D(2026, 1, 31), D(2026, 5, 1), D(2026, 5, 31))):
        with pytest.raises(InvalidProjectError) as refused:
            _hours(world, person, day, f"out-{i}")
        assert refused.value.details["field"] == "person"
    assert footprint(ledger) == before
    for i, day in enumerate((D(2026, 2, 1), D(2026, 3, 15), D(2026, 4, 30), D(2026, 6, 1))):
        assert _hours(world, person, day, f"in-{i}").created
    entries = world.read(
        lambda s: s.scalar(
            select(func.count(FigurativeItem.id)).where(FigurativeItem.person_id == person)
        )
    )
    assert entries == 4
    assert ledger.verify().ok


def test_an_enrolment_does_not_end_before_hours_recorded_in_it(ledger, clock):
    world, person = _world(ledger, clock)
    _enrol(world, person, D(2026, 2, 1))
    _hours(world, person, D(2026, 3, 10), "march")
    before = footprint(ledger)
    with pytest.raises(VolunteerRegisterError) as refused:
        _end(world, D(2026, 3, 9), person=person)
    assert refused.value.details["field"] == "ended_on"
    assert "2026-03-10" in refused.value.message
    assert footprint(ledger) == before
    _end(world, D(2026, 3, 10), person=person)


def test_the_database_keeps_the_register_one_open_period_and_ends_once(ledger, clock):
    """Behind the use cases: the partial unique index and the triggers of migration 0027."""
    world, person = _world(ledger, clock)
    enrolment = _enrol(world, person, D(2026, 2, 1)).value.id
    table = VolunteerEnrolment.__table__
    now = clock.now()
    for statement in (
        insert(table).values(person_id=person, enrolled_on=D(2026, 3, 1), created_at=now),
        delete(table).where(table.c.id == enrolment),
        update(table).where(table.c.id == enrolment).values(enrolled_on=D(2026, 1, 1)),
        update(table).where(table.c.id == enrolment).values(ended_on=D(2026, 1, 1)),
    ):
        with pytest.raises(DatabaseError):
            ledger.run(lambda s, st=statement: s.execute(st))
    _end(world, D(2026, 3, 31), enrolment=enrolment)
    with pytest.raises(DatabaseError):
        ledger.run(
            lambda s: s.execute(
                update(table).where(table.c.id == enrolment).values(ended_on=D(2026, 12, 31))
            )
        )
    with pytest.raises(DatabaseError):
        ledger.run(lambda s: s.execute(text("DELETE FROM volunteer_enrolments")))
    assert [r[1:3] for r in _rows(world)] == [(D(2026, 2, 1), D(2026, 3, 31))]


@pytest.mark.postgres_only
def test_two_enrolments_of_one_person_at_once_make_one(pg_ledger, clock):
    world, person = _world(pg_ledger, clock)
    outcomes = in_parallel(
        3, lambda i: _enrol(world, person, D(2026, 2, 1 + i), key=f"race-{i}").value.id
    )
    assert sum(o.ok for o in outcomes) == 1
    assert [type(o.error) for o in outcomes if not o.ok] == [VolunteerRegisterError] * 2
    assert len(_rows(world)) == 1


@pytest.mark.postgres_only
def test_an_end_racing_hours_after_it_never_leaves_hours_outside_the_period(pg_ledger, clock):
    """The end locks the enrolment's row, hours take it shared: one waits for the other."""
    world, person = _world(pg_ledger, clock)
    for attempt in range(3):
        first = D(2026, 2 + attempt * 3, 1)
        _enrol(world, person, first)

        def act(i, first=first, attempt=attempt):
            if i == 0:
                return _end(world, first.replace(day=10), person=person).value.id
            return _hours(world, person, first.replace(day=20), f"race-{attempt}").value.item_id

        ended, hours = in_parallel(2, act)
        if ended.ok:
            assert isinstance(hours.error, InvalidProjectError)
        else:
            assert hours.ok, hours.error
            assert isinstance(ended.error, VolunteerRegisterError)
            _end(world, first.replace(day=20), person=person)
    days = pg_ledger.read(
        lambda s: list(
            s.scalars(select(FigurativeItem.done_on).where(FigurativeItem.person_id == person))
        )
    )
    periods = [r[1:3] for r in _rows(world)]
    assert len(periods) == 3
    for done_on in days:
        assert any(start <= done_on <= end for start, end in periods), (done_on, periods)


def test_only_who_records_volunteer_hours_keeps_the_register(ledger, clock):
    """The rule is the domain's, so the pages, the API and the CLI share it: an officer or
    an anonymous web request is refused, nothing written; the console's operator may."""
    from ledger.commands import Origin
    from ledger.people.errors import NotAllowedError

    world, person = _world(ledger, clock)
    before = footprint(ledger)
    for origin in (world.origin(world.officer), Origin(channel="web", user_id=None)):
        with pytest.raises(NotAllowedError) as refused:
            ledger.run(
                lambda s, o=origin: commands.enrol_volunteer(
                    s, person_id=person, enrolled_on=D(2026, 2, 1), origin=o, clock=clock
                )
            )
        assert refused.value.http_status == 403
    assert footprint(ledger) == before
    enrolment = ledger.run(
        lambda s: commands.enrol_volunteer(
            s,
            person_id=person,
            enrolled_on=D(2026, 2, 1),
            origin=Origin.command_line(),
            clock=clock,
        )
    ).value.id
    before = footprint(ledger)
    with pytest.raises(NotAllowedError):
        ledger.run(
            lambda s: commands.end_volunteer(
                s,
                enrolment_id=enrolment,
                ended_on=D(2026, 3, 1),
                origin=world.origin(world.officer),
                clock=clock,
            )
        )
    assert footprint(ledger) == before
