"""Use cases of signing in and out, in the one command shape of `ledger.commands`.

Signing in is the password step (`sign_in`) and, for a user with TOTP, the
code step (`confirm_sign_in`, given the `SecretBox` the TOTP secrets are
sealed under); a signed-in session that has not confirmed a
code yet confirms one with `confirm_two_factor`; `sign_out` ends every session
of the user. The session cookie itself is the web's business: these decide
who may sign in and record what happened.

A one-time link by e-mail can stand in for the password step
(`issue_sign_in_link`, then `sign_in_with_link`): the web offers it when an
account has had too many wrong passwords from every network together, so the
owner is never locked out by a stranger's guesses.

A refused attempt is not an error here but an answer (`value` None): its
audit event (`session.login_failed`, `session.two_factor_failed`) must be
committed, so it cannot roll back with an exception. Which event an attempt
writes depends on how it ends, so each is begun where that is known; none
takes a request key, for no attempt may be answered from an earlier one.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from ledger.commands import Command, Origin, Outcome, begin, command
from ledger.core.clock import Clock
from ledger.core.sealing import SecretBox
from ledger.outbox.service import enqueue
from ledger.people import links, service
from ledger.people.models import SignInLink, User

SIGN_IN = command("session.login", None)
SIGN_IN_REFUSED = command("session.login_failed", "user")
TWO_FACTOR = command("session.two_factor", None)
TWO_FACTOR_REFUSED = command("session.two_factor_failed", None)
SIGN_OUT = command("session.logout", None)
ISSUE_SIGN_IN_LINK = command("session.link_issue", "user")
SIGN_IN_LINK_USED = command("session.link_used", "user")

SIGN_IN_LINK_MESSAGE = "sign_in_link"  # the outbox message that mails a sign-in link


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


def issue_sign_in_link(
    session: Session, email: str, *, lifetime: timedelta, origin: Origin, clock: Clock
) -> Outcome[SignInLink | None]:
    """Queue a one-time sign-in link, valid for `lifetime`, for the active user with
    this address.

    An unknown or inactive address, or a user sent a link less than a minute ago
    that is still unused, writes nothing (`value` None, `created` false): the
    caller answers the same either way, so nobody learns which addresses are
    registered. The outbox message names the link, never the address or a
    token; the link is signed when its e-mail is built, after the commit.
    """
    claim = begin(session, ISSUE_SIGN_IN_LINK, origin, clock=clock)
    user = service.find_user_by_email(session, email)
    if user is None or not user.active:
        return Outcome(None, created=False)
    link = links.issue(session, user, now=clock.now(), lifetime=lifetime)
    if link is None:
        return Outcome(None, created=False)
    enqueue(session, SIGN_IN_LINK_MESSAGE, {"link_id": link.id}, now=clock.now())
    return claim.done(link, subject_id=user.id, details={"link": link.id})


def sign_in_with_link(
    session: Session, link_id: int, *, origin: Origin, clock: Clock
) -> Outcome[User | None]:
    """The password step done by a one-time link: the link's user, when the link is
    unused and unexpired and the user active; the link is then used up (with any
    other unused link of the user).

    A user without TOTP is signed in (`session.login`, details `link`); a user
    with TOTP still confirms a code (`confirm_sign_in`), and this act is
    audited as `session.link_used`. A link that no longer works writes nothing
    (`value` None). The link's row is locked, so one link signs in once.
    """
    now = clock.now()
    link = links.usable(session, link_id, now=now)
    if link is None:
        return Outcome(None, created=False)
    user = service.lock_user(session, link.user_id)
    if user is None or not user.active:
        return Outcome(None, created=False)
    links.use(session, link, now=now)
    if user.totp_enrolled:
        used = begin(session, SIGN_IN_LINK_USED, origin, clock=clock)
        return used.done(user, subject_id=user.id, details={"link": link_id}, user_id=user.id)
    return begin(session, SIGN_IN, origin, clock=clock).done(
        user, subject_id=None, details={"link": link_id}, user_id=user.id
    )
