"""Volunteer time and in-kind: the figurative layer, kept out of cash balances.

Volunteer hours of a person enrolled in the register of volunteers on the day
worked (art. 17 c.1 CTS, `volunteers`; a `persons` id, never a name in the
journal) per activity are valued at the hourly rate of their role in the rate
table the organisation keeps (the collective-agreement pay of the equivalent
job, DM 107/2021 art. 3 c.3), the rate in force on the day worked:
value = hourly rate x minutes / 60, rounded half up to the cent. Goods and
services received in kind are valued at fair value (OIC 35).

Each item is one entry, Dr `expenses:projects:P:figurative:KIND`, Cr
`income:projects:P:figurative:KIND`: a figurative cost with its matching
figurative income, touching no asset account, so no cash balance ever sees it.
It counts as co-financing only where a funder's settings say so (the report).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.core.journal import EntrySpec, PostingSpec, post_entry
from ledger.core.money import Money
from ledger.people.models import Person
from ledger.projects import accounts, volunteers
from ledger.projects.errors import InvalidProjectError
from ledger.projects.getters import get_project
from ledger.projects.models import FigurativeItem, ProjectOrganisation, VolunteerRate

MAX_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class Figurative:
    item_id: int
    sequence: int
    value_minor: int


def _text(value: object, name: str, limit: int) -> str:
    clean = " ".join(value.split()) if isinstance(value, str) else ""
    if not clean or len(clean) > limit:
        raise InvalidProjectError(
            f"Il campo {name} è obbligatorio (massimo {limit} caratteri).", field=name
        )
    return clean


def set_rate(
    session: Session,
    *,
    role: str,
    hourly_minor: int,
    valid_from: date,
    currency: str = "EUR",
    basis: str | None = None,
    clock: Clock,
) -> VolunteerRate:
    """An hourly rate for a volunteer role from `valid_from` (a new row per change)."""
    clean = _text(role, "role", 64)
    if isinstance(hourly_minor, bool) or not isinstance(hourly_minor, int) or hourly_minor <= 0:
        raise InvalidProjectError(
            "La tariffa oraria è in centesimi, maggiore di zero.", field="rate"
        )
    if (
        session.scalar(
            select(VolunteerRate.id).where(
                VolunteerRate.role == clean, VolunteerRate.valid_from == valid_from
            )
        )
        is not None
    ):
        raise InvalidProjectError(
            f"Il ruolo {clean} ha già una tariffa dal {valid_from.isoformat()}.", field="rate"
        )
    row = VolunteerRate(
        role=clean,
        hourly_minor=hourly_minor,
        currency=currency,
        valid_from=valid_from,
        basis=_text(basis, "basis", 200) if basis else None,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def rate_on(session: Session, role: str, day: date) -> VolunteerRate:
    row = session.scalars(
        select(VolunteerRate)
        .where(VolunteerRate.role == role, VolunteerRate.valid_from <= day)
        .order_by(VolunteerRate.valid_from.desc())
        .limit(1)
    ).first()
    if row is None:
        raise InvalidProjectError(
            f"Nessuna tariffa per il ruolo {role} al {day.isoformat()}: aggiungila alla tabella.",
            field="role",
        )
    return row


def value_of(hourly_minor: int, minutes: int) -> int:
    """hourly x minutes / 60, rounded half up to the minor unit."""
    return (hourly_minor * minutes * 2 + 60) // 120


def _book(
    session: Session,
    item: FigurativeItem,
    currency: str,
    *,
    key: str,
    clock: Clock,
    actor: str | None,
) -> Figurative:
    """Post the item's entry, then keep the item (append-only) with its sequence."""
    p = item.project_id
    codes = [accounts.figurative_cost(p, item.kind), accounts.figurative_income(p, item.kind)]
    accounts.ensure(session, codes, currency, clock=clock)
    metadata: dict[str, int | str] = {"project_id": p}
    if item.person_id is not None:
        metadata["person_id"] = item.person_id
    if item.organisation_id is not None:
        metadata["organisation_id"] = item.organisation_id
    result = post_entry(
        session,
        EntrySpec(
            idempotency_key=key,
            kind="project_figurative",
            postings=[
                PostingSpec(codes[0], Money(item.value_minor, currency)),
                PostingSpec(codes[1], Money(-item.value_minor, currency)),
            ],
            effective_on=item.done_on,
            narration=(
                f"Progetto {p}: "
                + ("ore di volontariato" if item.kind == "volunteer" else "apporto in natura")
                + " (figurativo)"
            ),
            metadata=metadata,
            actor=actor,
        ),
        clock=clock,
    )
    item.entry_sequence = result.entry.sequence
    session.add(item)
    session.flush()
    return Figurative(item.id, result.entry.sequence, item.value_minor)


def record_hours(
    session: Session,
    project_id: int,
    *,
    person_id: int,
    activity: str,
    role: str,
    minutes: int,
    done_on: date,
    key: str,
    clock: Clock,
    actor: str | None = None,
) -> Figurative:
    """An enrolled volunteer's time on an activity, valued at their role's rate: refused
    (InvalidProjectError on `person`) unless the person was in the register on `done_on`."""
    project = get_project(session, project_id)
    if session.get(Person, person_id) is None:
        raise InvalidProjectError(f"Nessuna persona registrata con id {person_id}.", field="person")
    volunteers.check_enrolled(session, person_id, done_on)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 < minutes <= MAX_MINUTES:
        raise InvalidProjectError(
            f"I minuti di un giorno vanno da 1 a {MAX_MINUTES}.", field="minutes"
        )
    rate = rate_on(session, role, done_on)
    if rate.currency != project.currency:
        raise InvalidProjectError("La tariffa è in un'altra valuta.", field="role")
    item = FigurativeItem(
        project_id=project.id,
        kind="volunteer",
        person_id=person_id,
        activity=_text(activity, "activity", 200),
        role=rate.role,
        minutes=minutes,
        rate_id=rate.id,
        value_minor=value_of(rate.hourly_minor, minutes),
        done_on=done_on,
        entry_sequence=0,
        created_at=clock.now(),
    )
    if item.value_minor <= 0:
        raise InvalidProjectError("Il valore delle ore è nullo.", field="minutes")
    return _book(
        session,
        item,
        project.currency,
        key=f"project:{project.id}:volunteer:{key}",
        clock=clock,
        actor=actor,
    )


def record_in_kind(
    session: Session,
    project_id: int,
    *,
    description: str,
    fair_value_minor: int,
    received_on: date,
    organisation_id: int | None = None,
    key: str,
    clock: Clock,
    actor: str | None = None,
) -> Figurative:
    """Goods or services received in kind, at fair value (from an organisation, if any)."""
    project = get_project(session, project_id)
    if organisation_id is not None and session.get(ProjectOrganisation, organisation_id) is None:
        raise InvalidProjectError(
            f"Nessuna organizzazione con id {organisation_id}.", field="organisation"
        )
    if (
        isinstance(fair_value_minor, bool)
        or not isinstance(fair_value_minor, int)
        or fair_value_minor <= 0
    ):
        raise InvalidProjectError("Il valore equo è in centesimi, maggiore di zero.", field="value")
    item = FigurativeItem(
        project_id=project.id,
        kind="in_kind",
        organisation_id=organisation_id,
        activity=_text(description, "description", 200),
        value_minor=fair_value_minor,
        done_on=received_on,
        entry_sequence=0,
        created_at=clock.now(),
    )
    return _book(
        session,
        item,
        project.currency,
        key=f"project:{project.id}:in-kind:{key}",
        clock=clock,
        actor=actor,
    )
