"""Use cases on users and their credentials, in the one command shape of `ledger.commands`.

What a person does to their own account (register, change or reset the
password, enrol a second factor, choose a language, issue and revoke their own
API tokens) and what an operator does to users and API tokens (create, change
roles, deactivate and reactivate, issue and revoke a token). Each function is
one act: `begin`, the change through
`ledger.people.service`, then `Claim.done`, which writes its audit event in
the same transaction. Pages and the CLI call these and only translate.

Registering makes no account: it keeps the registration and mails a link to
the address (or, when the address has an account, tells its owner that someone
tried), and answers the same either way. Following the link with the password
chosen makes the account, verified. An account an operator made is verified
when its owner follows a confirmation link or a password-reset link: either
proves they read the address's mail. A person's name and codice fiscale are
corrected by the person (verified) or by staff; the receipts that printed the
old ones are voided and issued again by the campaigns' handler of
`IdentityCorrected`.

None of these takes a request key. A repeat of most of them is refused by the
act itself (a registration already completed, a reset link already used, a
code already spent), and the others change a state to what it already is on a
repeat (roles, deactivation, revocation), writing and auditing nothing. Their
requests also name a person (an e-mail, a password), which should not be kept
even as a hash in the table of request keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from ledger.commands import Claim, Origin, Outcome, begin, command
from ledger.core.clock import Clock
from ledger.core.sealing import SecretBox
from ledger.events import IdentityCorrected, publish
from ledger.outbox.service import enqueue
from ledger.people import service
from ledger.people.errors import (
    InvalidPersonError,
    InvalidTotpCodeError,
    NotAllowedError,
    TwoFactorRequiredError,
    UserInactiveError,
    UserNotFoundError,
    WrongPasswordError,
)
from ledger.people.models import MONEY, READ, ApiToken, Person, User

REGISTER = command("user.register", "registration")
# A registration for an address that already has an account: its owner is told.
REGISTER_KNOWN = command("user.register_known", "user")
CONFIRM_REGISTRATION = command("user.register_confirm", "user")
REQUEST_VERIFICATION = command("user.email_verify_request", "user")
VERIFY_EMAIL = command("user.email_verify", "user")
CORRECT_IDENTITY = command("person.correct", "person")
CHANGE_PASSWORD = command("user.password_change", "user")
CHANGE_PASSWORD_REFUSED = command("user.password_change_failed", "user")
REQUEST_RESET = command("user.password_reset_request", "user")
RESET_PASSWORD = command("user.password_reset", "user")
ENROL_TWO_FACTOR = command("user.totp_enrol", "user")
RESEAL_TWO_FACTOR = command("user.totp_reseal", None)
SET_LANGUAGE = command("user.language", "user")
CREATE_USER = command("user.create", "user")
CHANGE_ROLES = command("user.roles", "user")
DEACTIVATE_USER = command("user.deactivate", "user")
REACTIVATE_USER = command("user.reactivate", "user")
ISSUE_TOKEN = command("token.create", "api_token")
REVOKE_TOKEN = command("token.revoke", "api_token")

# The outbox messages (e-mail, built at send time from these ids).
RESET_MESSAGE = "password_reset"  # the reset link; {"user_id": None} sends nothing
REGISTRATION_MESSAGE = "registration"  # the link that makes the account
REGISTRATION_KNOWN_MESSAGE = "registration_known"  # "someone tried to register"
VERIFY_MESSAGE = "email_verify"  # the link that verifies an operator-made account
# Who may correct anyone's name and codice fiscale (an operator at the console too).
IDENTITY_STAFF = frozenset({"treasurer", "admin"})
NOT_YOURS = "Solo la persona stessa o la tesoreria possono correggere nome e codice fiscale."


# ------------------------------------------------------------------ a person's own account
def register(
    session: Session,
    person: service.NewPerson,
    *,
    role: str,
    password: str,
    locale: str,
    origin: Origin,
    clock: Clock,
    link_lifetime: timedelta | None = None,
) -> Outcome[None]:
    """Self-registration of a donor or a proponent: no account until the link is followed.

    Everything typed is checked whatever the address (InvalidPersonError or
    WeakPasswordError naming the field, nothing written; a role that handles
    money or access is refused: those are granted by an operator). Then the
    registration is kept and its link queued for the address, or, when the
    address already has an account, a message telling its owner that someone
    tried. Both hash the password and queue one message, and the answer
    (`None`) is the same: nobody learns which addresses are registered.
    With `link_lifetime`, registrations whose links have expired unused are
    forgotten.
    """
    claim = begin(session, REGISTER, origin, clock=clock)
    now = clock.now()
    found = service.start_registration(
        session,
        person,
        role=role,
        password=password,
        locale=locale,
        now=now,
        forget_before=now - link_lifetime if link_lifetime is not None else None,
    )
    if isinstance(found, User):
        enqueue(session, REGISTRATION_KNOWN_MESSAGE, {"user_id": found.id}, now=clock.now())
        begin(session, REGISTER_KNOWN, origin, clock=clock).done(None, subject_id=found.id)
        return Outcome(None, created=False)
    enqueue(session, REGISTRATION_MESSAGE, {"registration_id": found.id}, now=clock.now())
    claim.done(None, subject_id=found.id, details={"role": found.role})
    return Outcome(None, created=True)


def confirm_registration(
    session: Session,
    registration_id: int,
    password: str,
    *,
    origin: Origin,
    clock: Clock,
) -> Outcome[User | None]:
    """Make the verified account of a registration from its link and the password chosen.

    A link that no longer works (completed, unknown) writes nothing (`value`
    None); a wrong password is WrongPasswordError and an address that has an
    account by now EmailTakenError, both writing nothing. The registration's
    row is locked, so two tabs posting one link cannot both use it.
    """
    claim = begin(session, CONFIRM_REGISTRATION, origin, clock=clock)
    registration = service.pending_registration(session, registration_id, lock=True)
    if registration is None:
        return Outcome(None, created=False)
    user = service.complete_registration(session, registration, password, now=clock.now())
    return claim.done(
        user,
        subject_id=user.id,
        details={"roles": sorted(user.roles), "registration_id": registration.id},
        user_id=user.id,
    )


def request_verification(
    session: Session, user_id: int, *, origin: Origin, clock: Clock
) -> Outcome[User]:
    """Queue a confirmation link for the address of an unverified account.

    A verified account writes nothing (`created` false).
    """
    claim = begin(session, REQUEST_VERIFICATION, origin, clock=clock)
    user = service.get_user(session, user_id)
    if user.email_verified or not user.active:
        return Outcome(user, created=False)
    enqueue(session, VERIFY_MESSAGE, {"user_id": user.id}, now=clock.now())
    return claim.done(user, subject_id=user.id)


def verify_email(
    session: Session,
    user_id: int,
    fingerprint: str,
    *,
    origin: Origin,
    clock: Clock,
) -> Outcome[User | None]:
    """Verify an account's address from its confirmation link, followed while signed in
    as that account (the link proves the mail is read, the session the password).

    A link that no longer works (used, the address changed, another account
    signed in) writes nothing (`value` None).
    """
    claim = begin(session, VERIFY_EMAIL, origin, clock=clock)
    if origin.user_id != user_id:
        return Outcome(None, created=False)
    user = service.verification_link_user(session, user_id, fingerprint, lock=True)
    if user is None:
        return Outcome(None, created=False)
    service.mark_email_verified(user, now=clock.now())
    return claim.done(user, subject_id=user.id)


def correct_identity(
    session: Session,
    person_id: int,
    full_name: str,
    codice_fiscale: str | None,
    *,
    origin: Origin,
    clock: Clock,
) -> Outcome[Person]:
    """Correct a person's name and codice fiscale; the receipts that printed the old ones
    are voided and issued again (`IdentityCorrected`), never altered.

    The person does it from their own verified account (EmailNotVerifiedError
    otherwise); staff (treasurer, admin) and an operator at the console for
    anyone; anybody else is NotAllowedError. A bad name or codice fiscale is
    InvalidPersonError. Nothing changed: nothing written (`created` false).
    """
    claim = begin(session, CORRECT_IDENTITY, origin, clock=clock)
    person = service.get_person(session, person_id)
    own = service.user_of_person(session, person_id)
    if origin.user_id is not None and own is not None and own.id == origin.user_id:
        service.check_own_identity(own)
    elif origin.user_id is not None:
        if not service.get_user(session, origin.user_id).roles & IDENTITY_STAFF:
            raise NotAllowedError(NOT_YOURS)
    elif origin.channel != "cli":
        raise NotAllowedError(NOT_YOURS)
    old_name, old_cf = person.full_name, person.codice_fiscale
    changed = service.correct_identity(person, full_name, codice_fiscale)
    if not changed:
        return Outcome(person, created=False)
    publish(
        session,
        IdentityCorrected(person.id, old_name, old_cf, origin.actor),
        clock=clock,
    )
    return claim.done(person, subject_id=person.id, details={"changed": changed})


def change_password(
    session: Session,
    user_id: int,
    current: str,
    new: str,
    *,
    origin: Origin,
    clock: Clock,
) -> Outcome[User | None]:
    """Replace a user's password after checking the current one.

    A wrong current password is an answer, not an error (`value` None), so its
    audit event (`user.password_change_failed`) is committed: guesses made from
    a stolen session leave a trace. A new password too weak is
    WeakPasswordError, and nothing is written.
    """
    claim = begin(session, CHANGE_PASSWORD, origin, clock=clock)
    user = service.get_user(session, user_id)
    try:
        service.change_password(user, current, new, now=clock.now())
    except WrongPasswordError:
        refused = begin(session, CHANGE_PASSWORD_REFUSED, origin, clock=clock)
        return refused.done(None, subject_id=user.id)
    return claim.done(user, subject_id=user.id)


def request_password_reset(
    session: Session, email: str, *, origin: Origin, clock: Clock
) -> Outcome[User | None]:
    """Queue the reset link's e-mail for the active user with this address.

    An unknown or inactive address does the same work: it queues a message that
    names no user (it sends nothing) and audits the request without a subject,
    so the caller's answer, and the time it takes, say nothing about which
    addresses are registered (`value` None, `created` false). The outbox
    message names the user, not the address, and is sent after the commit.
    """
    claim = begin(session, REQUEST_RESET, origin, clock=clock)
    user = service.find_user_by_email(session, email)
    if user is None or not user.active:
        enqueue(session, RESET_MESSAGE, {"user_id": None}, now=clock.now())
        claim.done(None, subject_id=None)
        return Outcome(None, created=False)
    enqueue(session, RESET_MESSAGE, {"user_id": user.id}, now=clock.now())
    return claim.done(user, subject_id=user.id)


def reset_password(
    session: Session,
    user_id: int,
    fingerprint: str,
    password: str,
    *,
    origin: Origin,
    clock: Clock,
) -> Outcome[User | None]:
    """Set a new password from a reset link (user id and password fingerprint).

    A link that no longer works (used, the password changed since, the user
    deactivated) writes nothing (`value` None). The user's row is locked, so
    two tabs posting one link cannot both use it. The link reached the
    address's mail, so the account's address is verified too.
    """
    claim = begin(session, RESET_PASSWORD, origin, clock=clock)
    user = service.reset_link_user(session, user_id, fingerprint, lock=True)
    if user is None:
        return Outcome(None, created=False)
    service.set_password(user, password, now=clock.now())
    service.mark_email_verified(user, now=clock.now())
    return claim.done(user, subject_id=user.id, user_id=user.id)


def enrol_two_factor(
    session: Session,
    user_id: int,
    code: str,
    *,
    box: SecretBox,
    origin: Origin,
    clock: Clock,
) -> Outcome[User]:
    """Activate the pending TOTP secret once a code made from it is confirmed.

    The secret is made by `service.pending_totp_secret` when the page is shown
    and kept sealed under `box` (LEDGER_TOTP_KEY).
    A wrong or expired code, no pending secret, or a user already enrolled is
    InvalidTotpCodeError (nothing written: enrolling again is no way around the
    second factor).
    """
    claim = begin(session, ENROL_TWO_FACTOR, origin, clock=clock)
    user = service.lock_user(session, user_id)
    if user is None:
        raise UserNotFoundError(f"nessun utente con id {user_id}", user_id=user_id)
    if user.totp_enrolled:
        raise InvalidTotpCodeError("L'autenticazione a due fattori è già attiva.")
    service.confirm_totp_enrolment(user, code, now=clock.now(), box=box)
    return claim.done(user, subject_id=user.id)


def set_language(
    session: Session, user_id: int, locale: str, *, origin: Origin, clock: Clock
) -> Outcome[User]:
    """Remember the user's language; choosing the one they have writes nothing."""
    claim = begin(session, SET_LANGUAGE, origin, clock=clock)
    user = service.get_user(session, user_id)
    if user.locale == locale:
        return Outcome(user, created=False)
    service.set_locale(user, locale)
    return claim.done(user, subject_id=user.id, details={"locale": locale})


# ------------------------------------------------------------------ an operator's acts on users
def create_user(
    session: Session,
    person: service.NewPerson,
    *,
    roles: Iterable[str],
    password: str | None,
    origin: Origin,
    clock: Clock,
) -> Outcome[User]:
    """Create a user (and their person) with `roles`; no password means none until a reset.

    A second user with the same e-mail is refused (EmailTakenError), so a
    repeat creates nothing.
    """
    claim = begin(session, CREATE_USER, origin, clock=clock)
    user = service.create_user(session, person, roles=roles, password=password, now=clock.now())
    return claim.done(
        user,
        subject_id=user.id,
        details={"roles": sorted(user.roles), "password_set": password is not None},
    )


def change_roles(
    session: Session,
    email: str,
    *,
    added: Iterable[str] = (),
    removed: Iterable[str] = (),
    origin: Origin,
    clock: Clock,
) -> Outcome[User]:
    """Grant `added` and take away `removed` roles of the user with this e-mail.

    A role both added and removed, an unknown role or taking the last one away
    is InvalidPersonError; an unknown e-mail is UserNotFoundError; an admin taking
    the admin role away from themselves is NotAllowedError (another admin does it,
    so the organisation is never left without one by a slip). A change that changes
    nothing writes nothing (`created` false).
    """
    claim = begin(session, CHANGE_ROLES, origin, clock=clock)
    adding, removing = set(added), set(removed)
    both = sorted(adding & removing)
    if both:
        raise InvalidPersonError(f"both added and removed: {', '.join(both)}", field="roles")
    user = service.get_user_by_email(session, email)
    before = set(user.roles)
    after = (before | adding) - removing
    if origin.user_id is not None and origin.user_id == user.id and "admin" in before - after:
        raise NotAllowedError(
            "an admin cannot take the admin role away from themselves", field="roles"
        )
    if after == before:
        return Outcome(user, created=False)
    service.set_roles(user, after)
    return claim.done(
        user,
        subject_id=user.id,
        details={
            "added": sorted(after - before),
            "removed": sorted(before - after),
            "roles": sorted(after),
        },
    )


def deactivate_user(session: Session, email: str, *, origin: Origin, clock: Clock) -> Outcome[User]:
    """Stop the user signing in and revoke their API tokens; the person and history stay.

    Deactivating an inactive user writes nothing (`created` false).
    """
    claim = begin(session, DEACTIVATE_USER, origin, clock=clock)
    user = service.get_user_by_email(session, email)
    if origin.user_id is not None and origin.user_id == user.id:
        raise NotAllowedError("a user cannot deactivate their own account", field="user")
    # Locked: a token being issued now (which locks the user too) is either seen and
    # revoked here, or refused because the user is no longer active.
    user = service.lock_user(session, user.id) or user
    revoked = service.deactivate_user(session, user, now=clock.now())
    if revoked is None:
        return Outcome(user, created=False)
    return claim.done(user, subject_id=user.id, details={"tokens_revoked": revoked})


def reactivate_user(session: Session, email: str, *, origin: Origin, clock: Clock) -> Outcome[User]:
    """Let a deactivated user sign in again.

    Their sessions from before the deactivation stay ended (the session epoch
    moves on) and the tokens it revoked stay revoked: they issue new ones.
    Reactivating an active user writes nothing (`created` false).
    """
    claim = begin(session, REACTIVATE_USER, origin, clock=clock)
    user = service.get_user_by_email(session, email)
    if not service.reactivate_user(user):
        return Outcome(user, created=False)
    return claim.done(user, subject_id=user.id)


def reseal_two_factor_secrets(
    session: Session, *, box: SecretBox, origin: Origin, clock: Clock
) -> Outcome[int]:
    """Seal every TOTP secret under the first key of `box`: those migration 0009 left in
    clear (it had no key) and those sealed under an older key. The value is how many.

    Run after the upgrade and after putting a new key first in LEDGER_TOTP_KEY;
    then the old key can be removed. When nothing is left to seal, nothing is
    written (`created` false). A secret no key opens is SecretKeyError and
    nothing changes.
    """
    claim = begin(session, RESEAL_TWO_FACTOR, origin, clock=clock)
    changed = service.reseal_totp_secrets(session, box)
    if not changed:
        return Outcome(0, created=False)
    return claim.done(changed, subject_id=None, details={"users": changed})


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new API token: the plain token (shown once, never stored) and its row."""

    token: str
    row: ApiToken


def _issued(
    claim: Claim[Any],
    session: Session,
    user: User,
    name: str,
    scopes: Iterable[str],
    days: int,
    clock: Clock,
    **details: Any,
) -> Outcome[IssuedToken]:
    token, row = service.issue_token(session, user, name, now=clock.now(), scopes=scopes, days=days)
    return claim.done(
        IssuedToken(token=token, row=row),
        subject_id=row.id,
        details={
            "user_id": user.id,
            "scopes": sorted(row.scope_set),
            "expires_at": row.expires_at.isoformat(),
            **details,
        },
    )


def issue_token(
    session: Session,
    email: str,
    name: str,
    *,
    scopes: Iterable[str] = (READ,),
    days: int = service.DEFAULT_TOKEN_DAYS,
    origin: Origin,
    clock: Clock,
) -> Outcome[IssuedToken]:
    """The operator issues an API token to the active user with this e-mail.

    The operator (the CLI) may give any scope; without one, the token only
    reads. It expires after `days` (1 to MAX_TOKEN_DAYS). The plain token
    exists only in this answer (only its SHA-256 is stored), so issuing cannot
    answer a repeat: every call is a new token. A deactivated user is refused
    (UserInactiveError, nothing written).
    """
    claim = begin(session, ISSUE_TOKEN, origin, clock=clock)
    # Locked, as deactivation locks it: a token is never issued beside a deactivation
    # that would not see it (and so not revoke it).
    user = service.get_user_by_email(session, email)
    user = service.lock_user(session, user.id) or user
    if not user.active:
        raise UserInactiveError(f"user {user.id} is deactivated", user_id=user.id)
    return _issued(claim, session, user, name, scopes, days, clock)


def issue_own_token(
    session: Session,
    user_id: int,
    name: str,
    *,
    scopes: Iterable[str],
    days: int,
    code: str | None,
    box: SecretBox,
    origin: Origin,
    clock: Clock,
) -> Outcome[IssuedToken]:
    """A user issues an API token to themselves (the account page).

    A `money` token is issued only with a TOTP code valid now (and used up, like
    any code): a user without TOTP is refused (TwoFactorRequiredError), a wrong
    code is InvalidTotpCodeError; either writes nothing. A `read` token needs
    no code: it sees what the user's pages show.
    """
    claim = begin(session, ISSUE_TOKEN, origin, clock=clock)
    user = service.lock_user(session, user_id)
    if user is None:
        raise UserNotFoundError(f"nessun utente con id {user_id}", user_id=user_id)
    if not user.active:
        raise UserInactiveError(f"user {user.id} is deactivated", user_id=user.id)
    chosen = service.check_scopes(scopes)
    if MONEY in chosen:
        if not user.totp_enrolled:
            raise TwoFactorRequiredError(
                "Un token che muove denaro richiede l'autenticazione a due fattori: "
                "attivala prima dall'area personale.",
                field="code",
            )
        if not service.verify_totp(user, code or "", now=clock.now(), box=box):
            raise InvalidTotpCodeError(
                "Il codice non è corretto o è scaduto: inserisci le 6 cifre che l'app mostra ora.",
                field="code",
            )
    return _issued(claim, session, user, name, chosen, days, clock, two_factor=MONEY in chosen)


def revoke_token(
    session: Session,
    token_id: int,
    *,
    owner_id: int | None = None,
    origin: Origin,
    clock: Clock,
) -> Outcome[ApiToken]:
    """Revoke an API token at once; revoking again keeps the first time and writes nothing.

    With `owner_id` (a user revoking their own), another user's token is
    TokenNotFoundError, as if it did not exist; the operator passes none.
    """
    claim = begin(session, REVOKE_TOKEN, origin, clock=clock)
    live = session.get(ApiToken, token_id)
    was_live = live is not None and live.revoked_at is None
    row = service.revoke_token(session, token_id, now=clock.now(), owner_id=owner_id)
    if not was_live:
        return Outcome(row, created=False)
    return claim.done(row, subject_id=row.id, details={"user_id": row.user_id})
