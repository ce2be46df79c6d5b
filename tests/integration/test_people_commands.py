"""Use cases on users and sessions (`ledger.people`): each audits once, a refusal writes nothing.

None of them takes a request key: a repeat is refused by the act itself (a
registration already completed, a reset link or a code already used), or changes a
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
    EmailNotVerifiedError,
    EmailTakenError,
    InvalidPersonError,
    InvalidTotpCodeError,
    NotAllowedError,
    TokenNotFoundError,
    TwoFactorRequiredError,
    UserInactiveError,
    UserNotFoundError,
    WeakPasswordError,
    WrongPasswordError,
)
from ledger.people.models import Registration, User
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


def anna_like(ledger: Ledger, email: str, *, roles: tuple[str, ...] = ("donor",)) -> int:
    """Another user made by the service (no event), with a confirmed address."""

    def work(session: Session) -> int:
        user = service.create_user(
            session,
            service.NewPerson(email, email.split("@", maxsplit=1)[0].title()),
            roles=roles,
            password=PASSWORD,
            now=ledger.clock.now(),
            email_verified_at=ledger.clock.now(),
        )
        return user.id

    return ledger.run(work)


def signed_in(user_id: int) -> Origin:
    return Origin(channel="web", user_id=user_id, source="203.0.113.9")


def refused_with_nothing_written(ledger: Ledger, error: type[LedgerError], act: Any) -> None:
    before = footprint(ledger)
    with pytest.raises(error):
        ledger.run(act)
    assert footprint(ledger) == before


def outbox(ledger: Ledger) -> list[tuple[str, dict[str, Any]]]:
    return ledger.read(
        lambda s: [
            (m.kind, m.payload) for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]
    )


def registration_ids(ledger: Ledger) -> list[int]:
    return ledger.read(lambda s: list(s.scalars(select(Registration.id).order_by(Registration.id))))


def register(
    ledger: Ledger,
    email: str = "Anna.Rossi@Example.it",
    name: str = "Anna Rossi",
    password: str = PASSWORD,
) -> Any:
    return ledger.run(
        lambda s: commands.register(
            s,
            service.NewPerson(email, name),
            role="donor",
            password=password,
            locale="en",
            origin=ANONYMOUS,
            clock=ledger.clock,
        )
    )


def confirm(ledger: Ledger, registration_id: int, password: str = PASSWORD) -> Any:
    """The act of following a registration's link and giving `password`."""
    return lambda s: commands.confirm_registration(
        s, registration_id, password, origin=ANONYMOUS, clock=ledger.clock
    )


# ------------------------------------------------------------------ a person's own account
def test_a_registration_makes_no_account_until_its_link_is_confirmed_with_its_password(ledger):
    registered = register(ledger)
    [registration_id] = registration_ids(ledger)
    assert (registered.value, registered.created) == (None, True)
    assert outbox(ledger) == [("registration", {"registration_id": registration_id})]
    assert events(ledger) == [
        ("user.register", "registration", str(registration_id), None, {"role": "donor"})
    ]
    assert ledger.read(lambda s: s.scalars(select(User)).first()) is None

    refused_with_nothing_written(
        ledger, WrongPasswordError, confirm(ledger, registration_id, "not the one chosen")
    )
    user = ledger.run(confirm(ledger, registration_id)).value
    assert (user.email, user.roles, user.email_verified, user.locale) == (
        "anna.rossi@example.it",
        frozenset({"donor"}),
        True,
        "en",
    )
    assert events(ledger)[-1] == (
        "user.register_confirm",
        "user",
        str(user.id),
        user.id,
        {"roles": ["donor"], "registration_id": registration_id},
    )
    # The link works once, and the kept registration no longer holds the password.
    before = footprint(ledger)
    again = ledger.run(confirm(ledger, registration_id))
    assert (again.value, again.created) == (None, False)
    assert footprint(ledger) == before
    assert ledger.read(lambda s: s.get(Registration, registration_id).password_hash) is None


def test_registering_an_address_that_has_an_account_tells_its_owner_and_answers_the_same(
    ledger,
):
    user_id = anna(ledger)
    answer = register(ledger, email="ANNA.ROSSI@example.it", name="Someone Else")
    assert answer.value is None
    assert registration_ids(ledger) == []
    assert outbox(ledger) == [("registration_known", {"user_id": user_id})]
    assert events(ledger) == [("user.register_known", "user", str(user_id), None, {})]


def test_two_registrations_of_one_address_wait_side_by_side_and_only_the_owners_counts(ledger):
    register(ledger, name="Ivo Impostore", password="the impostor's password")
    register(ledger, name="Anna Rossi", password=PASSWORD)
    impostor, owner = registration_ids(ledger)
    # Only the mailbox's owner has the links; they confirm their own with their password.
    refused_with_nothing_written(ledger, WrongPasswordError, confirm(ledger, impostor, PASSWORD))
    user = ledger.run(confirm(ledger, owner)).value
    assert user.person.full_name == "Anna Rossi"
    # The impostor's registration can never become an account for the address now.
    refused_with_nothing_written(
        ledger, EmailTakenError, confirm(ledger, impostor, "the impostor's password")
    )


def test_registrations_whose_links_expired_unused_are_forgotten_with_what_they_held(ledger):
    register(ledger, name="Ivo Impostore", password="the impostor's password")
    ledger.clock.instant += timedelta(days=2)  # type: ignore[attr-defined]
    ledger.run(
        lambda s: commands.register(
            s,
            service.NewPerson("someone.else@example.it", "Someone Else"),
            role="donor",
            password=PASSWORD,
            locale="it",
            origin=ANONYMOUS,
            clock=ledger.clock,
            link_lifetime=timedelta(days=1),
        )
    )
    kept = ledger.read(lambda s: list(s.scalars(select(Registration.email))))
    assert kept == ["someone.else@example.it"]


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


def test_a_reset_request_queues_one_message_for_a_known_and_an_unknown_address_alike(ledger):
    user_id = anna(ledger)

    def ask(email: str) -> Any:
        return ledger.run(
            lambda s: commands.request_password_reset(
                s, email, origin=ANONYMOUS, clock=ledger.clock
            )
        )

    unknown = ask("nobody@example.it")
    assert (unknown.value, unknown.created) == (None, False)
    assert ask("ANNA.ROSSI@example.it").value.id == user_id
    # The unknown address's message names nobody (it sends nothing); its request is
    # audited without a subject.
    assert outbox(ledger) == [
        ("password_reset", {"user_id": None}),
        ("password_reset", {"user_id": user_id}),
    ]
    assert events(ledger) == [
        ("user.password_reset_request", "user", None, None, {}),
        ("user.password_reset_request", "user", str(user_id), None, {}),
    ]


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


def test_an_operator_made_account_is_verified_once_by_its_link_followed_while_signed_in(ledger):
    user_id = anna(ledger)
    other = anna_like(ledger, "someone@example.it")

    def ask(s: Session) -> Any:
        return commands.request_verification(
            s, user_id, origin=signed_in(user_id), clock=ledger.clock
        )

    assert ledger.run(ask).created
    assert outbox(ledger) == [("email_verify", {"user_id": user_id})]
    fingerprint = ledger.read(
        lambda s: service.verification_fingerprint(service.get_user(s, user_id))
    )

    def verify(origin: Origin, printed: str = fingerprint) -> Any:
        return lambda s: commands.verify_email(
            s, user_id, printed, origin=origin, clock=ledger.clock
        )

    # Another account, nobody signed in, or a forged fingerprint: nothing is written.
    for refused in (
        verify(signed_in(other)),
        verify(ANONYMOUS),
        verify(signed_in(user_id), "0" * 16),
    ):
        before = footprint(ledger)
        assert ledger.run(refused).value is None
        assert footprint(ledger) == before
    assert ledger.run(verify(signed_in(user_id))).value.email_verified
    assert events(ledger)[-1] == ("user.email_verify", "user", str(user_id), user_id, {})
    before = footprint(ledger)
    assert ledger.run(verify(signed_in(user_id))).value is None  # the link works once
    assert not ledger.run(ask).created  # a verified account asks for nothing
    assert footprint(ledger) == before


def test_a_reset_link_also_verifies_the_address_it_reached(ledger):
    user_id = anna(ledger)
    fingerprint = ledger.read(lambda s: service.password_fingerprint(service.get_user(s, user_id)))
    ledger.run(
        lambda s: commands.reset_password(
            s, user_id, fingerprint, "a brand new password", origin=ANONYMOUS, clock=ledger.clock
        )
    )
    assert ledger.read(lambda s: service.get_user(s, user_id).email_verified)


def test_a_name_is_corrected_by_its_verified_owner_or_staff_and_by_nobody_else(ledger):
    user_id = anna(ledger)
    person_id = ledger.read(lambda s: service.get_user(s, user_id).person_id)
    stranger = anna_like(ledger, "stranger@example.it")
    treasurer = anna_like(ledger, "tesoriera@example.it", roles=("treasurer",))

    def correct(origin: Origin, name: str = "Anna Maria Rossi", code: str | None = None) -> Any:
        return lambda s: commands.correct_identity(
            s, person_id, name, code, origin=origin, clock=ledger.clock
        )

    refused_with_nothing_written(ledger, EmailNotVerifiedError, correct(signed_in(user_id)))
    refused_with_nothing_written(ledger, NotAllowedError, correct(signed_in(stranger)))
    refused_with_nothing_written(ledger, NotAllowedError, correct(ANONYMOUS))
    refused_with_nothing_written(
        ledger, InvalidPersonError, correct(signed_in(treasurer), code="RSSMRA85T10A562T")
    )
    ledger.run(
        lambda s: service.mark_email_verified(service.get_user(s, user_id), now=ledger.clock.now())
    )

    ledger.run(correct(signed_in(user_id)))
    ledger.run(correct(signed_in(treasurer), code="rssmra85t10a562s"))
    ledger.run(correct(CONSOLE, name="Anna Rossi", code="RSSMRA85T10A562S"))

    def identity(s: Session) -> tuple[str, str | None]:
        person = service.get_person(s, person_id)
        return person.full_name, person.codice_fiscale

    assert ledger.read(identity) == ("Anna Rossi", "RSSMRA85T10A562S")
    assert [e for e in events(ledger) if e[0] == "person.correct"] == [
        ("person.correct", "person", str(person_id), user_id, {"changed": ["full_name"]}),
        ("person.correct", "person", str(person_id), treasurer, {"changed": ["codice_fiscale"]}),
        ("person.correct", "person", str(person_id), None, {"changed": ["full_name"]}),
    ]
    before = footprint(ledger)
    unchanged = ledger.run(correct(CONSOLE, name="Anna  Rossi", code="RSSMRA85T10A562S"))
    assert unchanged.created is False
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
    assert events(ledger)[-1] == (
        "user.deactivate",
        "user",
        str(user_id),
        None,
        {"tokens_revoked": 0},
    )


def test_reactivating_lets_the_user_sign_in_again_and_reactivating_again_writes_nothing(ledger):
    user_id = create(ledger).value.id
    ledger.run(
        lambda s: commands.deactivate_user(
            s, "anna.rossi@example.it", origin=CONSOLE, clock=ledger.clock
        )
    )

    def reactivate(s: Session) -> Any:
        return commands.reactivate_user(
            s, "anna.rossi@example.it", origin=CONSOLE, clock=ledger.clock
        )

    assert ledger.run(reactivate).created is True
    assert ledger.read(lambda s: s.get(User, user_id).active) is True
    assert events(ledger)[-1] == ("user.reactivate", "user", str(user_id), None, {})
    before = footprint(ledger)
    assert ledger.run(reactivate).created is False
    assert footprint(ledger) == before


def test_a_user_cannot_deactivate_their_own_account(ledger):
    user_id = create(ledger).value.id
    themselves = Origin(channel="web", user_id=user_id, source="203.0.113.9")

    def deactivate(s: Session) -> Any:
        return commands.deactivate_user(
            s, "anna.rossi@example.it", origin=themselves, clock=ledger.clock
        )

    refused_with_nothing_written(ledger, NotAllowedError, deactivate)
    assert ledger.read(lambda s: s.get(User, user_id).active) is True


def test_an_admin_cannot_take_the_admin_role_away_from_themselves_but_another_admin_can(ledger):
    user_id = create(ledger).value.id
    ledger.run(
        lambda s: commands.change_roles(
            s, "anna.rossi@example.it", added=["admin"], origin=CONSOLE, clock=ledger.clock
        )
    )
    themselves = Origin(channel="web", user_id=user_id, source="203.0.113.9")

    def demote(origin: Origin) -> Any:
        return lambda s: commands.change_roles(
            s, "anna.rossi@example.it", removed=["admin"], origin=origin, clock=ledger.clock
        )

    refused_with_nothing_written(ledger, NotAllowedError, demote(themselves))
    assert "admin" in ledger.read(lambda s: s.get(User, user_id).roles)
    ledger.run(demote(CONSOLE))
    assert "admin" not in ledger.read(lambda s: s.get(User, user_id).roles)


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
