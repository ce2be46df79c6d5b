"""The privacy use cases: export a person's data, erase a person, blank old audit addresses.

Who may: a person exports their own data (from their account; what is linked
to them only through their address is left out until they confirmed it); an
admin, and an operator at the console, export anyone's and erase anyone but
themselves (the page asks the admin's second factor). Everyone else is
NotAllowedError. Each act is audited under its action (ids and counts only).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from ledger.audit.service import blank_addresses
from ledger.commands import Origin, Outcome, begin, command
from ledger.core.clock import Clock
from ledger.core.sealing import SecretBox
from ledger.people.errors import InvalidTotpCodeError, NotAllowedError, TwoFactorRequiredError
from ledger.people.models import User
from ledger.people.service import get_person, get_user, lock_user, user_of_person, verify_totp
from ledger.privacy import erasure, export
from ledger.privacy.erasure import Erasure

EXPORT_PERSON = command("person.export", "person")
ERASE_PERSON = command("person.erase", "person")
BLANK_AUDIT_ADDRESSES = command("audit.blank_addresses", None)

STAFF = frozenset({"admin"})


class AlreadyErasedError(NotAllowedError):
    code = "already_erased"
    http_status = 409


def _is_admin(session: Session, origin: Origin) -> bool:
    if origin.user_id is None:
        return origin.channel == "cli"
    return bool(get_user(session, origin.user_id).roles & STAFF)


def export_person(
    session: Session, person_id: int, *, origin: Origin, clock: Clock
) -> Outcome[dict[str, Any]]:
    """Everything the product holds about the person (`export.collect`), audited."""
    claim = begin(session, EXPORT_PERSON, origin, clock=clock)
    get_person(session, person_id)  # PersonNotFoundError first, for anyone allowed below
    own = user_of_person(session, person_id)
    if own is not None and origin.user_id == own.id:
        linked = own.email_verified
    elif _is_admin(session, origin):
        linked = True
    else:
        raise NotAllowedError(
            "Solo la persona stessa o un amministratore possono scaricarne i dati."
        )
    data = export.collect(session, person_id, linked=linked)
    return claim.done(data, subject_id=person_id, details={"linked": linked})


def _check_code(
    session: Session, user_id: int, code: str | None, box: SecretBox | None, clock: Clock
) -> None:
    """The admin's TOTP code, valid now and used up (like any code)."""
    admin = lock_user(session, user_id)
    if admin is None or not admin.totp_enrolled:
        raise TwoFactorRequiredError(
            "Cancellare i dati di una persona richiede l'autenticazione a due fattori.",
            field="code",
        )
    if box is None or not verify_totp(admin, code or "", now=clock.now(), box=box):
        raise InvalidTotpCodeError(
            "Il codice non è corretto o è scaduto: inserisci le 6 cifre che l'app mostra ora.",
            field="code",
        )


def erase_person(
    session: Session,
    person_id: int,
    *,
    origin: Origin,
    clock: Clock,
    code: str | None = None,
    box: SecretBox | None = None,
) -> Outcome[Erasure]:
    """Erase the person (`erasure.erase`): an admin's act (or the console's), audited with
    what was replaced and the counts kept. An admin (pages, API) gives a TOTP code valid
    now (TwoFactorRequiredError without TOTP, InvalidTotpCodeError for a wrong one); the
    operator at the console gives none. A person already erased is AlreadyErasedError;
    an admin erasing themselves is NotAllowedError. A refusal writes nothing."""
    claim = begin(session, ERASE_PERSON, origin, clock=clock)
    if not _is_admin(session, origin):
        raise NotAllowedError("Solo un amministratore può cancellare i dati di una persona.")
    if origin.user_id is not None:
        _check_code(session, origin.user_id, code, box, clock)
    person = get_person(session, person_id)
    if person.erased_at is not None:
        raise AlreadyErasedError(
            "I dati di questa persona sono già stati cancellati.", person_id=person_id
        )
    if origin.user_id is not None:
        me = session.get(User, origin.user_id)
        if me is not None and me.person_id == person_id:
            raise NotAllowedError("Un amministratore non può cancellare sé stesso.")
    done = erasure.erase(session, person_id, now=clock.now())
    return claim.done(
        done,
        subject_id=person_id,
        details={
            "replaced": done.replaced,
            "kept": {k.what: k.count for k in done.kept},
        },
    )


def blank_old_audit_addresses(
    session: Session, *, days: int, origin: Origin, clock: Clock
) -> Outcome[int]:
    """Blank the address and user agent of audit events older than `days` days (the
    retention job); audited when it blanked any, with how many."""
    if days < 1:
        raise ValueError("the retention of audit addresses is at least one day")
    claim = begin(session, BLANK_AUDIT_ADDRESSES, origin, clock=clock)
    before = clock.now() - timedelta(days=days)
    blanked = blank_addresses(session, before=before)
    if not blanked:
        return Outcome(0, created=False)
    return claim.done(blanked, subject_id=None, details={"events": blanked, "days": days})
