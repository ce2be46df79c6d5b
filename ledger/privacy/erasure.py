"""Erasure of a person (GDPR art. 17): what is replaced, and what the law requires to keep.

Replaced: the person's name, e-mail, codice fiscale and address (the e-mail by
`erased-<id>@erased.invalid`, unique and undeliverable, the name by
`Persona cancellata <id>`); the same in their registrations; the donor's name
and codice fiscale typed on their gifts (so no future receipt prints them);
the client address and user agent of the audit events they made; their API
tokens' names and last address. Their account can no longer sign in: it is
deactivated, its password, TOTP secret and sessions are gone, its tokens
revoked and its unused sign-in links spent.

Untouched: the books, the journal and its hash chain (they hold only ids), and
every record that refers to the person by id. Kept, and listed with the
reason in the outcome: issued donation receipts (they print the donor's name
and codice fiscale), the borrower's name and codice fiscale on the person when
they have loans (the loan contract), bank statement lines that name them, and
their applications to calls (the record of the committee's decisions), and
their periods in the register of volunteers (art. 17 c.1 CTS: the register must
be kept; its rows hold the person's id, never a name, so they stay as they are).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, update
from sqlalchemy.orm import Session

from ledger.audit.service import blank_addresses
from ledger.campaigns.models import Donation, Receipt
from ledger.funds.call_models import Application
from ledger.funds.models import Loan
from ledger.people.models import ApiToken, Registration, SignInLink
from ledger.people.service import end_sessions, get_person, user_of_person
from ledger.projects.models import VolunteerEnrolment
from ledger.reconcile.models import BankLine

ERASED_DOMAIN = "erased.invalid"

# Why each kind of record is kept (Italian law; the pages show their own translation).
REASONS = {
    "receipts": (
        "Ricevute di donazione emesse: documenti fiscali da conservare per dieci anni "
        "(art. 2220 c.c.; art. 22 DPR 600/1973)."
    ),
    "loan_contracts": (
        "Contratti di prestito: nome e codice fiscale del mutuatario si conservano per "
        "la durata del contratto e dieci anni dopo (art. 2220 e 2946 c.c.)."
    ),
    "bank_lines": (
        "Movimenti degli estratti conto: scritture contabili da conservare per dieci anni "
        "(art. 2220 c.c.)."
    ),
    "applications": (
        "Domande ai bandi: atti della procedura di assegnazione di fondi, da conservare "
        "con le sue decisioni."
    ),
    "volunteer_register": (
        "Iscrizioni al registro dei volontari: il registro va tenuto (art. 17 c. 1 "
        "D.Lgs. 117/2017); restano le date e il servizio, con il solo numero della persona."
    ),
}


@dataclass(frozen=True, slots=True)
class Kept:
    """Records that still hold the person's data, how many, and why."""

    what: str
    count: int
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"what": self.what, "count": self.count, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Erasure:
    person_id: int
    user_id: int | None
    erased_at: datetime
    replaced: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "person_id": self.person_id,
            "user_id": self.user_id,
            "erased_at": self.erased_at.isoformat(),
            "replaced": list(self.replaced),
            "kept": [k.as_dict() for k in self.kept],
        }


def erased_email(person_id: int) -> str:
    return f"erased-{person_id}@{ERASED_DOMAIN}"


def erased_name(person_id: int) -> str:
    return f"Persona cancellata {person_id}"


def _contains(column: Any, needle: str) -> ColumnElement[bool]:
    return func.lower(column).contains(needle.lower(), autoescape=True)


def _bank_lines_naming(session: Session, name: str, codice_fiscale: str | None) -> int:
    needles = [n for n in (name, codice_fiscale) if n and len(n) >= 4]
    if not needles:
        return 0
    conditions: list[ColumnElement[bool]] = []
    for needle in needles:
        conditions += [
            _contains(BankLine.counterparty_name, needle),
            _contains(BankLine.text, needle),
            _contains(BankLine.raw, needle),
        ]
    return int(session.scalar(select(func.count(BankLine.id)).where(or_(*conditions))) or 0)


def erase(session: Session, person_id: int, *, now: datetime) -> Erasure:
    """Erase the person (see the module's text); the caller checked who may."""
    person = get_person(session, person_id)
    user = user_of_person(session, person_id)
    old_email, old_name, old_cf = person.email, person.full_name, person.codice_fiscale
    kept: list[Kept] = []

    borrower = bool(
        session.scalar(select(func.count(Loan.id)).where(Loan.borrower_person_id == person_id))
    )
    lines = _bank_lines_naming(session, old_name, old_cf)

    person.email = erased_email(person_id)
    person.address = None
    replaced = ["email", "address"]
    if borrower:
        loans = int(
            session.scalar(select(func.count(Loan.id)).where(Loan.borrower_person_id == person_id))
            or 0
        )
        kept.append(Kept("loan_contracts", loans, REASONS["loan_contracts"]))
    else:
        person.full_name = erased_name(person_id)
        person.codice_fiscale = None
        replaced += ["full_name", "codice_fiscale"]
    person.erased_at = now

    gifts = select(Donation.id).where(
        or_(
            Donation.person_id == person_id,
            Donation.donor_codice_fiscale == old_cf if old_cf else false(),
        )
    )
    session.execute(
        update(Donation)
        .where(Donation.id.in_(gifts))
        .values(donor_name=None, donor_codice_fiscale=None)
        .execution_options(synchronize_session=False)
    )
    receipts = int(
        session.scalar(
            select(func.count(Receipt.id)).where(
                Receipt.donation_id.in_(gifts), Receipt.donor_name.is_not(None)
            )
        )
        or 0
    )
    if receipts:
        kept.append(Kept("receipts", receipts, REASONS["receipts"]))
    if lines:
        kept.append(Kept("bank_lines", lines, REASONS["bank_lines"]))
    enrolments = int(
        session.scalar(
            select(func.count(VolunteerEnrolment.id)).where(
                VolunteerEnrolment.person_id == person_id
            )
        )
        or 0
    )
    if enrolments:
        kept.append(Kept("volunteer_register", enrolments, REASONS["volunteer_register"]))

    registrations = select(Registration).where(Registration.email == old_email)
    if user is not None:
        registrations = select(Registration).where(
            or_(Registration.email == old_email, Registration.user_id == user.id)
        )
    for registration in session.scalars(registrations):
        registration.email = f"erased-r{registration.id}@{ERASED_DOMAIN}"
        registration.full_name = erased_name(person_id)
        registration.codice_fiscale = None
        registration.password_hash = None

    if user is not None:
        user.active = False
        user.password_hash = None
        user.totp_secret_sealed = None
        user.totp_secret_clear = None
        user.totp_enrolled_at = None
        end_sessions(user)
        session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id)
            .values(name="-", last_used_from=None)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(SignInLink)
            .where(SignInLink.user_id == user.id, SignInLink.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        blank_addresses(session, actor_user_id=user.id)
        replaced += ["audit_addresses", "password", "two_factor", "api_tokens"]
        applications = int(
            session.scalar(
                select(func.count(Application.id)).where(Application.proponent_user_id == user.id)
            )
            or 0
        )
        if applications:
            kept.append(Kept("applications", applications, REASONS["applications"]))
    session.flush()
    return Erasure(
        person_id=person_id,
        user_id=user.id if user is not None else None,
        erased_at=now,
        replaced=replaced,
        kept=kept,
    )
