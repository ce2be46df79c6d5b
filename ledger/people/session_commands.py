"""Use cases of signing in and out, in the one command shape of `ledger.commands`.

Signing in is the password step (`sign_in`) and, for a user with TOTP, the
code step (`confirm_sign_in`, given the `SecretBox` the TOTP secrets are
sealed under); a signed-in session that has not confirmed a
code yet confirms one with `confirm_two_factor`; `sign_out` ends every session
of the user. The session cookie itself is the web's business: these decide
who may sign in and record what happened.

A refused attempt is not an error here but an answer (`value` None): its
audit event (`session.login_failed`, `session.two_factor_failed`) must be
committed, so it cannot roll back with an exception. Which event an attempt
writes depends on how it ends, so each is begun where that is known; none
takes a request key, for no attempt may be answered from an earlier one.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.commands import Command, Origin, Outcome, begin, command
from ledger.core.clock import Clock
from ledger.core.sealing import SecretBox
from ledger.people import service
from ledger.people.models import User

SIGN_IN = command("session.login", None)
SIGN_IN_REFUSED = command("session.login_failed", "user")
TWO_FACTOR = command("session.two_factor", None)
TWO_FACTOR_REFUSED = command("session.two_factor_failed", None)
SIGN_OUT = command("session.logout", None)


def _record(
    session: Session,
    act: Command,
    origin: Origin,
    clock: Clock,
    value: User | None,
    *,
    user: User | None = None,
    subject: User | None = None,
    details: dict[str, bool] | None = None,
) -> Outcome[User | None]:
    """The attempt's event, whose user is `user` when the origin does not know them yet."""
    return begin(session, act, origin, clock=clock).done(
        value,
        subject_id=subject.id if subject is not None else None,
        details=details,
        user_id=user.id if user is not None else None,
    )


def sign_in(
    session: Session, email: str, password: str, *, origin: Origin, clock: Clock
) -> Outcome[User | None]:
    """The password step: the user when e-mail and password match an active user.

    A refusal costs the same whether the address exists or not, and is
    audited (about the user when the address is theirs). A user with TOTP is
    not signed in yet: nothing is audited until `confirm_sign_in`.
    """
    user = service.authenticate(session, email, password)
    if user is None:
        found = service.find_user_by_email(session, email)
        return _record(session, SIGN_IN_REFUSED, origin, clock, None, user=found, subject=found)
    if user.totp_enrolled:
        return Outcome(user, created=True)
    return _record(session, SIGN_IN, origin, clock, user, user=user)


def confirm_sign_in(
    session: Session,
    user_id: int,
    fingerprint: str,
    code: str,
    *,
    box: SecretBox,
    origin: Origin,
    clock: Clock,
) -> Outcome[User | None]:
    """The code step of signing in, for the user whose password was just accepted.

    `fingerprint` is the session fingerprint the password step saw: a user
    deactivated or whose password changed since gets nothing (and nothing is
    written). The user's row is locked, so one code serves one request.
    """
    user = service.lock_user(session, user_id)
    if user is None or not user.active or service.session_fingerprint(user) != fingerprint:
        return Outcome(None, created=False)
    if not service.verify_totp(user, code, now=clock.now(), box=box):
        return _record(session, TWO_FACTOR_REFUSED, origin, clock, None, user=user)
    return _record(session, SIGN_IN, origin, clock, user, user=user, details={"two_factor": True})


def confirm_two_factor(
    session: Session, user_id: int, code: str, *, box: SecretBox, origin: Origin, clock: Clock
) -> Outcome[bool]:
    """A signed-in user confirms a TOTP code for this session; true when it is valid."""
    user = service.lock_user(session, user_id)
    confirmed = user is not None and service.verify_totp(user, code, now=clock.now(), box=box)
    act = TWO_FACTOR if confirmed else TWO_FACTOR_REFUSED
    return begin(session, act, origin, clock=clock).done(confirmed, subject_id=None)


def sign_out(session: Session, user_id: int, *, origin: Origin, clock: Clock) -> Outcome[None]:
    """Sign the user out everywhere: every copy of their session cookie stops working."""
    claim = begin(session, SIGN_OUT, origin, clock=clock)
    user = service.lock_user(session, user_id)
    if user is not None:
        service.end_sessions(user)
    return claim.done(None, subject_id=None)
