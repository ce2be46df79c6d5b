"""Use cases on users and sessions (`ledger.people`): each audits once, a refusal writes nothing.

None of them takes a request key: a repeat is refused by the act itself (an
e-mail already registered, a reset link or a code already used), or changes a
state to what it already is and writes nothing (roles, deactivation,
revocation, the language). A refused sign-in is the exception that proves the
rule: it is an answer, not an error, so its audit event is kept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.commands import Origin
from ledger.core.errors import LedgerError
from ledger.core.service import Ledger
from ledger.outbox.models import OutboxMessage
from ledger.people import commands, service, totp
from ledger.people import session_commands as sessions
from ledger.people.errors import (
    EmailTakenError,
    InvalidPersonError,
    InvalidTotpCodeError,
    TokenNotFoundError,
    TwoFactorRequiredError,
    UserInactiveError,
    UserNotFoundError,
    WeakPasswordError,
)
from tests.integration.commands_helpers import footprint

pytestmark = pytest.mark.usefixtures("cheap_hashing")

PASSWORD = "correct horse battery"
ANONYMOUS = Origin(channel="web", source="203.0.113.9", user_agent="Firefox/140")
CONSOLE = Origin(channel="cli", source="ops-host")

Event = tuple[str, str | None, str | None, int | None, dict[str, Any]]


def events(ledger: Ledger) -> list[Event]:
    """(action, subject type, subject id, the event's user, details), oldest first."""

    def read(session: Session) -> list[Event]:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(e.action, e.subject_type, e.subject_id, e.actor_user_id, e.details) for e in rows]

    return ledger.read(read)


def anna(ledger: Ledger, *, roles: tuple[str, ...] = ("donor",), secret: str | None = None) -> int:
    """A user made by the service (no event), optionally enrolled in TOTP with `secret`."""

    def work(session: Session) -> int:
        user = service.create_user(
            session,
            service.NewPerson("anna.rossi@example.it", "Anna Rossi"),
            roles=roles,
            password=PASSWORD,
            now=ledger.clock.now(),
        )
        if secret is not None:
            user.totp_secret_sealed = ledger.require_secret_box().seal(secret)
            user.totp_enrolled_at = ledger.clock.now()
        return user.id

    return ledger.run(work)


def signed_in(user_id: int) -> Origin:
    return Origin(channel="web", user_id=user_id, source="203.0.113.9")


def refused_with_nothing_written(ledger: Ledger, error: type[LedgerError], act: Any) -> None:
    before = footprint(ledger)
    with pytest.raises(error):
        ledger.run(act)
    assert footprint(ledger) == before


# ------------------------------------------------------------------ a person's own account
def test_a_registration_is_audited_once_as_the_new_users_own_act(ledger):
    def register(s: Session, role: str = "donor") -> Any:
        return commands.register(
            s,
            service.NewPerson("Anna.Rossi@Example.it", "Anna Rossi"),
            role=role,
            password=PASSWORD,
            locale="en",
            origin=ANONYMOUS,
            clock=ledger.clock,
        )

    user = ledger.run(register).value
    assert events(ledger) == [
        ("user.register", "user", str(user.id), user.id, {"roles": ["donor"]})
    ]
    refused_with_nothing_written(ledger, EmailTakenError, register)


def test_nobody_registers_into_a_role_that_handles_money_and_nothing_is_written(ledger):
    refused_with_nothing_written(
        ledger,
        InvalidPersonError,
        lambda s: commands.register(
            s,
            service.NewPerson("anna.rossi@example.it", "Anna Rossi"),
            role="treasurer",
            password=PASSWORD,
            locale="it",
            origin=ANONYMOUS,
            clock=ledger.clock,
        ),
    )


def test_a_password_change_is_audited_once_and_a_wrong_current_one_is_audited_as_a_failure(
    ledger,
):
    user_id = anna(ledger)

    def change(s: Session, current: str = PASSWORD, new: str = "another long password") -> Any:
        return commands.change_password(
            s, user_id, current, new, origin=signed_in(user_id), clock=ledger.clock
        )

    refused_with_nothing_written(ledger, WeakPasswordError, lambda s: change(s, new="short"))
    assert ledger.run(lambda s: change(s, "not it at all")).value is None
    assert ledger.run(change).value.id == user_id
    assert ledger.run(change).value is None  # the old one is gone
    failed = ("user.password_change_failed", "user", str(user_id), user_id, {})
    assert events(ledger) == [
        failed,
        ("user.password_change", "user", str(user_id), user_id, {}),
        failed,
    ]


def test_a_reset_request_queues_one_message_and_an_unknown_address_writes_nothing(ledger):
    user_id = anna(ledger)

    def ask(email: str) -> Any:
        return ledger.run(
            lambda s: commands.request_password_reset(
                s, email, origin=ANONYMOUS, clock=ledger.clock
            )
        )

    before = footprint(ledger)
    unknown = ask("nobody@example.it")
    assert (unknown.value, unknown.created) == (None, False)
    assert footprint(ledger) == before
    assert ask("ANNA.ROSSI@example.it").value.id == user_id
    payloads = ledger.read(lambda s: [m.payload for m in s.scalars(select(OutboxMessage))])
    assert payloads == [{"user_id": user_id}]
    assert events(ledger) == [("user.password_reset_request", "user", str(user_id), None, {})]


def test_a_reset_link_sets_the_password_once_and_audits_it_as_the_users_act(ledger):
    user_id = anna(ledger)
    fingerprint = ledger.read(lambda s: service.password_fingerprint(service.get_user(s, user_id)))

    def reset(s: Session, password: str = "a brand new password") -> Any:
        return commands.reset_password(
            s, user_id, fingerprint, password, origin=ANONYMOUS, clock=ledger.clock
        )

    refused_with_nothing_written(ledger, WeakPasswordError, lambda s: reset(s, "short"))
    assert ledger.run(reset).value.id == user_id
    assert events(ledger) == [("user.password_reset", "user", str(user_id), user_id, {})]
    before = footprint(ledger)
    used = ledger.run(reset)
    assert (used.value, used.created) == (None, False)
    assert footprint(ledger) == before


def test_enrolling_totp_is_audited_once_and_a_wrong_code_writes_nothing(ledger):
    user_id = anna(ledger, roles=("treasurer",))
    box = ledger.require_secret_box()
    secret = ledger.run(lambda s: service.pending_totp_secret(s, user_id, box))
    assert secret is not None

    def enrol(s: Session, code: str) -> Any:
        return commands.enrol_two_factor(
            s, user_id, code, box=box, origin=signed_in(user_id), clock=ledger.clock
        )

    refused_with_nothing_written(ledger, InvalidTotpCodeError, lambda s: enrol(s, "000000"))
    right = totp.code_at(secret, ledger.clock.now())
    assert ledger.run(lambda s: enrol(s, right)).value.totp_enrolled
    assert events(ledger) == [("user.totp_enrol", "user", str(user_id), user_id, {})]
    # Enrolling again is no way around the second factor.
    refused_with_nothing_written(ledger, InvalidTotpCodeError, lambda s: enrol(s, right))
    assert ledger.run(lambda s: service.pending_totp_secret(s, user_id, box)) is None


def test_choosing_a_language_is_audited_once_and_choosing_it_again_writes_nothing(ledger):
    user_id = anna(ledger)

    def choose(s: Session) -> Any:
        return commands.set_language(
            s, user_id, "en", origin=signed_in(user_id), clock=ledger.clock
        )

    assert ledger.run(choose).created is True
    before = footprint(ledger)
    assert ledger.run(choose).created is False
    assert footprint(ledger) == before
    assert events(ledger) == [("user.language", "user", str(user_id), user_id, {"locale": "en"})]


# ------------------------------------------------------------------ sessions
def sign_in(ledger: Ledger, email: str, password: str = PASSWORD) -> Any:
    return ledger.run(
        lambda s: sessions.sign_in(s, email, password, origin=ANONYMOUS, clock=ledger.clock)
    )


def test_a_sign_in_is_audited_as_the_users_act_and_a_refused_one_is_kept_too(ledger):
    user_id = anna(ledger)
    assert sign_in(ledger, "anna.rossi@example.it").value.id == user_id
    assert sign_in(ledger, "anna.rossi@example.it", "not the password").value is None
    assert sign_in(ledger, "nobody@example.it").value is None
    assert events(ledger) == [
        ("session.login", None, None, user_id, {}),
        ("session.login_failed", "user", str(user_id), user_id, {}),
        ("session.login_failed", "user", None, None, {}),
    ]


def test_the_password_step_of_a_totp_user_signs_in_nobody_and_audits_nothing(ledger):
    secret = totp.new_secret()
    user_id = anna(ledger, secret=secret)
    before = footprint(ledger)
    assert sign_in(ledger, "anna.rossi@example.it").value.id == user_id
    assert footprint(ledger) == before


def test_a_code_at_sign_in_is_used_once_and_a_stale_password_step_gets_nothing(ledger):
    secret = totp.new_secret()
    user_id = anna(ledger, secret=secret)
    fingerprint = ledger.read(lambda s: service.session_fingerprint(service.get_user(s, user_id)))
    code = totp.code_at(secret, ledger.clock.now())

    def confirm(s: Session, seen: str = fingerprint) -> Any:
        return sessions.confirm_sign_in(
            s,
            user_id,
            seen,
            code,
            box=ledger.require_secret_box(),
            origin=ANONYMOUS,
            clock=ledger.clock,
        )

    before = footprint(ledger)
    stale = ledger.run(lambda s: confirm(s, "0" * 16))
    assert (stale.value, stale.created) == (None, False)
    assert footprint(ledger) == before
    assert ledger.run(confirm).value.id == user_id
    assert ledger.run(confirm).value is None  # the same code again
    assert events(ledger) == [
        ("session.login", None, None, user_id, {"two_factor": True}),
        ("session.two_factor_failed", None, None, user_id, {}),
    ]


def test_a_signed_in_session_confirms_a_code_once(ledger):
    secret = totp.new_secret()
    user_id = anna(ledger, secret=secret)
    code = totp.code_at(secret, ledger.clock.now())

    def confirm(s: Session) -> Any:
        return sessions.confirm_two_factor(
            s,
            user_id,
            code,
            box=ledger.require_secret_box(),
            origin=signed_in(user_id),
            clock=ledger.clock,
        )

    assert ledger.run(confirm).value is True
    assert ledger.run(confirm).value is False
    assert [e[:4] for e in events(ledger)] == [
        ("session.two_factor", None, None, user_id),
        ("session.two_factor_failed", None, None, user_id),
    ]


def test_signing_out_ends_every_session_of_the_user_and_is_audited_once(ledger):
    user_id = anna(ledger)

    def fingerprint(s: Session) -> str:
        return service.session_fingerprint(service.get_user(s, user_id))

    before = ledger.read(fingerprint)
    ledger.run(
        lambda s: sessions.sign_out(s, user_id, origin=signed_in(user_id), clock=ledger.clock)
    )
    assert ledger.read(fingerprint) != before
    assert events(ledger) == [("session.logout", None, None, user_id, {})]


# ------------------------------------------------------------------ an operator's acts
def create(
    ledger: Ledger, email: str = "anna.rossi@example.it", password: str | None = None
) -> Any:
    return ledger.run(
        lambda s: commands.create_user(
            s,
            service.NewPerson(email, "Anna Rossi"),
            roles=["reviewer", "donor"],
            password=password,
            origin=CONSOLE,
            clock=ledger.clock,
        )
    )


def test_creating_a_user_is_audited_once_and_a_second_with_the_address_writes_nothing(ledger):
    user = create(ledger).value
    assert events(ledger) == [
        (
            "user.create",
            "user",
            str(user.id),
            None,
            {"roles": ["donor", "reviewer"], "password_set": False},
        )
    ]
    refused_with_nothing_written(
        ledger,
        EmailTakenError,
        lambda s: commands.create_user(
            s,
            service.NewPerson("ANNA.ROSSI@example.it", "Anna"),
            roles=["donor"],
            password=PASSWORD,
            origin=CONSOLE,
            clock=ledger.clock,
        ),
    )


def test_a_roles_change_is_audited_once_and_changing_nothing_writes_nothing(ledger):
    user_id = create(ledger).value.id

    def change(s: Session, added: tuple[str, ...] = ("treasurer",), removed=("donor",)) -> Any:
        return commands.change_roles(
            s,
            "anna.rossi@example.it",
            added=added,
            removed=removed,
            origin=CONSOLE,
            clock=ledger.clock,
        )

    assert ledger.run(change).value.roles == {"reviewer", "treasurer"}
    before = footprint(ledger)
    assert ledger.run(change).created is False
    assert footprint(ledger) == before
    assert events(ledger)[-1] == (
        "user.roles",
        "user",
        str(user_id),
        None,
        {"added": ["treasurer"], "removed": ["donor"], "roles": ["reviewer", "treasurer"]},
    )
    refused_with_nothing_written(
        ledger, InvalidPersonError, lambda s: change(s, ("donor",), ("donor",))
    )
    refused_with_nothing_written(
        ledger, InvalidPersonError, lambda s: change(s, (), ("reviewer", "treasurer"))
    )
    refused_with_nothing_written(
        ledger,
        UserNotFoundError,
        lambda s: commands.change_roles(
            s, "nobody@example.it", added=["donor"], origin=CONSOLE, clock=ledger.clock
        ),
    )


def test_deactivating_is_audited_once_and_deactivating_again_writes_nothing(ledger):
    user_id = create(ledger).value.id

    def deactivate(s: Session) -> Any:
        return commands.deactivate_user(
            s, "anna.rossi@example.it", origin=CONSOLE, clock=ledger.clock
        )

    assert ledger.run(deactivate).created is True
    before = footprint(ledger)
    assert ledger.run(deactivate).created is False
    assert footprint(ledger) == before
    assert events(ledger)[-1] == ("user.deactivate", "user", str(user_id), None, {})


def test_a_token_is_issued_with_one_event_and_never_to_a_deactivated_user(ledger):
    user_id = create(ledger).value.id

    def issue(s: Session) -> Any:
        return commands.issue_token(
            s, "anna.rossi@example.it", "reports", origin=CONSOLE, clock=ledger.clock
        )

    issued = ledger.run(issue).value
    assert issued.token.startswith(service.TOKEN_PREFIX)
    # Without a scope from the operator, the token only reads; it lives 90 days.
    expires_at = ledger.clock.now() + timedelta(days=90)
    assert (issued.row.scope_set, issued.row.expires_at) == ({"read"}, expires_at)
    assert events(ledger)[-1] == (
        "token.create",
        "api_token",
        str(issued.row.id),
        None,
        {"user_id": user_id, "scopes": ["read"], "expires_at": expires_at.isoformat()},
    )
    assert issued.token not in repr(events(ledger))
    ledger.run(
        lambda s: commands.deactivate_user(
            s, "anna.rossi@example.it", origin=CONSOLE, clock=ledger.clock
        )
    )
    refused_with_nothing_written(ledger, UserInactiveError, issue)


def test_revoking_a_token_is_audited_once_and_revoking_it_again_writes_nothing(ledger):
    create(ledger)
    token_id = ledger.run(
        lambda s: commands.issue_token(
            s, "anna.rossi@example.it", "reports", origin=CONSOLE, clock=ledger.clock
        )
    ).value.row.id

    def revoke(s: Session, token: int = token_id) -> Any:
        return commands.revoke_token(s, token, origin=CONSOLE, clock=ledger.clock)

    assert ledger.run(revoke).value.revoked_at is not None
    before = footprint(ledger)
    assert ledger.run(revoke).created is False
    assert footprint(ledger) == before
    assert [e[0] for e in events(ledger)][-2:] == ["token.create", "token.revoke"]
    refused_with_nothing_written(ledger, TokenNotFoundError, lambda s: revoke(s, 999))


# ------------------------------------------------------------------ a user's own tokens
def own_token(ledger: Ledger, user_id: int, scopes: tuple[str, ...], code: str | None) -> Any:
    def issue(s: Session) -> Any:
        return commands.issue_own_token(
            s,
            user_id,
            "foglio",
            scopes=scopes,
            days=30,
            code=code,
            box=ledger.require_secret_box(),
            origin=signed_in(user_id),
            clock=ledger.clock,
        )

    return issue


def test_a_money_token_of_ones_own_needs_a_valid_code_and_a_refusal_writes_nothing(ledger):
    secret = totp.new_secret()
    user_id = anna(ledger, roles=("treasurer",), secret=secret)
    code = totp.code_at(secret, ledger.clock.now())

    refused_with_nothing_written(
        ledger, InvalidTotpCodeError, own_token(ledger, user_id, ("money",), None)
    )
    wrong = totp.code_at(totp.new_secret(), ledger.clock.now())
    refused_with_nothing_written(
        ledger, InvalidTotpCodeError, own_token(ledger, user_id, ("money",), wrong)
    )
    issued = ledger.run(own_token(ledger, user_id, ("money", "read"), code)).value
    expires_at = ledger.clock.now() + timedelta(days=30)
    assert (issued.row.scope_set, issued.row.expires_at) == ({"money", "read"}, expires_at)
    assert events(ledger)[-1] == (
        "token.create",
        "api_token",
        str(issued.row.id),
        user_id,
        {
            "user_id": user_id,
            "scopes": ["money", "read"],
            "expires_at": expires_at.isoformat(),
            "two_factor": True,
        },
    )
    # The code is used up: it cannot give a second money token.
    refused_with_nothing_written(
        ledger, InvalidTotpCodeError, own_token(ledger, user_id, ("money",), code)
    )


def test_a_user_without_totp_gets_a_read_token_of_their_own_but_no_money_token(ledger):
    user_id = anna(ledger)
    refused_with_nothing_written(
        ledger, TwoFactorRequiredError, own_token(ledger, user_id, ("money", "read"), "123456")
    )
    issued = ledger.run(own_token(ledger, user_id, ("read",), None)).value
    assert issued.row.scope_set == {"read"}
    assert events(ledger)[-1][4]["two_factor"] is False
    for scopes in ((), ("admin",)):
        refused_with_nothing_written(
            ledger, InvalidPersonError, own_token(ledger, user_id, scopes, None)
        )


def test_a_user_revokes_only_their_own_tokens(ledger):
    user_id = anna(ledger)
    mine = ledger.run(own_token(ledger, user_id, ("read",), None)).value.row.id

    def other(s: Session) -> Any:
        bruno = service.create_user(
            s,
            service.NewPerson("bruno@example.it", "Bruno Neri"),
            roles=("donor",),
            password=None,
            now=ledger.clock.now(),
        )
        return service.issue_token(s, bruno, "suo", now=ledger.clock.now())[1].id

    theirs = ledger.run(other)

    def revoke(token_id: int) -> Any:
        return lambda s: commands.revoke_token(
            s, token_id, owner_id=user_id, origin=signed_in(user_id), clock=ledger.clock
        )

    refused_with_nothing_written(ledger, TokenNotFoundError, revoke(theirs))
    assert ledger.run(revoke(mine)).created is True
    assert ledger.run(revoke(mine)).created is False
    assert [e[0] for e in events(ledger)].count("token.revoke") == 1
