"""Use cases on users and their credentials, in the one command shape of `ledger.commands`.

What a person does to their own account (register, change or reset the
password, enrol a second factor, choose a language, issue and revoke their own
API tokens) and what an operator does to users and API tokens (create, change
roles, deactivate, issue and revoke a token). Each function is one act: `begin`, the change through
`ledger.people.service`, then `Claim.done`, which writes its audit event in
the same transaction. Pages and the CLI call these and only translate.

None of these takes a request key. A repeat of most of them is refused by the
act itself (an e-mail already registered, a reset link already used, a code
already spent), and the others change a state to what it already is on a
repeat (roles, deactivation, revocation), writing and auditing nothing. Their
requests also name a person (an e-mail, a password), which should not be kept
even as a hash in the table of request keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ledger.commands import Claim, Origin, Outcome, begin, command
from ledger.core.clock import Clock
from ledger.core.sealing import SecretBox
from ledger.outbox.service import enqueue
from ledger.people import service
from ledger.people.errors import (
    InvalidPersonError,
    InvalidTotpCodeError,
    TwoFactorRequiredError,
    UserInactiveError,
    UserNotFoundError,
    WrongPasswordError,
)
from ledger.people.models import MONEY, READ, SELF_REGISTER_ROLES, ApiToken, User

REGISTER = command("user.register", "user")
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
ISSUE_TOKEN = command("token.create", "api_token")
REVOKE_TOKEN = command("token.revoke", "api_token")

RESET_MESSAGE = "password_reset"  # the outbox message that mails the reset link


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
) -> Outcome[User]:
    """Self-registration of a donor or a proponent, who is the actor of their own event.

    A role that handles money or access is refused (InvalidPersonError, field
    `role`): those are granted by an operator.
    """
    claim = begin(session, REGISTER, origin, clock=clock)
    if role not in SELF_REGISTER_ROLES:
        raise InvalidPersonError(f"Ruolo non disponibile alla registrazione: {role}.", field="role")
    user = service.create_user(
        session, person, roles=[role], password=password, now=clock.now(), locale=locale
    )
    return claim.done(
        user, subject_id=user.id, details={"roles": sorted(user.roles)}, user_id=user.id
    )


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

    An unknown or inactive address writes nothing (`value` None, `created`
    false); the caller answers the same either way, so nobody learns which
    addresses are registered. The outbox message names the user, not the
    address, and is sent after the commit.
    """
    claim = begin(session, REQUEST_RESET, origin, clock=clock)
    user = service.find_user_by_email(session, email)
    if user is None or not user.active:
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
    two tabs posting one link cannot both use it.
    """
    claim = begin(session, RESET_PASSWORD, origin, clock=clock)
    user = service.reset_link_user(session, user_id, fingerprint, lock=True)
    if user is None:
        return Outcome(None, created=False)
    service.set_password(user, password, now=clock.now())
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
    is InvalidPersonError; an unknown e-mail is UserNotFoundError. A change
    that changes nothing writes nothing (`created` false).
    """
    claim = begin(session, CHANGE_ROLES, origin, clock=clock)
    adding, removing = set(added), set(removed)
    both = sorted(adding & removing)
    if both:
        raise InvalidPersonError(f"both added and removed: {', '.join(both)}", field="roles")
    user = service.get_user_by_email(session, email)
    before = set(user.roles)
    after = (before | adding) - removing
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
    """Stop the user signing in and using API tokens; the person and history stay.

    Deactivating an inactive user writes nothing (`created` false).
    """
    claim = begin(session, DEACTIVATE_USER, origin, clock=clock)
    user = service.get_user_by_email(session, email)
    if not service.deactivate_user(user):
        return Outcome(user, created=False)
    return claim.done(user, subject_id=user.id)


def reseal_two_factor_secrets(
    session: Session, *, box: SecretBox, origin: Origin, clock: Clock
) -> Outcome[int]:
    """Seal every TOTP secret under the first key of `box`: those migration 0012 left in
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
    user = service.get_user_by_email(session, email)
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
