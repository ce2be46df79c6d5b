"""The organisation's register of volunteers (art. 17 c.1 CTS, D.Lgs. 117/2017).

Volunteer time counts (is valued and reported to funders) only for a volunteer
enrolled in the register on the day worked (DM 107/2021 art. 3 c.3): a period
of the register runs from `enrolled_on` to `ended_on` (both included; open while
`ended_on` is empty). The rules:

- a person has at most one open period (the partial unique index of migration
  0027 backs this check), and the periods of one person never overlap: a new
  one begins after the day the last one ended;
- a period ends once, on or after the day it began, and not before a day on
  which hours of that person are recorded in it;
- hours (`figurative.record_hours`) need a period covering their day
  (`check_enrolled`).

The register belongs to the organisation, not to a project. It holds ids,
dates and the service, never a name: names stay on `persons`, and erasing a
person keeps their rows. Concurrent acts on one person meet on a row lock
(the person's row for an enrolment, the enrolment's row for its end and, shared,
for hours recorded in it) on PostgreSQL; SQLite's write lock serialises them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.people.models import Person
from ledger.projects.errors import (
    EnrolmentNotFoundError,
    InvalidProjectError,
    VolunteerRegisterError,
)
from ledger.projects.models import FigurativeItem, VolunteerEnrolment

MAX_ACTIVITY = 200


def _day(value: object, name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidProjectError(f"Il campo {name} è una data (AAAA-MM-GG).", field=name)
    return value


def _person_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidProjectError(f"Nessuna persona registrata con id {value}.", field="person")
    return value


def _activity(value: object) -> str | None:
    """The service's description, spaces collapsed; None when empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidProjectError("Il servizio svolto è un testo.", field="activity")
    clean = " ".join(value.split())
    if len(clean) > MAX_ACTIVITY:
        raise InvalidProjectError(
            f"Il servizio svolto ha al massimo {MAX_ACTIVITY} caratteri.", field="activity"
        )
    return clean or None


def open_enrolment(
    session: Session, person_id: int, *, lock: bool = False
) -> VolunteerEnrolment | None:
    """The person's open period of the register, if any."""
    query = select(VolunteerEnrolment).where(
        VolunteerEnrolment.person_id == person_id, VolunteerEnrolment.ended_on.is_(None)
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def get_enrolment(session: Session, enrolment_id: int, *, lock: bool = False) -> VolunteerEnrolment:
    """The enrolment (its row locked with `lock`); EnrolmentNotFoundError (404) otherwise."""
    if isinstance(enrolment_id, bool) or not isinstance(enrolment_id, int):
        raise EnrolmentNotFoundError(
            f"Nessuna iscrizione al registro con id {enrolment_id}.", enrolment_id=enrolment_id
        )
    query = select(VolunteerEnrolment).where(VolunteerEnrolment.id == enrolment_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise EnrolmentNotFoundError(
            f"Nessuna iscrizione al registro con id {enrolment_id}.", enrolment_id=enrolment_id
        )
    return row


def open_enrolment_of(session: Session, person_id: int) -> VolunteerEnrolment:
    """The person's open period (locked); EnrolmentNotFoundError (404) when there is none."""
    row = open_enrolment(session, _person_id(person_id), lock=True)
    if row is None:
        raise EnrolmentNotFoundError(
            f"La persona {person_id} non ha un'iscrizione aperta al registro dei volontari.",
            person_id=person_id,
        )
    return row


def enrol(
    session: Session,
    *,
    person_id: int,
    enrolled_on: date,
    activity: str | None = None,
    clock: Clock,
) -> VolunteerEnrolment:
    """Enrol a registered person in the register from `enrolled_on` (an open period)."""
    person_id = _person_id(person_id)
    enrolled_on = _day(enrolled_on, "enrolled_on")
    service = _activity(activity)
    person = session.scalars(
        select(Person).where(Person.id == person_id).with_for_update()
    ).one_or_none()
    if person is None:
        raise InvalidProjectError(f"Nessuna persona registrata con id {person_id}.", field="person")
    if person.erased_at is not None:
        raise InvalidProjectError(
            f"I dati della persona {person_id} sono stati cancellati: non si può iscrivere.",
            field="person",
        )
    current = open_enrolment(session, person_id)
    if current is not None:
        raise VolunteerRegisterError(
            f"La persona {person_id} è già iscritta al registro dei volontari dal "
            f"{current.enrolled_on.isoformat()}: chiudi prima quell'iscrizione.",
            field="person",
            enrolment_id=current.id,
        )
    last_end = session.scalar(
        select(func.max(VolunteerEnrolment.ended_on)).where(
            VolunteerEnrolment.person_id == person_id
        )
    )
    if last_end is not None and last_end >= enrolled_on:
        raise VolunteerRegisterError(
            f"La persona {person_id} era iscritta fino al {last_end.isoformat()}: "
            "una nuova iscrizione inizia dal giorno dopo (i periodi non si sovrappongono).",
            field="enrolled_on",
        )
    row = VolunteerEnrolment(
        person_id=person_id,
        enrolled_on=enrolled_on,
        activity=service,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def end(
    session: Session, enrolment: VolunteerEnrolment, *, ended_on: date, clock: Clock
) -> VolunteerEnrolment:
    """End an open period on `ended_on` (included), once; `enrolment` is locked by the caller
    (`get_enrolment(lock=True)`, `open_enrolment_of`)."""
    ended_on = _day(ended_on, "ended_on")
    if enrolment.ended_on is not None:
        raise VolunteerRegisterError(
            f"L'iscrizione {enrolment.id} è già chiusa al {enrolment.ended_on.isoformat()}.",
            field="ended_on",
            enrolment_id=enrolment.id,
        )
    if ended_on < enrolment.enrolled_on:
        raise InvalidProjectError(
            "La fine dell'iscrizione non può precedere il suo inizio "
            f"({enrolment.enrolled_on.isoformat()}).",
            field="ended_on",
        )
    later = session.execute(
        select(func.count(FigurativeItem.id), func.max(FigurativeItem.done_on)).where(
            FigurativeItem.person_id == enrolment.person_id,
            FigurativeItem.kind == "volunteer",
            FigurativeItem.done_on > ended_on,
        )
    ).one()
    if later[0]:
        raise VolunteerRegisterError(
            f"Ci sono ore di volontariato di questa persona registrate dopo il "
            f"{ended_on.isoformat()} (l'ultima il {later[1].isoformat()}): "
            "l'iscrizione non può chiudersi prima.",
            field="ended_on",
            hours=int(later[0]),
        )
    enrolment.ended_on = ended_on
    enrolment.ended_at = clock.now()
    session.flush()
    return enrolment


def enrolment_on(
    session: Session, person_id: int, day: date, *, lock: bool = False
) -> VolunteerEnrolment | None:
    """The person's period of the register covering `day` (shared lock with `lock`)."""
    query = select(VolunteerEnrolment).where(
        VolunteerEnrolment.person_id == person_id,
        VolunteerEnrolment.enrolled_on <= day,
        or_(VolunteerEnrolment.ended_on.is_(None), VolunteerEnrolment.ended_on >= day),
    )
    if lock:
        query = query.with_for_update(read=True)
    return session.scalars(query).first()


def check_enrolled(session: Session, person_id: int, day: date) -> VolunteerEnrolment:
    """The period covering `day`, locked against its end until the caller commits;
    InvalidProjectError on `person` when the person was not enrolled that day."""
    row = enrolment_on(session, person_id, day, lock=True)
    if row is None:
        raise InvalidProjectError(
            f"La persona {person_id} non era iscritta al registro dei volontari il "
            f"{day.isoformat()} (art. 17 c.1 CTS): le sue ore non si possono registrare.",
            field="person",
            person_id=person_id,
        )
    return row


def register(session: Session) -> list[VolunteerEnrolment]:
    """The register: every period, open ones first, then by start and id."""
    return list(
        session.scalars(
            select(VolunteerEnrolment).order_by(
                VolunteerEnrolment.ended_on.is_not(None),
                VolunteerEnrolment.enrolled_on,
                VolunteerEnrolment.id,
            )
        )
    )


def enrolled_people(session: Session, day: date) -> list[tuple[int, str]]:
    """(person id, name) of the people enrolled on `day`, by name."""
    rows = session.execute(
        select(Person.id, Person.full_name)
        .join(VolunteerEnrolment, VolunteerEnrolment.person_id == Person.id)
        .where(
            VolunteerEnrolment.enrolled_on <= day,
            or_(VolunteerEnrolment.ended_on.is_(None), VolunteerEnrolment.ended_on >= day),
        )
        .order_by(Person.full_name, Person.id)
    )
    return [(int(pid), str(name)) for pid, name in rows]


def names_of(session: Session, person_ids: list[int]) -> dict[int, str]:
    """The names of the register's people (for the pages and the CLI; never the journal)."""
    if not person_ids:
        return {}
    rows = session.execute(
        select(Person.id, Person.full_name).where(Person.id.in_(sorted(set(person_ids))))
    )
    return {int(pid): str(name) for pid, name in rows}
